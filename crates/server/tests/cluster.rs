//! Cluster mode, one node (issue 16, first part), against redis-server 7.0.15 started the same
//! way: CLUSTER's own state and slot commands, the redirections a lone node answers
//! (`-CLUSTERDOWN` for a slot not served or a cluster down, `-CROSSSLOT`, in MULTI too), the
//! commands refused in cluster mode, and `nodes.conf` surviving a restart. Node IDs and ports
//! differ between the two servers and are masked in the replies.

mod common;

use std::time::Duration;

use common::repl::text;
use common::{Conn, ServerProc};

/// Redis keeps a master's cluster state `fail` for two seconds after it starts.
const WRITABLE_DELAY: Duration = Duration::from_millis(2300);

fn node(p: &ServerProc) -> (String, Conn) {
    let mut c = p.conn();
    let id = text(&c.cmd_str(&["CLUSTER", "MYID"]));
    let id = id.lines().nth(1).unwrap_or("").to_string();
    (id, c)
}

/// The replies to `script`, with the node's ID and ports masked.
fn run(p: &ServerProc, script: &[&[&str]]) -> Vec<String> {
    let (id, mut c) = node(p);
    let port = p.port.to_string();
    let cport = (u32::from(p.port) + 10000).to_string();
    script
        .iter()
        .map(|cmd| {
            if cmd[0] == "SLEEP" {
                // Past Redis's rejoin delay (5 s after a node that served no slot gets one).
                std::thread::sleep(Duration::from_millis(5300));
                return String::new();
            }
            text(&c.cmd_str(cmd))
                .replace(&id, "<id>")
                .replace(&cport, "<cport>")
                .replace(&port, "<port>")
        })
        .collect()
}

const SCRIPT: &[&[&str]] = &[
    &["CLUSTER", "INFO"],
    &["CLUSTER", "SLOTS"],
    &["CLUSTER", "NODES"],
    &["SET", "foo", "1"],
    &["GET", "foo"],
    &["PING"],
    &["CLUSTER", "KEYSLOT", "foo"],
    &["CLUSTER", "KEYSLOT", "{user1}.a"],
    &["CLUSTER", "ADDSLOTS", "12182"],
    &["SET", "foo", "1"],
    &["CONFIG", "SET", "cluster-require-full-coverage", "no"],
    &["SLEEP"],
    &["SET", "foo", "1"],
    &["MSET", "foo", "1", "bar", "2"],
    &["MSET", "{x}a", "1", "{x}b", "2"],
    &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"],
    &["CLUSTER", "DELSLOTS", "12182"],
    &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"],
    &["CONFIG", "SET", "cluster-require-full-coverage", "yes"],
    &["SLEEP"],
    &["MSET", "{x}a", "1", "{x}b", "2"],
    &["SET", "foo", "1"],
    &["CLUSTER", "COUNTKEYSINSLOT", "16287"],
    &["CLUSTER", "COUNTKEYSINSLOT", "12182"],
    &["CLUSTER", "GETKEYSINSLOT", "12182", "10"],
    &["CLUSTER", "GETKEYSINSLOT", "12182", "0"],
    &["CLUSTER", "INFO"],
    &["CLUSTER", "SLOTS"],
    &["CLUSTER", "SHARDS"],
    &["CLUSTER", "NODES"],
    &["MULTI"],
    &["SET", "{x}a", "3"],
    &["SET", "foo", "2"],
    &["EXEC"],
    &["MULTI"],
    &["SET", "{x}a", "3"],
    &["GET", "{x}b"],
    &["EXEC"],
    &[
        "EVAL",
        "return redis.call('GET', KEYS[1])",
        "2",
        "{x}a",
        "foo",
    ],
    &["EVAL", "return redis.call('GET', KEYS[1])", "1", "foo"],
    &["SELECT", "1"],
    &["SELECT", "0"],
    &["SWAPDB", "0", "1"],
    &["MOVE", "foo", "1"],
    &["COPY", "foo", "foo2", "DB", "1"],
    &["READONLY"],
    &["READWRITE"],
    &["ASKING"],
    &["CLUSTER", "FLUSHSLOTS"],
    &["CLUSTER", "COUNTKEYSINSLOT", "16384"],
    &["CLUSTER", "COUNTKEYSINSLOT", "x"],
    &["CLUSTER", "GETKEYSINSLOT", "-1", "1"],
    &["CLUSTER", "GETKEYSINSLOT", "1", "-1"],
    &["CLUSTER", "ADDSLOTS", "16384"],
    &["CLUSTER", "ADDSLOTS", "x"],
    &["CLUSTER", "DELSLOTS", "1", "1"],
    &["CLUSTER", "DELSLOTSRANGE", "5", "1"],
    &["CLUSTER", "DELSLOTSRANGE", "5"],
    &["CLUSTER", "LINKS"],
    &[
        "CLUSTER",
        "REPLICAS",
        "0123456789012345678901234567890123456789",
    ],
    &[
        "CLUSTER",
        "FORGET",
        "0123456789012345678901234567890123456789",
    ],
    &["CLUSTER", "FAILOVER"],
    &["FLUSHALL"],
    &["CLUSTER", "FLUSHSLOTS"],
    &["CLUSTER", "INFO"],
    &["CLUSTER", "SET-CONFIG-EPOCH", "-1"],
    &["CLUSTER", "SET-CONFIG-EPOCH", "5"],
    &["CLUSTER", "SET-CONFIG-EPOCH", "6"],
    &["CLUSTER", "BUMPEPOCH"],
    &["CLUSTER", "INFO"],
    &["CLUSTER", "SAVECONFIG"],
    &["INFO", "cluster"],
    &["CLUSTER", "ADDSLOTS", "1", "2"],
    &["SET", "{x}a", "1"],
    &["CLUSTER", "RESET", "MAYBE"],
    &["CLUSTER", "RESET", "SOFT", "X"],
    &["FLUSHALL"],
    &["CLUSTER", "RESET", "SOFT"],
    &["CLUSTER", "INFO"],
    &["CLUSTER", "NODES"],
];

