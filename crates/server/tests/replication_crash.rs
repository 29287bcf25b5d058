//! Crashes around replication (issue 15, interoperability test 6): a replica SIGKILLed during
//! its full sync and during streaming, a master SIGKILLed during a diskless transfer. The
//! replica restarts from its own files with a consistent dataset — the old one or the new
//! one, never a half-loaded mix, no temporary file left behind — and syncs again to equal
//! the master. The master's transfers are slowed with `rdb-key-save-delay` so the kills land
//! mid-transfer.

mod common;

use std::time::{Duration, Instant};

use common::repl::{caught_up, offset, text, wait_for};
use common::{Conn, ServerProc};

const KEYS: usize = 60_000;

/// `KEYS` string keys, in pipelined MSETs.
fn populate(c: &mut Conn) {
    for batch in 0..KEYS / 1000 {
        let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in batch * 1000..(batch + 1) * 1000 {
            args.push(format!("key:{i}").into_bytes());
            args.push(format!("value-{i}-{}", "x".repeat(40)).into_bytes());
        }
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(c.cmd(&refs), b"+OK\r\n");
    }
}

fn dir_arg(dir: &std::path::Path) -> String {
    dir.to_str().expect("utf-8 path").to_string()
}

/// A Basalt replica keeping its data in `dir` with the log on.
fn replica_in(dir: &std::path::Path, master: Option<u16>) -> ServerProc {
    let d = dir_arg(dir);
    let port = master.map(|p| p.to_string());
    let mut args = vec!["--dir", &d, "--appendonly", "yes", "--save", ""];
    if let Some(p) = port.as_deref() {
        args.extend(["--replicaof", "127.0.0.1", p]);
    }
    common::basalt(&args)
}

fn kill(p: &mut ServerProc) {
    let _ = p.child.kill();
    let _ = p.child.wait();
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("temp-"))
                .collect()
        })
        .unwrap_or_default()
}

fn dbsize(c: &mut Conn) -> String {
    text(&c.cmd_str(&["DBSIZE"]))
}

