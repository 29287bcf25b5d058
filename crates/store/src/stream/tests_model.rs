//! The stream's algorithms against a plain ordered map, over seeded random operations.

use std::collections::BTreeMap;

use super::tests::{add, check_consistent, id, ids};
use super::*;

/// An entry's field/value pairs, owned.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// A small deterministic generator (xorshift), so the model test needs no dependency.
pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn random_operations_match_a_model() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..40 {
        let limits = NodeLimits {
            max_bytes: [0, 60, 200, 4096][round % 4],
            max_entries: [0, 1, 3, 100][(round / 4) % 4],
        };
        let mut s = Stream::new();
        let mut model: BTreeMap<StreamId, Pairs> = BTreeMap::new();
        let mut max_deleted = StreamId::MIN;
        let mut next = StreamId::new(rng.below(3), 0);
        for _ in 0..150 {
            match rng.below(10) {
                0..=5 => {
                    next = if rng.below(2) == 0 {
                        StreamId::new(next.ms + 1 + rng.below(300), rng.below(3))
                    } else {
                        StreamId::new(next.ms, next.seq + 1)
                    };
                    let n = 1 + rng.below(3) as usize;
                    let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
                        .map(|i| {
                            let f = if rng.below(4) == 0 {
                                format!("x{i}")
                            } else {
                                format!("f{i}")
                            };
                            let v = match rng.below(4) {
                                0 => (rng.next() as i64).to_string(),
                                1 => "w".repeat(rng.below(100) as usize),
                                _ => rng.below(200).to_string(),
                            };
                            (f.into_bytes(), v.into_bytes())
                        })
                        .collect();
                    let refs: Vec<(&[u8], &[u8])> =
                        fields.iter().map(|(a, b)| (&a[..], &b[..])).collect();
                    assert_eq!(s.append(IdSpec::Explicit(next), &refs, limits), Ok(next));
                    model.insert(next, fields);
                }
                6 | 7 => {
                    let keys: Vec<StreamId> = model.keys().copied().collect();
                    let pick: Vec<StreamId> = (0..1 + rng.below(3))
                        .map(|_| {
                            if keys.is_empty() || rng.below(4) == 0 {
                                StreamId::new(rng.below(next.ms + 1), 0)
                            } else {
                                keys[rng.below(keys.len() as u64) as usize]
                            }
                        })
                        .collect();
                    let mut want = 0;
                    for p in &pick {
                        if model.remove(p).is_some() {
                            want += 1;
                            max_deleted = max_deleted.max(*p);
                        }
                    }
                    assert_eq!(s.delete(&pick), want);
                }
                _ => {
                    let before: Vec<StreamId> = model.keys().copied().collect();
                    let approx = rng.below(2) == 0;
                    let limit = if approx { rng.below(3) * 5 } else { 0 };
                    let strategy = if rng.below(2) == 0 {
                        Trim::MaxLen(rng.below(before.len() as u64 + 2))
                    } else {
                        Trim::MinId(StreamId::new(rng.below(next.ms + 2), rng.below(2)))
                    };
                    let removed = s.trim(strategy, approx, limit);
                    let gone: Vec<StreamId> =
                        before.iter().take(removed as usize).copied().collect();
                    for g in &gone {
                        model.remove(g);
                    }
                    match strategy {
                        Trim::MaxLen(n) if !approx => {
                            assert_eq!(model.len() as u64, n.min(before.len() as u64))
                        }
                        Trim::MaxLen(n) => {
                            assert!(model.len() as u64 >= n.min(before.len() as u64))
                        }
                        Trim::MinId(m) if !approx => assert!(model.keys().all(|k| *k >= m)),
                        Trim::MinId(m) => assert!(gone.iter().all(|k| *k < m)),
                    }
                    if limit != 0 {
                        assert!(removed <= limit);
                    }
                }
            }
            assert_eq!(s.len(), model.len() as u64);
            assert_eq!(
                s.first_id(),
                model.keys().next().copied().unwrap_or(StreamId::MIN)
            );
            assert_eq!(s.max_deleted_entry_id(), max_deleted);
            assert_eq!(s.last_valid_id(), model.keys().next_back().copied());
            let got: Vec<(StreamId, Pairs)> = s
                .range(StreamId::MIN, StreamId::MAX, false)
                .map(|e| (e.id(), e.to_pairs()))
                .collect();
            let want: Vec<(StreamId, Pairs)> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
            assert_eq!(got, want);
            let (a, b) = (
                StreamId::new(rng.below(next.ms + 2), rng.below(3)),
                StreamId::new(rng.below(next.ms + 2), rng.below(3)),
            );
            let got: Vec<StreamId> = s.range(a, b, true).take(5).map(|e| e.id()).collect();
            let want: Vec<StreamId> = if a <= b {
                model.range(a..=b).rev().take(5).map(|(k, _)| *k).collect()
            } else {
                vec![]
            };
            assert_eq!(got, want);
        }
        check_consistent(&s);
    }
}

#[test]
fn set_id_checks_as_redis() {
    let l = NodeLimits::default();
    let mut s = Stream::new();
    add(&mut s, "1-0", &[("a", "1")], l);
    add(&mut s, "5-0", &[("a", "1")], l);
    assert_eq!(
        s.set_id(id("6-0"), None, Some(id("7-0"))),
        Err(SetIdError::BelowMaxDeleted)
    );
    assert_eq!(s.set_id(id("4-0"), None, None), Err(SetIdError::BelowTop));
    assert_eq!(
        s.set_id(id("6-0"), Some(1), None),
        Err(SetIdError::EntriesAddedTooSmall)
    );
    s.delete(&[id("5-0")]);
    // Below a tombstone is allowed (only live entries count), and XADD then appends after it.
    assert_eq!(s.set_id(id("2-0"), Some(9), Some(StreamId::MIN)), Ok(()));
    assert_eq!(
        (s.last_id(), s.entries_added(), s.max_deleted_entry_id()),
        (id("2-0"), 9, id("5-0"))
    );
    add(&mut s, "3-0", &[("a", "2")], l);
    assert_eq!(ids(&s, false), ["1-0", "3-0"]);
    assert_eq!(s.range(id("4-0"), StreamId::MAX, false).count(), 0);
    check_consistent(&s);
}