#[test]
fn a_lone_cluster_node_answers_as_redis() {
    if common::redis().is_none() {
        return;
    }
    let basalt = common::basalt(&["--cluster-enabled", "yes"]);
    let redis = common::redis_no_wait(&["--cluster-enabled", "yes"]);
    std::thread::sleep(WRITABLE_DELAY);
    let (ours, theirs) = std::thread::scope(|s| {
        let ours = s.spawn(|| run(&basalt, SCRIPT));
        let theirs = run(&redis, SCRIPT);
        (ours.join().expect("basalt's run"), theirs)
    });
    for ((cmd, a), b) in SCRIPT.iter().zip(&ours).zip(&theirs) {
        assert_eq!(a, b, "{cmd:?}");
    }
    assert!(ours[3].starts_with("-CLUSTERDOWN Hash slot not served"));
    // INFO's mode.
    let mut c = basalt.conn();
    assert!(text(&c.cmd_str(&["INFO", "server"])).contains("redis_mode:cluster"));
}

#[test]
fn nodes_conf_keeps_the_node_across_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().to_str().expect("utf-8").to_string();
    let args = ["--cluster-enabled", "yes", "--dir", &d];
    let first = common::basalt(&args);
    let (id, mut c) = node(&first);
    assert_eq!(
        text(&c.cmd_str(&["CLUSTER", "ADDSLOTSRANGE", "0", "99", "200", "200"])),
        "+OK\r\n"
    );
    c.cmd_str(&["CLUSTER", "SET-CONFIG-EPOCH", "7"]);
    drop(c);
    drop(first);
    let conf = std::fs::read_to_string(dir.path().join("nodes.conf")).expect("nodes.conf");
    assert!(conf.contains(&format!("{id} :")), "{conf}");
    assert!(conf.contains(" 0-99 200\n"), "{conf}");
    assert!(
        conf.ends_with("vars currentEpoch 7 lastVoteEpoch 0\n"),
        "{conf}"
    );
    let second = common::basalt(&args);
    let (again, mut c) = node(&second);
    assert_eq!(again, id);
    let info = text(&c.cmd_str(&["CLUSTER", "INFO"]));
    assert!(info.contains("cluster_slots_assigned:101\r\n"), "{info}");
    assert!(info.contains("cluster_my_epoch:7\r\n"), "{info}");
    // A corrupt file stops the start, as Redis's does.
    std::fs::write(dir.path().join("nodes.conf"), "garbage line\n").expect("write");
    let out = std::process::Command::new(common::basalt_bin())
        .args(["--port", "0"])
        .args(args)
        .output()
        .expect("run");
    assert!(!out.status.success());
}

