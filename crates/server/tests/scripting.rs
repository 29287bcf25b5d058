//! Scripts where the log, several clients and threads meet (issue 12): a script's effects are
//! logged as Redis 7.0 logs them (compared with the file redis-server writes), replay to the
//! same data, and scripts stay atomic — also when they touch keys they did not declare —
//! against each other, transactions, BGSAVE and blocking clients.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Conn, ServerProc};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

fn log_args(dir: &Path) -> Vec<String> {
    [
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn incr_file(dir: &Path) -> PathBuf {
    dir.join("appendonlydir/appendonly.aof.1.incr.aof")
}

/// Scripts whose effects the log must hold: several writes, one write, none, writes kept out
/// of the log by `redis.set_repl`, a write before an error, and writes in another database.
fn run_scripts(c: &mut Conn) {
    let scripts: &[&[&str]] = &[
        &["EVAL", "redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', KEYS[2]) return redis.call('rpush', KEYS[3], 'x', 'y')", "3", "a", "n", "l", "va"],
        &["EVAL", "return redis.call('set', 'alone', 'v')", "0"],
        &["EVAL", "return redis.call('get', 'a')", "0"],
        &["EVAL", "redis.call('set', 'logged', 1) redis.set_repl(redis.REPL_NONE) redis.call('set', 'unlogged', 1) redis.set_repl(redis.REPL_ALL) return redis.call('set', 'logged2', 1)", "0"],
        &["EVAL", "redis.call('set', 'before', 1) return redis.call('lpush', 'a', 1)", "0"],
        &["EVAL", "redis.call('select', 3) redis.call('set', 'db3', 'x') return redis.call('incr', 'n')", "0"],
        &["SELECT", "2"],
        &["EVAL", "redis.call('set', 'db2', 'y') return redis.call('expire', 'db2', 1000)", "0"],
        &["SELECT", "0"],
        &["EVAL", "redis.call('sadd', 's', 'm1', 'm2', 'm3') return redis.call('spop', 's')", "0"],
    ];
    for cmd in scripts {
        c.cmd_str(cmd);
    }
}

#[test]
fn scripts_are_logged_as_redis_logs_them() {
    let dir = tempfile::tempdir().expect("dir");
    let args = log_args(dir.path());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut s = common::basalt(&refs);
    run_scripts(&mut s.conn());
    let before = common::dataset(&mut s.conn());
    s.terminate();
    let ours = text(&std::fs::read(incr_file(dir.path())).expect("incr file"));
    if common::redis().is_some() {
        let rdir = tempfile::tempdir().expect("dir");
        let args = log_args(rdir.path());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut r = common::redis_with(&refs);
        run_scripts(&mut r.conn());
        r.terminate();
        let theirs = text(&std::fs::read(incr_file(rdir.path())).expect("redis incr file"));
        // SPOP's pick is random and PEXPIREAT's time is each server's own: compare the logs
        // with those blanked out (and Basalt's `#CRC:` annotations left aside).
        let blank = |log: &str| -> String {
            log.split_inclusive("\r\n")
                .filter(|line| !line.starts_with('#'))
                .map(|line| {
                    let is_member = line.starts_with('m') && line.len() == 4;
                    let is_time = line.len() == 15 && line.starts_with("17");
                    if is_member || is_time {
                        "?\r\n"
                    } else {
                        line
                    }
                })
                .collect()
        };
        assert_eq!(blank(&ours), blank(&theirs));
    }
    assert!(!ours.contains("unlogged"), "{ours}");
    // The log replays to the same data, but for what the script kept out of it.
    let s = common::basalt(&refs);
    let expected: Vec<String> = before
        .into_iter()
        .filter(|k| !k.starts_with("db0 unlogged "))
        .collect();
    assert_eq!(common::dataset(&mut s.conn()), expected);
}

/// Move one unit between two of `ACCOUNTS` accounts; returns false on a reply it did not
/// expect.
const ACCOUNTS: usize = 16;
const TRANSFER: &str = "local from = redis.call('get', KEYS[1]) \
    if tonumber(from) > 0 then redis.call('decr', KEYS[1]) redis.call('incr', KEYS[2]) end \
    return 1";
/// The same transfer with no key declared: it must still be atomic.
const UNDECLARED: &str = "local a, b = 'acct:' .. ARGV[1], 'acct:' .. ARGV[2] \
    local from = redis.call('get', a) \
    if tonumber(from) > 0 then redis.call('decr', a) redis.call('incr', b) end \
    return 1";
/// Reads every account in one script: the total must never change.
const TOTAL: &str =
    "local t = 0 for i = 0, 15 do t = t + tonumber(redis.call('get', 'acct:' .. i)) end return t";

#[test]
fn scripts_stay_atomic_across_shards_with_transactions_and_snapshots() {
    let dir = tempfile::tempdir().expect("dir");
    let args = log_args(dir.path());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut s = common::basalt(&refs);
    let port = s.port;
    let mut c = s.conn();
    for i in 0..ACCOUNTS {
        c.cmd_str(&["SET", &format!("acct:{i}"), "100"]);
    }
    // The same transfers as functions (FCALL runs as EVAL does).
    let library = format!(
        "#!lua name=bank\nredis.register_function('transfer', function(KEYS, ARGV) {TRANSFER} end)\nredis.register_function('undeclared', function(KEYS, ARGV) {UNDECLARED} end)"
    );
    assert_eq!(
        text(&c.cmd_str(&["FUNCTION", "LOAD", &library])),
        "$4\r\nbank\r\n"
    );
    let total = (ACCOUNTS * 100).to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..6 {
        let stop = stop.clone();
        // Workers hold only the port: the server process belongs to this thread, so it is
        // stopped even when an assertion fails.
        workers.push(std::thread::spawn(move || {
            let mut c = Conn::connect(port);
            let mut n: usize = w * 7 + 1;
            while !stop.load(Ordering::Relaxed) {
                n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let (a, b) = ((n >> 8) % ACCOUNTS, (n >> 16) % ACCOUNTS);
                let (ka, kb) = (format!("acct:{a}"), format!("acct:{b}"));
                let reply = match w {
                    0 => c.cmd_str(&["EVAL", TRANSFER, "2", &ka, &kb]),
                    1 => c.cmd_str(&["EVAL", UNDECLARED, "0", &a.to_string(), &b.to_string()]),
                    2 => c.cmd_str(&["FCALL", "transfer", "2", &ka, &kb]),
                    3 => c.cmd_str(&["FCALL", "undeclared", "0", &a.to_string(), &b.to_string()]),
                    _ => {
                        c.cmd_str(&["MULTI"]);
                        c.cmd_str(&["DECR", &ka]);
                        c.cmd_str(&["INCR", &kb]);
                        c.cmd_str(&["EXEC"])
                    }
                };
                assert!(!reply.starts_with(b"-"), "{}", text(&reply));
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut checks = 0;
    while Instant::now() < deadline {
        let t = c.cmd_str(&["EVAL", TOTAL, "0"]);
        assert_eq!(text(&t), format!(":{total}\r\n"));
        if checks % 10 == 0 {
            c.cmd_str(&["BGSAVE"]);
        }
        checks += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    assert!(checks > 10, "only {checks} checks ran");
    // The log replays to the same balances.
    let before = common::dataset(&mut c);
    drop(c);
    s.child.kill().expect("SIGKILL");
    let _ = s.child.wait();
    drop(s);
    let s2 = common::basalt(&refs);
    assert_eq!(common::dataset(&mut s2.conn()), before);
}

/// A script that runs past `busy-reply-threshold`: other clients get `-BUSY`, SCRIPT KILL
/// stops it if it has not written (`UNKILLABLE` once it has), SHUTDOWN needs NOSAVE. The
/// same replies from both servers; Basalt runs with one I/O thread, so the clients that
/// reach it while that thread runs the script are served on threads of their own.
fn busy_script_transcript(s: &mut ServerProc) -> Vec<String> {
    let mut seen = Vec::new();
    let mut admin = s.conn();
    admin.cmd_str(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    let mut looping = s.conn();
    looping.send(&[b"EVAL", b"while true do end", b"0"]);
    std::thread::sleep(Duration::from_millis(400));
    let mut other = s.conn();
    seen.push(text(&other.cmd_str(&["PING"])));
    seen.push(text(&other.cmd_str(&["GET", "x"])));
    seen.push(text(&other.cmd_str(&["SCRIPT", "KILL"])));
    let killed = text(&looping.read_reply());
    seen.push(killed.split(" script: ").next().unwrap_or("").to_string());
    seen.push(text(&other.cmd_str(&["PING"])));
    seen.push(text(&other.cmd_str(&["SCRIPT", "KILL"])));
    // Once it has written, it cannot be killed.
    looping.send(&[
        b"EVAL",
        b"redis.call('set', 'w', 1) while true do end",
        b"0",
    ]);
    std::thread::sleep(Duration::from_millis(400));
    let mut third = s.conn();
    seen.push(text(&third.cmd_str(&["SCRIPT", "KILL"])));
    seen.push(text(&third.cmd_str(&["SHUTDOWN"])));
    // SHUTDOWN NOSAVE ends the server; no reply.
    third.send(&[b"SHUTDOWN", b"NOSAVE"]);
    seen.push(format!("closed: {}", third.try_read_reply().is_none()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_)) = s.child.try_wait() {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

#[test]
fn busy_scripts_are_refused_killed_and_shut_down_as_redis() {
    if common::redis().is_none() {
        return;
    }
    let mut redis = common::redis_with(&[]);
    let theirs = busy_script_transcript(&mut redis);
    let mut basalt = common::basalt(&["--io-threads", "1"]);
    assert_eq!(busy_script_transcript(&mut basalt), theirs);
    assert!(theirs[0].starts_with("-BUSY"), "{theirs:?}");
}

/// Scripts that misbehave end with an error, and the server goes on serving: unbounded
/// memory (the interpreter's limit), unbounded recursion, a cyclic or huge result, bad
/// arguments to redis.call, errors inside pcall.
#[test]
fn hostile_scripts_fail_cleanly_and_the_server_keeps_serving() {
    let s = common::basalt(&[]);
    let mut c = s.conn();
    let cases: &[(&str, &str)] = &[
        (
            "local t = {} for i = 1, 12 do t[i] = string.rep('x', 100000000) .. i end return #t",
            "not enough memory",
        ),
        (
            "local function f(n) return f(n + 1) + 1 end return f(1)",
            "stack overflow",
        ),
        ("local t = {} t[1] = t return t", "reached lua stack limit"),
        (
            "return redis.call('set', {}, 1)",
            "arguments must be strings or integers",
        ),
        (
            "return redis.call(nil)",
            "arguments must be strings or integers",
        ),
        (
            "local ok, e = pcall(function() error({err='X inner'}) end) return e",
            "X inner",
        ),
        ("return string.rep('x', -1)", ""),
    ];
    for (body, expected) in cases {
        let reply = text(&c.cmd_str(&["EVAL", body, "0"]));
        assert!(reply.contains(expected), "{body}: {reply}");
        assert_eq!(text(&c.cmd_str(&["PING"])), "+PONG\r\n", "after {body}");
    }
    // A huge result is sent whole.
    let reply = c.cmd_str(&[
        "EVAL",
        "local t = {} for i = 1, 200000 do t[i] = i end return t",
        "0",
    ]);
    assert!(reply.starts_with(b"*200000\r\n"));
    // The interpreter gave its memory back.
    c.cmd_str(&["EVAL", "collectgarbage() return 1", "0"]);
    let lua: u64 = common::info_field_in(&mut c, "memory", "used_memory_lua")
        .parse()
        .expect("a number");
    assert!(lua < 64 << 20, "used_memory_lua {lua}");
}
