//! The slow log (SLOWLOG): commands that took at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, as Redis 7.0 keeps them —
//! at most 32 arguments (the last one then says how many more there were), each cut to 128
//! bytes (saying how many more there were).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};

use parking_lot::Mutex;
use resp::Argv;

/// Most arguments kept per entry (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
const MAX_ARGS: usize = 32;
/// Most bytes kept per argument (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
const MAX_ARG_BYTES: usize = 128;

pub struct Entry {
    pub id: u64,
    pub unix_secs: u64,
    pub duration_us: u64,
    pub args: Vec<Vec<u8>>,
    pub peer: String,
    pub name: Vec<u8>,
}

pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
    /// -1: off; 0: every command.
    threshold_us: AtomicI64,
    max_len: AtomicUsize,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            threshold_us: AtomicI64::new(10_000),
            max_len: AtomicUsize::new(128),
        }
    }
}

impl SlowLog {
    pub fn load(&self, config: &crate::config::Config) {
        let threshold = config
            .get("slowlog-log-slower-than")
            .parse()
            .unwrap_or(10_000);
        self.threshold_us.store(threshold, Relaxed);
        let max = config.get("slowlog-max-len").parse().unwrap_or(128);
        self.max_len.store(max, Relaxed);
        self.trim(&mut self.entries.lock());
    }

    fn trim(&self, entries: &mut VecDeque<Entry>) {
        let max = self.max_len.load(Relaxed);
        while entries.len() > max {
            entries.pop_back();
        }
    }

    /// Whether a command of `duration_us` goes in (cheap: checked on every command).
    pub fn wants(&self, duration_us: u64) -> bool {
        let t = self.threshold_us.load(Relaxed);
        t >= 0 && duration_us >= t as u64
    }

    /// Log a command; secrets in it (AUTH's password …) are shown as `(redacted)`, as Redis
    /// redacts them.
    pub fn push(
        &self,
        spec: &crate::cmd::Spec,
        argv: &Argv<'_>,
        duration_us: u64,
        peer: String,
        name: Vec<u8>,
    ) {
        let args: Vec<&[u8]> = argv
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if crate::monitor::redacted(spec, argv, i) {
                    &b"(redacted)"[..]
                } else {
                    a
                }
            })
            .collect();
        self.push_args(&args, duration_us, peer, name);
    }

    /// [`SlowLog::push`] for arguments kept apart from a request (a blocked command's).
    pub fn push_args(&self, argv: &[&[u8]], duration_us: u64, peer: String, name: Vec<u8>) {
        let argc = argv.len();
        let kept = argc.min(MAX_ARGS);
        let mut args = Vec::with_capacity(kept);
        for (i, a) in argv.iter().take(kept).enumerate() {
            if kept != argc && i == kept - 1 {
                args.push(format!("... ({} more arguments)", argc - kept + 1).into_bytes());
                break;
            }
            if a.len() > MAX_ARG_BYTES {
                let mut cut = a[..MAX_ARG_BYTES].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes(),
                );
                args.push(cut);
            } else {
                args.push(a.to_vec());
            }
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Relaxed),
            unix_secs: crate::util::now_ms() / 1000,
            duration_us,
            args,
            peer,
            name,
        };
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        self.trim(&mut entries);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// Write the newest `count` entries (all for `None`) as SLOWLOG GET answers.
    pub fn reply(&self, out: &mut resp::Reply, count: Option<usize>) {
        let entries = self.entries.lock();
        let n = count.map_or(entries.len(), |c| c.min(entries.len()));
        out.array(n);
        for e in entries.iter().take(n) {
            out.array(6);
            out.int(e.id as i64);
            out.int(e.unix_secs as i64);
            out.int(e.duration_us as i64);
            out.array(e.args.len());
            for a in &e.args {
                out.bulk(a);
            }
            out.bulk(e.peer.as_bytes());
            out.bulk(&e.name);
        }
    }
}
