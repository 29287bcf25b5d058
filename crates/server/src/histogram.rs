//! Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats), laid out and read
//! exactly as the HdrHistogram C library Redis 7.0 uses them: 1 ns to 1 s, 2 significant
//! digits. Recording is one relaxed atomic add (each I/O thread has its own histograms);
//! reports add the threads' counts up and walk them as `hdr_value_at_percentile` and the
//! log iterator of `fillCommandCDF` do, so the buckets and percentiles mean what Redis's mean.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Redis's `LATENCY_HISTOGRAM_MIN_VALUE` and `_MAX_VALUE`, in nanoseconds.
const MIN_NS: u64 = 1;
const MAX_NS: u64 = 1_000_000_000;
/// 2 significant digits: sub-buckets of 256 (half 128), as `hdr_init` computes them.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF: usize = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (1 << (SUB_BUCKET_HALF_MAGNITUDE + 1)) - 1;
/// Buckets to reach `MAX_NS` from 256 by doubling (256 << 22 > 1e9), plus one: 23.
const BUCKETS: usize = 23;
const COUNTS: usize = (BUCKETS + 1) * SUB_BUCKET_HALF;

/// One command's histogram on one thread.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..COUNTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_index(v: u64) -> usize {
    (64 - (v | SUB_BUCKET_MASK).leading_zeros() - (SUB_BUCKET_HALF_MAGNITUDE + 1)) as usize
}

fn counts_index(v: u64) -> usize {
    let b = bucket_index(v);
    let sub = (v >> b) as usize;
    ((b + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub - SUB_BUCKET_HALF
}

fn value_at_index(index: usize) -> u64 {
    let mut b = (index >> SUB_BUCKET_HALF_MAGNITUDE) as i64 - 1;
    let mut sub = (index & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF;
    if b < 0 {
        sub -= SUB_BUCKET_HALF;
        b = 0;
    }
    (sub as u64) << b
}

fn lowest_equivalent(v: u64) -> u64 {
    let b = bucket_index(v);
    (v >> b) << b
}

fn highest_equivalent(v: u64) -> u64 {
    let b = bucket_index(v);
    let sub = (v >> b) as usize;
    let adjusted = if sub >= 2 * SUB_BUCKET_HALF { b + 1 } else { b };
    lowest_equivalent(v) + (1u64 << adjusted) - 1
}

impl Histogram {
    /// Record one duration (clamped to 1 ns … 1 s, as Redis clamps it).
    pub fn record(&self, ns: u64) {
        let v = ns.clamp(MIN_NS, MAX_NS);
        self.counts[counts_index(v)].fetch_add(1, Relaxed);
    }

    /// Forget every sample (CONFIG RESETSTAT).
    pub fn clear(&self) {
        for c in self.counts.iter() {
            c.store(0, Relaxed);
        }
    }

    /// Add this histogram's counts into `into`.
    pub fn add_to(&self, into: &mut [u64]) {
        for (t, c) in into.iter_mut().zip(self.counts.iter()) {
            *t += c.load(Relaxed);
        }
    }
}

/// Counts added up over threads, for reports.
pub struct Snapshot {
    counts: Vec<u64>,
    pub total: u64,
}

impl Snapshot {
    pub fn of<'a>(parts: impl Iterator<Item = &'a Histogram>) -> Snapshot {
        let mut counts = vec![0; COUNTS];
        for h in parts {
            h.add_to(&mut counts);
        }
        let total = counts.iter().sum();
        Snapshot { counts, total }
    }

    /// `hdr_value_at_percentile`, in nanoseconds.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let p = percentile.min(100.0);
        let wanted = (((p / 100.0) * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                return highest_equivalent(value_at_index(i));
            }
        }
        0
    }

    /// `fillCommandCDF`'s buckets: the C library's log iterator from 1024 ns, doubling; at
    /// each step that added counts, `(highest equivalent value of the last index reached, in
    /// µs, cumulative count)`.
    pub fn cdf_usec(&self) -> Vec<(u64, u64)> {
        let mut it = LogIter {
            s: self,
            index: -1,
            cumulative: 0,
            value: 0,
            highest: 0,
            level: 1024,
            level_lowest: lowest_equivalent(1024),
        };
        let mut out = Vec::new();
        let mut previous = 0;
        while it.next() {
            if it.cumulative > previous {
                out.push((it.highest / 1000, it.cumulative));
            }
            previous = it.cumulative;
        }
        out
    }
}

/// `hdr_iter` with `hdr_iter_log_init(…, 1024, 2)`.
struct LogIter<'a> {
    s: &'a Snapshot,
    index: i64,
    cumulative: u64,
    value: u64,
    highest: u64,
    level: u64,
    level_lowest: u64,
}

impl LogIter<'_> {
    fn move_next(&mut self) -> bool {
        self.index += 1;
        let Some(&count) = self.s.counts.get(self.index as usize) else {
            return false;
        };
        self.cumulative += count;
        self.value = value_at_index(self.index as usize);
        self.highest = highest_equivalent(self.value);
        true
    }

    fn next(&mut self) -> bool {
        let has_next = self.cumulative < self.s.total;
        let peek = value_at_index((self.index + 1) as usize);
        if !(has_next || peek > self.level_lowest) {
            return false;
        }
        loop {
            if self.value >= self.level_lowest {
                self.level *= 2;
                self.level_lowest = lowest_equivalent(self.level);
                return true;
            }
            if !self.move_next() {
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_round_trip_within_two_significant_digits() {
        for v in [1u64, 255, 256, 1000, 1023, 1024, 123_456, 999_999_999] {
            let lo = lowest_equivalent(v);
            let hi = highest_equivalent(v);
            assert!(lo <= v && v <= hi, "{v}: {lo}..{hi}");
            assert_eq!(value_at_index(counts_index(v)), lo);
            assert!((hi - lo) as f64 <= v as f64 / 100.0 + 1.0, "{v}");
        }
    }

    #[test]
    fn percentiles_and_cdf() {
        let h = Histogram::default();
        for _ in 0..99 {
            h.record(1_000);
        }
        h.record(2_000_000);
        let s = Snapshot::of(std::iter::once(&h));
        assert_eq!(s.total, 100);
        assert_eq!(s.value_at_percentile(50.0), highest_equivalent(1_000));
        assert_eq!(s.value_at_percentile(100.0), highest_equivalent(2_000_000));
        let cdf = s.cdf_usec();
        assert_eq!(cdf.first().map(|c| c.1), Some(99));
        assert_eq!(cdf.last().map(|c| c.1), Some(100));
    }
}
