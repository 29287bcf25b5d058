//! The active expiry cycle: finds and deletes expired keys nobody reads.
//!
//! Like Redis's, it walks each database's expiry dict with a SCAN cursor, looks at a small batch
//! of keys, deletes the expired ones, and goes on while more than a tenth of a batch was expired
//! (lots of garbage) and its time budget lasts. It locks one shard for one batch at a time, so a
//! client command never waits behind more than one batch.

use std::time::{Duration, Instant};

use crate::store::Store;

/// Keys looked at per batch (Redis's `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
pub const KEYS_PER_BATCH: usize = 20;
/// Go on with a database while more than this percentage of a batch was expired.
pub const ACCEPTABLE_STALE_PERCENT: usize = 10;
/// Buckets of any in-progress rehash moved per shard and database per cycle.
const REHASH_BUCKETS_PER_CYCLE: usize = 100;

/// What one cycle did (for INFO).
#[derive(Debug, Default, Clone, Copy)]
pub struct CycleReport {
    pub sampled: u64,
    pub expired: u64,
    pub time_limit_reached: bool,
}

impl Store {
    /// Run one cycle within `budget`. `now_ms` gives the current Unix time in milliseconds.
    pub fn active_expire_cycle(&self, budget: Duration, now_ms: impl Fn() -> u64) -> CycleReport {
        let started = Instant::now();
        let mut report = CycleReport::default();
        // Paused clients: the dataset stays as it is (Redis skips the cycle too).
        if crate::db::expiry_paused() {
            return report;
        }
        for shard_idx in 0..self.shard_count() {
            for db_idx in 0..self.databases() {
                loop {
                    if started.elapsed() >= budget {
                        report.time_limit_reached = true;
                        return report;
                    }
                    let mut shard = self.lock_shard(shard_idx);
                    let db = shard.db(db_idx);
                    db.rehash_step(REHASH_BUCKETS_PER_CYCLE);
                    if db.volatile_len() == 0 {
                        break;
                    }
                    let now = now_ms();
                    let mut sampled = 0;
                    let mut expired = Vec::new();
                    let mut cursor = db.expire_cursor;
                    // Bounded: at most this many buckets per batch even if most are empty.
                    let mut buckets_left = KEYS_PER_BATCH * 20;
                    while sampled < KEYS_PER_BATCH && buckets_left > 0 {
                        cursor = db.expires().scan(cursor, |k, &at| {
                            sampled += 1;
                            if at <= now {
                                expired.push(k.clone());
                            }
                        });
                        buckets_left -= 1;
                        if cursor == 0 {
                            break;
                        }
                    }
                    db.expire_cursor = cursor;
                    for key in &expired {
                        db.expire_if_needed(key, now);
                    }
                    report.sampled += sampled as u64;
                    report.expired += expired.len() as u64;
                    let wrapped = cursor == 0;
                    if sampled == 0
                        || expired.len() * 100 <= sampled * ACCEPTABLE_STALE_PERCENT
                        || wrapped && expired.is_empty()
                    {
                        break;
                    }
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Str, Value};

    #[test]
    fn cycle_removes_expired_keys_only() {
        let store = Store::new(4, 2);
        for i in 0..1000 {
            let key = format!("k{i}").into_bytes();
            let mut l = store.lock_keys([key.as_slice()]);
            let db = l.db(&key, 1);
            db.set(&key, Value::Str(Str::from_bytes(b"v")), false, 0);
            if i % 2 == 0 {
                db.set_expire(&key, 10);
            } else if i % 3 == 0 {
                db.set_expire(&key, 1_000_000);
            }
        }
        let mut total = 0;
        for _ in 0..100 {
            total += store
                .active_expire_cycle(Duration::from_secs(1), || 100)
                .expired;
        }
        assert_eq!(total, 500);
        assert_eq!(store.db_len(1), 500);
        assert_eq!(store.stats().expired_keys, 500);
    }
}
