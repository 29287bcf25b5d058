//! The process around the server, as redis.conf drives it: `daemonize`, `supervised`
//! (systemd's notify socket), `pidfile`, `syslog-enabled`, and the crash report
//! (`crash-log-enabled`, DEBUG PANIC).

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{basalt_bin, free_port, Conn};

/// Connect to `port` within ten seconds; `child` (when given) must not exit meanwhile.
fn connect(port: u16, mut child: Option<&mut Child>) -> Conn {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = Conn::try_connect(port) {
            return c;
        }
        if let Some(ch) = child.as_deref_mut() {
            if let Ok(Some(status)) = ch.try_wait() {
                panic!("server exited: {status}");
            }
        }
        assert!(Instant::now() < deadline, "no server on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills a process when dropped, so a failed assertion leaves no server behind.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills the daemon (not our child) when dropped.
struct ReapPid(i32);

impl Drop for ReapPid {
    fn drop(&mut self) {
        // SAFETY: kill sends a signal; the pid is the daemon this test started.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
        }
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn daemonize_forks_writes_the_pidfile_and_serves() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let pidfile = dir.path().join("basalt.pid");
    let status = Command::new(basalt_bin())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--daemonize", "yes", "--save", ""])
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--logfile")
        .arg(dir.path().join("log"))
        .current_dir(dir.path())
        .status()
        .expect("run");
    // The foreground process returns at once; the daemon goes on.
    assert!(status.success(), "{status}");
    let mut c = connect(port, None);
    assert_eq!(c.cmd_str(&["PING"]), b"+PONG\r\n");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    let _reap = ReapPid(pid);
    assert_eq!(
        common::info_field_in(&mut c, "server", "process_id"),
        pid.to_string()
    );
    assert!(alive(pid));
    // A new session of its own: no terminal, not in the test's process group.
    // SAFETY: getsid reads a property of a process.
    assert_eq!(unsafe { libc::getsid(pid) }, pid);
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) || pidfile.exists() {
        assert!(Instant::now() < deadline, "daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
    assert!(log.contains("Ready to accept connections"), "{log}");
}

/// Datagrams the server sent to the notify socket, until `until` arrives.
fn notifications(sock: &UnixDatagram, until: &str) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.iter().any(|m: &String| m == until) {
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no `{until}` from the server ({e}); got {got:?}"));
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got
}

fn start_supervised(
    mode: &str,
    notify: Option<&std::path::Path>,
) -> (Reap, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut cmd = Command::new(basalt_bin());
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--supervised", mode, "--save", ""])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("UPSTART_JOB");
    if let Some(path) = notify {
        cmd.env("NOTIFY_SOCKET", path);
    }
    (Reap(cmd.spawn().expect("spawn")), port, dir)
}

#[test]
fn supervised_systemd_notifies_loading_ready_and_stopping() {
    for mode in ["systemd", "auto"] {
        let sock_dir = tempfile::tempdir().expect("dir");
        let path = sock_dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).expect("bind notify socket");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let (mut child, port, _dir) = start_supervised(mode, Some(&path));
        let got = notifications(&sock, "READY=1\n");
        assert_eq!(
            got,
            [
                "STATUS=Basalt is loading...\n",
                "STATUS=Ready to accept connections\n",
                "READY=1\n"
            ],
            "{mode}"
        );
        let mut c = connect(port, Some(&mut child.0));
        assert_eq!(
            common::info_field_in(&mut c, "server", "process_supervised"),
            "systemd"
        );
        c.send(&[b"SHUTDOWN", b"NOSAVE"]);
        assert_eq!(notifications(&sock, "STOPPING=1\n"), ["STOPPING=1\n"]);
        assert!(child.0.wait().expect("wait").success());
    }
}

#[test]
fn supervised_auto_without_a_manager_runs_unsupervised() {
    let (mut child, port, _dir) = start_supervised("auto", None);
    let mut c = connect(port, Some(&mut child.0));
    assert_eq!(
        common::info_field_in(&mut c, "server", "process_supervised"),
        "no"
    );
}

/// DEBUG PANIC ends the process; the log holds the whole report only with
/// `crash-log-enabled yes`, as Redis's bug report.
#[test]
fn debug_panic_writes_the_crash_report_crash_log_enabled_asks_for() {
    for enabled in ["yes", "no"] {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let log = dir.path().join("log");
        let mut child = Reap(
            Command::new(basalt_bin())
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--enable-debug-command", "yes", "--save", ""])
                .args(["--crash-log-enabled", enabled])
                .arg("--logfile")
                .arg(&log)
                .current_dir(dir.path())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn"),
        );
        let mut c = connect(port, Some(&mut child.0));
        c.send(&[b"DEBUG", b"PANIC"]);
        let status = child.0.wait().expect("wait");
        assert!(!status.success(), "{status}");
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(text.contains("Panic in thread"), "{text}");
        assert!(text.contains("DEBUG PANIC called at Unix time"), "{text}");
        assert_eq!(
            text.contains("BASALT BUG REPORT START") && text.contains("STACK TRACE"),
            enabled == "yes",
            "crash-log-enabled {enabled}:\n{text}"
        );
    }
}

/// `syslog-enabled yes` with an ident and a facility starts, and the log file still gets
/// every line (syslog is in addition, as in Redis).
#[test]
fn syslog_enabled_keeps_the_log_file() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let log = dir.path().join("log");
    let mut child = Reap(
        Command::new(basalt_bin())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--syslog-enabled", "yes", "--syslog-ident", "basalt-test"])
            .args(["--syslog-facility", "local3", "--save", ""])
            .arg("--logfile")
            .arg(&log)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let mut c = connect(port, Some(&mut child.0));
    let got = c.cmd_str(&["CONFIG", "GET", "syslog-*"]);
    let text = String::from_utf8_lossy(&got);
    for want in ["syslog-enabled", "yes", "basalt-test", "local3"] {
        assert!(text.contains(want), "{text}");
    }
    drop(child);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("Ready to accept connections"), "{text}");
}

/// `Cpus_allowed_list` of each thread of `pid`, by thread name.
fn thread_cpus(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let path = task.expect("task").path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_string();
        out.push((name.trim().to_string(), cpus));
    }
    out
}

