//! AOF rewrite end to end: BGREWRITEAOF, the automatic trigger and `CONFIG SET appendonly`
//! switch the directory to a new base and incr file holding exactly the acknowledged data —
//! with writers running during the rewrite, after SIGKILL, and as redis-server reads it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{basalt, Conn, ServerProc};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

fn start(dir: &Path, extra: &[&str]) -> ServerProc {
    let mut args = vec!["--dir", dir.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    basalt(&args)
}

/// Wait for the rewrite in progress to end; its status must be ok.
fn wait_rewrite(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::info_field(c, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(common::info_field(c, "aof_last_bgrewrite_status"), "ok");
}

fn bgrewriteaof(c: &mut Conn) {
    assert_eq!(
        text(&c.cmd_str(&["BGREWRITEAOF"])),
        "+Background append only file rewriting started\r\n"
    );
    wait_rewrite(c);
}

/// Keys of every type, big enough for several commands per key, in two databases.
fn fill(c: &mut Conn, keys: usize) {
    for i in 0..keys {
        let k = i.to_string();
        c.send(&[b"SET", format!("s:{k}").as_bytes(), k.as_bytes()]);
        c.send(&[b"RPUSH", b"list", k.as_bytes()]);
        c.send(&[b"HSET", b"hash", format!("f{k}").as_bytes(), k.as_bytes()]);
        c.send(&[b"SADD", b"ints", k.as_bytes()]);
        c.send(&[b"SADD", b"strs", format!("m{k}").as_bytes()]);
        let score = format!("{}.{}", i, i % 7);
        c.send(&[b"ZADD", b"zset", score.as_bytes(), k.as_bytes()]);
        for _ in 0..6 {
            c.read_reply();
        }
    }
    for cmd in [
        &["SET", "ttl", "v", "EX", "10000"][..],
        &["ZADD", "zset", "-inf", "low", "inf", "high", "0.1", "tenth"],
        &["SELECT", "5"],
        &["RPUSH", "other", "a", "b"],
        &["SELECT", "0"],
    ] {
        assert!(!c.cmd_str(cmd).starts_with(b"-"), "{cmd:?}");
    }
    common::fill_streams_and_hlls(c);
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest")
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("appendonlydir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn kill(mut s: ServerProc) {
    s.child.kill().expect("SIGKILL");
    let _ = s.child.wait();
}

#[test]
fn bgrewriteaof_switches_to_a_new_base_and_incr_with_the_same_data() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(
        dir.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let mut c = s.conn();
    fill(&mut c, 300);
    bgrewriteaof(&mut c);
    assert_eq!(common::info_field(&mut c, "aof_rewrites"), "1");
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    assert_eq!(
        files(dir.path()),
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.2.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    // Writes after the rewrite go to the new incr file.
    c.cmd_str(&["RPUSH", "list", "after"]);
    c.cmd_str(&["DEL", "s:1"]);
    let want = common::dataset(&mut c);
    kill(s);
    let s2 = start(dir.path(), &["--appendonly", "yes"]);
    assert_eq!(common::dataset(&mut s2.conn()), want);
    kill(s2);
    // redis-server reads the rewritten directory as it is.
    if common::redis().is_some() {
        let copy = tempfile::tempdir().expect("dir");
        let aof_dir = copy.path().join("appendonlydir");
        std::fs::create_dir(&aof_dir).expect("mkdir");
        for f in files(dir.path()) {
            std::fs::copy(dir.path().join("appendonlydir").join(&f), aof_dir.join(&f))
                .expect("copy");
        }
        let r = common::redis_with(&[
            "--dir",
            copy.path().to_str().expect("utf-8"),
            "--appendonly",
            "yes",
        ]);
        assert_eq!(common::dataset(&mut r.conn()), want);
    }
}

/// Writers run through several rewrites and are killed mid-flight: every acknowledged write is
/// there after the restart, none twice (each list holds 1..n with no gap and no repeat).
#[test]
fn writes_during_rewrites_are_neither_lost_nor_doubled() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(
        dir.path(),
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let mut c = s.conn();
    fill(&mut c, 3000);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let port = s.port;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Conn::connect(port);
                let key = format!("w{w}");
                let mut acked = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let v = (acked + 1).to_string();
                    let r = c.try_cmd(&[b"RPUSH", key.as_bytes(), v.as_bytes()]);
                    match r {
                        Some(reply) if reply.starts_with(b":") => acked += 1,
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    for _ in 0..4 {
        bgrewriteaof(&mut c);
    }
    // Kill while the writers are still writing, right after starting one more rewrite.
    c.cmd_str(&["BGREWRITEAOF"]);
    std::thread::sleep(Duration::from_millis(5));
    let pid = s.pid();
    unsafe_kill(pid);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<u64> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    kill(s);
    let s2 = start(dir.path(), &["--appendonly", "yes"]);
    let mut c2 = s2.conn();
    for (w, &n) in acked.iter().enumerate() {
        assert!(n > 0, "writer {w} wrote nothing");
        let items =
            common::elements(&c2.cmd_str(&["LRANGE", &format!("w{w}"), "0", "-1"])).expect("list");
        let got: Vec<u64> = items
            .iter()
            .map(|i| {
                text(i)
                    .lines()
                    .nth(1)
                    .unwrap_or("")
                    .parse()
                    .expect("number")
            })
            .collect();
        assert!(
            got.len() as u64 >= n,
            "writer {w}: {} < acked {n}",
            got.len()
        );
        assert!(
            got.iter().enumerate().all(|(i, &v)| v == i as u64 + 1),
            "writer {w}: not 1..n: {:?}",
            &got[..got.len().min(20)]
        );
    }
    assert_eq!(text(&c2.cmd_str(&["LLEN", "list"])), ":3000\r\n");
}

/// SIGKILL by pid (the writers must see the connection die, not a clean shutdown).
fn unsafe_kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

#[test]
fn the_log_is_rewritten_automatically_when_it_doubles() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(
        dir.path(),
        &[
            "--appendonly",
            "yes",
            "--auto-aof-rewrite-percentage",
            "100",
            "--auto-aof-rewrite-min-size",
            "64kb",
        ],
    );
    let mut c = s.conn();
    // Overwrites: the log grows, the data does not.
    let value = "x".repeat(1000);
    for _ in 0..200 {
        c.cmd_str(&["SET", "k", &value]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::info_field(&mut c, "aof_rewrites") == "0" {
        assert!(Instant::now() < deadline, "no automatic rewrite");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_rewrite(&mut c);
    let size: u64 = common::info_field(&mut c, "aof_current_size")
        .parse()
        .expect("size");
    assert!(size < 64 * 1024, "still {size} bytes after the rewrite");
    assert_eq!(
        common::info_field(&mut c, "aof_base_size"),
        size.to_string()
    );
}

#[test]
fn appendonly_turned_on_at_run_time_writes_the_base_and_off_stops_logging() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(dir.path(), &[]);
    let mut c = s.conn();
    fill(&mut c, 100);
    assert_eq!(common::info_field(&mut c, "aof_enabled"), "0");
    assert_eq!(
        text(&c.cmd_str(&["CONFIG", "SET", "appendonly", "yes"])),
        "+OK\r\n"
    );
    wait_rewrite(&mut c);
    assert_eq!(common::info_field(&mut c, "aof_enabled"), "1");
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    c.cmd_str(&["SET", "after", "on"]);
    let want = common::dataset(&mut c);
    // Off: later writes are not logged.
    assert_eq!(
        text(&c.cmd_str(&["CONFIG", "SET", "appendonly", "no"])),
        "+OK\r\n"
    );
    assert_eq!(common::info_field(&mut c, "aof_enabled"), "0");
    c.cmd_str(&["SET", "while", "off"]);
    kill(s);
    let s2 = start(dir.path(), &["--appendonly", "yes"]);
    assert_eq!(common::dataset(&mut s2.conn()), want);
}

#[test]
fn bgrewriteaof_with_the_log_off_writes_a_base_alone() {
    let dir = tempfile::tempdir().expect("dir");
    // The AOF-format base (commands) here; the other tests use Redis's default RDB base.
    let s = start(dir.path(), &["--aof-use-rdb-preamble", "no"]);
    let mut c = s.conn();
    fill(&mut c, 50);
    bgrewriteaof(&mut c);
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.1.base.aof seq 1 type b\n"
    );
    bgrewriteaof(&mut c);
    assert_eq!(
        files(dir.path()),
        ["appendonly.aof.2.base.aof", "appendonly.aof.manifest"]
    );
    let want = common::dataset(&mut c);
    kill(s);
    let s2 = start(dir.path(), &["--appendonly", "yes"]);
    assert_eq!(common::dataset(&mut s2.conn()), want);
}

#[test]
fn a_second_bgrewriteaof_while_one_runs_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(dir.path(), &["--appendonly", "yes"]);
    let mut c = s.conn();
    fill(&mut c, 20000);
    c.send(&[b"BGREWRITEAOF"]);
    c.send(&[b"BGREWRITEAOF"]);
    let first = text(&c.read_reply());
    let second = text(&c.read_reply());
    assert_eq!(first, "+Background append only file rewriting started\r\n");
    // The first may already be done on a fast machine; then the second starts another.
    assert!(
        second == "-ERR Background append only file rewriting already in progress\r\n"
            || second == first,
        "{second}"
    );
    wait_rewrite(&mut c);
}

/// A crash during a rewrite leaves its temp base behind; the next start removes it (it is in
/// no manifest) and keeps every listed file.
#[test]
fn leftover_temp_files_of_a_crashed_rewrite_are_removed_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(dir.path(), &["--appendonly", "yes"]);
    s.conn().cmd_str(&["SET", "k", "v"]);
    kill(s);
    let stale = dir.path().join("appendonlydir/temp-rewriteaof-bg-999.aof");
    std::fs::write(&stale, b"*1\r\n$4\r\nPING\r\n").expect("stale temp file");
    let s2 = start(dir.path(), &["--appendonly", "yes"]);
    assert!(!stale.exists());
    assert!(s2
        .log()
        .contains("Removed the leftover temp file temp-rewriteaof-bg-999.aof"));
    assert_eq!(text(&s2.conn().cmd_str(&["GET", "k"])), "$1\r\nv\r\n");
    assert_eq!(
        files(dir.path()),
        [
            // A fresh log starts with an empty RDB base, as Redis's does.
            "appendonly.aof.1.base.rdb",
            "appendonly.aof.1.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
}

/// The manifest and the files of a log after two rewrites with `aof-disable-auto-gc yes`,
/// then after setting it back to `no`.
fn history_files(s: &ServerProc, dir: &Path) -> Vec<String> {
    let mut c = s.conn();
    let mut seen = Vec::new();
    for key in ["a", "b"] {
        assert_eq!(text(&c.cmd_str(&["SET", key, "1"])), "+OK\r\n");
        bgrewriteaof(&mut c);
    }
    seen.push(manifest(dir));
    seen.extend(files(dir));
    assert_eq!(
        text(&c.cmd_str(&["CONFIG", "SET", "aof-disable-auto-gc", "no"])),
        "+OK\r\n"
    );
    seen.push(manifest(dir));
    seen.extend(files(dir));
    seen
}

#[test]
fn aof_disable_auto_gc_keeps_old_files_as_history_as_redis_does() {
    let args = ["--appendonly", "yes", "--aof-disable-auto-gc", "yes"];
    let dir = tempfile::tempdir().expect("dir");
    let ours = history_files(&start(dir.path(), &args), dir.path());
    assert!(
        ours[0].contains("appendonly.aof.1.base.rdb seq 1 type h"),
        "{ours:?}"
    );
    if common::redis().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_str().expect("utf-8");
    let redis = common::redis_with(&[&["--dir", path][..], &args].concat());
    assert_eq!(ours, history_files(&redis, dir.path()));
}
