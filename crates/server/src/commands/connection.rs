//! Connection commands: PING ECHO QUIT HELLO AUTH SELECT SWAPDB RESET and CLIENT.
//!
//! Redis 7.0.15 has no CLIENT SETINFO and no CLIENT NO-TOUCH (they came with 7.2); Basalt answers
//! them as 7.0.15 does, with the unknown-subcommand error, because that is what the version it
//! reports promises. Clients that send SETINFO (redis-py 5, …) ignore that error.

use std::sync::atomic::Ordering::Relaxed;

use resp::{Argv, Proto};

use super::{db_in_range, is, parse_c_int, parse_db_index, parse_int, reply_help};
use crate::client::ReplyMode;
use crate::cmd::{err, CmdError, CmdResult, Ctx, Flow};
use crate::config::REDIS_VERSION;

pub fn ping(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 2 {
        return Err("ERR wrong number of arguments for 'ping' command".into());
    }
    if ctx.client.subs.total() > 0 && !ctx.out.is_resp3() {
        super::pubsub::subscribed_ping(ctx, &argv);
        return Ok(());
    }
    if argv.len() == 2 {
        ctx.out.bulk(argv.get(1));
    } else {
        ctx.out.simple("PONG");
    }
    Ok(())
}

pub fn echo(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    ctx.out.bulk(argv.get(1));
    Ok(())
}

pub fn quit(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.out.ok();
    ctx.client.flow = Flow::CloseAfterReply;
    Ok(())
}

/// Check `user`'s password and, when right, run the connection as that user.
fn authenticate(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>, user: &[u8], pass: &[u8]) -> CmdResult {
    let Some(found) = ctx.srv.acl.authenticate(user, pass) else {
        // Failed authentications go to the ACL log, as in Redis: the command as sent, and
        // the client as CLIENT INFO shows it running that command.
        let command = ctx.spec.name;
        let running = running(ctx, *argv, command);
        let info = ctx
            .client
            .shared
            .describe(crate::util::now_ms(), Some(running));
        let max_len = crate::acl::clients::max_log_len(ctx.srv);
        let context = if ctx.client.in_exec() {
            "multi"
        } else {
            "toplevel"
        };
        ctx.srv
            .acl
            .log
            .record(max_len, "auth", context, argv.get(0), user, info);
        return Err("WRONGPASS invalid username-password pair or user is disabled.".into());
    };
    crate::acl::clients::set_user(ctx.client, found);
    ctx.client.authenticated = true;
    Ok(())
}

pub fn auth(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    if argv.len() == 2 {
        if ctx.srv.acl.default_user().flags.nopass {
            return Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into());
        }
        authenticate(ctx, &argv, b"default", argv.get(1))?;
    } else {
        authenticate(ctx, &argv, argv.get(1), argv.get(2))?;
    }
    ctx.out.ok();
    Ok(())
}

/// Client names may hold only printable characters other than space.
fn validate_name(name: &[u8]) -> CmdResult {
    if name.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        Ok(())
    } else {
        Err("ERR Client names cannot contain spaces, newlines or special characters.".into())
    }
}

fn set_name(ctx: &mut Ctx<'_, '_>, name: &[u8]) {
    *ctx.client.shared.name.lock() = if name.is_empty() {
        None
    } else {
        Some(name.to_vec())
    };
}

