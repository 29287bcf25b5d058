//! The append side of the command log: one buffer shared by every thread, drained by one
//! writer thread that appends, checksums and syncs it — group commit.
//!
//! - `append` copies a record into the shared buffer (callers do this under the shard locks
//!   of the command, so the log's order is the order of conflicting commands) and returns its
//!   sequence number.
//! - Whoever writes takes everything buffered and appends it with one `#CRC:` annotation after
//!   it: one write covers every record buffered before it, from all connections and threads.
//! - The connection that needs its record written does it itself (`write_through`, a leader
//!   write, after its thread's other ready connections appended): it writes the whole buffer —
//!   every record buffered before it, all connections and threads — and connections whose
//!   records it covered find them written and skip. No thread hop for a written record, which
//!   is what `everysec` and `no` promise before replying (as Redis writes its AOF buffer before
//!   replying: a killed process loses nothing acknowledged).
//! - Under `appendfsync always` the writer thread syncs: a leader that wrote signals it, it
//!   notes how far the file is written, syncs a duplicate descriptor without the file lock,
//!   and publishes that point as durable — one fsync for every record written before it
//!   (group commit). Connections go on writing (and reading) during the fsync: only the
//!   replies to the covered writes wait for it. The writer thread also writes what no
//!   connection did (the cron's records), retries after a failure and, under `everysec`, syncs
//!   once a second.
//! - A failed write or sync keeps the batch, marks the log failed (callers refuse new writes,
//!   as Redis's MISCONF-style error does), and retries; nothing buffered is lost or reported
//!   durable before it is in the file.
//!
//! - `rotate` switches to a new file at one point of the sequence (an AOF rewrite's instant):
//!   records appended before it go to the old file, which is closed with its own annotation
//!   and synced, the ones after it to the new file.
//!
//! No async runtime here: `on_durable` is called (on the writer thread) after each advance, and
//! the server turns it into wake-ups.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::aof::Checksummer;
use crate::log_writer::{lock_io, request_sync, write_and_sync, write_once, writer_loop, Io};

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

/// Test hooks that make the next writes or syncs fail (a disk that errors), TiKV-style
/// failpoints. Always compiled; a relaxed load per batch.
#[derive(Debug, Default)]
pub struct FailPoints {
    pub write: AtomicBool,
    pub fsync: AtomicBool,
}

/// Why the log refuses an append.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The last write or sync failed; the text is the OS error.
    #[error("{0}")]
    Failed(String),
    #[error("the log is closed")]
    Closed,
}

/// A switch to a new file after the first `cut` bytes of `pending`.
pub(crate) struct Rotation {
    pub(crate) file: File,
    pub(crate) cut: usize,
    /// Sequence of the last record that goes to the old file.
    pub(crate) last: u64,
}

pub(crate) struct State {
    pub(crate) pending: Vec<u8>,
    pub(crate) rotation: Option<Rotation>,
    /// Sequence of the last record in `pending`.
    pub(crate) pending_last: u64,
    pub(crate) next_seq: u64,
    pub(crate) sum: Checksummer,
    error: Option<String>,
    pub(crate) fsync: Fsync,
    pub(crate) stop: bool,
    /// The writer thread is waiting for its tick: a leader that wrote under `always` wakes it
    /// to sync (see `log_writer::request_sync`).
    pub(crate) writer_idle: bool,
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// The writer thread waits here for its tick, a rotation or the stop; appenders wait here
    /// for buffer space or the end of a rotation (counted in `waiters`, so the writer signals
    /// only when someone waits).
    pub(crate) wake: Condvar,
    pub(crate) waiters: std::sync::atomic::AtomicUsize,
    /// The file side; lock order: `io` before `state`.
    pub(crate) io: Mutex<Io>,
    /// Highest sequence written to the file.
    pub(crate) written: AtomicU64,
    /// Highest sequence synced.
    pub(crate) synced: AtomicU64,
    /// Highest sequence durable under the policy (synced under `always`, else written).
    pub(crate) durable: AtomicU64,
    /// Bytes in the file, annotations included.
    pub(crate) file_bytes: AtomicU64,
    pub(crate) fail: FailPoints,
    pub(crate) delayed_fsyncs: AtomicU64,
    /// Mirrors `State::error.is_some()`, so callers can check for a failing disk on every
    /// write without taking the state lock.
    pub(crate) failing: AtomicBool,
    pub(crate) on_durable: Box<dyn Fn(u64) + Send + Sync>,
}

/// Record (or clear) the writer's error, keeping `failing` in step.
pub(crate) fn set_error(shared: &Shared, error: Option<String>) {
    shared.failing.store(error.is_some(), Ordering::Release);
    lock(&shared.state).error = error;
}

