//! Server commands: INFO DBSIZE FLUSHDB FLUSHALL TIME CONFIG SHUTDOWN (COMMAND is in
//! `command.rs`, the INFO text in `info.rs`).

use std::collections::HashSet;

use resp::Argv;
use store::glob_match;

use super::{is, reply_help};
use crate::cmd::{err, CmdError, CmdResult, Ctx, Flow};
use crate::config::params::{find, normalize, PARAMS};
use crate::server::StopReason;

pub use super::command::{
    command_all, command_count, command_docs, command_getkeys, command_getkeysandflags,
    command_help, command_info, command_list,
};

pub fn info(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let sections: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let srv = ctx.srv;
    let text = super::info::render(srv, &mut ctx.all_shards(), &sections);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn dbsize(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let db = ctx.client.db;
    let n = ctx.all_shards().db_len(db);
    ctx.out.int(n as i64);
    Ok(())
}

/// FLUSHDB/FLUSHALL's optional ASYNC|SYNC. ASYNC frees the old contents on another thread;
/// without either, `lazyfree-lazy-user-flush` decides.
fn flush_mode(ctx: &Ctx<'_, '_>, argv: &Argv<'_>) -> Result<bool, CmdError> {
    match argv.len() {
        1 => Ok(ctx.srv.config.read().get("lazyfree-lazy-user-flush") == "yes"),
        2 if is(argv.get(1), "async") => Ok(true),
        2 if is(argv.get(1), "sync") => Ok(false),
        _ => Err(err::SYNTAX.into()),
    }
}

/// Empty database `db` (every database when `None`); counts the keys removed as changes, as
/// Redis's `emptyData` does.
fn flush(ctx: &mut Ctx<'_, '_>, db: Option<usize>, lazy: bool) {
    let mut garbage = Vec::new();
    // Every shard is locked (see `cmd::dispatch::locks_every_shard`).
    let mut removed = 0u64;
    for shard in ctx.keys.shards_mut() {
        let range = match db {
            Some(i) => i..i + 1,
            None => 0..shard.database_count(),
        };
        for i in range {
            removed += shard.db_ref(i).len() as u64;
            garbage.push(shard.flush_db(i));
        }
        // XREADGROUP waiters learn that their streams are gone.
        if !shard.blocked.is_empty() {
            shard.signal_waited_keys(|i| db.is_none_or(|d| d == i));
        }
    }
    ctx.dirty += removed;
    if ctx
        .srv
        .tracking
        .clients
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
    {
        let id = ctx.client.id;
        crate::tracking::invalidate_all(ctx.srv, id, &mut ctx.client.pending_invalidations);
    }
    if lazy {
        store::lazyfree::free_all(garbage, removed);
    }
}

pub fn flushdb(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let lazy = flush_mode(ctx, &argv)?;
    flush(ctx, Some(ctx.client.db), lazy);
    ctx.out.ok();
    Ok(())
}

pub fn flushall(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let lazy = flush_mode(ctx, &argv)?;
    flush(ctx, None, lazy);
    ctx.out.ok();
    Ok(())
}

pub fn time(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let us = crate::util::now_us();
    ctx.out.array(2);
    ctx.out.bulk_int((us / 1_000_000) as i64);
    ctx.out.bulk_int((us % 1_000_000) as i64);
    Ok(())
}

fn has_glob(p: &[u8]) -> bool {
    p.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

/// The value CONFIG GET shows (`dir` is the working directory, as in Redis).
fn shown_value(ctx: &Ctx<'_, '_>, idx: usize) -> String {
    if PARAMS[idx].name == "dir" {
        return std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
    }
    let value = ctx.srv.config.read().value(idx).to_string();
    // Redis 7.0 prints `A` without the `n` it also holds (its flags-to-string quirk); the
    // events still go out, as they do in Redis.
    if PARAMS[idx].name == "notify-keyspace-events" && value.starts_with('A') {
        return value.replace('n', "");
    }
    value
}

pub fn config_get(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut pairs: Vec<(Vec<u8>, String)> = Vec::new();
    for pattern in argv.iter().skip(2) {
        if !has_glob(pattern) {
            if let Some((idx, _)) = find(pattern) {
                let name = pattern.to_vec();
                if seen.insert(name.clone()) {
                    pairs.push((name, shown_value(ctx, idx)));
                }
            }
            continue;
        }
        for (idx, p) in PARAMS.iter().enumerate() {
            if crate::config::params::HIDDEN.contains(&p.name) {
                continue;
            }
            for name in std::iter::once(p.name).chain(p.alias) {
                if glob_match(pattern, name.as_bytes(), true)
                    && seen.insert(name.as_bytes().to_vec())
                {
                    pairs.push((name.as_bytes().to_vec(), shown_value(ctx, idx)));
                }
            }
        }
    }
    ctx.out.map(pairs.len());
    for (name, value) in &pairs {
        ctx.out.bulk(name);
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// Parameters CONFIG SET changes only where `enable-protected-configs` allows (Redis's
/// PROTECTED_CONFIG: where files are written).
const PROTECTED: &[&str] = &["dir", "dbfilename"];

pub fn config_set(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if !(argv.len() - 2).is_multiple_of(2) {
        return Err(err::SYNTAX.into());
    }
    let failed = |name: &[u8], why: &str| -> CmdError {
        CmdError::concat(&[
            b"ERR CONFIG SET failed (possibly related to argument '",
            name,
            b"') - ",
            why.as_bytes(),
        ])
    };
    // A name given twice is an error; a name and its alias together are not (the last wins),
    // as in Redis.
    let mut chosen: Vec<(usize, &[u8], &[u8])> = Vec::new();
    for i in (2..argv.len()).step_by(2) {
        let (name, value) = (argv.get(i), argv.get(i + 1));
        let Some((idx, param)) = find(name) else {
            return Err(CmdError::concat(&[
                b"ERR Unknown option or number of arguments for CONFIG SET - '",
                name,
                b"'",
            ]));
        };
        if !param.mutable {
            return Err(failed(name, "can't set immutable config"));
        }
        if PROTECTED.contains(&param.name)
            && !crate::commands::debug::protected_action_allowed(
                ctx.srv.config.read().get("enable-protected-configs"),
                ctx.client,
            )
        {
            return Err(failed(name, "can't set protected config"));
        }
        if chosen.iter().any(|(_, n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(failed(name, "duplicate parameter"));
        }
        chosen.push((idx, name, value));
    }
    let mut values = Vec::new();
    let mut turn_aof = None;
    for &(idx, name, value) in &chosen {
        let text = String::from_utf8_lossy(value).into_owned();
        let args: Vec<String> = if matches!(
            PARAMS[idx].kind,
            crate::config::params::Kind::List | crate::config::params::Kind::SavePoints
        ) {
            text.split_whitespace().map(str::to_string).collect()
        } else {
            vec![text]
        };
        let v = normalize(&PARAMS[idx], &args).map_err(|m| failed(name, &m))?;
        check_supported(PARAMS[idx].name, &v).map_err(|m| failed(name, &m))?;
        let current = ctx.srv.config.read().get(PARAMS[idx].name).to_string();
        if PARAMS[idx].name == "appendonly" && v != current {
            turn_aof = Some(v == "yes");
        }
        values.push((idx, v));
    }
    for (idx, v) in &values {
        if PARAMS[*idx].name == "dir" {
            std::env::set_current_dir(v).map_err(|e| failed(b"dir", &e.to_string()))?;
        }
    }
    let oom_changed = values
        .iter()
        .find(|(idx, _)| PARAMS[*idx].name.starts_with("oom-score-adj"))
        .map(|(idx, _)| PARAMS[*idx].name);
    let previous: Vec<(usize, String)> = {
        let mut config = ctx.srv.config.write();
        let previous = values
            .iter()
            .map(|(idx, _)| (*idx, config.value(*idx).to_string()))
            .collect();
        for (idx, v) in values {
            config.set_value(idx, v);
        }
        previous
    };
    if let Some(oom_name) = oom_changed {
        if let Err(e) = apply_oom_score(ctx.srv) {
            // As Redis: the whole CONFIG SET is rolled back.
            crate::log_warning!("{e}");
            let mut config = ctx.srv.config.write();
            for (idx, v) in previous {
                config.set_value(idx, v);
            }
            drop(config);
            let _ = apply_oom_score(ctx.srv);
            return Err(failed(
                oom_name.as_bytes(),
                "Failed to set current oom_score_adj. Check server logs.",
            ));
        }
    }
    if let Err((name, why)) = apply_listeners(ctx, &previous) {
        // As Redis: the whole CONFIG SET is rolled back.
        let mut config = ctx.srv.config.write();
        for (idx, v) in previous {
            config.set_value(idx, v);
        }
        return Err(failed(name.as_bytes(), why));
    }
    ctx.srv.config_changed();
    if let Some(on) = turn_aof {
        if let Err(why) = set_appendonly(ctx, on) {
            ctx.srv
                .config
                .write()
                .set("appendonly", if on { "no" } else { "yes" });
            return Err(failed(b"appendonly", &why));
        }
    }
    ctx.out.ok();
    Ok(())
}

/// After CONFIG SET changed `previous`' parameters: reopen listeners for `port`, `tls-port`
/// and `bind`, and rebuild TLS for other `tls-*` settings. The error names the parameter.
fn apply_listeners(
    ctx: &Ctx<'_, '_>,
    previous: &[(usize, String)],
) -> Result<(), (&'static str, &'static str)> {
    let srv = ctx.srv.me.upgrade();
    let changed = |name: &str| {
        previous.iter().any(|(idx, old)| {
            PARAMS[*idx].name == name && *old != ctx.srv.config.read().value(*idx)
        })
    };
    let port_of = |name: &str| ctx.srv.config.read().get_i64(name) as u16;
    if let Some(srv) = &srv {
        if changed("bind") {
            // Both ports are reopened on the new addresses (with their new numbers).
            let old_bind = previous
                .iter()
                .find(|(idx, _)| PARAMS[*idx].name == "bind")
                .map_or(String::new(), |(_, old)| old.clone());
            return crate::net::change_bind(srv, &old_bind).map_err(|why| ("bind", why));
        }
        if changed("port") {
            crate::net::change_port(srv, false, port_of("port")).map_err(|why| ("port", why))?;
        }
        if changed("tls-port") {
            crate::net::change_port(srv, true, port_of("tls-port"))
                .map_err(|why| ("tls-port", why))?;
            return Ok(());
        }
    }
    let tls_setting = previous
        .iter()
        .map(|(idx, _)| PARAMS[*idx].name)
        .find(|n| n.starts_with("tls-"));
    if let Some(name) = tls_setting {
        ctx.srv.tls.configure(&ctx.srv.config.read()).map_err(|e| {
            crate::log_warning!("{e}");
            (
                name,
                "Unable to update TLS configuration. Check server logs.",
            )
        })?;
    }
    Ok(())
}

/// Set the process's OOM score from the current configuration.
fn apply_oom_score(srv: &crate::server::Server) -> Result<(), String> {
    let (mode, scores) = {
        let c = srv.config.read();
        (
            c.get("oom-score-adj").to_string(),
            c.get("oom-score-adj-values").to_string(),
        )
    };
    crate::oom::apply(&mode, &scores)
}

/// `CONFIG SET appendonly`: on starts a rewrite writing the base of a new log (the log takes
/// writes from its instant on; inside EXEC the cron starts it, as Redis schedules it); off
/// writes out and syncs what is buffered and stops logging.
fn set_appendonly(ctx: &mut Ctx<'_, '_>, on: bool) -> Result<(), String> {
    let srv = ctx.srv;
    if on && ctx.client.in_exec() {
        crate::log_warning!(
            "AOF was enabled during a transaction. An AOF background was scheduled to start when possible."
        );
        srv.rewrite
            .enable_scheduled
            .store(true, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    if on {
        return crate::rewrite::enable(srv).map_err(|e| {
            crate::log_warning!("AOF was not turned on: {e}");
            "Unable to turn on AOF. Check server logs.".to_string()
        });
    }
    srv.rewrite
        .enable_scheduled
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let Some(aof) = srv.aof() else { return Ok(()) };
    if ctx.keys.holds_all() {
        aof.set_enabled(false);
        store::set_log_expired(false);
    } else {
        let _all = srv.store.lock_all();
        aof.set_enabled(false);
        store::set_log_expired(false);
    }
    // Keys expired meanwhile need no DEL any more.
    ctx.all_shards()
        .for_each(|_, shard| drop(shard.drain_expired()));
    if let Err(e) = aof.flush(std::time::Duration::from_secs(5)) {
        crate::log_warning!("Writing the AOF before turning it off failed: {e}");
    }
    crate::log_notice!("AOF turned off");
    Ok(())
}

/// Values Basalt refuses rather than accept and silently not honour.
pub fn check_supported(name: &str, value: &str) -> Result<(), String> {
    if name == "proc-title-template"
        && !crate::proctitle::valid(value, &crate::config::Config::default())
    {
        return Err("template format is invalid or contains unknown variables".into());
    }
    Ok(())
}

pub fn config_resetstat(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.srv.stats.reset();
    ctx.srv.evict.reset_stats();
    ctx.all_shards().reset_stats();
    ctx.out.ok();
    Ok(())
}

pub fn config_rewrite(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let config = ctx.srv.config.read();
    if config.file.is_none() {
        return Err("ERR The server is running without a config file".into());
    }
    // Users go in as `user` lines unless an ACL file keeps them.
    let users = config.get("aclfile").is_empty().then(|| {
        ctx.srv
            .acl
            .users()
            .iter()
            .map(|u| String::from_utf8_lossy(&crate::acl::describe::user_line(u)).into_owned())
            .collect()
    });
    config
        .rewrite(users)
        .map_err(|e| CmdError::from(format!("ERR Rewriting config file: {e}")))?;
    drop(config);
    crate::log_notice!("CONFIG REWRITE executed with success.");
    ctx.out.ok();
    Ok(())
}

pub fn config_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

pub fn shutdown(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (mut save, mut nosave, mut force, mut abort) = (false, false, false, false);
    for a in argv.iter().skip(1) {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") {
        } else if is(a, "force") {
            force = true;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    if (abort && argv.len() != 2) || (save && nosave) {
        return Err(err::SYNTAX.into());
    }
    if abort {
        return Err("ERR No shutdown in progress.".into());
    }
    // While a script is busy only SHUTDOWN NOSAVE may stop the server (a save would wait
    // for the script's locks).
    if !nosave && ctx.srv.busy.any() {
        return Err(ctx.srv.busy.reply().into());
    }
    crate::log_warning!("User requested shutdown...");
    if !crate::save::save_before_exit(ctx.srv, save, nosave) && !force {
        crate::log_warning!(
            "Errors trying to shut down the server. Check the logs for more information."
        );
        return Err("ERR Errors trying to SHUTDOWN. Check logs.".into());
    }
    ctx.srv.request_stop(StopReason::Command);
    ctx.client.flow = Flow::CloseAfterReply;
    Ok(())
}
