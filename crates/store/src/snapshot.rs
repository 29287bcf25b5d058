//! Point-in-time snapshots without a fork and without a copy of the dataset: what BGSAVE
//! (and later the log rewrite) reads.
//!
//! # How
//! At the instant, with every shard locked ([`Locked::begin_snapshot`]), each non-empty
//! database flips its `snap_bit` and gets a [`DbSnap`]. From then on an object is *clean* — still
//! exactly as it was at the instant — while its `snap` mark differs from its database's bit.
//! - A **writer** about to change or delete a clean object (every mutation goes through `Db`)
//!   first copies it into the database's `preserved` list, then marks it. New objects are
//!   created marked, so the snapshot never sees them.
//! - The **walk** ([`Store::snapshot_step`]) takes each shard's lock for a bounded step, visits
//!   a few buckets with the SCAN cursor (which sees every key present throughout, across
//!   resizes), emits the clean objects it meets and marks them, and hands over what writers
//!   preserved. Marking makes every object emitted exactly once: by the walk or by its writer.
//! - A **flushed** database with a walk still pending is set aside whole on its shard
//!   (`Shard::flush_db`), nobody changes it any more, and the walk drains it without a lock.
//!   SWAPDB moves a database with its snapshot state, which remembers the index it had at the
//!   instant.
//!
//! # Cost
//! Without a snapshot a write pays one branch. During one, the first write to each key not yet
//! walked copies its old value: extra memory is bounded by what is written during the snapshot
//! (not by the dataset, unlike a fork's page copies), and a client waits at most for one step of
//! the walk. Reads copy nothing ([`Db::get_for_read`]).
//!
//! # Invariant
//! Outside a snapshot's walk every object carries its database's bit. The walk always runs to
//! the end (a failed save keeps walking and discards the output), which restores it.

use std::time::{Duration, Instant};

use crate::bytes::SmallBytes;
use crate::db::{Db, Obj};
use crate::store::{Locked, Shard, Store};

/// One entry of a snapshot, as it was at the instant.
pub struct Preserved {
    pub key: SmallBytes,
    pub obj: Obj,
    pub expire_at_ms: Option<u64>,
}

/// A database's part of a snapshot in progress.
pub(crate) struct DbSnap {
    /// The database's index at the instant (SWAPDB may move it since).
    origin: usize,
    /// The instant, Unix ms: keys that had expired by then are not part of the snapshot.
    at_ms: u64,
    /// SCAN cursor of the walk over `keys`.
    cursor: u64,
    /// Whether the walk has covered every bucket.
    walked: bool,
    /// Old states of objects written since the instant, before the walk reached them.
    preserved: Vec<Preserved>,
}

/// Receives a snapshot's entries, grouped by nothing: each carries its database index.
pub trait SnapshotSink {
    fn entry(&mut self, db: usize, key: &[u8], obj: &Obj, expire_at_ms: Option<u64>);
}

/// Where a snapshot's walk is. The progress itself lives in the databases, so a copy walks
/// on from wherever the walk got to.
#[derive(Clone)]
pub struct SnapshotWalk {
    shard: usize,
    /// The longest a step held its shard's lock (wall time: what a client of the shard
    /// could wait, the scheduler's delays included) …
    longest_hold: Duration,
    /// … and the most CPU time a step spent holding it (the walk's own work).
    longest_hold_cpu: Duration,
    /// `(keys, keys with an expiry)` per database at the instant (expired keys not yet
    /// deleted included): RESIZEDB hints for the file.
    db_sizes: std::sync::Arc<[(usize, usize)]>,
}

impl SnapshotWalk {
    /// `(wall, cpu)`: the longest a step held a shard's lock, and the most CPU time one
    /// spent holding it. BGSAVE logs both.
    pub fn longest_hold(&self) -> (Duration, Duration) {
        (self.longest_hold, self.longest_hold_cpu)
    }

