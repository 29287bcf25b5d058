//! Persistence commands: BGREWRITEAOF, SAVE, BGSAVE, LASTSAVE.

use std::sync::atomic::Ordering::Relaxed;

use resp::Argv;

use super::is;
use crate::bgsave::Started;
use crate::cmd::{err, CmdResult, Ctx};
use crate::rewrite::StartError;

/// Rewrite the append-only log in the background: a new base holding the data at one instant,
/// a new incr file from that instant on (see `crate::rewrite`). Works with the log off too,
/// as in Redis: the directory then holds the new base alone.
pub fn bgrewriteaof(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    // Inside EXEC it is scheduled for the cron, as in Redis 7.0 (the rewrite's instant needs
    // the locks the transaction holds).
    let started = if ctx.client.in_exec() {
        if ctx.srv.rewrite.in_progress() {
            Err(StartError::InProgress)
        } else {
            Err(StartError::BgsaveActive)
        }
    } else {
        crate::rewrite::start(ctx.srv)
    };
    match started {
        Ok(()) => {
            ctx.out
                .simple("Background append only file rewriting started");
            Ok(())
        }
        Err(StartError::BgsaveActive) => {
            ctx.srv.rewrite.scheduled.store(true, Relaxed);
            // A manual request is not held back by earlier failures (as in Redis).
            ctx.srv.rewrite.consecutive_failures.store(0, Relaxed);
            ctx.out
                .simple("Background append only file rewriting scheduled");
            Ok(())
        }
        Err(e @ (StartError::InProgress | StartError::Failed)) => Err(format!("ERR {e}").into()),
    }
}

/// Write `dump.rdb` in the background, from a snapshot of this instant (see `crate::bgsave`).
pub fn bgsave(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let schedule = match argv.len() {
        1 => false,
        2 if is(argv.get(1), "schedule") => true,
        _ => return Err(err::SYNTAX.into()),
    };
    let started = if ctx.client.in_exec() {
        crate::bgsave::schedule(ctx.srv)
    } else {
        crate::bgsave::start(ctx.srv, schedule)
    };
    match started {
        Ok(Started::Now) => ctx.out.simple("Background saving started"),
        Ok(Started::Scheduled) => ctx.out.simple("Background saving scheduled"),
        Err(e) => return Err(format!("ERR {e}").into()),
    }
    Ok(())
}

/// Write `dump.rdb` now, every shard locked meanwhile (Redis's SAVE blocks its server too).
/// A failure answers Redis's bare `ERR` (the reason is in the log).
pub fn save(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    if ctx.srv.save_state.bgsave_in_progress.load(Relaxed) {
        return Err("ERR Background save already in progress".into());
    }
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
    let t = ctx.srv.save_state.last_save_unix.load(Relaxed);
    ctx.out.int(t as i64);
    Ok(())
}
