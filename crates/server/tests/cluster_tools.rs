//! Clusters of several nodes driven by the stock tools (issue 16): `redis-cli --cluster
//! create/check/reshard/rebalance/add-node/del-node/fix` over Basalt nodes, clusters mixing
//! Basalt and redis-server nodes (the bus protocol byte-compatible both ways), redis-py's
//! `RedisCluster` as the client, and failover after SIGKILL. Every node gets a free client
//! port and a free bus port (`cluster-port`), a 2 s node timeout, and no diskless delay.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::repl::{text, wait_for};
use common::{Conn, ServerProc};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Basalt,
    Redis,
}

/// Whether the tools are here (redis-cli, redis-server, redis-py); without them the tests
/// skip, except in CI (`BASALT_REQUIRE_REDIS=1`).
fn tools() -> bool {
    let py = Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !py || common::redis().is_none() {
        assert!(
            std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-py, redis-cli and redis-server are needed"
        );
        return false;
    }
    true
}

fn node(kind: Kind) -> ServerProc {
    let cport = common::free_port().to_string();
    let args = [
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        &cport,
        "--cluster-node-timeout",
        "2000",
        "--repl-diskless-sync-delay",
        "0",
    ];
    let n = match kind {
        Kind::Basalt => common::basalt(&args),
        Kind::Redis => common::redis_no_wait(&args),
    };
    let mut c = n.conn();
    wait_for("the node to answer", || {
        c.cmd_str(&["PING"]) == b"+PONG\r\n"
    });
    n
}

