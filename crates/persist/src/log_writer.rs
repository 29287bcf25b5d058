//! The file side of the command log: writing batches (by a leader in `Log::write_through` or
//! by the writer thread), syncing, rotating, retrying after a failure. See `log` for the
//! protocol; this is its mechanics.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use crate::log::{lock, set_error, wake_waiters, Fsync, Shared};

/// The open file and what is known about it. Behind `Shared::io`.
pub(crate) struct Io {
    pub(crate) file: File,
    /// A batch that failed to be written, written first on the next attempt.
    pub(crate) retry: Option<Batch>,
    /// Written since the last sync.
    pub(crate) unsynced: bool,
    pub(crate) last_sync: Instant,
    /// The last batch's buffer, emptied: swapped in as the next `pending`, so appends do not
    /// grow a fresh buffer after every write.
    pub(crate) spare: Vec<u8>,
}

/// Largest buffer kept as `spare` (a burst's buffer is freed, not kept).
const MAX_SPARE_BYTES: usize = 1 << 20;

/// Bytes for the file, ending with their annotation.
pub(crate) struct Batch {
    bytes: Vec<u8>,
    /// Sequence of the last record in `bytes`.
    last: u64,
    /// A rotation: switch to this file once `bytes` are written and synced.
    next_file: Option<File>,
}

pub(crate) fn lock_io(shared: &Shared) -> MutexGuard<'_, Io> {
    shared
        .io
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Publish `seq` as durable (and tell the server) if it is news.
fn advance(shared: &Shared, seq: u64) {
    if shared.durable.fetch_max(seq, Ordering::AcqRel) < seq {
        (shared.on_durable)(seq);
    }
}

/// Take what is buffered: the part before a pending rotation (which already ends with its
/// annotation), else everything with a new annotation after it.
fn take_batch(shared: &Shared, spare: &mut Vec<u8>) -> (Option<Batch>, Fsync) {
    let mut st = lock(&shared.state);
    let fsync = st.fsync;
    let batch = match st.rotation.take() {
        Some(r) => {
            let rest = st.pending.split_off(r.cut);
            let old = std::mem::replace(&mut st.pending, rest);
            Some(Batch {
                bytes: old,
                last: r.last,
                next_file: Some(r.file),
            })
        }
        None if st.pending.is_empty() => None,
        None => {
            let mut bytes = std::mem::replace(&mut st.pending, std::mem::take(spare));
            bytes.extend_from_slice(&st.sum.annotation());
            Some(Batch {
                bytes,
                last: st.pending_last,
                next_file: None,
            })
        }
    };
    (batch, fsync)
}

/// Write `buf` and, if asked, sync: through the failpoints.
fn write_batch(shared: &Shared, file: &mut File, buf: &[u8], sync: bool) -> io::Result<()> {
    if shared.fail.write.load(Ordering::Relaxed) {
        return Err(io::Error::other("injected write failure"));
    }
    file.write_all(buf)?;
    if sync {
        if shared.fail.fsync.load(Ordering::Relaxed) {
            return Err(io::Error::other("injected fsync failure"));
        }
        file.sync_data()?;
    }
    Ok(())
}

/// Write one batch (the failed one first, else what is buffered). `Ok(false)`: nothing to
/// write. On failure nothing of the batch counts as written: a partial write is undone, the
/// batch is kept for the retry, and appends are refused until a write succeeds.
pub(crate) fn write_once(shared: &Shared, io: &mut Io) -> io::Result<bool> {
    let (batch, fsync) = match io.retry.take() {
        Some(b) => (Some(b), lock(&shared.state).fsync),
        None => take_batch(shared, &mut io.spare),
    };
    let Some(batch) = batch else {
        return Ok(false);
    };
    let sync = batch.next_file.is_some() || fsync == Fsync::Always;
    if let Err(e) = write_batch(shared, &mut io.file, &batch.bytes, sync) {
        let _ = io.file.set_len(shared.file_bytes.load(Ordering::Relaxed));
        set_error(shared, Some(e.to_string()));
        io.retry = Some(batch);
        wake_waiters(shared);
        return Err(e);
    }
    shared
        .file_bytes
        .fetch_add(batch.bytes.len() as u64, Ordering::Relaxed);
    shared.written.fetch_max(batch.last, Ordering::AcqRel);
    if sync {
        io.unsynced = false;
        io.last_sync = Instant::now();
    } else {
        io.unsynced = true;
    }
    if batch.bytes.capacity() <= MAX_SPARE_BYTES {
        let mut spare = batch.bytes;
        spare.clear();
        io.spare = spare;
    }
    if let Some(next) = batch.next_file {
        io.file = next;
        let len = io.file.metadata().map_or(0, |m| m.len());
        shared.file_bytes.store(len, Ordering::Relaxed);
    }
    if shared.failing.load(Ordering::Acquire) {
        set_error(shared, None);
    }
    if sync || fsync != Fsync::Always {
        advance(shared, batch.last);
    }
    wake_waiters(shared);
    Ok(true)
}

/// Write everything buffered and sync it (shutdown): the error of the first failure.
pub(crate) fn write_and_sync(shared: &Shared) -> io::Result<()> {
    let mut io = lock_io(shared);
    while write_once(shared, &mut io)? {}
    sync_now(shared, &mut io);
    match shared.failing.load(Ordering::Acquire) {
        true => Err(io::Error::other("the last sync failed")),
        false => Ok(()),
    }
}

/// Sync what was written; under `always` that makes it durable.
fn sync_now(shared: &Shared, io: &mut Io) {
    let result = if shared.fail.fsync.load(Ordering::Relaxed) {
        Err(io::Error::other("injected fsync failure"))
    } else {
        io.file.sync_data()
    };
    match result {
        Ok(()) => {
            io.unsynced = false;
            if io.last_sync.elapsed() > Duration::from_secs(2) {
                shared.delayed_fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            io.last_sync = Instant::now();
            advance(shared, shared.written.load(Ordering::Acquire));
        }
        Err(e) => set_error(shared, Some(e.to_string())),
    }
}

/// How often the writer looks for work nobody signalled: records of threads that do not
/// write through (the cron's `DEL`s under `everysec`), the once-a-second sync, retries.
const TICK: Duration = Duration::from_millis(100);

/// The writer thread: it ticks (or is woken for a rotation or the stop), writing what no
/// connection wrote (the cron's records), retrying after a failure, and syncing once a second
/// under `everysec`. Connections write — and under `always` sync — their own batches.
pub(crate) fn writer_loop(shared: &Shared) {
    loop {
        let (fsync, stopping) = {
            let mut st = lock(&shared.state);
            if !st.stop && st.rotation.is_none() {
                st = shared
                    .wake
                    .wait_timeout(st, TICK)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            (st.fsync, st.stop)
        };
        let mut io = lock_io(shared);
        if write_once(shared, &mut io).is_err() {
            drop(io);
            if stopping {
                return;
            }
            std::thread::sleep(TICK);
            continue;
        }
        let due = match fsync {
            Fsync::Always => true,
            Fsync::EverySec => io.last_sync.elapsed() >= Duration::from_secs(1),
            Fsync::No => false,
        };
        if io.unsynced && (due || stopping) {
            sync_now(shared, &mut io);
        }
        if stopping && io.retry.is_none() && lock(&shared.state).pending.is_empty() {
            return;
        }
    }
}
