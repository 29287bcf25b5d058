//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT: see `crate::scripting` for how a script
//! runs (locks, restarts, the log).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use resp::Argv;

use super::{is, reply_help};
use crate::cmd::{CmdError, CmdResult, Ctx};
use crate::scripting::{with_engine, ScriptRun};
use scripting::ScriptFlags;

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

pub fn eval(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    eval_generic(ctx, argv, false, false)
}

pub fn evalsha(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    eval_generic(ctx, argv, true, false)
}

pub fn eval_ro(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    eval_generic(ctx, argv, false, true)
}

pub fn evalsha_ro(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    eval_generic(ctx, argv, true, true)
}

/// The number of keys, checked as Redis checks it (before the script is looked at).
fn numkeys(argv: &Argv<'_>) -> Result<usize, CmdError> {
    let n = super::parse_int(argv.get(2))?;
    if n > (argv.len() - 3) as i64 {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    if n < 0 {
        return Err("ERR Number of keys can't be negative".into());
    }
    Ok(n as usize)
}

fn eval_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, by_sha: bool, ro: bool) -> CmdResult {
    // MONITOR shows the script before the commands it calls (EVAL itself is `skip_monitor`).
    if ctx.srv.monitors.any() {
        let from = ctx.client.shared.addr.clone();
        crate::monitor::feed_from(ctx.srv, &from, ctx.client.db, ctx.spec, &argv);
    }
    // Redis checks a SHA-1's length before the number of keys.
    if by_sha && argv.get(1).len() != 40 {
        return Err(NOSCRIPT.into());
    }
    if by_sha && ctx.client.lua_debug {
        return Err("ERR Please use EVAL instead of EVALSHA for debugging".into());
    }
    let n = numkeys(&argv)?;
    let (sha, script) = if by_sha {
        // SHA-1s are matched ignoring case; anything but 40 ASCII bytes is no script's.
        let given = argv.get(1);
        if !given.is_ascii() {
            return Err(NOSCRIPT.into());
        }
        let mut lower = [0u8; 40];
        lower.copy_from_slice(given);
        lower.make_ascii_lowercase();
        let sha = std::str::from_utf8(&lower).map_err(|_| NOSCRIPT)?;
        let script = ctx.srv.scripts.get_local(sha).ok_or(NOSCRIPT)?;
        (sha.to_string(), script)
    } else {
        let (sha, script) = ctx
            .srv
            .scripts
            .load(argv.get(1))
            .map_err(|e| CmdError::from(e.into_bytes()))?;
        (sha, std::rc::Rc::new(script))
    };
    let keys: Vec<&[u8]> = (3..3 + n).map(|i| argv.get(i)).collect();
    let args: Vec<&[u8]> = (3 + n..argv.len()).map(|i| argv.get(i)).collect();
    let srv = ctx.srv;
    let flags = script.shebang.flags;
    if !script.shebang.compat {
        prepare(ctx, flags, ro)?;
    }
    if ctx.client.lua_debug {
        return debug_eval(ctx, &sha, &script, &keys, &args, ro || flags.no_writes);
    }
    let how = How {
        is_eval: true,
        name: sha.clone(),
        command: Vec::new(),
        needs_every_shard: &script.needs_every_shard,
        read_only: ro || flags.no_writes,
        allow_oom: !script.shebang.compat && flags.allow_oom,
        allow_cross_slot: script.shebang.compat || flags.allow_cross_slot_keys,
        slot: keys.first().map(|k| store::slot::key_slot(k)),
    };
    run_script(ctx, how, |run, out| {
        with_engine(&srv.scripts, |engine| -> Result<(), String> {
            engine.load(&sha, &script.body)?;
            engine
                .run(&sha, &keys, &args, run, out)
                .map_err(|e| e.to_string())
        })?
    })
}

/// EVAL in a debugging session (SCRIPT DEBUG SYNC): the script runs holding every shard (a
/// session must never start over), the debugger talking to the client on its socket; then
/// the reply, and the connection is closed, as Redis ends a session.
fn debug_eval(
    ctx: &mut Ctx<'_, '_>,
    sha: &str,
    script: &crate::scripting::Script,
    keys: &[&[u8]],
    args: &[&[u8]],
    read_only: bool,
) -> CmdResult {
    use scripting::ldb::DebugIo;
    let srv = ctx.srv;
    let fd = ctx.client.shared.fd;
    // Replies before this EVAL go first: the session writes to the socket itself.
    let mut io = crate::scripting::debugger::FdIo::new(fd);
    if !ctx.out.is_empty() {
        io.write(ctx.out.as_bytes());
        ctx.out.clear();
    }
    crate::log_warning!("Redis synchronous debugging eval session started");
    let every_shard = AtomicBool::new(true);
    let how = How {
        is_eval: true,
        name: sha.to_string(),
        command: Vec::new(),
        needs_every_shard: &every_shard,
        read_only,
        allow_oom: !script.shebang.compat && script.shebang.flags.allow_oom,
        allow_cross_slot: script.shebang.compat || script.shebang.flags.allow_cross_slot_keys,
        slot: keys.first().map(|k| store::slot::key_slot(k)),
    };
    let timeout_ms = srv.scripts.busy_after_ms.load(Relaxed);
    let mut io = Some(io);
    let result = run_script(ctx, how, |run, out| {
        let io: Box<dyn DebugIo> = match io.take() {
            Some(io) => Box::new(io),
            None => return Err("ERR the debugging session cannot start over".into()),
        };
        with_engine(&srv.scripts, |engine| -> Result<(), String> {
            engine.load(sha, &script.body)?;
            engine
                .run_debug(sha, &script.body, keys, args, run, out, io, timeout_ms)
                .map_err(|e| e.to_string())
        })?
    });
    crate::log_warning!("Redis synchronous debugging eval session ended");
    ctx.client.lua_debug = false;
    ctx.client.flow = crate::cmd::Flow::CloseAfterReply;
    result
}

