//! Writing a snapshot of one instant (`store::snapshot`) to a file: what BGSAVE and the AOF
//! rewrite share.
//!
//! Each step of the walk serializes its entries into memory under one shard's lock; the bytes
//! go to the file after the lock is released, so no client waits on the disk. After a write
//! error the walk still runs to its end, discarding the output: every mark of the snapshot
//! must be set before the next one begins.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use persist::rdb::RdbWriter;
use store::{Obj, SnapshotSink, SnapshotWalk};

use crate::server::Server;

/// Entries per step of the walk: about 50 µs of serialization for small keys, the longest a
/// client waits for a shard.
const STEP_ENTRIES: usize = 256;
/// Bytes gathered before they are handed to the file.
const WRITE_AT_BYTES: usize = 1 << 16;

/// Serializes entries as RDB items or as commands (an AOF-format base), switching database
/// whenever an entry's differs from the last one's.
pub struct Serializer {
    rdb: Option<RdbWriter<Vec<u8>>>,
    /// RESIZEDB hints per database, written after its first SELECTDB (RDB only).
    sizes: Vec<Option<(usize, usize)>>,
    commands: Vec<u8>,
    db: Option<usize>,
    keys: u64,
}

impl Serializer {
    /// RDB items (`compress` is `rdbcompression`), with the walk's RESIZEDB hints.
    pub fn rdb(compress: bool, walk: &SnapshotWalk) -> Self {
        Serializer {
            rdb: Some(RdbWriter::part(compress)),
            sizes: walk.db_sizes().iter().copied().map(Some).collect(),
            commands: Vec::new(),
            db: None,
            keys: 0,
        }
    }

    /// Commands (`persist::rewrite`).
    pub fn commands() -> Self {
        Serializer {
            rdb: None,
            sizes: Vec::new(),
            commands: Vec::new(),
            db: None,
            keys: 0,
        }
    }

    pub fn keys(&self) -> u64 {
        self.keys
    }

    fn pending(&self) -> usize {
        self.rdb
            .as_ref()
            .map_or(self.commands.len(), RdbWriter::part_len)
    }

    fn take(&mut self) -> Vec<u8> {
        match &mut self.rdb {
            Some(w) => w.take_part(),
            None => std::mem::take(&mut self.commands),
        }
    }
}

impl SnapshotSink for Serializer {
    fn entry(&mut self, db: usize, key: &[u8], obj: &Obj, expire_at_ms: Option<u64>) {
        let switch = self.db != Some(db);
        self.db = Some(db);
        self.keys += 1;
        match &mut self.rdb {
            // Writing to memory cannot fail.
            Some(w) => {
                if switch {
                    let _ = w.select_db(db);
                    if let Some((keys, expires)) = self.sizes.get_mut(db).and_then(Option::take) {
                        let _ = w.resize_db(keys, expires);
                    }
                }
                let _ = w.key(key, &obj.value, expire_at_ms);
            }
            None => {
                if switch {
                    persist::rewrite::write_select(db, &mut self.commands);
                }
                persist::rewrite::write_key(key, &obj.value, expire_at_ms, &mut self.commands);
            }
        }
    }
}

/// Walk the snapshot to its end, handing the serialized bytes to `write` in chunks of about
/// 64 KB. Returns the first error of `write` (the walk finishes regardless) and the longest
/// a step held a shard's lock (wall and CPU time, see `SnapshotWalk::longest_hold`). `progress` follows the keys written; `rdb-key-save-delay`
/// (read now) sleeps per key between steps.
pub fn write_all(
    srv: &Server,
    mut walk: SnapshotWalk,
    ser: &mut Serializer,
    progress: &AtomicU64,
    mut write: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> (std::io::Result<()>, (Duration, Duration)) {
    let delay_us = srv
        .config
        .read()
        .get("rdb-key-save-delay")
        .parse::<i64>()
        .unwrap_or(0)
        .max(0) as u64;
    let mut result = Ok(());
    loop {
        let before = ser.keys;
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            srv.store.snapshot_step(&mut walk, STEP_ENTRIES, ser)
        }));
        let more = match step {
            Ok(more) => more,
            Err(_) => {
                // A bug, not an input: the snapshot must still end (its marks set, its flags
                // cleared), so walk the rest without output and report the failure.
                crate::log_warning!("The snapshot's walk panicked; its output is dropped");
                walk_discarding(srv, walk.clone());
                let failed = Err(std::io::Error::other("the snapshot's walk panicked"));
                return (failed, walk.longest_hold());
            }
        };
        progress.store(ser.keys, Relaxed);
        if (ser.pending() >= WRITE_AT_BYTES || !more) && ser.pending() > 0 {
            let part = ser.take();
            if result.is_ok() {
                result = write(&part);
            }
        }
        if delay_us > 0 && result.is_ok() {
            std::thread::sleep(Duration::from_micros(delay_us * (ser.keys - before)));
        } else {
            // Off the CPU between steps, never inside one (see `stay_on_cpu`).
            std::thread::sleep(Duration::from_micros(1));
        }
        if !more {
            return (result, walk.longest_hold());
        }
    }
}

/// Walk a snapshot to its end without writing anything: a snapshot that cannot be written
/// (no thread, a stopping server, a panic) must still end, every mark set, before the next.
pub(crate) fn walk_discarding(srv: &Server, mut walk: SnapshotWalk) {
    let mut discard = Serializer::commands();
    while srv.store.snapshot_step(&mut walk, usize::MAX, &mut discard) {
        discard.take();
    }
}

/// Keep the walking thread from being preempted while it holds a shard lock (called first
/// on the BGSAVE and rewrite threads).
///
/// A walk running flat out spends most of its time inside shard locks, so when the scheduler
/// hands its CPU to another thread (a client process waking up, another server thread), it
/// usually does so in the middle of a step — and every client of that shard waits until the
/// walk gets a CPU back. Measured on two busy cores, a million-key BGSAVE had ~200 steps
/// holding a lock over 0.5 ms, up to 7 ms, with only ~0.1 ms of work in each. So the walk
/// runs at nice -10 (the scheduler then lets it finish its ~50 µs step rather than switch) and
/// sleeps briefly after each step, outside any lock, with 1 µs of timer slack instead of 50
/// so the sleeps stay short. Measured after: 3 or 4 such steps per BGSAVE, and the save took
/// half the time. Without the privilege to raise its priority the walk still runs, as before.
const NICE: libc::c_int = -10;
pub(crate) fn stay_on_cpu() {
    // SAFETY: both calls change only the calling thread's scheduling attributes; their
    // failure leaves them as they were.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, NICE) != 0 {
            crate::log_verbose!("The snapshot's thread could not raise its priority (nice -10)");
        }
    }
}
