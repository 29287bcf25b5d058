//! The sharded keyspace.
//!
//! Keys are spread over N shards (a power of two) by a hash of the key — of its `{hashtag}` when
//! it has one, so related keys can be kept together. Each shard is behind its own mutex and holds
//! all databases for its keys. A command locks the shards of its keys in ascending index order
//! (so two multi-key commands can never deadlock) and holds them for its whole execution, which
//! makes every multi-key command atomic across shards.

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;
use std::hash::BuildHasher;

use crate::blocking::Blocked;
use crate::db::{Db, DbStats};

/// One shard: its slice of every database, and the clients blocked on its keys.
pub struct Shard {
    /// The shard's part of each database, made on first use: a server has `databases` ×
    /// shards of them (4,096 by default), most never used, and an empty `Db` is a few hundred
    /// bytes — memory `maxmemory` would otherwise count before the first key.
    dbs: Box<[Option<Box<Db>>]>,
    pub blocked: Blocked,
    /// Flushed databases a snapshot's walk still has to read (see `snapshot.rs`).
    pub(crate) detached: Vec<Db>,
}

/// What a database not made yet reads as.
fn empty_db() -> &'static Db {
    static EMPTY: std::sync::OnceLock<Db> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Db::default)
}

impl Shard {
    fn new(databases: usize) -> Self {
        Shard {
            dbs: (0..databases).map(|_| None).collect(),
            blocked: Blocked::default(),
            detached: Vec::new(),
        }
    }

    /// How many databases there are (made or not).
    pub fn database_count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `index`, made if it was not yet. The caller validated the index against the
    /// configured count.
    pub fn db(&mut self, index: usize) -> &mut Db {
        self.dbs[index].get_or_insert_with(Box::default)
    }

    /// Database `index` to read: an empty one if it was never made.
    pub fn db_ref(&self, index: usize) -> &Db {
        self.dbs[index].as_deref().unwrap_or_else(|| empty_db())
    }

    /// Database `index` if it was made (walks that must not make every database).
    pub fn existing_db_mut(&mut self, index: usize) -> Option<&mut Db> {
        self.dbs[index].as_deref_mut()
    }

    /// The databases made so far, with their indices, mutably: within the crate only, since
    /// replacing a `Db` wholesale would drop a snapshot's pending walk (flushes go through
    /// [`Shard::flush_db`]).
    pub(crate) fn dbs_mut(&mut self) -> impl Iterator<Item = (usize, &mut Db)> {
        self.dbs
            .iter_mut()
            .enumerate()
            .filter_map(|(i, d)| d.as_deref_mut().map(|d| (i, d)))
    }