/// The flags a script or function declares, for the command's flags (see
/// `cmd::dispatch::admit`); `None` for other commands and for scripts without a shebang.
pub fn declared_flags(
    srv: &crate::server::Server,
    spec: &crate::cmd::Spec,
    argv: Argv<'_>,
) -> Option<ScriptFlags> {
    match spec.name {
        "eval" | "eval_ro" => {
            let shebang = scripting::shebang::parse(argv.get(1)).ok()?;
            (!shebang.compat).then_some(shebang.flags)
        }
        "evalsha" | "evalsha_ro" => {
            let sha = std::str::from_utf8(argv.get(1)).ok()?.to_ascii_lowercase();
            let script = srv.scripts.get(&sha)?;
            (!script.shebang.compat).then_some(script.shebang.flags)
        }
        "fcall" | "fcall_ro" => {
            let (lib, idx) = srv.functions.find(argv.get(1))?;
            Some(lib.functions[idx].flags)
        }
        _ => None,
    }
}

/// Redis's checks before a script with a shebang, or a function, runs
/// (`scriptPrepareForRun`): one that may write is refused when writes fail on disk, and by
/// the read-only commands.
pub(super) fn prepare(ctx: &Ctx<'_, '_>, flags: ScriptFlags, ro: bool) -> CmdResult {
    if flags.no_writes {
        return Ok(());
    }
    if ctx.srv.save_state.writes_denied.load(Relaxed) {
        return Err("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.".into());
    }
    if let Some(e) = ctx.srv.aof().and_then(crate::aof::Aof::last_error) {
        return Err(CmdError::from(format!("MISCONF Redis is configured to persist data to AOF, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: {e}").into_bytes()));
    }
    if ro {
        return Err("ERR Can not execute a script with write flag using *_ro command.".into());
    }
    if !flags.allow_oom && ctx.client.oom_before_script && ctx.srv.evict.maxmemory() > 0 {
        return Err("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into());
    }
    Ok(())
}

/// How a script or function runs (see [`run_script`]).
pub(super) struct How<'a> {
    pub is_eval: bool,
    /// A script's SHA-1, a function's name.
    pub name: String,
    pub command: Vec<Vec<u8>>,
    pub needs_every_shard: &'a AtomicBool,
    pub read_only: bool,
    /// It may run commands that need memory when over `maxmemory` (`allow-oom`).
    pub allow_oom: bool,
    /// Cluster mode: it may reach keys of other slots served here (`allow-cross-slot-keys`,
    /// or a script without a shebang, as Redis 7.0 keeps for old scripts).
    pub allow_cross_slot: bool,
    /// Cluster mode: the slot of its declared keys.
    pub slot: Option<u16>,
}

