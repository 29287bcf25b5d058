//! MULTI/EXEC and WATCH where several clients, threads, the log and snapshots meet (issue 11):
//! the log's record of a transaction (against the file redis-server writes for the same
//! commands), a torn transaction at the log's tail, WATCH races, atomicity under concurrent
//! BGSAVE and AOF rewrites, and no deadlock with blocking commands and pipelines.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{basalt, Conn, ServerProc};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

fn dir_args(dir: &Path) -> Vec<String> {
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

fn start(dir: &Path, extra: &[&str]) -> ServerProc {
    let mut args = dir_args(dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    basalt(&refs)
}

fn incr_file(dir: &Path) -> PathBuf {
    dir.join("appendonlydir/appendonly.aof.1.incr.aof")
}

/// A few transactions: several writes across databases, one write alone, one read only, one
/// with a runtime error.
fn run_transactions(c: &mut Conn) {
    let script: &[&[&str]] = &[
        &["MULTI"],
        &["SET", "a", "1"],
        &["INCR", "a"],
        &["SELECT", "3"],
        &["RPUSH", "l", "x", "y"],
        &["SELECT", "0"],
        &["EXEC"],
        &["MULTI"],
        &["SET", "alone", "v"],
        &["EXEC"],
        &["MULTI"],
        &["GET", "a"],
        &["EXEC"],
        &["MULTI"],
        &["LPUSH", "a", "wrongtype"],
        &["SET", "b", "2"],
        &["DEL", "nothing"],
        &["INCR", "b"],
        &["EXEC"],
    ];
    for cmd in script {
        c.cmd_str(cmd);
    }
}

#[test]
fn exec_is_logged_as_redis_logs_it() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), &[]);
    run_transactions(&mut s.conn());
    s.terminate();
    let ours = std::fs::read(incr_file(dir.path())).expect("incr file");
    if let Some(redis_dir) = redis_log_of_transactions() {
        let theirs = std::fs::read(incr_file(redis_dir.path())).expect("redis incr file");
        // Basalt's `#CRC:` annotations aside (Redis reads them as comments), byte for byte.
        let without_annotations: String = text(&ours)
            .split_inclusive("\r\n")
            .filter(|line| !line.starts_with('#'))
            .collect();
        assert_eq!(without_annotations, text(&theirs));
    }
    let ours = text(&ours);
    assert_eq!(ours.matches("MULTI").count(), 2, "{ours}");
    // The log replays: everything is there after a restart.
    let s = start(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(text(&c.cmd_str(&["GET", "a"])), "$1\r\n2\r\n");
    assert_eq!(text(&c.cmd_str(&["GET", "b"])), "$1\r\n3\r\n");
    assert_eq!(text(&c.cmd_str(&["GET", "alone"])), "$1\r\nv\r\n");
    c.cmd_str(&["SELECT", "3"]);
    assert_eq!(text(&c.cmd_str(&["LLEN", "l"])), ":2\r\n");
}

/// The same transactions on redis-server with the log on; its directory.
fn redis_log_of_transactions() -> Option<tempfile::TempDir> {
    common::redis()?;
    let dir = tempfile::tempdir().expect("dir");
    let args = dir_args(dir.path());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut r = common::redis_with(&refs);
    run_transactions(&mut r.conn());
    r.terminate();
    Some(dir)
}

#[test]
fn a_log_torn_inside_a_transaction_loads_up_to_before_it() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), &[]);
    let mut c = s.conn();
    c.cmd_str(&["SET", "before", "1"]);
    for cmd in [
        &["MULTI"][..],
        &["SET", "x", "1"],
        &["SET", "y", "2"],
        &["EXEC"],
    ] {
        c.cmd_str(cmd);
    }
    s.terminate();
    let path = incr_file(dir.path());
    let bytes = std::fs::read(&path).expect("incr");
    let log = text(&bytes);
    let multi_at = log.find("MULTI").expect("a MULTI in the log");
    let exec_at = log.rfind("EXEC").expect("an EXEC in the log");
    // Cut between the two SETs: inside the transaction.
    let cut = multi_at + (exec_at - multi_at) / 2;
    std::fs::write(&path, &bytes[..cut]).expect("truncate");
    let s = start(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(text(&c.cmd_str(&["GET", "before"])), "$1\r\n1\r\n");
    assert_eq!(text(&c.cmd_str(&["EXISTS", "x", "y"])), ":0\r\n");
    assert!(s.log().contains("bytes cut"), "{}", s.log());
}

