//! Persistence commands: BGREWRITEAOF, SAVE, LASTSAVE (BGSAVE comes with the forkless RDB
//! snapshot).

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

/// Write `dump.rdb` now, every shard locked meanwhile (Redis's SAVE blocks its server too).
/// A failure answers Redis's bare `ERR` (the reason is in the log).
pub fn save(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    match crate::save::save(ctx.srv) {
        Ok(_) => {
            ctx.out.ok();
            Ok(())
        }
        Err(_) => Err("ERR".into()),
    }
}

/// Unix time of the last successful save (the start-up time before the first).
pub fn lastsave(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let t = ctx
        .srv
        .save_state
        .last_save_unix
        .load(std::sync::atomic::Ordering::Relaxed);
    ctx.out.int(t as i64);
    Ok(())
}