/// Run a script or function (`exec`) under the command's locks, starting over with every
/// shard locked if it needs shards it could not take (see `crate::scripting`).
pub(super) fn run_script(
    ctx: &mut Ctx<'_, '_>,
    mut how: How<'_>,
    mut exec: impl FnMut(&mut ScriptRun<'_, '_>, &mut resp::Reply) -> Result<(), String>,
) -> CmdResult {
    let srv = ctx.srv;
    let store = ctx.keys.store();
    let mut locks = std::mem::replace(&mut ctx.keys, store.lock_indices(&[]));
    if how.needs_every_shard.load(Relaxed) && !locks.holds_all() {
        drop(locks);
        locks = store.lock_all();
    }
    // Inside EXEC the transaction's record gathers the script's effects too.
    let own_log = ctx.client.exec_log.is_none();
    if own_log {
        ctx.client.exec_log = Some(Vec::new());
    }
    let deny_before = std::mem::replace(&mut ctx.client.deny_blocking, true);
    let in_script_before = std::mem::replace(&mut ctx.client.in_script, true);
    let out_before = ctx.out.len();
    let busy_after_ms = srv.scripts.busy_after_ms.load(Relaxed);
    let mut held = Some(locks);
    let mut inner_errors = Vec::new();
    let result = loop {
        let mut run = ScriptRun {
            srv,
            client: &mut *ctx.client,
            keys: held.take(),
            now_ms: ctx.now_ms,
            read_only: how.read_only,
            allow_oom: how.allow_oom,
            allow_cross_slot: how.allow_cross_slot,
            slot: how.slot,
            wrote: false,
            restart: false,
            grew: false,
            started: std::time::Instant::now(),
            busy_after_ms,
            busy: None,
            is_eval: how.is_eval,
            name: std::mem::take(&mut how.name),
            command: std::mem::take(&mut how.command),
            caller: ctx.spec.name,
            inner_errors: std::mem::take(&mut inner_errors),
        };
        let ran = exec(&mut run, ctx.out);
        inner_errors = std::mem::take(&mut run.inner_errors);
        how.name = std::mem::take(&mut run.name);
        how.command = std::mem::take(&mut run.command);
        held = run.keys.take();
        if let Some(b) = run.busy.take() {
            srv.busy.leave(&b);
        }
        if run.grew {
            // It reaches beyond its declared keys: lock every shard for it from now on, so
            // it never needs a shard after writing.
            how.needs_every_shard.store(true, Relaxed);
        }
        if run.restart {
            // Nothing was written: start over holding every shard, and from now on.
            ctx.out.truncate(out_before);
            how.needs_every_shard.store(true, Relaxed);
            drop(held.take());
            held = Some(store.lock_all());
            continue;
        }
        break ran;
    };
    ctx.client.deny_blocking = deny_before;
    ctx.client.in_script = in_script_before;
    if own_log {
        if let Some(ops) = ctx.client.exec_log.take() {
            crate::cmd::log_transaction(srv, ctx.client, &ops);
        }
    }
    ctx.keys = held.unwrap_or_else(|| store.lock_indices(&[]));
    result.map_err(|e| CmdError::from(e.into_bytes()))?;
    script_error_reply(ctx, out_before, &inner_errors)
}

/// A script that answered with an error failed, as Redis counts it: its own errors
/// (`{err=…}`, `redis.error_reply`, a Lua error) go to the error statistics; an error a
/// called command gave (returned by `redis.pcall`, or raised by `redis.call`) was counted
/// there already, so the script's call only counts as failed.
fn script_error_reply(ctx: &mut Ctx<'_, '_>, out_before: usize, inner: &[Vec<u8>]) -> CmdResult {
    let reply = &ctx.out.as_bytes()[out_before.min(ctx.out.len())..];
    if reply.first() != Some(&b'-') {
        return Ok(());
    }
    let end = reply
        .iter()
        .position(|&c| c == b'\r')
        .unwrap_or(reply.len());
    let msg = reply[1..end].to_vec();
    if inner.iter().any(|e| msg.starts_with(e)) {
        ctx.client.reply_failed = true;
        return Ok(());
    }
    ctx.out.truncate(out_before);
    Err(CmdError::from(msg))
}

pub fn script_load(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (sha, _) = ctx
        .srv
        .scripts
        .load(argv.get(2))
        .map_err(|e| CmdError::from(e.into_bytes()))?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

pub fn script_exists(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    ctx.out.array(argv.len() - 2);
    for sha in argv.iter().skip(2) {
        // Redis compares SHA-1s ignoring case.
        let sha = sha.to_ascii_lowercase();
        let known = std::str::from_utf8(&sha).is_ok_and(|s| ctx.srv.scripts.contains(s));
        ctx.out.int(i64::from(known));
    }
    Ok(())
}

pub fn script_flush(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    match argv.len() {
        2 => {}
        3 if is(argv.get(2), "sync") || is(argv.get(2), "async") => {}
        _ => return Err("ERR SCRIPT FLUSH only support SYNC|ASYNC option".into()),
    }
    ctx.srv.scripts.flush();
    ctx.out.ok();
    Ok(())
}

pub fn script_kill(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.srv.busy.kill(true)?;
    ctx.out.ok();
    Ok(())
}

/// SCRIPT DEBUG YES|SYNC|NO. SYNC makes the client's next EVAL a debugging session (see
/// [`debug_eval`]). YES is Redis's forked session, whose writes are thrown away: Basalt does
/// not fork, so it refuses YES rather than run a session that keeps its writes.
pub fn script_debug(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if !ctx.out.is_empty() {
        return Err("ERR SCRIPT DEBUG must be called outside a pipeline".into());
    }
    let mode = argv.get(2);
    if is(mode, "no") {
        ctx.client.lua_debug = false;
    } else if is(mode, "sync") {
        ctx.client.lua_debug = true;
    } else if is(mode, "yes") {
        return Err("ERR SCRIPT DEBUG YES (a forked session whose writes are discarded) is not supported by Basalt; use SCRIPT DEBUG SYNC (redis-cli --ldb-sync-mode)".into());
    } else {
        return Err("ERR Use SCRIPT DEBUG YES/SYNC/NO".into());
    }
    ctx.out.ok();
    Ok(())
}

pub fn script_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}
