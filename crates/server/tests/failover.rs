//! FAILOVER (issue 15), against redis-server: its errors byte for byte; a coordinated
//! failover from a Basalt master to a Basalt replica and to a redis-server replica, and from a
//! redis-server master to a Basalt replica — the roles swap, the old master continues as a
//! replica by partial resync (no full sync on either side), writes held meanwhile; a replica
//! that never catches up makes the failover abort at its TIMEOUT, and FAILOVER ABORT ends it,
//! releasing the writes it held.

mod common;

use std::io::Write;

use common::repl::{caught_up, offset, text, wait_for, writes};
use common::{Conn, ServerProc};

fn stat(c: &mut Conn, field: &str) -> String {
    common::info_field_in(c, "stats", field)
}

/// Replies to FAILOVER's bad forms on a master without replicas, and on a replica.
fn failover_errors(master: &ServerProc, replica: &ServerProc) -> Vec<String> {
    let mut m = master.conn();
    let mut r = replica.conn();
    let mut out: Vec<String> = [
        &["FAILOVER", "ABORT"][..],
        &["FAILOVER", "TO"],
        &["FAILOVER", "TIMEOUT", "0"],
        &["FAILOVER", "TIMEOUT", "-5"],
        &["FAILOVER", "TIMEOUT", "x"],
        &["FAILOVER", "TO", "h", "x"],
        &["FAILOVER", "FORCE", "FORCE"],
        &["FAILOVER", "ABORT", "x"],
        &["FAILOVER", "TIMEOUT", "10", "TIMEOUT", "10"],
        &["FAILOVER", "FORCE", "TIMEOUT", "10"],
        &["FAILOVER", "TO", "127.0.0.1", "1"],
    ]
    .iter()
    .map(|cmd| text(&m.cmd_str(cmd)))
    .collect();
    out.push(text(&r.cmd_str(&["FAILOVER"])));
    out.push(text(&r.cmd_str(&["FAILOVER", "ABORT"])));
    out.push(offset(&mut m, "master_failover_state"));
    out
}

#[test]
fn failover_errors_as_redis() {
    if common::redis().is_none() {
        return;
    }
    let basalt = common::basalt(&[]);
    let basalt_replica = replica(&basalt, true);
    let redis = common::redis_with(&[]);
    let redis_replica = replica(&redis, false);
    caught_up(&mut basalt.conn(), &mut basalt_replica.conn());
    caught_up(&mut redis.conn(), &mut redis_replica.conn());
    let ours = failover_errors(&basalt, &basalt_replica);
    assert_eq!(ours, failover_errors(&redis, &redis_replica));
    assert_eq!(
        ours[10],
        "-ERR FAILOVER target HOST and PORT is not a replica.\r\n"
    );
    // A master without replicas.
    let lone = [common::basalt(&[]), common::redis_with(&[])];
    let replies: Vec<String> = lone
        .iter()
        .map(|s| text(&s.conn().cmd_str(&["FAILOVER"])))
        .collect();
    assert_eq!(replies[0], replies[1]);
    assert_eq!(replies[0], "-ERR FAILOVER requires connected replicas.\r\n");
}

fn replica(master: &ServerProc, basalt: bool) -> ServerProc {
    let port = master.port.to_string();
    let args = ["--replicaof", "127.0.0.1", &port];
    if basalt {
        common::basalt(&args)
    } else {
        common::redis_with(&args)
    }
}

fn master(basalt: bool) -> ServerProc {
    let args = ["--repl-diskless-sync-delay", "0"];
    if basalt {
        common::basalt(&args)
    } else {
        common::redis_with(&args)
    }
}

