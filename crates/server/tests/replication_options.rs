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
