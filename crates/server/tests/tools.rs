//! The Redis tools users point at Basalt: redis-benchmark and redis-cli (commands on stdin,
//! `--scan`). They come with the oracle (Debian's redis-tools); without them these tests skip
//! loudly, and fail under BASALT_REQUIRE_REDIS=1.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::basalt;

fn tool(name: &str) -> bool {
    let flag = if name == "tmux" { "-V" } else { "--version" };
    let found = Command::new(name)
        .arg(flag)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "{name} missing and BASALT_REQUIRE_REDIS=1"
        );
        eprintln!("\n!!! {name} not found on PATH: SKIPPING !!!\n");
    }
    found
}

#[test]
fn redis_benchmark_runs_against_basalt() {
    if !tool("redis-benchmark") {
        return;
    }
    let s = basalt(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &s.port.to_string(),
            "-t",
            "ping,set,get,incr,mset",
            "-n",
            "100000",
            "-q",
        ])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        let line = text
            .lines()
            .flat_map(|l| l.split('\r'))
            .find(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second"));
        assert!(line.is_some(), "no result for {test} in:\n{text}");
    }
    // The benchmark's INCR really counted (100000 INCRs of the same key).
    let mut c = s.conn();
    assert_eq!(
        c.cmd_str(&["GET", "counter:__rand_int__"]),
        b"$6\r\n100000\r\n"
    );
}

/// redis-benchmark's whole default suite (every test `redis-benchmark -q` runs) completes
/// against Basalt with a result line per test, and leaves the data its tests imply.
#[test]
fn redis_benchmark_default_suite_runs_against_basalt() {
    if !tool("redis-benchmark") {
        return;
    }
    let s = basalt(&[]);
    let out = Command::new("redis-benchmark")
        .args(["-p", &s.port.to_string(), "-n", "2000", "-q"])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<&str> = text
        .lines()
        .flat_map(|l| l.split('\r'))
        .filter(|l| l.contains("requests per second"))
        .collect();
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LPUSH (needed to benchmark LRANGE)",
        "LRANGE_100 (first 100 elements)",
        "LRANGE_300 (first 300 elements)",
        "LRANGE_500 (first 500 elements)",
        "LRANGE_600 (first 600 elements)",
        "MSET (10 keys)",
    ] {
        assert!(
            results.iter().any(|l| l.starts_with(&format!("{test}: "))),
            "no result for {test} in:\n{text}"
        );
    }
    let mut c = s.conn();
    // As redis-server after the same run: ZPOPMIN and SPOP emptied what ZADD and SADD built,
    // the pushes and pops cancel out, and the LRANGE tests' own LPUSH left 2000 elements.
    assert_eq!(c.cmd_str(&["EXISTS", "myzset"]), b":0\r\n");
    assert_eq!(c.cmd_str(&["SCARD", "myset"]), b":0\r\n");
    assert_eq!(c.cmd_str(&["TYPE", "myhash"]), b"+hash\r\n");
    assert_eq!(c.cmd_str(&["LLEN", "mylist"]), b":2000\r\n");
}

#[test]
fn redis_cli_scan_and_commands_on_stdin() {
    if !tool("redis-cli") {
        return;
    }
    let s = basalt(&[]);
    let mut c = s.conn();
    for i in 0..1500 {
        c.cmd_str(&["SET", &format!("key:{i}"), "v"]);
    }
    let out = Command::new("redis-cli")
        .args(["-p", &s.port.to_string(), "--scan", "--pattern", "key:1*"])
        .output()
        .expect("run redis-cli");
    assert!(out.status.success());
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    got.dedup();
    let mut want: Vec<String> = (0..1500)
        .map(|i| format!("key:{i}"))
        .filter(|k| k.starts_with("key:1"))
        .collect();
    want.sort();
    assert_eq!(got, want);

    // Commands on stdin, as scripts use redis-cli: same output as against redis-server.
    let script = b"SET greeting \"hello world\"\nGET greeting\nINCR n\nTTL greeting\nFOO\nMGET greeting nope\n";
    let basalt_out = cli_with_stdin(s.port, script);
    assert!(
        basalt_out.starts_with("OK\nhello world\n1\n-1\n"),
        "{basalt_out}"
    );
    if let Some(r) = common::redis() {
        assert_eq!(basalt_out, cli_with_stdin(r.port, script));
    }
}

