//! A command called by a script (`redis.call`/`redis.pcall`): Redis's checks for scripts
//! (`scriptCall`), the shard locks it needs (see `crate::scripting` for the design), then
//! the command itself under the script's locks, its effects gathered into the script's
//! record and its reply returned as RESP for the engine to convert.

use std::time::{Duration, Instant};

use resp::{Argv, Proto, Reply};
use store::Locked;

use super::dispatch::{disk_error, finish, needs_every_shard, run_locked, touches_data_keyless};
use super::flags::{MAY_REPLICATE, NOSCRIPT, WRITE};
use super::{resolve, Spec};
use crate::client::ClientState;
use crate::server::Server;

/// How long a script that already wrote keeps trying for a shard another command holds.
const GROW_PATIENCE: Duration = Duration::from_millis(500);

/// The state of one script run.
pub struct ScriptRun<'a, 's> {
    pub srv: &'a Server,
    pub client: &'a mut ClientState,
    /// The script's locks (taken out while a command runs under them).
    pub keys: Option<Locked<'s>>,
    /// The script's clock: every command it calls sees the same time, as in Redis.
    pub now_ms: u64,
    /// EVAL_RO, or a `no-writes` shebang.
    pub read_only: bool,
    /// `allow-oom`: commands that need memory run even over `maxmemory`.
    pub allow_oom: bool,
    /// Cluster mode: `allow-cross-slot-keys`, and the one slot the script's keys may use
    /// otherwise (set by its declared keys, or by the first key it reaches).
    pub allow_cross_slot: bool,
    pub slot: Option<u16>,
    /// A write command was called (Redis's `SCRIPT_WRITE_DIRTY`).
    pub wrote: bool,
    /// The script needed shards it could not take before it wrote: it is to run again from
    /// the start holding every shard. Every later call fails at once.
    pub restart: bool,
    /// The script took shards beyond its declared keys' (later runs lock every shard).
    pub grew: bool,
    /// When it started, and whether it has run past `busy-reply-threshold` (ms, 0 = never).
    pub started: Instant,
    pub busy_after_ms: u64,
    pub busy: Option<std::sync::Arc<crate::scripting::busy::BusyScript>>,
    /// EVAL rather than FCALL.
    pub is_eval: bool,
    /// A script's SHA-1 (named `f_<sha>` in the log), a function's name.
    pub name: String,
    /// The command running it (FCALL's, for FUNCTION STATS; empty for EVAL).
    pub command: Vec<Vec<u8>>,
    /// The name of that command (`eval`, `fcall` …), as the ACL log shows the caller.
    pub caller: &'static str,
    /// Error replies of the commands it called (a few): when the script's own reply is one
    /// of them, Redis counts it in the error statistics once, as the called command's.
    pub inner_errors: Vec<Vec<u8>>,
}

impl ScriptRun<'_, '_> {
    /// See [`ScriptRun::tick_named`].
    pub fn tick(&mut self) -> bool {
        let name = std::mem::take(&mut self.name);
        let stop = self.tick_named(&name);
        self.name = name;
        stop
    }

    /// The engine's periodic check: mark the script busy once it runs past the threshold
    /// (logged as Redis logs it); whether SCRIPT KILL asked it to stop.
    fn tick_named(&mut self, name: &str) -> bool {
        if self.busy.is_none() {
            let elapsed_ms = self.started.elapsed().as_millis() as u64;
            if self.busy_after_ms == 0 || elapsed_ms < self.busy_after_ms {
                return false;
            }
            let kill = if self.is_eval {
                "SCRIPT KILL"
            } else {
                "FUNCTION KILL"
            };
            let name = if self.is_eval {
                format!("f_{name}")
            } else {
                name.to_string()
            };
            crate::log_warning!(
                "Slow script detected: still in execution after {elapsed_ms} milliseconds. You can try killing the script using the {kill} command. Script name is: {name}."
            );
            let io_thread = crate::scripting::busy::io_thread();
            let running = crate::scripting::busy::Running {
                is_eval: self.is_eval,
                name,
                command: self.command.clone(),
                started: self.started,
            };
            self.busy = Some(self.srv.busy.enter(io_thread, self.wrote, running));
        }
        let stop = self.busy.as_ref().is_some_and(|b| b.kill_requested());
        if stop {
            crate::log_warning!("Lua script killed by user with SCRIPT KILL.");
        }
        stop
    }
}

