//! The replication stream: the bytes every replica receives, kept in the backlog so a replica
//! that reconnects continues where it stopped (PSYNC), and counted as Redis counts them so
//! offsets agree across Redis and Basalt servers in one topology.
//!
//! A master feeds it the same effects the AOF records (`crate::propagate`), encoded with the
//! stream's own `SELECT` state (Redis's `slaveseldb`), plus PINGs and `REPLCONF GETACK`s; a
//! replica feeds it the bytes of its master's stream as received, so its own replicas share
//! the master's history (Redis's proxying of the master stream). Appends happen under the
//! writer's shard locks, like the AOF's, so conflicting writes enter the stream in the order
//! they ran.
//!
//! One buffer serves as backlog and as every replica's output buffer (as Redis 7.0 shares
//! its replication buffer): it keeps at least `repl-backlog-size` bytes, and more while a
//! replica still has to be sent older bytes — until that replica lags past
//! `client-output-buffer-limit replica`, when it is dropped and the bytes are let go.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

/// Bytes over `repl-backlog-size` held before the front is trimmed (trimming in steps).
const TRIM_SLACK_BYTES: usize = 1 << 16;

/// Where a replica is (INFO's `state=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReplicaPhase {
    /// Waiting for its snapshot to start.
    WaitBgsave = 0,
    /// Receiving the snapshot.
    SendBulk = 1,
    /// Streaming.
    Online = 2,
}

impl ReplicaPhase {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaPhase::WaitBgsave => "wait_bgsave",
            ReplicaPhase::SendBulk => "send_bulk",
            ReplicaPhase::Online => "online",
        }
    }
}

/// One replica attached to this server.
pub struct Replica {
    pub client_id: u64,
    pub ip: String,
    /// Its `REPLCONF listening-port`.
    pub port: u16,
    phase: AtomicU8,
    /// Offset of the next byte it is to be sent.
    pub next: AtomicI64,
    /// The last offset it acknowledged (`REPLCONF ACK`).
    pub ack: AtomicI64,
    /// When it last acknowledged (ms since the epoch).
    pub ack_ms: AtomicU64,
    /// Over its output-buffer limit: to be disconnected.
    pub dropped: AtomicBool,
    /// It came with PSYNC, so it sends ACKs (an old SYNC replica does not, and is never
    /// timed out for their absence, as in Redis).
    pub acks_expected: AtomicBool,
    /// When its lag first went over the soft limit (ms; 0 = not over).
    soft_since_ms: AtomicU64,
}

impl Replica {
    pub fn new(client_id: u64, ip: String, port: u16) -> Self {
        Replica {
            client_id,
            ip,
            port,
            phase: AtomicU8::new(ReplicaPhase::WaitBgsave as u8),
            next: AtomicI64::new(i64::MAX),
            ack: AtomicI64::new(0),
            ack_ms: AtomicU64::new(crate::util::now_ms()),
            dropped: AtomicBool::new(false),
            acks_expected: AtomicBool::new(true),
            soft_since_ms: AtomicU64::new(0),
        }
    }

    pub fn phase(&self) -> ReplicaPhase {
        match self.phase.load(Relaxed) {
            0 => ReplicaPhase::WaitBgsave,
            1 => ReplicaPhase::SendBulk,
            _ => ReplicaPhase::Online,
        }
    }

    pub fn set_phase(&self, phase: ReplicaPhase) {
        if phase == ReplicaPhase::Online {
            // Its ACK timeout counts from here (the transfer may have been long).
            self.ack_ms.store(crate::util::now_ms(), Relaxed);
        }
        self.phase.store(phase as u8, Relaxed);
    }
}

/// `client-output-buffer-limit replica`: hard bytes, soft bytes, soft seconds (0 = none).
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_secs: u64,
}

struct Inner {
    buf: VecDeque<u8>,
    /// Offset of the last byte fed (`master_repl_offset`); `buf` ends with it.
    offset: i64,
    /// Database the stream last selected (`None`: the next command selects its own).
    selected: Option<usize>,
    backlog_bytes: usize,
    limit: OutputLimit,
    replicas: Vec<Arc<Replica>>,
    /// Offset of the last `REPLCONF GETACK` fed (WAITs share one while nothing moved).
    getack_at: i64,
}

