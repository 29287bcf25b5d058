//! Persistence commands: BGREWRITEAOF (later SAVE, BGSAVE, LASTSAVE with RDB snapshots).

use resp::Argv;

use crate::cmd::{CmdResult, Ctx};
use crate::rewrite::StartError;

/// Rewrite the append-only log in the background: a new base holding the data at one instant,
/// a new incr file from that instant on (see `crate::rewrite`). Works with the log off too,
/// as in Redis: the directory then holds the new base alone.
pub fn bgrewriteaof(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    match crate::rewrite::start(ctx.srv) {
        Ok(()) => {
            ctx.out
                .simple("Background append only file rewriting started");
            Ok(())
        }
        Err(e @ (StartError::InProgress | StartError::Failed)) => Err(format!("ERR {e}").into()),
    }
}
