//! DEBUG: the subcommands tests and operators use. Refused unless `enable-debug-command` is
//! `yes` (or `local` and the client is on a local connection), as in Redis.
//!
//! Besides Redis's own (SLEEP, RELOAD, PANIC, SET-ACTIVE-EXPIRE, HELP), `DEBUG AOF-FAILPOINT WRITE|FSYNC|OFF` makes the log's
//! next writes or syncs fail as a broken disk would, to test the MISCONF path end to end.

use std::sync::atomic::Ordering::Relaxed;

use resp::Argv;

use crate::client::ClientState;
use crate::cmd::{CmdResult, Ctx};
use crate::server::Server;

/// Redis's refusal when the option does not allow the client.
pub const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// Whether `enable-debug-command` lets this client run DEBUG (Redis's `allowProtectedAction`).
pub fn allowed(srv: &Server, client: &ClientState) -> bool {
    protected_action_allowed(srv.config.read().get("enable-debug-command"), client)
}

/// Redis's `allowProtectedAction`: an `enable-*` setting of `yes`, or `local` for a client on
/// the loopback interface or a Unix socket.
pub fn protected_action_allowed(setting: &str, client: &ClientState) -> bool {
    match setting {
        "yes" => true,
        "local" => {
            let shared = &client.shared;
            shared.unix
                || shared.addr.starts_with("127.0.0.1:")
                || shared.addr.starts_with("[::1]:")
                || shared.addr.starts_with("::1:")
        }
        _ => false,
    }
}

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "AOF-FAILPOINT <WRITE|FSYNC|OFF>",
    "    Make the append-only log's next writes (or syncs) fail, or stop failing (Basalt).",
    "PANIC",
    "    Crash the server simulating a panic.",
    "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
    "    Save the RDB file, empty the dataset and load the file back. NOFLUSH keeps the",
    "    dataset (the file's keys replace equal ones), NOSAVE loads the file as it is.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not accessed.",
    "SLEEP <seconds>",
    "    Stop the server's thread serving this client for <seconds> (decimals allowed).",
    "HELP",
    "    Print this help.",
];

pub fn debug(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let sub = argv.get(1);
    let is = |name: &str| sub.eq_ignore_ascii_case(name.as_bytes());
    if argv.len() == 2 && is("help") {
        ctx.out.array(HELP.len());
        for line in HELP {
            ctx.out.simple(line);
        }
        return Ok(());
    }
    if argv.len() == 3 && is("sleep") {
        let secs = store::num::parse_double(argv.get(2)).unwrap_or(0.0);
        if secs > 0.0 && secs.is_finite() {
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
        }
        ctx.out.ok();
        return Ok(());
    }
    if argv.len() == 3 && is("set-active-expire") {
        let on = resp::parse_i64(argv.get(2)).unwrap_or(0) != 0;
        ctx.srv.active_expire.store(on, Relaxed);
        ctx.out.ok();
        return Ok(());
    }
    if is("reload") {
        return reload(ctx, &argv);
    }
    if argv.len() == 2 && is("panic") {
        crate::crash::panic_now(&format!(
            "DEBUG PANIC called at Unix time {}",
            ctx.now_ms / 1000
        ));
    }
    if argv.len() == 3 && is("aof-failpoint") {
        let Some(aof) = ctx.srv.aof_log.get() else {
            return Err("ERR the append only file is not open".into());
        };
        let what = argv.get(2);
        let fp = aof.failpoints();
        if what.eq_ignore_ascii_case(b"write") {
            fp.write.store(true, Relaxed);
        } else if what.eq_ignore_ascii_case(b"fsync") {
            fp.fsync.store(true, Relaxed);
        } else if what.eq_ignore_ascii_case(b"off") {
            fp.write.store(false, Relaxed);
            fp.fsync.store(false, Relaxed);
        } else {
            return Err(crate::cmd::err::SYNTAX.into());
        }
        ctx.out.ok();
        return Ok(());
    }
    Err(crate::cmd::CmdError::concat(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        &sub[..sub.len().min(128)],
        b"'. Try DEBUG HELP.",
    ]))
}

/// DEBUG RELOAD: SAVE, empty every database, load `dbfilename` back (Redis's order and
/// replies). Clients are not held off meanwhile: another client may see the data half loaded.
fn reload(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>) -> CmdResult {
    let (mut flush, mut save, mut merge) = (true, true, false);
    for opt in argv.iter().skip(2) {
        if opt.eq_ignore_ascii_case(b"merge") {
            // Keys of the file replace equal keys in memory either way; its function
            // libraries replace those of the same name.
            merge = true;
        } else if opt.eq_ignore_ascii_case(b"noflush") {
            flush = false;
        } else if opt.eq_ignore_ascii_case(b"nosave") {
            save = false;
        } else {
            return Err(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.".into(),
            );
        }
    }
    // Saving and loading lock shards themselves, which EXEC already holds.
    if ctx.client.in_exec() {
        return Err("ERR DEBUG RELOAD is not supported inside MULTI by Basalt".into());
    }
    if save && crate::save::save(ctx.srv).is_err() {
        return Err("ERR".into());
    }
    if flush {
        let mut all = ctx.srv.store.lock_all();
        for shard in all.shards_mut() {
            for i in 0..shard.database_count() {
                drop(shard.flush_db(i));
            }
        }
        ctx.srv.functions.flush();
    }
    let name = ctx.srv.config.read().get("dbfilename").to_string();
    if let Err(e) = crate::rdb_load::load_file(ctx.srv, std::path::Path::new(&name), false, merge) {
        crate::log_warning!("DEBUG RELOAD could not load the RDB file: {e}");
        return Err("ERR Error trying to load the RDB dump".into());
    }
    crate::log_warning!("DB reloaded by DEBUG RELOAD");
    ctx.out.ok();
    Ok(())
}
