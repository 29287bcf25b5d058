//! Redis configuration files and parameters: Debian's stock redis.conf starts Basalt, CONFIG
//! GET * lists what Redis 7.0.15 lists with the same defaults, and a parameter of a feature not
//! built yet is accepted at its default and refused otherwise, naming the feature.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{basalt, basalt_bin, elements, free_port, redis, Conn};

/// Parameters whose values depend on the server's process or on Basalt's own design.
const SERVER_SPECIFIC: &[&str] = &[
    "dir",
    "pidfile",
    "logfile",
    "port",
    "bind",
    "save",
    "appendonly",
    "daemonize",
    "dbfilename",
    // Basalt's default is one I/O thread per core (0 in CONFIG GET); Redis's is 1.
    "io-threads",
];

/// `CONFIG GET *` as sorted `name value` lines, without the server-specific ones.
fn config_lines(c: &mut Conn) -> Vec<String> {
    let reply = c.cmd_str(&["CONFIG", "GET", "*"]);
    let items = elements(&reply).expect("CONFIG GET * is an array");
    let text = |f: &Vec<u8>| {
        let body = f.splitn(2, |&b| b == b'\n').nth(1).unwrap_or_default();
        String::from_utf8_lossy(&body[..body.len().saturating_sub(2)]).into_owned()
    };
    let mut lines: Vec<String> = items
        .chunks(2)
        .map(|kv| (text(&kv[0]), text(&kv[1])))
        .filter(|(k, _)| !SERVER_SPECIFIC.contains(&k.as_str()))
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    lines.sort();
    lines
}

#[test]
fn config_get_star_lists_every_redis_parameter_with_its_default() {
    let Some(redis) = redis() else { return };
    let basalt = basalt(&[]);
    let want = config_lines(&mut redis.conn());
    let got: Vec<String> = config_lines(&mut basalt.conn())
        .into_iter()
        // Basalt's own parameter, which Redis does not have.
        .filter(|l| !l.starts_with("shards "))
        .collect();
    let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
    let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "differ from redis-server:\n  redis only: {missing:?}\n  basalt only: {extra:?}"
    );
    assert!(want.len() >= 180, "only {} parameters", want.len());
}

/// Debian's `/etc/redis/redis.conf` (from the redis-server package), with its paths and port
/// pointed at a temp dir, starts Basalt unchanged otherwise — `daemonize yes` included: the
/// command returns and the daemon serves.
#[test]
fn debians_stock_redis_conf_starts_basalt() {
    let stock = std::path::Path::new("/etc/redis/redis.conf");
    if !stock.exists() {
        assert!(
            std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "/etc/redis/redis.conf missing (apt-get install redis-server)"
        );
        eprintln!("!!! /etc/redis/redis.conf not found: SKIPPING");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let pidfile = dir.path().join("p.pid");
    let text = std::fs::read_to_string(stock).expect("read the stock conf");
    let adjusted: String = text
        .lines()
        .map(|l| match l.split_whitespace().next() {
            Some("port") => format!("port {port}"),
            Some("dir") => format!("dir {}", dir.path().display()),
            Some("pidfile") => format!("pidfile {}", pidfile.display()),
            Some("logfile") => format!("logfile {}", dir.path().join("log").display()),
            Some("bind") => "bind 127.0.0.1".to_string(),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        adjusted.contains("\ndaemonize yes"),
        "Debian's file daemonizes"
    );
    let conf = dir.path().join("redis.conf");
    std::fs::write(&conf, adjusted).expect("write");
    let out = Command::new(basalt_bin())
        .arg(&conf)
        .current_dir(dir.path())
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run");
    let log = || std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "Basalt refused Debian's redis.conf ({}):\n{}{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = None;
    while conn.is_none() {
        assert!(
            Instant::now() < deadline,
            "daemon did not start:\n{}",
            log()
        );
        conn = Conn::try_connect(port);
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = conn.expect("connected");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            // SAFETY: kill sends a signal to the daemon this test started.
            unsafe {
                libc::kill(self.0, libc::SIGKILL);
            }
        }
    }
    let _reap = Reap(pid);
    assert_eq!(c.cmd_str(&["PING"]), b"+PONG\r\n");
    let r = c.cmd_str(&["CONFIG", "GET", "client-output-buffer-limit"]);
    assert!(
        r.ends_with(b"normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n"),
        "{}",
        String::from_utf8_lossy(&r)
    );
}

/// A parameter of a feature not built yet: its default is accepted (CONFIG SET, the command
/// line), anything else refused with the feature named, never silently ignored.
#[test]
fn parameters_of_features_not_built_yet_accept_only_their_defaults() {
    let s = basalt(&["--cluster-allow-reads-when-down", "no", "--tls-port", "0"]);
    let mut c = s.conn();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "cluster-link-sendbuf-limit", "0"]),
        b"+OK\r\n"
    );
    let r = c.cmd_str(&["CONFIG", "SET", "cluster-link-sendbuf-limit", "1mb"]);
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(
        text.starts_with("-ERR CONFIG SET failed (possibly related to argument 'cluster-link-sendbuf-limit') - cluster-link-sendbuf-limit needs cluster link buffer limits"),
        "{text}"
    );
    // Built now (the master side's full sync): any valid value is taken.
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "repl-diskless-sync", "no"]),
        b"+OK\r\n"
    );
    // Built now (pub/sub limits are enforced): any valid value is taken.
    assert_eq!(
        c.cmd_str(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 1mb 0",
        ]),
        b"+OK\r\n"
    );
    // Written another way, as Redis accepts it.
    assert_eq!(
        c.cmd_str(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 256mb 64mb 60"
        ]),
        b"+OK\r\n"
    );
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "client-output-buffer-limit", "foo 1 1 1"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Invalid client class specified in buffer limit configuration.\r\n"
    );
    for (arg, value, feature) in [
        ("--tls-replication", "yes", "replication"),
        ("--cluster-announce-hostname", "node-a", "cluster hostnames"),
        ("--replica-ignore-disk-write-errors", "yes", "replication"),
    ] {
        let out = Command::new(basalt_bin())
            .args(["--port", "0", arg, value])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{arg} {value} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("needs {feature}")), "{err}");
    }
}

