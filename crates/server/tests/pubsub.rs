//! Pub/Sub across connections and I/O threads (issue 11): each publisher's order kept for every
//! subscriber, a subscriber that never reads disconnected by `client-output-buffer-limit` while
//! the publisher and other clients go on, and idle subscribers costing no CPU.

mod common;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{basalt, Conn, ServerProc};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// The message of a `message` push (`*3 $7 message $ch $msg`).
fn message_body(frame: &[u8]) -> String {
    let parts = common::elements(frame).expect("a message frame");
    assert_eq!(text(&parts[0]), "$7\r\nmessage\r\n", "{}", text(frame));
    text(&parts[2]).lines().nth(1).unwrap_or("").to_string()
}

fn subscribe(s: &ServerProc, channel: &str) -> Conn {
    let mut c = s.conn();
    let r = c.cmd_str(&["SUBSCRIBE", channel]);
    assert!(text(&r).contains("subscribe"), "{}", text(&r));
    c
}

/// Several publishers on their own connections, several subscribers: every subscriber gets
/// every publisher's messages, each publisher's in the order it published them.
#[test]
fn every_subscriber_sees_each_publishers_messages_in_order() {
    let s = basalt(&[]);
    const PUBLISHERS: usize = 3;
    const MESSAGES: usize = 2000;
    let subscribers: Vec<Conn> = (0..3).map(|_| subscribe(&s, "ordered")).collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let mut c = s.conn();
            std::thread::spawn(move || {
                for i in 0..MESSAGES {
                    let body = format!("{p}:{i}");
                    c.send(&[b"PUBLISH", b"ordered", body.as_bytes()]);
                    if i % 64 == 63 {
                        for _ in 0..64 {
                            assert_eq!(text(&c.read_reply()), ":3\r\n");
                        }
                    }
                }
                for _ in 0..MESSAGES % 64 {
                    assert_eq!(text(&c.read_reply()), ":3\r\n");
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().expect("publisher");
    }
    for mut sub in subscribers {
        let mut next = [0usize; PUBLISHERS];
        for _ in 0..PUBLISHERS * MESSAGES {
            let body = message_body(&sub.read_reply());
            let (p, i) = body.split_once(':').expect("p:i");
            let (p, i): (usize, usize) = (p.parse().expect("p"), i.parse().expect("i"));
            assert_eq!(i, next[p], "publisher {p}'s messages out of order");
            next[p] += 1;
        }
        assert!(
            !sub.has_data_within(100),
            "more messages than were published"
        );
    }
}

/// Redis's limit for pub/sub clients, scaled down: a subscriber that stops reading while a
/// publisher floods its channel is disconnected once its unsent messages pass the hard limit.
/// The publisher is never held up, another subscriber that reads gets everything, and the
/// server's memory stays bounded.
#[test]
fn a_subscriber_that_never_reads_is_disconnected_by_the_output_buffer_limit() {
    let s = basalt(&[]);
    let mut admin = s.conn();
    assert_eq!(
        text(&admin.cmd_str(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 2mb 1mb 60"
        ])),
        "+OK\r\n"
    );
    let mut stalled = subscribe(&s, "flood");
    let stalled_id = {
        let mut probe = s.conn();
        let list = text(&probe.cmd_str(&["CLIENT", "LIST"]));
        list.lines()
            .find(|l| l.contains("sub=1"))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_string)
            .expect("the subscriber in CLIENT LIST")
    };
    let mut reader = subscribe(&s, "flood");
    let payload = vec![b'x'; 1024];
    let frame = common::encode(&[b"message", b"flood", &payload]);
    let frame_len = frame.len();
    // The reading subscriber reads in bulk and checks the bytes at the end; it reports its
    // progress, so the publisher never gets more than a few chunks ahead of it (on a busy
    // machine it could otherwise fall past the limit too).
    let progress = Arc::new(AtomicUsize::new(0));
    let reported = progress.clone();
    let reading = std::thread::spawn(move || {
        let want = 20_000 * frame_len;
        let mut all = Vec::with_capacity(want);
        let mut buf = vec![0u8; 1 << 16];
        while all.len() < want {
            match reader.stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            reported.store(all.len() / frame_len, Ordering::Relaxed);
        }
        all.len() == want && all.chunks(frame_len).all(|c| c == frame.as_slice())
    });
    let mut publisher = s.conn();
    let started = Instant::now();
    // 20 MB in all: ten times the hard limit, more than the kernel's socket buffers hold.
    for chunk in 0..200 {
        for _ in 0..100 {
            publisher.send(&[b"PUBLISH", b"flood", &payload]);
        }
        for _ in 0..100 {
            let r = text(&publisher.read_reply());
            assert!(r == ":2\r\n" || r == ":1\r\n", "chunk {chunk}: {r}");
        }
        let waited = Instant::now();
        while progress.load(Ordering::Relaxed) + 500 < (chunk + 1) * 100 {
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "the reader stopped"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the publisher was held up: {:?}",
        started.elapsed()
    );
    assert!(
        reading.join().expect("reader"),
        "the reading subscriber did not get every message intact"
    );
    // The stalled subscriber is gone; reading what reached its socket ends in EOF.
    let list = text(&admin.cmd_str(&["CLIENT", "LIST"]));
    assert!(!list.contains(&format!("{stalled_id} ")), "{list}");
    stalled
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut sink = vec![0u8; 1 << 16];
    let mut received = 0usize;
    loop {
        match stalled.stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) => panic!("the stalled subscriber was not disconnected: {e}"),
        }
    }
    assert!(received < 20 * 1024 * 1024, "it got everything: {received}");
    assert!(
        s.log()
            .contains("scheduled to be closed ASAP for overcoming of output buffer limits"),
        "{}",
        s.log()
    );
    assert_eq!(text(&admin.cmd_str(&["PING"])), "+PONG\r\n");
    let used: u64 = common::info_field_in(&mut admin, "memory", "used_memory")
        .parse()
        .expect("used_memory");
    assert!(used < 64 * 1024 * 1024, "memory grew to {used}");
}