/// The stream, its backlog and the replicas it feeds.
pub struct Feed {
    inner: Mutex<Inner>,
    /// Whether writes are fed at all (Redis creates the backlog with the first replica, and a
    /// replica keeps one from its first sync).
    active: AtomicBool,
    /// Copy of `offset` readable without the lock.
    offset: AtomicI64,
    /// Woken when bytes are fed or a replica is dropped (replica senders wait on it).
    pub data: tokio::sync::Notify,
    /// Woken when a replica acknowledges (WAIT).
    pub acks: tokio::sync::Notify,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            inner: Mutex::new(Inner {
                buf: VecDeque::new(),
                offset: 0,
                selected: None,
                backlog_bytes: 1 << 20,
                limit: OutputLimit::default(),
                replicas: Vec::new(),
                getack_at: -1,
            }),
            active: AtomicBool::new(false),
            offset: AtomicI64::new(0),
            data: tokio::sync::Notify::new(),
            acks: tokio::sync::Notify::new(),
        }
    }
}

/// Why bytes cannot be read for a replica.
#[derive(Debug, PartialEq, Eq)]
pub enum Gone {
    /// It went over its output-buffer limit (or its bytes left the backlog).
    Dropped,
}

impl Feed {
    /// Whether writes are being fed.
    pub fn active(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// `master_repl_offset`.
    pub fn offset(&self) -> i64 {
        self.offset.load(Relaxed)
    }

    /// Start keeping the stream (no-op when kept already); returns whether it was new.
    pub fn activate(&self, backlog_bytes: usize) -> bool {
        let mut inner = self.inner.lock();
        inner.backlog_bytes = backlog_bytes.max(1);
        let new = !self.active.swap(true, Relaxed);
        if new {
            inner.buf.clear();
            inner.selected = None;
        }
        new
    }

    /// The next command fed selects its database (a replica promoted: the stream it proxied
    /// had its master's `SELECT` state, not this encoder's).
    pub fn forget_select(&self) {
        self.inner.lock().selected = None;
    }

    /// Stop keeping the stream (`repl-backlog-ttl` passed with no replica).
    pub fn deactivate(&self) {
        let mut inner = self.inner.lock();
        self.active.store(false, Relaxed);
        inner.buf = VecDeque::new();
    }

    /// Start over at `offset` with an empty backlog (a replica's full sync: its history is
    /// the master's from there on).
    pub fn reset(&self, offset: i64, backlog_bytes: usize) {
        let mut inner = self.inner.lock();
        inner.buf = VecDeque::new();
        inner.offset = offset;
        inner.selected = None;
        inner.backlog_bytes = backlog_bytes.max(1);
        self.offset.store(offset, Relaxed);
        self.active.store(true, Relaxed);
    }

    pub fn set_limits(&self, backlog_bytes: usize, limit: OutputLimit) {
        let mut inner = self.inner.lock();
        inner.backlog_bytes = backlog_bytes.max(1);
        inner.limit = limit;
    }

    /// Feed commands, each with its database (`wrap`: between MULTI and EXEC); returns the
    /// offset after them.
    pub fn append_ops(&self, ops: &[(usize, &[Vec<u8>])], wrap: bool) -> i64 {
        let mut inner = self.inner.lock();
        let mut record = Vec::new();
        crate::aof::encode_ops(&mut record, &mut inner.selected, ops, wrap);
        self.push(&mut inner, &record)
    }

    /// Feed bytes as they are (the master's stream on a replica; PINGs).
    pub fn append_raw(&self, bytes: &[u8]) -> i64 {
        let mut inner = self.inner.lock();
        self.push(&mut inner, bytes)
    }

    /// Feed a `REPLCONF GETACK *` unless one is the last thing fed already.
    pub fn request_acks(&self) {
        let mut inner = self.inner.lock();
        if inner.getack_at == inner.offset || inner.replicas.is_empty() {
            return;
        }
        let mut cmd = Vec::new();
        persist::encode_command(&mut cmd, &[b"REPLCONF", b"GETACK", b"*"]);
        let at = self.push(&mut inner, &cmd);
        inner.getack_at = at;
    }

    fn push(&self, inner: &mut Inner, bytes: &[u8]) -> i64 {
        inner.buf.extend(bytes);
        inner.offset += bytes.len() as i64;
        self.offset.store(inner.offset, Relaxed);
        if inner.buf.len() > inner.backlog_bytes + TRIM_SLACK_BYTES {
            Self::trim(inner);
        }
        if !inner.replicas.is_empty() {
            self.data.notify_waiters();
        }
        inner.offset
    }

    /// Let go of the bytes no one needs beyond the backlog; drop replicas over their limit.
    fn trim(inner: &mut Inner) {
        let first = inner.offset - inner.buf.len() as i64 + 1;
        let now_ms = crate::util::now_ms();
        let mut keep_from = inner.offset + 1 - inner.backlog_bytes as i64;
        for r in &inner.replicas {
            if r.dropped.load(Relaxed) {
                continue;
            }
            let next = r.next.load(Relaxed);
            let lag = (inner.offset + 1 - next).max(0) as u64;
            if over_limit(&inner.limit, r, lag, now_ms) {
                r.dropped.store(true, Relaxed);
                continue;
            }
            keep_from = keep_from.min(next);
        }
        let cut = (keep_from - first).clamp(0, inner.buf.len() as i64) as usize;
        inner.buf.drain(..cut);
    }

    /// Up to `max` bytes for `r` from its `next` offset (empty when it has everything).
    pub fn read_for(&self, r: &Replica, max: usize) -> Result<Vec<u8>, Gone> {
        let inner = self.inner.lock();
        if r.dropped.load(Relaxed) {
            return Err(Gone::Dropped);
        }
        let next = r.next.load(Relaxed);
        let first = inner.offset - inner.buf.len() as i64 + 1;
        if next < first {
            return Err(Gone::Dropped);
        }
        let from = (next - first) as usize;
        let to = inner.buf.len().min(from.saturating_add(max));
        if from >= to {
            return Ok(Vec::new());
        }
        let (a, b) = inner.buf.as_slices();
        let mut out = Vec::with_capacity(to - from);
        if from < a.len() {
            out.extend_from_slice(&a[from..to.min(a.len())]);
        }
        if to > a.len() {
            out.extend_from_slice(&b[from.max(a.len()) - a.len()..to - a.len()]);
        }
        Ok(out)
    }

    /// Attach a replica that is to receive the stream from `from` on, if the backlog still
    /// holds it (checked and attached at once, so no trim falls between).
    pub fn attach_from(&self, r: &Arc<Replica>, from: i64) -> bool {
        let mut inner = self.inner.lock();
        let first = inner.offset - inner.buf.len() as i64 + 1;
        if !self.active() || from < first || from > inner.offset + 1 {
            return false;
        }
        r.next.store(from, Relaxed);
        inner.replicas.push(r.clone());
        true
    }

    /// Attach a replica at the current end of the stream (it is about to load a snapshot of
    /// this instant, taken under every shard lock, so no write falls between); returns that
    /// offset. A master forgets the stream's `SELECT` state there (`forget_select`), so the
    /// next command selects its database, as Redis's `slaveseldb = -1`.
    pub fn attach_at_snapshot(&self, r: &Arc<Replica>, forget_select: bool) -> i64 {
        let mut inner = self.inner.lock();
        if forget_select {
            inner.selected = None;
        }
        r.next.store(inner.offset + 1, Relaxed);
        inner.replicas.push(r.clone());
        inner.offset
    }

    #[cfg(test)]
    fn detach_all_for_tests(&self) {
        self.inner.lock().replicas.clear();
    }

    pub fn detach(&self, r: &Arc<Replica>) {
        let mut inner = self.inner.lock();
        inner.replicas.retain(|x| !Arc::ptr_eq(x, r));
    }

    /// Drop every replica (this server follows a new master, or loaded new data).
    pub fn drop_all(&self) {
        let inner = self.inner.lock();
        for r in &inner.replicas {
            r.dropped.store(true, Relaxed);
        }
        self.data.notify_waiters();
    }

    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.inner.lock().replicas.clone()
    }