fn oom_score(s: &common::ServerProc) -> i64 {
    std::fs::read_to_string(format!("/proc/{}/oom_score_adj", s.pid()))
        .expect("oom_score_adj")
        .trim()
        .parse()
        .expect("a number")
}

/// `oom-score-adj` sets the process's OOM score as Redis does: relative to the score it had,
/// or absolute, the master's value of `oom-score-adj-values`; `no` restores the old score.
#[test]
fn oom_score_adj_sets_the_process_score() {
    let s = basalt(&[]);
    let base = oom_score(&s);
    let mut c = s.conn();
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "oom-score-adj-values", "10 20 30"]),
        b"+OK\r\n"
    );
    assert_eq!(oom_score(&s), base, "values alone change nothing");
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "oom-score-adj", "relative"]),
        b"+OK\r\n"
    );
    assert_eq!(oom_score(&s), (base + 10).clamp(-1000, 1000));
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "oom-score-adj", "absolute"]),
        b"+OK\r\n"
    );
    assert_eq!(oom_score(&s), 10);
    assert_eq!(
        c.cmd_str(&["CONFIG", "SET", "oom-score-adj", "no"]),
        b"+OK\r\n"
    );
    assert_eq!(oom_score(&s), base);
    let started = basalt(&[
        "--oom-score-adj",
        "absolute",
        "--oom-score-adj-values",
        "15 20 30",
    ]);
    assert_eq!(oom_score(&started), 15);
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .to_string()
        })
        .unwrap_or_default()
}

/// `proc-title-template` sets what `ps` shows, at start and on CONFIG SET, as Redis does.
#[test]
fn proc_title_template_sets_the_process_title() {
    let s = basalt(&["--proc-title-template", "{title} {listen-addr} port={port}"]);
    let port = s.addr().rsplit(':').next().unwrap_or_default().to_string();
    let title = cmdline(s.pid());
    assert!(
        title.ends_with(&format!(":{port} port={port}")) && title.contains("basalt-server"),
        "{title:?}"
    );
    let mut c = s.conn();
    assert_eq!(
        c.cmd_str(&[
            "CONFIG",
            "SET",
            "proc-title-template",
            "basalt {{port}} {port}"
        ]),
        b"+OK\r\n"
    );
    assert_eq!(cmdline(s.pid()), format!("basalt {{port}}}} {port}"));
}

/// What a config file of `include`, `rename-command` and multi-word directives gives.
fn includes_and_renames(s: &common::ServerProc) -> Vec<String> {
    let mut c = s.conn();
    let text = |r: Vec<u8>| String::from_utf8_lossy(&r).into_owned();
    vec![
        text(c.cmd_str(&["CFG", "GET", "maxmemory"])),
        text(c.cmd_str(&["CFG", "GET", "hz"])),
        text(c.cmd_str(&["CFG", "GET", "latency-tracking-info-percentiles"])),
        text(c.cmd_str(&["CFG", "GET", "replicaof"])),
        text(c.cmd_str(&["CONFIG", "GET", "maxmemory"])),
        text(c.cmd_str(&["SET", "k", "v"])),
        text(c.cmd_str(&["FLUSHALL"])),
        text(c.cmd_str(&["WIPE"])),
        text(c.cmd_str(&["DBSIZE"])),
        text(c.cmd_str(&["DEBUG", "SLEEP", "0"])),
    ]
}

