//! Eviction under real memory pressure (issue 13): `maxmemory` holds under a write flood,
//! LRU and LFU keep the keys in use, `noeviction` refuses writes once full. Exact behaviour
//! at the limit is compared with redis-server in `cases/eviction.txt`.

mod common;

use common::Conn;

const MB: u64 = 1024 * 1024;

fn info_u64(c: &mut Conn, section: &str, field: &str) -> u64 {
    common::info_field_in(c, section, field)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Write `count` keys `prefix:i` of `size` bytes, 100 at a time.
fn flood(c: &mut Conn, prefix: &str, count: usize, size: usize) -> usize {
    let value = vec![b'x'; size];
    let mut refused = 0;
    for start in (0..count).step_by(100) {
        let end = (start + 100).min(count);
        for i in start..end {
            c.send(&[b"SET", format!("{prefix}:{i}").as_bytes(), &value]);
        }
        for _ in start..end {
            if c.read_reply().starts_with(b"-OOM") {
                refused += 1;
            }
        }
    }
    refused
}

#[test]
fn maxmemory_holds_under_a_write_flood() {
    let max = 24 * MB;
    let s = common::basalt(&[
        "--maxmemory",
        &max.to_string(),
        "--maxmemory-policy",
        "allkeys-lru",
    ]);
    let mut c = s.conn();
    // Four times what fits.
    let refused = flood(&mut c, "flood", 96_000, 1000);
    assert_eq!(refused, 0, "allkeys-lru never refuses a SET");
    let used = info_u64(&mut c, "memory", "used_memory");
    assert!(used <= max + max / 10, "used_memory {used} over {max}");
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    let dbsize: u64 = String::from_utf8_lossy(&c.cmd_str(&["DBSIZE"]))
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(evicted > 50_000, "evicted {evicted}");
    assert_eq!(dbsize + evicted, 96_000);
    // The process itself: the data, plus a fixed overhead (code, thread stacks, buffers).
    let rss = info_u64(&mut c, "memory", "used_memory_rss");
    assert!(rss <= max + max / 10 + 64 * MB, "rss {rss}");
}

/// Keys read all along survive a flood of keys nobody reads, under LRU and under LFU. The
/// LRU clock counts seconds (as Redis's), so the flood is spread over a few seconds.
#[test]
fn lru_and_lfu_keep_the_keys_in_use() {
    for policy in ["allkeys-lru", "allkeys-lfu"] {
        let max = 16 * MB;
        let s = common::basalt(&[
            "--maxmemory",
            &max.to_string(),
            "--maxmemory-policy",
            policy,
            "--maxmemory-samples",
            "10",
        ]);
        let mut c = s.conn();
        flood(&mut c, "hot", 1000, 1000);
        // The hot keys are read between every batch of cold writes.
        let value = vec![b'y'; 1000];
        for round in 0..40 {
            for i in 0..1000 {
                c.send(&[b"GET", format!("hot:{i}").as_bytes()]);
            }
            for _ in 0..1000 {
                c.read_reply();
            }
            for i in 0..500 {
                let key = format!("cold:{round}:{i}");
                c.send(&[b"SET", key.as_bytes(), &value]);
            }
            for _ in 0..500 {
                c.read_reply();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let mut alive = 0;
        for i in 0..1000 {
            if c.cmd_str(&["EXISTS", &format!("hot:{i}")]) == b":1\r\n" {
                alive += 1;
            }
        }
        assert!(alive >= 950, "{policy}: only {alive} of 1000 hot keys left");
        assert!(
            info_u64(&mut c, "stats", "evicted_keys") > 3_000,
            "{policy}"
        );
    }
}

#[test]
fn noeviction_refuses_writes_once_full_and_reads_go_on() {
    let max = 8 * MB;
    let s = common::basalt(&["--maxmemory", &max.to_string()]);
    let mut c = s.conn();
    let refused = flood(&mut c, "k", 20_000, 1000);
    assert!(refused > 5_000, "only {refused} refused");
    assert_eq!(c.cmd_str(&["GET", "k:0"]).len(), 1000 + 9);
    assert!(c.cmd_str(&["SET", "more", "x"]).starts_with(b"-OOM"));
    assert_eq!(c.cmd_str(&["DEL", "k:0"]), b":1\r\n");
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
}

/// INFO's `current_eviction_exceeded_time` runs while the memory stays over `maxmemory`,
/// stops when a command finds it under again, and `total_` keeps it (as in Redis 7.0).
#[test]
fn eviction_exceeded_time_runs_while_over_the_limit() {
    let max = 8 * MB;
    let s = common::basalt(&["--maxmemory", &max.to_string()]);
    let mut c = s.conn();
    assert_eq!(info_u64(&mut c, "stats", "total_eviction_exceeded_time"), 0);
    assert!(flood(&mut c, "k", 20_000, 1000) > 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let current = info_u64(&mut c, "stats", "current_eviction_exceeded_time");
    assert!(current >= 300, "current {current}");
    assert!(info_u64(&mut c, "stats", "total_eviction_exceeded_time") >= current);
    c.cmd_str(&["CONFIG", "SET", "maxmemory", "1gb"]);
    c.cmd_str(&["PING"]);
    assert_eq!(
        info_u64(&mut c, "stats", "current_eviction_exceeded_time"),
        0
    );
    let total = info_u64(&mut c, "stats", "total_eviction_exceeded_time");
    assert!(total >= 300, "total {total}");
    c.cmd_str(&["CONFIG", "RESETSTAT"]);
    assert_eq!(info_u64(&mut c, "stats", "total_eviction_exceeded_time"), 0);
}

/// `maxmemory-clients`: a client whose buffers pass the limit is disconnected; one with
/// CLIENT NO-EVICT on is not, and then the others go instead (as in Redis); both servers alike.
fn client_eviction(s: &common::ServerProc) -> Vec<String> {
    let text = |r: Vec<u8>| String::from_utf8_lossy(&r).into_owned();
    let wait_closed = |c: &mut Conn| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if c.is_closed() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    };
    // Half a command: 3 MB of a 10 MB argument (Redis may close the connection while it
    // arrives, as soon as its buffer passes the limit).
    let partial = |c: &mut Conn| {
        use std::io::Write;
        let _ = c
            .stream
            .write_all(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$10000000\r\n");
        let _ = c.stream.write_all(&vec![b'x'; 3 << 20]);
    };
    let mut admin = s.conn();
    let mut seen = vec![text(admin.cmd_str(&[
        "CONFIG",
        "SET",
        "maxmemory-clients",
        "2mb",
    ]))];
    let mut bystander = s.conn();
    seen.push(text(bystander.cmd_str(&["PING"])));
    let mut victim = s.conn();
    partial(&mut victim);
    seen.push(format!("victim closed: {}", wait_closed(&mut victim)));
    seen.push(text(bystander.cmd_str(&["PING"])));
    seen.push(common::info_field_in(
        &mut admin,
        "stats",
        "evicted_clients",
    ));
    // A client that may not be evicted holds the memory: the others go.
    let mut keeper = s.conn();
    seen.push(text(keeper.cmd_str(&["CLIENT", "NO-EVICT", "on"])));
    partial(&mut keeper);
    seen.push(format!("bystander closed: {}", wait_closed(&mut bystander)));
    seen.push(format!("keeper closed: {}", keeper.is_closed()));
    drop(keeper);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut last = s.conn();
    seen.push(text(last.cmd_str(&[
        "CONFIG",
        "SET",
        "maxmemory-clients",
        "0",
    ])));
    seen
}

#[test]
fn client_eviction_matches_redis() {
    let basalt = common::basalt(&[]);
    let ours = client_eviction(&basalt);
    assert_eq!(ours[2], "victim closed: true", "{ours:?}");
    assert_eq!(ours[7], "keeper closed: false", "{ours:?}");
    if let Some(redis) = common::redis() {
        assert_eq!(ours, client_eviction(&redis));
    }
}