    pub fn db_sizes(&self) -> &[(usize, usize)] {
        &self.db_sizes
    }
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given, nothing else.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Db {
    /// Keep the state at the instant of the object under `key`, if a snapshot still needs it,
    /// and mark it. Called by every mutation before it changes anything.
    #[inline]
    pub(crate) fn preserve(&mut self, key: &[u8]) {
        if self.snap.is_some() {
            self.preserve_slow(key);
        }
    }

    #[cold]
    fn preserve_slow(&mut self, key: &[u8]) {
        let bit = self.snap_bit;
        let Some(snap) = self.snap.as_deref_mut() else {
            return;
        };
        let Some(obj) = self.keys.get_mut(key) else {
            return;
        };
        if obj.snap == bit {
            return;
        }
        obj.snap = bit;
        let expire_at_ms = self.expires.get(key).copied();
        if expire_at_ms.is_none_or(|at| at > snap.at_ms) {
            snap.preserved.push(Preserved {
                key: SmallBytes::new(key),
                obj: obj.clone(),
                expire_at_ms,
            });
        }
    }

    /// Begin a snapshot of this database (database `index` at the instant `at_ms`).
    fn begin_snapshot(&mut self, index: usize, at_ms: u64) {
        assert!(self.snap.is_none(), "one snapshot at a time");
        if self.is_empty() {
            return;
        }
        self.snap_bit = !self.snap_bit;
        self.snap = Some(Box::new(DbSnap {
            origin: index,
            at_ms,
            cursor: 0,
            walked: false,
            preserved: Vec::new(),
        }));
    }

    /// Walk up to about `budget` entries; returns what was spent. Collections go to `sink`;
    /// copies of strings, and what writers preserved, are moved to `preserved` (for the sink
    /// after the lock). Ends the database's snapshot when the walk is complete.
    fn snapshot_step(
        &mut self,
        budget: usize,
        sink: &mut dyn SnapshotSink,
        preserved: &mut Vec<(usize, Preserved)>,
    ) -> usize {
        let Db {
            keys,
            expires,
            snap,
            snap_bit,
            ..
        } = self;
        let Some(s) = snap.as_deref_mut() else {
            return 0;
        };
        let (origin, at_ms, bit) = (s.origin, s.at_ms, *snap_bit);
        preserved.extend(s.preserved.drain(..).map(|p| (origin, p)));
        let mut spent = 0;
        while !s.walked && spent < budget {
            let mut emitted = 0;
            s.cursor = keys.scan_mut(s.cursor, |key, obj| {
                if obj.snap != bit {
                    obj.snap = bit;
                    let at = expires.get(key).copied();
                    if at.is_none_or(|at| at > at_ms) {
                        emit(origin, key, obj, at, sink, preserved);
                        emitted += weight(&obj.value);
                    }
                }
            });
            spent += emitted.max(1);
            s.walked = s.cursor == 0;
        }
        if s.walked {
            *snap = None;
        }
        spent
    }

    /// Everything of a set-aside (flushed) database that its snapshot still needs.
    fn drain_detached(mut self, sink: &mut dyn SnapshotSink) {
        let Some(s) = self.snap.take() else {
            return;
        };
        for p in &s.preserved {
            sink.entry(s.origin, &p.key, &p.obj, p.expire_at_ms);
        }
        if s.walked {
            return;
        }
        for (key, obj) in self.keys.iter() {
            let at = self.expires.get(key).copied();
            if obj.snap != self.snap_bit && at.is_none_or(|at| at > s.at_ms) {
                sink.entry(s.origin, key, obj, at);
            }
        }
    }
}

/// What an entry costs a step's budget: one per element, so a step holding the lock stops
/// after one big collection rather than after 256 of them. (One huge collection is still
/// written in one step.)
fn weight(value: &crate::Value) -> usize {
    use crate::Value;
    match value {
        Value::Str(_) => 1,
        Value::List(l) => l.len(),
        Value::Set(s) => s.len(),
        Value::Hash(h) => h.len(),
        Value::ZSet(z) => z.len(),
        Value::Stream(s) => usize::try_from(s.len()).unwrap_or(usize::MAX),
    }
    .max(1)
}

/// Hand one entry of the walk over. A string is copied (its key and value are mostly inline:
/// a copy costs less than serializing it) and serialized after the shard's lock is released,
/// which keeps the lock hold short; a collection is serialized in place, under the lock,
/// rather than copied whole.
fn emit(
    origin: usize,
    key: &SmallBytes,
    obj: &Obj,
    expire_at_ms: Option<u64>,
    sink: &mut dyn SnapshotSink,
    later: &mut Vec<(usize, Preserved)>,
) {
    if matches!(obj.value, crate::Value::Str(_)) {
        let p = Preserved {
            key: key.clone(),
            obj: obj.clone(),
            expire_at_ms,
        };
        later.push((origin, p));
    } else {
        sink.entry(origin, key, obj, expire_at_ms);
    }
}

impl Shard {
    /// Empty database `index` (FLUSHDB, FLUSHALL), returning the old contents to be freed.
    /// When a snapshot has not finished with them they are set aside for it instead.
    /// Clients watching keys of it that exist are told first.
    pub fn flush_db(&mut self, index: usize) -> Db {
        // A database never made is empty, watched by nobody: nothing to flush.
        let Some(db) = self.existing_db_mut(index) else {
            return Db::default();
        };
        db.touch_all(None, 0);
        let old = db.take();
        if old.snap.is_some() {
            self.detached.push(old);
            return Db::default();
        }
        old
    }
}

impl Locked<'_> {
    /// Begin a snapshot of the whole dataset as it is now, at Unix time `at_ms`. The locks must
    /// be every shard's ([`Store::lock_all`]); walk it with [`Store::snapshot_step`] to the end.
    pub fn begin_snapshot(&mut self, at_ms: u64) -> SnapshotWalk {
        assert!(
            self.holds_all(),
            "a snapshot starts with every shard locked"
        );
        let mut sizes = Vec::new();
        for shard in self.shards_mut() {
            sizes.resize(shard.database_count(), (0, 0));
            for (i, db) in shard.dbs_mut() {
                sizes[i].0 += db.len();
                sizes[i].1 += db.volatile_len();
                db.begin_snapshot(i, at_ms);
            }
        }
        SnapshotWalk {
            shard: 0,
            longest_hold: Duration::ZERO,
            longest_hold_cpu: Duration::ZERO,
            db_sizes: sizes.into(),
        }
    }
}