/// `include` (a file, and a glob), `rename-command` (a new name, and "" to remove one),
/// percentiles given as several words and `replicaof no one`, as Redis reads them.
#[test]
fn includes_renames_and_multi_word_directives_as_redis_reads_them() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    std::fs::write(d.join("inc-1.conf"), "maxmemory 12mb\n").expect("write");
    std::fs::write(d.join("inc-2.conf"), "hz 20\n").expect("write");
    std::fs::write(d.join("other.conf"), "maxmemory-samples 7\n").expect("write");
    let main = format!(
        "include {}\ninclude {}/inc-*.conf\nrename-command CONFIG CFG\nrename-command FLUSHALL wipe\nrename-command DEBUG \"\"\nlatency-tracking-info-percentiles 50 99 99.9\nreplicaof no one\n",
        d.join("other.conf").display(),
        d.display()
    );
    let conf = d.join("main.conf");
    std::fs::write(&conf, main).expect("write");
    let p = conf.to_str().expect("path");
    let basalt = common::spawn_with_config(&basalt_bin(), "basalt", p);
    let ours = includes_and_renames(&basalt);
    assert!(ours[0].contains("12582912"), "{ours:?}");
    if redis().is_some() {
        let theirs = common::spawn_with_config(std::path::Path::new("redis-server"), "redis", p);
        assert_eq!(ours, includes_and_renames(&theirs));
    }
}

/// CONFIG SET port and bind reopen the listeners while the server runs, as Redis 7.0's do;
/// connections already open stay.
fn moving_ports(s: &common::ServerProc) -> Vec<String> {
    let text = |r: Vec<u8>| String::from_utf8_lossy(&r).into_owned();
    let mut c = s.conn();
    let mut seen = Vec::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port().to_string();
    seen.push(text(c.cmd_str(&["CONFIG", "SET", "port", &taken_port])));
    let new_port = free_port();
    seen.push(text(c.cmd_str(&[
        "CONFIG",
        "SET",
        "port",
        &new_port.to_string(),
    ])));
    seen.push(format!(
        "old port closed: {}",
        Conn::try_connect(s.port).is_none()
    ));
    let mut moved = Conn::try_connect(new_port).expect("the new port");
    seen.push(text(moved.cmd_str(&["PING"])));
    seen.push(text(c.cmd_str(&["PING"])));
    seen.push(text(c.cmd_str(&["CONFIG", "SET", "bind", "192.0.2.1"])));
    seen.push(text(c.cmd_str(&["CONFIG", "GET", "bind"])));
    seen.push(text(c.cmd_str(&[
        "CONFIG",
        "SET",
        "bind",
        "127.0.0.1 -::1",
    ])));
    seen.push(text(c.cmd_str(&["CONFIG", "GET", "bind"])));
    let mut again = Conn::try_connect(new_port).expect("the port after bind");
    seen.push(text(again.cmd_str(&["PING"])));
    drop(taken);
    seen
}

#[test]
fn config_set_port_and_bind_reopen_listeners_as_redis_does() {
    let basalt = basalt(&[]);
    let ours = moving_ports(&basalt);
    assert_eq!(ours[3], "+PONG\r\n", "{ours:?}");
    if let Some(redis) = redis() {
        assert_eq!(ours, moving_ports(&redis));
    }
}

/// CONFIG REWRITE of one file after the same CONFIG SETs: the file as it comes back, with
/// the port and directory (which differ per server) masked, and the appended part sorted
/// (Redis appends in its hash table's order, which changes from run to run).
fn rewritten(s: &common::ServerProc, conf: &std::path::Path) -> Vec<String> {
    let mut c = s.conn();
    for (name, value) in [
        ("timeout", "9"),
        ("maxmemory", "1gb"),
        ("notify-keyspace-events", "KEA"),
        ("client-output-buffer-limit", "pubsub 1mb 2mb 3"),
        ("oom-score-adj-values", "0 100 200"),
        ("latency-tracking-info-percentiles", "50 99.9"),
        ("hz", "20"),
        ("maxmemory-policy", "allkeys-lru"),
        ("maxmemory-clients", "10%"),
        ("save", "100 1 200 2"),
    ] {
        let r = c.cmd_str(&["CONFIG", "SET", name, value]);
        assert_eq!(r, b"+OK\r\n", "{name} {value}");
    }
    assert_eq!(c.cmd_str(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    let text = std::fs::read_to_string(conf).expect("rewritten file");
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| match l.split(' ').next() {
            Some("port") => "port <port>".to_string(),
            Some("dir") => "dir <dir>".to_string(),
            _ => l.to_string(),
        })
        .collect();
    if let Some(at) = lines
        .iter()
        .position(|l| l == "# Generated by CONFIG REWRITE")
    {
        lines[at + 1..].sort();
    }
    lines
}

#[test]
fn config_rewrite_writes_the_file_as_redis_does() {
    let initial = "# kept\nport 1\ntimeout 5\ntimeout 7\n\n\nsave \"\"\nslave-serve-stale-data yes\nclient-output-buffer-limit normal 0 0 0\nmaxmemory 100mb\n";
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("r.conf");
    let p = conf.to_str().expect("utf-8 path");
    std::fs::write(&conf, initial).expect("write");
    let ours = rewritten(
        &common::spawn_with_config(&basalt_bin(), "basalt", p),
        &conf,
    );
    assert!(ours.contains(&"timeout 9".to_string()), "{ours:#?}");
    if redis().is_some() {
        std::fs::write(&conf, initial).expect("write");
        let theirs = common::spawn_with_config(std::path::Path::new("redis-server"), "redis", p);
        assert_eq!(ours, rewritten(&theirs, &conf));
    }
}
