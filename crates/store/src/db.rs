//! One database (of the 16, by default) within one shard: the keys, and the expiry times of the
//! keys that have one.
//!
//! Expiry times live in a second dict, as in Redis: most keys never get a TTL and pay nothing
//! for it; the active expiry cycle walks only keys that can expire. An object carries a flag
//! saying whether it has an entry there, so a read of a persistent key costs one lookup.

use crate::bytes::SmallBytes;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dict::Dict;
use crate::value::Value;

/// A value plus the metadata Redis keeps in its object header.
#[derive(Clone, Debug)]
pub struct Obj {
    pub value: Value,
    /// LRU clock (seconds, 24 bits like Redis) of the last access.
    pub lru: u32,
    has_expire: bool,
    /// Snapshot mark: equal to its database's `snap_bit` once the object was written, or
    /// visited by a snapshot's walk, since the current snapshot began (see `snapshot.rs`).
    pub(crate) snap: bool,
    /// A small integer that is an object of its own rather than one of Redis's shared integers
    /// (COPY duplicates the object, so OBJECT REFCOUNT says 1). Any change of the value ends it.
    pub unshared_int: bool,
    /// Finer access time for eviction, in the header's spare byte. Under LRU the last
    /// access's fraction of a second (1/256 s): idle times compare finer than the seconds
    /// Redis's clock and OBJECT IDLETIME count, which matters when a cache turns over its keys
    /// within seconds. Under LFU the last access's second (mod 256): keys of equal counters
    /// go least recently used first, where Redis's order among them is arbitrary.
    pub(crate) lru_frac: u8,
}

const _: () = assert!(std::mem::size_of::<Obj>() == 32);

/// The second of `now_ms`, mod 256 (LFU's recency within equal counters).
pub(crate) fn lfu_second(now_ms: u64) -> u8 {
    (now_ms / 1000) as u8
}

/// The sub-second part of `now_ms`, in 1/256 s.
pub(crate) fn lru_frac(now_ms: u64) -> u8 {
    ((now_ms % 1000) * 256 / 1000) as u8
}

/// Redis's LRU clock: seconds, wrapping at 24 bits.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}

impl Obj {
    pub fn new(value: Value, now_ms: u64) -> Self {
        Obj {
            value,
            lru: Obj::fresh_clock(now_ms),
            has_expire: false,
            snap: false,
            unshared_int: false,
            lru_frac: if crate::lfu::lfu_enabled() {
                lfu_second(now_ms)
            } else {
                lru_frac(now_ms)
            },
        }
    }

    /// Stamp an access on the LRU clock (not under LFU, where the field holds the counter).
    pub(crate) fn stamp_lru(&mut self, now_ms: u64) {
        self.lru = lru_clock(now_ms);
        self.lru_frac = lru_frac(now_ms);
    }

    pub fn has_expire(&self) -> bool {
        self.has_expire
    }

    /// Milliseconds since the last access, to 1/256 s (eviction's score under LRU).
    pub fn idle_ms(&self, now_ms: u64) -> u64 {
        let obj_frac_ms = u64::from(self.lru_frac) * 1000 / 256;
        (self.idle_seconds(now_ms) * 1000 + now_ms % 1000).saturating_sub(obj_frac_ms)
    }

    /// Seconds since the last access, mod 256, under LFU (see `lru_frac`).
    pub(crate) fn lfu_idle_seconds(&self, now_ms: u64) -> u64 {
        u64::from(lfu_second(now_ms).wrapping_sub(self.lru_frac))
    }

    /// Seconds since the last access, as OBJECT IDLETIME computes it (with clock wrap-around).
    pub fn idle_seconds(&self, now_ms: u64) -> u64 {
        let now = lru_clock(now_ms);
        if now >= self.lru {
            u64::from(now - self.lru)
        } else {
            u64::from(LRU_CLOCK_MAX - self.lru + now)
        }
    }
}

