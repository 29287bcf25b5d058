//! Consumer groups against replies captured from redis-server 7.0.15, and loading damaged
//! nodes (refused, or harmless: never a panic).

use super::tests::{add, hex, id};
use super::tests_model::Rng;
use super::*;

fn stream_of(n: u64) -> Stream {
    let mut s = Stream::new();
    for i in 1..=n {
        add(
            &mut s,
            &format!("{i}-0"),
            &[("f", &i.to_string())],
            NodeLimits::default(),
        );
    }
    s
}

/// XREADGROUP GROUP g <consumer> [COUNT n] STREAMS s > as the command would run it.
fn read_new(s: &mut Stream, consumer: &str, count: usize, now: i64) -> Vec<String> {
    let g = s.group(b"g").unwrap();
    if s.last_valid_id().is_none_or(|top| top <= g.last_id()) {
        return vec![];
    }
    let start = g.last_id().incr().unwrap();
    let mut out = vec![];
    s.deliver(b"g", consumer.as_bytes(), start, count, false, now, |e| {
        out.push(e.id().to_string())
    })
    .unwrap();
    out
}

fn info(s: &Stream) -> (Option<i64>, Option<i64>) {
    let g = s.group(b"g").unwrap();
    (g.entries_read(), s.group_lag(g))
}

#[test]
fn entries_read_and_lag_as_redis() {
    // XADD 1-0..5-0, XGROUP CREATE l g 0, XREADGROUP COUNT 2, XDEL <one>, XINFO GROUPS; then
    // XREADGROUP COUNT 1 and XREADGROUP without COUNT, XINFO GROUPS after each.
    type Step = (Option<i64>, Option<i64>);
    let cases: [(&str, [Step; 3], &str); 5] = [
        (
            "1-0",
            [(Some(2), Some(3)), (Some(3), Some(2)), (Some(5), Some(0))],
            "5-0",
        ),
        (
            "2-0",
            [(Some(2), None), (Some(3), Some(2)), (Some(5), Some(0))],
            "5-0",
        ),
        (
            "3-0",
            [(Some(2), None), (Some(3), Some(2)), (Some(4), Some(1))],
            "5-0",
        ),
        (
            "4-0",
            [(Some(2), None), (None, None), (Some(5), Some(0))],
            "5-0",
        ),
        ("5-0", [(Some(2), None), (None, None), (None, None)], "4-0"),
    ];
    for (del, steps, last) in cases {
        let mut s = stream_of(5);
        assert!(s.create_group(b"g", StreamId::MIN, -1));
        assert_eq!(info(&s), (None, Some(5)));
        assert_eq!(read_new(&mut s, "c", 2, 1), ["1-0", "2-0"]);
        assert_eq!(s.delete(&[id(del)]), 1);
        assert_eq!(info(&s), steps[0], "after XDEL {del}");
        read_new(&mut s, "c", 1, 2);
        assert_eq!(info(&s), steps[1], "after one more read, XDEL {del}");
        read_new(&mut s, "c", 0, 3);
        assert_eq!(info(&s), steps[2], "after reading all, XDEL {del}");
        assert_eq!(s.group(b"g").unwrap().last_id(), id(last));
    }
    // A stream that never had entries has lag 0; a group created at $ reads as all added.
    let mut s = Stream::new();
    s.create_group(b"g", StreamId::MIN, -1);
    assert_eq!(info(&s), (None, Some(0)));
    let mut s = stream_of(3);
    s.create_group(b"g", s.last_id(), s.estimate_entries_read(s.last_id()));
    assert_eq!(info(&s), (Some(3), Some(0)));
}

