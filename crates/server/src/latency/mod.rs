//! The latency monitor (LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR): with `latency-monitor-threshold`
//! above 0, every event that took at least that many milliseconds is sampled, per event
//! class, as Redis 7.0's `latency.c` keeps them: one sample per second (the worst of that
//! second), the last 160, and the worst ever. Classes recorded: `command` and `fast-command`
//! (a command's run time) and `expire-cycle` (the active expiry cycle).

pub mod doctor;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
const SAMPLES: usize = 160;

#[derive(Clone, Copy, Default)]
struct Sample {
    unix_secs: u64,
    ms: u64,
}

struct Series {
    samples: [Sample; SAMPLES],
    /// Where the next sample goes.
    idx: usize,
    max_ms: u64,
}

#[derive(Default)]
pub struct Latency {
    threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<String, Series>>,
}

/// Width and height of LATENCY GRAPH's drawing (Redis's `LATENCY_GRAPH_COLS`, 4 rows).
const GRAPH_COLUMNS: usize = 80;
const GRAPH_ROWS: usize = 4;

impl Series {
    /// The recorded samples, oldest first.
    fn in_order(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..SAMPLES)
            .map(|j| self.samples[(self.idx + j) % SAMPLES])
            .filter(|s| s.unix_secs != 0)
    }
}

/// How long ago, as LATENCY GRAPH labels a sample: seconds, minutes, hours or days.
fn ago(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// One event's figures in LATENCY DOCTOR, computed as Redis's `analyzeLatencyForEvent`:
/// integer average and mean absolute deviation of the kept samples, and the seconds since the
/// oldest of them (at least 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub event: String,
    pub samples: u64,
    pub avg_ms: u64,
    pub mad_ms: u64,
    pub period_secs: u64,
    pub max_ms: u64,
}

impl Summary {
    fn of(event: &str, ts: &Series, now_secs: u64) -> Summary {
        let kept: Vec<Sample> = ts.in_order().collect();
        let n = kept.len() as u64;
        let sum: u64 = kept.iter().map(|s| s.ms).sum();
        let avg_ms = sum.checked_div(n).unwrap_or(0);
        let deviation: u64 = kept.iter().map(|s| s.ms.abs_diff(avg_ms)).sum();
        let oldest = kept.iter().map(|s| s.unix_secs).min().unwrap_or(now_secs);
        Summary {
            event: event.to_string(),
            samples: n,
            avg_ms,
            mad_ms: deviation.checked_div(n).unwrap_or(0),
            period_secs: now_secs.saturating_sub(oldest).max(1),
            max_ms: ts.max_ms,
        }
    }
}

impl Latency {
    /// Whether the monitor is on (`latency-monitor-threshold` above 0).
    pub fn enabled(&self) -> bool {
        self.threshold_ms.load(Relaxed) > 0
    }

    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Relaxed)
    }

    pub fn load(&self, config: &crate::config::Config) {
        let t = config.get("latency-monitor-threshold").parse().unwrap_or(0);
        self.threshold_ms.store(t, Relaxed);
    }

    /// Record `ms` for `event` if the monitor is on and it reaches the threshold.
    pub fn add_if_needed(&self, event: &str, ms: u64) {
        let threshold = self.threshold_ms.load(Relaxed);
        if threshold == 0 || ms < threshold {
            return;
        }
        let now = crate::util::now_ms() / 1000;
        let mut events = self.events.lock();
        let ts = events.entry(event.to_string()).or_insert_with(|| Series {
            samples: [Sample::default(); SAMPLES],
            idx: 0,
            max_ms: 0,
        });
        ts.max_ms = ts.max_ms.max(ms);
        let prev = (ts.idx + SAMPLES - 1) % SAMPLES;
        if ts.samples[prev].unix_secs == now {
            ts.samples[prev].ms = ts.samples[prev].ms.max(ms);
            return;
        }
        ts.samples[ts.idx] = Sample { unix_secs: now, ms };
        ts.idx = (ts.idx + 1) % SAMPLES;
    }

    /// LATENCY LATEST: `[event, time of the last sample, its ms, worst ms]` per event.
    pub fn reply_latest(&self, out: &mut resp::Reply) {
        let events = self.events.lock();
        out.array(events.len());
        for (name, ts) in events.iter() {
            let last = ts.samples[(ts.idx + SAMPLES - 1) % SAMPLES];
            out.array(4);
            out.bulk(name.as_bytes());
            out.int(last.unix_secs as i64);
            out.int(last.ms as i64);
            out.int(ts.max_ms as i64);
        }
    }

    /// LATENCY HISTORY event: `[time, ms]` per sample, oldest first.
    pub fn reply_history(&self, out: &mut resp::Reply, event: &[u8]) {
        let events = self.events.lock();
        let Some(ts) = std::str::from_utf8(event).ok().and_then(|e| events.get(e)) else {
            out.array(0);
            return;
        };
        let samples: Vec<Sample> = ts.in_order().collect();
        out.array(samples.len());
        for s in samples {
            out.array(2);
            out.int(s.unix_secs as i64);
            out.int(s.ms as i64);
        }
    }

    /// LATENCY GRAPH event: the samples as a sparkline, each labelled with how long ago it
    /// was, under a line with the highest and lowest of them; `None` without samples.
    pub fn graph(&self, event: &[u8], now_secs: u64) -> Option<String> {
        let events = self.events.lock();
        let (name, ts) = std::str::from_utf8(event)
            .ok()
            .and_then(|e| events.get_key_value(e))?;
        let samples: Vec<Sample> = ts.in_order().collect();
        let high = samples.iter().map(|s| s.ms).max().unwrap_or(0);
        let low = samples.iter().map(|s| s.ms).min().unwrap_or(0);
        let line: Vec<crate::sparkline::Sample> = samples
            .iter()
            .map(|s| crate::sparkline::Sample {
                value: s.ms as f64,
                label: ago(now_secs.saturating_sub(s.unix_secs)),
            })
            .collect();
        let mut text = format!(
            "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
            ts.max_ms
        );
        text.push_str(&"-".repeat(GRAPH_COLUMNS));
        text.push('\n');
        text.push_str(&crate::sparkline::render(&line, GRAPH_COLUMNS, GRAPH_ROWS));
        Some(text)
    }

    /// Per-event figures for LATENCY DOCTOR, in event-name order.
    pub fn summaries(&self, now_secs: u64) -> Vec<Summary> {
        let events = self.events.lock();
        events
            .iter()
            .map(|(name, ts)| Summary::of(name, ts, now_secs))
            .collect()
    }

    /// LATENCY RESET: drop the named events (all when none named); how many there were.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut events = self.events.lock();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        names
            .iter()
            .filter(|n| {
                std::str::from_utf8(n)
                    .ok()
                    .is_some_and(|n| events.remove(n).is_some())
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_and_the_worst_kept() {
        let l = Latency::default();
        l.add_if_needed("command", 500);
        assert!(
            l.events.lock().is_empty(),
            "the monitor is off at threshold 0"
        );
        l.threshold_ms.store(10, Relaxed);
        l.add_if_needed("command", 5);
        l.add_if_needed("command", 20);
        l.add_if_needed("command", 15);
        let events = l.events.lock();
        let ts = &events["command"];
        assert_eq!(ts.max_ms, 20);
        assert_eq!(ts.idx, 1);
        assert_eq!(ts.samples[0].ms, 20);
    }
}