/// Keys and expiry times of one database in one shard.
#[derive(Default)]
pub struct Db {
    pub(crate) keys: Dict<Obj>,
    pub(crate) expires: Dict<u64>,
    /// Where the active expiry cycle continues its walk of `expires`.
    pub(crate) expire_cursor: u64,
    pub stats: DbStats,
    /// Keys deleted because they expired, not yet written to the log as `DEL` (only while
    /// [`set_log_expired`] is on). Drained under the shard lock before any later command on
    /// the shard is logged, so the log keeps the order of events.
    pub expired_pending: Vec<Vec<u8>>,
    /// The mark of objects changed since the current snapshot began (flipped when one begins).
    pub(crate) snap_bit: bool,
    /// The snapshot still walking this database, if any (see `snapshot.rs`).
    pub(crate) snap: Option<Box<crate::snapshot::DbSnap>>,
    /// Keys created as a list or sorted set since the last [`crate::Shard::take_ready`] while
    /// someone waited on some key (Redis's `signalKeyAsReady` from `dbAdd`; an overwrite does
    /// not signal, as in Redis). The command that created them serves their waiters.
    pub(crate) ready: Vec<Vec<u8>>,
    /// Keys clients WATCH in this database (see `watch.rs`). Stays with the database index
    /// across SWAPDB and FLUSHDB, as the clients do.
    pub(crate) watched: crate::watch::Watched,
    /// Keyspace events that happened inside the store (a key expired, a key was created) while
    /// someone wants them (see [`set_store_events`]), for the server to publish.
    /// With the global sequence of `MODIFIED_SEQ`, so events of several shards go out in
    /// the order they happened.
    pub(crate) events: Vec<(u64, StoreEvent, Vec<u8>)>,
    /// Keys changed while some client tracks keys (client-side caching), for the server to
    /// invalidate (see [`set_tracking`]).
    /// With a global sequence number, so keys changed in several shards by one command are
    /// invalidated in the order they changed.
    pub(crate) modified: Vec<(u64, Vec<u8>)>,
    /// Cluster mode: keys per hash slot (only slots with keys), kept by every insertion and
    /// removal of `keys`.
    slot_counts: std::collections::HashMap<u16, u32>,
}

/// An event the store itself causes, for keyspace notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEvent {
    /// Deleted because its time was up (`expired`).
    Expired,
    /// Created (`new`, Redis's `dbAdd`).
    New,
    /// A read found nothing (`keymiss`).
    KeyMiss,
    /// Evicted under `maxmemory` (`evicted`).
    Evicted,
}

/// Which [`StoreEvent`]s are collected: bit 0 expired, bit 1 new, bit 2 keymiss, bit 3 evicted.
static STORE_EVENTS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
/// Events waiting in every `Db::events`: the check after each command is one relaxed load.
pub(crate) static EVENTS_PENDING: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// CLIENT PAUSE: expired keys are reported missing but not deleted, so the dataset does not
/// change while clients are held.
static EXPIRY_PAUSED: AtomicBool = AtomicBool::new(false);

pub fn set_expiry_paused(on: bool) {
    EXPIRY_PAUSED.store(on, Ordering::SeqCst);
}

pub fn expiry_paused() -> bool {
    EXPIRY_PAUSED.load(Ordering::Relaxed)
}