    /// Replicas online that acknowledged `offset` or more.
    pub fn acked(&self, offset: i64) -> usize {
        let inner = self.inner.lock();
        inner
            .replicas
            .iter()
            .filter(|r| r.phase() == ReplicaPhase::Online && r.ack.load(Relaxed) >= offset)
            .count()
    }

    /// Online replicas whose last ACK is at most `max_lag_secs` old (min-replicas-to-write).
    pub fn good_replicas(&self, max_lag_secs: u64) -> usize {
        let now = crate::util::now_ms();
        let inner = self.inner.lock();
        inner
            .replicas
            .iter()
            .filter(|r| {
                r.phase() == ReplicaPhase::Online
                    && now.saturating_sub(r.ack_ms.load(Relaxed)) / 1000 <= max_lag_secs
            })
            .count()
    }

    /// `repl_backlog_first_byte_offset` and `repl_backlog_histlen`.
    pub fn history(&self) -> (i64, usize) {
        let inner = self.inner.lock();
        let len = inner.buf.len().min(inner.backlog_bytes);
        (inner.offset - len as i64 + 1, len)
    }

    /// Check the soft limits (they need time to pass, not only bytes).
    pub fn check_limits(&self) {
        let mut inner = self.inner.lock();
        Self::trim(&mut inner);
        if inner.replicas.iter().any(|r| r.dropped.load(Relaxed)) {
            self.data.notify_waiters();
        }
    }
}