/// The classic check-and-set: clients increment one counter with WATCH, GET, MULTI, SET,
/// EXEC, retrying when EXEC fails. The counter ends at exactly the number of successful
/// EXECs, and some EXECs do fail (the race happens).
#[test]
fn watch_makes_concurrent_check_and_set_exact() {
    let s = basalt(&[]);
    const CLIENTS: usize = 4;
    const INCREMENTS: u64 = 150;
    let failures = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut c = s.conn();
            let failures = failures.clone();
            std::thread::spawn(move || {
                let mut done = 0;
                while done < INCREMENTS {
                    c.cmd_str(&["WATCH", "counter"]);
                    let v = text(&c.cmd_str(&["GET", "counter"]));
                    let n: u64 = v.lines().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                    c.cmd_str(&["MULTI"]);
                    c.cmd_str(&["SET", "counter", &(n + 1).to_string()]);
                    let r = c.cmd_str(&["EXEC"]);
                    if r == b"*-1\r\n" {
                        failures.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert_eq!(text(&r), "*1\r\n+OK\r\n");
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let total = CLIENTS as u64 * INCREMENTS;
    assert_eq!(
        text(&s.conn().cmd_str(&["GET", "counter"])),
        format!("${}\r\n{total}\r\n", total.to_string().len())
    );
    assert!(failures.load(Ordering::Relaxed) > 0, "no EXEC ever failed");
}

const ACCOUNTS: usize = 16;
const BALANCE: i64 = 1000;

fn account(i: usize) -> String {
    format!("acct:{i}")
}

fn total(c: &mut Conn) -> i64 {
    let names: Vec<String> = (0..ACCOUNTS).map(account).collect();
    let mut args = vec!["MGET"];
    args.extend(names.iter().map(String::as_str));
    common::elements(&c.cmd_str(&args))
        .expect("MGET")
        .iter()
        .map(|e| {
            text(e)
                .lines()
                .nth(1)
                .and_then(|v| v.parse::<i64>().ok())
                .expect("an integer balance")
        })
        .sum()
}

/// Pipelined transfers: MULTI, DECRBY, INCRBY, RPUSH, EXEC, 8 transactions per write.
fn transfer_loop(mut c: Conn, stop: Arc<AtomicBool>, mut seed: u64) -> u64 {
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let from = account(seed as usize % ACCOUNTS);
            let to = account((seed >> 20) as usize % ACCOUNTS);
            c.send(&[b"MULTI"]);
            c.send(&[b"DECRBY", from.as_bytes(), b"7"]);
            c.send(&[b"INCRBY", to.as_bytes(), b"7"]);
            // A push that serves the blocked readers once the transaction is done.
            c.send(&[b"RPUSH", b"queue", b"t"]);
            c.send(&[b"EXEC"]);
        }
        for _ in 0..8 {
            assert_eq!(text(&c.read_reply()), "+OK\r\n");
            for _ in 0..3 {
                assert_eq!(text(&c.read_reply()), "+QUEUED\r\n");
            }
            let exec = c.read_reply();
            assert!(exec.starts_with(b"*3\r\n:"), "{}", text(&exec));
            done += 1;
        }
    }
    done
}

/// Wait until no BGSAVE or rewrite runs.
fn await_background(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::info_field(c, "rdb_bgsave_in_progress") != "0"
        || common::info_field(c, "aof_rewrite_in_progress") != "0"
    {
        assert!(Instant::now() < deadline, "a background job never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Transactions moving money between accounts in many shards, pipelined from several
/// threads, with blocked readers served by them, while BGSAVE and BGREWRITEAOF run again and
/// again: every snapshot holds the full total (each transaction in it whole or not at all),
/// nothing deadlocks, and after a SIGKILL the log replays to the full total too.
#[test]
fn transactions_stay_whole_under_bgsave_rewrite_and_blocking_clients() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), &[]);
    let mut admin = s.conn();
    for i in 0..ACCOUNTS {
        admin.cmd_str(&["SET", &account(i), &BALANCE.to_string()]);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..3)
        .map(|t| {
            let (c, stop) = (s.conn(), stop.clone());
            std::thread::spawn(move || transfer_loop(c, stop, 0x9e37_79b9 + t))
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (mut c, stop) = (s.conn(), stop.clone());
            std::thread::spawn(move || {
                let mut popped = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let r = c.cmd_str(&["BLPOP", "queue", "0.05"]);
                    popped += u64::from(r.starts_with(b"*2"));
                }
                popped
            })
        })
        .collect();
    let copies = tempfile::tempdir().expect("copies");
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(150));
        let reply = text(&admin.cmd_str(&["BGSAVE"]));
        assert!(reply.starts_with("+Background saving"), "{reply}");
        if round % 2 == 1 {
            admin.cmd_str(&["BGREWRITEAOF"]);
        }
        await_background(&mut admin);
        let copy = copies.path().join(format!("r{round}"));
        std::fs::create_dir_all(&copy).expect("copy dir");
        std::fs::copy(dir.path().join("dump.rdb"), copy.join("dump.rdb")).expect("copy");
    }
    // A transaction never waits for the snapshot's walk to end: the movers kept going.
    stop.store(true, Ordering::Relaxed);
    let moved: u64 = movers.into_iter().map(|t| t.join().expect("mover")).sum();
    let popped: u64 = readers.into_iter().map(|t| t.join().expect("reader")).sum();
    assert!(moved > 100, "only {moved} transactions ran");
    assert!(popped > 0, "the blocked readers were never served");
    assert_eq!(total(&mut admin), ACCOUNTS as i64 * BALANCE);
    s.child.kill().expect("SIGKILL");
    let _ = s.child.wait();
    for round in 0..4 {
        let copy = copies.path().join(format!("r{round}"));
        let snap = basalt(&["--dir", copy.to_str().expect("utf-8")]);
        assert_eq!(
            total(&mut snap.conn()),
            ACCOUNTS as i64 * BALANCE,
            "snapshot {round} holds part of a transaction"
        );
    }
    let s = start(dir.path(), &[]);
    assert_eq!(total(&mut s.conn()), ACCOUNTS as i64 * BALANCE);
}

