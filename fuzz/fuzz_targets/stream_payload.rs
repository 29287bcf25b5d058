//! Stream values in RDB files and DUMP payloads on arbitrary bytes: a stream or an error,
//! never a panic, a hang or an allocation sized by a corrupt length — and a stream that loads
//! must then survive everything the commands do with it (ranges both ways, deletes, trims,
//! group reads and claims, lag), since a node's inside is trusted from then on. Every input
//! is made a type-19 or type-15/21 payload with a valid footer, so the fuzzer spends its time
//! in the stream reader and the node checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::rdb::dump::restore;
use persist::rdb::{RdbValue, CRC64};
use store::stream::{ClaimArgs, NodeLimits, Stream, StreamId, Trim};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let kind = match mode & 3 {
        0 => 15u8,
        1 | 2 => 19,
        _ => 21,
    };
    let mut payload = vec![kind];
    payload.extend_from_slice(body);
    payload.extend_from_slice(&10u16.to_le_bytes());
    let crc = CRC64.checksum(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    if let Ok(RdbValue::Stream(s)) = restore(&payload) {
        exercise(*s);
    }
});

/// What commands do with a loaded stream.
fn exercise(mut s: Stream) {
    let _ = s.range(StreamId::MIN, StreamId::MAX, false).count();
    let _ = s.range(StreamId::MIN, StreamId::MAX, true).count();
    for e in s.range(StreamId::MIN, StreamId::MAX, false).take(8) {
        let _ = e.to_pairs();
    }
    let names: Vec<Vec<u8>> = s.groups().map(|(n, _)| n.to_vec()).collect();
    for n in &names {
        if let Some(g) = s.group(n) {
            let _ = s.group_lag(g);
            let _ = g.pending_summary();
        }
        let _ = s.deliver(n, b"c", StreamId::MIN, 4, false, 1, |_| {});
        let _ = s.read_history(n, b"c", StreamId::MIN, 4, 1, |_, _| {});
        let ids: Vec<StreamId> = s
            .group(n)
            .map(|g| g.pending().map(|(id, _)| id).take(4).collect())
            .unwrap_or_default();
        let _ = s.claim(n, b"d", &ids, &ClaimArgs::default(), 2, |_| {});
        let _ = s.autoclaim(n, b"e", StreamId::MIN, 4, 0, false, 3, |_| {});
    }
    let first: Vec<StreamId> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(2)
        .map(|e| e.id())
        .collect();
    s.delete(&first);
    let _ = s.append(
        store::stream::IdSpec::Auto { now_ms: 5 },
        &[(b"f".as_slice(), b"v".as_slice())],
        NodeLimits::default(),
    );
    s.trim(Trim::MaxLen(1), true, 0);
    s.trim(Trim::MaxLen(0), false, 0);
}
