//! Access tracking in an object's 24-bit clock field, as Redis keeps it: the LRU clock
//! (seconds) by default, or under an LFU `maxmemory-policy` a logarithmic access counter (low
//! 8 bits) with the minute it was last decremented (high 16 bits). OBJECT IDLETIME, OBJECT
//! FREQ, RESTORE's IDLETIME/FREQ and the RDB IDLE/FREQ fields read and write it.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use crate::db::{lru_clock, Obj, LRU_CLOCK_MAX};

/// The counter a new object starts with (Redis's `LFU_INIT_VAL`), so it is not evicted
/// before it had a chance to be used.
pub const LFU_INIT: u8 = 5;

static LFU: AtomicBool = AtomicBool::new(false);
static LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static DECAY_MINUTES: AtomicU32 = AtomicU32::new(1);

/// Follow the configuration: `lfu` when `maxmemory-policy` is an LFU one, `lfu-log-factor`,
/// `lfu-decay-time`.
pub fn set_lfu(lfu: bool, log_factor: u32, decay_minutes: u32) {
    LFU.store(lfu, Relaxed);
    LOG_FACTOR.store(log_factor, Relaxed);
    DECAY_MINUTES.store(decay_minutes, Relaxed);
}

pub fn lfu_enabled() -> bool {
    LFU.load(Relaxed)
}

fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

/// A uniform number in [0, 1) from a per-thread xorshift (the counter's increments are
/// random by design; no need for a strong generator).
fn random_unit() -> f64 {
    thread_local!(static STATE: Cell<u64> = const { Cell::new(0x9E37_79B9_7F4A_7C15) });
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

impl Obj {
    /// The clock field of a new object: the current LRU clock, or under LFU the initial
    /// counter stamped with the current minute.
    pub(crate) fn fresh_clock(now_ms: u64) -> u32 {
        if lfu_enabled() {
            (minutes(now_ms) << 8) | u32::from(LFU_INIT)
        } else {
            lru_clock(now_ms)
        }
    }

    /// Record an access: the LRU clock, or the LFU counter decayed then maybe incremented
    /// (Redis's `updateLFU`).
    pub fn touch(&mut self, now_ms: u64) {
        if !lfu_enabled() {
            self.stamp_lru(now_ms);
            return;
        }
        self.lru_frac = crate::db::lfu_second(now_ms);
        let mut counter = self.lfu_freq(now_ms);
        if counter < 255 {
            let base = f64::from(counter.saturating_sub(LFU_INIT));
            let p = 1.0 / (base * f64::from(LOG_FACTOR.load(Relaxed)) + 1.0);
            if random_unit() < p {
                counter += 1;
            }
        }
        self.set_freq(counter, now_ms);
    }

    /// The LFU counter after the decay due since it was last decremented (Redis's
    /// `LFUDecrAndReturn`): one per `lfu-decay-time` minutes.
    pub fn lfu_freq(&self, now_ms: u64) -> u8 {
        let last = (self.lru >> 8) & 0xFFFF;
        let counter = (self.lru & 0xFF) as u8;
        let now = minutes(now_ms);
        let elapsed = if now >= last {
            now - last
        } else {
            0xFFFF - last + now
        };
        let periods = match DECAY_MINUTES.load(Relaxed) {
            0 => 0,
            d => elapsed / d,
        };
        counter.saturating_sub(periods.min(255) as u8)
    }

    /// Set the LFU counter (RESTORE FREQ, an RDB FREQ field).
    pub fn set_freq(&mut self, freq: u8, now_ms: u64) {
        self.lru = (minutes(now_ms) << 8) | u32::from(freq);
    }

    /// Make the object look idle for `idle_secs` (RESTORE IDLETIME, an RDB IDLE field). An
    /// idle time longer than the clock has run gets, as in Redis, a stamp half a clock period
    /// away (the clock wraps, so that is as long ago as it can say).
    pub fn set_idle(&mut self, idle_secs: u64, now_ms: u64) {
        let now = u64::from(lru_clock(now_ms));
        self.lru_frac = crate::db::lru_frac(now_ms);
        self.lru = match now.checked_sub(idle_secs) {
            Some(at) => at as u32,
            None => ((now + u64::from(LRU_CLOCK_MAX) / 2) % u64::from(LRU_CLOCK_MAX)) as u32,
        };
    }

    /// Apply what a file or a RESTORE says of the object's access history, by the policy in
    /// force (Redis's `objectSetLRUOrLFU`): a frequency under LFU, an idle time otherwise.
    pub fn set_access(&mut self, freq: Option<u8>, idle_secs: Option<u64>, now_ms: u64) {
        match (lfu_enabled(), freq, idle_secs) {
            (true, Some(f), _) => self.set_freq(f, now_ms),
            (false, _, Some(idle)) => self.set_idle(idle, now_ms),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Str, Value};

    #[test]
    fn idle_time_round_trips_through_the_clock() {
        let mut o = Obj::new(Value::Str(Str::from_bytes(b"v")), 0);
        let now = 5_000_000_000;
        o.set_idle(1000, now);
        assert_eq!(o.idle_seconds(now), 1000);
        o.set_idle(0, now);
        assert_eq!(o.idle_seconds(now), 0);
    }

    #[test]
    fn the_counter_decays_one_per_decay_period() {
        let mut o = Obj::new(Value::Str(Str::from_bytes(b"v")), 0);
        o.set_freq(10, 0);
        assert_eq!(o.lfu_freq(0), 10);
        // lfu-decay-time 1 (the default): one per minute.
        assert_eq!(o.lfu_freq(3 * 60_000), 7);
        assert_eq!(o.lfu_freq(30 * 60_000), 0);
    }
}