fn cli_with_stdin(port: u16, script: &[u8]) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script)
        .expect("write");
    let out = child.wait_with_output().expect("redis-cli output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A private tmux server for one test: its own socket (`-L`), so parallel tests and a user's
/// tmux never meet, and a keeper session so the server does not exit between two sessions (a
/// `new-session` racing a server that is shutting down fails, which made this test flaky).
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Tmux {
        let t = Tmux {
            socket: format!("basalt-test-{}", std::process::id()),
        };
        t.run(&["new-session", "-d", "-s", "keeper", "cat"])
            .expect("tmux keeper session");
        t
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "tmux {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Type a partial command into interactive redis-cli (in a tmux terminal) and return the
    /// line it shows, hint included. redis-cli 7 builds hints from the server's COMMAND DOCS.
    ///
    /// Polls the screen instead of sleeping fixed times (a busy CI machine starts redis-cli
    /// slowly): first for the prompt, then for the typed text followed by a hint, then until
    /// the line stops changing.
    fn hint_line(&self, port: u16, session: &str, typed: &str) -> String {
        let first_line = || {
            let screen = self
                .run(&["capture-pane", "-t", session, "-p"])
                .unwrap_or_default();
            screen.lines().next().unwrap_or("").to_string()
        };
        let wait_for = |what: &str, done: &dyn Fn(&str) -> bool| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let line = first_line();
                if done(&line) {
                    return line;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "timed out waiting for {what} in session {session}: screen line {line:?}"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        };
        let cli = format!("redis-cli -p {port}");
        let size = ["-x", "200", "-y", "5"];
        let mut args = vec!["new-session", "-d", "-s", session];
        args.extend(size);
        args.push(&cli);
        self.run(&args).expect("tmux new-session");
        // The prompt `host:port>` (tmux drops the trailing space).
        wait_for("the prompt", &|l: &str| l.contains('>'));
        self.run(&["send-keys", "-t", session, typed])
            .expect("tmux send-keys");
        // redis-cli redraws per key, so an early screen can show a hint for a shorter prefix:
        // wait for the whole typed text followed by a hint, then for the line to settle.
        let mut line = wait_for("the hint", &|l: &str| {
            l.split_once("> ")
                .is_some_and(|(_, rest)| rest.starts_with(typed) && rest.len() > typed.len())
        });
        loop {
            std::thread::sleep(std::time::Duration::from_millis(150));
            let again = first_line();
            if again == line {
                break;
            }
            line = again;
        }
        // Best effort: the keeper keeps the server alive, kill-server cleans up at the end.
        let _ = self.run(&["kill-session", "-t", session]);
        // Drop the prompt (it names the port).
        line.split_once("> ")
            .map_or(line.clone(), |(_, rest)| rest.to_string())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn interactive_redis_cli_hints_match_redis() {
    if !tool("redis-cli") || !tool("tmux") {
        return;
    }
    let Some(r) = common::redis() else { return };
    let b = basalt(&[]);
    let tmux = Tmux::start();
    for (i, typed) in [
        "SET k ",
        "GETEX k ",
        "EXPIRE k 10 ",
        "SCAN 0 ",
        "COPY a b ",
        "LCS a b ",
    ]
    .iter()
    .enumerate()
    {
        let want = tmux.hint_line(r.port, &format!("hr{i}"), typed);
        let got = tmux.hint_line(b.port, &format!("hb{i}"), typed);
        assert!(
            want.len() > typed.len(),
            "redis showed no hint for {typed:?}: {want:?}"
        );
        assert_eq!(got, want, "hint for {typed:?}");
    }
}
