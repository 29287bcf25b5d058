//! Server statistics for INFO. Counters that change on every command live per I/O thread (each
//! thread writes only its own, so they never bounce between cores) and are summed when read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::cmd::table::{all_specs, spec_index};
use crate::cmd::Spec;

/// Calls of one command, as `cmdstat_<name>` reports them.
#[derive(Debug, Default, Clone, Copy)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// Counters of one command in one thread (written only by that thread).
#[derive(Default)]
struct CmdCounters {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    /// Latency histogram (`latency-tracking`), made on the first call.
    hist: std::sync::OnceLock<Box<crate::histogram::Histogram>>,
}

/// `latency-tracking`: per-command latency histograms are kept.
static LATENCY_TRACKING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn set_latency_tracking(on: bool) {
    LATENCY_TRACKING.store(on, Relaxed);
}

pub fn latency_tracking() -> bool {
    LATENCY_TRACKING.load(Relaxed)
}

/// Counters owned by one I/O thread: one slot per command of the table, so counting a call is
/// two uncontended atomic adds, no lock and no hashing.
pub struct ThreadStats {
    commands: Vec<CmdCounters>,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Socket reads and reply writes (INFO's `total_reads_processed`, `..._writes_...`).
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    /// Reply buffers given back after a big batch, and grown for one (INFO's
    /// `reply_buffer_shrinks` and `reply_buffer_expands`).
    pub reply_buffer_shrinks: AtomicU64,
    pub reply_buffer_expands: AtomicU64,
    /// Changes this thread's commands made, ever (see [`Stats::dirty`]).
    pub dirty: AtomicU64,
}

impl Default for ThreadStats {
    fn default() -> Self {
        ThreadStats {
            commands: all_specs().iter().map(|_| CmdCounters::default()).collect(),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            reply_buffer_shrinks: AtomicU64::new(0),
            reply_buffer_expands: AtomicU64::new(0),
            dirty: AtomicU64::new(0),
        }
    }
}

impl ThreadStats {
    /// A command ran for `usec`. A command that blocked (`blocked`) is counted now, but
    /// reaches its latency histogram only when served ([`ThreadStats::served`]), as in Redis.
    pub fn called(&self, spec: &'static Spec, usec: u64, failed: bool, blocked: bool) {
        let c = &self.commands[spec_index(spec)];
        c.calls.fetch_add(1, Relaxed);
        c.usec.fetch_add(usec, Relaxed);
        if failed {
            c.failed.fetch_add(1, Relaxed);
        }
        if !blocked {
            self.record_latency(spec, usec);
        }
    }

    /// A blocked command was served: its call's time goes to its latency histogram.
    pub fn served(&self, spec: &'static Spec, call_usec: u64) {
        self.record_latency(spec, call_usec);
    }

    fn record_latency(&self, spec: &'static Spec, usec: u64) {
        if latency_tracking() {
            self.commands[spec_index(spec)]
                .hist
                .get_or_init(Box::default)
                .record(usec.saturating_mul(1000));
        }
    }

    /// A blocked command's wait ended (Redis's updateStatsOnUnblock): its call was counted
    /// when it ran; the wait adds its time, and a failure if it answered an error.
    pub fn unblocked(&self, spec: &'static Spec, usec: u64, failed: bool) {
        let c = &self.commands[spec_index(spec)];
        c.usec.fetch_add(usec, Relaxed);
        if failed {
            c.failed.fetch_add(1, Relaxed);
        }
    }