#[test]
fn reads_claims_and_pending_as_redis() {
    let mut s = stream_of(6);
    assert!(s.create_group(b"grp", StreamId::MIN, -1));
    assert!(!s.create_group(b"grp", StreamId::MIN, -1));
    let mut got = vec![];
    let d = s
        .deliver(b"grp", b"alice", id("0-1"), 3, false, 100, |e| {
            got.push(e.id().to_string())
        })
        .unwrap();
    assert_eq!(got, ["1-0", "2-0", "3-0"]);
    assert_eq!((d.consumer_created, d.last_id_changed), (true, true));
    s.deliver(b"grp", b"bob", id("3-1"), 0, false, 100, |_| {})
        .unwrap();
    assert_eq!(s.delete(&[id("2-0"), id("5-0")]), 2);
    // History: 1-0 f 1, 2-0 nil, 3-0 f 3; found entries count a delivery.
    let mut hist = vec![];
    let h = s
        .read_history(b"grp", b"alice", StreamId::MIN, 0, 110, |i, e| {
            hist.push((i.to_string(), e.map(|e| e.to_pairs())))
        })
        .unwrap();
    assert_eq!(
        h,
        History {
            emitted: 3,
            consumer_created: false
        }
    );
    assert_eq!(hist[1], ("2-0".to_string(), None));
    assert_eq!(hist[2].1, Some(vec![(b"f".to_vec(), b"3".to_vec())]));
    let g = s.group(b"grp").unwrap();
    let sum = g.pending_summary();
    assert_eq!((sum.count, sum.bounds), (6, Some((id("1-0"), id("6-0")))));
    assert_eq!(sum.consumers, vec![(&b"alice"[..], 3), (&b"bob"[..], 3)]);
    // XCLAIM g grp carol 0 1-0 5-0 4-0 JUSTID → 1-0 4-0 (5-0 is gone: dropped from the PEL).
    let args = ClaimArgs {
        justid: true,
        ..ClaimArgs::default()
    };
    let mut ev = vec![];
    let c = s
        .claim(
            b"grp",
            b"carol",
            &[id("1-0"), id("5-0"), id("4-0")],
            &args,
            120,
            |e| match e {
                ClaimEvent::Claimed { id, entry, .. } => {
                    ev.push(format!("claimed {id} {}", entry.is_some()))
                }
                ClaimEvent::Dropped { id, consumer, .. } => ev.push(format!(
                    "dropped {id} {}",
                    String::from_utf8_lossy(consumer)
                )),
            },
        )
        .unwrap();
    assert_eq!(
        ev,
        ["claimed 1-0 false", "dropped 5-0 bob", "claimed 4-0 false"]
    );
    assert_eq!((c.claimed, c.dropped, c.consumer_created), (2, 1, true));
    let view = |s: &Stream| -> Vec<String> {
        let g = s.group(b"grp").unwrap();
        g.pending_range(StreamId::MIN, StreamId::MAX, 10, 0, None, 1000)
            .iter()
            .map(|p| {
                format!(
                    "{} {} {}",
                    p.id,
                    String::from_utf8_lossy(p.consumer),
                    p.delivery_count
                )
            })
            .collect()
    };
    assert_eq!(
        view(&s),
        [
            "1-0 carol 2",
            "2-0 alice 1",
            "3-0 alice 2",
            "4-0 carol 1",
            "6-0 bob 1"
        ]
    );
    // XAUTOCLAIM g grp dave 0 0 COUNT 2 → cursor 3-0, [1-0 f 1], deleted [2-0].
    let mut claimed = vec![];
    let a = s
        .autoclaim(b"grp", b"dave", StreamId::MIN, 2, 0, false, 130, |e| {
            if let ClaimEvent::Claimed { id, entry, .. } = e {
                claimed.push((id.to_string(), entry.map(|e| e.to_pairs())));
            }
        })
        .unwrap();
    assert_eq!(
        (a.next, a.deleted.clone(), a.claimed),
        (id("3-0"), vec![id("2-0")], 1)
    );
    assert_eq!(
        claimed,
        [(
            "1-0".to_string(),
            Some(vec![(b"f".to_vec(), b"1".to_vec())])
        )]
    );
    assert_eq!(
        view(&s),
        ["1-0 dave 3", "3-0 alice 2", "4-0 carol 1", "6-0 bob 1"]
    );
    // XAUTOCLAIM g grp dave 0 3-0 COUNT 10 JUSTID → 0-0, 3-0 4-0 6-0, counts unchanged.
    let a = s
        .autoclaim(b"grp", b"dave", id("3-0"), 10, 0, true, 140, |_| {})
        .unwrap();
    assert_eq!((a.next, a.claimed, a.deleted.len()), (StreamId::MIN, 3, 0));
    assert_eq!(
        view(&s),
        ["1-0 dave 3", "3-0 dave 2", "4-0 dave 1", "6-0 dave 1"]
    );
    let g = s.group_mut(b"grp").unwrap();
    let pend: Vec<(&[u8], usize)> = g.consumers().map(|(n, c)| (n, c.pending_len())).collect();
    assert_eq!(
        pend,
        [(&b"alice"[..], 0), (b"bob", 0), (b"carol", 0), (b"dave", 4)]
    );
    assert!(g.ack(id("1-0")));
    assert!(!g.ack(id("9-0")));
    assert_eq!(g.delete_consumer(b"dave"), Some(3));
    assert_eq!(g.delete_consumer(b"dave"), None);
    // XCLAIM eve 0 3-0 FORCE RETRYCOUNT 7; XCLAIM eve 0 4-0 6-0 FORCE;
    // XCLAIM eve 0 6-0 FORCE JUSTID LASTID 9-0.
    let force = ClaimArgs {
        force: true,
        retry_count: Some(7),
        ..ClaimArgs::default()
    };
    s.claim(b"grp", b"eve", &[id("3-0")], &force, 150, |_| {})
        .unwrap();
    let force = ClaimArgs {
        force: true,
        ..ClaimArgs::default()
    };
    s.claim(b"grp", b"eve", &[id("4-0"), id("6-0")], &force, 150, |_| {})
        .unwrap();
    let force = ClaimArgs {
        force: true,
        justid: true,
        last_id: Some(id("9-0")),
        ..ClaimArgs::default()
    };
    let c = s
        .claim(b"grp", b"eve", &[id("6-0")], &force, 150, |_| {})
        .unwrap();
    assert!(c.last_id_changed);
    assert_eq!(view(&s), ["3-0 eve 7", "4-0 eve 2", "6-0 eve 2"]);
    // XINFO GROUPS: consumers 4 pending 3 last-delivered-id 9-0 entries-read 6 lag 0.
    let g = s.group(b"grp").unwrap();
    assert_eq!(
        (
            g.consumer_count(),
            g.pending_len(),
            g.last_id(),
            g.entries_read(),
            s.group_lag(g)
        ),
        (4, 3, id("9-0"), Some(6), Some(0))
    );
    // A new consumer's history is empty; the extended form for it is empty too.
    let h = s
        .read_history(b"grp", b"frank", StreamId::MIN, 1, 160, |_, _| {})
        .unwrap();
    assert_eq!(
        h,
        History {
            emitted: 0,
            consumer_created: true
        }
    );
    assert!(s
        .group(b"grp")
        .unwrap()
        .pending_range(StreamId::MIN, StreamId::MAX, 10, 0, Some(b"frank"), 160)
        .is_empty());
    // XAUTOCLAIM gina 0 0 COUNT 1 → 4-0, [3-0 f 3], [].
    let a = s
        .autoclaim(b"grp", b"gina", StreamId::MIN, 1, 0, false, 170, |_| {})
        .unwrap();
    assert_eq!((a.next, a.claimed), (id("4-0"), 1));
    assert!(s
        .deliver(b"nogroup", b"x", StreamId::MIN, 0, false, 0, |_| {})
        .is_none());
}