/// Commands that run scripts (EXEC locks every shard for them).
pub fn is_script(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// How many called commands' errors a run remembers (see [`ScriptRun::inner_errors`]).
const MAX_INNER_ERRORS: usize = 8;

/// The error every call gets once the script is to start over (never seen by the caller:
/// the run's reply is discarded).
const RESTARTING: &str = "ERR script is being restarted with every shard locked";

/// Run one command for a script; its RESP reply (errors included) goes to `reply` (emptied
/// first, and set to the script's protocol). False when it was refused before running.
pub fn call(
    run: &mut ScriptRun<'_, '_>,
    args: Argv<'_>,
    resp: u8,
    repl: u8,
    reply: &mut Reply,
) -> bool {
    reply.clear();
    reply.proto = if resp == 3 {
        Proto::Resp3
    } else {
        Proto::Resp2
    };
    match checked_call(run, args, repl, reply) {
        Ok(()) => {
            let bytes = reply.as_bytes();
            if bytes.first() == Some(&b'-') && run.inner_errors.len() < MAX_INNER_ERRORS {
                let end = bytes
                    .iter()
                    .position(|&c| c == b'\r')
                    .unwrap_or(bytes.len());
                run.inner_errors.push(bytes[1..end].to_vec());
            }
            true
        }
        Err(e) => {
            reply.clear();
            reply.error(e.as_bytes());
            false
        }
    }
}

/// [`call`], or the error that refused the command before it ran.
fn checked_call(
    run: &mut ScriptRun<'_, '_>,
    args: Argv<'_>,
    repl: u8,
    reply: &mut Reply,
) -> Result<(), String> {
    if run.restart {
        return Err(RESTARTING.into());
    }
    let spec = resolve(args).map_err(|_| "ERR Unknown Redis command called from script")?;
    if !spec.arity_ok(args.len()) {
        return Err("ERR Wrong number of args calling Redis command from script".into());
    }
    if spec.has(NOSCRIPT) {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    if let Err(denied) =
        crate::acl::clients::permit(run.srv, run.client, spec, &args, "lua", run.caller)
    {
        return Err(format!(
            "ERR The user executing the script {}",
            denied.script_message()
        ));
    }
    if run.read_only && (spec.has(WRITE) || spec.has(MAY_REPLICATE)) {
        return Err("ERR Write commands are not allowed from read-only scripts.".into());
    }
    if run.srv.cluster.enabled && !run.client.replaying {
        crate::cluster::redirect::in_script(
            run.srv,
            run.client,
            spec,
            &args,
            (&mut run.slot, run.allow_cross_slot),
        )?;
    }
    if spec.has(WRITE) && !run.wrote {
        if let Some(e) = disk_error(run.srv) {
            return Err(e);
        }
    }
    // Over `maxmemory` when the script began: it may not start growing the data (once it
    // wrote, it cannot be stopped halfway).
    if !run.allow_oom
        && !run.wrote
        && run.client.oom_before_script
        && !run.client.replaying
        && spec.has(super::flags::DENYOOM)
        && run.srv.evict.maxmemory() > 0
    {
        return Err(crate::evict::OOM.into());
    }
    hold_shards(run, spec, args)?;
    if spec.has(WRITE) {
        if run.busy.as_ref().is_some_and(|b| !b.mark_wrote()) {
            return Err(format!("ERR {}", scripting::KILLED));
        }
        run.wrote = true;
    }
    let keys = run.keys.take().ok_or(RESTARTING)?;
    let logged_before = run.client.exec_log.as_ref().map_or(0, Vec::len);
    let started = Instant::now();
    let (back, result) = run_locked(run.srv, run.client, reply, spec, args, keys, run.now_ms);
    run.keys = Some(back);
    // `redis.set_repl` without REPL_AOF: this command's effects stay out of the log.
    if repl & 1 == 0 {
        if let Some(log) = run.client.exec_log.as_mut() {
            log.truncate(logged_before);
        }
    }
    let elapsed_us = started.elapsed().as_micros() as u64;
    finish(run.srv, run.client, reply, spec, &args, elapsed_us, result);
    Ok(())
}

/// Make sure the script holds every shard `spec` needs for `args`: see `crate::scripting`.
fn hold_shards(
    run: &mut ScriptRun<'_, '_>,
    spec: &'static Spec,
    args: Argv<'_>,
) -> Result<(), String> {
    let srv = run.srv;
    let key_idx = spec.key_indices(&args);
    let every = needs_every_shard(spec, &key_idx)
        || (key_idx.is_empty()
            && touches_data_keyless(spec)
            && !super::multi::keyless_without_data(spec));
    let mut want: Vec<usize> = if every {
        (0..srv.store.shard_count()).collect()
    } else {
        key_idx
            .iter()
            .map(|&i| srv.store.shard_index(args.get(i)))
            .collect()
    };
    want.sort_unstable();
    want.dedup();
    // A script that already reached beyond its declared keys starts over holding every shard
    // before its first write: once it has written it could not, and it may reach further.
    if !run.wrote && spec.has(WRITE) && run.grew {
        run.restart = true;
        return Err(RESTARTING.into());
    }
    let held = run
        .keys
        .as_ref()
        .map_or(0, |k| want.iter().filter(|&&i| k.holds(i)).count());
    if held == want.len() {
        return Ok(());
    }
    // Its first write must be under locks it holds: a script that has not written starts
    // over holding every shard rather than write outside its locks, so that afterwards it
    // never needs a shard it could only wait for out of order.
    if !run.wrote && spec.has(WRITE) {
        run.restart = true;
        return Err(RESTARTING.into());
    }
    run.grew = true;
    for idx in want {
        let Some(keys) = run.keys.take() else {
            return Err(RESTARTING.into());
        };
        match grow(keys, idx, run.wrote) {
            Ok(keys) => run.keys = Some(keys),
            Err(keys) => {
                run.keys = Some(keys);
                if run.wrote {
                    return Err(format!(
                        "ERR script could not lock the shard of a key it did not declare, after \
                         writing; pass every key the script uses in KEYS (shard {idx})"
                    ));
                }
                run.restart = true;
                return Err(RESTARTING.into());
            }
        }
    }
    Ok(())
}

/// `keys` plus shard `idx`: waited for when above every held shard (the order everyone
/// locks in), otherwise only tried — for a while if the script already wrote and cannot start
/// over, once if it can.
fn grow(keys: Locked<'_>, idx: usize, wrote: bool) -> Result<Locked<'_>, Locked<'_>> {
    let deadline = Instant::now() + GROW_PATIENCE;
    let mut keys = keys;
    loop {
        match keys.try_with_shard(idx) {
            Ok(grown) => return Ok(grown),
            Err(back) => keys = back,
        }
        if !wrote || Instant::now() >= deadline {
            return Err(keys);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}
