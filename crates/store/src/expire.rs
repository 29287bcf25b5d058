//! The active expiry cycle: finds and deletes expired keys nobody reads.
//!
//! Like Redis's, it walks each database's expiry dict with a SCAN cursor, looks at a small batch
//! of keys, deletes the expired ones, and goes on while more than a tenth of a batch was expired
//! (lots of garbage) and its time budget lasts. It locks one shard for one batch at a time, so a
//! client command never waits behind more than one batch.

use std::time::{Duration, Instant};

use crate::store::Store;

/// Keys looked at per batch at the lowest effort (Redis's `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
pub const KEYS_PER_BATCH: usize = 20;
/// Go on with a database while more than this percentage of a batch was expired (lowest
/// effort).
pub const ACCEPTABLE_STALE_PERCENT: usize = 10;
/// Share of each cron period the cycle may use, in percent (lowest effort).
pub const TIME_PERCENT: u32 = 25;

/// How hard the cycle works, from `active-expire-effort` (1–10), scaled as Redis scales it:
/// each step above 1 adds a quarter of the base batch, two points of the period, and lowers
/// the garbage share it tolerates by one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireEffort {
    pub keys_per_batch: usize,
    pub acceptable_stale_percent: usize,
    pub time_percent: u32,
}

impl ExpireEffort {
    pub fn new(effort: u32) -> ExpireEffort {
        let extra = effort.clamp(1, 10) - 1;
        ExpireEffort {
            keys_per_batch: KEYS_PER_BATCH + KEYS_PER_BATCH / 4 * extra as usize,
            acceptable_stale_percent: ACCEPTABLE_STALE_PERCENT - extra as usize,
            time_percent: TIME_PERCENT + 2 * extra,
        }
    }
}
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
    /// Run one cycle of a cron `period`, with the effort's share of it as the budget. `now_ms`
    /// gives the current Unix time in milliseconds.
    pub fn active_expire_cycle(
        &self,
        period: Duration,
        effort: ExpireEffort,
        now_ms: impl Fn() -> u64,
    ) -> CycleReport {
        let budget = period * effort.time_percent / 100;
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
                    // A database never made has nothing to expire or rehash.
                    let Some(db) = shard.existing_db_mut(db_idx) else {
                        break;
                    };
                    db.rehash_step(REHASH_BUCKETS_PER_CYCLE);
                    if db.volatile_len() == 0 {
                        break;
                    }
                    let now = now_ms();
                    let mut sampled = 0;
                    let mut expired = Vec::new();
                    let mut cursor = db.expire_cursor;
                    // Bounded: at most this many buckets per batch even if most are empty.
                    let mut buckets_left = effort.keys_per_batch * 20;
                    while sampled < effort.keys_per_batch && buckets_left > 0 {
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
                        || expired.len() * 100 <= sampled * effort.acceptable_stale_percent
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
                .active_expire_cycle(Duration::from_secs(4), ExpireEffort::new(1), || 100)
                .expired;
        }
        assert_eq!(total, 500);
        assert_eq!(store.db_len(1), 500);
        assert_eq!(store.stats().expired_keys, 500);
    }

    #[test]
    fn effort_scales_as_redis_does() {
        assert_eq!(
            ExpireEffort::new(1),
            ExpireEffort {
                keys_per_batch: 20,
                acceptable_stale_percent: 10,
                time_percent: 25
            }
        );
        assert_eq!(
            ExpireEffort::new(10),
            ExpireEffort {
                keys_per_batch: 65,
                acceptable_stale_percent: 1,
                time_percent: 43
            }
        );
        assert_eq!(ExpireEffort::new(0), ExpireEffort::new(1));
    }
}
