//! WATCH: which clients watch which keys of a database, and marking them when a key changes
//! (Redis 7.0's `multi.c` watch half).
//!
//! Each database of each shard keeps its own map from watched key to the flags of the clients
//! watching it, so a change pays one lookup in the changed key's own database, under the shard
//! lock it already holds, and only when that database has watched keys at all. A client's
//! flag ([`WatchFlag`]) is shared by every key it watches; any change sets it, whatever thread
//! made the change, and EXEC reads it. The cost of WATCH is O(watched keys), never O(clients).
//!
//! Keys already expired when watched follow Redis's rules: deleting such a key (its expiry
//! carried out) is no change; anything else is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use smallvec::SmallVec;

use crate::db::Db;

/// Watch entries in every database of every shard: while 0 (the usual case) a write skips
/// looking for watchers with one relaxed load.
static WATCHES: AtomicUsize = AtomicUsize::new(0);

/// Whether any client watches any key.
pub fn anyone_watches() -> bool {
    WATCHES.load(Ordering::Relaxed) > 0
}

/// A client's "a watched key changed" flag (Redis's `CLIENT_DIRTY_CAS`).
#[derive(Debug, Default)]
pub struct WatchFlag {
    dirty: AtomicBool,
}

impl WatchFlag {
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::SeqCst)
    }

    /// Forget a change (the client stopped watching every key, so none can mark it now).
    pub fn clear(&self) {
        self.dirty.store(false, Ordering::SeqCst);
    }

    fn mark(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }
}

/// One client watching one key.
#[derive(Debug)]
struct Watcher {
    flag: Arc<WatchFlag>,
    /// The key was already logically expired when WATCH ran.
    expired: bool,
}

/// The watched keys of one database.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    keys: HashMap<Box<[u8]>, SmallVec<[Watcher; 1]>>,
}

