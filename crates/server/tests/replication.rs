//! Replication with the real redis-server (issue 15), replica side: Basalt follows a Redis
//! master. A full sync of every type (streams with groups, HyperLogLogs, small and large
//! encodings, expiries, several databases), then thousands of mixed writes streamed; the link
//! cut by the master and a partial resync (`+CONTINUE`, no second full sync); the replica
//! refuses clients' writes; REPLICAOF NO ONE makes it a master with a new replication ID.

mod common;

use std::time::Duration;

use common::repl::{caught_up, fill, offset, text, wait_for, writes};
use common::ServerProc;

fn redis_master() -> Option<ServerProc> {
    common::redis()?;
    // No delay before a diskless transfer (Redis 7.0 waits 5 s for more replicas).
    Some(common::redis_with(&["--repl-diskless-sync-delay", "0"]))
}

#[test]
fn basalt_follows_a_redis_master_through_full_and_partial_resync() {
    let Some(redis) = redis_master() else { return };
    let mut m = redis.conn();
    fill(&mut m);
    let port = redis.port.to_string();
    let basalt = common::basalt(&["--replicaof", "127.0.0.1", &port]);
    let mut r = basalt.conn();
    caught_up(&mut m, &mut r);
    assert_eq!(
        common::dataset(&mut r),
        common::dataset(&mut m),
        "full sync"
    );
    writes(&mut m, 1, 3000);
    caught_up(&mut m, &mut r);
    assert_eq!(common::dataset(&mut r), common::dataset(&mut m), "streamed");
    assert_eq!(
        text(&r.cmd_str(&["SET", "x", "1"])),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    let role = common::elements(&r.cmd_str(&["ROLE"])).expect("ROLE");
    assert_eq!(text(&role[0]), "$5\r\nslave\r\n");
    assert_eq!(text(&role[3]), "$9\r\nconnected\r\n");

    // The master drops the link; writes go on; the replica continues where it was.
    assert_eq!(
        text(&m.cmd_str(&["CLIENT", "KILL", "TYPE", "replica"])),
        ":1\r\n"
    );
    writes(&mut m, 2, 500);
    caught_up(&mut m, &mut r);
    assert_eq!(
        common::dataset(&mut r),
        common::dataset(&mut m),
        "after a partial resync"
    );
    assert_eq!(common::info_field_in(&mut m, "stats", "sync_full"), "1");
    assert_eq!(
        common::info_field_in(&mut m, "stats", "sync_partial_ok"),
        "1"
    );

    // A master again: writable, under a new ID, the old one kept as the second.
    let old_id = offset(&mut r, "master_replid");
    assert_eq!(text(&r.cmd_str(&["REPLICAOF", "NO", "ONE"])), "+OK\r\n");
    assert_eq!(offset(&mut r, "role"), "master");
    assert_eq!(offset(&mut r, "master_replid2"), old_id);
    assert_ne!(offset(&mut r, "master_replid"), old_id);
    assert_eq!(text(&r.cmd_str(&["SET", "x", "1"])), "+OK\r\n");
    // The old master's writes no longer arrive.
    m.cmd_str(&["SET", "after-promotion", "1"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(text(&r.cmd_str(&["EXISTS", "after-promotion"])), ":0\r\n");
}

#[test]
fn replicaof_at_run_time_replaces_the_data_and_expiry_waits_for_the_master() {
    let Some(redis) = redis_master() else { return };
    let mut m = redis.conn();
    m.cmd_str(&["SET", "from-master", "1"]);
    m.cmd_str(&["SET", "short", "v", "PX", "300"]);
    let basalt = common::basalt(&[]);
    let mut r = basalt.conn();
    r.cmd_str(&["SET", "local-only", "1"]);
    let port = redis.port.to_string();
    assert_eq!(
        text(&r.cmd_str(&["REPLICAOF", "127.0.0.1", &port])),
        "+OK\r\n"
    );
    assert_eq!(
        text(&r.cmd_str(&["REPLICAOF", "127.0.0.1", &port])),
        "+OK Already connected to specified master\r\n"
    );
    caught_up(&mut m, &mut r);
    assert_eq!(text(&r.cmd_str(&["EXISTS", "local-only"])), ":0\r\n");
    assert_eq!(text(&r.cmd_str(&["GET", "from-master"])), "$1\r\n1\r\n");
    assert_eq!(
        text(&r.cmd_str(&["REPLICAOF", "127.0.0.1", "70000"])),
        "-ERR Invalid master port\r\n"
    );
    // Once expired, the key reads as missing on the replica at once, and is gone for good
    // when the master's DEL arrives.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(text(&r.cmd_str(&["GET", "short"])), "$-1\r\n");
    assert_eq!(text(&m.cmd_str(&["GET", "short"])), "$-1\r\n");
    caught_up(&mut m, &mut r);
    assert_eq!(text(&r.cmd_str(&["DBSIZE"])), text(&m.cmd_str(&["DBSIZE"])));
}

/// A fake master for the failure paths: accepts the replica's connection and answers its
/// handshake, returning the PSYNC arguments; the test then sends what it wants.
struct FakeMaster {
    listener: std::net::TcpListener,
}

impl FakeMaster {
    fn new() -> FakeMaster {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        FakeMaster { listener }
    }

    fn port(&self) -> String {
        self.listener.local_addr().expect("addr").port().to_string()
    }

    /// The next connection, its handshake answered up to PSYNC (whose arguments are returned).
    fn handshake(&self) -> (std::net::TcpStream, Vec<String>) {
        use std::io::{Read, Write};
        self.listener.set_nonblocking(false).expect("blocking");
        let (mut s, _) = self.listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).expect("read");
            assert!(n > 0, "the replica closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
            while let Some((args, used)) = parse_command(&buf) {
                buf.drain(..used);
                match args[0].to_ascii_uppercase().as_str() {
                    "PSYNC" => return (s, args),
                    "PING" => s.write_all(b"+PONG\r\n").expect("write"),
                    _ => s.write_all(b"+OK\r\n").expect("write"),
                }
            }
        }
    }
}

/// One RESP array of bulk strings at the start of `buf`, and its length.
fn parse_command(buf: &[u8]) -> Option<(Vec<String>, usize)> {
    let line = |at: usize| -> Option<(String, usize)> {
        let end = buf[at..].windows(2).position(|w| w == b"\r\n")? + at;
        Some((text(&buf[at..end]), end + 2))
    };
    let (head, mut at) = line(0)?;
    let n: usize = head.strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::new();
    for _ in 0..n {
        let (len, next) = line(at)?;
        let len: usize = len.strip_prefix('$')?.parse().ok()?;
        if buf.len() < next + len + 2 {
            return None;
        }
        args.push(text(&buf[next..next + len]));
        at = next + len + 2;
    }
    Some((args, at))
}

/// An RDB file with no keys and no checksum (a zero checksum is not checked).
const EMPTY_RDB: &[u8] = b"REDIS0010\xff\0\0\0\0\0\0\0\0";

#[test]
fn a_bad_master_is_retried_and_the_replica_keeps_serving() {
    use std::io::Write;
    let fake = FakeMaster::new();
    let basalt = common::basalt(&[]);
    let mut r = basalt.conn();
    r.cmd_str(&["SET", "mine", "1"]);
    assert_eq!(
        text(&r.cmd_str(&["REPLICAOF", "127.0.0.1", &fake.port()])),
        "+OK\r\n"
    );

    // Garbage instead of a PSYNC reply: the link is dropped and tried again.
    let (mut s, args) = fake.handshake();
    assert_eq!(args, ["PSYNC", "?", "-1"]);
    s.write_all(b"what is this\r\n").expect("write");
    drop(s);
    assert_eq!(text(&r.cmd_str(&["PING"])), "+PONG\r\n");

    // A corrupt payload: refused, and nothing of it is left in the keyspace.
    let (mut s, _) = fake.handshake();
    let id = "a".repeat(40);
    let corrupt = b"REDIS0010\xfe\x00\x00\x01k\x01vgarbage!";
    s.write_all(format!("+FULLRESYNC {id} 100\r\n${}\r\n", corrupt.len()).as_bytes())
        .expect("write");
    s.write_all(corrupt).expect("write");
    let (s2, _) = {
        drop(s);
        fake.handshake()
    };
    assert_eq!(text(&r.cmd_str(&["DBSIZE"])), ":0\r\n");
    drop(s2);

    // A good sync, then a stream cut in the middle of a command: the whole command before
    // the cut is applied, the partial one is not, and PSYNC continues right after it.
    let (mut s, _) = fake.handshake();
    s.write_all(format!("+FULLRESYNC {id} 100\r\n${}\r\n", EMPTY_RDB.len()).as_bytes())
        .expect("write");
    s.write_all(EMPTY_RDB).expect("write");
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    s.write_all(set).expect("write");
    s.write_all(b"*3\r\n$3\r\nSET\r\n$2\r\nk2").expect("write");
    wait_for("the streamed SET", || {
        r.cmd_str(&["GET", "k"]) == b"$1\r\nv\r\n"
    });
    drop(s);
    let (mut s, args) = fake.handshake();
    assert_eq!(args, ["PSYNC", &id, &(100 + set.len() + 1).to_string()]);
    s.write_all(b"+CONTINUE\r\n").expect("write");
    s.write_all(b"*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$1\r\nw\r\n")
        .expect("write");
    wait_for("the SET after the partial resync", || {
        r.cmd_str(&["GET", "k2"]) == b"$1\r\nw\r\n"
    });
    assert_eq!(text(&r.cmd_str(&["EXISTS", "mine"])), ":0\r\n");
    assert_eq!(text(&r.cmd_str(&["REPLICAOF", "NO", "ONE"])), "+OK\r\n");
}
