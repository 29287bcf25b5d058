//! Blocking list and sorted-set commands with many clients: order of service, one element per waiter,
//! wake-ups across shards and I/O threads, timeouts, disconnects, CLIENT UNBLOCK.

mod common;

use std::time::{Duration, Instant};

use common::{basalt, Conn, ServerProc};

fn info_blocked(s: &ServerProc) -> usize {
    let reply = s.conn().cmd_str(&["INFO", "clients"]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

/// Wait until the server reports `n` blocked clients.
fn wait_blocked(s: &ServerProc, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_blocked(s) != n {
        assert!(
            Instant::now() < deadline,
            "never reached {n} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn bulk_pair(key: &str, value: &str) -> Vec<u8> {
    format!(
        "*2\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
        key.len(),
        value.len()
    )
    .into_bytes()
}

#[test]
fn waiters_are_served_in_the_order_they_blocked_one_element_each() {
    let s = &basalt(&[]);
    let mut waiters: Vec<Conn> = Vec::new();
    for i in 0..5 {
        let mut c = s.conn();
        c.send(&[b"BLPOP", b"queue", b"0"]);
        waiters.push(c);
        wait_blocked(s, i + 1);
    }
    let mut producer = s.conn();
    assert_eq!(producer.cmd_str(&["RPUSH", "queue", "a", "b"]), b":2\r\n");
    assert_eq!(waiters[0].read_reply(), bulk_pair("queue", "a"));
    assert_eq!(waiters[1].read_reply(), bulk_pair("queue", "b"));
    wait_blocked(s, 3);
    for w in &mut waiters[2..] {
        assert!(
            !w.has_data_within(100),
            "a waiter got data with the list empty"
        );
    }
    assert_eq!(producer.cmd_str(&["RPUSH", "queue", "c"]), b":1\r\n");
    assert_eq!(waiters[2].read_reply(), bulk_pair("queue", "c"));
    assert_eq!(producer.cmd_str(&["LLEN", "queue"]), b":0\r\n");
    wait_blocked(s, 2);
}

#[test]
fn push_on_another_shard_and_thread_wakes_a_multi_key_waiter() {
    let s = &basalt(&["--io-threads", "2", "--shards", "64"]);
    // Many keys so they spread over shards; the waiter blocks on all of them.
    let keys: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
    for target in [3usize, 11, 15] {
        let mut w = s.conn();
        let mut args: Vec<&[u8]> = vec![b"BRPOP"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        args.push(b"0");
        w.send(&args);
        wait_blocked(s, 1);
        // Several producer connections: accepted round robin, so some run on the other thread.
        let mut p = s.conn();
        let mut p2 = s.conn();
        p2.cmd_str(&["PING"]);
        assert_eq!(p.cmd_str(&["LPUSH", &keys[target], "v"]), b":1\r\n");
        assert_eq!(w.read_reply(), bulk_pair(&keys[target], "v"));
        wait_blocked(s, 0);
    }
}

#[test]
fn timeouts_and_forever() {
    let s = &basalt(&[]);
    let mut c = s.conn();
    let started = Instant::now();
    assert_eq!(c.cmd_str(&["BLPOP", "none", "0.2"]), b"*-1\r\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(190),
        "returned after {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "returned after {waited:?}");
    assert_eq!(
        c.cmd_str(&["BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.05"]),
        b"*-1\r\n"
    );
    assert_eq!(
        c.cmd_str(&["BLPOP", "none", "-1"]),
        b"-ERR timeout is negative\r\n"
    );
    assert_eq!(
        c.cmd_str(&["BLPOP", "none", "abc"]),
        b"-ERR timeout is not a float or out of range\r\n"
    );
    // 0 waits until data arrives; commands pipelined after it wait their turn.
    c.send(&[b"BLPOP", b"later", b"0"]);
    c.send(&[b"PING"]);
    wait_blocked(s, 1);
    assert!(!c.has_data_within(200));
    s.conn().cmd_str(&["RPUSH", "later", "x"]);
    assert_eq!(c.read_reply(), bulk_pair("later", "x"));
    assert_eq!(c.read_reply(), b"+PONG\r\n");
}

#[test]
fn a_client_that_disconnects_while_blocked_leaves_no_trace() {
    let s = &basalt(&[]);
    {
        let mut gone = s.conn();
        gone.send(&[b"BLPOP", b"q", b"0"]);
        wait_blocked(s, 1);
    }
    wait_blocked(s, 0);
    let mut waiter = s.conn();
    waiter.send(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(s, 1);
    s.conn().cmd_str(&["RPUSH", "q", "only"]);
    assert_eq!(waiter.read_reply(), bulk_pair("q", "only"));
    let mut c = s.conn();
    assert_eq!(c.cmd_str(&["RPUSH", "q", "kept"]), b":1\r\n");
    assert_eq!(c.cmd_str(&["LLEN", "q"]), b":1\r\n");
}

#[test]
fn client_unblock_timeout_and_error() {
    let s = &basalt(&[]);
    let mut w = s.conn();
    let id = String::from_utf8_lossy(&w.cmd_str(&["CLIENT", "ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    let mut admin = s.conn();
    w.send(&[b"BRPOP", b"q", b"0"]);
    wait_blocked(s, 1);
    assert_eq!(
        admin.cmd_str(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]),
        b":1\r\n"
    );
    assert_eq!(w.read_reply(), b"*-1\r\n");
    w.send(&[b"BLMPOP", b"0", b"1", b"q", b"LEFT"]);
    wait_blocked(s, 1);
    assert_eq!(
        admin.cmd_str(&["CLIENT", "UNBLOCK", &id, "ERROR"]),
        b":1\r\n"
    );
    assert_eq!(
        w.read_reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(admin.cmd_str(&["CLIENT", "UNBLOCK", &id]), b":0\r\n");
    assert_eq!(
        admin.cmd_str(&["CLIENT", "UNBLOCK", &id, "MAYBE"]),
        b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
    );
    wait_blocked(s, 0);
}

#[test]
fn blmove_and_blmpop_are_served_when_data_arrives() {
    let s = &basalt(&[]);
    let mut mover = s.conn();
    mover.send(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"]);
    let mut mpop = s.conn();
    mpop.send(&[b"BLMPOP", b"0", b"2", b"a", b"b", b"RIGHT", b"COUNT", b"2"]);
    wait_blocked(s, 2);
    let mut p = s.conn();
    p.cmd_str(&["RPUSH", "src", "x"]);
    assert_eq!(mover.read_reply(), b"$1\r\nx\r\n");
    assert_eq!(
        p.cmd_str(&["LRANGE", "dst", "0", "-1"]),
        b"*1\r\n$1\r\nx\r\n"
    );
    p.cmd_str(&["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(
        mpop.read_reply(),
        b"*2\r\n$1\r\nb\r\n*2\r\n$1\r\n3\r\n$1\r\n2\r\n".to_vec()
    );
    assert_eq!(p.cmd_str(&["LRANGE", "b", "0", "-1"]), b"*1\r\n$1\r\n1\r\n");
}

#[test]
fn data_arriving_from_another_database_wakes_waiters() {
    let s = &basalt(&[]);
    let mut w = s.conn();
    w.cmd_str(&["SELECT", "1"]);
    w.send(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(s, 1);
    let mut p = s.conn();
    // MOVE from db 0 into db 1.
    p.cmd_str(&["RPUSH", "q", "moved"]);
    assert_eq!(p.cmd_str(&["MOVE", "q", "1"]), b":1\r\n");
    assert_eq!(w.read_reply(), bulk_pair("q", "moved"));
    // COPY … DB 1.
    w.send(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(s, 1);
    p.cmd_str(&["RPUSH", "src", "copied"]);
    assert_eq!(p.cmd_str(&["COPY", "src", "q", "DB", "1"]), b":1\r\n");
    assert_eq!(w.read_reply(), bulk_pair("q", "copied"));
    // SWAPDB: the waiter stays on db 1, which now holds db 0's data.
    w.send(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(s, 1);
    p.cmd_str(&["RPUSH", "q", "swapped"]);
    assert_eq!(p.cmd_str(&["SWAPDB", "0", "1"]), b"+OK\r\n");
    assert_eq!(w.read_reply(), bulk_pair("q", "swapped"));
}

/// Run a scenario on real redis-server too when it is installed, so the expectations are
/// Redis's own behaviour, then on Basalt.
fn on_both(scenario: impl Fn(&ServerProc)) {
    if let Some(r) = common::redis() {
        scenario(&r);
    }
    scenario(&basalt(&[]));
}

fn bzpop_reply(key: &str, member: &str, score: &str) -> Vec<u8> {
    format!(
        "*3\r\n${}\r\n{key}\r\n${}\r\n{member}\r\n${}\r\n{score}\r\n",
        key.len(),
        member.len(),
        score.len()
    )
    .into_bytes()
}

#[test]
fn bzpopmin_waiters_are_served_in_order_lowest_score_first() {
    on_both(|s| {
        let mut waiters: Vec<Conn> = Vec::new();
        for i in 0..3 {
            let mut c = s.conn();
            c.send(&[b"BZPOPMIN", b"z", b"0"]);
            waiters.push(c);
            wait_blocked(s, i + 1);
        }
        let mut producer = s.conn();
        assert_eq!(
            producer.cmd_str(&["ZADD", "z", "2", "b", "1", "a"]),
            b":2\r\n"
        );
        assert_eq!(waiters[0].read_reply(), bzpop_reply("z", "a", "1"));
        assert_eq!(waiters[1].read_reply(), bzpop_reply("z", "b", "2"));
        wait_blocked(s, 1);
        assert!(!waiters[2].has_data_within(100));
        assert_eq!(producer.cmd_str(&["EXISTS", "z"]), b":0\r\n");
        let mut max = s.conn();
        max.send(&[b"BZPOPMAX", b"other", b"z", b"0"]);
        wait_blocked(s, 2);
        // The older waiter (BZPOPMIN) gets the first member; the BZPOPMAX one the next.
        producer.cmd_str(&["ZADD", "z", "5", "e"]);
        assert_eq!(waiters[2].read_reply(), bzpop_reply("z", "e", "5"));
        producer.cmd_str(&["ZADD", "z", "5", "e", "9", "f"]);
        assert_eq!(max.read_reply(), bzpop_reply("z", "f", "9"));
        wait_blocked(s, 0);
    });
}

/// Redis serves a key only to clients blocked for its type: a list waiter stays blocked
/// while the key holds a sorted set, and the reverse.
#[test]
fn a_list_waiter_is_not_woken_by_a_sorted_set() {
    on_both(|s| {
        let mut list_waiter = s.conn();
        list_waiter.send(&[b"BLPOP", b"k", b"0"]);
        wait_blocked(s, 1);
        let mut zset_waiter = s.conn();
        zset_waiter.send(&[b"BZPOPMIN", b"k", b"0"]);
        wait_blocked(s, 2);
        let mut producer = s.conn();
        producer.cmd_str(&["ZADD", "k", "1", "m"]);
        assert_eq!(zset_waiter.read_reply(), bzpop_reply("k", "m", "1"));
        assert!(!list_waiter.has_data_within(150));
        producer.cmd_str(&["RPUSH", "k", "v"]);
        assert_eq!(list_waiter.read_reply(), bulk_pair("k", "v"));
        wait_blocked(s, 0);
    });
}

#[test]
fn bzmpop_times_out_and_is_served_across_shards() {
    on_both(|s| {
        let mut c = s.conn();
        let started = Instant::now();
        assert_eq!(
            c.cmd_str(&["BZMPOP", "0.1", "2", "za", "zb", "MIN"]),
            b"*-1\r\n"
        );
        assert!(started.elapsed() >= Duration::from_millis(90));
        c.send(&[b"BZMPOP", b"0", b"2", b"za", b"zb", b"MAX", b"COUNT", b"5"]);
        wait_blocked(s, 1);
        let mut producer = s.conn();
        producer.cmd_str(&["ZADD", "zb", "1", "x", "2", "y"]);
        assert_eq!(
            c.read_reply(),
            b"*2\r\n$2\r\nzb\r\n*2\r\n*2\r\n$1\r\ny\r\n$1\r\n2\r\n*2\r\n$1\r\nx\r\n$1\r\n1\r\n"
        );
        wait_blocked(s, 0);
    });
}

/// `cmdstat_<name>:calls=N,…,rejected_calls=R,failed_calls=F` as `(N, R, F)`, 0s when absent.
fn command_calls(c: &mut Conn, name: &str) -> (u64, u64, u64) {
    let info = c.cmd_str(&["INFO", "commandstats"]);
    let text = String::from_utf8_lossy(&info).into_owned();
    let Some(line) = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:")))
    else {
        return (0, 0, 0);
    };
    let field = |f: &str| -> u64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{f}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        field("calls"),
        field("rejected_calls"),
        field("failed_calls"),
    )
}

/// What INFO commandstats says of blocking commands through a wait that is served, one that
/// times out and one that fails, on one server.
fn blocking_command_stats(s: &ServerProc) -> Vec<(u64, u64, u64)> {
    let mut c = s.conn();
    c.cmd_str(&["CONFIG", "RESETSTAT"]);
    c.cmd_str(&["SET", "str", "v"]);
    let mut a = s.conn();
    let mut seen = Vec::new();
    a.send(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(s, 1);
    seen.push(command_calls(&mut c, "blpop"));
    c.cmd_str(&["RPUSH", "k", "x"]);
    a.read_reply();
    seen.push(command_calls(&mut c, "blpop"));
    a.cmd_str(&["BLPOP", "k", "0.01"]);
    seen.push(command_calls(&mut c, "blpop"));
    a.send(&[b"BLMOVE", b"m", b"str", b"LEFT", b"LEFT", b"0"]);
    wait_blocked(s, 1);
    c.cmd_str(&["RPUSH", "m", "e"]);
    a.read_reply();
    seen.push(command_calls(&mut c, "blmove"));
    a.cmd_str(&["BLPOP", "str", "0"]);
    seen.push(command_calls(&mut c, "blpop"));
    let id = a.cmd_str(&["CLIENT", "ID"]);
    let id = String::from_utf8_lossy(&id[1..id.len() - 2]).into_owned();
    for how in ["ERROR", "TIMEOUT"] {
        a.send(&[b"BZPOPMIN", b"z", b"0"]);
        wait_blocked(s, 1);
        c.cmd_str(&["CLIENT", "UNBLOCK", &id, how]);
        a.read_reply();
        seen.push(command_calls(&mut c, "bzpopmin"));
        seen.push(command_calls(&mut c, "client|unblock"));
    }
    let errors = c.cmd_str(&["INFO", "errorstats"]);
    let errors = String::from_utf8_lossy(&errors).into_owned();
    seen.push((
        u64::from(errors.contains("errorstat_UNBLOCKED:count=1")),
        u64::from(errors.contains("errorstat_WRONGTYPE:count=2")),
        0,
    ));
    seen
}

/// A blocking command is counted once, when it runs (blocked or not, as Redis 7.0 does); a
/// serve that answers an error, and any CLIENT UNBLOCK, add a failed call when its wait ends.
#[test]
fn a_blocking_command_is_counted_once_and_a_failed_serve_as_failed() {
    let Some(redis) = common::redis() else { return };
    let s = &basalt(&[]);
    assert_eq!(blocking_command_stats(s), blocking_command_stats(&redis));
}
