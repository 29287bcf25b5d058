//! Replica options checked against redis-server (issue 15): `replica-serve-stale-data no`
//! (`-MASTERDOWN` while the link is down, byte for byte as Redis), `-LOADING` while a full
//! sync replaces the dataset (a client never sees it half loaded), what a replica announces
//! (`replica-announce-ip/port`, `replica-priority`, `replica-announced`), and PUBLISH carried
//! by the stream so a replica's subscribers hear its master's messages.

mod common;

use std::time::{Duration, Instant};

use common::repl::{caught_up, offset, text, wait_for};
use common::{Conn, ServerProc};

/// Commands a client of a replica whose link is down might send, each with and without the
/// `stale` flag, inside and outside MULTI.
const STALE_PROBES: &[&[&str]] = &[
    &["GET", "k"],
    &["PING"],
    &["ECHO", "x"],
    &["CONFIG", "GET", "replica-serve-stale-data"],
    &["MULTI"],
    &["INFO", "keyspace"],
    &["EXEC"],
    &["MULTI"],
    &["GET", "k"],
    &["EXEC"],
    &["SUBSCRIBE", "c"],
];

fn probe(c: &mut Conn) -> Vec<String> {
    STALE_PROBES
        .iter()
        .map(|cmd| {
            let reply = text(&c.cmd_str(cmd));
            // INFO's text differs between servers; what matters is that it answered.
            if reply.starts_with('$') {
                "<bulk>".to_string()
            } else {
                reply
            }
        })
        .collect()
}

#[test]
fn masterdown_while_the_link_is_down_as_redis() {
    if common::redis().is_none() {
        return;
    }
    // A master that is not there: the link stays down.
    let nowhere = common::free_port().to_string();
    let args = [
        "--replicaof",
        "127.0.0.1",
        &nowhere,
        "--replica-serve-stale-data",
        "no",
    ];
    let basalt = common::basalt(&args);
    let redis = common::redis_no_wait(&args);
    let ours = probe(&mut basalt.conn());
    assert_eq!(ours, probe(&mut redis.conn()));
    assert!(ours[0].starts_with("-MASTERDOWN "), "{ours:?}");
    // Turned back on, the stale data is served again.
    let mut c = basalt.conn();
    c.cmd_str(&["CONFIG", "SET", "replica-serve-stale-data", "yes"]);
    assert_eq!(text(&c.cmd_str(&["GET", "k"])), "$-1\r\n");
}

#[test]
fn a_full_sync_is_never_seen_half_loaded() {
    if common::redis().is_none() {
        return;
    }
    let redis = common::redis_with(&[
        "--repl-diskless-sync-delay",
        "0",
        "--enable-debug-command",
        "yes",
    ]);
    let mut m = redis.conn();
    const KEYS: u64 = 400_000;
    let populated = m.cmd_str(&["DEBUG", "POPULATE", &KEYS.to_string(), "key", "64"]);
    assert_eq!(text(&populated), "+OK\r\n");
    let basalt = common::basalt(&[]);
    let mut r = basalt.conn();
    r.cmd_str(&["SET", "before", "1"]);
    let mut poll = basalt.conn();
    let port = redis.port.to_string();
    r.cmd_str(&["REPLICAOF", "127.0.0.1", &port]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut loading, mut old) = (0, 0);
    loop {
        let reply = text(&poll.cmd_str(&["DBSIZE"]));
        match reply.as_str() {
            ":1\r\n" => old += 1,
            "-LOADING Redis is loading the dataset in memory\r\n" => loading += 1,
            r if r == format!(":{KEYS}\r\n") => break,
            other => panic!(
                "a client saw the dataset half loaded: {other:?}\n{}",
                basalt.log()
            ),
        }
        assert!(Instant::now() < deadline, "the full sync did not end");
    }
    assert!(loading > 0, "no -LOADING seen ({old} old replies)");
    // Commands flagged `loading` answered throughout; the link ends up streaming.
    caught_up(&mut m, &mut r);
    assert_eq!(common::info_field_in(&mut r, "persistence", "loading"), "0");
}

#[test]
fn a_replica_announces_what_it_is_told() {
    if common::redis().is_none() {
        return;
    }
    let redis = common::redis_with(&[]);
    let port = redis.port.to_string();
    let basalt = common::basalt(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--replica-announce-ip",
        "10.1.2.3",
        "--replica-announce-port",
        "1234",
        "--replica-priority",
        "7",
        "--replica-announced",
        "no",
    ]);
    let mut m = redis.conn();
    wait_for("the announced replica", || {
        text(&m.cmd_str(&["INFO", "replication"])).contains("slave0:ip=10.1.2.3,port=1234,")
    });
    let mut r = basalt.conn();
    assert_eq!(offset(&mut r, "slave_priority"), "7");
    assert_eq!(offset(&mut r, "replica_announced"), "0");
    // And the reverse: a redis-server replica announcing itself to a Basalt master.
    let master = common::basalt(&["--repl-diskless-sync-delay", "0"]);
    let mport = master.port.to_string();
    let _replica = common::redis_with(&[
        "--replicaof",
        "127.0.0.1",
        &mport,
        "--replica-announce-ip",
        "10.9.8.7",
        "--replica-announce-port",
        "4321",
    ]);
    let mut bm = master.conn();
    wait_for("Basalt to show the announced replica", || {
        text(&bm.cmd_str(&["INFO", "replication"])).contains("slave0:ip=10.9.8.7,port=4321,")
    });
}