#[test]
fn a_replica_killed_during_full_sync_and_streaming_comes_back_consistent() {
    let master = common::basalt(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    populate(&mut m);
    // About 60,000 × 25 µs: a transfer of more than a second.
    m.cmd_str(&["CONFIG", "SET", "rdb-key-save-delay", "25"]);
    let dir = tempfile::tempdir().expect("dir");
    let mut r = replica_in(dir.path(), None);
    assert_eq!(text(&r.conn().cmd_str(&["SET", "mine", "1"])), "+OK\r\n");
    let port = master.port.to_string();
    let mut rc = r.conn();
    rc.cmd_str(&["REPLICAOF", "127.0.0.1", &port]);
    wait_for("the transfer to start", || {
        offset(&mut rc, "master_sync_in_progress") == "1"
    });
    std::thread::sleep(Duration::from_millis(200));
    kill(&mut r);
    drop(rc);
    // A SIGKILLed process cannot remove its partial payload (Redis's replicas leave theirs
    // too); later syncs must leave none of their own.
    let left_by_kill = temp_files(dir.path());

    // Restarted alone: its own dataset from before the sync, whole.
    let r = replica_in(dir.path(), None);
    let mut rc = r.conn();
    assert_eq!(dbsize(&mut rc), ":1\r\n", "{}", r.log());
    assert_eq!(text(&rc.cmd_str(&["GET", "mine"])), "$1\r\n1\r\n");
    drop(rc);
    drop(r);

    // Then following the master: a full sync to its data.
    m.cmd_str(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let mut r = replica_in(dir.path(), Some(master.port));
    let mut rc = r.conn();
    caught_up(&mut m, &mut rc);
    assert_eq!(dbsize(&mut rc), format!(":{KEYS}\r\n"));

    // Killed while the stream flows: restarted alone, its log loads without error and
    // holds the synced data (the rewrite after the sync made it the log's base).
    wait_for("the log rewritten after the sync", || {
        common::info_field_in(&mut rc, "persistence", "aof_rewrite_in_progress") == "0"
            && common::info_field_in(&mut rc, "persistence", "aof_last_bgrewrite_status") == "ok"
    });
    let mut writer = master.conn();
    let stop = Instant::now() + Duration::from_millis(400);
    let mut n = 0;
    while Instant::now() < stop {
        writer.cmd_str(&["INCR", "counter"]);
        n += 1;
    }
    kill(&mut r);
    drop(rc);
    let r = replica_in(dir.path(), None);
    let mut rc = r.conn();
    let size: usize = dbsize(&mut rc)
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("DBSIZE");
    assert!(size >= KEYS, "the synced data is gone: {size} keys");
    let counter: i64 = text(&rc.cmd_str(&["GET", "counter"]))
        .lines()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(counter <= n, "more increments than were made");
    drop(rc);
    drop(r);
    let r = replica_in(dir.path(), Some(master.port));
    let mut rc = r.conn();
    caught_up(&mut m, &mut rc);
    assert_eq!(common::dataset(&mut rc), common::dataset(&mut m));
    assert_eq!(temp_files(dir.path()), left_by_kill);
}

#[test]
fn a_master_killed_during_a_diskless_transfer_leaves_the_replica_whole() {
    let mdir = tempfile::tempdir().expect("dir");
    let md = dir_arg(mdir.path());
    let master_args = [
        "--dir",
        &md,
        "--appendonly",
        "yes",
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ];
    let mut master = common::basalt(&master_args);
    let mut m = master.conn();
    populate(&mut m);
    m.cmd_str(&["CONFIG", "SET", "rdb-key-save-delay", "25"]);
    let rdir = tempfile::tempdir().expect("dir");
    let r = replica_in(rdir.path(), None);
    let mut rc = r.conn();
    rc.cmd_str(&["SET", "mine", "1"]);
    let port = master.port;
    rc.cmd_str(&["REPLICAOF", "127.0.0.1", &port.to_string()]);
    wait_for("the transfer to start", || {
        offset(&mut rc, "master_sync_in_progress") == "1"
    });
    std::thread::sleep(Duration::from_millis(300));
    kill(&mut master);
    drop(m);
    wait_for("the replica to see the link down", || {
        offset(&mut rc, "master_sync_in_progress") == "0"
            && offset(&mut rc, "master_link_status") == "down"
    });
    // The old data stays served, whole; the partial payload is gone.
    assert_eq!(dbsize(&mut rc), ":1\r\n");
    assert!(
        temp_files(rdir.path()).is_empty(),
        "{:?}",
        temp_files(rdir.path())
    );

    // The master comes back (from its log) on the same port; the replica syncs again.
    let master = common::basalt_at(port, &master_args);
    let mut m = master.conn();
    assert_eq!(dbsize(&mut m), format!(":{KEYS}\r\n"));
    caught_up(&mut m, &mut rc);
    assert_eq!(common::dataset(&mut rc), common::dataset(&mut m));
}

/// A replica restarted from its RDB (saved at SHUTDOWN with the replication ID and offset,
/// as Redis saves them) continues with a partial resync, and so do the replicas of a
/// restarted master (PSYNC2 across restarts, as Redis 7.0).
#[test]
fn restarts_continue_by_partial_resync() {
    if common::redis().is_none() {
        return;
    }
    // A Basalt replica of a Redis master, restarted.
    let redis = common::redis_with(&["--repl-diskless-sync-delay", "0"]);
    let mut m = redis.conn();
    common::repl::fill(&mut m);
    let dir = tempfile::tempdir().expect("dir");
    let d = dir_arg(dir.path());
    let port = redis.port.to_string();
    let replica_args = ["--dir", &d, "--replicaof", "127.0.0.1", &port];
    let mut r = common::basalt(&replica_args);
    caught_up(&mut m, &mut r.conn());
    r.conn().send(&[b"SHUTDOWN"]);
    let _ = r.child.wait();
    common::repl::writes(&mut m, 1, 200);
    let r = common::basalt(&replica_args);
    let mut rc = r.conn();
    caught_up(&mut m, &mut rc);
    assert_eq!(common::dataset(&mut rc), common::dataset(&mut m));
    let stats = |c: &mut Conn, f: &str| common::info_field_in(c, "stats", f);
    assert_eq!(stats(&mut m, "sync_full"), "1", "{}", r.log());
    assert_eq!(stats(&mut m, "sync_partial_ok"), "1");

    // A Basalt master with a Redis replica, restarted on its port.
    let mdir = tempfile::tempdir().expect("dir");
    let md = dir_arg(mdir.path());
    let master_args = ["--dir", &md, "--repl-diskless-sync-delay", "0"];
    let master = common::basalt(&master_args);
    let mport = master.port;
    let mut bm = master.conn();
    common::repl::fill(&mut bm);
    let redis_replica = common::redis_with(&["--replicaof", "127.0.0.1", &mport.to_string()]);
    let mut rr = redis_replica.conn();
    caught_up(&mut bm, &mut rr);
    bm.send(&[b"SHUTDOWN"]);
    drop(bm);
    let mut master = master;
    let _ = master.child.wait();
    let master = common::basalt_at(mport, &master_args);
    let mut bm = master.conn();
    common::repl::writes(&mut bm, 2, 100);
    caught_up(&mut bm, &mut rr);
    assert_eq!(common::dataset(&mut rr), common::dataset(&mut bm));
    assert_eq!(stats(&mut bm, "sync_full"), "0", "{}", master.log());
    assert_eq!(stats(&mut bm, "sync_partial_ok"), "1");
}