/// Subscribers waiting for messages cost nothing while nothing is published (the cron's own
/// ticks aside, which an idle server pays anyway).
#[test]
fn idle_subscribers_cost_no_cpu() {
    let s = basalt(&[]);
    let baseline = {
        let before = common::cpu_ns(s.pid());
        std::thread::sleep(Duration::from_secs(1));
        common::cpu_ns(s.pid()) - before
    };
    let subs: Vec<Conn> = (0..200)
        .map(|i| subscribe(&s, &format!("idle{i}")))
        .collect();
    // The quieter of two seconds: a second can hold the allocator's background purge of
    // what the 200 connections' set-up freed, which is not the subscribers' waiting.
    std::thread::sleep(Duration::from_millis(500));
    let idle = (0..2)
        .map(|_| {
            let before = common::cpu_ns(s.pid());
            std::thread::sleep(Duration::from_secs(1));
            common::cpu_ns(s.pid()) - before
        })
        .min()
        .unwrap_or(u64::MAX);
    assert!(
        idle < baseline + 20_000_000,
        "200 idle subscribers cost {} ms of CPU a second (baseline {} ms)",
        idle / 1_000_000,
        baseline / 1_000_000
    );
    drop(subs);
}

/// A RESP3 client blocked in BLPOP still gets its pushes (a published message, a tracking
/// invalidation) while it waits, then its BLPOP reply: the same frames, in the same order,
/// from both servers.
fn pushes_while_blocked(s: &ServerProc) -> Vec<String> {
    let mut c = s.conn();
    c.cmd(&[b"HELLO", b"3"]);
    c.cmd(&[b"SUBSCRIBE", b"ch"]);
    c.cmd(&[b"CLIENT", b"TRACKING", b"ON"]);
    c.cmd(&[b"GET", b"cached"]);
    c.send(&[b"BLPOP", b"list", b"0"]);
    let mut other = s.conn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while common::info_field_in(&mut other, "clients", "blocked_clients") != "1" {
        assert!(std::time::Instant::now() < deadline, "never blocked");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut seen = Vec::new();
    other.cmd(&[b"PUBLISH", b"ch", b"hello"]);
    assert!(c.has_data_within(2000), "no push while blocked");
    seen.push(text(&c.read_reply()));
    other.cmd(&[b"SET", b"cached", b"new"]);
    assert!(c.has_data_within(2000), "no invalidation while blocked");
    seen.push(text(&c.read_reply()));
    other.cmd(&[b"RPUSH", b"list", b"x"]);
    seen.push(text(&c.read_reply()));
    seen
}

#[test]
fn a_blocked_resp3_client_gets_its_pushes_while_it_waits() {
    let Some(redis) = common::redis() else { return };
    let basalt = common::basalt(&[]);
    let theirs = pushes_while_blocked(&redis);
    assert_eq!(pushes_while_blocked(&basalt), theirs);
}

/// `client-output-buffer-limit normal`: a client whose pipelined replies pile up past the
/// hard limit is disconnected (what else it sent is not run); under the limit, or with the
/// default of no limit, the same pipeline is answered in full.
fn normal_class_limit(s: &ServerProc) -> Vec<String> {
    let mut admin = s.conn();
    admin.cmd(&[b"SET", b"big", &[b'v'; 50_000]]);
    let pipeline = |n: usize, tail: &[u8]| {
        let mut bytes = Vec::new();
        for _ in 0..n {
            bytes.extend_from_slice(b"GET big\r\n");
        }
        bytes.extend_from_slice(tail);
        bytes
    };
    let mut seen = Vec::new();
    for limit in ["normal 0 0 0", "normal 1mb 0 0", "normal 100kb 0 0"] {
        admin.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            limit.as_bytes(),
        ]);
        let mut c = s.conn();
        let key = format!("ran-{}", limit.len());
        c.send_raw(&pipeline(10, format!("INCR {key}\r\n").as_bytes()));
        let mut answered = 0;
        while let Some(r) = c.try_read_reply() {
            answered += 1;
            if r.starts_with(b":") {
                break;
            }
        }
        let ran = admin.cmd(&[b"EXISTS", key.as_bytes()]);
        seen.push(format!(
            "{limit}: all answered {}, tail ran {}",
            answered == 11,
            text(&ran)
        ));
    }
    admin.cmd(&[
        b"CONFIG",
        b"SET",
        b"client-output-buffer-limit",
        b"normal 0 0 0",
    ]);
    seen.push(text(&admin.cmd(&[b"STRLEN", b"big"])));
    seen
}

#[test]
fn a_normal_client_over_its_output_limit_is_disconnected() {
    let Some(redis) = common::redis() else { return };
    let basalt = common::basalt(&[]);
    let theirs = normal_class_limit(&redis);
    assert!(theirs[2].contains("all answered false"), "{theirs:?}");
    assert_eq!(normal_class_limit(&basalt), theirs);
}
