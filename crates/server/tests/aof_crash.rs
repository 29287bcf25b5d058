//! Crash test for the append-only log under `appendfsync always`: several writers append to
//! their own lists while the server is killed with SIGKILL at a random moment, 20 times over
//! one directory. After every restart each list must hold exactly 0, 1, 2, … with no gap, at
//! least up to the last value whose reply the writer received (an acknowledged write is never
//! lost), and nothing that was never sent.
//!
//! The same holds under `appendfsync everysec` for a killed *process* (not a crashed machine):
//! a reply leaves only after its record was written to the file, as in Redis.
//!
//! Meanwhile another client moves money between accounts with MULTI … EXEC transfers (keys
//! spread over shards): after every restart the total is unchanged, so the log holds each
//! transaction whole or not at all, a torn one included.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{basalt, Conn, ServerProc};

const WRITERS: usize = 4;
const ROUNDS: usize = 20;
const ACCOUNTS: usize = 8;
const BALANCE: i64 = 100;

fn start(dir: &std::path::Path, fsync: &str) -> ServerProc {
    basalt(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
    ])
}

/// The list's elements as integers.
fn list(c: &mut Conn, key: &str) -> Vec<i64> {
    common::elements(&c.cmd_str(&["LRANGE", key, "0", "-1"]))
        .unwrap_or_default()
        .iter()
        .map(|e| {
            String::from_utf8_lossy(e)
                .lines()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .expect("an integer element")
        })
        .collect()
}

#[test]
fn sigkill_under_write_load_loses_no_acknowledged_write() {
    crash_rounds("always", ROUNDS);
}

#[test]
fn sigkill_under_everysec_loses_no_acknowledged_write_either() {
    crash_rounds("everysec", ROUNDS / 2);
}

/// The accounts' total, after checking every account exists.
fn total(c: &mut Conn) -> i64 {
    let names: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct:{i}")).collect();
    let mut args: Vec<&str> = vec!["MGET"];
    args.extend(names.iter().map(String::as_str));
    common::elements(&c.cmd_str(&args))
        .expect("MGET reply")
        .iter()
        .map(|e| {
            String::from_utf8_lossy(e)
                .lines()
                .nth(1)
                .and_then(|v| v.parse::<i64>().ok())
                .expect("every account holds an integer")
        })
        .sum()
}

/// Move 1 between two accounts in a transaction, over and over, until the server goes.
fn transfers(mut c: Conn, stop: Arc<AtomicBool>, mut seed: u64) {
    while !stop.load(Ordering::Relaxed) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let from = format!("acct:{}", seed as usize % ACCOUNTS);
        let to = format!("acct:{}", (seed >> 8) as usize % ACCOUNTS);
        c.send(&[b"MULTI"]);
        c.send(&[b"DECRBY", from.as_bytes(), b"1"]);
        c.send(&[b"INCRBY", to.as_bytes(), b"1"]);
        c.send(&[b"EXEC"]);
        for _ in 0..4 {
            if c.try_read_reply().is_none() {
                return;
            }
        }
    }
}

fn crash_rounds(fsync: &str, rounds: usize) {
    let dir = tempfile::tempdir().expect("dir");
    // Next value each writer sends, and the highest value acknowledged.
    let next: Vec<i64> = vec![0; WRITERS];
    let mut next = next;
    let mut seed: u64 = 0x5eed_1234;
    for round in 0..rounds {
        let mut s = start(dir.path(), fsync);
        // Everything from earlier rounds is there, gap-free.
        let mut check = s.conn();
        for (w, n) in next.iter_mut().enumerate() {
            let got = list(&mut check, &format!("w{w}"));
            let want: Vec<i64> = (0..got.len() as i64).collect();
            assert_eq!(
                got, want,
                "round {round}: list w{w} has a gap or a stray value"
            );
            assert!(
                got.len() as i64 >= *n,
                "round {round}: w{w} lost acknowledged writes ({} < {n})",
                got.len()
            );
            // A write sent but not acknowledged may or may not be there; go on after it.
            *n = got.len() as i64;
        }
        if round == 0 {
            for i in 0..ACCOUNTS {
                check.cmd_str(&["SET", &format!("acct:{i}"), &BALANCE.to_string()]);
            }
        }
        assert_eq!(
            total(&mut check),
            ACCOUNTS as i64 * BALANCE,
            "round {round}: a transaction was logged in part"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let mover = {
            let (c, stop) = (s.conn(), stop.clone());
            let seed = seed ^ round as u64;
            std::thread::spawn(move || transfers(c, stop, seed | 1))
        };
        let acked: Vec<Arc<AtomicI64>> =
            (0..WRITERS).map(|_| Arc::new(AtomicI64::new(-1))).collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let mut c = s.conn();
                let (stop, acked) = (stop.clone(), acked[w].clone());
                let start_at = next[w];
                std::thread::spawn(move || {
                    let key = format!("w{w}");
                    let mut v = start_at;
                    while !stop.load(Ordering::Relaxed) {
                        c.send(&[b"RPUSH", key.as_bytes(), v.to_string().as_bytes()]);
                        match c.try_read_reply() {
                            Some(r) if r.starts_with(b":") => acked.store(v, Ordering::SeqCst),
                            _ => return,
                        }
                        v += 1;
                    }
                })
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(30 + seed % 120));
        s.child.kill().expect("SIGKILL");
        let _ = s.child.wait();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.join();
        }
        let _ = mover.join();
        for (w, a) in acked.iter().enumerate() {
            next[w] = a.load(Ordering::SeqCst) + 1;
        }
        drop(s);
    }
    let s = start(dir.path(), fsync);
    let mut c = s.conn();
    assert_eq!(total(&mut c), ACCOUNTS as i64 * BALANCE);
    for (w, n) in next.iter().enumerate() {
        let got = list(&mut c, &format!("w{w}"));
        assert!(got.len() as i64 >= *n, "w{w}: {} < {n}", got.len());
        assert_eq!(got, (0..got.len() as i64).collect::<Vec<_>>());
    }
    assert!(
        next.iter().sum::<i64>() > 0,
        "no write was ever acknowledged"
    );
}
