//! Shared test support: start real servers (Basalt, and redis-server as the oracle) on free
//! ports in temporary directories, and talk raw RESP to them.

#![allow(dead_code)]

pub mod repl;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now (the OS picks it; we release it just before use).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A server process, killed and cleaned up on drop.
pub struct ServerProc {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub name: &'static str,
}

impl ServerProc {
    /// Whether the server answering on our port is our child process. Ports are chosen free
    /// and released before the server binds them, so a test running in parallel can take the
    /// same port first; then our child fails to bind and this must not mistake the other
    /// test's server for ours.
    fn is_ours(&mut self) -> bool {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return false;
        }
        // The listener may be another test's server that is exiting: a refused connection
        // here means "not ours", not a test failure.
        let Some(mut c) = Conn::try_connect(self.port) else {
            return false;
        };
        if c.stream.write_all(&encode(&[b"INFO", b"server"])).is_err() {
            return false;
        }
        let Some(info) = c.try_read_reply() else {
            return false;
        };
        if info.starts_with(b"-NOAUTH") {
            // A password-protected server: fall back to "our child is alive and listening".
            std::thread::sleep(Duration::from_millis(50));
            return matches!(self.child.try_wait(), Ok(None));
        }
        let want = format!("process_id:{}\r\n", self.child.id());
        info.windows(want.len()).any(|w| w == want.as_bytes())
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit on SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} log (port {}) ---\n{}",
                self.name,
                self.port,
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn basalt_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_basalt-server"))
}

fn spawn(bin: &Path, name: &'static str, extra: &[&str]) -> ServerProc {
    spawn_from(bin, name, None, None, extra)
}

/// Start a server with a config file (its first argument), then the test's options.
pub fn spawn_with_config(bin: &Path, name: &'static str, config: &str) -> ServerProc {
    spawn_from(bin, name, Some(config), None, &[])
}

/// Start Basalt again on a port it had (a restarted master its replicas reconnect to).
pub fn basalt_at(port: u16, extra: &[&str]) -> ServerProc {
    spawn_from(&basalt_bin(), "basalt", None, Some(port), extra)
}

fn spawn_from(
    bin: &Path,
    name: &'static str,
    config: Option<&str>,
    fixed_port: Option<u16>,
    extra: &[&str],
) -> ServerProc {
    // A port can be taken between free_port() and bind; retry a few times.
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = fixed_port.unwrap_or_else(free_port);
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir.path());
        if let Some(file) = config {
            cmd.arg(file);
        }
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1");
        // Redis's defaults for tests first, so `extra` can override them.
        if name == "redis" {
            cmd.args(["--save", "", "--appendonly", "no"]);
        }
        cmd.args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut p = ServerProc {
            child,
            port,
            dir,
            name,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = p.child.try_wait() {
                break;
            }
            if let Ok(s) = TcpStream::connect(p.addr()) {
                drop(s);
                if p.is_ours() {
                    return p;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{name} failed to start on port {port}; log:\n{}", p.log());
    }
    panic!("could not start {name}");
}

/// Start Basalt with extra `--name value` arguments.
pub fn basalt(extra: &[&str]) -> ServerProc {
    spawn(&basalt_bin(), "basalt", extra)
}

/// Start redis-server from PATH. Without it, differential tests skip loudly — unless
/// BASALT_REQUIRE_REDIS=1 (CI), where a missing oracle is a failure.
pub fn redis() -> Option<ServerProc> {
    let found = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("BASALT_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("redis-server is not on PATH and BASALT_REQUIRE_REDIS=1");
        }
        eprintln!("\n!!! redis-server not found on PATH: SKIPPING differential test !!!\n");
        return None;
    }
    Some(spawn(Path::new("redis-server"), "redis", &[]))
}

/// Start redis-server with extra arguments, without waiting for its data (a replica that
/// answers `-MASTERDOWN` never answers a data command).
pub fn redis_no_wait(extra: &[&str]) -> ServerProc {
    spawn(Path::new("redis-server"), "redis", extra)
}

