//! MONITOR and SLOWLOG against redis-server (issue 11): their replies hold times, ids and
//! addresses, so each server's output is normalized (those fields dropped) and then compared.

mod common;

use common::{Conn, ServerProc};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The commands both servers run while monitored.
fn workload(c: &mut Conn) {
    let script: &[&[&[u8]]] = &[
        &[b"SET", b"a b", b"x\ny\"\\\x01\xff"],
        &[b"GET", b"a b"],
        &[b"SELECT", b"1"],
        &[b"MULTI"],
        &[b"INCR", b"n"],
        &[b"LPUSH", b"l", b"1", b"2"],
        &[b"EXEC"],
        &[b"SELECT", b"0"],
        &[b"AUTH", b"secret"],
        &[b"AUTH", b"user", b"secret"],
        &[
            b"HELLO", b"2", b"AUTH", b"default", b"pw", b"SETNAME", b"me",
        ],
        &[b"CONFIG", b"GET", b"maxmemory"],
        &[b"GET", b"missing"],
        // A script, then the commands it calls (shown as lua's).
        &[
            b"EVAL",
            b"redis.call('set', KEYS[1], 'v') return redis.call('get', KEYS[1])",
            b"1",
            b"mk",
        ],
        &[
            b"EVALSHA",
            b"0000000000000000000000000000000000000000",
            b"0",
        ],
    ];
    for cmd in script {
        c.cmd(cmd);
    }
}

/// MONITOR's lines for the workload, each without its time and client address.
fn monitor_lines(s: &ServerProc) -> Vec<String> {
    let mut m = s.conn();
    assert_eq!(m.cmd(&[b"MONITOR"]), b"+OK\r\n");
    workload(&mut s.conn());
    let mut c = s.conn();
    c.cmd(&[b"ECHO", b"end"]);
    let mut lines = Vec::new();
    loop {
        let line = text(&m.read_reply());
        let (_, rest) = line.split_once(" [").expect("a monitor line");
        let (db_addr, args) = rest.split_once("] ").expect("[db addr]");
        let mut parts = db_addr.split_whitespace();
        let db = parts.next().unwrap_or("");
        // Client addresses differ between the servers; a script's commands show `lua`.
        let from = match parts.next() {
            Some("lua") => " lua",
            _ => "",
        };
        let shown = format!("[{db}{from}] {}", args.trim_end());
        let done = shown.ends_with("\"ECHO\" \"end\"");
        lines.push(shown);
        if done {
            return lines;
        }
    }
}

#[test]
fn monitor_shows_what_redis_shows() {
    let Some(redis) = common::redis() else { return };
    let basalt = common::basalt(&[]);
    let theirs = monitor_lines(&redis);
    let ours = monitor_lines(&basalt);
    assert_eq!(ours, theirs);
    assert!(
        theirs.iter().any(|l| l.contains("(redacted)")),
        "{theirs:?}"
    );
    assert!(theirs.iter().any(|l| l.contains("[0 lua]")), "{theirs:?}");
}

/// SLOWLOG GET's entries without id, time, duration and address: arguments and name.
fn slowlog_entries(s: &ServerProc) -> Vec<String> {
    let mut c = s.conn();
    c.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"]);
    c.cmd(&[b"SLOWLOG", b"RESET"]);
    c.cmd(&[b"CLIENT", b"SETNAME", b"slowpoke"]);
    let mut many: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"l".to_vec()];
    many.extend((0..40).map(|i| format!("e{i}").into_bytes()));
    let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    c.cmd(&refs);
    c.cmd(&[b"SET", b"big", &[b'v'; 200]]);
    c.cmd(&[b"MULTI"]);
    c.cmd(&[b"GET", b"big"]);
    c.cmd(&[b"EXEC"]);
    // Secrets are redacted.
    c.cmd(&[b"AUTH", b"secret"]);
    c.cmd(&[b"AUTH", b"someone", b"secret"]);
    c.cmd(&[b"HELLO", b"2", b"AUTH", b"someone", b"secret"]);
    c.cmd(&[b"ACL", b"SETUSER", b"someone", b"on", b">secret"]);
    c.cmd(&[b"ACL", b"DELUSER", b"someone"]);
    c.cmd(&[b"CONFIG", b"SET", b"requirepass", b"", b"maxmemory", b"0"]);
    // A blocking command that times out is never logged; one that is served is logged when
    // served, after the command that served it.
    c.cmd(&[b"BLPOP", b"nothing", b"0.01"]);
    // Nor does it reach its latency histogram.
    let histogram = text(&c.cmd(&[b"LATENCY", b"HISTOGRAM", b"blpop"]));
    c.send(&[b"BLPOP", b"later", b"0"]);
    let mut other = s.conn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while common::info_field_in(&mut other, "clients", "blocked_clients") != "1" {
        assert!(std::time::Instant::now() < deadline, "never blocked");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    other.cmd(&[b"RPUSH", b"later", b"x"]);
    c.read_reply();
    let got = c.cmd(&[b"SLOWLOG", b"GET", b"-1"]);
    c.cmd(&[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"10000"]);
    common::elements(&got)
        .expect("entries")
        .iter()
        .map(|entry| {
            let fields = common::elements(entry).expect("an entry");
            assert_eq!(fields.len(), 6);
            format!("{} name={}", text(&fields[3]), text(&fields[5]))
        })
        .chain(std::iter::once(format!("blpop histogram: {histogram}")))
        // The poll for the blocked client runs as often as the timing needs: count it once.
        .fold(Vec::new(), |mut kept: Vec<String>, entry| {
            if !(entry.contains("INFO") && kept.last() == Some(&entry)) {
                kept.push(entry);
            }
            kept
        })
}