#[test]
fn idle_filters_and_times() {
    let mut s = stream_of(4);
    s.create_group(b"g", StreamId::MIN, -1);
    s.deliver(b"g", b"a", StreamId::MIN, 2, false, 1000, |_| {})
        .unwrap();
    s.deliver(b"g", b"b", id("2-1"), 0, false, 5000, |_| {})
        .unwrap();
    let g = s.group(b"g").unwrap();
    assert_eq!(g.consumer(b"a").unwrap().pending_len(), 2);
    let idle: Vec<(StreamId, i64)> = g
        .pending_range(StreamId::MIN, StreamId::MAX, 10, 3000, None, 6000)
        .iter()
        .map(|p| (p.id, p.idle_ms))
        .collect();
    assert_eq!(idle, [(id("1-0"), 5000), (id("2-0"), 5000)]);
    assert_eq!(
        g.pending_range(id("2-0"), id("3-0"), 1, 0, None, 6000)
            .len(),
        1
    );
    assert_eq!(
        g.pending_range(StreamId::MIN, StreamId::MAX, 10, 0, Some(b"b"), 4000)[0].idle_ms,
        0
    );
    // Not idle long enough: nothing claimed, no consumer created.
    let args = ClaimArgs {
        min_idle_ms: 2000,
        ..ClaimArgs::default()
    };
    let c = s
        .claim(b"g", b"c", &[id("3-0")], &args, 6000, |_| {})
        .unwrap();
    assert_eq!((c.claimed, c.consumer_created), (0, false));
    assert!(s.group(b"g").unwrap().consumer(b"c").is_none());
    // IDLE in the future or TIME after now become now.
    let args = ClaimArgs {
        delivery_time: Some(9999),
        retry_count: Some(0),
        ..ClaimArgs::default()
    };
    s.claim(b"g", b"c", &[id("1-0")], &args, 6000, |_| {})
        .unwrap();
    let p = s.group(b"g").unwrap().pending_entry(id("1-0")).unwrap();
    assert_eq!(
        (p.delivery_time(), p.delivery_count(), p.consumer()),
        (6000, 0, &b"c"[..])
    );
    // XAUTOCLAIM's attempts limit: COUNT 1 looks at 10 entries at most.
    let mut s = stream_of(30);
    s.create_group(b"g", StreamId::MIN, -1);
    s.deliver(b"g", b"a", StreamId::MIN, 0, false, 100, |_| {})
        .unwrap();
    let a = s
        .autoclaim(b"g", b"z", StreamId::MIN, 1, 1000, false, 200, |_| {})
        .unwrap();
    assert_eq!((a.claimed, a.next), (0, id("11-0")));
    // NOACK: nothing pending, last ID moves.
    let d = s
        .deliver(b"g", b"n", id("5-0"), 0, true, 300, |_| {})
        .unwrap();
    assert_eq!((d.delivered, d.last_id_changed), (26, false));
    s.add_and_check();
}

