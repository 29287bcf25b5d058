//! Introspection: MONITOR, SLOWLOG, WAIT (see `crate::monitor`, `crate::slowlog`).

use std::sync::atomic::Ordering::Relaxed;

use resp::Argv;

use super::reply_help;
use crate::cmd::{CmdResult, Ctx};

pub fn monitor(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    // Inside EXEC too: Redis 7.0's EXEC denies blocking, and MONITOR with it.
    if ctx.client.deny_blocking {
        return Err("ERR MONITOR isn't allowed for DENY BLOCKING client".into());
    }
    // A second MONITOR is ignored without a reply, as Redis ignores it.
    if ctx.client.shared.monitoring.swap(true, Relaxed) {
        return Ok(());
    }
    ctx.srv.monitors.add(&ctx.client.shared);
    ctx.out.ok();
    Ok(())
}

/// Leave MONITOR mode (RESET, the connection closing).
pub fn stop_monitoring(srv: &crate::server::Server, shared: &crate::client::ClientShared) {
    if shared.monitoring.swap(false, Relaxed) {
        srv.monitors.remove(shared.id);
    }
}

pub fn slowlog_get(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let count = if argv.len() == 3 {
        match resp::parse_i64(argv.get(2)) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Err("ERR count should be greater than or equal to -1".into()),
        }
    } else {
        Some(10)
    };
    if argv.len() > 3 {
        return Err(crate::cmd::CmdError::concat(&[
            b"ERR unknown subcommand or wrong number of arguments for '",
            argv.get(1),
            b"'. Try SLOWLOG HELP.",
        ]));
    }
    ctx.srv.slowlog.reply(ctx.out, count);
    Ok(())
}

pub fn slowlog_len(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.out.int(ctx.srv.slowlog.len() as i64);
    Ok(())
}

pub fn slowlog_reset(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.srv.slowlog.reset();
    ctx.out.ok();
    Ok(())
}

pub fn slowlog_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

pub fn latency_latest(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.srv.latency.reply_latest(ctx.out);
    Ok(())
}

pub fn latency_history(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    ctx.srv.latency.reply_history(ctx.out, argv.get(2));
    Ok(())
}

pub fn latency_reset(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let names: Vec<&[u8]> = argv.iter().skip(2).collect();
    let n = ctx.srv.latency.reset(&names);
    ctx.out.int(n as i64);
    Ok(())
}

/// LATENCY GRAPH event: a sparkline of the event's samples.
pub fn latency_graph(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let event = argv.get(2);
    let now_secs = crate::util::now_ms() / 1000;
    match ctx.srv.latency.graph(event, now_secs) {
        Some(text) => {
            ctx.out.verbatim("txt", text.as_bytes());
            Ok(())
        }
        None => Err(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(event)
        )
        .into()),
    }
}

/// LATENCY DOCTOR: the recorded events' figures, with advice.
pub fn latency_doctor(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    use crate::latency::doctor;
    let config = ctx.srv.config.read();
    let setting = doctor::Setting {
        threshold_ms: ctx.srv.latency.threshold_ms(),
        slowlog_slower_than_us: config.get("slowlog-log-slower-than").parse().unwrap_or(0),
        hz: config.hz(),
        anon_huge_page_bytes: doctor::anon_huge_page_bytes(),
    };
    drop(config);
    let events = ctx.srv.latency.summaries(crate::util::now_ms() / 1000);
    let text = doctor::report(&events, &setting);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn latency_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

/// LATENCY HISTOGRAM [command …]: each command with data (all, or the named ones and their
/// subcommands) → `{calls, histogram_usec: {µs: cumulative count}}`.
pub fn latency_histogram(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let all = ctx.srv.stats.histograms();
    let chosen: Vec<&(&'static str, crate::histogram::Snapshot)> = if argv.len() == 2 {
        all.iter().collect()
    } else {
        let mut v = Vec::new();
        for name in argv.iter().skip(2) {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            for entry in &all {
                let sub_of = entry.0.split_once('|').is_some_and(|(c, _)| c == name);
                if (entry.0 == name || sub_of) && !v.iter().any(|e: &&(_, _)| e.0 == entry.0) {
                    v.push(entry);
                }
            }
        }
        v
    };
    let out = &mut *ctx.out;
    out.map(chosen.len());
    for (name, snap) in chosen {
        out.bulk(name.as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(snap.total as i64);
        out.bulk(b"histogram_usec");
        let cdf = snap.cdf_usec();
        out.map(cdf.len());
        for (us, count) in cdf {
            out.int(us as i64);
            out.int(count as i64);
        }
    }
    Ok(())
}

/// LOLWUT [VERSION v] [arguments of that version]: Redis 7.0 answers with its version; VERSION
/// 5 and 6 draw the art of those releases (see `crate::lolwut`).
pub fn lolwut(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut version = None;
    let mut args: Vec<&[u8]> = argv.iter().skip(1).collect();
    if args.len() >= 2 && args[0].eq_ignore_ascii_case(b"version") {
        // Redis prints the number as an unsigned int, so -1 is a version of its own.
        version = Some(super::parse_int(args[1])? as u32);
        args.drain(..2);
    }
    let number = |i: usize, default: i64| match args.get(i) {
        Some(a) => super::parse_int(a),
        None => Ok(default),
    };
    let text = match version {
        Some(5) => crate::lolwut::schotter(number(0, 66)?, number(1, 8)?, number(2, 12)?),
        Some(6) => crate::lolwut::skyline(number(0, 80)?, number(1, 20)?),
        _ => format!("Redis ver. {}\n", crate::config::REDIS_VERSION),
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}