/// `redis-cli` with these arguments (bounded in time): whether it succeeded, and its output.
fn cli_status(args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg("redis-cli")
        .args(args)
        .output()
        .expect("redis-cli");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// `redis-cli` with these arguments; its output, which must say no error.
fn cli(args: &[&str]) -> String {
    let (ok, report) = cli_status(args);
    assert!(ok, "redis-cli {args:?}:\n{report}");
    report
}

/// `--cluster check` from `at`: every slot covered, every node agreeing, nothing open.
fn assert_clean(at: &ServerProc) {
    let report = cli(&["--cluster", "check", &at.addr()]);
    for want in [
        "[OK] All nodes agree about slots configuration.",
        "[OK] All 16384 slots covered.",
    ] {
        assert!(report.contains(want), "{report}");
    }
    assert!(
        !report.contains("[ERR]") && !report.contains("[WARNING]"),
        "{report}"
    );
}

/// `redis-cli --cluster create` over `nodes` with `replicas` replicas per master, then wait
/// until every node sees the cluster `ok` and every replica's link is up.
fn create(nodes: &[&ServerProc], replicas: usize) {
    let mut args = vec!["--cluster".to_string(), "create".to_string()];
    args.extend(nodes.iter().map(|n| n.addr()));
    args.extend([
        "--cluster-replicas".to_string(),
        replicas.to_string(),
        "--cluster-yes".to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    cli(&refs);
    for n in nodes {
        let mut c = n.conn();
        wait_for("the cluster state ok", || {
            text(&c.cmd_str(&["CLUSTER", "INFO"])).contains("cluster_state:ok")
        });
        wait_for("a replica's link up", || {
            let info = text(&c.cmd_str(&["INFO", "replication"]));
            info.contains("role:master") || info.contains("master_link_status:up")
        });
    }
}

fn id_of(n: &ServerProc) -> String {
    let reply = text(&n.conn().cmd_str(&["CLUSTER", "MYID"]));
    reply.lines().nth(1).unwrap_or("").to_string()
}

/// The node `n` replicates (its master's ID), from its own CLUSTER NODES line.
fn master_of(n: &ServerProc) -> Option<String> {
    let nodes = text(&n.conn().cmd_str(&["CLUSTER", "NODES"]));
    let mine = nodes.lines().find(|l| l.contains("myself"))?;
    let m = mine.split(' ').nth(3)?;
    (m != "-").then(|| m.to_string())
}

fn role(n: &ServerProc) -> String {
    let Some(mut c) = Conn::try_connect(n.port) else {
        return String::new();
    };
    text(&c.cmd_str(&["ROLE"]))
}

/// Run a Python script with redis-py; its standard output.
fn python(script: &str, args: &[String]) -> String {
    let out = Command::new("timeout")
        .arg("300")
        .arg("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Issue 16, test 1: `--cluster create` over six Basalt nodes with a replica each; `--cluster check` is
/// clean; redis-py's `RedisCluster` writes and reads back 100,000 keys, and every replica
/// holds its master's keys.
#[test]
fn six_basalt_nodes_made_a_cluster_by_redis_cli_serve_redis_py() {
    if !tools() {
        return;
    }
    let nodes: Vec<ServerProc> = (0..6).map(|_| node(Kind::Basalt)).collect();
    let refs: Vec<&ServerProc> = nodes.iter().collect();
    create(&refs, 1);
    assert_clean(&nodes[3]);
    let script = r#"
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
n = 100000
p = rc.pipeline()
for i in range(n):
    p.set("key:%d" % i, i)
p.execute()
p = rc.pipeline()
for i in range(n):
    p.get("key:%d" % i)
got = p.execute()
print(sum(1 for i, v in enumerate(got) if v != str(i).encode()))
"#;
    assert_eq!(python(script, &[nodes[0].port.to_string()]), "0");
    let size = |n: &ServerProc| -> i64 {
        text(&n.conn().cmd_str(&["DBSIZE"]))
            .trim_start_matches(':')
            .trim()
            .parse()
            .unwrap_or(-1)
    };
    let masters: Vec<&ServerProc> = nodes.iter().filter(|n| master_of(n).is_none()).collect();
    assert_eq!(masters.len(), 3);
    assert_eq!(masters.iter().map(|m| size(m)).sum::<i64>(), 100_000);
    for replica in nodes.iter().filter(|n| master_of(n).is_some()) {
        let master_id = master_of(replica).unwrap_or_default();
        let master = nodes
            .iter()
            .find(|n| id_of(n) == master_id)
            .expect("its master");
        wait_for("the replica to hold its master's keys", || {
            size(replica) == size(master)
        });
    }
}

/// SIGKILL `victim` (a master) and wait until its replica `heir` is a master serving its
/// slots; returns how long that took.
fn kill_and_await_promotion(victim: &mut ServerProc, heir: &ServerProc) -> Duration {
    let _ = victim.child.kill();
    let _ = victim.child.wait();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(30);
    while !role(heir).contains("master") {
        assert!(Instant::now() < deadline, "the replica was not promoted");
        std::thread::sleep(Duration::from_millis(50));
    }
    killed.elapsed()
}

/// A replica of one of `masters`, among `nodes`, with that master's index.
fn pick_pair(nodes: &[ServerProc], masters: &[usize]) -> (usize, usize) {
    for (i, n) in nodes.iter().enumerate() {
        if let Some(m) = master_of(n) {
            if let Some(&mi) = masters.iter().find(|&&mi| id_of(&nodes[mi]) == m) {
                return (mi, i);
            }
        }
    }
    panic!("no replica of the given masters");
}

/// Issue 16, test 2: Mixed clusters: three redis-server masters with three Basalt replicas, and the
/// reverse. `--cluster check` is clean from either kind of node; when a master is killed,
/// its replica of the other kind is elected (the votes cross implementations too), and the
/// cluster is whole again.
#[test]
fn mixed_clusters_fail_over_both_ways() {
    if !tools() {
        return;
    }
    for (masters, replicas) in [(Kind::Redis, Kind::Basalt), (Kind::Basalt, Kind::Redis)] {
        let mut nodes: Vec<ServerProc> = (0..3).map(|_| node(masters)).collect();
        nodes.extend((0..3).map(|_| node(replicas)));
        let refs: Vec<&ServerProc> = nodes.iter().collect();
        create(&refs, 1);
        assert_clean(&nodes[0]);
        assert_clean(&nodes[4]);
        // Every replica is of the other kind (redis-cli makes the first three masters).
        for n in &nodes[3..] {
            assert!(master_of(n).is_some(), "{}", role(n));
        }
        let (m, r) = pick_pair(&nodes, &[0, 1, 2]);
        let mut victim = nodes.remove(m);
        let r = if r > m { r - 1 } else { r };
        let took = kill_and_await_promotion(&mut victim, &nodes[r]);
        assert!(took < Duration::from_secs(20), "promotion took {took:?}");
        for n in &nodes {
            let mut c = n.conn();
            wait_for("the cluster ok after the failover", || {
                text(&c.cmd_str(&["CLUSTER", "INFO"])).contains("cluster_state:ok")
            });
        }
        let report = cli(&["--cluster", "check", &nodes[0].addr()]);
        assert!(report.contains("[OK] All 16384 slots covered."), "{report}");
        let script = r#"
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
for i in range(2000):
    rc.set("after:%d" % i, i)
print(sum(1 for i in range(2000) if rc.get("after:%d" % i) != str(i).encode()))
"#;
        assert_eq!(python(script, &[nodes[0].port.to_string()]), "0");
    }
}

/// Issue 16, test 3: `--cluster reshard` and `--cluster rebalance` move slots while redis-py writes: every
/// acknowledged write is readable afterwards, and no read during the move returned another
/// value than the one written (clients see MOVED/ASK, never wrong data).
#[test]
fn reshard_and_rebalance_under_writes_lose_nothing() {
    if !tools() {
        return;
    }
    let nodes: Vec<ServerProc> = (0..3).map(|_| node(Kind::Basalt)).collect();
    let refs: Vec<&ServerProc> = nodes.iter().collect();
    create(&refs, 0);
    let stop = tempfile::NamedTempFile::new().expect("a stop file");
    let stop_path = stop.path().to_string_lossy().into_owned();
    std::fs::remove_file(&stop_path).expect("no stop file yet");
    let writer = r#"
import os, sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
acked, wrong, i = 0, 0, 0
while not os.path.exists(sys.argv[2]) or i < 2000:
    k = "w:%d" % i
    rc.set(k, i)
    acked = i + 1
    if rc.get(k) != str(i).encode():
        wrong += 1
    i += 1
print(acked, wrong)
"#;
    let port = nodes[0].port.to_string();
    let handle = {
        let (port, stop_path) = (port.clone(), stop_path.clone());
        std::thread::spawn(move || python(writer, &[port, stop_path]))
    };
    std::thread::sleep(Duration::from_millis(500));
    let (from, to) = (id_of(&nodes[0]), id_of(&nodes[1]));
    cli(&[
        "--cluster",
        "reshard",
        &nodes[0].addr(),
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        "1500",
        "--cluster-yes",
    ]);
    cli(&["--cluster", "rebalance", &nodes[2].addr()]);
    std::fs::write(&stop_path, b"stop").expect("stop the writer");
    let result = handle.join().expect("writer");
    let mut parts = result.split_whitespace();
    let acked: usize = parts.next().and_then(|v| v.parse().ok()).expect("acked");
    let wrong: usize = parts.next().and_then(|v| v.parse().ok()).expect("wrong");
    assert_eq!(wrong, 0, "reads during the move returned other values");
    assert!(acked >= 2000);
    assert_clean(&nodes[1]);
    let check = r#"
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
n = int(sys.argv[2])
p = rc.pipeline()
for i in range(n):
    p.get("w:%d" % i)
print(sum(1 for i, v in enumerate(p.execute()) if v != str(i).encode()))
"#;
    assert_eq!(python(check, &[port, acked.to_string()]), "0");
    // The slots did move: no node holds the 5,461-odd slots create gave it any more, yet
    // rebalance left them within its threshold.
    let report = cli(&["--cluster", "check", &nodes[0].addr()]);
    assert!(
        report.contains(&format!("{acked} keys in 3 masters")),
        "{report}"
    );
}

/// A key of a slot `master` serves, from its CLUSTER NODES line (`n` makes it unique).
fn key_served_by(master: &ServerProc, n: usize) -> String {
    let mut c = master.conn();
    let nodes = text(&c.cmd_str(&["CLUSTER", "NODES"]));
    let line = nodes
        .lines()
        .find(|l| l.contains("myself"))
        .expect("myself");
    let range = line.split(' ').nth(8).expect("a slot range");
    let (a, b) = range.split_once('-').unwrap_or((range, range));
    let (a, b): (i64, i64) = (a.parse().expect("slot"), b.parse().expect("slot"));
    for tag in 0.. {
        let key = format!("{{t{tag}}}:{n}");
        let slot: i64 = text(&c.cmd_str(&["CLUSTER", "KEYSLOT", &key]))
            .trim_start_matches(':')
            .trim()
            .parse()
            .expect("keyslot");
        if (a..=b).contains(&slot) {
            return key;
        }
    }
    unreachable!()
}

/// Issue 16, test 4: SIGKILL of a master while a client writes, each write followed by `WAIT 1`: the
/// replica is promoted within the node timeout plus the election, and holds every write
/// the master acknowledged with `WAIT 1`.
#[test]
fn a_killed_master_is_replaced_with_every_write_wait_acknowledged() {
    if !tools() {
        return;
    }
    let mut nodes: Vec<ServerProc> = (0..6).map(|_| node(Kind::Basalt)).collect();
    let refs: Vec<&ServerProc> = nodes.iter().collect();
    create(&refs, 1);
    let (m, r) = pick_pair(&nodes, &[0, 1, 2]);
    let tag_key = key_served_by(&nodes[m], 0);
    let tag = tag_key.split(':').next().unwrap_or("").to_string();
    let port = nodes[m].port;
    let writer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        let Some(mut c) = Conn::try_connect(port) else {
            return acked;
        };
        for i in 0.. {
            let key = format!("{tag}:{i}");
            match c.try_cmd(&[b"SET", key.as_bytes(), i.to_string().as_bytes()]) {
                Some(r) if r.starts_with(b"+OK") => {}
                _ => break,
            }
            match c.try_cmd(&[b"WAIT", b"1", b"1000"]) {
                Some(r) if r == b":1\r\n" => acked.push(i),
                Some(_) => {}
                None => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(700));
    let mut victim = nodes.remove(m);
    let r = if r > m { r - 1 } else { r };
    let took = kill_and_await_promotion(&mut victim, &nodes[r]);
    let acked = writer.join().expect("writer");
    assert!(
        acked.len() > 10,
        "too few writes acknowledged: {}",
        acked.len()
    );
    // Node timeout (2 s), failure agreement and the election's 0.5–1.5 s delay.
    assert!(took < Duration::from_secs(10), "promotion took {took:?}");
    let mut heir = nodes[r].conn();
    let tag = tag_key.split(':').next().unwrap_or("").to_string();
    for i in &acked {
        let key = format!("{tag}:{i}");
        assert_eq!(
            text(&heir.cmd_str(&["GET", &key])),
            format!("${}\r\n{i}\r\n", i.to_string().len()),
            "acknowledged write {key} lost"
        );
    }
}

/// Issue 16, test 5: `--cluster add-node` (a master, then a replica of it), a reshard onto the new master,
/// `--cluster del-node` of the replica, and `--cluster fix` closing a slot left migrating.
#[test]
fn add_node_del_node_and_fix() {
    if !tools() {
        return;
    }
    let nodes: Vec<ServerProc> = (0..3).map(|_| node(Kind::Basalt)).collect();
    let refs: Vec<&ServerProc> = nodes.iter().collect();
    create(&refs, 0);
    let fresh = node(Kind::Basalt);
    cli(&["--cluster", "add-node", &fresh.addr(), &nodes[0].addr()]);
    let fresh_id = id_of(&fresh);
    // MEET completes on the bus, after redis-cli returns.
    wait_for("the cluster to know the new master", || {
        nodes.iter().all(|n| {
            text(&n.conn().cmd_str(&["CLUSTER", "NODES"]))
                .lines()
                .any(|l| l.starts_with(&fresh_id) && !l.contains("handshake"))
        })
    });
    let spare = node(Kind::Basalt);
    cli(&[
        "--cluster",
        "add-node",
        &spare.addr(),
        &nodes[0].addr(),
        "--cluster-slave",
        "--cluster-master-id",
        &fresh_id,
    ]);
    wait_for("the new replica to follow its master", || {
        master_of(&spare).as_deref() == Some(fresh_id.as_str())
    });
    cli(&[
        "--cluster",
        "reshard",
        &nodes[0].addr(),
        "--cluster-from",
        &id_of(&nodes[1]),
        "--cluster-to",
        &fresh_id,
        "--cluster-slots",
        "100",
        "--cluster-yes",
    ]);
    wait_for("every node to know the new slots", || {
        nodes.iter().all(|n| {
            text(&n.conn().cmd_str(&["CLUSTER", "NODES"]))
                .lines()
                .any(|l| l.starts_with(&fresh_id) && l.split(' ').count() > 8)
        })
    });
    assert_clean(&fresh);
    cli(&["--cluster", "del-node", &nodes[0].addr(), &id_of(&spare)]);
    wait_for("the others to forget the removed node", || {
        !text(&nodes[0].conn().cmd_str(&["CLUSTER", "NODES"])).contains(&id_of(&spare))
    });
    // A slot left half-migrated, as after an interrupted reshard; `fix` closes it.
    let mut c = nodes[2].conn();
    let nodes_text = text(&c.cmd_str(&["CLUSTER", "NODES"]));
    let line = nodes_text
        .lines()
        .find(|l| l.contains("myself"))
        .expect("myself");
    let slot = line
        .split(' ')
        .nth(8)
        .and_then(|r| r.split('-').next())
        .expect("a slot");
    assert_eq!(
        text(&c.cmd_str(&["CLUSTER", "SETSLOT", slot, "MIGRATING", &id_of(&nodes[0])])),
        "+OK\r\n"
    );
    let (clean, report) = cli_status(&["--cluster", "check", &nodes[0].addr()]);
    assert!(!clean && report.contains("slots are open"), "{report}");
    cli(&["--cluster", "fix", &nodes[0].addr(), "--cluster-yes"]);
    assert_clean(&nodes[0]);
}

/// A key of a slot node 0 serves (0–5460 after `--cluster create` of three masters), other
/// than the slot of `not_slot`, asked of `c`.
fn local_key(c: &mut Conn, not_slot: i64) -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let slot: i64 = text(&c.cmd_str(&["CLUSTER", "KEYSLOT", k]))
                .trim_start_matches(':')
                .trim()
                .parse()
                .unwrap_or(-1);
            (0..=5460).contains(&slot) && slot != not_slot
        })
        .unwrap_or_default()
}

/// Redirections, scripts' key checks, sharded pub/sub routing, MIGRATE's and the CLUSTER
/// subcommands' errors on a three-master cluster, reply for reply against a redis-server
/// cluster made the same way (`--cluster create` gives both the same slot ranges); node IDs
/// and ports are masked.
#[test]
fn a_cluster_of_three_answers_as_a_redis_cluster() {
    if !tools() {
        return;
    }
    let replies = |kind: Kind| -> Vec<String> {
        let nodes: Vec<ServerProc> = (0..3).map(|_| node(kind)).collect();
        let refs: Vec<&ServerProc> = nodes.iter().collect();
        create(&refs, 0);
        let ids: Vec<String> = nodes.iter().map(id_of).collect();
        let mut c = nodes[0].conn();
        // "b" is in slot 3300 (node 0), "c" in 7365 (node 1).
        let other = local_key(&mut c, 3300);
        let cross_ok = format!(
            "#!lua flags=allow-cross-slot-keys\nredis.call('set', 'b', '1'); return redis.call('get', '{other}')"
        );
        // A script without a shebang may reach any local key (Redis 7.0's compatibility).
        let compat = format!("redis.call('set', 'b', '1'); return redis.call('get', '{other}')");
        let cross =
            format!("#!lua\nredis.call('set', 'b', '1'); return redis.call('get', '{other}')");
        let script: Vec<Vec<&str>> = vec![
            vec!["GET", "b"],
            vec!["GET", "c"],
            vec!["SET", "c", "1"],
            vec!["MSET", "b", "1", "c", "2"],
            vec!["MSET", "b", "1", "{b}x", "2"],
            vec!["EVAL", "return redis.call('get', KEYS[1])", "1", "c"],
            vec!["EVAL", "return redis.call('get', 'c')", "0"],
            vec!["EVAL", "return redis.call('get', '{b}x')", "0"],
            vec!["EVAL", &compat, "0"],
            vec!["EVAL", &cross, "0"],
            vec!["EVAL", &cross_ok, "0"],
            vec!["EVAL", "return redis.call('get', 'c')", "1", "b"],
            vec!["SPUBLISH", "c", "hello"],
            vec!["SPUBLISH", "b", "hello"],
            vec!["MULTI"],
            vec!["SET", "b", "2"],
            vec!["GET", "c"],
            vec!["EXEC"],
            vec![
                "CLUSTER",
                "SETSLOT",
                "0",
                "MIGRATING",
                "0123456789012345678901234567890123456789",
            ],
            vec!["CLUSTER", "SETSLOT", "16000", "MIGRATING", &ids[1]],
            vec!["CLUSTER", "SETSLOT", "0", "IMPORTING", &ids[1]],
            vec!["CLUSTER", "SETSLOT", "0", "FOO"],
            vec!["CLUSTER", "SETSLOT", "0", "NODE", "nope"],
            vec!["CLUSTER", "REPLICATE", "nope"],
            vec!["CLUSTER", "REPLICATE", &ids[1]],
            vec!["CLUSTER", "FORGET", &ids[0]],
            vec!["CLUSTER", "FAILOVER"],
            vec!["CLUSTER", "FAILOVER", "SOON"],
            vec!["CLUSTER", "MEET", "1.2.3", "7000"],
            vec!["CLUSTER", "MEET", "127.0.0.1", "x"],
            vec!["CLUSTER", "COUNT-FAILURE-REPORTS", &ids[1]],
            vec!["CLUSTER", "REPLICAS", &ids[1]],
            vec!["CLUSTER", "COUNTKEYSINSLOT", "3300"],
            vec!["REPLICAOF", "127.0.0.1", "1"],
            vec!["FAILOVER"],
            vec!["MIGRATE", "127.0.0.1", "1", "b", "0", "100", "KEYS", "x"],
            vec!["MIGRATE", "127.0.0.1", "1", "nokey", "0", "100"],
            vec!["MIGRATE", "127.0.0.1", "1", "", "0", "100", "FOO"],
            vec!["MIGRATE", "127.0.0.1", "1", "b", "0", "100"],
            vec!["READONLY"],
            vec!["READWRITE"],
            vec!["ASKING"],
        ];
        let mut out = Vec::new();
        for cmd in &script {
            let mut line = format!("{cmd:?} -> {}", text(&c.cmd_str(cmd)));
            for (i, n) in nodes.iter().enumerate() {
                line = line
                    .replace(&ids[i], &format!("<id{i}>"))
                    .replace(&n.port.to_string(), &format!("<port{i}>"));
            }
            out.push(line);
        }
        out
    };
    let theirs = replies(Kind::Redis);
    let ours = replies(Kind::Basalt);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
}

/// A client blocked on a key whose slot is given to another node (CLUSTER SETSLOT … NODE)
/// is answered with `-MOVED` to that node, as Redis answers it.
#[test]
fn a_blocked_client_whose_slot_moves_is_redirected() {
    if !tools() {
        return;
    }
    let moved = |kind: Kind| -> String {
        let nodes: Vec<ServerProc> = (0..3).map(|_| node(kind)).collect();
        let refs: Vec<&ServerProc> = nodes.iter().collect();
        create(&refs, 0);
        let mut waiter = nodes[0].conn();
        waiter.send(&[b"BLPOP", b"b", b"0"]);
        let mut admin = nodes[0].conn();
        wait_for("the client to block", || {
            text(&admin.cmd_str(&["INFO", "clients"])).contains("blocked_clients:1")
        });
        let to = id_of(&nodes[1]);
        assert_eq!(
            text(&admin.cmd_str(&["CLUSTER", "SETSLOT", "3300", "NODE", &to])),
            "+OK\r\n"
        );
        text(&waiter.read_reply()).replace(&nodes[1].port.to_string(), "<port1>")
    };
    assert_eq!(moved(Kind::Basalt), moved(Kind::Redis));
}

/// Garbage on the bus port — a wrong signature, a length beyond the limit, a PING announcing
/// gossip it does not carry, a message cut short — closes that link and nothing else: the
/// node answers clients and keeps its view.
#[test]
fn garbage_on_the_bus_port_closes_the_link_and_nothing_else() {
    use server::cluster::msg::{kind, Header, Message};
    use std::io::{Read, Write};
    let cport = common::free_port();
    let s = common::basalt(&[
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        &cport.to_string(),
    ]);
    let mut c = s.conn();
    assert_eq!(
        text(&c.cmd_str(&["CLUSTER", "ADDSLOTSRANGE", "0", "100"])),
        "+OK\r\n"
    );
    let mut lying = Header::new(kind::PING, [b'x'; 40]);
    lying.count = 50;
    let lying = Message {
        header: lying,
        data: Vec::new(),
    }
    .encode();
    let mut huge = b"RCmb".to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.extend_from_slice(&[0; 64]);
    let cut = Message {
        header: Header::new(kind::MEET, [b'y'; 40]),
        data: Vec::new(),
    }
    .encode();
    for bytes in [
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        huge,
        lying,
        cut[..1000].to_vec(),
    ] {
        let mut bus = std::net::TcpStream::connect(("127.0.0.1", cport)).expect("bus port");
        bus.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        bus.write_all(&bytes).expect("write");
        if bytes.len() == 1000 {
            // A message cut short waits for its rest; the peer going away ends the link.
            drop(bus);
            continue;
        }
        let mut buf = [0u8; 16];
        // Closed, without an answer.
        assert_eq!(bus.read(&mut buf).unwrap_or(0), 0);
    }
    assert_eq!(c.cmd_str(&["PING"]), b"+PONG\r\n");
    let info = text(&c.cmd_str(&["CLUSTER", "INFO"]));
    assert!(info.contains("cluster_known_nodes:1\r\n"), "{info}");
    assert!(info.contains("cluster_slots_assigned:101\r\n"), "{info}");
}

/// Replica migration: a master whose only replica dies gets one from the master with the
/// most replicas (more than `cluster-migration-barrier`, 1 by default), after Redis's 5 s
/// delay.
#[test]
fn an_orphaned_master_gets_a_replica_from_the_master_with_most() {
    if !tools() {
        return;
    }
    let mut nodes: Vec<ServerProc> = (0..6).map(|_| node(Kind::Basalt)).collect();
    let refs: Vec<&ServerProc> = nodes.iter().collect();
    create(&refs, 1);
    let ids: Vec<String> = nodes.iter().map(id_of).collect();
    // A second replica for master 0.
    let spare = node(Kind::Basalt);
    wait_for("the cluster to settle", || {
        text(&nodes[0].conn().cmd_str(&["CLUSTER", "NODES"]))
            .lines()
            .filter(|l| l.contains("slave"))
            .count()
            == 3
    });
    cli(&[
        "--cluster",
        "add-node",
        &spare.addr(),
        &nodes[0].addr(),
        "--cluster-slave",
        "--cluster-master-id",
        &ids[0],
    ]);
    wait_for("master 0 to have two replicas", || {
        master_of(&spare).as_deref() == Some(ids[0].as_str())
    });
    // Kill the replica of master 1: master 1 is orphaned.
    let orphan_replica = (3..6)
        .find(|&i| master_of(&nodes[i]).as_deref() == Some(ids[1].as_str()))
        .expect("master 1's replica");
    let mut victim = nodes.remove(orphan_replica);
    let _ = victim.child.kill();
    let _ = victim.child.wait();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all: Vec<&ServerProc> = nodes.iter().collect();
        all.push(&spare);
        if all
            .iter()
            .any(|n| master_of(n).as_deref() == Some(ids[1].as_str()))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no replica migrated to the orphaned master"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