impl Stream {
    fn add_and_check(&mut self) {
        let before = self.group(b"g").unwrap().pending_len();
        add(self, "31-0", &[("f", "31")], NodeLimits::default());
        let d = self
            .deliver(b"g", b"n", id("30-1"), 0, true, 400, |_| {})
            .unwrap();
        assert_eq!((d.delivered, d.last_id_changed), (1, true));
        assert_eq!(self.group(b"g").unwrap().pending_len(), before);
    }
}

#[test]
fn groups_load_with_checks() {
    let mut s = stream_of(3);
    let g = s.load_group(b"g", id("3-0"), 3).unwrap();
    g.load_pending(id("1-0"), 10, 2).unwrap();
    g.load_pending(id("2-0"), 10, 1).unwrap();
    assert!(g.load_pending(id("2-0"), 10, 1).is_err());
    g.load_consumer(b"a", 5).unwrap();
    assert!(g.load_consumer(b"a", 5).is_err());
    g.load_consumer_pending(b"a", id("1-0")).unwrap();
    assert!(g.load_consumer_pending(b"a", id("1-0")).is_err());
    assert!(g.load_consumer_pending(b"a", id("9-0")).is_err());
    assert!(g.check_loaded().is_err());
    g.load_consumer_pending(b"a", id("2-0")).unwrap();
    g.check_loaded().unwrap();
    assert!(s.load_group(b"g", StreamId::MIN, -1).is_err());
    let p: Vec<(StreamId, &[u8])> = s
        .group(b"g")
        .unwrap()
        .consumer_pending(b"a")
        .map(|(i, p)| (i, p.consumer()))
        .collect();
    assert_eq!(p, [(id("1-0"), &b"a"[..]), (id("2-0"), b"a")]);
}

