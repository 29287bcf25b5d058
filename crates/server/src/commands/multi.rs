//! Transaction commands: MULTI, DISCARD, WATCH, UNWATCH, and EXEC outside a transaction.
//! Queuing and EXEC itself belong to the dispatcher (`cmd::multi`): they run other commands.

use resp::Argv;

use crate::cmd::{CmdResult, Ctx};

pub fn multi(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err("ERR MULTI calls can not be nested".into());
    }
    crate::cmd::begin_multi(ctx.client);
    ctx.out.ok();
    Ok(())
}

/// EXEC reaches its handler only outside MULTI (inside, the dispatcher runs the queue).
pub fn exec(_ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    Err("ERR EXEC without MULTI".into())
}

pub fn discard(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err("ERR DISCARD without MULTI".into());
    }
    crate::cmd::discard(ctx.srv, ctx.client);
    ctx.out.ok();
    Ok(())
}

pub fn watch(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err("ERR WATCH inside MULTI is not allowed".into());
    }
    crate::cmd::watch(ctx.client, &mut ctx.keys, &argv, ctx.now_ms);
    ctx.out.ok();
    Ok(())
}

pub fn unwatch(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    crate::cmd::unwatch_all(ctx.srv, ctx.client);
    ctx.out.ok();
    Ok(())
}
