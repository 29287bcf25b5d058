//! Failover under Redis Sentinel (issue 15, interoperability test 5): three real
//! `redis-sentinel` processes monitor a Basalt master with two Basalt replicas; the master is
//! SIGKILLed under a write load from redis-py's Sentinel client; Sentinel promotes a replica
//! (REPLICAOF NO ONE inside MULTI, as Sentinel sends it), the other follows the new master,
//! the client reconnects by itself, and every write acknowledged with `WAIT 1` before the
//! kill is on the new master.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::repl::{caught_up, offset, text};
use common::{Conn, ServerProc};

/// One `redis-sentinel`, killed on drop (its log shown when the test failed).
struct Sentinel {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- sentinel {} log ---\n{log}", self.port);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sentinel(dir: &Path, master_port: u16) -> Sentinel {
    for _ in 0..5 {
        let port = common::free_port();
        let conf = dir.join(format!("sentinel-{port}.conf"));
        let log = dir.join(format!("sentinel-{port}.log"));
        // Sentinel rewrites its config file, so each has its own.
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\n\
             sentinel monitor mymaster 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds mymaster 1000\n\
             sentinel failover-timeout mymaster 10000\n",
            dir.display(),
            log.display()
        );
        std::fs::write(&conf, text).expect("sentinel config");
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-sentinel");
        let mut s = Sentinel { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(s.child.try_wait(), Ok(None)) {
                break;
            }
            if let Some(mut c) = Conn::try_connect(port) {
                if c.cmd_str(&["PING"]) == b"+PONG\r\n" {
                    return s;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("could not start redis-sentinel");
}

/// `SENTINEL MASTER mymaster` as name → value.
fn sentinel_master(s: &Sentinel) -> Vec<(String, String)> {
    let mut c = Conn::connect(s.port);
    let reply = c.cmd_str(&["SENTINEL", "MASTER", "mymaster"]);
    let fields = common::elements(&reply).unwrap_or_default();
    let bulk = |f: &[u8]| {
        let t = text(f);
        t.split("\r\n").nth(1).unwrap_or("").to_string()
    };
    fields
        .chunks(2)
        .filter(|p| p.len() == 2)
        .map(|p| (bulk(&p[0]), bulk(&p[1])))
        .collect()
}

fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The master's port as this sentinel names it.
fn master_port_of(s: &Sentinel) -> Option<u16> {
    let mut c = Conn::try_connect(s.port)?;
    let reply = c.cmd_str(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
    let parts = common::elements(&reply)?;
    text(parts.get(1)?).split("\r\n").nth(1)?.parse().ok()
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the tools this test drives are here; without them it skips loudly, unless CI
/// requires them (`BASALT_REQUIRE_REDIS=1`).
fn tools_present() -> bool {
    let works = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let present =
        works("redis-sentinel", &["--version"]) && works("python3", &["-c", "import redis"]);
    if !present {
        assert!(
            std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-sentinel and Python's redis module are needed"
        );
        eprintln!("\n!!! redis-sentinel or redis-py missing: SKIPPING\n");
    }
    present
}

/// The writer: redis-py's Sentinel client sets `k<i>` to `i` and waits for one replica's
/// acknowledgement; it retries through the failover on its own. At the end it writes which
/// writes were acknowledged.
const WRITER: &str = r#"
import json, os, sys, time
import redis
from redis.sentinel import Sentinel
ports, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
sentinel = Sentinel([("127.0.0.1", int(p)) for p in ports.split(",")], socket_timeout=1.0)
master = sentinel.master_for("mymaster", socket_timeout=1.0)
acked, failed, i = [], 0, 0
deadline = time.time() + 120
while not os.path.exists(stop) and time.time() < deadline:
    i += 1
    try:
        master.set("k%d" % i, i)
        if master.execute_command("WAIT", 1, 1000) >= 1:
            acked.append(i)
    except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
        failed += 1
        time.sleep(0.05)
with open(out, "w") as f:
    json.dump({"acked": acked, "failed": failed, "attempts": i}, f)
"#;

fn replica_of(master: &ServerProc) -> ServerProc {
    let port = master.port.to_string();
    common::basalt(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--repl-diskless-sync-delay",
        "0",
    ])
}

#[test]
fn sentinel_promotes_a_basalt_replica_and_acknowledged_writes_survive() {
    if !tools_present() {
        return;
    }
    let mut master = common::basalt(&["--repl-diskless-sync-delay", "0"]);
    let replicas = [replica_of(&master), replica_of(&master)];
    let mut m = master.conn();
    wait_until("both replicas online", Duration::from_secs(20), || {
        let info = text(&m.cmd_str(&["INFO", "replication"]));
        info.matches("state=online").count() == 2
    });
    let dir = tempfile::tempdir().expect("dir");
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|_| start_sentinel(dir.path(), master.port))
        .collect();
    // Each sentinel knows the two replicas (from the master's INFO) and the two other
    // sentinels (from their hello messages on the instances' `__sentinel__:hello`).
    wait_until(
        "sentinels to discover everything",
        Duration::from_secs(40),
        || {
            sentinels.iter().all(|s| {
                let f = sentinel_master(s);
                field(&f, "num-slaves") == "2" && field(&f, "num-other-sentinels") == "2"
            })
        },
    );

    let out = dir.path().join("acked.json");
    let stop = dir.path().join("stop");
    let ports: Vec<String> = sentinels.iter().map(|s| s.port.to_string()).collect();
    let mut writer = Command::new("python3")
        .args(["-c", WRITER, &ports.join(",")])
        .arg(&out)
        .arg(&stop)
        .stdin(Stdio::null())
        .spawn()
        .expect("python3");
    wait_until("writes to flow", Duration::from_secs(30), || {
        key_count(&mut m) >= 1000
    });

    // SIGKILL: no goodbye to the replicas, the sentinels find out by timeouts.
    let old_port = master.port;
    let _ = master.child.kill();
    let _ = master.child.wait();
    drop(m);
    let mut new_port = 0;
    wait_until("a failover", Duration::from_secs(60), || {
        match sentinels.iter().map(master_port_of).collect::<Vec<_>>()[..] {
            [Some(a), Some(b), Some(c)] if a != old_port && a == b && b == c => {
                new_port = a;
                true
            }
            _ => false,
        }
    });
    let (promoted, other) = if replicas[0].port == new_port {
        (&replicas[0], &replicas[1])
    } else {
        (&replicas[1], &replicas[0])
    };
    assert_eq!(promoted.port, new_port, "a replica was promoted");
    let mut p = promoted.conn();
    assert_eq!(offset(&mut p, "role"), "master");
    // The client goes on writing to the new master by itself.
    let at_promotion = key_count(&mut p);
    wait_until("writes on the new master", Duration::from_secs(30), || {
        key_count(&mut p) >= at_promotion + 300
    });
    std::fs::write(&stop, b"").expect("stop file");
    let status = writer.wait().expect("writer");
    assert!(status.success(), "the writer failed");
    let report = std::fs::read_to_string(&out).expect("writer report");
    let acked = parse_acked(&report);
    assert!(
        acked.len() > 800,
        "too few acknowledged writes: {report:.200}"
    );
    let tail = &report[report.rfind("\"failed\"").unwrap_or(0)..];
    eprintln!("{} writes acknowledged; {tail}", acked.len());

    // Every acknowledged write is on the new master.
    for chunk in acked.chunks(500) {
        let keys: Vec<String> = chunk.iter().map(|i| format!("k{i}")).collect();
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        let values = common::elements(&p.cmd(&args)).expect("MGET");
        for (i, v) in chunk.iter().zip(&values) {
            let want = format!("${}\r\n{i}\r\n", i.to_string().len());
            assert_eq!(text(v), want, "acknowledged write k{i} lost");
        }
    }
    // The other replica follows the new master and holds the same data.
    let mut o = other.conn();
    wait_until(
        "the other replica to follow",
        Duration::from_secs(30),
        || {
            offset(&mut o, "master_port") == new_port.to_string()
                && offset(&mut o, "master_link_status") == "up"
        },
    );
    caught_up(&mut p, &mut o);
    assert_eq!(common::dataset(&mut o), common::dataset(&mut p));
}

fn key_count(c: &mut Conn) -> u64 {
    text(&c.cmd_str(&["DBSIZE"]))
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The `acked` list of the writer's JSON report.
fn parse_acked(report: &str) -> Vec<u64> {
    let start = report.find("\"acked\": [").expect("acked list") + 10;
    let end = start + report[start..].find(']').expect("end of list");
    report[start..end]
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}