impl Watched {
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Db {
    /// Watch `key` for the client owning `flag` (once per client and key: the client keeps
    /// its own list and does not call this twice).
    pub fn watch(&mut self, key: &[u8], flag: &Arc<WatchFlag>, now_ms: u64) {
        let expired = self.is_expired(key, now_ms);
        let list = self.watched.keys.entry(key.into()).or_default();
        debug_assert!(!list.iter().any(|w| Arc::ptr_eq(&w.flag, flag)));
        list.push(Watcher {
            flag: flag.clone(),
            expired,
        });
        WATCHES.fetch_add(1, Ordering::Relaxed);
    }

    /// Stop watching `key` for the client owning `flag`.
    pub fn unwatch(&mut self, key: &[u8], flag: &Arc<WatchFlag>) {
        let Some(list) = self.watched.keys.get_mut(key) else {
            return;
        };
        let before = list.len();
        list.retain(|w| !Arc::ptr_eq(&w.flag, flag));
        WATCHES.fetch_sub(before - list.len(), Ordering::Relaxed);
        if list.is_empty() {
            self.watched.keys.remove(key);
        }
    }

    /// Whether `key`, watched by the client owning `flag`, has expired since WATCH (Redis's
    /// `isWatchedKeyExpired` for one key: EXEC then fails).
    pub fn watched_key_expired(&self, key: &[u8], flag: &Arc<WatchFlag>, now_ms: u64) -> bool {
        let expired_at_watch = self
            .watched
            .keys
            .get(key)
            .and_then(|l| l.iter().find(|w| Arc::ptr_eq(&w.flag, flag)))
            .is_some_and(|w| w.expired);
        !expired_at_watch && self.is_expired(key, now_ms)
    }

    /// `key` changed: mark every client watching it (Redis's `touchWatchedKey`).
    pub fn touch(&mut self, key: &[u8]) {
        if crate::db::tracking_on() && !crate::db::is_loading() {
            let seq = crate::db::MODIFIED_SEQ.fetch_add(1, Ordering::Relaxed);
            self.modified.push((seq, key.to_vec()));
            crate::db::MODIFIED_PENDING.fetch_add(1, Ordering::Relaxed);
        }
        if self.watched.keys.is_empty() {
            return;
        }
        let exists = self.keys.contains_key(key);
        let Some(list) = self.watched.keys.get_mut(key) else {
            return;
        };
        for w in list.iter_mut() {
            if w.expired {
                if !exists {
                    // The already expired key was deleted: logically no change.
                    w.expired = false;
                    continue;
                }
                // Redis stops marking this key's watchers here (a `break` in its loop).
                break;
            }
            w.flag.mark();
        }
    }

    /// Every watched key of this database that exists is about to go (FLUSHDB, FLUSHALL) or to
    /// be exchanged with `replaced_with`'s (SWAPDB): mark their watchers, as Redis's
    /// `touchAllWatchedKeysInDb`.
    pub(crate) fn touch_all(&mut self, replaced_with: Option<&Db>, now_ms: u64) {
        if self.watched.keys.is_empty() {
            return;
        }
        for (key, list) in self.watched.keys.iter_mut() {
            let in_emptied = self.keys.contains_key(key);
            let in_replacement = replaced_with.is_some_and(|r| r.keys.contains_key(key));
            if !in_emptied && !in_replacement {
                continue;
            }
            let replacement_expired = replaced_with.is_some_and(|r| r.is_expired(key, now_ms));
            for w in list.iter_mut() {
                if w.expired {
                    if !in_replacement {
                        w.expired = false;
                        continue;
                    } else if replacement_expired {
                        continue;
                    }
                } else if !in_emptied && replacement_expired {
                    // A missing key replaced by an expired one.
                    w.expired = true;
                    continue;
                }
                w.flag.mark();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Str, Value};

    fn s() -> Value {
        Value::Str(Str::from_bytes(b"v"))
    }

    #[test]
    fn a_change_marks_every_watcher_of_that_key_only() {
        let mut db = Db::default();
        let (a, b) = (
            Arc::new(WatchFlag::default()),
            Arc::new(WatchFlag::default()),
        );
        db.watch(b"k", &a, 0);
        db.watch(b"k", &b, 0);
        db.watch(b"other", &b, 0);
        db.touch(b"x");
        assert!(!a.is_dirty() && !b.is_dirty());
        db.touch(b"k");
        assert!(a.is_dirty() && b.is_dirty());
        db.unwatch(b"k", &a);
        db.unwatch(b"k", &b);
        db.unwatch(b"other", &b);
        assert!(db.watched.is_empty());
    }

    #[test]
    fn deleting_a_key_expired_before_watch_is_no_change() {
        let mut db = Db::default();
        db.set(b"k", s(), false, 0);
        db.set_expire(b"k", 10);
        let a = Arc::new(WatchFlag::default());
        db.watch(b"k", &a, 20);
        assert!(!db.watched_key_expired(b"k", &a, 30));
        db.expire_if_needed(b"k", 30);
        assert!(!a.is_dirty());
        // Now it counts as a plain missing key: creating it is a change.
        db.set(b"k", s(), false, 30);
        db.touch(b"k");
        assert!(a.is_dirty());
    }

    #[test]
    fn a_key_expiring_after_watch_fails_exec() {
        let mut db = Db::default();
        db.set(b"k", s(), false, 0);
        db.set_expire(b"k", 100);
        let a = Arc::new(WatchFlag::default());
        db.watch(b"k", &a, 50);
        assert!(db.watched_key_expired(b"k", &a, 100));
        db.expire_if_needed(b"k", 100);
        assert!(a.is_dirty());
    }

    #[test]
    fn flush_marks_watchers_of_existing_keys() {
        let mut db = Db::default();
        db.set(b"k", s(), false, 0);
        let (a, b) = (
            Arc::new(WatchFlag::default()),
            Arc::new(WatchFlag::default()),
        );
        db.watch(b"k", &a, 0);
        db.watch(b"missing", &b, 0);
        db.touch_all(None, 0);
        assert!(a.is_dirty());
        assert!(!b.is_dirty());
    }
}