fn subscriber(p: &ServerProc) -> Conn {
    let mut s = p.conn();
    assert!(text(&s.cmd_str(&["SUBSCRIBE", "news"])).contains("subscribe"));
    s
}

/// PUBLISH on `master` reaches a subscriber of `replica`, and the offsets stay equal.
fn publish_reaches(master: &ServerProc, replica: &ServerProc) {
    let mut m = master.conn();
    let mut r = replica.conn();
    caught_up(&mut m, &mut r);
    let mut s = subscriber(replica);
    assert_eq!(text(&m.cmd_str(&["PUBLISH", "news", "hello"])), ":0\r\n");
    let message = text(&s.read_reply());
    assert_eq!(
        message,
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
    );
    caught_up(&mut m, &mut r);
}

#[test]
fn publish_is_replicated_both_ways() {
    if common::redis().is_none() {
        return;
    }
    let basalt = common::basalt(&["--repl-diskless-sync-delay", "0"]);
    let port = basalt.port.to_string();
    let redis = common::redis_with(&["--replicaof", "127.0.0.1", &port]);
    publish_reaches(&basalt, &redis);

    let redis_master = common::redis_with(&["--repl-diskless-sync-delay", "0"]);
    let port = redis_master.port.to_string();
    let basalt_replica = common::basalt(&["--replicaof", "127.0.0.1", &port]);
    publish_reaches(&redis_master, &basalt_replica);
}

/// Every `repl-diskless-load` mode loads a full sync of every type from a redis-server
/// master, diskless (`$EOF:`) and disk-backed (`$<len>`) alike.
#[test]
fn every_diskless_load_mode_syncs_from_redis() {
    if common::redis().is_none() {
        return;
    }
    for diskless in ["yes", "no"] {
        let redis = common::redis_with(&[
            "--repl-diskless-sync",
            diskless,
            "--repl-diskless-sync-delay",
            "0",
        ]);
        let mut m = redis.conn();
        common::repl::fill(&mut m);
        let port = redis.port.to_string();
        for mode in ["disabled", "on-empty-db", "swapdb"] {
            let basalt = common::basalt(&["--repl-diskless-load", mode]);
            let mut r = basalt.conn();
            if mode == "swapdb" {
                r.cmd_str(&["SET", "replaced", "1"]);
            }
            r.cmd_str(&["REPLICAOF", "127.0.0.1", &port]);
            caught_up(&mut m, &mut r);
            assert_eq!(
                common::dataset(&mut r),
                common::dataset(&mut m),
                "{mode}, diskless sync {diskless}"
            );
        }
    }
}

fn temp_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
                .count()
        })
        .unwrap_or(0)
}

/// What clients of the replica see while a slow payload arrives, per mode: `disabled`
/// writes a temporary file and serves the old data; `swapdb` serves the old data with no
/// file; `on-empty-db` on an empty replica loads from the socket (`-LOADING` meanwhile).
fn watch_a_slow_sync(mode: &str, with_data: bool) -> (bool, bool, bool) {
    let master = common::basalt(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    for batch in 0..20 {
        let mut args: Vec<String> = vec!["MSET".into()];
        for i in 0..1000 {
            args.push(format!("k{batch}:{i}"));
            args.push("v".repeat(20));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        m.cmd_str(&refs);
    }
    // 20,000 keys at 40 µs each: close to a second of transfer.
    m.cmd_str(&["CONFIG", "SET", "rdb-key-save-delay", "40"]);
    let basalt = common::basalt(&["--repl-diskless-load", mode]);
    let mut r = basalt.conn();
    if with_data {
        r.cmd_str(&["SET", "old", "1"]);
    }
    r.cmd_str(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    let (mut saw_file, mut saw_old, mut saw_loading) = (false, false, false);
    let mut saw_progress = false;
    let mut info = basalt.conn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        saw_file |= temp_files(basalt.dir.path()) > 0;
        // INFO shows the transfer as Redis does (an EOF-marked payload's size is -1).
        let repl = text(&info.cmd_str(&["INFO", "replication"]));
        if repl.contains("master_sync_in_progress:1") && repl.contains("master_sync_read_bytes:") {
            assert!(repl.contains("master_sync_total_bytes:-1\r\n"), "{repl}");
            saw_progress = true;
        }
        match text(&r.cmd_str(&["DBSIZE"])).as_str() {
            ":1\r\n" => saw_old = true,
            ":20000\r\n" => break,
            "-LOADING Redis is loading the dataset in memory\r\n" => saw_loading = true,
            ":0\r\n" if !with_data => {}
            other => panic!("{mode}: a client saw {other:?}"),
        }
        assert!(Instant::now() < deadline, "{mode}: the sync did not end");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        temp_files(basalt.dir.path()),
        0,
        "{mode}: a temp file was left"
    );
    assert!(saw_progress, "{mode}: INFO never showed the transfer");
    (saw_file, saw_old, saw_loading)
}

#[test]
fn diskless_load_modes_keep_files_and_old_data_as_redis_describes() {
    let (file, old, _) = watch_a_slow_sync("disabled", true);
    assert!(file && old, "disabled: file {file}, old data {old}");
    let (file, old, _) = watch_a_slow_sync("swapdb", true);
    assert!(!file && old, "swapdb: file {file}, old data {old}");
    let (file, _, loading) = watch_a_slow_sync("on-empty-db", false);
    assert!(
        !file && loading,
        "on-empty-db: file {file}, loading {loading}"
    );
}
