//! Clients blocked on keys (BLPOP and friends), queued per database and key in the key's
//! shard, oldest first.
//!
//! A writer that leaves elements under a key wakes as many waiters as there are elements,
//! oldest first, skipping waiters already woken and not yet done. A woken client re-runs its
//! command under the usual shard locks; it leaves the queue only when it got data, timed out
//! or disconnected, so it keeps its place if someone else took the element first.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What a shard needs from a blocked client: a way to wake it, and a flag saying a wake-up is
/// pending (so one element wakes one client).
pub trait Waiter: Send + Sync {
    fn id(&self) -> u64;
    /// Wake the client; returns false if it already has a wake-up pending.
    fn wake(&self) -> bool;
    fn is_woken(&self) -> bool;
}

/// What a blocked client waits for: Redis serves a key only to clients blocked for its type
/// (a BLPOP waiter stays blocked when the key becomes a sorted set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    List,
    ZSet,
}

impl BlockKind {
    /// The kind of waiter `value` can serve, and how many elements it has for them.
    pub fn ready(value: &crate::Value) -> Option<(BlockKind, usize)> {
        match value {
            crate::Value::List(l) => Some((BlockKind::List, l.len())),
            crate::Value::ZSet(z) => Some((BlockKind::ZSet, z.len())),
            _ => None,
        }
    }
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

    /// Queue `w` on `key` unless it is already there (a retry keeps its place).
    pub fn add(&mut self, db: usize, key: &[u8], w: Arc<dyn Waiter>, kind: BlockKind) {
        let q = self.queues.entry((db, key.to_vec())).or_default();
        if !q.iter().any(|(x, _)| x.id() == w.id()) {
            q.push_back((w, kind));
        }
    }

    pub fn remove(&mut self, db: usize, key: &[u8], id: u64) {
        let k = (db, key.to_vec());
        if let Some(q) = self.queues.get_mut(&k) {
            q.retain(|(w, _)| w.id() != id);
            if q.is_empty() {
                self.queues.remove(&k);
            }
        }
    }

    /// Whether a woken waiter that has not run yet is ahead of `id` in `key`'s queue (any
    /// woken waiter, if `id` is not queued). Such a waiter gets the next element first, so
    /// waiters are served in the order they blocked even when they run on different threads.
    pub fn turn_of_other(&self, db: usize, key: &[u8], id: u64) -> bool {
        let Some(q) = self.queues.get(&(db, key.to_vec())) else {
            return false;
        };
        q.iter()
            .take_while(|(w, _)| w.id() != id)
            .any(|(w, _)| w.is_woken())
    }

    pub fn has_waiters(&self, db: usize, key: &[u8]) -> bool {
        !self.queues.is_empty() && self.queues.contains_key(&(db, key.to_vec()))
    }

    /// Make sure the `n` oldest waiters of `kind` on `key` are woken: one per element. A
    /// waiter woken earlier and not yet run already stands for one element, so a later waiter
    /// cannot overtake it.
    pub fn wake(&mut self, db: usize, key: &[u8], kind: BlockKind, n: usize) {
        let Some(q) = self.queues.get(&(db, key.to_vec())) else {
            return;
        };
        for (w, _) in q.iter().filter(|(_, k)| *k == kind).take(n) {
            if !w.is_woken() {
                w.wake();
            }
        }
    }

    /// Every (database, key) someone waits on (after SWAPDB, to wake clients whose key now
    /// has data: blocked clients stay on their database index, as in Redis).
    pub fn keys(&self) -> Vec<(usize, Vec<u8>)> {
        self.queues.keys().cloned().collect()
    }
}
