//! `redis-check-aof` (from redis-tools, installed by CI) accepts a log Basalt writes, checksum
//! annotations included, and flags the same torn tail Basalt's reader reports. Without the
//! tool this skips loudly, and fails under BASALT_REQUIRE_REDIS=1.

use std::process::Command;

use persist::{encode_command, AofError, AofReader, Checksummer};

fn tool_present() -> bool {
    let found = Command::new("redis-check-aof")
        .arg("--help")
        .output()
        .is_ok();
    if !found {
        assert!(
            std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-check-aof missing and BASALT_REQUIRE_REDIS=1"
        );
        eprintln!("\n!!! redis-check-aof not found: SKIPPING !!!\n");
    }
    found
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