    /// The databases made so far, with their indices (the others are empty).
    pub fn dbs(&self) -> impl Iterator<Item = (usize, &Db)> {
        self.dbs
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.as_deref().map(|d| (i, d)))
    }

    /// Keys made ready for blocked clients since the last call, with their database, each
    /// once (see `blocking.rs`); keys nobody waits on any more are left out.
    pub fn take_ready(&mut self) -> Vec<(usize, Vec<u8>)> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = Vec::new();
        if crate::db::READY_PENDING.load(Relaxed) == 0 {
            return out;
        }
        let mut taken = 0;
        for (i, db) in self.dbs_mut() {
            taken += db.ready.len();
            out.extend(db.ready.drain(..).map(|k| (i, k)));
        }
        crate::db::READY_PENDING.fetch_sub(taken, Relaxed);
        out.retain(|(db, k)| self.blocked.has_waiters(*db, k));
        out
    }

    /// Mark every waited-on key of the databases `which` selects as ready: after SWAPDB (a key
    /// may hold a value now: Redis's `scanDatabaseForReadyKeys`; a stream may be gone) and
    /// after FLUSHALL/FLUSHDB (streams are gone: `scanDatabaseForDeletedStreams`, which ends
    /// XREADGROUP waits). Serving looks at each key as it is then; list, sorted-set and XREAD
    /// waiters of a key without a value of their type wait on.
    pub fn signal_waited_keys(&mut self, which: impl Fn(usize) -> bool) {
        use std::sync::atomic::Ordering::Relaxed;
        for (db, key) in self.blocked.keys() {
            if which(db) && !self.db_ref(db).ready.contains(&key) {
                self.db(db).ready.push(key);
                crate::db::READY_PENDING.fetch_add(1, Relaxed);
            }
        }
    }

    /// Keys changed while tracking, since the last call, with their sequence numbers (any
    /// database: client-side caching tracks key names).
    pub fn take_modified(&mut self) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        if !crate::db::modified_pending() {
            return out;
        }
        for (_, db) in self.dbs_mut() {
            out.extend(db.take_modified());
        }
        out
    }

    /// Store events (expiry, creation, misses) since the last call: sequence, database,
    /// event, key.
    pub fn take_events(&mut self) -> Vec<(u64, usize, crate::db::StoreEvent, Vec<u8>)> {
        let mut out = Vec::new();
        if !crate::db::store_events_pending() {
            return out;
        }
        for (i, db) in self.dbs_mut() {
            out.extend(db.take_events().into_iter().map(|(s, e, k)| (s, i, e, k)));
        }
        out
    }

    /// Keys deleted by expiry since the last call, with their database (for the log's `DEL`s).
    pub fn drain_expired(&mut self) -> Vec<(usize, Vec<u8>)> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = Vec::new();
        if crate::db::EXPIRED_PENDING.load(Relaxed) == 0 {
            return out;
        }
        for (i, db) in self.dbs_mut() {
            out.extend(db.expired_pending.drain(..).map(|k| (i, k)));
        }
        crate::db::EXPIRED_PENDING.fetch_sub(out.len(), Relaxed);
        out
    }

    /// Exchange two databases (SWAPDB, with every shard locked); `now_ms` decides which
    /// watched keys count as expired.
    pub fn swap_dbs(&mut self, a: usize, b: usize, now_ms: u64) {
        let (lo, hi) = (a.min(b), a.max(b));
        if lo == hi {
            return;
        }
        // Both sides made (at most two databases per shard, once).
        self.db(lo);
        self.db(hi);
        let (left, right) = self.dbs.split_at_mut(hi);
        let (Some(x), Some(y)) = (left[lo].as_deref_mut(), right[0].as_deref_mut()) else {
            return;
        };
        // Clients watching a key that exists on either side are told.
        x.touch_all(Some(y), now_ms);
        y.touch_all(Some(x), now_ms);
        std::mem::swap(x, y);
        // Expiry deletions not yet logged keep the index they happened under: their DELs go
        // in the log before the SWAPDB. Ready keys and watched keys stay with their index
        // too, as the clients waiting on or watching them do.
        std::mem::swap(&mut x.expired_pending, &mut y.expired_pending);
        std::mem::swap(&mut x.ready, &mut y.ready);
        std::mem::swap(&mut x.watched, &mut y.watched);
        std::mem::swap(&mut x.events, &mut y.events);
    }
}

/// Locks held by one command: the shards of its keys, in ascending order.
/// How long [`Store::lock_shard`] spins on a held shard before it sleeps.
pub const SPIN_US: u128 = 50;

pub struct Locked<'a> {
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
    store: &'a Store,
}