/// Whether changed keys are collected for client-side caching invalidations.
static TRACKING: AtomicBool = AtomicBool::new(false);
/// Orders the entries of every `Db::modified`.
pub(crate) static MODIFIED_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Keys in every `Db::modified`.
pub(crate) static MODIFIED_PENDING: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Collect changed keys for invalidations (once some client tracks; never switched off, as
/// tracked keys stay in the table until they change).
pub fn set_tracking(on: bool) {
    TRACKING.store(on, Ordering::Relaxed);
}

pub fn tracking_on() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// Whether a change to a key must be reported at all (WATCH or client-side caching).
pub fn key_changes_wanted() -> bool {
    crate::watch::anyone_watches() || tracking_on()
}

/// Whether changed keys wait to be invalidated.
pub fn modified_pending() -> bool {
    MODIFIED_PENDING.load(Ordering::Relaxed) > 0
}

/// Collect expiry and creation events for keyspace notifications, or stop.
pub fn set_store_events(expired: bool, new: bool, keymiss: bool, evicted: bool) {
    let bits = u8::from(expired)
        | (u8::from(new) << 1)
        | (u8::from(keymiss) << 2)
        | (u8::from(evicted) << 3);
    STORE_EVENTS.store(bits, Ordering::SeqCst);
}

/// Whether `keymiss` events are collected (so a read pays for the check only then).
pub fn keymiss_wanted() -> bool {
    STORE_EVENTS.load(Ordering::Relaxed) & 4 != 0
}

/// Whether store events wait to be published.
pub fn store_events_pending() -> bool {
    EVENTS_PENDING.load(Ordering::Relaxed) > 0
}

/// While a log is being loaded nothing expires (as in Redis): a key whose absolute expiry has
/// passed since it was logged must still be there for the commands after it, exactly as when
/// they ran; the log itself says when it was deleted (`DEL`).
static LOADING: AtomicBool = AtomicBool::new(false);
/// Whether expiry deletions are collected for the log.
static LOG_EXPIRED: AtomicBool = AtomicBool::new(false);
/// Keys in every `expired_pending` of every shard: lets `Shard::drain_expired`, which runs
/// after every logged command, skip its walk over the databases when there is nothing (the
/// usual case), without touching each database's cache line.
pub(crate) static EXPIRED_PENDING: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);
/// Keys in every `ready` of every shard, so the check after each write is one relaxed load.
pub(crate) static READY_PENDING: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

pub(crate) fn is_loading() -> bool {
    LOADING.load(Ordering::Relaxed)
}

/// Turn loading mode on or off (no key expires while on).
pub fn set_loading(on: bool) {
    LOADING.store(on, Ordering::SeqCst);
}

/// Collect expiry deletions in `Db::expired_pending` for the log.
pub fn set_log_expired(on: bool) {
    LOG_EXPIRED.store(on, Ordering::SeqCst);
}

/// Counters INFO reports, summed over databases and shards.
#[derive(Debug, Default, Clone, Copy)]
pub struct DbStats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// What a lookup found out about expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    No,
    /// The key had expired and was deleted by this lookup.
    Deleted,
    /// The key has expired but stays while clients are paused: treat it as missing.
    Hidden,
}

impl Db {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn volatile_len(&self) -> usize {
        self.expires.len()
    }

    pub fn keys(&self) -> &Dict<Obj> {
        &self.keys
    }

    pub fn expires(&self) -> &Dict<u64> {
        &self.expires
    }