/// Start redis-server with extra arguments (after the test defaults, so they win), and wait
/// until it has loaded its data (it answers -LOADING to data commands meanwhile).
/// Panics if redis-server is missing; call [`redis`] first to skip.
pub fn redis_with(extra: &[&str]) -> ServerProc {
    let p = spawn(Path::new("redis-server"), "redis", extra);
    let mut c = p.conn();
    let deadline = Instant::now() + Duration::from_secs(60);
    // A data command answers -LOADING until every file is loaded (INFO's `loading:0` can show
    // between the base and the incr files of a log).
    loop {
        let reply = c.cmd(&[b"EXISTS", b"redis-with-probe"]);
        if reply.starts_with(b":") {
            break;
        }
        assert!(Instant::now() < deadline, "redis-server is still loading");
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

/// A raw RESP connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Encode a command as a RESP multibulk request.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Conn {
    /// Like [`Conn::connect`], `None` if nothing accepts the connection.
    pub fn try_connect(port: u16) -> Option<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Some(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn connect(port: u16) -> Conn {
        Conn::try_connect(port).expect("connect")
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode(args));
    }

    /// Send a command and return its raw reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_reply()
    }

    /// Send a command and read its reply; None if the connection broke (a killed server).
    pub fn try_cmd(&mut self, args: &[&[u8]]) -> Option<Vec<u8>> {
        self.stream.write_all(&encode(args)).ok()?;
        self.try_read_reply()
    }

    /// Same, with string arguments.
    pub fn cmd_str(&mut self, args: &[&str]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a)
    }

    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    /// Read one complete reply (raw bytes). Panics if the connection closes first.
    pub fn read_reply(&mut self) -> Vec<u8> {
        self.try_read_reply()
            .expect("connection closed before a full reply")
    }

    /// Read one reply, or None if the connection closed.
    pub fn try_read_reply(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = frame_end(&self.buf, 0) {
                return Some(self.buf.drain(..end).collect());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Wait up to `ms` for any byte; true if something arrived.
    pub fn has_data_within(&mut self, ms: u64) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        self.stream
            .set_read_timeout(Some(Duration::from_millis(ms)))
            .expect("timeout");
        let got = self.fill();
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        got
    }

    /// Put bytes back in front of what is buffered (they are read again first).
    pub fn unread(&mut self, mut bytes: Vec<u8>) {
        bytes.extend_from_slice(&self.buf);
        self.buf = bytes;
    }

    /// What is buffered, or else whatever arrives within `wait`; `None` if nothing does or the
    /// connection closed.
    pub fn read_some_within(&mut self, wait: Duration) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            self.stream
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .expect("timeout");
            let got = self.fill();
            self.stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            if !got {
                return None;
            }
        }
        Some(std::mem::take(&mut self.buf))
    }

    /// True if the server closed the connection (reads EOF within 2 s).
    pub fn is_closed(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut tmp = [0u8; 1024];
        matches!(self.stream.read(&mut tmp), Ok(0))
    }
}

