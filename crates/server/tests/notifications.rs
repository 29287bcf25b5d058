//! Keyspace notifications against the real thing (issue 11): with every class on
//! (`notify-keyspace-events KEA` plus `n`), a subscriber to `__keyspace@*__:*` and
//! `__keyevent@*__:*` listens on each server while the whole differential corpus runs; the
//! event streams, case by case, must be the same.
//!
//! Active expiry is off on both (`DEBUG SET-ACTIVE-EXPIRE 0`): when a background cycle
//! happens to catch a key is timing, not behaviour; keys then expire when a command finds
//! them, in the order the commands run.

mod common;
mod corpus;

use std::time::Duration;

use common::{show, Conn, ServerProc};
use corpus::{load_cases, run_case};

/// Cases whose events depend on a random choice: RANDOMKEY meets the expired key (and
/// deletes it, an `expired` event) or not, on either server.
const RANDOM_EVENTS: &[&str] = &[
    "randomkey skips expired key",
    // Keys are evicted in the order sampling finds them.
    "eviction: allkeys policies evict everything, then refuse",
    "eviction: volatile policies evict only keys with a time to live",
    "eviction: volatile-ttl and volatile-random",
];

/// The marker published after each case: everything before it belongs to the case.
const MARKER: &[u8] = b"corpus-case-done";

/// Read pushes until the marker; each event as `channel message`.
fn events_until_marker(sub: &mut Conn) -> Vec<String> {
    let mut events = Vec::new();
    loop {
        let frame = sub.read_reply();
        let parts = common::elements(&frame).expect("a pmessage");
        let text: Vec<String> = parts
            .iter()
            .map(|p| {
                String::from_utf8_lossy(p)
                    .lines()
                    .nth(1)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        if text.get(3).map(String::as_bytes) == Some(MARKER) {
            return events;
        }
        events.push(format!("{} {}", text[2], text[3]));
    }
}

fn listen(server: &ServerProc) -> Conn {
    let mut sub = server.conn();
    sub.stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    sub.send(&[b"PSUBSCRIBE", b"__keyspace@*__:*", b"__keyevent@*__:*"]);
    sub.read_reply();
    sub.read_reply();
    sub
}

#[test]
fn keyspace_events_match_redis_over_the_corpus() {
    if common::redis().is_none() {
        return;
    }
    let args = [
        "--notify-keyspace-events",
        "KEAnm",
        "--enable-debug-command",
        "yes",
    ];
    let redis = common::redis_with(&args);
    let basalt = common::basalt(&args);
    let (mut redis_sub, mut basalt_sub) = (listen(&redis), listen(&basalt));
    let (mut redis_admin, mut basalt_admin) = (redis.conn(), basalt.conn());
    for admin in [&mut redis_admin, &mut basalt_admin] {
        assert_eq!(
            admin.cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]),
            b"+OK\r\n"
        );
    }
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in load_cases() {
        // A case that kills clients by type would close the listener itself.
        let kills = case
            .steps
            .iter()
            .filter_map(corpus::Step::command)
            .any(|a| {
                a.len() > 1
                    && a[0].eq_ignore_ascii_case(b"client")
                    && a[1].eq_ignore_ascii_case(b"kill")
            });
        if kills {
            continue;
        }
        let mut streams = Vec::new();
        for (server, sub, admin) in [
            (&redis, &mut redis_sub, &mut redis_admin),
            (&basalt, &mut basalt_sub, &mut basalt_admin),
        ] {
            run_case(server, &case);
            // Some cases change the classes or subscribe to nothing of ours; restore them.
            admin.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEAnm"]);
            admin.cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]);
            admin.cmd(&[b"PUBLISH", b"__keyevent@0__:marker", MARKER]);
            streams.push(events_until_marker(sub));
        }
        if RANDOM_EVENTS.contains(&case.name.as_str()) {
            continue;
        }
        compared += 1;
        if streams[0] != streams[1] {
            let mut msg = format!("--- {}: {}\n", case.file, case.name);
            let n = streams[0].len().max(streams[1].len());
            for i in 0..n {
                let r = streams[0].get(i).map_or("<none>", String::as_str);
                let b = streams[1].get(i).map_or("<none>", String::as_str);
                let mark = if r == b { " " } else { "X" };
                msg.push_str(&format!(
                    "{mark} redis {} | basalt {}\n",
                    show(r.as_bytes()),
                    show(b.as_bytes())
                ));
            }
            failures.push(msg);
        }
    }
    eprintln!("notifications: {compared} cases, {} differ", failures.len());
    assert!(compared >= 400, "only {compared} cases ran");
    assert!(
        failures.is_empty(),
        "{} cases publish other events than redis:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
