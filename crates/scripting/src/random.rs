//! `math.random` as Redis replaces it: a 48-bit linear congruential generator (the classic
//! `lrand48`, Redis's `redisLrand48`), one sequence for the whole process, so a fresh server
//! gives the same numbers Redis gives. `math.randomseed(n)` restarts it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const INCREMENT: u64 = 0xB;
const MASK_48: u64 = (1 << 48) - 1;
/// The state before any seeding: x = 0x1234_ABCD_330E.
const INITIAL: u64 = 0x1234_ABCD_330E;
/// Redis's `REDIS_LRAND48_MAX` (INT32_MAX).
pub const LRAND48_MAX: i64 = i32::MAX as i64;

static STATE: AtomicU64 = AtomicU64::new(INITIAL);

/// The next 31-bit number of the sequence.
pub fn lrand48() -> i64 {
    let mut next = 0;
    // One sequence shared by every thread's interpreter, as Redis has one.
    let _ = STATE.fetch_update(Relaxed, Relaxed, |x| {
        next = (x.wrapping_mul(MULTIPLIER).wrapping_add(INCREMENT)) & MASK_48;
        Some(next)
    });
    (next >> 17) as i64
}

/// Seed as `srand48(seed)`: the seed's 32 bits above the fixed low 16 bits 0x330E.
pub fn srand48(seed: i32) {
    STATE.store(((seed as u32 as u64) << 16) | 0x330E, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_number_matches_redis() {
        // Redis 7.0.15's first math.random() on a fresh server is 0.39646477363839.
        srand48(0);
        STATE.store(INITIAL, Relaxed);
        let r = (lrand48() % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
        assert_eq!(format!("{r:.14}"), "0.39646477363839");
    }
}
