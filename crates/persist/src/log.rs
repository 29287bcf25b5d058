//! The append side of the command log: one buffer shared by every thread, drained by one
//! writer thread that appends, checksums and syncs it — group commit.
//!
//! - `append` copies a record into the shared buffer (callers do this under the shard locks
//!   of the command, so the log's order is the order of conflicting commands) and returns its
//!   sequence number.
//! - The writer thread takes everything buffered, appends it with one `#CRC:` annotation
//!   after it, and — with `appendfsync always` — syncs before publishing the batch's last
//!   sequence as durable. One write and one sync cover every record buffered before them, from
//!   all connections. With `everysec` the batch is durable once written and a sync runs at
//!   most once a second; with `no` the OS decides.
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
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::aof::Checksummer;

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
struct Rotation {
    file: File,
    cut: usize,
    /// Sequence of the last record that goes to the old file.
    last: u64,
}

struct State {
    pending: Vec<u8>,
    rotation: Option<Rotation>,
    /// Sequence of the last record in `pending`.
    pending_last: u64,
    next_seq: u64,
    sum: Checksummer,
    error: Option<String>,
    fsync: Fsync,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    durable: AtomicU64,
    /// Bytes in the file, annotations included.
    file_bytes: AtomicU64,
    fail: FailPoints,
    delayed_fsyncs: AtomicU64,
    /// Mirrors `State::error.is_some()`, so callers can check for a failing disk on every
    /// write without taking the state lock.
    failing: AtomicBool,
}