/// After the writer made progress: wake appenders waiting for it, if any.
pub(crate) fn wake_waiters(shared: &Shared) {
    if shared.waiters.load(Ordering::SeqCst) > 0 {
        shared.wake.notify_all();
    }
}

pub(crate) fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A command log being appended to.
pub struct Log {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

/// Most bytes buffered before `append` waits for the writer (bounded memory under a slow disk).
pub const MAX_PENDING_BYTES: usize = 64 << 20;

impl Log {
    /// Append to `file` (positioned at its end), syncing per `fsync`. `on_durable(seq)` runs on
    /// the writer thread after records up to `seq` became durable.
    pub fn start(
        file: File,
        fsync: Fsync,
        on_durable: impl Fn(u64) + Send + Sync + 'static,
    ) -> io::Result<Log> {
        Self::resume(file, fsync, Checksummer::default(), on_durable)
    }

    /// [`Log::start`] on a file that already holds commands after its last annotation:
    /// `sum` is their running checksum (`aof::resume_checksum`).
    pub fn resume(
        file: File,
        fsync: Fsync,
        sum: Checksummer,
        on_durable: impl Fn(u64) + Send + Sync + 'static,
    ) -> io::Result<Log> {
        let len = file.metadata()?.len();
        let io = Io {
            file,
            retry: None,
            spare: Vec::new(),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::new(),
                rotation: None,
                pending_last: 0,
                next_seq: 1,
                sum,
                error: None,
                fsync,
                stop: false,
                writer_idle: false,
            }),
            wake: Condvar::new(),
            waiters: std::sync::atomic::AtomicUsize::new(0),
            io: Mutex::new(io),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            file_bytes: AtomicU64::new(len),
            fail: FailPoints::default(),
            delayed_fsyncs: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            on_durable: Box::new(on_durable),
        });
        let s = shared.clone();
        let writer = std::thread::Builder::new()
            .name("basalt-aof".into())
            .spawn(move || {
                store::threads::started("basalt-aof");
                writer_loop(&s)
            })?;
        Ok(Log {
            shared,
            writer: Some(writer),
        })
    }

    /// Buffer one record (a whole command, or a MULTI … EXEC unit); returns its sequence.
    pub fn append(&self, record: &[u8]) -> Result<u64, LogError> {
        self.append_annotated(b"", record)
    }

    /// [`Log::append`] after an annotation line (`#TS:<unix time>\r\n`, Redis's
    /// `aof-timestamp-enabled`). Annotation lines are outside every checksum span, as the
    /// reader skips them.
    pub fn append_annotated(&self, annotation: &[u8], record: &[u8]) -> Result<u64, LogError> {
        debug_assert!(
            annotation.is_empty() || (annotation[0] == b'#' && annotation.ends_with(b"\r\n"))
        );
        let mut st = lock(&self.shared.state);
        while st.pending.len() > MAX_PENDING_BYTES && st.error.is_none() && !st.stop {
            st = self.wait(st);
        }
        if st.stop {
            return Err(LogError::Closed);
        }
        if let Some(e) = &st.error {
            return Err(LogError::Failed(e.clone()));
        }
        st.pending.extend_from_slice(annotation);
        st.sum.update(record);
        st.pending.extend_from_slice(record);
        let seq = st.next_seq;
        st.next_seq += 1;
        st.pending_last = seq;
        // The appender's own `write_through` writes it (or the writer's next tick does).
        drop(st);
        Ok(seq)
    }

    /// Wait for the writer to make progress (buffer space, a finished rotation).
    fn wait<'a>(&self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.shared.waiters.fetch_add(1, Ordering::SeqCst);
        let st = self
            .shared
            .wake
            .wait(st)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.shared.waiters.fetch_sub(1, Ordering::SeqCst);
        st
    }

    /// Send every record appended from now on to `file` (positioned at its end); the records
    /// before stay in the current file, which is synced and closed. Returns the sequence of the
    /// last record left in the old file. The caller makes this an instant (no appends racing
    /// it) when it matters, as the AOF rewrite does by holding every shard lock.
    pub fn rotate(&self, file: File) -> Result<u64, LogError> {
        let mut st = lock(&self.shared.state);
        while st.rotation.is_some() && !st.stop {
            st = self.wait(st);
        }
        if st.stop {
            return Err(LogError::Closed);
        }
        if !st.pending.is_empty() {
            // Close the old file's last span with its own annotation.
            let annotation = st.sum.annotation();
            st.pending.extend_from_slice(&annotation);
        }
        let last = st.next_seq - 1;
        let cut = st.pending.len();
        st.rotation = Some(Rotation { file, cut, last });
        drop(st);
        self.shared.wake.notify_all();
        Ok(last)
    }

    /// Whether a rotation is still waiting for the writer.
    pub fn rotating(&self) -> bool {
        lock(&self.shared.state).rotation.is_some()
    }

    /// Write everything buffered if record `seq` is not written yet (one write for every
    /// record, all connections'), here and now. True when `seq` is durable on return: under
    /// `everysec` and `no` once written; under `always` only after the writer thread's sync
    /// (signalled here; wait for `on_durable`). False too while the disk fails (the writer
    /// retries).
    pub fn write_through(&self, seq: u64) -> bool {
        let shared = &self.shared;
        if shared.durable.load(Ordering::Acquire) >= seq {
            return true;
        }
        if shared.written.load(Ordering::Acquire) < seq {
            let mut io = lock_io(shared);
            if shared.written.load(Ordering::Acquire) < seq {
                let _ = write_once(shared, &mut io);
            }
        }
        if shared.durable.load(Ordering::Acquire) >= seq {
            return true;
        }
        if shared.written.load(Ordering::Acquire) >= seq {
            request_sync(shared);
        }
        false
    }

    /// Write everything buffered and fsync the file, here and now (a clean shutdown).
    pub fn sync_all(&self) -> io::Result<()> {
        write_and_sync(&self.shared)
    }

    /// Highest sequence known to be durable under the current policy.
    pub fn durable(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// Block until `seq` is durable (tests, shutdown). A failing disk does not end the wait
    /// (the writer retries; the record is never reported durable before it is): only the
    /// timeout does, with the last error if there is one.
    pub fn wait_durable(&self, seq: u64, timeout: Duration) -> Result<(), LogError> {
        let deadline = Instant::now() + timeout;
        while self.durable() < seq {
            if Instant::now() > deadline {
                let why = self
                    .last_error()
                    .unwrap_or_else(|| "timed out waiting for the log".into());
                return Err(LogError::Failed(why));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// The last write or sync error, while it lasts. Lock-free when the disk is fine.
    pub fn last_error(&self) -> Option<String> {
        if !self.shared.failing.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.shared.state).error.clone()
    }

    pub fn set_fsync(&self, fsync: Fsync) {
        lock(&self.shared.state).fsync = fsync;
        self.shared.wake.notify_all();
    }

    /// Bytes in the file (for INFO's aof_current_size).
    pub fn file_bytes(&self) -> u64 {
        self.shared.file_bytes.load(Ordering::Relaxed)
    }

    /// Sequence of the last record appended (0 before the first).
    pub fn last_seq(&self) -> u64 {
        lock(&self.shared.state).next_seq - 1
    }

    /// Bytes appended and not yet handed to the file.
    pub fn pending_bytes(&self) -> usize {
        lock(&self.shared.state).pending.len()
    }

    /// Syncs that ran late because a previous one was still running (aof_delayed_fsync).
    pub fn delayed_fsyncs(&self) -> u64 {
        self.shared.delayed_fsyncs.load(Ordering::Relaxed)
    }

    pub fn failpoints(&self) -> &FailPoints {
        &self.shared.fail
    }
}

impl Drop for Log {
    /// Write and sync what is buffered, then stop the writer.
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_all();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::{encode_command, AofReader, Entry};

    fn record(i: usize) -> Vec<u8> {
        let mut r = Vec::new();
        let v = i.to_string();
        encode_command(&mut r, &[b"RPUSH", b"l", v.as_bytes()]);
        r
    }

    fn read_back(path: &std::path::Path) -> Vec<Vec<Vec<u8>>> {
        let bytes = std::fs::read(path).unwrap();
        let mut r = AofReader::new(&bytes[..], 1 << 20);
        let mut v = Vec::new();
        while let Some(e) = r.next_entry().unwrap() {
            if let Entry::Command { args, .. } = e {
                v.push(args);
            }
        }
        v
    }

    fn open(path: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn many_threads_group_commit_in_order_and_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.incr.aof");
        let log = Arc::new(Log::start(open(&path), Fsync::Always, |_| {}).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        let seq = log.append(&record(t * 1000 + i)).unwrap();
                        if i % 50 == 0 {
                            log.wait_durable(seq, Duration::from_secs(10)).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let last = log.append(&record(9999)).unwrap();
        log.wait_durable(last, Duration::from_secs(10)).unwrap();
        assert_eq!(last, 1001);
        drop(Arc::try_unwrap(log).ok().unwrap());
        let cmds = read_back(&path);
        assert_eq!(cmds.len(), 1001);
        // Each thread's records appear in the order it appended them.
        for t in 0..4 {
            let mine: Vec<usize> = cmds
                .iter()
                .map(|c| String::from_utf8_lossy(&c[2]).parse::<usize>().unwrap())
                .filter(|v| v / 1000 == t && *v != 9999)
                .collect();
            assert_eq!(mine, (0..250).map(|i| t * 1000 + i).collect::<Vec<_>>());
        }
        let annotations = std::fs::read(&path)
            .unwrap()
            .windows(5)
            .filter(|w| *w == b"#CRC:")
            .count();
        assert!(
            (1..1001).contains(&annotations),
            "{annotations} commits for 1001 records"
        );
    }

    #[test]
    fn a_failing_disk_refuses_appends_keeps_the_batch_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.incr.aof");
        let log = Log::start(open(&path), Fsync::Always, |_| {}).unwrap();
        let s1 = log.append(&record(1)).unwrap();
        log.wait_durable(s1, Duration::from_secs(5)).unwrap();
        log.failpoints().fsync.store(true, Ordering::Relaxed);
        let s2 = log.append(&record(2)).unwrap();
        // Never reported durable while the disk fails; new appends are refused.
        assert!(matches!(
            log.wait_durable(s2, Duration::from_millis(300)),
            Err(LogError::Failed(_))
        ));
        assert_eq!(log.durable(), s1);
        assert!(matches!(log.append(&record(3)), Err(LogError::Failed(_))));
        log.failpoints().fsync.store(false, Ordering::Relaxed);
        log.wait_durable(s2, Duration::from_secs(5)).unwrap();
        assert!(log.last_error().is_none());
        let s4 = log.append(&record(4)).unwrap();
        log.wait_durable(s4, Duration::from_secs(5)).unwrap();
        drop(log);
        let got: Vec<Vec<u8>> = read_back(&path).into_iter().map(|c| c[2].clone()).collect();
        assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec(), b"4".to_vec()]);
    }

    #[test]
    fn rotate_splits_the_sequence_between_two_checksummed_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("1.incr.aof"), dir.path().join("2.incr.aof"));
        let log = Log::start(open(&a), Fsync::EverySec, |_| {}).unwrap();
        for i in 0..10 {
            log.append(&record(i)).unwrap();
        }
        assert_eq!(log.rotate(open(&b)).unwrap(), 10);
        for i in 10..15 {
            log.append(&record(i)).unwrap();
        }
        // A rotation right after another, with nothing in between.
        let c = dir.path().join("3.incr.aof");
        assert_eq!(log.rotate(open(&c)).unwrap(), 15);
        let s = log.append(&record(15)).unwrap();
        log.wait_durable(s, Duration::from_secs(5)).unwrap();
        drop(log);
        let values = |p: &std::path::Path| -> Vec<usize> {
            read_back(p)
                .iter()
                .map(|c| String::from_utf8_lossy(&c[2]).parse().unwrap())
                .collect()
        };
        assert_eq!(values(&a), (0..10).collect::<Vec<_>>());
        assert_eq!(values(&b), (10..15).collect::<Vec<_>>());
        assert_eq!(values(&c), vec![15]);
        assert!(std::fs::read(&a).unwrap().ends_with(b"\r\n"));
    }

    #[test]
    fn write_through_writes_the_buffer_itself_and_always_waits_for_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.incr.aof");
        let log = Log::start(open(&path), Fsync::EverySec, |_| {}).unwrap();
        let s1 = log.append(&record(1)).unwrap();
        let s2 = log.append(&record(2)).unwrap();
        // One write covers both, done by the caller (the writer thread only ticks).
        assert!(log.write_through(s1));
        assert_eq!(log.durable(), s2);
        assert_eq!(read_back(&path).len(), 2);
        log.set_fsync(Fsync::Always);
        let s3 = log.append(&record(3)).unwrap();
        // Written here, synced by the writer thread.
        let _ = log.write_through(s3);
        assert_eq!(read_back(&path).len(), 3);
        log.wait_durable(s3, Duration::from_secs(5)).unwrap();
        drop(log);
        assert_eq!(read_back(&path).len(), 3);
    }

    #[test]
    fn everysec_is_durable_once_written_and_syncs_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.incr.aof");
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        let log = Log::start(open(&path), Fsync::EverySec, move |seq| {
            s.store(seq, Ordering::Relaxed)
        })
        .unwrap();
        let seq = log.append(&record(1)).unwrap();
        log.wait_durable(seq, Duration::from_secs(5)).unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), seq);
        assert!(log.file_bytes() > 0);
        drop(log);
        assert_eq!(read_back(&path).len(), 1);
    }
}