impl<'a> Locked<'a> {
    /// The locked shard holding `key`.
    ///
    /// Panics if the command did not lock that key's shard: the command table declares every
    /// key a command touches, so this is a bug in the table, never a consequence of input.
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        let idx = self.store.shard_index(key);
        match self.guards.iter_mut().find(|(i, _)| *i == idx) {
            Some((_, guard)) => guard,
            None => panic!("command touched a key whose shard it did not lock"),
        }
    }

    /// Database `db` of the shard holding `key`.
    pub fn db(&mut self, key: &[u8], db: usize) -> &mut Db {
        self.shard(key).db(db)
    }

    /// Whether these locks are exactly the shards `idx` (sorted, deduplicated).
    pub fn covers_exactly(&self, idx: &[usize]) -> bool {
        self.guards.len() == idx.len() && self.guards.iter().zip(idx).all(|((i, _), j)| i == j)
    }

    /// The store these locks are of (to take more of its locks for as long).
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// How many shards are locked.
    pub fn count(&self) -> usize {
        self.guards.len()
    }

    /// Whether these locks are every shard's.
    pub fn holds_all(&self) -> bool {
        self.guards.len() == self.store.shards.len()
    }

    /// Every locked shard (for commands that lock them all).
    pub fn shards_mut(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        self.guards.iter_mut().map(|(_, g)| &mut **g)
    }

    /// Whether shard `idx` is among these locks.
    pub fn holds(&self, idx: usize) -> bool {
        self.guards.iter().any(|(i, _)| *i == idx)
    }

    /// These locks plus shard `idx`'s, without ever releasing any: a shard above every held
    /// one is waited for (the order every locker follows), one below is only tried. `Err`
    /// gives the locks back unchanged when that shard is busy.
    pub fn try_with_shard(mut self, idx: usize) -> Result<Locked<'a>, Locked<'a>> {
        if self.holds(idx) {
            return Ok(self);
        }
        if self.guards.last().is_none_or(|(i, _)| *i < idx) {
            let guard = self.store.lock_shard(idx);
            self.guards.push((idx, guard));
            return Ok(self);
        }
        match self.store.shards[idx].try_lock() {
            Some(guard) => {
                let at = self.guards.partition_point(|(i, _)| *i < idx);
                self.guards.insert(at, (idx, guard));
                Ok(self)
            }
            None => Err(self),
        }
    }

    /// These locks plus shard `idx`'s (serving a blocked BLMOVE whose destination lies in
    /// another shard). Never waits out of order: a shard above every held one is waited for;
    /// one below is only tried, and if it is busy every lock is released and the union taken
    /// again in order. The flag says whether that happened, in which case anything read under
    /// the old locks must be read again.
    pub fn with_shard(mut self, idx: usize) -> (Locked<'a>, bool) {
        if self.holds(idx) {
            return (self, false);
        }
        if self.guards.last().is_none_or(|(i, _)| *i < idx) {
            let guard = self.store.lock_shard(idx);
            self.guards.push((idx, guard));
            return (self, false);
        }
        if let Some(guard) = self.store.shards[idx].try_lock() {
            let at = self.guards.partition_point(|(i, _)| *i < idx);
            self.guards.insert(at, (idx, guard));
            return (self, false);
        }
        let store = self.store;
        let mut want: SmallVec<[usize; 4]> = self.guards.iter().map(|(i, _)| *i).collect();
        want.push(idx);
        want.sort_unstable();
        drop(self);
        (store.lock_indices(&want), true)
    }
}

/// The whole keyspace.
pub struct Store {
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
    databases: usize,
    hasher: foldhash::fast::FixedState,
    /// Cluster mode: a key's shard is its hash slot's (`slot % shards`), so a slot's keys
    /// live in one shard (CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT look there only).
    by_slot: bool,
}

