//! REPLICAOF / SLAVEOF and ROLE (`crate::replication` holds the state and the link).

use resp::Argv;

use super::is;
use crate::cmd::{CmdError, CmdResult, Ctx};

pub fn replicaof(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    if is(argv.get(1), "no") && is(argv.get(2), "one") {
        srv.repl.unfollow(srv);
        ctx.out.ok();
        return Ok(());
    }
    let port = resp::parse_i64(argv.get(2))
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| CmdError::from("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(argv.get(1)).into_owned();
    if srv
        .repl
        .master()
        .is_some_and(|m| m.host.eq_ignore_ascii_case(&host) && m.port == port)
    {
        ctx.out.simple("OK Already connected to specified master");
        return Ok(());
    }
    let Some(me) = srv.me.upgrade() else {
        return Err("ERR the server is shutting down".into());
    };
    srv.repl.follow(&me, &host, port);
    ctx.out.ok();
    Ok(())
}

pub fn slaveof(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    replicaof(ctx, argv)
}

pub fn role(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.srv.repl.reply_role(ctx.out);
    Ok(())
}
