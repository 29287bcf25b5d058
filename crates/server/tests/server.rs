//! Whole-server behaviour: start-up and configuration, signals and SHUTDOWN, active expiry,
//! SCAN while the keyspace grows, atomicity across threads, client management.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{basalt, basalt_bin, elements, show, Conn};

fn int_of(reply: &[u8]) -> i64 {
    std::str::from_utf8(&reply[1..reply.len() - 2])
        .expect("utf8")
        .parse()
        .expect("integer reply")
}

fn bulk_text(reply: &[u8]) -> String {
    let start = reply.windows(2).position(|w| w == b"\r\n").expect("header") + 2;
    String::from_utf8_lossy(&reply[start..reply.len() - 2]).into_owned()
}

#[test]
fn bad_config_is_refused_like_redis() {
    let out = Command::new(basalt_bin())
        .args(["--port", "0", "--foo", "bar"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"),
        "{err}"
    );
    assert!(
        err.contains(">>> 'foo \"bar\"'\nBad directive or wrong number of arguments"),
        "{err}"
    );
    let out = Command::new(basalt_bin())
        .args(["--timeout", "abc"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("argument couldn't be parsed into an integer"));
    let out = Command::new(basalt_bin())
        .arg("--version")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Redis 7.0.15 compatible"));
}

#[test]
fn config_file_get_set_and_rewrite() {
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("basalt.conf");
    let port = common::free_port();
    std::fs::write(
        &conf,
        format!("# my config\nport {port}\nbind 127.0.0.1\ntimeout 7\nmaxmemory 1mb\n"),
    )
    .expect("write");
    let mut child = Command::new(basalt_bin())
        .arg(&conf)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Conn::connect(port);
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "timeout"]),
        b"*2\r\n$7\r\ntimeout\r\n$1\r\n7\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "timeout", "9", "loglevel", "warning"]),
        b"+OK\r\n"
    );
    // All or nothing: the bad second pair leaves the first unchanged.
    let r = c.cmd_str(&["CONFIG", "SET", "timeout", "11", "hz", "x"]);
    assert!(
        r.starts_with(b"-ERR CONFIG SET failed (possibly related to argument 'hz')"),
        "{}",
        show(&r)
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "GET", "timeout"]),
        b"*2\r\n$7\r\ntimeout\r\n$1\r\n9\r\n"
    );
    assert_eq!(c.cmd_str(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    let text = std::fs::read_to_string(&conf).expect("read");
    assert!(text.starts_with("# my config\n"), "{text}");
    assert!(text.contains("\ntimeout 9\n"), "{text}");
    assert!(text.contains("loglevel warning"), "{text}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigterm_shuts_down_cleanly_and_removes_pidfile() {
    let mut s = basalt(&["--pidfile", "basalt.pid"]);
    let pidfile = s.dir.path().join("basalt.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pidfile").trim(),
        s.pid().to_string()
    );
    let status = s.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", s.log());
    assert!(!pidfile.exists());
    let log = s.log();
    assert!(log.contains("Ready to accept connections"), "{log}");
    assert!(
        log.contains("Received SIGTERM scheduling shutdown..."),
        "{log}"
    );
    assert!(log.contains("ready to exit, bye bye"), "{log}");
}

#[test]
fn shutdown_command_stops_the_server() {
    let mut s = basalt(&[]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd_str(&["SHUTDOWN", "ABORT"]),
        b"-ERR No shutdown in progress.\r\n"
    );
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(
        c.try_read_reply().is_none(),
        "SHUTDOWN closes without a reply"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = s.child.try_wait().expect("wait") {
            assert!(status.success());
            break;
        }
        assert!(Instant::now() < deadline, "server still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let s = basalt(&["--hz", "50"]);
    let mut c = s.conn();
    let mut batch = Vec::new();
    for i in 0..2000 {
        let k = format!("k{i}");
        let px: &[u8] = if i % 2 == 0 { b"1000" } else { b"100000" };
        batch.extend_from_slice(&common::encode(&[b"SET", k.as_bytes(), b"v", b"PX", px]));
    }
    c.send_raw(&batch);
    for _ in 0..2000 {
        assert_eq!(c.read_reply(), b"+OK\r\n");
    }
    assert_eq!(c.cmd_str(&["DBSIZE"]), b":2000\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while int_of(&c.cmd_str(&["DBSIZE"])) != 1000 {
        assert!(Instant::now() < deadline, "expired keys were not collected");
        std::thread::sleep(Duration::from_millis(50));
    }
    let info = bulk_text(&c.cmd_str(&["INFO", "stats"]));
    assert!(info.contains("expired_keys:1000\r\n"), "{info}");
    let keyspace = bulk_text(&c.cmd_str(&["INFO", "keyspace"]));
    assert!(
        keyspace.contains("db0:keys=1000,expires=1000"),
        "{keyspace}"
    );
}

#[test]
fn scan_returns_every_key_present_for_the_whole_scan_while_growing() {
    let s = basalt(&[]);
    let mut c = s.conn();
    let mut writer = s.conn();
    for i in 0..3000 {
        c.cmd_str(&["SET", &format!("stable:{i}"), "v"]);
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut added = 0;
    loop {
        let reply = c.cmd_str(&["SCAN", &cursor, "COUNT", "50"]);
        let parts = elements(&reply).expect("array");
        cursor = bulk_text(&parts[0]);
        for k in elements(&parts[1]).expect("keys") {
            seen.insert(bulk_text(&k));
        }
        // Grow the keyspace between calls so tables resize under the cursor.
        for _ in 0..100 {
            writer.cmd_str(&["SET", &format!("new:{added}"), "v"]);
            added += 1;
        }
        if cursor == "0" {
            break;
        }
    }
    for i in 0..3000 {
        assert!(
            seen.contains(&format!("stable:{i}")),
            "SCAN missed stable:{i}"
        );
    }
}

#[test]
fn concurrent_multi_key_commands_are_atomic_across_shards() {
    let s = basalt(&["--io-threads", "2", "--shards", "64"]);
    let port = s.port;
    let keys: Vec<String> = (0..8).map(|i| format!("acct:{i}")).collect();
    let mut c = s.conn();
    let mut mset = vec!["MSET".to_string()];
    for k in &keys {
        mset.push(k.clone());
        mset.push("0".into());
    }
    let args: Vec<&str> = mset.iter().map(String::as_str).collect();
    c.cmd_str(&args);
    // Writers set all keys to the same value with one MSET; readers must never see a mix.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (keys, stop) = (keys.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut c = Conn::connect(port);
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let v = format!("{w}-{n}");
                let mut args = vec!["MSET"];
                for k in &keys {
                    args.push(k);
                    args.push(&v);
                }
                assert_eq!(c.cmd_str(&args), b"+OK\r\n");
            }
        }));
    }
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    for _ in 0..2000 {
        let values = elements(&c.cmd_str(&mget)).expect("array");
        assert!(
            values.windows(2).all(|w| w[0] == w[1]),
            "torn MSET: {:?}",
            values.iter().map(|v| show(v)).collect::<Vec<_>>()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
}

#[test]
fn incr_from_many_clients_loses_nothing() {
    let s = basalt(&[]);
    let port = s.port;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(port);
                let mut batch = Vec::new();
                for _ in 0..1000 {
                    batch.extend_from_slice(&common::encode(&[b"INCR", b"n"]));
                }
                c.send_raw(&batch);
                for _ in 0..1000 {
                    c.read_reply();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    assert_eq!(s.conn().cmd_str(&["GET", "n"]), b"$4\r\n8000\r\n");
}

#[test]
fn client_kill_list_setname_and_reply_modes() {
    let s = basalt(&[]);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(b.cmd_str(&["CLIENT", "SETNAME", "victim"]), b"+OK\r\n");
    let b_id = int_of(&b.cmd_str(&["CLIENT", "ID"]));
    let list = bulk_text(&a.cmd_str(&["CLIENT", "LIST"]));
    assert!(
        list.contains(&format!("id={b_id} ")) && list.contains("name=victim"),
        "{list}"
    );
    assert!(list.contains("cmd=client|list"), "{list}");
    let b_line = list
        .lines()
        .find(|l| l.starts_with(&format!("id={b_id} ")))
        .expect("b listed");
    assert!(b_line.contains("cmd=client|id"), "{b_line}");
    assert_eq!(
        a.cmd_str(&["CLIENT", "KILL", "ID", &b_id.to_string()]),
        b":1\r\n"
    );
    assert!(b.is_closed(), "killed client still open");
    // CLIENT REPLY OFF/SKIP/ON.
    a.send(&[b"CLIENT", b"REPLY", b"OFF"]);
    a.send(&[b"SET", b"x", b"1"]);
    a.send(&[b"CLIENT", b"REPLY", b"SKIP"]);
    a.send(&[b"CLIENT", b"REPLY", b"ON"]);
    assert_eq!(a.read_reply(), b"+OK\r\n");
    a.send(&[b"CLIENT", b"REPLY", b"SKIP"]);
    a.send(&[b"GET", b"x"]);
    assert_eq!(a.cmd_str(&["GET", "x"]), b"$1\r\n1\r\n");
}

#[test]
fn maxclients_refuses_extra_connections() {
    let s = basalt(&["--maxclients", "3"]);
    // The start-up probes may still count for a moment: retry until each client is accepted.
    let accepted = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut c = s.conn();
            if c.cmd_str(&["PING"]) == b"+PONG\r\n" {
                return c;
            }
            assert!(Instant::now() < deadline, "no client slot freed up");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut a = accepted();
    let _b = accepted();
    let _c = accepted();
    let mut d = s.conn();
    assert_eq!(
        d.try_read_reply().as_deref(),
        Some(&b"-ERR max number of clients reached\r\n"[..])
    );
    let info = bulk_text(&a.cmd_str(&["INFO", "stats"]));
    assert!(info.contains("rejected_connections:1\r\n"), "{info}");
}

#[test]
fn idle_clients_time_out() {
    let s = basalt(&["--timeout", "1"]);
    let mut idle = s.conn();
    assert_eq!(idle.cmd_str(&["PING"]), b"+PONG\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(idle.is_closed(), "idle client was not closed after timeout");
}

#[test]
fn unix_socket_serves_commands() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("basalt.sock");
    let s = basalt(&[
        "--unixsocket",
        path.to_str().expect("utf8"),
        "--unixsocketperm",
        "700",
    ]);
    let mut u = std::os::unix::net::UnixStream::connect(&path).expect("connect unix");
    u.write_all(b"PING\r\n").expect("write");
    let mut buf = [0u8; 7];
    u.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"+PONG\r\n");
    drop(s);
}

#[test]
fn info_reports_redis_sections_and_basalt_version() {
    let s = basalt(&[]);
    let mut c = s.conn();
    c.cmd_str(&["SET", "a", "1"]);
    c.cmd_str(&["GET", "a"]);
    c.cmd_str(&["GET", "nope"]);
    c.cmd_str(&["LPOPX"]);
    let all = bulk_text(&c.cmd_str(&["INFO", "everything"]));
    for needle in [
        "# Server\r\nredis_version:7.0.15\r\n",
        "basalt_version:",
        "# Clients\r\nconnected_clients:1\r\n",
        "# Memory\r\nused_memory:",
        "# Persistence\r\n",
        "# Stats\r\n",
        "keyspace_hits:1\r\nkeyspace_misses:1\r\n",
        "# Replication\r\nrole:master\r\n",
        "# CPU\r\nused_cpu_sys:",
        "# Errorstats\r\nerrorstat_ERR:count=1\r\n",
        "cmdstat_get:calls=2,",
        "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in\n{all}");
    }
    let used: u64 = all
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    assert!(used > 100_000, "used_memory looks wrong: {used}");
}