    pub fn rejected(&self, spec: &'static Spec) {
        self.commands[spec_index(spec)]
            .rejected
            .fetch_add(1, Relaxed);
    }
}

/// Server-wide statistics.
#[derive(Default)]
pub struct Stats {
    threads: Mutex<Vec<Arc<ThreadStats>>>,
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    /// Clients disconnected by `maxmemory-clients`.
    pub evicted_clients: AtomicU64,
    pub expired_time_cap_reached: AtomicU64,
    /// Packed blobs of RESTORE payloads and loaded files checked in depth because
    /// `sanitize-dump-payload` asked for it (INFO's `dump_payload_sanitizations`).
    pub dump_payload_sanitizations: AtomicU64,
    /// Error replies to commands replayed from the log (INFO's `unexpected_error_replies`).
    pub unexpected_error_replies: AtomicU64,
    pub expire_cycle_cpu_ms: AtomicU64,
    /// The changes counted when the last successful save began (see [`Stats::dirty`]).
    dirty_saved: AtomicU64,
    errors: Mutex<HashMap<String, u64>>,
    /// Samples for INFO's `instantaneous_*` figures, taken by the cron.
    instant: Mutex<Instant>,
}

/// Redis's instantaneous metrics: every 100 ms the cron records how fast commands and
/// network bytes went since the previous sample; INFO shows the mean of the last 16.
#[derive(Default)]
struct Instant {
    last: Option<(std::time::Instant, [u64; 3])>,
    /// Per metric (commands, input bytes, output bytes): rates per second, a ring of 16.
    samples: [[f64; 16]; 3],
    next: usize,
}

impl Stats {
    /// Changes to the dataset ever made (Redis's `server.dirty` without its resets): the sum
    /// of every thread's count. Each thread adds to its own counter — one shared counter
    /// written by every write on every core cost 5% of the CPU of a multi-key script.
    pub fn dirty_total(&self) -> u64 {
        let threads = self.threads.lock();
        threads.iter().map(|t| t.dirty.load(Relaxed)).sum()
    }

    /// Changes since the last save (INFO's `rdb_changes_since_last_save`, the save points).
    pub fn dirty(&self) -> u64 {
        self.dirty_total()
            .saturating_sub(self.dirty_saved.load(Relaxed))
    }

    /// A save of the data as of `total_before` (its [`Stats::dirty_total`] when it began)
    /// succeeded: changes made since stay counted.
    pub fn dirty_saved_at(&self, total_before: u64) {
        self.dirty_saved.fetch_max(total_before, Relaxed);
    }

    /// A new set of per-thread counters, included in every sum from now on.
    pub fn register_thread(&self) -> Arc<ThreadStats> {
        let t = Arc::new(ThreadStats::default());
        self.threads.lock().push(t.clone());
        t
    }

    /// Take an instantaneous-metrics sample if 100 ms passed since the last (the cron calls
    /// this every cycle).
    pub fn sample_instantaneous(&self) {
        let now = std::time::Instant::now();
        let (net_in, net_out) = self.net_bytes();
        let current = [self.total_commands(), net_in, net_out];
        let mut inst = self.instant.lock();
        match inst.last {
            Some((at, _)) if now.duration_since(at) < std::time::Duration::from_millis(100) => {}
            Some((at, before)) => {
                let secs = now.duration_since(at).as_secs_f64();
                let slot = inst.next;
                for m in 0..3 {
                    inst.samples[m][slot] = current[m].saturating_sub(before[m]) as f64 / secs;
                }
                inst.next = (slot + 1) % 16;
                inst.last = Some((now, current));
            }
            None => inst.last = Some((now, current)),
        }
    }

    /// Mean rates of the last 16 samples: commands per second, and input and output bytes
    /// per second.
    pub fn instantaneous(&self) -> (f64, f64, f64) {
        let inst = self.instant.lock();
        let mean = |m: usize| inst.samples[m].iter().sum::<f64>() / 16.0;
        (mean(0), mean(1), mean(2))
    }

    /// Socket reads and reply writes, summed over the I/O threads.
    pub fn reads_writes(&self) -> (u64, u64) {
        self.threads.lock().iter().fold((0, 0), |(r, w), t| {
            (r + t.reads.load(Relaxed), w + t.writes.load(Relaxed))
        })
    }

