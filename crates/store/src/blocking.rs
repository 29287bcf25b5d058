//! Clients blocked on keys (BLPOP and friends), queued per database and key in the key's
//! shard, oldest first, and the keys made ready for them.
//!
//! As in Redis 7.0, a key is *ready* when a list or sorted set is created under it while
//! someone waits on it (Redis's `signalKeyAsReady`, called from `dbAdd`): `Db` records it
//! (see `Db::set`, `Db::insert_obj`), and the command that created it serves the waiters itself
//! before its locks go (the server's `blocking::serve`). A waiter is served once: whoever
//! serves it — that writer, a timeout, CLIENT UNBLOCK, a disconnect — first wins it through
//! [`Waiter::is_waiting`]'s state. Entries of a waiter that no longer waits are stale and are
//! dropped as they are met.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// What a shard needs from a blocked client.
pub trait Waiter: Send + Sync {
    fn id(&self) -> u64;
    /// Whether the client still waits to be served (not served, timed out, unblocked or gone).
    fn is_waiting(&self) -> bool;
    /// The waiter as its concrete type, for the server that queued it.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// What a blocked client waits for: Redis serves a key only to clients blocked for its type
/// (a BLPOP waiter stays blocked when the key becomes a sorted set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    List,
    ZSet,
    /// XREAD and XREADGROUP. A stream key is ready when an entry is added (or the stream is
    /// created, deleted or loses a group): whether a waiter is served depends on its ID or
    /// group, so the server looks at every stream waiter of a ready key (`waiting`).
    Stream,
}

impl BlockKind {
    /// The kind of list or sorted-set waiter `value` can serve, if it holds elements (stream
    /// waiters are served by their own rules).
    pub fn ready(value: &crate::Value) -> Option<BlockKind> {
        match value {
            crate::Value::List(l) if !l.is_empty() => Some(BlockKind::List),
            crate::Value::ZSet(z) if !z.is_empty() => Some(BlockKind::ZSet),
            _ => None,
        }
    }
}

/// Keys someone waits on, over every shard and database: while 0, creating a key records
/// nothing (one relaxed load on the write path). Raised under the shard lock of the key
/// before the waiter's locks go, so a writer of that key, which takes the same lock, sees it.
static WAITED_KEYS: AtomicUsize = AtomicUsize::new(0);

/// Whether anyone waits on any key.
pub fn anyone_waits() -> bool {
    WAITED_KEYS.load(Relaxed) > 0
}

/// Waiters on one key, oldest first.
type Queue = VecDeque<(Arc<dyn Waiter>, BlockKind)>;

/// Queues of waiters per (database, key).
#[derive(Default)]
pub struct Blocked {
    queues: HashMap<(usize, Vec<u8>), Queue>,
}

impl Blocked {
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Queue `w` on `key` (the caller queues a client once per key).
    pub fn add(&mut self, db: usize, key: &[u8], w: Arc<dyn Waiter>, kind: BlockKind) {
        let q = self.queues.entry((db, key.to_vec())).or_insert_with(|| {
            WAITED_KEYS.fetch_add(1, Relaxed);
            Queue::new()
        });
        debug_assert!(!q.iter().any(|(x, _)| x.id() == w.id()), "queued twice");
        q.push_back((w, kind));
    }

    /// Take client `id` off `key`'s queue (searched from the front: a served client is
    /// usually the oldest, so serving N waiters costs O(N), not O(N²)).
    pub fn remove(&mut self, db: usize, key: &[u8], id: u64) {
        let k = (db, key.to_vec());
        if let Some(q) = self.queues.get_mut(&k) {
            if let Some(at) = q.iter().position(|(w, _)| w.id() == id) {
                q.remove(at);
            }
            if q.is_empty() {
                self.queues.remove(&k);
                WAITED_KEYS.fetch_sub(1, Relaxed);
            }
        }
    }

    /// The oldest client still waiting on `key` for a value of `kind`. Stale entries at the
    /// front are dropped; others are passed over (their clients remove them).
    pub fn first_waiting(
        &mut self,
        db: usize,
        key: &[u8],
        kind: BlockKind,
    ) -> Option<Arc<dyn Waiter>> {
        let k = (db, key.to_vec());
        let q = self.queues.get_mut(&k)?;
        while q.front().is_some_and(|(w, _)| !w.is_waiting()) {
            q.pop_front();
        }
        let found = q
            .iter()
            .find(|(w, k)| *k == kind && w.is_waiting())
            .map(|(w, _)| w.clone());
        if q.is_empty() {
            self.queues.remove(&k);
            WAITED_KEYS.fetch_sub(1, Relaxed);
        }
        found
    }

    /// Every client still waiting on `key` for a value of `kind`, oldest first (stream
    /// waiters: each is checked, and served or left waiting, in this order).
    pub fn waiting(&self, db: usize, key: &[u8], kind: BlockKind) -> Vec<Arc<dyn Waiter>> {
        self.queues
            .get(&(db, key.to_vec()))
            .map(|q| {
                q.iter()
                    .filter(|(w, k)| *k == kind && w.is_waiting())
                    .map(|(w, _)| w.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn has_waiters(&self, db: usize, key: &[u8]) -> bool {
        !self.queues.is_empty() && self.queues.contains_key(&(db, key.to_vec()))
    }

    /// Every (database, key) someone waits on (after SWAPDB, to serve clients whose key now
    /// has data: blocked clients stay on their database index, as in Redis).
    pub fn keys(&self) -> Vec<(usize, Vec<u8>)> {
        self.queues.keys().cloned().collect()
    }
}
