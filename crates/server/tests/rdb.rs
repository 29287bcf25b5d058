//! Basalt starts on what redis-server 7.0 leaves on disk: a `dump.rdb` (log off), and an
//! append-only directory whose base is RDB (`aof-use-rdb-preamble yes`, Redis's default)
//! followed by incr files — with exactly Redis's data, every type and encoding.

mod common;

use std::time::{Duration, Instant};

use common::Conn;

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// Keys of every type in small and large encodings, LZF-compressible strings, expiries, and
/// two databases.
fn fill(c: &mut Conn) {
    let long = "abc".repeat(200);
    for cmd in [
        &["SET", "int", "-98765"][..],
        &["SET", "lzf", &long],
        &["SET", "ttl", "v", "EX", "100000"],
        &["HSET", "smallhash", "a", "1", "b", "2"],
        &["SADD", "intset", "1", "2", "-3"],
        &["ZADD", "smallz", "1.5", "a", "-2", "b"],
        &["RPUSH", "smalllist", "x", "7"],
        &["SELECT", "4"],
        &["SET", "other", "db4"],
        &["SELECT", "0"],
    ] {
        assert!(!c.cmd_str(cmd).starts_with(b"-"), "{cmd:?}");
    }
    common::fill_streams_and_hlls(c);
    for i in 0..700 {
        let v = i.to_string();
        c.send(&[
            b"HSET",
            b"bighash",
            format!("f{i}").as_bytes(),
            v.as_bytes(),
        ]);
        c.send(&[b"SADD", b"bigset", format!("m{i}").as_bytes()]);
        c.send(&[
            b"ZADD",
            b"bigz",
            format!("{}.25", i).as_bytes(),
            v.as_bytes(),
        ]);
        c.send(&[b"RPUSH", b"biglist", format!("element-{i}").as_bytes()]);
        for _ in 0..4 {
            c.read_reply();
        }
    }
}

fn wait_rewrite(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = text(&c.cmd_str(&["INFO", "persistence"]));
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1") {
            return;
        }
        assert!(Instant::now() < deadline, "the rewrite did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn basalt_starts_on_the_dump_rdb_redis_saved() {
    if common::redis().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_str().expect("utf-8");
    let want = {
        let mut r = common::redis_with(&["--dir", path]);
        let mut c = r.conn();
        fill(&mut c);
        assert_eq!(text(&c.cmd_str(&["SAVE"])), "+OK\r\n");
        let want = common::dataset(&mut c);
        r.terminate();
        want
    };
    assert!(want.len() > 10, "{want:?}");
    let s = common::basalt(&["--dir", path]);
    assert_eq!(common::dataset(&mut s.conn()), want);
    assert!(s.log().contains("DB loaded from disk"), "{}", s.log());
}

#[test]
fn basalt_starts_on_a_log_redis_wrote_with_an_rdb_base() {
    if common::redis().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_str().expect("utf-8");
    let want = {
        let mut r = common::redis_with(&["--dir", path, "--appendonly", "yes"]);
        let mut c = r.conn();
        fill(&mut c);
        // The data goes into an RDB base; what follows into the incr file.
        c.cmd_str(&["BGREWRITEAOF"]);
        wait_rewrite(&mut c);
        c.cmd_str(&["RPUSH", "biglist", "after"]);
        c.cmd_str(&["HDEL", "bighash", "f1"]);
        c.cmd_str(&["SET", "new", "1"]);
        let want = common::dataset(&mut c);
        r.terminate();
        want
    };
    let base_is_rdb = std::fs::read_dir(dir.path().join("appendonlydir"))
        .expect("appendonlydir")
        .any(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".base.rdb")
        });
    assert!(base_is_rdb, "redis did not write an RDB base");
    let mut s = common::basalt(&["--dir", path, "--appendonly", "yes"]);
    let mut c = s.conn();
    assert_eq!(common::dataset(&mut c), want);
    // Basalt goes on appending to Redis's incr file; the whole log loads again.
    c.cmd_str(&["SET", "from-basalt", "1"]);
    let want2 = common::dataset(&mut c);
    s.child.kill().expect("kill");
    let _ = s.child.wait();
    let s2 = common::basalt(&["--dir", path, "--appendonly", "yes"]);
    assert_eq!(common::dataset(&mut s2.conn()), want2);
}

#[test]
fn save_writes_a_dump_rdb_that_redis_and_basalt_load() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_str().expect("utf-8");
    let mut s = common::basalt(&["--dir", path]);
    let mut c = s.conn();
    fill(&mut c);
    let before: i64 = text(&c.cmd_str(&["LASTSAVE"]))[1..]
        .trim()
        .parse()
        .expect("int");
    assert_eq!(text(&c.cmd_str(&["SAVE"])), "+OK\r\n");
    let after: i64 = text(&c.cmd_str(&["LASTSAVE"]))[1..]
        .trim()
        .parse()
        .expect("int");
    assert!(after >= before);
    let info = text(&c.cmd_str(&["INFO", "persistence"]));
    assert!(info.contains("rdb_changes_since_last_save:0\r\n"), "{info}");
    assert!(info.contains("rdb_saves:1\r\n"), "{info}");
    let want = common::dataset(&mut c);
    s.terminate();
    let dump = dir.path().join("dump.rdb");
    if common::redis().is_some() {
        common::assert_redis_check_rdb(&dump);
        let copy = tempfile::tempdir().expect("dir");
        std::fs::copy(&dump, copy.path().join("dump.rdb")).expect("copy");
        let r = common::redis_with(&["--dir", copy.path().to_str().expect("utf-8")]);
        assert_eq!(common::dataset(&mut r.conn()), want);
    }
    let s2 = common::basalt(&["--dir", path]);
    assert_eq!(common::dataset(&mut s2.conn()), want);
    let info = text(&s2.conn().cmd_str(&["INFO", "persistence"]));
    assert!(
        info.contains(&format!("rdb_last_load_keys_loaded:{}\r\n", want.len())),
        "{info}"
    );
}

