//! Server statistics for INFO. Counters that change on every command live per I/O thread (each
//! thread writes only its own, so they never bounce between cores) and are summed when read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

/// Calls of one command, as `cmdstat_<name>` reports them.
#[derive(Debug, Default, Clone, Copy)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// Counters owned by one I/O thread.
#[derive(Default)]
pub struct ThreadStats {
    commands: Mutex<HashMap<&'static str, CmdStat>>,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

impl ThreadStats {
    pub fn called(&self, name: &'static str, usec: u64, failed: bool) {
        let mut map = self.commands.lock();
        let s = map.entry(name).or_default();
        s.calls += 1;
        s.usec += usec;
        s.failed += u64::from(failed);
    }

    pub fn rejected(&self, name: &'static str) {
        self.commands.lock().entry(name).or_default().rejected += 1;
    }
}

/// Server-wide statistics.
#[derive(Default)]
pub struct Stats {
    threads: Mutex<Vec<Arc<ThreadStats>>>,
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub expired_time_cap_reached: AtomicU64,
    pub expire_cycle_cpu_ms: AtomicU64,
    errors: Mutex<HashMap<String, u64>>,
}

impl Stats {
    /// A new set of per-thread counters, included in every sum from now on.
    pub fn register_thread(&self) -> Arc<ThreadStats> {
        let t = Arc::new(ThreadStats::default());
        self.threads.lock().push(t.clone());
        t
    }

    /// Count an error reply under its code (the first word: `ERR`, `WRONGTYPE` …).
    pub fn record_error(&self, message: &str) {
        let code = message.split(' ').next().unwrap_or("ERR");
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
        let mut total: HashMap<&'static str, CmdStat> = HashMap::new();
        for t in self.threads.lock().iter() {
            for (name, s) in t.commands.lock().iter() {
                let e = total.entry(name).or_default();
                e.calls += s.calls;
                e.usec += s.usec;
                e.rejected += s.rejected;
                e.failed += s.failed;
            }
        }
        let mut v: Vec<_> = total.into_iter().collect();
        v.sort_by_key(|(n, _)| *n);
        v
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
            t.commands.lock().clear();
            t.net_input_bytes.store(0, Relaxed);
            t.net_output_bytes.store(0, Relaxed);
        }
        self.errors.lock().clear();
        self.total_connections_received.store(0, Relaxed);
        self.rejected_connections.store(0, Relaxed);
        self.expired_time_cap_reached.store(0, Relaxed);
    }
}