#[test]
fn slowlog_keeps_what_redis_keeps() {
    let Some(redis) = common::redis() else { return };
    let basalt = common::basalt(&[]);
    let theirs = slowlog_entries(&redis);
    let ours = slowlog_entries(&basalt);
    assert_eq!(ours, theirs);
    assert!(
        theirs.iter().any(|e| e.contains("more arguments")),
        "{theirs:?}"
    );
    assert!(
        theirs.iter().any(|e| e.contains("more bytes")),
        "{theirs:?}"
    );
}

/// LATENCY LATEST's events after a slow command, without times: `[name, ms >= threshold]`.
fn latency_events(s: &ServerProc) -> Vec<String> {
    let mut c = s.conn();
    c.cmd(&[b"CONFIG", b"SET", b"latency-monitor-threshold", b"100"]);
    c.cmd(&[b"DEBUG", b"SLEEP", b"0.15"]);
    let got = c.cmd(&[b"LATENCY", b"LATEST"]);
    c.cmd(&[b"CONFIG", b"SET", b"latency-monitor-threshold", b"0"]);
    let history = c.cmd(&[b"LATENCY", b"HISTORY", b"command"]);
    assert_eq!(common::elements(&history).map(|h| h.len()), Some(1));
    common::elements(&got)
        .expect("events")
        .iter()
        .map(|e| {
            let f = common::elements(e).expect("an event");
            let ms: i64 = text(&f[2])
                .trim_start_matches(':')
                .trim()
                .parse()
                .expect("ms");
            format!(
                "{} slow={}",
                text(&f[0]).lines().nth(1).unwrap_or(""),
                ms >= 100
            )
        })
        .collect()
}

#[test]
fn latency_monitor_samples_slow_commands_as_redis() {
    if common::redis().is_none() {
        return;
    }
    let redis = common::redis_with(&["--enable-debug-command", "yes"]);
    let basalt = common::basalt(&["--enable-debug-command", "yes"]);
    let theirs = latency_events(&redis);
    assert_eq!(theirs, vec!["command slow=true".to_string()]);
    assert_eq!(latency_events(&basalt), theirs);
}

/// After the same commands on a fresh server: LATENCY HISTOGRAM's commands with their call
/// counts, whether every histogram's counts rise to the calls, and INFO latencystats' lines
/// with their percentile labels (the latencies themselves differ between servers).
fn latency_tracking_shape(s: &ServerProc) -> (Vec<String>, Vec<String>) {
    let mut c = s.conn();
    c.cmd(&[b"CONFIG", b"RESETSTAT"]);
    for _ in 0..3 {
        c.cmd(&[b"SET", b"k", b"v"]);
    }
    c.cmd(&[b"GET", b"k"]);
    c.cmd(&[b"CLIENT", b"ID"]);
    let h = c.cmd(&[b"LATENCY", b"HISTOGRAM", b"set", b"get", b"client"]);
    let mut commands = Vec::new();
    let entries = common::elements(&h).expect("a map as an array");
    for pair in entries.chunks(2) {
        let name = text(&pair[0]).lines().nth(1).unwrap_or("").to_string();
        let fields = common::elements(&pair[1]).expect("fields");
        let calls = text(&fields[1]);
        let buckets = common::elements(&fields[3]).expect("buckets");
        let last = buckets.last().map(|b| text(b)).unwrap_or_default();
        commands.push(format!(
            "{name} calls={} last={}",
            calls.trim(),
            last.trim()
        ));
    }
    let info = text(&c.cmd(&[b"INFO", b"latencystats"]));
    // In Redis's command-table order, which is a hash order: compared sorted.
    let mut lines: Vec<String> = info
        .lines()
        .filter(|l| l.starts_with("latency_percentiles_usec_"))
        .map(|l| {
            let (name, values) = l.split_once(':').unwrap_or((l, ""));
            let labels: Vec<&str> = values
                .split(',')
                .filter_map(|v| v.split('=').next())
                .collect();
            format!("{name} {}", labels.join(","))
        })
        .collect();
    lines.sort();
    (commands, lines)
}

