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
    let before = common::dataset(&mut c);
    assert!(before.len() >= 10, "{before:?}");
    s.child.kill().expect("SIGKILL");
    let _ = s.child.wait();
    drop(s);
    let s2 = start(dir.path(), "always");
    let mut c2 = s2.conn();
    assert_eq!(common::dataset(&mut c2), before);
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
    let before = common::dataset(&mut c);
    s.terminate();
    drop(s);
    let s2 = start(dir.path(), "everysec");
    let mut c2 = s2.conn();
    assert_eq!(common::dataset(&mut c2), before);
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
    let want = common::dataset(&mut c);
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
    assert_eq!(common::dataset(&mut rc), want);
}

/// Blocking pops and the multi-key pops are logged as the plain pop they did, including one
/// served after waiting; replay gives the same data.
#[test]
fn blocking_and_multi_key_pops_are_logged_in_their_plain_form() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), "always");
    let mut c = s.conn();
    let mut waiter = s.conn();
    waiter.send(&[b"BLPOP", b"q", b"0"]);
    for cmd in [
        &["RPUSH", "l", "a", "b", "c", "d", "e"][..],
        &["BLPOP", "nokey", "l", "0"],
        &["BRPOP", "l", "0"],
        &["BLMOVE", "l", "m", "LEFT", "RIGHT", "0"],
        &["BRPOPLPUSH", "l", "m", "0"],
        &["RPUSH", "l", "x", "y", "z"],
        &["LMPOP", "1", "l", "LEFT", "COUNT", "2"],
        &["BLMPOP", "0", "1", "l", "RIGHT", "COUNT", "5"],
        &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["BZPOPMIN", "z", "0"],
        &["BZPOPMAX", "z", "0"],
        &["ZMPOP", "1", "z", "MIN", "COUNT", "1"],
        &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "9"],
    ] {
        let reply = c.cmd_str(cmd);
        assert!(!reply.starts_with(b"-"), "{cmd:?}: {}", text(&reply));
    }
    // Serve the client that has been waiting since the start.
    c.cmd_str(&["RPUSH", "q", "late"]);
    assert_eq!(
        waiter.read_reply(),
        b"*2\r\n$1\r\nq\r\n$4\r\nlate\r\n".to_vec()
    );
    let before = common::dataset(&mut c);
    s.terminate();
    drop(s);
    let log = std::fs::read(dir.path().join("appendonlydir/appendonly.aof.1.incr.aof"))
        .expect("incr file");
    let log = text(&log).to_ascii_lowercase();
    for blocking in [
        "blpop",
        "brpop",
        "blmove",
        "brpoplpush",
        "lmpop",
        "bzpopmin",
        "bzpopmax",
        "zmpop",
    ] {
        assert!(
            !log.contains(&format!("\r\n{blocking}\r\n")),
            "{blocking} logged as is"
        );
    }
    for plain in ["lpop", "rpop", "lmove", "zpopmin", "zpopmax"] {
        assert!(
            log.contains(&format!("\r\n{plain}\r\n")),
            "no {plain} in the log"
        );
    }
    let s2 = start(dir.path(), "always");
    let mut c2 = s2.conn();
    assert_eq!(common::dataset(&mut c2), before);
}