/// The stock tools on a one-node Basalt cluster: redis-py's `RedisCluster` maps the slots
/// with CLUSTER SLOTS and reads and writes 10,000 keys; `redis-cli --cluster check` is clean.
#[test]
fn redis_py_and_redis_cli_use_a_one_node_cluster() {
    let has_py = std::process::Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_py || common::redis().is_none() {
        assert!(
            std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-py and redis-cli are needed"
        );
        return;
    }
    let basalt = common::basalt(&["--cluster-enabled", "yes"]);
    let mut c = basalt.conn();
    assert_eq!(
        text(&c.cmd_str(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"])),
        "+OK\r\n"
    );
    common::repl::wait_for("the cluster state ok", || {
        text(&c.cmd_str(&["CLUSTER", "INFO"])).contains("cluster_state:ok")
    });
    let script = r#"
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
for i in range(10000):
    rc.set("key:%d" % i, i)
bad = [i for i in range(10000) if rc.get("key:%d" % i) != str(i).encode()]
print(len(bad), rc.cluster_info()["cluster_state"])
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &basalt.port.to_string()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0 ok");
    assert_eq!(text(&c.cmd_str(&["DBSIZE"])), ":10000\r\n");
    let check = std::process::Command::new("redis-cli")
        .args(["--cluster", "check", &basalt.addr()])
        .output()
        .expect("redis-cli");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(report.contains("All 16384 slots covered"), "{report}");
}

/// The bus codec against redis-server's own bus: a MEET encoded by Basalt is understood
/// (Redis adds the node, in handshake, with the ports it carried) and Redis's PONG decodes
/// to its ID, ports, epochs and exactly the slots it serves.
#[test]
fn bus_messages_are_redis_s() {
    use server::cluster::msg::{flag, kind, Header, Message};
    use std::io::{Read, Write};
    if common::redis().is_none() {
        return;
    }
    let redis = common::redis_no_wait(&["--cluster-enabled", "yes"]);
    let (redis_id, mut c) = node(&redis);
    c.cmd_str(&["CLUSTER", "ADDSLOTS", "5", "100", "16383"]);
    let bus_port = u32::from(redis.port) + 10000;
    let mut bus = std::net::TcpStream::connect(("127.0.0.1", bus_port as u16)).expect("bus");
    bus.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut me = Header::new(kind::MEET, *b"0123456789abcdef0123456789abcdef01234567");
    me.port = 7777;
    me.cport = 17777;
    me.flags = flag::MASTER;
    let meet = Message {
        header: me,
        data: Vec::new(),
    };
    bus.write_all(&meet.encode()).expect("send MEET");
    let mut start = [0u8; 8];
    bus.read_exact(&mut start).expect("PONG header");
    let len = Message::announced_len(&start)
        .expect("a bus message")
        .expect("its length");
    let mut whole = start.to_vec();
    whole.resize(len, 0);
    bus.read_exact(&mut whole[8..]).expect("PONG body");
    let pong = Message::decode(&whole).expect("Redis's PONG decodes");
    let h = &pong.header;
    assert_eq!(h.kind, kind::PONG);
    assert_eq!(
        server::cluster::msg::field_text(&h.sender),
        redis_id,
        "sender"
    );
    assert_eq!((h.port, h.cport), (redis.port, bus_port as u16));
    assert!(h.flags & flag::MASTER != 0);
    let served: Vec<u16> = (0..16384).filter(|&s| h.has_slot(s)).collect();
    assert_eq!(served, vec![5, 100, 16383]);
    assert_eq!(pong.gossip().len(), h.count as usize);
    // Redis took our MEET: the node is in its table, with our ports.
    let nodes = text(&c.cmd_str(&["CLUSTER", "NODES"]));
    assert!(
        nodes
            .lines()
            .any(|l| l.contains(":7777@17777") && l.contains("handshake")),
        "{nodes}"
    );
}