#[test]
fn latency_histograms_have_redis_shape() {
    let Some(redis) = common::redis() else { return };
    let basalt = common::basalt(&[]);
    let theirs = latency_tracking_shape(&redis);
    assert!(!theirs.0.is_empty() && !theirs.1.is_empty(), "{theirs:?}");
    assert_eq!(latency_tracking_shape(&basalt), theirs);
}

/// The CLIENT LIST fields about buffers that mean the same on both servers: a client sees its
/// own command in its query buffer (`qbuf`), its arguments' size (`argv-mem`), the replies
/// already buffered before it (`obl`), its queued transaction (`multi-mem` is Redis's own
/// accounting, so only whether it is zero), and a blocked client's pipelined input.
fn buffer_fields(s: &ServerProc) -> Vec<String> {
    const FIELDS: &[&str] = &["qbuf", "argv-mem", "obl", "oll", "multi", "cmd"];
    let pick = |reply: &[u8]| -> String {
        let line = text(reply);
        let mut shown: Vec<String> = line
            .split_whitespace()
            .filter(|f| FIELDS.iter().any(|n| f.split('=').next() == Some(n)))
            .map(str::to_string)
            .collect();
        let multi_mem = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("multi-mem="))
            .unwrap_or("?");
        shown.push(format!("multi-mem>0:{}", multi_mem != "0"));
        shown.join(" ")
    };
    let mut seen = Vec::new();
    let mut c = s.conn();
    // Pipelined: the PING's reply waits in the output buffer while CLIENT INFO runs.
    c.send_raw(b"PING\r\nCLIENT INFO\r\n");
    c.read_reply();
    seen.push(pick(&c.read_reply()));
    c.cmd(&[b"CLIENT", b"INFO"]);
    seen.push(pick(&c.cmd(&[b"CLIENT", b"INFO"])));
    c.cmd(&[b"MULTI"]);
    c.cmd(&[b"SET", b"k", b"some value"]);
    // Queued: CLIENT LIST names the last queued command.
    assert_eq!(c.cmd(&[b"CLIENT", b"ID"]), b"+QUEUED\r\n");
    let mut admin = s.conn();
    let list = admin.cmd(&[b"CLIENT", b"LIST"]);
    let first = text(&list)
        .lines()
        .find(|l| l.contains("multi=2"))
        .map(|l| pick(l.as_bytes()))
        .unwrap_or_else(|| format!("no client in multi: {}", text(&list)));
    seen.push(first);
    c.cmd(&[b"DISCARD"]);
    // Blocked, with more input behind the blocking command.
    let mut b = s.conn();
    b.send_raw(b"BLPOP nothing 0\r\nPING\r\n");
    let blocked = loop {
        let list = text(&admin.cmd(&[b"CLIENT", b"LIST"]));
        if let Some(l) = list.lines().find(|l| l.contains("cmd=blpop")) {
            break pick(l.as_bytes());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    seen.push(blocked);
    seen
}

#[test]
fn client_list_buffer_fields_match_redis() {
    let Some(redis) = common::redis() else { return };
    let basalt = common::basalt(&[]);
    assert_eq!(buffer_fields(&basalt), buffer_fields(&redis));
}

/// The drawing LATENCY GRAPH must make of `samples` (ms), as Redis's sparkline draws it (4 rows
/// of `_o#|`, from the lowest sample to the highest) — the test's own rendering, so each
/// server's graph is checked against its own samples, whatever their timing.
fn expected_rows(samples: &[i64]) -> Vec<String> {
    let (min, max) = (
        *samples.iter().min().unwrap_or(&0),
        *samples.iter().max().unwrap_or(&0),
    );
    let range = if max == min { 1.0 } else { (max - min) as f64 };
    let levels: Vec<usize> = samples
        .iter()
        .map(|&v| ((((v - min) * 12) as f64 / range) as usize).min(11))
        .collect();
    (0..4)
        .map(|row| {
            let floor = (3 - row) * 3;
            levels
                .iter()
                .map(|&l| match l as i64 - floor as i64 {
                    d if d < 0 => ' ',
                    0 => '_',
                    1 => 'o',
                    2 => '#',
                    _ => '|',
                })
                .collect()
        })
        .collect()
}

/// LATENCY GRAPH after three slow commands a second apart, checked against the server's own
/// LATENCY HISTORY; what both servers must agree on: the error before any sample, the header's
/// shape, and LATENCY DOCTOR's count of spikes.
///
/// The threshold (10 ms) sits well above what an ordinary command costs on a loaded CI machine,
/// and the graph is taken between two equal histories: a LATENCY call that was itself slow would
/// otherwise add a sample the graph and the history disagree on (a CI failure, 2026-12-05).
fn latency_graph_and_doctor(s: &ServerProc) -> (String, String, String) {
    let mut c = s.conn();
    c.cmd(&[b"CONFIG", b"SET", b"latency-monitor-threshold", b"10"]);
    let before = text(&c.cmd(&[b"LATENCY", b"GRAPH", b"command"]));
    for secs in [b"0.02".as_slice(), b"0.08", b"0.04"] {
        c.cmd(&[b"DEBUG", b"SLEEP", secs]);
        std::thread::sleep(std::time::Duration::from_millis(1050));
    }
    let (graph, history) = (0..5)
        .map(|_| {
            let first = c.cmd(&[b"LATENCY", b"HISTORY", b"command"]);
            let graph = text(&c.cmd(&[b"LATENCY", b"GRAPH", b"command"]));
            (first, graph, c.cmd(&[b"LATENCY", b"HISTORY", b"command"]))
        })
        .find(|(first, _, last)| first == last)
        .map(|(_, graph, history)| (graph, history))
        .expect("a graph between two equal histories");
    let samples: Vec<i64> = common::elements(&history)
        .expect("samples")
        .iter()
        .map(|pair| {
            let fields = common::elements(pair).expect("a sample");
            text(&fields[1])
                .trim_matches(|ch: char| !ch.is_ascii_digit())
                .parse()
                .expect("ms")
        })
        .collect();
    let lines: Vec<&str> = graph.lines().skip(1).collect();
    assert_eq!(lines[2..6].to_vec(), expected_rows(&samples), "{graph}");
    // Labels: a blank row, then "Ns" written downwards under each sample.
    assert_eq!(lines[6], " ".repeat(samples.len()), "{graph}");
    assert!(lines[7].chars().all(|ch| ch.is_ascii_digit()), "{graph}");
    assert_eq!(lines[8], "s".repeat(samples.len()), "{graph}");
    let header: String = lines[0]
        .chars()
        .map(|ch| if ch.is_ascii_digit() { 'N' } else { ch })
        .collect();
    let doctor = text(&c.cmd(&[b"LATENCY", b"DOCTOR"]));
    let figures = doctor
        .lines()
        .find(|l| l.starts_with("1. "))
        .and_then(|l| l.split(" (").next())
        .unwrap_or("no figures line")
        .to_string();
    (header, figures, before)
}

#[test]
fn latency_graph_and_doctor_match_redis() {
    if common::redis().is_none() {
        return;
    }
    let redis = common::redis_with(&["--enable-debug-command", "yes"]);
    let basalt = common::basalt(&["--enable-debug-command", "yes"]);
    // Side by side: each takes a few seconds of waiting.
    let (theirs, ours) = std::thread::scope(|s| {
        let theirs = s.spawn(|| latency_graph_and_doctor(&redis));
        let ours = latency_graph_and_doctor(&basalt);
        (theirs.join().expect("redis side"), ours)
    });
    assert_eq!(ours, theirs);
    assert!(theirs.0.starts_with("command - high "), "{theirs:?}");
}

/// Clients held by CLIENT PAUSE: one that disconnects meanwhile is gone at once (its socket
/// is still read), and the held write runs for the one that stays, after UNPAUSE.
fn paused_clients(s: &ServerProc) -> Vec<String> {
    let mut admin = s.conn();
    // Polls until the count is `want` (connections are registered and freed asynchronously),
    // or gives up after two seconds and returns what it saw.
    let clients = |c: &mut Conn, want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let n = common::info_field_in(c, "clients", "connected_clients");
            if n == want || std::time::Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    admin.cmd(&[b"CLIENT", b"PAUSE", b"100000", b"WRITE"]);
    let mut leaving = s.conn();
    let mut staying = s.conn();
    leaving.send(&[b"SET", b"gone", b"1"]);
    let mut seen = vec![clients(&mut admin, "3")];
    std::thread::sleep(std::time::Duration::from_millis(50));
    // A held client shows as Redis shows a postponed one: blocked, its command looked up,
    // its arguments out of the query buffer.
    staying.cmd(&[b"CLIENT", b"SETNAME", b"held"]);
    staying.send(&[b"SET", b"kept", b"1"]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let list = text(&admin.cmd(&[b"CLIENT", b"LIST"]));
    let held = list.lines().find(|l| l.contains("name=held")).unwrap_or("");
    seen.push(
        held.split(' ')
            .filter(|f| {
                let k = f.split('=').next().unwrap_or("");
                ["flags", "qbuf", "argv-mem", "multi-mem", "cmd"].contains(&k)
            })
            .collect::<Vec<_>>()
            .join(" "),
    );
    drop(leaving);
    seen.push(clients(&mut admin, "2"));
    admin.cmd(&[b"CLIENT", b"UNPAUSE"]);
    seen.push(text(&staying.read_reply()));
    seen.push(text(&admin.cmd(&[b"EXISTS", b"gone", b"kept"])));
    seen
}

#[test]
fn a_paused_client_that_disconnects_is_gone_at_once() {
    let Some(redis) = common::redis() else { return };
    let basalt = common::basalt(&[]);
    let theirs = paused_clients(&redis);
    assert_eq!(paused_clients(&basalt), theirs);
}

/// Error statistics of scripts: their own errors count once, a called command's error
/// passed on by the script counts only as the script's failed call.
fn script_error_stats(s: &ServerProc) -> Vec<String> {
    let mut c = s.conn();
    c.cmd(&[b"CONFIG", b"RESETSTAT"]);
    c.cmd(&[b"SET", b"s", b"x"]);
    for script in [
        "return {err='FOO bar'}",
        "return redis.call('incr','s')",
        "return redis.pcall('incr','s')",
        "local r = redis.pcall('incr','s') return 1",
        "return redis.error_reply('MY err')",
        "error('boom')",
    ] {
        c.cmd(&[b"EVAL", script.as_bytes(), b"0"]);
    }
    let mut kept = Vec::new();
    for section in ["errorstats", "commandstats", "stats"] {
        let info = text(&c.cmd_str(&["INFO", section]));
        for line in info.lines() {
            let wanted = line.starts_with("errorstat_")
                || line.starts_with("total_error_replies")
                || line.starts_with("unexpected_error_replies")
                || line.starts_with("cmdstat_eval")
                || line.starts_with("cmdstat_incr");
            if wanted {
                // Without the timings.
                kept.push(
                    line.split(',')
                        .filter(|f| !f.contains("usec"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
        }
    }
    // Redis lists commandstats in its hash table's order, which changes from run to run.
    kept.sort();
    kept
}

#[test]
fn script_errors_are_counted_as_redis_counts_them() {
    let basalt = common::basalt(&[]);
    let ours = script_error_stats(&basalt);
    assert!(
        ours.iter().any(|l| l.starts_with("errorstat_FOO")),
        "{ours:?}"
    );
    if let Some(redis) = common::redis() {
        assert_eq!(ours, script_error_stats(&redis));
    }
}

/// The field names of `INFO everything`, in order, with the per-command and per-error lines
/// left out (they depend on what ran) and Basalt's own additions (`basalt_version`,
/// `io_threads`, `shards`) skipped.
fn info_field_names(s: &ServerProc) -> Vec<String> {
    let mut c = s.conn();
    let info = text(&c.cmd_str(&["INFO", "everything"]));
    info.lines()
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, _)| k.to_string())
                .or_else(|| l.strip_prefix("# ").map(str::to_string))
        })
        .filter(|k| {
            !k.starts_with("cmdstat_")
                && !k.starts_with("errorstat_")
                && !k.starts_with("latency_percentiles_usec_")
                && !["basalt_version", "io_threads", "shards"].contains(&k.as_str())
        })
        .collect()
}

#[test]
fn info_lists_every_field_redis_lists_in_its_order() {
    let Some(redis) = common::redis() else { return };
    let basalt = common::basalt(&[]);
    assert_eq!(info_field_names(&basalt), info_field_names(&redis));
}
