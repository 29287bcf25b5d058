//! A command in the log that answers an error when replayed (a log written by hand, or by a
//! version that behaved differently): Redis logs it as critical, counts it in INFO's
//! `unexpected_error_replies`, and goes on — or stops under `propagation-error-behavior
//! panic`. Basalt does the same.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

fn write_log(dir: &Path) {
    let aof = dir.join("appendonlydir");
    std::fs::create_dir_all(&aof).expect("appendonlydir");
    std::fs::write(
        aof.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .expect("manifest");
    let mut commands = Vec::new();
    for cmd in [
        &["SET", "k", "abc"][..],
        &["INCR", "k"],
        &["SET", "after", "1"],
    ] {
        commands.extend(format!("*{}\r\n", cmd.len()).into_bytes());
        for a in cmd {
            commands.extend(format!("${}\r\n{a}\r\n", a.len()).into_bytes());
        }
    }
    std::fs::write(aof.join("appendonly.aof.1.incr.aof"), commands).expect("incr");
}

/// `unexpected_error_replies` and `after` once `s` loaded the log.
fn loaded(s: &common::ServerProc) -> (String, Vec<u8>) {
    let mut c = s.conn();
    let n = common::info_field_in(&mut c, "stats", "unexpected_error_replies");
    (n, c.cmd_str(&["GET", "after"]))
}

#[test]
fn an_error_replayed_from_the_log_is_logged_counted_and_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    write_log(dir.path());
    let path = dir.path().to_str().expect("utf-8");
    let args = ["--dir", path, "--appendonly", "yes"];
    let s = common::basalt(&args);
    let ours = loaded(&s);
    assert_eq!(ours, ("1".to_string(), b"$1\r\n1\r\n".to_vec()));
    assert!(
        s.log().contains(
            "== CRITICAL == This server is sending an error to its AOF-loading-client: 'ERR value is not an integer or out of range' after processing the command 'incr'"
        ),
        "{}",
        s.log()
    );
    drop(s);
    if common::redis().is_some() {
        let dir = tempfile::tempdir().expect("dir");
        write_log(dir.path());
        let path = dir.path().to_str().expect("utf-8");
        let r = common::redis_with(&["--dir", path, "--appendonly", "yes"]);
        assert_eq!(loaded(&r), ours);
    }
}

#[test]
fn propagation_error_behavior_panic_stops_the_load() {
    let dir = tempfile::tempdir().expect("dir");
    write_log(dir.path());
    let out = Command::new(common::basalt_bin())
        .args(["--port", &common::free_port().to_string()])
        .args([
            "--appendonly",
            "yes",
            "--propagation-error-behavior",
            "panic",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success(), "{}", out.status);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("This server panicked sending an error to its AOF-loading-client after processing the command 'incr'"),
        "{log}"
    );
}
