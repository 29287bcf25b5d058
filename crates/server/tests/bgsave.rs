//! BGSAVE without fork: the file holds the dataset of one instant while clients keep writing;
//! save points, SCHEDULE, stop-writes-on-bgsave-error, and saving at shutdown — replies
//! compared with redis-server's where Redis can be made to do the same.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Conn;
use persist::rdb::{Item, RdbReader, RdbValue};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// Every key of a dump file: (db, key) → value.
fn read_dump(path: &Path) -> BTreeMap<(u64, Vec<u8>), RdbValue> {
    let bytes = std::fs::read(path).expect("read dump");
    let mut r = RdbReader::new(&bytes[..]).expect("header");
    let (mut db, mut out) = (0, BTreeMap::new());
    loop {
        match r.next_item().expect("a valid item") {
            Item::End => return out,
            Item::SelectDb(n) => db = n,
            Item::Key(k) => {
                let old = out.insert((db, k.key.clone()), k.value);
                assert!(old.is_none(), "{:?} twice in the file", text(&k.key));
            }
            _ => {}
        }
    }
}

fn wait_bgsave(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Pipelined SETs of `n` filler keys, so a BGSAVE takes long enough to overlap writes.
fn prefill(c: &mut Conn, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        for i in chunk {
            c.send(&[b"SET", format!("fill:{i}").as_bytes(), b"some filler value"]);
        }
        for _ in chunk {
            c.read_reply();
        }
    }
}

/// The numbers `i` of the keys `prefix:i` in database 0 of `dump`.
fn indices(dump: &BTreeMap<(u64, Vec<u8>), RdbValue>, prefix: &str) -> BTreeSet<u64> {
    dump.keys()
        .filter_map(|(db, k)| {
            let rest = text(k).strip_prefix(prefix)?.to_string();
            (*db == 0).then(|| rest.parse().expect("a number"))
        })
        .collect()
}

fn contiguous_from_1(s: &BTreeSet<u64>) -> u64 {
    let n = s.len() as u64;
    assert!(s.iter().copied().eq(1..=n), "not 1..={n}: gaps in {s:?}");
    n
}

