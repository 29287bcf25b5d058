//! FCALL, FCALL_RO and FUNCTION: see `crate::scripting::functions` for the registry and the
//! interpreters, and `crate::scripting` for how a function runs (locks, restarts, the log).
//! Changing the libraries locks every shard (see `cmd::dispatch`), so a snapshot's instant
//! sees them as they were with the keys, and the log has the change in its place.

use resp::Argv;

use super::scripting::{prepare, run_script, How};
use super::{is, reply_help};
use crate::cmd::{CmdError, CmdResult, Ctx};
use crate::scripting::functions::{ensure_loaded, with_function_engine, Policy, LOAD_TIMEOUT};

pub fn fcall(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    fcall_generic(ctx, argv, false)
}

pub fn fcall_ro(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    fcall_generic(ctx, argv, true)
}

fn fcall_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, ro: bool) -> CmdResult {
    // MONITOR shows the call before the commands it makes (FCALL itself is `skip_monitor`).
    if ctx.srv.monitors.any() {
        let from = ctx.client.shared.addr.clone();
        crate::monitor::feed_from(ctx.srv, &from, ctx.client.db, ctx.spec, &argv);
    }
    let srv = ctx.srv;
    let (lib, idx) = srv
        .functions
        .find(argv.get(1))
        .ok_or("ERR Function not found")?;
    let n = std::str::from_utf8(argv.get(2))
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or("ERR Bad number of keys provided")?;
    if n > (argv.len() - 3) as i64 {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    if n < 0 {
        return Err("ERR Number of keys can't be negative".into());
    }
    let n = n as usize;
    let function = &lib.functions[idx];
    prepare(ctx, function.flags, ro)?;
    let keys: Vec<&[u8]> = (3..3 + n).map(|i| argv.get(i)).collect();
    let args: Vec<&[u8]> = (3 + n..argv.len()).map(|i| argv.get(i)).collect();
    let how = How {
        is_eval: false,
        name: function.name.clone(),
        command: argv.iter().map(<[u8]>::to_vec).collect(),
        needs_every_shard: &function.needs_every_shard,
        read_only: ro || function.flags.no_writes,
        allow_oom: function.flags.allow_oom,
        allow_cross_slot: function.flags.allow_cross_slot_keys,
        slot: keys.first().map(|k| store::slot::key_slot(k)),
    };
    run_script(ctx, how, |run, out| {
        with_function_engine(&srv.functions, |engine| -> Result<(), String> {
            ensure_loaded(engine, &lib).map_err(|e| format!("ERR {e}"))?;
            engine
                .call_function(lib.id, &function.name, &keys, &args, run, out)
                .map_err(|e| e.to_string())
        })?
    })
}

fn load_error(e: String) -> CmdError {
    CmdError::from(format!("ERR {e}").into_bytes())
}

/// FUNCTION LOAD [REPLACE] code.
pub fn function_load(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut replace = false;
    let mut at = 2;
    while at < argv.len() - 1 {
        let opt = argv.get(at);
        at += 1;
        if is(opt, "replace") {
            replace = true;
            continue;
        }
        return Err(CmdError::concat(&[b"ERR Unknown option given: ", opt]));
    }
    // The log's commands ran once already: no time limit when replaying them, as Redis.
    let timeout = (!ctx.client.replaying).then_some(LOAD_TIMEOUT);
    let name = ctx
        .srv
        .functions
        .load(argv.get(at), replace, timeout)
        .map_err(load_error)?;
    ctx.dirty += 1;
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

pub fn function_delete(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    ctx.srv
        .functions
        .delete(argv.get(2))
        .map_err(|e| format!("ERR {e}"))?;
    ctx.dirty += 1;
    ctx.out.ok();
    Ok(())
}

pub fn function_flush(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    match argv.len() {
        2 => {}
        3 if is(argv.get(2), "sync") || is(argv.get(2), "async") => {}
        3 => return Err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into()),
        _ => return Err(subcommand_syntax_error(&argv)),
    }
    ctx.srv.functions.flush();
    ctx.dirty += 1;
    ctx.out.ok();
    Ok(())
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]: libraries in name order.
pub fn function_list(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < argv.len() {
        let a = argv.get(i);
        if !with_code && is(a, "withcode") {
            with_code = true;
        } else if pattern.is_none() && is(a, "libraryname") {
            if i + 1 >= argv.len() {
                return Err("ERR library name argument was not given".into());
            }
            i += 1;
            pattern = Some(argv.get(i));
        } else {
            return Err(CmdError::concat(&[b"ERR Unknown argument ", a]));
        }
        i += 1;
    }
    let libs: Vec<_> = ctx
        .srv
        .functions
        .libraries()
        .into_iter()
        .filter(|l| pattern.is_none_or(|p| store::glob_match(p, l.name.as_bytes(), false)))
        .collect();
    let out = &mut *ctx.out;
    out.array(libs.len());
    for lib in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names = flag_names(f.flags);
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

/// A function's flags as Redis names them, in Redis's order.
fn flag_names(f: scripting::ScriptFlags) -> Vec<&'static str> {
    [
        (f.no_writes, "no-writes"),
        (f.allow_oom, "allow-oom"),
        (f.allow_stale, "allow-stale"),
        (f.no_cluster, "no-cluster"),
        (f.allow_cross_slot_keys, "allow-cross-slot-keys"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

pub fn function_dump(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let libs = ctx.srv.functions.libraries();
    let compress = ctx.srv.config.read().get("rdbcompression") != "no";
    let payload =
        persist::rdb::functions::dump_functions(libs.iter().map(|l| l.code.as_slice()), compress);
    ctx.out.bulk(&payload);
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
pub fn function_restore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 4 {
        return Err(subcommand_syntax_error(&argv));
    }
    let policy =
        match argv.len() {
            4 if is(argv.get(3), "append") => Policy::Append,
            4 if is(argv.get(3), "replace") => Policy::Replace,
            4 if is(argv.get(3), "flush") => Policy::Flush,
            4 => return Err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
                    .into(),
            ),
            _ => Policy::Append,
        };
    let codes =
        persist::rdb::functions::restore_functions(argv.get(2)).map_err(|e| format!("ERR {e}"))?;
    let timeout = (!ctx.client.replaying).then_some(LOAD_TIMEOUT);
    ctx.srv
        .functions
        .restore(&codes, policy, timeout)
        .map_err(load_error)?;
    ctx.dirty += 1;
    ctx.out.ok();
    Ok(())
}

/// FUNCTION STATS: the busy function, if one is (a busy script makes it refuse, as Redis),
/// and the libraries' counts.
pub fn function_stats(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let running = ctx.srv.busy.first(|r| {
        r.map(|r| {
            (
                r.is_eval,
                r.name.clone(),
                r.command.clone(),
                r.started.elapsed().as_millis() as i64,
            )
        })
    });
    if running.as_ref().is_some_and(|r| r.0) {
        return Err(crate::scripting::busy::BUSY.into());
    }
    let (libraries, functions) = ctx.srv.functions.counts();
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match running {
        None => out.null(),
        Some((_, name, command, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(command.len());
            for a in &command {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(ms);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
    Ok(())
}

pub fn function_kill(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.srv.busy.kill(false)?;
    ctx.out.ok();
    Ok(())
}

pub fn function_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}

/// Redis's reply to a FUNCTION subcommand with the wrong arguments.
fn subcommand_syntax_error(argv: &Argv<'_>) -> CmdError {
    CmdError::concat(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        &argv.get(1)[..argv.get(1).len().min(128)],
        b"'. Try FUNCTION HELP.",
    ])
}
