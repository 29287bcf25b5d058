//! The file side of the command log: writing batches (by a leader in `Log::write_through` or
//! by the writer thread), syncing, rotating, retrying after a failure. See `log` for the
//! protocol; this is its mechanics.
//!
//! Writes happen under `Shared::io`; syncs do not: the writer thread notes how far the file is
//! written, releases the lock and syncs a duplicate of the descriptor, so a connection that
//! writes the next batch never waits behind an fsync (and neither do the reads of its thread).

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
        sync_file(shared, file)?;
    }
    Ok(())
}

fn sync_file(shared: &Shared, file: &File) -> io::Result<()> {
    if shared.fail.fsync.load(Ordering::Relaxed) {
        return Err(io::Error::other("injected fsync failure"));
    }
    file.sync_data()
}

/// Write one batch (the failed one first, else what is buffered). `Ok(false)`: nothing to
/// write. A rotation's batch is synced before the switch; other batches are durable once
/// written unless the policy is `always` (then the writer thread's sync makes them durable).
/// On failure nothing of the batch counts as written: a partial write is undone, the batch is
/// kept for the retry, and appends are refused until a write succeeds.
pub(crate) fn write_once(shared: &Shared, io: &mut Io) -> io::Result<bool> {
    let (batch, fsync) = match io.retry.take() {
        Some(b) => (Some(b), lock(&shared.state).fsync),
        None => take_batch(shared, &mut io.spare),
    };
    let Some(batch) = batch else {
        return Ok(false);
    };
    let rotating = batch.next_file.is_some();
    if let Err(e) = write_batch(shared, &mut io.file, &batch.bytes, rotating) {
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
    if rotating {
        shared.synced.fetch_max(batch.last, Ordering::AcqRel);
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
    if rotating || fsync != Fsync::Always {
        advance(shared, batch.last);
    }
    wake_waiters(shared);
    Ok(true)
}

/// After a leader's write under `always`: make sure the writer thread syncs it. Checked under
/// the state lock, where the writer decides to sleep, so the signal cannot be lost.
pub(crate) fn request_sync(shared: &Shared) {
    let idle = lock(&shared.state).writer_idle;
    if idle {
        shared.wake.notify_all();
    }
}

/// Whether written records wait for a sync that the policy asks for now.
fn sync_due(shared: &Shared, fsync: Fsync, last_sync: Instant, stopping: bool) -> bool {
    let behind = shared.written.load(Ordering::Acquire) > shared.synced.load(Ordering::Acquire);
    behind
        && match fsync {
            Fsync::Always => true,
            Fsync::EverySec => stopping || last_sync.elapsed() >= Duration::from_secs(1),
            Fsync::No => stopping,
        }
}

/// Sync what is written so far without holding the file lock (writers go on meanwhile): the
/// records up to the noted sequence are then durable. False if the sync failed.
fn sync_written(shared: &Shared, last_sync: &mut Instant) -> bool {
    let (target, file) = {
        let io = lock_io(shared);
        (shared.written.load(Ordering::Acquire), io.file.try_clone())
    };
    let result = file.and_then(|f| sync_file(shared, &f));
    match result {
        Ok(()) => {
            if last_sync.elapsed() > Duration::from_secs(2) {
                shared.delayed_fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            *last_sync = Instant::now();
            shared.synced.fetch_max(target, Ordering::AcqRel);
            if shared.failing.load(Ordering::Acquire) && lock_io(shared).retry.is_none() {
                set_error(shared, None);
            }
            advance(shared, target);
            wake_waiters(shared);
            true
        }
        Err(e) => {
            set_error(shared, Some(e.to_string()));
            wake_waiters(shared);
            false
        }
    }
}

/// Write everything buffered and sync it (shutdown): the error of the first failure.
pub(crate) fn write_and_sync(shared: &Shared) -> io::Result<()> {
    {
        let mut io = lock_io(shared);
        while write_once(shared, &mut io)? {}
    }
    let mut last_sync = Instant::now();
    if sync_written(shared, &mut last_sync) {
        Ok(())
    } else {
        Err(io::Error::other("the sync failed"))
    }
}

/// How often the writer looks for work nobody signalled: records of threads that do not
/// write through (the cron's `DEL`s), the once-a-second sync, retries.
const TICK: Duration = Duration::from_millis(100);

/// The writer thread: it syncs what leaders wrote (at once under `always`, where they signal
/// it; once a second under `everysec`), writes what no connection did, retries after a
/// failure, and performs rotations.
pub(crate) fn writer_loop(shared: &Shared) {
    let mut last_sync = Instant::now();
    loop {
        let (fsync, stopping) = {
            let mut st = lock(&shared.state);
            let ready = st.stop
                || st.rotation.is_some()
                || (st.fsync == Fsync::Always && sync_due(shared, st.fsync, last_sync, false));
            if !ready {
                st.writer_idle = true;
                st = shared
                    .wake
                    .wait_timeout(st, TICK)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
                st.writer_idle = false;
            }
            (st.fsync, st.stop)
        };
        let wrote = {
            let mut io = lock_io(shared);
            write_once(shared, &mut io)
        };
        if wrote.is_err() {
            if stopping {
                return;
            }
            std::thread::sleep(TICK);
            continue;
        }
        if sync_due(shared, fsync, last_sync, stopping) && !sync_written(shared, &mut last_sync) {
            if stopping {
                return;
            }
            std::thread::sleep(TICK);
        }
        if stopping && lock_io(shared).retry.is_none() && lock(&shared.state).pending.is_empty() {
            if shared.written.load(Ordering::Acquire) > shared.synced.load(Ordering::Acquire) {
                let _ = sync_written(shared, &mut last_sync);
            }
            return;
        }
    }
}