/// While the log cannot be written, a transaction with a write is refused at EXEC with
/// Redis's EXECABORT text, and a write queued meanwhile dooms the transaction.
#[test]
fn exec_with_writes_is_refused_while_the_log_fails() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(dir.path(), &["--enable-debug-command", "yes"]);
    let mut c = s.conn();
    let mut admin = s.conn();
    c.cmd_str(&["MULTI"]);
    assert_eq!(text(&c.cmd_str(&["SET", "k", "v"])), "+QUEUED\r\n");
    admin.cmd_str(&["DEBUG", "AOF-FAILPOINT", "WRITE"]);
    // This write fails to reach the log, which turns writes off (MISCONF).
    let mut w = s.conn();
    w.send(&[b"SET", b"other", b"1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while common::info_field(&mut admin, "aof_last_write_status") != "err" {
        assert!(Instant::now() < deadline, "the failpoint never fired");
        std::thread::sleep(Duration::from_millis(10));
    }
    let refused = text(&c.cmd_str(&["EXEC"]));
    assert!(
        refused.starts_with(
            "-EXECABORT Transaction discarded because of: MISCONF Errors writing to the AOF file: "
        ),
        "{refused}"
    );
    // Queuing a write while the log fails dooms the transaction; a read-only one runs.
    c.cmd_str(&["MULTI"]);
    assert!(text(&c.cmd_str(&["SET", "k", "v"])).starts_with("-MISCONF"));
    assert_eq!(
        text(&c.cmd_str(&["EXEC"])),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    c.cmd_str(&["MULTI"]);
    c.cmd_str(&["GET", "k"]);
    assert_eq!(text(&c.cmd_str(&["EXEC"])), "*1\r\n$-1\r\n");
    admin.cmd_str(&["DEBUG", "AOF-FAILPOINT", "OFF"]);
}