impl Store {
    /// One bounded step of a snapshot's walk: locks one shard for about `budget` entries.
    /// Returns false once the whole snapshot has gone to `sink`.
    pub fn snapshot_step(
        &self,
        walk: &mut SnapshotWalk,
        budget: usize,
        sink: &mut dyn SnapshotSink,
    ) -> bool {
        if walk.shard >= self.shard_count() {
            return false;
        }
        let mut preserved = Vec::new();
        let (detached, shard_done) = {
            let mut shard = self.lock_shard(walk.shard);
            let (held, cpu) = (Instant::now(), thread_cpu_time());
            let mut left = budget;
            for (_, db) in shard.dbs_mut() {
                left = left.saturating_sub(db.snapshot_step(left, sink, &mut preserved));
            }
            let done = shard.dbs().all(|(_, db)| db.snap.is_none());
            let detached = std::mem::take(&mut shard.detached);
            drop(shard);
            walk.longest_hold = walk.longest_hold.max(held.elapsed());
            let cpu = thread_cpu_time().saturating_sub(cpu);
            walk.longest_hold_cpu = walk.longest_hold_cpu.max(cpu);
            (detached, done)
        };
        for (db, p) in &preserved {
            sink.entry(*db, &p.key, &p.obj, p.expire_at_ms);
        }
        for db in detached {
            db.drain_detached(sink);
        }
        if shard_done {
            walk.shard += 1;
        }
        walk.shard < self.shard_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Str, Value};
    use std::collections::BTreeMap;

    type Seen = BTreeMap<(usize, Vec<u8>), (Vec<u8>, Option<u64>)>;