/// One replay case per write command of the table (a new write command without a case here
/// fails the test): the commands run on a logging server, which is then restarted from its
/// log; the whole dataset must come back the same.
const WRITE_CASES: &[(&str, &[&[&str]])] = &[
    ("flushall", &[&["SET", "doomed", "1"], &["FLUSHALL"]]),
    (
        "flushdb",
        &[
            &["SELECT", "5"],
            &["SET", "d5", "1"],
            &["FLUSHDB"],
            &["SELECT", "0"],
        ],
    ),
    (
        "swapdb",
        &[
            &["SELECT", "6"],
            &["SET", "in6", "1"],
            &["SELECT", "0"],
            &["SWAPDB", "6", "7"],
        ],
    ),
    (
        "set",
        &[
            &["SET", "s1", "v"],
            &["SET", "s2", "v", "PX", "900000"],
            &["SET", "s1", "w", "KEEPTTL", "GET"],
        ],
    ),
    ("setnx", &[&["SETNX", "nx", "1"], &["SETNX", "nx", "2"]]),
    ("setex", &[&["SETEX", "ex", "900", "v"]]),
    ("psetex", &[&["PSETEX", "pex", "900000", "v"]]),
    ("getset", &[&["GETSET", "gs", "v"]]),
    ("getdel", &[&["SET", "gd", "v"], &["GETDEL", "gd"]]),
    (
        "getex",
        &[
            &["SET", "ge", "v"],
            &["GETEX", "ge", "EX", "900"],
            &["SET", "ge2", "v", "EX", "5"],
            &["GETEX", "ge2", "PERSIST"],
        ],
    ),
    ("mset", &[&["MSET", "m1", "1", "m2", "2"]]),
    ("msetnx", &[&["MSETNX", "m3", "3", "m4", "4"]]),
    (
        "append",
        &[&["APPEND", "ap", "abc"], &["APPEND", "ap", "def"]],
    ),
    ("incr", &[&["INCR", "n"]]),
    ("decr", &[&["DECR", "n"]]),
    ("incrby", &[&["INCRBY", "n", "10"]]),
    ("decrby", &[&["DECRBY", "n", "3"]]),
    (
        "incrbyfloat",
        &[&["INCRBYFLOAT", "fl", "1.1"], &["INCRBYFLOAT", "fl", "2.2"]],
    ),
    ("setrange", &[&["SETRANGE", "sr", "3", "xyz"]]),
    (
        "xadd",
        &[
            &["XADD", "xs", "5-*", "f", "v"],
            &["XADD", "xs", "*", "f", "v2"],
            &["XADD", "xs", "MAXLEN", "~", "1", "*", "a", "1"],
            &["XADD", "xs2", "1-1", "x", "y"],
        ],
    ),
    ("xtrim", &[&["XTRIM", "xs", "MAXLEN", "2"]]),
    (
        "xdel",
        &[&["XADD", "xs2", "1-2", "x", "z"], &["XDEL", "xs2", "1-1"]],
    ),
    (
        "xsetid",
        &[&[
            "XSETID",
            "xs2",
            "9-9",
            "ENTRIESADDED",
            "7",
            "MAXDELETEDID",
            "1-1",
        ]],
    ),
    (
        "xgroup|create",
        &[
            &["XGROUP", "CREATE", "xs", "g1", "0"],
            &["XGROUP", "CREATE", "xs", "g2", "$", "ENTRIESREAD", "3"],
            &["XGROUP", "CREATE", "xempty", "g", "$", "MKSTREAM"],
        ],
    ),
    (
        "xgroup|setid",
        &[&["XGROUP", "SETID", "xs", "g2", "0", "ENTRIESREAD", "0"]],
    ),
    (
        "xgroup|createconsumer",
        &[&["XGROUP", "CREATECONSUMER", "xs", "g1", "idle"]],
    ),
    (
        "xreadgroup",
        &[
            &[
                "XREADGROUP",
                "GROUP",
                "g1",
                "alice",
                "COUNT",
                "1",
                "STREAMS",
                "xs",
                ">",
            ],
            &[
                "XREADGROUP",
                "GROUP",
                "g2",
                "bob",
                "NOACK",
                "STREAMS",
                "xs",
                ">",
            ],
            &["XREADGROUP", "GROUP", "g1", "carol", "STREAMS", "xs", ">"],
        ],
    ),
    ("xack", &[&["XACK", "xs", "g1", "0-1", "5-0"]]),
    (
        "xclaim",
        &[&[
            "XCLAIM",
            "xs",
            "g1",
            "dave",
            "0",
            "5-0",
            "9999-0",
            "RETRYCOUNT",
            "4",
        ]],
    ),
    (
        "xautoclaim",
        &[&["XAUTOCLAIM", "xs", "g1", "erin", "0", "0", "COUNT", "10"]],
    ),
    (
        "xgroup|delconsumer",
        &[&["XGROUP", "DELCONSUMER", "xs", "g1", "dave"]],
    ),
    ("xgroup|destroy", &[&["XGROUP", "DESTROY", "xempty", "g"]]),
    (
        "geoadd",
        &[&[
            "GEOADD",
            "geo",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ]],
    ),
    (
        "georadius",
        &[&["GEORADIUS", "geo", "15", "37", "200", "km", "STORE", "geo2"]],
    ),
    (
        "georadiusbymember",
        &[&[
            "GEORADIUSBYMEMBER",
            "geo",
            "Palermo",
            "200",
            "km",
            "STOREDIST",
            "geo3",
        ]],
    ),
    (
        "geosearchstore",
        &[&[
            "GEOSEARCHSTORE",
            "geo4",
            "geo",
            "FROMLONLAT",
            "15",
            "37",
            "BYBOX",
            "400",
            "400",
            "km",
        ]],
    ),
    (
        "pfadd",
        &[
            &["PFADD", "hll", "a", "b", "c"],
            &["PFCOUNT", "hll"],
            &["PFADD", "hll2", "x"],
        ],
    ),
    ("pfmerge", &[&["PFMERGE", "hll3", "hll", "hll2"]]),
    ("pfdebug", &[&["PFDEBUG", "TODENSE", "hll2"]]),
    (
        "setbit",
        &[
            &["SETBIT", "bm", "100", "1"],
            &["SETBIT", "bm", "7", "1"],
            &["SETBIT", "bm", "100", "0"],
        ],
    ),
    (
        "bitop",
        &[
            &["SET", "bo1", "ab"],
            &["SET", "bo2", "xyz"],
            &["BITOP", "XOR", "bo3", "bo1", "bo2"],
            &["BITOP", "NOT", "bo4", "bo1"],
        ],
    ),
    (
        "bitfield",
        &[&[
            "BITFIELD", "bf", "SET", "i5", "#3", "-7", "OVERFLOW", "SAT", "INCRBY", "u4", "2",
            "100",
        ]],
    ),
    ("del", &[&["SET", "x1", "1"], &["DEL", "x1", "nokey"]]),
    ("unlink", &[&["SET", "x2", "1"], &["UNLINK", "x2"]]),
    ("expire", &[&["SET", "e1", "1"], &["EXPIRE", "e1", "900"]]),
    (
        "pexpire",
        &[&["SET", "e2", "1"], &["PEXPIRE", "e2", "900000"]],
    ),
    (
        "expireat",
        &[
            &["SET", "e3", "1"],
            &["EXPIREAT", "e3", "4102444800"],
            &["SET", "e4", "1"],
            &["EXPIREAT", "e4", "1"],
        ],
    ),
    (
        "pexpireat",
        &[&["SET", "e5", "1"], &["PEXPIREAT", "e5", "4102444800000"]],
    ),
    (
        "persist",
        &[&["SET", "e6", "1", "EX", "900"], &["PERSIST", "e6"]],
    ),
    ("rename", &[&["SET", "r1", "1"], &["RENAME", "r1", "r2"]]),
    (
        "renamenx",
        &[&["SET", "r3", "1"], &["RENAMENX", "r3", "r4"]],
    ),
    (
        "copy",
        &[
            &["SET", "c1", "1"],
            &["COPY", "c1", "c2"],
            &["COPY", "c1", "c3", "DB", "2"],
        ],
    ),
    ("move", &[&["SET", "mv", "1"], &["MOVE", "mv", "3"]]),
    ("lpush", &[&["LPUSH", "l", "a", "b"]]),
    (
        "rpush",
        &[&["RPUSH", "l", "c", "d", "e", "f", "g", "h", "i"]],
    ),
    ("lpushx", &[&["LPUSHX", "l", "z"]]),
    ("rpushx", &[&["RPUSHX", "l", "y"]]),
    ("lpop", &[&["LPOP", "l"]]),
    ("rpop", &[&["RPOP", "l", "2"]]),
    ("lset", &[&["LSET", "l", "0", "set"]]),
    ("linsert", &[&["LINSERT", "l", "BEFORE", "c", "ins"]]),
    ("lrem", &[&["LREM", "l", "1", "d"]]),
    ("ltrim", &[&["LTRIM", "l", "0", "5"]]),
    ("lmove", &[&["LMOVE", "l", "l2", "LEFT", "RIGHT"]]),
    ("rpoplpush", &[&["RPOPLPUSH", "l", "l2"]]),
    ("lmpop", &[&["LMPOP", "1", "l", "LEFT", "COUNT", "1"]]),
    ("blpop", &[&["BLPOP", "l", "0"]]),
    ("brpop", &[&["BRPOP", "l2", "0"]]),
    ("blmove", &[&["BLMOVE", "l2", "l", "LEFT", "LEFT", "0"]]),
    ("brpoplpush", &[&["BRPOPLPUSH", "l", "l2", "0"]]),
    (
        "blmpop",
        &[
            &["RPUSH", "l3", "1", "2"],
            &["BLMPOP", "0", "1", "l3", "RIGHT"],
        ],
    ),
    (
        "sort",
        &[
            &["RPUSH", "sl", "3", "1", "2"],
            &["SORT", "sl", "STORE", "sorted"],
        ],
    ),
    ("hset", &[&["HSET", "h", "a", "1", "b", "2"]]),
    ("hsetnx", &[&["HSETNX", "h", "c", "3"]]),
    ("hmset", &[&["HMSET", "h", "d", "4"]]),
    ("hdel", &[&["HDEL", "h", "a"]]),
    ("hincrby", &[&["HINCRBY", "h", "b", "5"]]),
    (
        "hincrbyfloat",
        &[
            &["HINCRBYFLOAT", "h", "f", "0.1"],
            &["HINCRBYFLOAT", "h", "f", "0.2"],
        ],
    ),
    ("sadd", &[&["SADD", "st", "a", "b", "c", "d", "e", "1"]]),
    ("srem", &[&["SREM", "st", "a"]]),
    ("spop", &[&["SPOP", "st"], &["SPOP", "st", "2"]]),
    ("smove", &[&["SMOVE", "st", "st2", "1"]]),
    (
        "sinterstore",
        &[
            &["SADD", "st3", "b", "c", "d", "e"],
            &["SINTERSTORE", "si", "st", "st3"],
        ],
    ),
    ("sunionstore", &[&["SUNIONSTORE", "su", "st", "st3"]]),
    ("sdiffstore", &[&["SDIFFSTORE", "sd", "st3", "st"]]),
    (
        "zadd",
        &[&[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f",
        ]],
    ),
    ("zincrby", &[&["ZINCRBY", "z", "2.5", "a"]]),
    ("zrem", &[&["ZREM", "z", "b"]]),
    ("zremrangebyrank", &[&["ZREMRANGEBYRANK", "z", "0", "0"]]),
    ("zremrangebyscore", &[&["ZREMRANGEBYSCORE", "z", "6", "6"]]),
    (
        "zremrangebylex",
        &[
            &["ZADD", "zl", "0", "a", "0", "b", "0", "c"],
            &["ZREMRANGEBYLEX", "zl", "[a", "[a"],
        ],
    ),
    ("zpopmin", &[&["ZPOPMIN", "z"]]),
    ("zpopmax", &[&["ZPOPMAX", "zl"]]),
    (
        "zmpop",
        &[
            &["ZADD", "z2", "1", "x", "2", "y", "3", "w", "9", "q"],
            &["ZMPOP", "1", "z2", "MAX", "COUNT", "1"],
        ],
    ),
    ("bzpopmin", &[&["BZPOPMIN", "z2", "0"]]),
    ("bzpopmax", &[&["BZPOPMAX", "z2", "0"]]),
    ("bzmpop", &[&["BZMPOP", "0", "1", "z", "MIN"]]),
    (
        "zunionstore",
        &[&["ZUNIONSTORE", "zu", "2", "z", "zl", "WEIGHTS", "2", "0.5"]],
    ),
    (
        "zinterstore",
        &[&["ZINTERSTORE", "zi", "2", "z", "z", "AGGREGATE", "MAX"]],
    ),
    ("zdiffstore", &[&["ZDIFFSTORE", "zd", "2", "z", "zl"]]),
    ("zrangestore", &[&["ZRANGESTORE", "zr", "z", "0", "-1"]]),
    // A DUMP of "restored-58" (its payload happens to be ASCII); the relative TTL is logged
    // as an absolute one.
    (
        "restore",
        &[
            &["RESTORE", "rs", "0", RESTORED_58],
            &["RESTORE", "rs", "100000", RESTORED_58, "REPLACE"],
            &["RESTORE", "rs2", "0", RESTORED_58, "IDLETIME", "5"],
        ],
    ),
    // As RESTORE (outside cluster mode no slot is being imported).
    (
        "restore-asking",
        &[&["RESTORE-ASKING", "rsa", "100000", RESTORED_58]],
    ),
    // A key that is not here: `+NOKEY`, nothing logged (tests/cluster_tools.rs moves keys
    // between live nodes and checks what each keeps).
    (
        "migrate",
        &[&["MIGRATE", "127.0.0.1", "1", "not-here", "0", "100"]],
    ),
    (
        "function|load",
        &[
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib1\nredis.register_function('f1', function() return 1 end)",
            ],
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib2\nredis.register_function('f2', function() return 2 end)",
            ],
        ],
    ),
    ("function|delete", &[&["FUNCTION", "DELETE", "lib2"]]),
    // `$DUMP` is the payload of the FUNCTION DUMP before it.
    (
        "function|flush",
        &[&["FUNCTION", "DUMP"], &["FUNCTION", "FLUSH"]],
    ),
    ("function|restore", &[&["FUNCTION", "RESTORE", "$DUMP"]]),
];