/// Whether a replica `lag` bytes behind is over its limits (the soft one once it has lasted).
fn over_limit(limit: &OutputLimit, r: &Replica, lag: u64, now_ms: u64) -> bool {
    if limit.hard_bytes > 0 && lag >= limit.hard_bytes {
        return true;
    }
    if limit.soft_bytes > 0 && lag >= limit.soft_bytes {
        let since = r.soft_since_ms.load(Relaxed);
        if since == 0 {
            r.soft_since_ms.store(now_ms, Relaxed);
            return false;
        }
        return now_ms.saturating_sub(since) / 1000 > limit.soft_secs;
    }
    r.soft_since_ms.store(0, Relaxed);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica() -> Arc<Replica> {
        Arc::new(Replica::new(1, "127.0.0.1".into(), 6380))
    }

    #[test]
    fn offsets_count_bytes_and_select_is_emitted_once_per_switch() {
        let feed = Feed::default();
        feed.activate(1 << 20);
        let set: Vec<Vec<u8>> = vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()];
        let end = feed.append_ops(&[(0, &set)], false);
        let select0 = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n".len() as i64;
        let set_len = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n".len() as i64;
        assert_eq!(end, select0 + set_len);
        assert_eq!(feed.append_ops(&[(0, &set)], false), end + set_len);
        let r = replica();
        assert!(feed.attach_from(&r, 1));
        let all = feed.read_for(&r, usize::MAX).unwrap();
        assert_eq!(all.len() as i64, feed.offset());
        assert!(all.starts_with(b"*2\r\n$6\r\nSELECT"));
    }

    #[test]
    fn a_replica_over_its_hard_limit_is_dropped_and_the_backlog_trimmed() {
        let feed = Feed::default();
        feed.activate(10);
        feed.set_limits(
            10,
            OutputLimit {
                hard_bytes: 100_000,
                soft_bytes: 0,
                soft_secs: 0,
            },
        );
        let r = replica();
        assert!(feed.attach_from(&r, 1));
        r.set_phase(ReplicaPhase::Online);
        let chunk = vec![b'x'; 1000];
        for _ in 0..99 {
            feed.append_raw(&chunk);
        }
        // Still within its limit: everything it lacks is kept.
        assert_eq!(feed.read_for(&r, 10).unwrap().len(), 10);
        for _ in 0..100 {
            feed.append_raw(&chunk);
        }
        assert_eq!(feed.read_for(&r, 10), Err(Gone::Dropped));
        let (_, histlen) = feed.history();
        assert!(histlen <= 10);
    }

    #[test]
    fn continue_is_possible_only_within_the_backlog() {
        let feed = Feed::default();
        assert!(!feed.attach_from(&replica(), 1));
        feed.activate(100);
        assert!(feed.attach_from(&replica(), 1));
        feed.detach_all_for_tests();
        for _ in 0..200 {
            feed.append_raw(&[b'y'; 1000]);
        }
        let (first, _) = feed.history();
        assert!(first > 1);
        assert!(!feed.attach_from(&replica(), 1));
        assert!(feed.attach_from(&replica(), feed.offset() + 1));
        assert!(feed.attach_from(&replica(), feed.offset() - 50));
        assert!(!feed.attach_from(&replica(), feed.offset() + 2));
    }
}