/// End offset of the RESP frame starting at `at`, if complete.
pub fn frame_end(buf: &[u8], at: usize) -> Option<usize> {
    let line_end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    let kind = buf[at];
    let after = line_end + 2;
    if matches!(kind, b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(') {
        // A line, whatever its bytes (errors quote client bytes as they came).
        return Some(after);
    }
    let header = std::str::from_utf8(&buf[at + 1..line_end]).ok()?;
    match kind {
        b'$' | b'=' | b'!' => {
            let n: i64 = header.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n: i64 = header.parse().ok()?;
            let count = if matches!(kind, b'%' | b'|') {
                n * 2
            } else {
                n
            };
            let mut pos = after;
            for _ in 0..count.max(0) {
                pos = frame_end(buf, pos)?;
            }
            Some(pos)
        }
        _ => None,
    }
}

/// The raw elements of an aggregate reply (map pairs flattened), or None for scalars.
pub fn elements(frame: &[u8]) -> Option<Vec<Vec<u8>>> {
    if !matches!(frame.first(), Some(b'*' | b'~' | b'>' | b'%')) {
        return None;
    }
    let line_end = frame.windows(2).position(|w| w == b"\r\n")?;
    let n: i64 = std::str::from_utf8(&frame[1..line_end])
        .ok()?
        .parse()
        .ok()?;
    let count = if frame[0] == b'%' { n * 2 } else { n };
    let mut pos = line_end + 2;
    let mut out = Vec::new();
    for _ in 0..count.max(0) {
        let end = frame_end(frame, pos)?;
        out.push(frame[pos..end].to_vec());
        pos = end;
    }
    Some(out)
}

/// Show bytes readably in failure messages.
pub fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn lossy(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// Every key of every database with its type, value and absolute expiry, sorted: what must
/// survive a restart.
pub fn dataset(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..16 {
        let n = db.to_string();
        c.cmd_str(&["SELECT", &n]);
        let keys = elements(&c.cmd_str(&["KEYS", "*"])).unwrap_or_default();
        for k in keys {
            let key = String::from_utf8_lossy(&k)
                .lines()
                .nth(1)
                .unwrap_or("")
                .to_string();
            let t = lossy(&c.cmd_str(&["TYPE", &key]));
            let value = match t.trim() {
                "+string" => lossy(&c.cmd_str(&["GET", &key])),
                "+list" => lossy(&c.cmd_str(&["LRANGE", &key, "0", "-1"])),
                "+hash" => {
                    let mut f = elements(&c.cmd_str(&["HGETALL", &key])).unwrap_or_default();
                    f.sort();
                    format!("{f:?}")
                }
                "+set" => {
                    let mut m = elements(&c.cmd_str(&["SMEMBERS", &key])).unwrap_or_default();
                    m.sort();
                    format!("{m:?}")
                }
                "+zset" => lossy(&c.cmd_str(&["ZRANGE", &key, "0", "-1", "WITHSCORES"])),
                "+stream" => stream_state(c, &key),
                other => format!("type {other}"),
            };
            let at = lossy(&c.cmd_str(&["PEXPIRETIME", &key]));
            out.push(format!("db{db} {key} {} {value} {}", t.trim(), at.trim()));
        }
    }
    c.cmd_str(&["SELECT", "0"]);
    out.sort();
    out
}

/// Streams and HyperLogLogs for the persistence tests: a stream over several nodes with
/// deleted entries, a long (compressible) value, two groups with consumers and pending entries
/// (one consumer owning none); an empty stream with a group; a trimmed stream with a set last
/// ID (IDs are explicit, so Redis and Basalt hold the same entries); a sparse and a dense
/// HyperLogLog (compared byte for byte as strings).
pub fn fill_streams_and_hlls(c: &mut Conn) {
    let many: Vec<String> = (0..3000).map(|i| format!("visitor:{i}")).collect();
    let mut pfadd: Vec<&str> = vec!["PFADD", "hll-dense"];
    pfadd.extend(many.iter().map(String::as_str));
    for cmd in [&pfadd[..], &["PFADD", "hll-sparse", "a", "b", "c"]] {
        assert!(!c.cmd_str(cmd).starts_with(b"-"), "{}", cmd[0]);
    }
    for i in 1..=250 {
        let id = format!("{i}-1");
        c.send(&[
            b"XADD",
            b"stream",
            id.as_bytes(),
            b"n",
            i.to_string().as_bytes(),
            b"f",
            b"v",
        ]);
        c.read_reply();
    }
    let long = "stream".repeat(100);
    for cmd in [
        &["XDEL", "stream", "5-1", "150-1"][..],
        &["XADD", "stream", "1000-1", "long", &long],
        &["XGROUP", "CREATE", "stream", "g1", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "5",
            "STREAMS",
            "stream",
            ">",
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "bob",
            "COUNT",
            "3",
            "STREAMS",
            "stream",
            ">",
        ],
        &["XACK", "stream", "g1", "2-1"],
        &["XGROUP", "CREATE", "stream", "g2", "$", "ENTRIESREAD", "3"],
        &["XGROUP", "CREATECONSUMER", "stream", "g2", "idle"],
        &["XGROUP", "CREATE", "emptystream", "g", "0", "MKSTREAM"],
        &["XADD", "trimmed", "1-1", "a", "1"],
        &["XADD", "trimmed", "2-1", "a", "2"],
        &["XADD", "trimmed", "MAXLEN", "1", "3-1", "a", "3"],
        &[
            "XSETID",
            "trimmed",
            "9-9",
            "ENTRIESADDED",
            "10",
            "MAXDELETEDID",
            "2-5",
        ],
    ] {
        let reply = c.cmd_str(cmd);
        assert!(!reply.starts_with(b"-"), "{cmd:?}: {}", lossy(&reply));
    }
}

/// Everything a stream holds (entries, IDs, counters, groups, pending entries with their
/// owners, delivery times and counts, consumers), leaving out what a reload may change:
/// consumers' seen times, the radix tree's shape, and a group's `entries-read` and `lag`
/// (Redis 7.0.15 logs an XREADGROUP as XCLAIMs, which do not carry the read counter: after
/// its own AOF reload the counter is nil — checked — and Basalt's log does the same).
fn stream_state(c: &mut Conn, key: &str) -> String {
    let full = lossy(&c.cmd_str(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]));
    let mut out = String::new();
    let mut skip_next = false;
    for line in full.split("\r\n") {
        if skip_next {
            skip_next = false;
            continue;
        }
        if matches!(
            line,
            "seen-time" | "radix-tree-keys" | "radix-tree-nodes" | "entries-read" | "lag"
        ) {
            skip_next = true;
        }
        out.push_str(line);
        out.push('|');
    }
    out
}

/// A field of `INFO persistence` (the AOF and RDB tests poll these).
pub fn info_field(c: &mut Conn, name: &str) -> String {
    info_field_in(c, "persistence", name)
}

/// A field of one INFO section.
pub fn info_field_in(c: &mut Conn, section: &str, name: &str) -> String {
    let info = lossy(&c.cmd_str(&["INFO", section]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .to_string()
}

/// `redis-check-rdb` accepts the file at `path`.
pub fn assert_redis_check_rdb(path: &Path) {
    let check = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("redis-check-rdb");
    assert!(check.status.success(), "{}", lossy(&check.stdout));
}

/// CPU time the server's threads have used, in nanoseconds (the run time in each thread's
/// `/proc/PID/task/TID/schedstat`).
pub fn cpu_ns(pid: u32) -> u64 {
    let mut total = 0;
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).expect("server's task dir");
    for task in dir.filter_map(Result::ok) {
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            total += stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// Runs a differential property test: `cases` sequences from `strategy` (or
/// `PROPTEST_CASES`), each checked by `check`, which returns the annotated transcript when
/// the servers differ; panics with the minimal failing sequence after shrinking.
pub fn prop_differential<S: proptest::strategy::Strategy>(
    cases: u32,
    max_shrink_iters: u32,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), String>,
) {
    use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
    let config = Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        max_shrink_iters,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    match runner.run(&strategy, |v| check(v).map_err(TestCaseError::fail)) {
        Ok(()) => {}
        Err(TestError::Fail(why, _)) => {
            panic!("Basalt and redis differ (minimal sequence after shrinking):\n{why}")
        }
        Err(e) => panic!("{e}"),
    }
}
