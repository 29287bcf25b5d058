//! What eviction under `maxmemory` needs from a database: sampling candidates (Redis's
//! `evictionPoolPopulate` scores) and evicting one key with everything a deletion owes —
//! WATCH and tracking told, the `evicted` event, the count, and the key queued for the log
//! as expiry deletions are.

use std::sync::atomic::Ordering::Relaxed;

use crate::db::{Db, StoreEvent, EXPIRED_PENDING};

/// Which keys a policy may evict, and by what it picks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// `maxmemory-policy`'s value.
    pub fn parse(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    /// Only keys with a time to live.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }
}

impl Db {
    /// A random key this policy could evict, with its score (higher: evict sooner), or
    /// `None` when there is none. `rand` supplies random numbers.
    pub fn eviction_candidate(
        &self,
        policy: Policy,
        now_ms: u64,
        rand: impl FnMut() -> u64,
    ) -> Option<(Vec<u8>, u64)> {
        let key: Vec<u8> = if policy.volatile() {
            self.expires.random(rand)?.0.to_vec()
        } else {
            self.keys.random(rand)?.0.to_vec()
        };
        let score = match policy {
            Policy::AllKeysLru | Policy::VolatileLru => self.keys.get(&key)?.idle_ms(now_ms),
            Policy::AllKeysLfu | Policy::VolatileLfu => {
                // The counter first; among equal ones, the longest idle (mod 256 s).
                let obj = self.keys.get(&key)?;
                (255 - u64::from(obj.lfu_freq(now_ms))) << 8 | obj.lfu_idle_seconds(now_ms)
            }
            // The sooner it expires, the better a candidate.
            Policy::VolatileTtl => u64::MAX - *self.expires.get(&key)?,
            _ => 0,
        };
        Some((key, score))
    }

    /// Evict `key` (still there, and still volatile when `volatile`): returns whether it
    /// was. Its value is freed by `lazyfree-lazy-eviction`.
    pub fn evict(&mut self, key: &[u8], volatile: bool) -> bool {
        if volatile && self.expires.get(key).is_none() {
            return false;
        }
        if !self.delete(key, crate::lazyfree::Reason::Eviction) {
            return false;
        }
        self.touch(key);
        self.record_event(StoreEvent::Evicted, key);
        self.stats.evicted_keys += 1;
        self.expired_pending.push(key.to_vec());
        EXPIRED_PENDING.fetch_add(1, Relaxed);
        true
    }
}