const RESTORED_58: &str = "\x00\x0brestored-58\n\x00'\tQp}\x19xi";

#[test]
fn every_write_command_replays_from_the_log() {
    let covered: std::collections::BTreeSet<&str> = WRITE_CASES.iter().map(|(n, _)| *n).collect();
    let writes: std::collections::BTreeSet<&str> = server::cmd::table::all_specs()
        .iter()
        .filter(|s| s.has(server::cmd::flags::WRITE) && s.handler.is_some())
        .map(|s| s.name)
        .collect();
    let missing: Vec<&&str> = writes.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "write commands without a replay case: {missing:?}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), "always");
    let mut c = s.conn();
    let mut dump = Vec::new();
    for (name, cmds) in WRITE_CASES {
        for cmd in *cmds {
            let args: Vec<&[u8]> = cmd
                .iter()
                .map(|a| {
                    if *a == "$DUMP" {
                        &dump[..]
                    } else {
                        a.as_bytes()
                    }
                })
                .collect();
            let reply = c.cmd(&args);
            assert!(
                !reply.starts_with(b"-"),
                "{name}: {cmd:?}: {}",
                text(&reply)
            );
            if cmd[..] == ["FUNCTION", "DUMP"] {
                dump = bulk_payload(&reply);
            }
        }
    }
    let functions = text(&c.cmd_str(&["FUNCTION", "LIST", "WITHCODE"]));
    assert!(
        functions.contains("lib1") && !functions.contains("lib2"),
        "{functions}"
    );
    let before = common::dataset(&mut c);
    assert!(before.len() > 40, "{before:?}");
    s.child.kill().expect("SIGKILL");
    let _ = s.child.wait();
    drop(s);
    let s2 = start(dir.path(), "always");
    let mut c2 = s2.conn();
    assert_eq!(common::dataset(&mut c2), before);
    assert_eq!(
        text(&c2.cmd_str(&["FUNCTION", "LIST", "WITHCODE"])),
        functions
    );
}

/// The bytes of a bulk reply.
fn bulk_payload(reply: &[u8]) -> Vec<u8> {
    let Some(rest) = reply.strip_prefix(b"$") else {
        return Vec::new();
    };
    let at = rest.iter().position(|&b| b == b'\r').unwrap_or(0);
    let n: usize = std::str::from_utf8(&rest[..at])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    rest[at + 2..at + 2 + n].to_vec()
}
