//! Interop with the real Redis tools (redis-tools and redis-server, installed by CI):
//! `redis-check-aof` accepts a log Basalt writes, checksum annotations included, and flags the
//! same torn tail Basalt's reader reports; an appendonlydir that redis-server writes loads
//! through Basalt's manifest parser and loader. Without the tools these skip loudly, and fail
//! under BASALT_REQUIRE_REDIS=1.

mod common;

use std::process::Command;

use persist::{encode_command, AofError, AofReader, Checksummer};

fn tool_present() -> bool {
    common::tools_present(&["redis-check-aof"])
}

fn basalt_log() -> Vec<u8> {
    let mut out = Vec::new();
    let mut sum = Checksummer::default();
    let cmds: [&[&[u8]]; 3] = [
        &[b"SELECT", b"0"],
        &[b"SET", b"k", b"v"],
        &[b"RPUSH", b"l", b"a", b"b\r\nc"],
    ];
    for c in cmds {
        let mut rec = Vec::new();
        encode_command(&mut rec, c);
        sum.update(&rec);
        out.extend_from_slice(&rec);
        out.extend_from_slice(&sum.annotation());
    }
    out
}

#[test]
fn redis_check_aof_accepts_basalt_logs_and_agrees_on_torn_tails() {
    if !tool_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("appendonly.aof");
    let log = basalt_log();
    std::fs::write(&path, &log).expect("write");
    let out = Command::new("redis-check-aof")
        .arg(&path)
        .output()
        .expect("run redis-check-aof");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("is valid"), "{text}");

    // Cut inside the last command: both see the same valid prefix.
    let cut = log.len() - 20;
    std::fs::write(&path, &log[..cut]).expect("write");
    let mut r = AofReader::new(&log[..cut], 1 << 20);
    let torn_at = loop {
        match r.next_entry() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the cut went unnoticed"),
            Err(AofError::Truncated { offset }) => break offset,
            Err(e) => panic!("{e}"),
        }
    };
    let out = Command::new("redis-check-aof")
        .arg(&path)
        .output()
        .expect("run redis-check-aof");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("ok_up_to={torn_at},")),
        "redis-check-aof and Basalt disagree on the valid prefix ({torn_at}): {text}"
    );
}

/// A free port (released just before redis-server binds it; the test retries on a clash).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ephemeral port")
}

fn send(port: u16, commands: &[&[&str]]) -> Option<()> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut req = Vec::new();
    for c in commands {
        let args: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
        encode_command(&mut req, &args);
    }
    s.write_all(&req).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while got.iter().filter(|&&c| c == b'\n').count() < commands.len() {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Some(())
}

/// redis-server 7.0 writes an appendonlydir (AOF-format base, then an incr file); Basalt's
/// manifest parser and loader read it back, every command in order.
#[test]
fn loads_an_appendonlydir_written_by_redis_server() {
    if !tool_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for _attempt in 0..5 {
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--aof-use-rdb-preamble", "no"])
            .args(["--appendfsync", "always"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let mut ok = false;
        for _ in 0..100 {
            if send(port, &[&["PING"]]).is_some() {
                ok = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if !ok {
            let _ = child.kill();
            let _ = child.wait();
            continue;
        }
        send(
            port,
            &[
                &["SET", "k1", "v1"],
                &["RPUSH", "list", "a", "b"],
                &["SELECT", "3"],
                &["HSET", "h", "f", "v with spaces"],
            ],
        )
        .expect("commands");
        let _ = send(port, &[&["SHUTDOWN", "NOSAVE"]]);
        let _ = child.wait();
        let aofdir = dir.path().join("appendonlydir");
        let manifest = persist::read_manifest(&aofdir, "appendonly.aof")
            .expect("manifest")
            .expect("redis wrote a manifest");
        assert!(
            manifest.base.is_some() && !manifest.incr.is_empty(),
            "{manifest:?}"
        );
        let mut seen = Vec::new();
        let report = persist::load(&aofdir, &manifest, false, 1 << 20, |unit| {
            for c in unit {
                seen.push(
                    c.iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
            Ok(())
        })
        .expect("load redis's log");
        assert_eq!(report.truncated_bytes, 0);
        let want = [
            "SET k1 v1",
            "RPUSH list a b",
            "SELECT 3",
            "HSET h f v with spaces",
        ];
        // Redis logs SELECT 0 before the first command; the rest is what was sent.
        let found: Vec<String> = seen.into_iter().filter(|c| c != "SELECT 0").collect();
        assert_eq!(found, want.map(String::from));
        return;
    }
    panic!("redis-server did not start");
}