    impl SnapshotSink for Seen {
        fn entry(&mut self, db: usize, key: &[u8], obj: &Obj, at: Option<u64>) {
            let Value::Str(s) = &obj.value else {
                panic!("strings only here")
            };
            let v = s.as_bytes().into_owned();
            let old = self.insert((db, key.to_vec()), (v, at));
            assert!(old.is_none(), "{key:?} emitted twice");
        }
    }

    fn put(s: &Store, db: usize, k: &[u8], v: &[u8]) {
        let mut l = s.lock_keys([k]);
        l.db(k, db).set(k, Value::Str(Str::from_bytes(v)), false, 0);
    }

    fn walk_all(s: &Store, w: &mut SnapshotWalk, seen: &mut Seen, mut between: impl FnMut(u32)) {
        let mut step = 0;
        while s.snapshot_step(w, 7, seen) {
            between(step);
            step += 1;
            assert!(step < 100_000, "the walk does not end");
        }
    }

    fn key(i: u32) -> Vec<u8> {
        format!("k{i}").into_bytes()
    }

    #[test]
    fn the_snapshot_is_the_instant_whatever_writers_do_meanwhile() {
        let s = Store::new(4, 3);
        for i in 0..500 {
            put(&s, i as usize % 2, &key(i), b"old");
        }
        let mut w = s.lock_all().begin_snapshot(1000);
        let mut seen = Seen::new();
        walk_all(&s, &mut w, &mut seen, |step| {
            // Overwrite, delete, create and expire keys between steps.
            let i = step * 7 % 600;
            put(&s, i as usize % 2, &key(i), b"new");
            let j = (step * 13 + 1) % 500;
            let k = key(j);
            s.lock_keys([k.as_slice()])
                .db(&k, j as usize % 2)
                .remove(&k);
            let m = (step * 31 + 2) % 500;
            let k = key(m);
            s.lock_keys([k.as_slice()])
                .db(&k, m as usize % 2)
                .set_expire(&k, 5000);
        });
        let want: Seen = (0..500)
            .map(|i| ((i as usize % 2, key(i)), (b"old".to_vec(), None)))
            .collect();
        assert_eq!(seen, want);
        // Afterwards every object carries its database's bit: a second snapshot is whole too.
        let mut w = s.lock_all().begin_snapshot(2000);
        let mut again = Seen::new();
        walk_all(&s, &mut w, &mut again, |_| {});
        assert_eq!(again.len(), s.db_len(0) + s.db_len(1));
    }

    #[test]
    fn flush_and_swapdb_during_the_walk_change_nothing_in_it() {
        let s = Store::new(2, 3);
        for i in 0..300 {
            put(&s, (i % 3) as usize, &key(i), b"v");
        }
        let mut w = s.lock_all().begin_snapshot(0);
        let mut seen = Seen::new();
        walk_all(&s, &mut w, &mut seen, |step| match step {
            2 => s
                .lock_all()
                .shards_mut()
                .for_each(|sh| sh.swap_dbs(0, 2, 0)),
            4 => s.lock_all().shards_mut().for_each(|sh| {
                sh.flush_db(1);
            }),
            6 => put(&s, 1, b"late", b"x"),
            _ => {}
        });
        let want: Seen = (0..300)
            .map(|i| (((i % 3) as usize, key(i)), (b"v".to_vec(), None)))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn keys_expired_at_the_instant_are_left_out() {
        let s = Store::new(1, 1);
        put(&s, 0, b"gone", b"v");
        put(&s, 0, b"later", b"v");
        {
            let mut l = s.lock_all();
            let db = l.shards_mut().next().map(|sh| sh.db(0));
            let db = db.expect("one shard");
            db.set_expire(b"gone", 10);
            db.set_expire(b"later", 5000);
        }
        let mut w = s.lock_all().begin_snapshot(100);
        let mut seen = Seen::new();
        walk_all(&s, &mut w, &mut seen, |_| {});
        let keys: Vec<_> = seen.keys().map(|(_, k)| k.clone()).collect();
        assert_eq!(keys, vec![b"later".to_vec()]);
    }
}