/// Every key of `from` (database 0 and 4, as `fill` writes), DUMPed there and RESTOREd with
/// its remaining TTL into `to`.
fn copy_by_dump(from: &mut Conn, to: &mut Conn) {
    for db in ["0", "4"] {
        from.cmd_str(&["SELECT", db]);
        to.cmd_str(&["SELECT", db]);
        for key in common::elements(&from.cmd_str(&["KEYS", "*"])).unwrap_or_default() {
            let key = text(&key).lines().nth(1).unwrap_or("").to_string();
            let reply = from.cmd(&[b"DUMP", key.as_bytes()]);
            let payload = common::elements(&[b"*1\r\n".as_slice(), &reply].concat())
                .and_then(|mut e| e.pop())
                .expect("a payload");
            let payload = payload[payload.iter().position(|&b| b == b'\n').expect("header") + 1..]
                .strip_suffix(b"\r\n")
                .expect("a bulk")
                .to_vec();
            let at = text(&from.cmd_str(&["PEXPIRETIME", &key]));
            let ttl = match at.trim().trim_start_matches(':') {
                "-1" => "0".to_string(),
                t => t.to_string(),
            };
            let got = to.cmd(&[
                b"RESTORE",
                key.as_bytes(),
                ttl.as_bytes(),
                &payload,
                b"ABSTTL",
            ]);
            assert_eq!(text(&got), "+OK\r\n", "RESTORE {key}");
        }
    }
    from.cmd_str(&["SELECT", "0"]);
    to.cmd_str(&["SELECT", "0"]);
}

#[test]
fn dump_payloads_restore_both_ways_between_redis_and_basalt() {
    if common::redis().is_none() {
        return;
    }
    let (b, r) = (common::basalt(&[]), common::redis_with(&[]));
    let (mut bc, mut rc) = (b.conn(), r.conn());
    fill(&mut rc);
    let want = common::dataset(&mut rc);
    copy_by_dump(&mut rc, &mut bc);
    assert_eq!(common::dataset(&mut bc), want, "Redis's payloads in Basalt");
    rc.cmd_str(&["FLUSHALL"]);
    copy_by_dump(&mut bc, &mut rc);
    assert_eq!(common::dataset(&mut rc), want, "Basalt's payloads in Redis");
}

/// INFO's `dump_payload_sanitizations` after `copy_by_dump` from a Redis filled by `fill`
/// into `to`, for each `sanitize-dump-payload` mode (and `clients` for a user with
/// `skip-sanitize-payload`).
fn sanitizations(from: &mut Conn, to: &common::ServerProc) -> Vec<String> {
    let mut c = to.conn();
    let mut out = Vec::new();
    for mode in ["no", "yes", "clients", "clients-skip"] {
        c.cmd_str(&["FLUSHALL"]);
        c.cmd_str(&["CONFIG", "RESETSTAT"]);
        let setting = mode.trim_end_matches("-skip");
        c.cmd_str(&["CONFIG", "SET", "sanitize-dump-payload", setting]);
        let mut user = to.conn();
        if mode == "clients-skip" {
            let rule = ["ACL", "SETUSER", "skipper", "on", "nopass", "~*", "+@all"];
            assert_eq!(text(&c.cmd_str(&rule)), "+OK\r\n");
            c.cmd_str(&["ACL", "SETUSER", "skipper", "skip-sanitize-payload"]);
            assert_eq!(text(&user.cmd_str(&["AUTH", "skipper", "x"])), "+OK\r\n");
        }
        copy_by_dump(from, &mut user);
        let n = common::info_field_in(&mut c, "stats", "dump_payload_sanitizations");
        out.push(format!("{mode}: {n}"));
    }
    out
}

#[test]
fn sanitize_dump_payload_counts_what_redis_counts() {
    if common::redis().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_str().expect("utf-8");
    let source = common::redis_with(&["--dir", path]);
    let mut from = source.conn();
    fill(&mut from);
    let (b, r) = (common::basalt(&[]), common::redis_with(&[]));
    let ours = sanitizations(&mut from, &b);
    assert!(ours[1] != "yes: 0", "{ours:?}");
    assert_eq!(ours, sanitizations(&mut from, &r));
    // Loading a file: only `yes` sanitizes it.
    assert_eq!(text(&from.cmd_str(&["SAVE"])), "+OK\r\n");
    let loaded = |s: &common::ServerProc| {
        common::info_field_in(&mut s.conn(), "stats", "dump_payload_sanitizations")
    };
    for mode in ["yes", "clients"] {
        let args = ["--dir", path, "--sanitize-dump-payload", mode];
        let ours = loaded(&common::basalt(&args));
        assert_eq!(ours, loaded(&common::redis_with(&args)), "{mode}");
        assert_eq!(ours == "0", mode == "clients", "{mode}: {ours}");
    }
}