/// FAILOVER TO the replica: the roles swap with one history and no full sync.
fn hand_over(old: &ServerProc, new: &ServerProc) {
    let mut m = old.conn();
    let mut r = new.conn();
    common::repl::fill(&mut m);
    writes(&mut m, 1, 2000);
    caught_up(&mut m, &mut r);
    let before = common::dataset(&mut m);
    let full_syncs = stat(&mut m, "sync_full");
    let target = new.port.to_string();
    assert_eq!(
        text(&m.cmd_str(&["FAILOVER", "TO", "127.0.0.1", &target, "TIMEOUT", "10000"])),
        "+OK\r\n"
    );
    wait_for("the roles to swap", || {
        offset(&mut r, "role") == "master"
            && offset(&mut m, "role") == "slave"
            && offset(&mut m, "master_link_status") == "up"
            && offset(&mut m, "master_failover_state") == "no-failover"
    });
    assert_eq!(offset(&mut m, "master_port"), target);
    assert_eq!(
        common::dataset(&mut r),
        before,
        "the new master has every write"
    );
    // The old master continued: no full sync was served by either side.
    assert_eq!(stat(&mut m, "sync_full"), full_syncs);
    assert_eq!(stat(&mut r, "sync_full"), "0");
    assert_eq!(
        text(&m.cmd_str(&["SET", "x", "1"])),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    // Writes go on at the new master and reach the old one.
    writes(&mut r, 2, 500);
    caught_up(&mut r, &mut m);
    assert_eq!(common::dataset(&mut m), common::dataset(&mut r));
}

#[test]
fn failover_from_basalt_to_basalt() {
    let old = master(true);
    let new = replica(&old, true);
    hand_over(&old, &new);
}

#[test]
fn failover_from_basalt_to_redis_and_from_redis_to_basalt() {
    if common::redis().is_none() {
        return;
    }
    let old = master(true);
    let new = replica(&old, false);
    hand_over(&old, &new);
    let old = master(false);
    let new = replica(&old, true);
    hand_over(&old, &new);
}

/// A replica that syncs but never acknowledges anything (it announces port 1).
fn silent_replica(master: &ServerProc) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(master.addr()).expect("connect");
    s.write_all(&common::encode(&[b"REPLCONF", b"listening-port", b"1"]))
        .expect("write");
    s.write_all(&common::encode(&[b"PSYNC", b"?", b"-1"]))
        .expect("write");
    let mut m = master.conn();
    wait_for("the silent replica online", || {
        text(&m.cmd_str(&["INFO", "replication"])).contains("port=1,state=online")
    });
    s
}

#[test]
fn a_failover_that_cannot_complete_aborts_and_releases_writes() {
    let basalt = master(true);
    let _silent = silent_replica(&basalt);
    let mut m = basalt.conn();
    // TIMEOUT without FORCE: aborted when it passes, a master still.
    assert_eq!(
        text(&m.cmd_str(&["FAILOVER", "TO", "127.0.0.1", "1", "TIMEOUT", "300"])),
        "+OK\r\n"
    );
    assert_eq!(offset(&mut m, "master_failover_state"), "waiting-for-sync");
    assert_eq!(
        text(&m.cmd_str(&["FAILOVER"])),
        "-ERR FAILOVER already in progress.\r\n"
    );
    assert_eq!(
        text(&m.cmd_str(&["REPLICAOF", "NO", "ONE"])),
        "-ERR REPLICAOF not allowed while failing over.\r\n"
    );
    wait_for("the timeout to abort", || {
        offset(&mut m, "master_failover_state") == "no-failover"
    });
    assert_eq!(offset(&mut m, "role"), "master");
    assert_eq!(text(&m.cmd_str(&["SET", "a", "1"])), "+OK\r\n");

    // Writes wait while a failover waits; FAILOVER ABORT releases them.
    assert_eq!(text(&m.cmd_str(&["FAILOVER"])), "+OK\r\n");
    let mut writer = basalt.conn();
    writer.send(&[b"SET", b"b", b"2"]);
    assert!(
        !writer.has_data_within(300),
        "a write ran during the failover"
    );
    // Reads are not held.
    assert_eq!(text(&m.cmd_str(&["GET", "a"])), "$1\r\n1\r\n");
    assert_eq!(text(&m.cmd_str(&["FAILOVER", "ABORT"])), "+OK\r\n");
    assert_eq!(text(&writer.read_reply()), "+OK\r\n");
    assert_eq!(offset(&mut m, "master_failover_state"), "no-failover");
    assert_eq!(offset(&mut m, "role"), "master");
    assert!(basalt.log().contains("aborted: Failover manually aborted"));
}
