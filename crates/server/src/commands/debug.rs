//! DEBUG: the subcommands tests and operators use. Refused unless `enable-debug-command` is
//! `yes` (or `local` and the client is on a local connection), as in Redis.
//!
//! Besides Redis's own (SLEEP, HELP), `DEBUG AOF-FAILPOINT WRITE|FSYNC|OFF` makes the log's
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
    Err(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    )
    .into())
}