/// Record (or clear) the writer's error, keeping `failing` in step.
fn set_error(shared: &Shared, error: Option<String>) {
    shared.failing.store(error.is_some(), Ordering::Release);
    lock(&shared.state).error = error;
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
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
        on_durable: impl Fn(u64) + Send + 'static,
    ) -> io::Result<Log> {
        let len = file.metadata()?.len();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::new(),
                rotation: None,
                pending_last: 0,
                next_seq: 1,
                sum: Checksummer::default(),
                error: None,
                fsync,
                stop: false,
            }),
            wake: Condvar::new(),
            durable: AtomicU64::new(0),
            file_bytes: AtomicU64::new(len),
            fail: FailPoints::default(),
            delayed_fsyncs: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        });
        let s = shared.clone();
        let writer = std::thread::Builder::new()
            .name("basalt-aof".into())
            .spawn(move || writer_loop(&s, file, on_durable))?;
        Ok(Log {
            shared,
            writer: Some(writer),
        })
    }

    /// Buffer one record (a whole command, or a MULTI … EXEC unit); returns its sequence.
    pub fn append(&self, record: &[u8]) -> Result<u64, LogError> {
        let mut st = lock(&self.shared.state);
        while st.pending.len() > MAX_PENDING_BYTES && st.error.is_none() && !st.stop {
            st = self
                .shared
                .wake
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if st.stop {
            return Err(LogError::Closed);
        }
        if let Some(e) = &st.error {
            return Err(LogError::Failed(e.clone()));
        }
        st.sum.update(record);
        st.pending.extend_from_slice(record);
        let seq = st.next_seq;
        st.next_seq += 1;
        st.pending_last = seq;
        drop(st);
        self.shared.wake.notify_all();
        Ok(seq)
    }

    /// Send every record appended from now on to `file` (positioned at its end); the records
    /// before stay in the current file, which is synced and closed. Returns the sequence of the
    /// last record left in the old file. The caller makes this an instant (no appends racing
    /// it) when it matters, as the AOF rewrite does by holding every shard lock.
    pub fn rotate(&self, file: File) -> Result<u64, LogError> {
        let mut st = lock(&self.shared.state);
        while st.rotation.is_some() && !st.stop {
            st = self
                .shared
                .wake
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
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

fn writer_loop(shared: &Shared, mut file: File, on_durable: impl Fn(u64)) {
    let mut last_sync = Instant::now();
    let mut unsynced = false;
    // A batch that failed to be written, kept to retry (with the file to switch to after it).
    let mut retry: Option<(Vec<u8>, u64, Option<File>)> = None;
    loop {
        let (batch, last, next_file, fsync, stopping) = {
            let mut st = lock(&shared.state);
            while retry.is_none() && st.pending.is_empty() && st.rotation.is_none() && !st.stop {
                let tick = if st.fsync == Fsync::EverySec && unsynced {
                    Duration::from_millis(100)
                } else {
                    Duration::from_secs(1)
                };
                st = shared
                    .wake
                    .wait_timeout(st, tick)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
                if st.fsync == Fsync::EverySec
                    && unsynced
                    && last_sync.elapsed() >= Duration::from_secs(1)
                {
                    break;
                }
            }
            let batch = match retry.take() {
                Some(r) => r,
                None => match st.rotation.take() {
                    // The old file's part already ends with its annotation.
                    Some(r) => {
                        let rest = st.pending.split_off(r.cut);
                        let old = std::mem::replace(&mut st.pending, rest);
                        (old, r.last, Some(r.file))
                    }
                    None if st.pending.is_empty() => (Vec::new(), 0, None),
                    None => {
                        let mut b = std::mem::take(&mut st.pending);
                        b.extend_from_slice(&st.sum.annotation());
                        (b, st.pending_last, None)
                    }
                },
            };
            (batch.0, batch.1, batch.2, st.fsync, st.stop)
        };
        if let Some(new_file) = next_file {
            // Everything for the old file, synced, then switch.
            match write_batch(shared, &mut file, &batch, true) {
                Ok(()) => {
                    file = new_file;
                    let len = file.metadata().map_or(0, |m| m.len());
                    shared.file_bytes.store(len, Ordering::Relaxed);
                    unsynced = false;
                    last_sync = Instant::now();
                    set_error(shared, None);
                    if last > shared.durable.load(Ordering::Acquire) {
                        shared.durable.store(last, Ordering::Release);
                        on_durable(last);
                    }
                    shared.wake.notify_all();
                }
                Err(e) => {
                    let _ = file.set_len(shared.file_bytes.load(Ordering::Relaxed));
                    set_error(shared, Some(e.to_string()));
                    shared.wake.notify_all();
                    retry = Some((batch, last, Some(new_file)));
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            continue;
        }
        if batch.is_empty() {
            if unsynced && (fsync == Fsync::EverySec || stopping) {
                sync_now(shared, &mut file, &mut unsynced, &mut last_sync);
            }
            if stopping {
                return;
            }
            continue;
        }
        let sync = fsync == Fsync::Always || stopping;
        match write_batch(shared, &mut file, &batch, sync) {
            Ok(()) => {
                shared
                    .file_bytes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                unsynced = !sync;
                if sync {
                    last_sync = Instant::now();
                }
                set_error(shared, None);
                shared.durable.store(last, Ordering::Release);
                shared.wake.notify_all();
                on_durable(last);
                if fsync == Fsync::EverySec
                    && unsynced
                    && last_sync.elapsed() >= Duration::from_secs(1)
                {
                    sync_now(shared, &mut file, &mut unsynced, &mut last_sync);
                }
            }
            Err(e) => {
                // Nothing of the batch counts as written: undo a partial write, keep the
                // batch, refuse new appends, and try again shortly.
                let _ = file.set_len(shared.file_bytes.load(Ordering::Relaxed));
                set_error(shared, Some(e.to_string()));
                shared.wake.notify_all();
                retry = Some((batch, last, None));
                if stopping {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn sync_now(shared: &Shared, file: &mut File, unsynced: &mut bool, last_sync: &mut Instant) {
    if shared.fail.fsync.load(Ordering::Relaxed) {
        set_error(shared, Some("injected fsync failure".into()));
        return;
    }
    match file.sync_data() {
        Ok(()) => {
            *unsynced = false;
            if last_sync.elapsed() > Duration::from_secs(2) {
                shared.delayed_fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            *last_sync = Instant::now();
        }
        Err(e) => set_error(shared, Some(e.to_string())),
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