/// `server_cpulist` binds the threads that serve clients, `bio_cpulist` the log writer.
#[test]
fn cpu_lists_bind_the_threads() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!("!!! one CPU: SKIPPING");
        return;
    }
    let s = common::basalt(&[
        "--server_cpulist",
        "0",
        "--bio_cpulist",
        "1",
        "--appendonly",
        "yes",
    ]);
    let mut c = s.conn();
    assert_eq!(c.cmd_str(&["SET", "k", "v"]), b"+OK\r\n");
    let pid: u32 = common::info_field_in(&mut c, "server", "process_id")
        .parse()
        .expect("pid");
    let threads = thread_cpus(pid);
    let cpus_of = |prefix: &str| -> Vec<&str> {
        threads
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, c)| c.as_str())
            .collect()
    };
    let io = cpus_of("basalt-io-");
    assert!(
        !io.is_empty() && io.iter().all(|c| *c == "0"),
        "{threads:?}"
    );
    assert_eq!(cpus_of("basalt-aof"), ["1"], "{threads:?}");
    assert_eq!(cpus_of("basalt-cron"), ["0"], "{threads:?}");
}

/// `socket-mark-id` marks the listening sockets (as `ss -e` shows them: `fwmark:0x2a`).
#[test]
fn socket_mark_id_marks_the_listening_sockets() {
    let s = common::basalt(&["--socket-mark-id", "42"]);
    let Ok(out) = Command::new("ss").args(["-ltne"]).output() else {
        eprintln!("!!! ss (iproute2) not found: SKIPPING");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{} ", s.port)))
        .unwrap_or_else(|| panic!("no listener on {} in:\n{text}", s.port));
    // Setting a mark needs CAP_NET_ADMIN; without it Redis and Basalt go on unmarked.
    // SAFETY: geteuid reads the process's user id.
    if unsafe { libc::geteuid() } == 0 {
        assert!(line.contains("fwmark:0x2a"), "{line}");
    }
}