#[test]
fn bgsave_writes_one_instant_while_a_client_writes() {
    let s = common::basalt(&["--save", ""]);
    let mut c = s.conn();
    prefill(&mut c, 300_000);
    let progress = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (progress, stop, mut w) = (Arc::clone(&progress), Arc::clone(&stop), s.conn());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let n = i.to_string();
                let (a, b) = (format!("a:{i}"), format!("b:{i}"));
                // Each write is acknowledged before the next is sent.
                assert_eq!(w.cmd_str(&["SET", &a, &n]), b"+OK\r\n");
                assert_eq!(w.cmd_str(&["SET", &b, &n]), b"+OK\r\n");
                let (x, y) = (format!("x:{i}"), format!("y:{i}"));
                assert_eq!(w.cmd_str(&["MSET", &x, &n, &y, &n]), b"+OK\r\n");
                // Overwrites of filler keys the walk may not have reached yet.
                let f = format!("fill:{}", i * 7919 % 300_000);
                assert_eq!(w.cmd_str(&["SET", &f, &n]), b"+OK\r\n");
                progress.store(i, Ordering::Relaxed);
            }
        })
    };
    while progress.load(Ordering::Relaxed) < 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = progress.load(Ordering::Relaxed);
    assert_eq!(c.cmd_str(&["BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave(&mut c);
    let after = progress.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    assert_eq!(common::info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    let dump = read_dump(&s.dir.path().join("dump.rdb"));
    let m = contiguous_from_1(&indices(&dump, "a:"));
    let n = contiguous_from_1(&indices(&dump, "b:"));
    assert!(n == m || n + 1 == m, "a:1..{m} but b:1..{n}");
    // MSET is one unit: both keys or neither.
    assert_eq!(indices(&dump, "x:"), indices(&dump, "y:"));
    // The instant fell between the BGSAVE call and its end, and writes went on during it.
    assert!(before <= m && m <= after + 1, "{before} <= {m} <= {after}");
    assert!(after > before, "no write happened during the BGSAVE");
    // Every filler key is there, with its value at the instant: one written by the writer
    // carries the writer's number of that time (<= m), the others the filler text.
    assert_eq!(indices(&dump, "fill:").len(), 300_000);
    for i in 1..=after {
        let key = format!("fill:{}", i * 7919 % 300_000).into_bytes();
        let RdbValue::Str(v) = &dump[&(0, key)] else {
            panic!("a string")
        };
        if let Ok(Ok(written)) = std::str::from_utf8(v).map(str::parse::<u64>) {
            assert!(
                written <= m,
                "fill written at {written}, after the instant {m}"
            );
        }
    }
}

#[test]
fn bgsave_file_loads_in_redis_and_basalt_with_the_same_data() {
    let s = common::basalt(&["--save", ""]);
    let mut c = s.conn();
    for cmd in [
        &["SET", "s", "v"][..],
        &["SET", "n", "12345"],
        &["SET", "ttl", "v", "EX", "100000"],
        &["HSET", "h", "a", "1"],
        &["SADD", "set", "1", "2"],
        &["ZADD", "z", "1.5", "m"],
        &["RPUSH", "l", "x", "y"],
        &["SELECT", "3"],
        &["SET", "other", "db3"],
        &["SELECT", "0"],
    ] {
        assert!(!c.cmd_str(cmd).starts_with(b"-"), "{cmd:?}");
    }
    assert_eq!(c.cmd_str(&["BGSAVE"]), b"+Background saving started\r\n");
    wait_bgsave(&mut c);
    assert_eq!(
        common::info_field(&mut c, "rdb_changes_since_last_save"),
        "0"
    );
    let want = common::dataset(&mut c);
    let dump = s.dir.path().join("dump.rdb");
    let copy = tempfile::tempdir().expect("dir");
    std::fs::copy(&dump, copy.path().join("dump.rdb")).expect("copy");
    let b = common::basalt(&["--dir", copy.path().to_str().expect("utf-8")]);
    assert_eq!(common::dataset(&mut b.conn()), want);
    if common::redis().is_some() {
        common::assert_redis_check_rdb(&dump);
        let r = common::redis_with(&["--dir", copy.path().to_str().expect("utf-8")]);
        assert_eq!(common::dataset(&mut r.conn()), want);
    }
}

/// The same commands to Basalt and to redis-server (both with the log on, so a rewrite can
/// be started), replies compared.
#[test]
fn bgsave_replies_match_redis() {
    let Some(_probe) = common::redis() else {
        return;
    };
    let mut replies = Vec::new();
    for (name, mut c, _server) in servers(&["--save", "", "--appendonly", "yes"]) {
        let mut got = Vec::new();
        // `dir` and `dbfilename` are protected configs.
        for cmd in [
            &["BGSAVE", "now"][..],
            &["BGSAVE", "schedule", "x"],
            &["CONFIG", "SET", "dir", "/tmp"],
            &["CONFIG", "SET", "dbfilename", "x.rdb"],
        ] {
            got.push(text(&c.cmd_str(cmd)));
        }
        // Make the rewrite last: Redis's child is slowed by rdb-key-save-delay; Basalt's
        // rewrite of a few hundred thousand keys takes a while by itself.
        prefill(&mut c, 200_000);
        c.cmd_str(&["CONFIG", "SET", "rdb-key-save-delay", "20"]);
        got.push(text(&c.cmd_str(&["BGREWRITEAOF"])));
        got.push(text(&c.cmd_str(&["BGSAVE"])));
        got.push(text(&c.cmd_str(&["BGSAVE", "SCHEDULE"])));
        got.push(common::info_field(&mut c, "rdb_bgsave_in_progress"));
        c.cmd_str(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        // The scheduled BGSAVE runs once the rewrite is done.
        let deadline = Instant::now() + Duration::from_secs(60);
        while common::info_field(&mut c, "rdb_saves") != "1" {
            assert!(
                Instant::now() < deadline,
                "{name}: the scheduled BGSAVE never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        wait_bgsave(&mut c);
        got.push(text(&c.cmd_str(&["BGSAVE"])));
        got.push(text(&c.cmd_str(&["BGSAVE"])));
        got.push(text(&c.cmd_str(&["SAVE"])));
        got.push(text(&c.cmd_str(&["BGREWRITEAOF"])));
        got.push(common::info_field(&mut c, "aof_rewrite_scheduled"));
        // The scheduled rewrite runs once the BGSAVE is done.
        let deadline = Instant::now() + Duration::from_secs(60);
        while common::info_field(&mut c, "aof_rewrites") != "2" {
            assert!(
                Instant::now() < deadline,
                "{name}: the scheduled rewrite never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        replies.push((name, got));
    }
    assert_eq!(replies[0].1, replies[1].1, "{replies:#?}");
    let basalt = &replies[0].1;
    assert!(
        basalt[5].starts_with("-ERR Another child process"),
        "{basalt:?}"
    );
    assert_eq!(basalt[6], "+Background saving scheduled\r\n");
    assert_eq!(
        basalt[11],
        "+Background append only file rewriting scheduled\r\n"
    );
}

/// `(name, connection, process)` for Basalt and redis-server started with `extra`.
fn servers(extra: &[&str]) -> Vec<(&'static str, Conn, common::ServerProc)> {
    let b = common::basalt(extra);
    let r = common::redis_with(extra);
    vec![("basalt", b.conn(), b), ("redis", r.conn(), r)]
}

/// A BGSAVE that cannot write (its directory is gone) fails; with a save point set and
/// `stop-writes-on-bgsave-error yes` writes and PING are refused with Redis's MISCONF until a
/// BGSAVE succeeds again.
#[test]
fn a_failed_bgsave_stops_writes_like_redis() {
    let Some(_probe) = common::redis() else {
        return;
    };
    let mut replies = Vec::new();
    for (name, mut c, server) in servers(&["--save", "3600 1", "--enable-protected-configs", "yes"])
    {
        let sub = server.dir.path().join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        let mut got = vec![text(&c.cmd_str(&[
            "CONFIG",
            "SET",
            "dir",
            sub.to_str().expect("utf-8"),
        ]))];
        std::fs::remove_dir(&sub).expect("rmdir");
        got.push(text(&c.cmd_str(&["SET", "k", "v"])));
        got.push(text(&c.cmd_str(&["BGSAVE"])));
        let deadline = Instant::now() + Duration::from_secs(30);
        while common::info_field(&mut c, "rdb_last_bgsave_status") != "err" {
            assert!(Instant::now() < deadline, "{name}: the BGSAVE did not fail");
            std::thread::sleep(Duration::from_millis(10));
        }
        wait_bgsave(&mut c);
        for cmd in [
            &["SET", "k", "v2"][..],
            &["PING"],
            &["GET", "k"],
            &["DEL", "k"],
        ] {
            got.push(text(&c.cmd_str(cmd)));
        }
        c.cmd_str(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]);
        got.push(text(&c.cmd_str(&["SET", "k", "v3"])));
        c.cmd_str(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"]);
        got.push(text(&c.cmd_str(&["SET", "k", "v4"])));
        std::fs::create_dir(&sub).expect("mkdir again");
        got.push(text(&c.cmd_str(&["BGSAVE"])));
        wait_bgsave(&mut c);
        got.push(common::info_field(&mut c, "rdb_last_bgsave_status"));
        got.push(text(&c.cmd_str(&["SET", "k", "v5"])));
        replies.push((name, got));
    }
    assert_eq!(replies[0].1, replies[1].1, "{replies:#?}");
    assert!(
        replies[0].1[4].starts_with("-MISCONF"),
        "{:?}",
        replies[0].1
    );
}

#[test]
fn save_points_start_a_bgsave() {
    let s = common::basalt(&["--save", "1 3"]);
    let mut c = s.conn();
    for i in 0..3 {
        c.cmd_str(&["SET", &format!("k{i}"), "v"]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::info_field(&mut c, "rdb_saves") != "1" {
        assert!(Instant::now() < deadline, "no save after the save point");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        s.log().contains("3 changes in 1 seconds. Saving..."),
        "{}",
        s.log()
    );
    assert_eq!(read_dump(&s.dir.path().join("dump.rdb")).len(), 3);
}

#[test]
fn shutdown_saves_when_save_points_are_set_or_asked_and_not_with_nosave() {
    // Default save points: SIGTERM and SHUTDOWN save; the next start loads the file.
    for stop in ["SIGTERM", "SHUTDOWN"] {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().to_str().expect("utf-8");
        let mut s = common::basalt(&["--dir", path]);
        let mut c = s.conn();
        c.cmd_str(&["SET", "kept", stop]);
        if stop == "SIGTERM" {
            assert!(s.terminate().success());
        } else {
            assert!(c.try_cmd(&[b"SHUTDOWN"]).is_none(), "SHUTDOWN answered");
            let _ = s.child.wait();
        }
        let s2 = common::basalt(&["--dir", path]);
        assert_eq!(
            text(&s2.conn().cmd_str(&["GET", "kept"])),
            format!("${}\r\n{stop}\r\n", stop.len()),
            "after {stop}"
        );
    }
    // No save points: SHUTDOWN saves only when asked (SAVE), never with NOSAVE.
    for (args, saved) in [(&["SHUTDOWN"][..], false), (&["SHUTDOWN", "SAVE"], true)] {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().to_str().expect("utf-8");
        let mut s = common::basalt(&["--dir", path, "--save", ""]);
        let mut c = s.conn();
        c.cmd_str(&["SET", "k", "v"]);
        assert!(c
            .try_cmd(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
            .is_none());
        let _ = s.child.wait();
        assert_eq!(dir.path().join("dump.rdb").exists(), saved, "{args:?}");
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_str().expect("utf-8");
    let mut s = common::basalt(&["--dir", path]);
    let mut c = s.conn();
    c.cmd_str(&["SET", "k", "v"]);
    assert!(c.try_cmd(&[b"SHUTDOWN", b"NOSAVE"]).is_none());
    let _ = s.child.wait();
    assert!(!dir.path().join("dump.rdb").exists(), "NOSAVE saved");
}

#[test]
fn shutdown_refuses_to_exit_when_the_save_fails_unless_forced() {
    let s = common::basalt(&["--enable-protected-configs", "local"]);
    let mut c = s.conn();
    let sub = s.dir.path().join("gone");
    std::fs::create_dir(&sub).expect("mkdir");
    c.cmd_str(&["CONFIG", "SET", "dir", sub.to_str().expect("utf-8")]);
    std::fs::remove_dir(&sub).expect("rmdir");
    assert_eq!(
        text(&c.cmd_str(&["SHUTDOWN"])),
        "-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert_eq!(c.cmd_str(&["PING"]), b"+PONG\r\n");
    let mut s = s;
    assert!(c.try_cmd(&[b"SHUTDOWN", b"FORCE"]).is_none());
    let _ = s.child.wait();
}

/// DEBUG RELOAD saves, empties and loads back; NOSAVE loads the file as it is; the replies
/// are Redis's (compared with redis-server).
#[test]
fn debug_reload_matches_redis() {
    let Some(_probe) = common::redis() else {
        return;
    };
    let mut replies = Vec::new();
    for (name, mut c, _server) in servers(&["--save", "", "--enable-debug-command", "yes"]) {
        let mut got = Vec::new();
        for cmd in [
            &["SET", "a", "1"][..],
            &["RPUSH", "l", "x", "y"],
            &["DEBUG", "RELOAD"],
            &["GET", "a"],
            &["LRANGE", "l", "0", "-1"],
            &["SET", "a", "2"],
            &["SET", "b", "new"],
            &["DEBUG", "RELOAD", "NOSAVE"],
            &["GET", "a"],
            &["EXISTS", "b"],
            &["SET", "b", "kept"],
            &["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"],
            &["GET", "b"],
            &["DEBUG", "RELOAD", "BOGUS"],
        ] {
            got.push(text(&c.cmd_str(cmd)));
        }
        replies.push((name, got));
    }
    assert_eq!(replies[0].1, replies[1].1, "{replies:#?}");
    assert_eq!(replies[0].1[8], "$1\r\n1\r\n", "{:?}", replies[0].1);
}

/// A foreground save (here DEBUG RELOAD's) during a BGSAVE writes the newer file; the BGSAVE
/// then stands down without installing its older one, and without counting as failed (which
/// would refuse writes under `stop-writes-on-bgsave-error`).
#[test]
fn a_foreground_save_during_a_bgsave_wins_and_fails_nothing() {
    let s = common::basalt(&["--save", "3600 1", "--enable-debug-command", "yes"]);
    let mut c = s.conn();
    prefill(&mut c, 20_000);
    // 20,000 keys at 100 µs each: the BGSAVE lasts about two seconds.
    c.cmd_str(&["CONFIG", "SET", "rdb-key-save-delay", "100"]);
    assert_eq!(c.cmd_str(&["BGSAVE"]), b"+Background saving started\r\n");
    assert_eq!(c.cmd_str(&["SET", "after", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd_str(&["DEBUG", "RELOAD"]), b"+OK\r\n");
    assert_eq!(common::info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    wait_bgsave(&mut c);
    assert_eq!(common::info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(c.cmd_str(&["SET", "k", "v"]), b"+OK\r\n");
    let dump = read_dump(&s.dir.path().join("dump.rdb"));
    assert!(
        dump.contains_key(&(0, b"after".to_vec())),
        "the older snapshot won"
    );
    assert!(
        s.log().contains("a foreground save wrote a newer file"),
        "{}",
        s.log()
    );
}

/// `CONFIG SET dir` while a BGSAVE writes: the file still lands where the BGSAVE started (as
/// Redis's forked child keeps its directory), nothing is left behind.
#[test]
fn a_bgsave_keeps_its_directory_when_dir_changes_meanwhile() {
    let s = common::basalt(&["--save", "", "--enable-protected-configs", "yes"]);
    let mut c = s.conn();
    prefill(&mut c, 10_000);
    c.cmd_str(&["CONFIG", "SET", "rdb-key-save-delay", "100"]);
    assert_eq!(c.cmd_str(&["BGSAVE"]), b"+Background saving started\r\n");
    let other = tempfile::tempdir().expect("dir");
    let other_path = other.path().to_str().expect("utf-8");
    assert_eq!(c.cmd_str(&["CONFIG", "SET", "dir", other_path]), b"+OK\r\n");
    wait_bgsave(&mut c);
    assert_eq!(common::info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(read_dump(&s.dir.path().join("dump.rdb")).len(), 10_000);
    let left: Vec<_> = std::fs::read_dir(other.path()).expect("ls").collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn shutdown_on_signal_settings_decide_the_save() {
    // (settings, save points, signal, file written)
    let cases: [(&[&str], &str, i32, bool); 4] = [
        (
            &["--shutdown-on-sigterm", "nosave"],
            "3600 1",
            libc::SIGTERM,
            false,
        ),
        (&["--shutdown-on-sigterm", "save"], "", libc::SIGTERM, true),
        (
            &["--shutdown-on-sigint", "save now"],
            "",
            libc::SIGINT,
            true,
        ),
        // The other signal's setting does not apply.
        (&["--shutdown-on-sigint", "save"], "", libc::SIGTERM, false),
    ];
    for (settings, points, signal, saved) in cases {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().to_str().expect("utf-8");
        let mut args = vec!["--dir", path, "--save", points];
        args.extend_from_slice(settings);
        let mut s = common::basalt(&args);
        s.conn().cmd_str(&["SET", "k", "v"]);
        unsafe {
            libc::kill(s.pid() as i32, signal);
        }
        let status = s.child.wait().expect("wait");
        assert!(status.success(), "{settings:?}");
        assert_eq!(
            dir.path().join("dump.rdb").exists(),
            saved,
            "{settings:?} {signal}"
        );
    }
}
