//! Freeing large values off the command path (Redis's lazy free): UNLINK, FLUSHALL ASYNC, and
//! — when `lazyfree-lazy-user-del`, `-server-del`, `-expire`, `-eviction` say so — DEL,
//! overwrites and implicit deletions, expiry and eviction hand a value that is costly to free
//! to one background thread, so the shard lock is held only to unlink it.
//!
//! "Costly" is Redis's measure (`lazyfreeGetFreeEffort`): the number of allocations to free —
//! quicklist nodes of a list, entries of a hash table set/hash or of a skiplist sorted set; any
//! compact encoding is one allocation. Up to [`THRESHOLD`] the value is freed at once, as
//! handing it over would cost more. INFO shows the counts (`lazyfree_pending_objects`,
//! `lazyfreed_objects`).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

use crate::Value;

/// Allocations above which a value is freed in the background (Redis's `LAZYFREE_THRESHOLD`).
pub const THRESHOLD: usize = 64;

/// Why a value is being freed; each reason but `Unlink` follows its `lazyfree-lazy-*` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// UNLINK: always lazy.
    Unlink,
    /// DEL (`lazyfree-lazy-user-del`).
    UserDel,
    /// An overwrite or a deletion a command implies (`lazyfree-lazy-server-del`).
    ServerDel,
    /// Expiry, lazy or active (`lazyfree-lazy-expire`).
    Expire,
    /// Eviction under maxmemory (`lazyfree-lazy-eviction`).
    Eviction,
}

impl Reason {
    fn bit(self) -> u8 {
        match self {
            Reason::Unlink => 0,
            Reason::UserDel => 1,
            Reason::ServerDel => 2,
            Reason::Expire => 4,
            Reason::Eviction => 8,
        }
    }
}

static POLICY: AtomicU8 = AtomicU8::new(0);
static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// The `lazyfree-lazy-*` settings.
pub fn set_policy(user_del: bool, server_del: bool, expire: bool, eviction: bool) {
    let bits = [
        (user_del, Reason::UserDel),
        (server_del, Reason::ServerDel),
        (expire, Reason::Expire),
        (eviction, Reason::Eviction),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |b, (_, r)| b | r.bit());
    POLICY.store(bits, Relaxed);
}

/// Objects handed to the background thread and not freed yet.
pub fn pending_objects() -> u64 {
    PENDING.load(Relaxed)
}

/// Objects the background thread has freed since the start.
pub fn freed_objects() -> u64 {
    FREED.load(Relaxed)
}

/// Allocations freeing `value` takes, as Redis counts them.
pub fn effort(value: &Value) -> usize {
    match value {
        Value::List(l) => l.node_count(),
        Value::Set(s) if s.encoding_name() == "hashtable" => s.len(),
        Value::Hash(h) if h.encoding_name() == "hashtable" => h.len(),
        Value::ZSet(z) if z.encoding_name() == "skiplist" => z.len(),
        // Redis: the rax nodes, plus per group one allocation and its pending entries, taking
        // the first group's pending count for every group.
        Value::Stream(s) => {
            let pending = s.groups().next().map_or(0, |(_, g)| g.pending_len());
            s.rax_node_count() + s.group_count() * (1 + pending)
        }
        _ => 1,
    }
}

/// Free `value` now, or on the background thread when its reason's setting asks for it and
/// it is costly enough. Returns whether it went to the background.
pub fn free(value: Value, reason: Reason) -> bool {
    let lazy = reason == Reason::Unlink || POLICY.load(Relaxed) & reason.bit() != 0;
    if !lazy || effort(&value) <= THRESHOLD {
        drop(value);
        return false;
    }
    send(Box::new(value), 1);
    true
}

/// Free `garbage` (a whole database's tables, for FLUSHALL/FLUSHDB ASYNC) in the background,
/// counting it as `objects` objects.
pub fn free_all<T: Send + 'static>(garbage: T, objects: u64) {
    send(Box::new(garbage), objects);
}

type Job = (Box<dyn Send>, u64);

fn send(garbage: Box<dyn Send>, objects: u64) {
    static WORKER: OnceLock<Mutex<Option<Sender<Job>>>> = OnceLock::new();
    PENDING.fetch_add(objects, Relaxed);
    let worker = WORKER.get_or_init(|| Mutex::new(spawn_worker()));
    let Ok(guard) = worker.lock() else {
        finish((garbage, objects));
        return;
    };
    let undelivered = match guard.as_ref() {
        Some(tx) => tx.send((garbage, objects)).err().map(|e| e.0),
        None => Some((garbage, objects)),
    };
    drop(guard);
    // No thread (it could not be started): free it here rather than lose the count.
    if let Some(job) = undelivered {
        finish(job);
    }
}

fn spawn_worker() -> Option<Sender<Job>> {
    let (tx, rx) = channel::<Job>();
    std::thread::Builder::new()
        .name("lazyfree".into())
        .spawn(move || {
            crate::threads::started("lazyfree");
            for job in rx {
                finish(job);
            }
        })
        .ok()?;
    Some(tx)
}

fn finish((garbage, objects): Job) {
    drop(garbage);
    // Counted freed before it stops being pending, so a reader that sees nothing pending
    // sees every object freed.
    FREED.fetch_add(objects, Relaxed);
    PENDING.fetch_sub(objects, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Set, Str};

    fn big_set() -> Value {
        let mut s = Set::default();
        for i in 0..200 {
            s.add(format!("m{i}").as_bytes(), 512);
        }
        Value::Set(s)
    }

    #[test]
    fn small_values_are_freed_at_once_even_by_unlink() {
        assert!(!free(
            Value::Str(Str::Raw(crate::value::ThinVec::from(&[1u8; 1000][..]))),
            Reason::Unlink
        ));
    }

    #[test]
    fn a_costly_value_goes_to_the_background_only_when_its_setting_says_so() {
        assert!(effort(&big_set()) > THRESHOLD);
        assert!(free(big_set(), Reason::Unlink));
        set_policy(false, false, false, false);
        assert!(!free(big_set(), Reason::UserDel));
        set_policy(true, false, false, false);
        assert!(free(big_set(), Reason::UserDel));
        set_policy(false, false, false, false);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while pending_objects() > 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(freed_objects() >= 2);
    }
}