/// The part of a key that decides its shard: the text between the first `{` and the next `}`
/// when that is not empty (Redis Cluster's hash tag rule), otherwise the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr_byte(b'{', key) {
        if let Some(len) = memchr_byte(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

fn memchr_byte(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

impl Store {
    /// `shards` is rounded up to a power of two; `databases` is Redis's `databases`.
    pub fn new(shards: usize, databases: usize) -> Self {
        let n = shards.max(1).next_power_of_two();
        Store {
            shards: (0..n).map(|_| Mutex::new(Shard::new(databases))).collect(),
            mask: n - 1,
            databases,
            hasher: foldhash::fast::FixedState::with_seed(0x6261_7361_6c74),
            by_slot: false,
        }
    }

    /// A store whose shards hold whole hash slots (cluster mode).
    pub fn by_slot(shards: usize, databases: usize) -> Self {
        crate::slot::start_counting();
        let n = shards.clamp(1, crate::slot::SLOTS);
        Store {
            by_slot: true,
            ..Store::new(n, databases)
        }
    }

    /// The shard holding hash slot `slot` (cluster mode).
    pub fn slot_shard(&self, slot: u16) -> usize {
        slot as usize & self.mask
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    pub fn shard_index(&self, key: &[u8]) -> usize {
        if self.by_slot {
            return crate::slot::key_slot(key) as usize & self.mask;
        }
        // The high bits: the dicts inside the shard use their own seeds, so there is no
        // correlation with bucket choice, but high bits of foldhash mix best.
        (self.hasher.hash_one(hash_tag(key)) >> 40) as usize & self.mask
    }

    /// Lock shard `index`. A shard held by another thread is waited for spinning, for up to
    /// [`SPIN_US`], before the thread sleeps: shard locks are held for microseconds (one
    /// command, or one script's few), and on a contended lock a futex sleep and wake-up cost
    /// more CPU than the wait itself (measured with bench/scripting.sh's 10-key script, two
    /// I/O threads: about a tenth of the CPU per call).
    pub fn lock_shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        let m = &self.shards[index];
        if let Some(g) = m.try_lock() {
            return g;
        }
        let start = std::time::Instant::now();
        loop {
            for _ in 0..32 {
                std::hint::spin_loop();
                if !m.is_locked() {
                    if let Some(g) = m.try_lock() {
                        return g;
                    }
                }
            }
            if start.elapsed().as_micros() > SPIN_US {
                return m.lock();
            }
        }
    }

    /// The shards of `keys`, ascending, each once: the order they must be locked in.
    pub fn shard_indices<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> SmallVec<[usize; 4]> {
        let mut idx: SmallVec<[usize; 4]> = keys.into_iter().map(|k| self.shard_index(k)).collect();
        idx.sort_unstable();
        idx.dedup();
        idx
    }

    /// Lock the shards of `keys` in ascending order.
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Locked<'_> {
        self.lock_indices(&self.shard_indices(keys))
    }

    /// Lock shards `idx` (ascending, deduplicated, as [`Store::shard_indices`] gives them).
    pub fn lock_indices(&self, idx: &[usize]) -> Locked<'_> {
        debug_assert!(idx.windows(2).all(|w| w[0] < w[1]), "locks out of order");
        Locked {
            guards: idx.iter().map(|&i| (i, self.lock_shard(i))).collect(),
            store: self,
        }
    }

    /// Lock every shard, in order (SWAPDB, FLUSHALL, and later MULTI/EXEC with many keys).
    pub fn lock_all(&self) -> Locked<'_> {
        Locked {
            guards: (0..self.shards.len())
                .map(|i| (i, self.lock_shard(i)))
                .collect(),
            store: self,
        }
    }

    /// Visit shards one at a time (keyless commands that need no atomicity: DBSIZE, KEYS …).
    pub fn for_each_shard(&self, mut f: impl FnMut(usize, &mut Shard)) {
        for i in 0..self.shards.len() {
            f(i, &mut self.lock_shard(i));
        }
    }

    /// Make room in every shard's database `db` for `keys` keys and `expires` expiry times
    /// spread over the shards (a load's RESIZEDB hint).
    pub fn reserve(&self, db: usize, keys: usize, expires: usize) {
        let n = self.shards.len();
        // Hashing spreads keys unevenly: an eighth more than the mean.
        let share = |total: usize| (total / n) + (total / n) / 8;
        self.for_each_shard(|_, s| s.db(db).reserve(share(keys), share(expires)));
    }

    /// Number of keys in database `db` (expired keys not yet collected included, like Redis).
    pub fn db_len(&self, db: usize) -> usize {
        AllShards::Lock(self).db_len(db)
    }

    /// `(keys, keys with a TTL)` per database.
    pub fn db_sizes(&self) -> Vec<(usize, usize)> {
        AllShards::Lock(self).db_sizes()
    }

    /// Counters summed over every database of every shard.
    pub fn stats(&self) -> DbStats {
        AllShards::Lock(self).stats()
    }

    /// Zero the counters (CONFIG RESETSTAT).
    pub fn reset_stats(&self) {
        AllShards::Lock(self).reset_stats();
    }
}

/// Every shard, one at a time, for a keyless command: under locks already held on all of them
/// (inside EXEC, which must not lock again), or each locked in turn (no atomicity needed).
pub enum AllShards<'a, 's> {
    Held(&'a mut Locked<'s>),
    Lock(&'a Store),
}

impl AllShards<'_, '_> {
    pub fn shard_count(&self) -> usize {
        match self {
            AllShards::Held(l) => l.store.shard_count(),
            AllShards::Lock(s) => s.shard_count(),
        }
    }

    pub fn for_each(&mut self, mut f: impl FnMut(usize, &mut Shard)) {
        match self {
            AllShards::Held(l) => {
                debug_assert!(l.holds_all());
                for (i, g) in l.guards.iter_mut() {
                    f(*i, g);
                }
            }
            AllShards::Lock(s) => s.for_each_shard(f),
        }
    }

