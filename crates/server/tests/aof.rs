//! The append-only log end to end: a server started with `appendonly yes` logs the effects of
//! its writes; killed with SIGKILL and restarted on the same directory it has the same data;
//! redis-server 7.0 started on that directory has it too. Expiry is replayed from absolute
//! times and logged deletions, so time passing between the run and the replay changes
//! nothing.

mod common;

use std::path::Path;

use common::{basalt, Conn, ServerProc};

fn start(dir: &Path, fsync: &str) -> ServerProc {
    basalt(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
    ])
}

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// Every key of every database with its type, value and absolute expiry, sorted: what must
/// survive a restart.
fn dataset(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..16 {
        let n = db.to_string();
        c.cmd_str(&["SELECT", &n]);
        let keys = common::elements(&c.cmd_str(&["KEYS", "*"])).unwrap_or_default();
        for k in keys {
            let key = String::from_utf8_lossy(&k)
                .lines()
                .nth(1)
                .unwrap_or("")
                .to_string();
            let t = text(&c.cmd_str(&["TYPE", &key]));
            let value = match t.trim() {
                "+string" => text(&c.cmd_str(&["GET", &key])),
                "+list" => text(&c.cmd_str(&["LRANGE", &key, "0", "-1"])),
                "+hash" => {
                    let mut f =
                        common::elements(&c.cmd_str(&["HGETALL", &key])).unwrap_or_default();
                    f.sort();
                    format!("{f:?}")
                }
                "+set" => {
                    let mut m =
                        common::elements(&c.cmd_str(&["SMEMBERS", &key])).unwrap_or_default();
                    m.sort();
                    format!("{m:?}")
                }
                "+zset" => text(&c.cmd_str(&["ZRANGE", &key, "0", "-1", "WITHSCORES"])),
                other => format!("type {other}"),
            };
            let at = text(&c.cmd_str(&["PEXPIRETIME", &key]));
            out.push(format!("db{db} {key} {} {value} {}", t.trim(), at.trim()));
        }
    }
    c.cmd_str(&["SELECT", "0"]);
    out.sort();
    out
}

fn workload(c: &mut Conn) {
    for cmd in [
        &["SET", "s", "v", "EX", "1000"][..],
        &["SETEX", "se", "1000", "x"],
        &["INCRBYFLOAT", "f", "10.5"],
        &["INCRBYFLOAT", "f", "0.1"],
        &["RPUSH", "l", "a", "b", "c", "d"],
        &["LPOP", "l"],
        &["HSET", "h", "a", "1"],
        &["HINCRBYFLOAT", "h", "a", "2.25"],
        &["SADD", "set", "1", "2", "3", "4", "5"],
        &["SPOP", "set"],
        &["SPOP", "set", "2"],
        &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
        &["ZPOPMIN", "z"],
        &["SET", "e", "1"],
        &["EXPIRE", "e", "500"],
        &["SET", "p", "1"],
        &["EXPIRE", "p", "500"],
        &["PERSIST", "p"],
        &["SET", "gone", "1"],
        &["EXPIRE", "gone", "0"],
        &["SET", "g", "1"],
        &["GETEX", "g", "PX", "700000"],
        &["GETDEL", "s"],
        &["SELECT", "3"],
        &["SET", "other", "db"],
        &["MOVE", "other", "4"],
        &["SELECT", "0"],
        &["RENAME", "f", "f2"],
        &["COPY", "h", "h2"],
        &["SREM", "set", "nothing-here"],
    ] {
        let reply = c.cmd_str(cmd);
        assert!(!reply.starts_with(b"-"), "{cmd:?}: {}", text(&reply));
    }
}

#[test]
fn a_killed_server_restarts_with_every_acknowledged_write() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), "always");
    let mut c = s.conn();
    workload(&mut c);
    let before = dataset(&mut c);
    assert!(before.len() >= 10, "{before:?}");
    s.child.kill().expect("SIGKILL");
    let _ = s.child.wait();
    drop(s);
    let s2 = start(dir.path(), "always");
    let mut c2 = s2.conn();
    assert_eq!(dataset(&mut c2), before);
    assert!(
        s2.log().contains("DB loaded from append only file"),
        "{}",
        s2.log()
    );
}

/// A key that expired between two commands must not come back on replay, even though the
/// replay happens later (when every logged expiry time is in the past).
#[test]
fn expiry_replays_as_it_happened() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), "everysec");
    let mut c = s.conn();
    c.cmd_str(&["SET", "k", "5", "PX", "300"]);
    c.cmd_str(&["INCR", "k"]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    // The expired key is deleted (and that is logged) before INCR creates a new one.
    assert_eq!(c.cmd_str(&["INCR", "k"]), b":1\r\n");
    c.cmd_str(&["SET", "t", "1", "PX", "200"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = dataset(&mut c);
    s.terminate();
    drop(s);
    let s2 = start(dir.path(), "everysec");
    let mut c2 = s2.conn();
    assert_eq!(dataset(&mut c2), before);
    assert_eq!(c2.cmd_str(&["GET", "k"]), b"$1\r\n1\r\n");
    assert_eq!(c2.cmd_str(&["PTTL", "k"]), b":-1\r\n");
}

/// redis-server 7.0.15 loads the directory Basalt wrote and has the same data.
#[test]
fn redis_server_loads_basalts_log() {
    let Some(_probe) = common::redis() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), "always");
    let mut c = s.conn();
    workload(&mut c);
    let want = dataset(&mut c);
    s.terminate();
    drop(s);
    // Redis must not create an RDB base of its own first: its loader reads ours.
    let r = common::redis_with(&[
        "--dir",
        dir.path().to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
    ]);
    let mut rc = r.conn();
    assert_eq!(dataset(&mut rc), want);
}