pub fn hello(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut version = None;
    let mut next = 1;
    if argv.len() >= 2 {
        let v = resp::parse_i64(argv.get(1)).ok_or(CmdError::from(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        if !(2..=3).contains(&v) {
            return Err("NOPROTO unsupported protocol version".into());
        }
        version = Some(v);
        next = 2;
    }
    let (mut credentials, mut name) = (None, None);
    let mut j = next;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv.get(j);
        if is(opt, "auth") && more >= 2 {
            credentials = Some((argv.get(j + 1), argv.get(j + 2)));
            j += 2;
        } else if is(opt, "setname") && more >= 1 {
            validate_name(argv.get(j + 1))?;
            name = Some(argv.get(j + 1));
            j += 1;
        } else {
            let opt = opt.split(|&c| c == 0).next().unwrap_or(opt);
            return Err(CmdError::concat(&[
                b"ERR Syntax error in HELLO option '",
                opt,
                b"'",
            ]));
        }
        j += 1;
    }
    if let Some((user, pass)) = credentials {
        authenticate(ctx, &argv, user, pass)?;
    }
    if !ctx.client.authenticated {
        return Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into());
    }
    if let Some(name) = name {
        set_name(ctx, name);
    }
    if let Some(v) = version {
        ctx.out.proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
        ctx.client.shared.resp.store(v as u8, Relaxed);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if out.is_resp3() { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

pub fn select(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let index = super::parse_c_int(argv.get(1), None)?;
    // A cluster has database 0 only.
    if ctx.srv.cluster.enabled && index != 0 {
        return Err("ERR SELECT is not allowed in cluster mode".into());
    }
    let db = parse_db_index(ctx, argv.get(1))?;
    ctx.client.db = db;
    ctx.client.shared.db.store(db, Relaxed);
    ctx.out.ok();
    Ok(())
}

pub fn swapdb(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if ctx.srv.cluster.enabled {
        return Err("ERR SWAPDB is not allowed in cluster mode".into());
    }
    // Both parsed before either is checked against the databases, as Redis does.
    let a = parse_c_int(argv.get(1), Some("ERR invalid first DB index"))?;
    let b = parse_c_int(argv.get(2), Some("ERR invalid second DB index"))?;
    let (a, b) = (db_in_range(ctx, a)?, db_in_range(ctx, b)?);
    if a != b {
        // Every shard at once, so no command sees one database half swapped.
        // Blocked clients stay on their database index (as in Redis) and are served if the
        // database they wait in now holds their key.
        // Every shard is locked (see `cmd::dispatch::locks_every_shard`).
        let now = ctx.now_ms;
        for shard in ctx.keys.shards_mut() {
            shard.swap_dbs(a, b, now);
            shard.signal_waited_keys(|db| db == a || db == b);
        }
    }
    // Counted even when a == b, as in Redis.
    ctx.dirty += 1;
    ctx.out.ok();
    Ok(())
}

pub fn reset(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.client.cluster_asking = false;
    ctx.client.cluster_readonly = false;
    crate::cmd::discard(ctx.srv, ctx.client);
    super::pubsub::unsubscribe_all(ctx.srv, ctx.client);
    super::caching::disable_tracking(ctx.srv, &ctx.client.shared);
    super::introspect::stop_monitoring(ctx.srv, &ctx.client.shared);
    let c = &mut *ctx.client;
    c.db = 0;
    c.shared.db.store(0, Relaxed);
    c.reply_mode = ReplyMode::On;
    // CLIENT NO-EVICT stays on: Redis 7.0's RESET does not clear it.
    *c.shared.name.lock() = None;
    c.shared.resp.store(2, Relaxed);
    c.authenticated = !ctx.srv.auth_required();
    crate::acl::clients::set_user(c, ctx.srv.acl.default_user());
    ctx.out.proto = Proto::Resp2;
    ctx.out.simple("RESET");
    Ok(())
}

pub fn client_id(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

pub fn client_setname(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    validate_name(argv.get(2))?;
    set_name(ctx, argv.get(2));
    ctx.out.ok();
    Ok(())
}

pub fn client_getname(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    match ctx.client.shared.name.lock().as_deref() {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    Ok(())
}

/// A CLIENT LIST / KILL type name, as the type `ClientShared::client_type` reports
/// (`slave` and `replica` are one type).
fn client_type_arg(t: &[u8]) -> Result<&'static str, CmdError> {
    for (name, ty) in [
        ("normal", "normal"),
        ("master", "master"),
        ("replica", "replica"),
        ("slave", "replica"),
        ("pubsub", "pubsub"),
    ] {
        if is(t, name) {
            return Ok(ty);
        }
    }
    Err(CmdError::concat(&[b"ERR Unknown client type '", t, b"'"]))
}

pub fn client_list(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut ty: Option<&str> = None;
    let mut j = 2;
    while j < argv.len() {
        if is(argv.get(j), "type") && j + 1 < argv.len() {
            ty = Some(client_type_arg(argv.get(j + 1))?);
            j += 2;
        } else if is(argv.get(j), "id") && j + 1 < argv.len() {
            let mut list = Vec::new();
            for a in argv.iter().skip(j + 1) {
                match resp::parse_i64(a) {
                    Some(n) if n > 0 => list.push(n as u64),
                    _ => return Err("ERR Invalid client ID".into()),
                }
            }
            ids = Some(list);
            j = argv.len();
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let now = crate::util::now_ms();
    let mut text = String::new();
    for c in ctx.srv.clients.all() {
        if c.is_killed()
            || ids.as_ref().is_some_and(|ids| !ids.contains(&c.id))
            || ty.is_some_and(|t| c.client_type() != t)
        {
            continue;
        }
        let running = (c.id == ctx.client.id).then(|| running(ctx, argv, "client|list"));
        text.push_str(&c.describe(now, running));
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn client_info(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let running = running(ctx, argv, "client|info");
    let line = ctx
        .client
        .shared
        .describe(crate::util::now_ms(), Some(running));
    ctx.out.verbatim("txt", format!("{line}\n").as_bytes());
    Ok(())
}

/// The listing client's own command: it is still running, so Redis shows it as the current
/// one, with its arguments' size and the replies buffered before it.
fn running(ctx: &Ctx<'_, '_>, argv: Argv<'_>, cmd: &'static str) -> crate::client::Running {
    crate::client::Running {
        cmd,
        argv_bytes: argv.iter().map(<[u8]>::len).sum(),
        out_bytes: ctx.out.len(),
    }
}

pub fn client_kill(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    // Old form: CLIENT KILL addr:port.
    if argv.len() == 3 {
        let addr = String::from_utf8_lossy(argv.get(2)).into_owned();
        let Some(c) = ctx.srv.clients.all().into_iter().find(|c| c.addr == addr) else {
            return Err("ERR No such client".into());
        };
        kill(ctx, &c);
        ctx.out.ok();
        return Ok(());
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut maxage) = (None, None, None, true, None);
    let mut ty: Option<&str> = None;
    let mut user: Option<Vec<u8>> = None;
    let mut j = 2;
    while j < argv.len() {
        if j + 1 >= argv.len() {
            return Err(err::SYNTAX.into());
        }
        let (opt, val) = (argv.get(j), argv.get(j + 1));
        if is(opt, "id") {
            id = Some(
                resp::parse_i64(val)
                    .filter(|&n| n > 0)
                    .ok_or(CmdError::from("ERR client-id should be greater than 0"))?
                    as u64,
            );
        } else if is(opt, "addr") {
            addr = Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "laddr") {
            laddr = Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "skipme") {
            skipme = if is(val, "yes") {
                true
            } else if is(val, "no") {
                false
            } else {
                return Err(err::SYNTAX.into());
            };
        } else if is(opt, "maxage") {
            maxage = Some(parse_int(val)?);
        } else if is(opt, "type") {
            ty = Some(client_type_arg(val)?);
        } else if is(opt, "user") {
            if ctx.srv.acl.get(val).is_none() {
                return Err(CmdError::concat(&[b"ERR No such user '", val, b"'"]));
            }
            user = Some(val.to_vec());
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 2;
    }
    let mut killed = 0;
    for c in ctx.srv.clients.all() {
        // A client killed already is gone to Redis (freed at once), even if its connection
        // has not finished closing here.
        let matches = !c.is_killed()
            && id.is_none_or(|i| c.id == i)
            && addr.as_ref().is_none_or(|a| &c.addr == a)
            && laddr.as_ref().is_none_or(|a| &c.laddr == a)
            && maxage.is_none_or(|m| c.created.elapsed().as_secs() as i64 >= m)
            && ty.is_none_or(|t| c.client_type() == t)
            && user.as_ref().is_none_or(|u| *c.user_name.lock() == *u)
            && !(skipme && c.id == ctx.client.id);
        if matches {
            kill(ctx, &c);
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

fn kill(ctx: &mut Ctx<'_, '_>, c: &crate::client::ClientShared) {
    if c.id == ctx.client.id {
        ctx.client.flow = Flow::CloseAfterReply;
    } else {
        // Gone from now on, as Redis frees the client at once: no writer may serve it. The
        // flag first: a client about to block checks it after opening its wait.
        c.kill();
        c.wait.cancel(&ctx.srv.blocked);
    }
}

pub fn client_reply(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mode = argv.get(2);
    if is(mode, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if is(mode, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(mode, "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(err::SYNTAX.into());
    }
    Ok(())
}

pub fn client_no_evict(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let v = argv.get(2);
    let on = if is(v, "on") {
        true
    } else if is(v, "off") {
        false
    } else {
        return Err(err::SYNTAX.into());
    };
    ctx.client.no_evict = on;
    ctx.client.shared.no_evict.store(on, Relaxed);
    ctx.out.ok();
    Ok(())
}

pub fn client_unblock(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let error = if argv.len() == 4 {
        if is(argv.get(3), "timeout") {
            false
        } else if is(argv.get(3), "error") {
            true
        } else {
            return Err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into());
        }
    } else {
        false
    };
    let id = parse_int(argv.get(2))?;
    let target = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.srv.clients.get(id));
    // A client already served (by a command before this one) is no longer blocked: 0.
    let unblocked = target.is_some_and(|t| t.wait.unblock(error, &ctx.srv.blocked));
    if unblocked && error {
        // Redis counts the error its target answers against the command that caused it.
        ctx.client.stats.unblocked(ctx.spec, 0, true);
    }
    ctx.out.int(i64::from(unblocked));
    Ok(())
}

pub fn client_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE|ALL] (see `crate::pause`).
pub fn client_pause(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 4 {
        return Err(CmdError::concat(&[
            b"ERR unknown subcommand or wrong number of arguments for '",
            argv.get(1),
            b"'. Try CLIENT HELP.",
        ]));
    }
    let mut mode = crate::pause::Mode::All;
    if argv.len() == 4 {
        if is(argv.get(3), "write") {
            mode = crate::pause::Mode::Write;
        } else if !is(argv.get(3), "all") {
            return Err("ERR CLIENT PAUSE mode must be WRITE or ALL".into());
        }
    }
    let ms = resp::parse_i64(argv.get(2))
        .ok_or_else(|| CmdError::from("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err("ERR timeout is negative".into());
    }
    // Redis adds the time to the clock in C: a sum that overflows ends in the past, and so
    // does a timeout of 0 (the pause is over at once, though it raises a running pause's
    // mode).
    let now = crate::util::now_ms() as i64;
    let ms = match now.checked_add(ms) {
        Some(_) if ms > 0 => ms as u64,
        _ => 0,
    };
    ctx.srv.pause.start(ms, mode);
    ctx.out.ok();
    Ok(())
}

pub fn client_unpause(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.srv.pause.stop();
    ctx.out.ok();
    Ok(())
}