    /// Absolute expiry time in ms, if the key has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<u64> {
        self.expires.get(key).copied()
    }

    /// Is the key logically expired at `now_ms` (whether or not it was deleted yet)?
    pub fn is_expired(&self, key: &[u8], now_ms: u64) -> bool {
        !LOADING.load(Ordering::Relaxed) && self.expires.get(key).is_some_and(|&at| at <= now_ms)
    }

    /// Every key that has not expired at `now_ms`, with its value and absolute expiry: what a
    /// snapshot writes (the AOF rewrite's base, an RDB file).
    pub fn live_entries(
        &self,
        now_ms: u64,
    ) -> impl Iterator<Item = (&SmallBytes, &Obj, Option<u64>)> + '_ {
        self.keys
            .iter()
            .filter(move |(k, _)| !self.is_expired(k, now_ms))
            .map(|(k, o)| (k, o, self.expire_at(k)))
    }

    /// Delete `key` if it has expired. Every command path calls this before it looks at a key,
    /// so no command ever sees an expired key.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> Expired {
        if self.is_expired(key, now_ms) {
            if expiry_paused() {
                return Expired::Hidden;
            }
            self.delete(key, crate::lazyfree::Reason::Expire);
            self.touch(key);
            self.record_event(StoreEvent::Expired, key);
            self.stats.expired_keys += 1;
            if LOG_EXPIRED.load(Ordering::Relaxed) {
                self.expired_pending.push(key.to_vec());
                EXPIRED_PENDING.fetch_add(1, Ordering::Relaxed);
            }
            Expired::Deleted
        } else {
            Expired::No
        }
    }

    /// (keyspace table, expires table) overhead in bytes: buckets and nodes (MEMORY STATS).
    pub fn table_overhead(&self) -> (usize, usize) {
        (self.keys.overhead_bytes(), self.expires.overhead_bytes())
    }

    /// Bytes `key` takes with its value and its entries (MEMORY USAGE); `None` when absent.
    pub fn key_memory(&self, key: &[u8], now_ms: u64) -> Option<usize> {
        let (k, obj) = self.keys.get_key_value(key)?;
        if self.is_expired(key, now_ms) {
            return None;
        }
        let mut bytes = Dict::<Obj>::node_bytes() + k.heap_bytes() + obj.value.heap_bytes();
        if obj.has_expire() {
            bytes += Dict::<u64>::node_bytes();
        }
        Some(bytes)
    }

    /// The live object under `key`, without touching its LRU clock.
    pub fn peek(&self, key: &[u8], now_ms: u64) -> Option<&Obj> {
        if self.is_expired(key, now_ms) {
            return None;
        }
        self.keys.get(key)
    }

    /// The object under `key`, to change it. A snapshot in progress keeps its old state first.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Obj> {
        self.preserve(key);
        let obj = self.keys.get_mut(key)?;
        obj.unshared_int = false;
        Some(obj)
    }

    /// The object under `key` for a read: only its access time may change, which no snapshot
    /// records, so nothing is preserved (reads cost nothing extra during a snapshot).
    pub fn get_for_read(&mut self, key: &[u8], touch_now_ms: Option<u64>) -> Option<&Obj> {
        let obj = self.keys.get_mut(key)?;
        if let Some(now) = touch_now_ms {
            obj.touch(now);
        }
        Some(obj)
    }

    /// [`Db::get_for_read`] counted as a keyspace hit or miss (one lookup for both).
    pub fn get_for_read_counted(&mut self, key: &[u8], touch_now_ms: Option<u64>) -> Option<&Obj> {
        let Db { keys, stats, .. } = self;
        match keys.get_mut(key) {
            Some(obj) => {
                stats.keyspace_hits += 1;
                if let Some(now) = touch_now_ms {
                    obj.touch(now);
                }
                Some(obj)
            }
            None => {
                stats.keyspace_misses += 1;
                None
            }
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.keys.contains_key(key)
    }

    /// Store `value` under `key`, replacing any old value. The TTL is dropped unless `keep_ttl`
    /// (Redis's `setKey` vs `SET … KEEPTTL`).
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool, now_ms: u64) {
        self.set_inner(key, value, keep_ttl, now_ms, true);
    }

    /// [`Db::set`] for a value loaded from a file (DEBUG RELOAD, start-up): as Redis's
    /// `dbAddRDBLoad`, it makes no key ready for blocked clients.
    pub fn set_loaded(&mut self, key: &[u8], value: Value, now_ms: u64) {
        self.set_inner(key, value, false, now_ms, false);
    }

    fn set_inner(&mut self, key: &[u8], value: Value, keep_ttl: bool, now_ms: u64, signal: bool) {
        self.preserve(key);
        match self.keys.get_mut(key) {
            Some(obj) => {
                let old = std::mem::replace(&mut obj.value, value);
                let was_stream = matches!(old, Value::Stream(_));
                crate::lazyfree::free(old, crate::lazyfree::Reason::ServerDel);
                obj.unshared_int = false;
                // Under LFU an overwrite keeps the key's counter (as Redis's dbSetValue).
                if !crate::lfu::lfu_enabled() {
                    obj.stamp_lru(now_ms);
                }
                if obj.has_expire && !keep_ttl {
                    obj.has_expire = false;
                    self.expires.remove(key);
                }
                if was_stream {
                    self.signal_ready(key);
                }
            }
            None => {
                if signal {
                    self.signal_if_ready(key, &value);
                    self.record_event(StoreEvent::New, key);
                }
                let mut obj = Obj::new(value, now_ms);
                obj.snap = self.snap_bit;
                self.keys.insert_new(SmallBytes::new(key), obj);
                self.count_slot(key, true);
            }
        }
    }

    pub(crate) fn record_event(&mut self, event: StoreEvent, key: &[u8]) {
        let bit = match event {
            StoreEvent::Expired => 1,
            StoreEvent::New => 2,
            StoreEvent::KeyMiss => 4,
            StoreEvent::Evicted => 8,
        };
        if STORE_EVENTS.load(Ordering::Relaxed) & bit == 0 || LOADING.load(Ordering::Relaxed) {
            return;
        }
        let seq = MODIFIED_SEQ.fetch_add(1, Ordering::Relaxed);
        self.events.push((seq, event, key.to_vec()));
        EVENTS_PENDING.fetch_add(1, Ordering::Relaxed);
    }

    /// A read lookup found no `key` (Redis's `keymiss` event, when wanted).
    pub fn record_keymiss(&mut self, key: &[u8]) {
        self.record_event(StoreEvent::KeyMiss, key);
    }

    /// Take the keys changed (while tracking) since the last call.
    pub fn take_modified(&mut self) -> Vec<(u64, Vec<u8>)> {
        let out = std::mem::take(&mut self.modified);
        if !out.is_empty() {
            MODIFIED_PENDING.fetch_sub(out.len(), Ordering::Relaxed);
        }
        out
    }

    /// Take the store events recorded so far.
    pub fn take_events(&mut self) -> Vec<(u64, StoreEvent, Vec<u8>)> {
        let out = std::mem::take(&mut self.events);
        if !out.is_empty() {
            EVENTS_PENDING.fetch_sub(out.len(), Ordering::Relaxed);
        }
        out
    }

    /// Record `key` as ready if it is created as a list, sorted set or stream while someone
    /// waits.
    fn signal_if_ready(&mut self, key: &[u8], value: &Value) {
        if matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_)) {
            self.signal_ready(key);
        }
    }

    /// Record `key` as ready for its blocked clients, if anyone waits (Redis's
    /// `signalKeyAsReady`): XADD and XGROUP DESTROY call it for the stream they changed, and
    /// removing or overwriting a stream calls it, so that XREADGROUP waiters learn the stream
    /// is gone (Redis's `signalDeletedKeyAsReady`).
    pub fn signal_ready(&mut self, key: &[u8]) {
        if !crate::blocking::anyone_waits()
            || LOADING.load(Ordering::Relaxed)
            || self.ready.iter().any(|k| k == key)
        {
            return;
        }
        self.ready.push(key.to_vec());
        READY_PENDING.fetch_add(1, Ordering::Relaxed);
    }

    /// Insert an object under a key the caller knows is absent (RENAME, MOVE, COPY).
    pub fn insert_obj(&mut self, key: &[u8], mut obj: Obj, expire_at: Option<u64>) {
        debug_assert!(!self.keys.contains_key(key));
        obj.has_expire = expire_at.is_some();
        obj.snap = self.snap_bit;
        self.signal_if_ready(key, &obj.value);
        self.record_event(StoreEvent::New, key);
        if let Some(at) = expire_at {
            self.expires.insert(key, at);
        }
        self.keys.insert_new(SmallBytes::new(key), obj);
        self.count_slot(key, true);
    }

    /// Keep the per-slot count (cluster mode only).
    fn count_slot(&mut self, key: &[u8], added: bool) {
        if !crate::slot::counting() {
            return;
        }
        let slot = crate::slot::key_slot(key);
        let n = self.slot_counts.entry(slot).or_insert(0);
        if added {
            *n += 1;
        } else {
            debug_assert!(*n > 0, "a slot's count went below zero");
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.slot_counts.remove(&slot);
            }
        }
    }

    /// How many keys of hash slot `slot` this database holds (cluster mode; 0 otherwise),
    /// expired ones not yet deleted included, as Redis counts them.
    pub fn keys_in_slot(&self, slot: u16) -> usize {
        self.slot_counts.get(&slot).map_or(0, |&n| n as usize)
    }

    /// Remove `key`; returns the object and its expiry time.
    pub fn remove(&mut self, key: &[u8]) -> Option<(Obj, Option<u64>)> {
        self.preserve(key);
        let obj = self.keys.remove(key)?;
        self.count_slot(key, false);
        if matches!(obj.value, Value::Stream(_)) {
            self.signal_ready(key);
        }
        let at = if obj.has_expire {
            self.expires.remove(key)
        } else {
            None
        };
        Some((obj, at))
    }

    /// Remove `key` and free its value, in the background if `reason`'s lazy-free setting
    /// asks for it (see [`crate::lazyfree`]). Returns whether the key existed.
    pub fn delete(&mut self, key: &[u8], reason: crate::lazyfree::Reason) -> bool {
        match self.remove(key) {
            Some((obj, _)) => {
                crate::lazyfree::free(obj.value, reason);
                true
            }
            None => false,
        }
    }

    /// Set the absolute expiry of an existing key. Returns false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at_ms: u64) -> bool {
        self.preserve(key);
        let Some(obj) = self.keys.get_mut(key) else {
            return false;
        };
        obj.has_expire = true;
        self.expires.insert(key, at_ms);
        true
    }

    /// Drop the key's TTL. Returns true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.preserve(key);
        match self.keys.get_mut(key) {
            Some(obj) if obj.has_expire => {
                obj.has_expire = false;
                self.expires.remove(key);
                true
            }
            _ => false,
        }
    }

    /// Take all contents, leaving the database empty. Shards flush through
    /// [`crate::Shard::flush_db`], which keeps a snapshot's view of the old contents.
    pub(crate) fn take(&mut self) -> Db {
        let stats = self.stats;
        // Expiry deletions not yet logged stay: their DELs go in the log before the flush.
        let pending = std::mem::take(&mut self.expired_pending);
        let ready = std::mem::take(&mut self.ready);
        let watched = std::mem::take(&mut self.watched);
        let events = std::mem::take(&mut self.events);
        let modified = std::mem::take(&mut self.modified);
        let old = std::mem::take(self);
        self.stats = stats;
        self.expired_pending = pending;
        self.ready = ready;
        self.watched = watched;
        self.events = events;
        self.modified = modified;
        old
    }

    /// Make room for `keys` keys and `expires` expiry times before a load (see
    /// [`Dict::reserve`]).
    pub fn reserve(&mut self, keys: usize, expires: usize) {
        self.keys.reserve(keys);
        self.expires.reserve(expires);
    }

    /// Move a few buckets of any in-progress rehash (called from the server's cron).
    pub fn rehash_step(&mut self, buckets: usize) {
        self.keys.rehash_step(buckets);
        self.expires.rehash_step(buckets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Str;

    fn s(b: &[u8]) -> Value {
        Value::Str(Str::from_bytes(b))
    }

    #[test]
    fn slot_counts_follow_every_insert_and_removal() {
        crate::slot::start_counting();
        let mut db = Db::default();
        let slot = crate::slot::key_slot(b"{t}a");
        for k in [&b"{t}a"[..], b"{t}b", b"{t}c"] {
            db.set(k, s(b"v"), false, 0);
        }
        // An overwrite is no new key.
        db.set(b"{t}a", s(b"w"), false, 0);
        assert_eq!(db.keys_in_slot(slot), 3);
        assert!(db.remove(b"{t}b").is_some());
        assert!(db.remove(b"{t}b").is_none());
        assert_eq!(db.keys_in_slot(slot), 2);
        let old = db.take();
        assert_eq!((db.keys_in_slot(slot), old.keys_in_slot(slot)), (0, 2));
    }

    #[test]
    fn ttl_is_dropped_on_overwrite_unless_kept() {
        let mut db = Db::default();
        db.set(b"k", s(b"v"), false, 0);
        assert!(db.set_expire(b"k", 1000));
        db.set(b"k", s(b"w"), true, 0);
        assert_eq!(db.expire_at(b"k"), Some(1000));
        db.set(b"k", s(b"x"), false, 0);
        assert_eq!(db.expire_at(b"k"), None);
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn expired_keys_vanish_on_access() {
        let mut db = Db::default();
        db.set(b"k", s(b"v"), false, 0);
        db.set_expire(b"k", 100);
        assert!(db.peek(b"k", 99).is_some());
        assert!(db.peek(b"k", 100).is_none());
        assert_eq!(db.expire_if_needed(b"k", 100), Expired::Deleted);
        assert_eq!(db.len(), 0);
        assert_eq!(db.volatile_len(), 0);
    }
}