#[test]
fn damaged_nodes_are_refused_or_harmless() {
    let mut s = Stream::new();
    assert_eq!(
        s.load_node(StreamId::MIN, &hex("070000000000ff")),
        Err(Corrupt("Empty listpack inside stream"))
    );
    // A good node: XADD 1-1 a 1 b 2, 1-2 a 3 b 4, 2-0 c x (captured).
    let good = hex(&[
        "3e00000019000301000102018161028162020001",
        "020100010001010102010501",
        "020100010101030104010501",
        "00010101dfff0201018163028178020601ff",
    ]
    .concat());
    s.load_node(id("1-1"), &good).unwrap();
    assert!(s.load_node(id("1-1"), &good).is_err());
    assert!(s
        .load_meta(StreamMeta {
            length: 2,
            ..StreamMeta::default()
        })
        .is_err());
    s.load_meta(StreamMeta {
        length: 3,
        last_id: id("2-0"),
        first_id: id("1-1"),
        max_deleted_entry_id: StreamId::MIN,
        entries_added: 3,
    })
    .unwrap();
    assert_eq!(s.range(StreamId::MIN, StreamId::MAX, false).count(), 3);
    // Live count 2 where three entries are live.
    let mut bad = good.clone();
    bad[6] = 2;
    assert!(Stream::new().load_node(id("1-1"), &bad).is_err());
    let mut v1 = Stream::new();
    v1.load_node(id("1-1"), &good).unwrap();
    v1.load_meta_v1(3, id("2-0")).unwrap();
    assert_eq!((v1.first_id(), v1.entries_added()), (id("1-1"), 3));
    // Random damage: whatever is accepted must survive every operation.
    let mut rng = Rng(12345);
    let mut accepted = 0;
    for _ in 0..3000 {
        let mut b = good.clone();
        match rng.below(3) {
            0 => b.truncate(rng.below(b.len() as u64) as usize),
            _ => {
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(b.len() as u64) as usize;
                    b[i] = rng.next() as u8;
                }
            }
        }
        let mut s = Stream::new();
        if s.load_node(id("1-1"), &b).is_err() {
            continue;
        }
        accepted += 1;
        let live = super::node::validate(&b).unwrap();
        let _ = s.load_meta(StreamMeta {
            length: live,
            last_id: id("2-0"),
            ..StreamMeta::default()
        });
        let _: Vec<_> = s
            .range(StreamId::MIN, StreamId::MAX, false)
            .map(|e| e.to_pairs())
            .collect();
        let _: Vec<_> = s
            .range(StreamId::MIN, StreamId::MAX, true)
            .map(|e| e.to_pairs())
            .collect();
        s.delete(&[id("1-2")]);
        let _ = s.append(
            IdSpec::Explicit(id("3-0")),
            &[(b"a", b"1"), (b"b", b"2")],
            NodeLimits::default(),
        );
        s.trim(Trim::MaxLen(1), false, 0);
        s.trim(Trim::MinId(id("9-0")), false, 0);
        let _ = s.rax_node_count() + s.heap_bytes();
    }
    assert!(accepted > 0);
}