    /// INFO's `reply_buffer_shrinks` and `reply_buffer_expands`.
    pub fn reply_buffer_resizes(&self) -> (u64, u64) {
        self.threads.lock().iter().fold((0, 0), |(s, e), t| {
            (
                s + t.reply_buffer_shrinks.load(Relaxed),
                e + t.reply_buffer_expands.load(Relaxed),
            )
        })
    }

    /// Count an error reply under its code (the first word: `ERR`, `WRONGTYPE` …).
    pub fn record_error(&self, message: impl AsRef<[u8]>) {
        let message = message.as_ref();
        let code = message.split(|&b| b == b' ').next().unwrap_or(b"ERR");
        let code = String::from_utf8_lossy(code);
        let code = code.as_ref();
        let mut errors = self.errors.lock();
        if let Some(n) = errors.get_mut(code) {
            *n += 1;
        } else if errors.len() < 128 {
            // Bounded like Redis (128 kinds): past that, new kinds are not tracked.
            errors.insert(code.to_string(), 1);
        }
    }

    pub fn errors(&self) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self
            .errors
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort();
        v
    }

    pub fn total_error_replies(&self) -> u64 {
        self.errors.lock().values().sum()
    }

    /// Per-command counters summed over threads, sorted by name.
    pub fn commands(&self) -> Vec<(&'static str, CmdStat)> {
        let specs = all_specs();
        let mut total = vec![CmdStat::default(); specs.len()];
        for t in self.threads.lock().iter() {
            for (sum, c) in total.iter_mut().zip(&t.commands) {
                sum.calls += c.calls.load(Relaxed);
                sum.usec += c.usec.load(Relaxed);
                sum.rejected += c.rejected.load(Relaxed);
                sum.failed += c.failed.load(Relaxed);
            }
        }
        let mut v: Vec<_> = specs
            .iter()
            .map(|s| s.name)
            .zip(total)
            .filter(|(_, s)| s.calls + s.rejected > 0)
            .collect();
        v.sort_by_key(|(n, _)| *n);
        v
    }

    /// Latency histograms summed over threads, for the commands that have data, by name.
    pub fn histograms(&self) -> Vec<(&'static str, crate::histogram::Snapshot)> {
        let threads = self.threads.lock();
        let mut out: Vec<_> = all_specs()
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| {
                let snap = crate::histogram::Snapshot::of(
                    threads
                        .iter()
                        .filter_map(|t| t.commands[i].hist.get().map(|h| &**h)),
                );
                (snap.total > 0).then_some((spec.name, snap))
            })
            .collect();
        out.sort_by_key(|(n, _)| *n);
        out
    }

    pub fn total_commands(&self) -> u64 {
        self.commands()
            .iter()
            .map(|(_, s)| s.calls + s.rejected)
            .sum()
    }

    pub fn net_bytes(&self) -> (u64, u64) {
        let threads = self.threads.lock();
        threads.iter().fold((0, 0), |(i, o), t| {
            (
                i + t.net_input_bytes.load(Relaxed),
                o + t.net_output_bytes.load(Relaxed),
            )
        })
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for t in self.threads.lock().iter() {
            for c in &t.commands {
                c.calls.store(0, Relaxed);
                c.usec.store(0, Relaxed);
                c.rejected.store(0, Relaxed);
                c.failed.store(0, Relaxed);
                if let Some(h) = c.hist.get() {
                    h.clear();
                }
            }
            t.net_input_bytes.store(0, Relaxed);
            t.net_output_bytes.store(0, Relaxed);
            t.reads.store(0, Relaxed);
            t.writes.store(0, Relaxed);
            t.reply_buffer_shrinks.store(0, Relaxed);
            t.reply_buffer_expands.store(0, Relaxed);
        }
        self.errors.lock().clear();
        self.total_connections_received.store(0, Relaxed);
        self.rejected_connections.store(0, Relaxed);
        self.evicted_clients.store(0, Relaxed);
        self.expired_time_cap_reached.store(0, Relaxed);
        self.dump_payload_sanitizations.store(0, Relaxed);
        self.unexpected_error_replies.store(0, Relaxed);
    }
}
