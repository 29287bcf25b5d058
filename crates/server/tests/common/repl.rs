//! Replication test support: a dataset of every type, mixed writes, and waiting for a
//! replica to catch up.

use std::time::{Duration, Instant};

use super::Conn;

pub fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// Wait until `cond` holds (20 s at most).
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every type in small and large encodings, expiries, two databases, streams and HLLs.
pub fn fill(c: &mut Conn) {
    for cmd in [
        &["SET", "int", "-98765"][..],
        &["SET", "ttl", "v", "EX", "100000"],
        &["HSET", "smallhash", "a", "1", "b", "2"],
        &["SADD", "intset", "1", "2", "-3"],
        &["ZADD", "smallz", "1.5", "a", "-2", "b"],
        &["SELECT", "4"],
        &["SET", "other", "db4"],
        &["SELECT", "0"],
    ] {
        assert!(!c.cmd_str(cmd).starts_with(b"-"), "{cmd:?}");
    }
    for i in 0..700 {
        let v = i.to_string();
        c.send(&[
            b"HSET",
            b"bighash",
            format!("f{i}").as_bytes(),
            v.as_bytes(),
        ]);
        c.send(&[b"SADD", b"bigset", format!("m{i}").as_bytes()]);
        c.send(&[b"ZADD", b"bigz", format!("{i}.25").as_bytes(), v.as_bytes()]);
        c.send(&[b"RPUSH", b"biglist", format!("element-{i}").as_bytes()]);
        for _ in 0..4 {
            c.read_reply();
        }
    }
    super::fill_streams_and_hlls(c);
}

/// Mixed writes over every type, in two databases, pipelined.
pub fn writes(c: &mut Conn, round: usize, n: usize) {
    for i in 0..n {
        let k = format!("w{}", i % 97);
        let v = format!("{round}:{i}");
        let member = format!("m{}", i % 700);
        let cmds: [&[&[u8]]; 8] = [
            &[b"SET", k.as_bytes(), v.as_bytes()],
            &[b"INCR", b"counter"],
            &[b"RPUSH", b"wl", v.as_bytes()],
            &[b"HSET", b"wh", k.as_bytes(), v.as_bytes()],
            &[b"ZINCRBY", b"wz", b"1.5", k.as_bytes()],
            &[b"XADD", b"stream", b"*", b"w", v.as_bytes()],
            &[b"SREM", b"bigset", member.as_bytes()],
            &[b"PEXPIRE", k.as_bytes(), b"1000000"],
        ];
        for cmd in cmds {
            c.send(cmd);
        }
        for _ in 0..cmds.len() {
            c.read_reply();
        }
    }
    c.cmd_str(&["SELECT", "4"]);
    c.cmd_str(&["LPUSH", "db4list", &round.to_string()]);
    c.cmd_str(&["SELECT", "0"]);
}

pub fn offset(c: &mut Conn, field: &str) -> String {
    super::info_field_in(c, "replication", field)
}

/// Wait until the replica applied everything the master has sent.
pub fn caught_up(master: &mut Conn, replica: &mut Conn) {
    wait_for("the replica to catch up", || {
        offset(replica, "master_link_status") == "up"
            && offset(master, "master_repl_offset") == offset(replica, "slave_repl_offset")
    });
}