    /// Run `f` on shard `idx`.
    pub fn with<R>(&mut self, idx: usize, f: impl FnOnce(&mut Shard) -> R) -> R {
        match self {
            AllShards::Held(l) => match l.guards.iter_mut().find(|(i, _)| *i == idx) {
                Some((_, g)) => f(g),
                None => panic!("every shard is held inside EXEC"),
            },
            AllShards::Lock(s) => f(&mut s.lock_shard(idx)),
        }
    }

    /// Number of keys in database `db` (expired keys not yet collected included, like Redis).
    pub fn db_len(&mut self, db: usize) -> usize {
        let mut n = 0;
        self.for_each(|_, s| n += s.db_ref(db).len());
        n
    }

    /// `(keys, keys with a TTL)` per database.
    pub fn db_sizes(&mut self) -> Vec<(usize, usize)> {
        let mut sizes: Vec<(usize, usize)> = Vec::new();
        self.for_each(|_, s| {
            sizes.resize(s.database_count(), (0, 0));
            for (i, db) in s.dbs() {
                sizes[i].0 += db.len();
                sizes[i].1 += db.volatile_len();
            }
        });
        sizes
    }

    /// Counters summed over every database of every shard.
    pub fn stats(&mut self) -> DbStats {
        let mut total = DbStats::default();
        self.for_each(|_, s| {
            for (_, db) in s.dbs() {
                total.expired_keys += db.stats.expired_keys;
                total.evicted_keys += db.stats.evicted_keys;
                total.keyspace_hits += db.stats.keyspace_hits;
                total.keyspace_misses += db.stats.keyspace_misses;
            }
        });
        total
    }

    /// Zero the counters (CONFIG RESETSTAT).
    pub fn reset_stats(&mut self) {
        self.for_each(|_, s| {
            for (_, db) in s.dbs_mut() {
                db.stats = DbStats::default();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags() {
        assert_eq!(hash_tag(b"{user1}:a"), b"user1");
        assert_eq!(hash_tag(b"a{}b"), b"a{}b");
        assert_eq!(hash_tag(b"a{b"), b"a{b");
        assert_eq!(hash_tag(b"x{a}{b}"), b"a");
        let s = Store::new(64, 16);
        assert_eq!(s.shard_index(b"{t}1"), s.shard_index(b"{t}2"));
    }

    #[test]
    fn unlogged_expiry_deletions_keep_their_database_across_swapdb_and_flush() {
        let s = Store::new(1, 3);
        let mut all = s.lock_all();
        let shard = all.shards_mut().next().unwrap();
        shard.db(0).expired_pending.push(b"k".to_vec());
        crate::db::EXPIRED_PENDING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        shard.swap_dbs(0, 2, 0);
        drop(shard.flush_db(0));
        assert_eq!(shard.drain_expired(), vec![(0, b"k".to_vec())]);
    }

    #[test]
    fn with_shard_never_waits_out_of_order() {
        let s = Store::new(8, 1);
        let order = |l: &Locked<'_>| l.guards.iter().map(|(i, _)| *i).collect::<Vec<_>>();
        let l = s.lock_indices(&[5]);
        // Above every held lock: waited for.
        let (l, relocked) = l.with_shard(7);
        assert!(!relocked);
        // Below, and free: taken by try_lock, kept in order.
        let (l, relocked) = l.with_shard(2);
        assert!(!relocked);
        assert_eq!(order(&l), vec![2, 5, 7]);
        let (l, relocked) = l.with_shard(5);
        assert!(!relocked);
        // Below, and busy: everything released and taken again in order.
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _g = s.lock_shard(1);
                held_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
            });
            held_rx.recv().unwrap();
            let (l, relocked) = l.with_shard(1);
            assert!(relocked);
            assert_eq!(order(&l), vec![1, 2, 5, 7]);
        });
    }

    #[test]
    fn lock_keys_dedups_and_orders() {
        let s = Store::new(8, 16);
        let keys: Vec<Vec<u8>> = (0..50).map(|i| format!("k{i}").into_bytes()).collect();
        let mut l = s.lock_keys(keys.iter().map(|k| k.as_slice()));
        for k in &keys {
            l.db(k, 0);
        }
        let order: Vec<usize> = l.guards.iter().map(|(i, _)| *i).collect();
        let mut sorted = order.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(order, sorted);
    }
}
