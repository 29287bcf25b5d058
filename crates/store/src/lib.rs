//! Basalt's keyspace: values and their encodings, the sharded databases, expiry.
//!
//! Synchronous and free of I/O: the server locks shards and calls in; persistence reads and
//! writes through the same types. See ARCHITECTURE.md for how the pieces fit.

pub mod bits;
mod blocking;
mod bytes;
mod db;
mod dict;
mod evict;
mod expire;
pub mod geo;
mod glob;
mod hash;
pub mod hll;
pub mod lazyfree;
mod lfu;
mod list;
mod list_node;
pub mod num;
mod set;
mod skiplist;
pub mod slot;
mod snapshot;
mod store;
pub mod stream;
pub mod threads;
mod value;
mod varint;
mod watch;
mod zhash;
mod zrange;
mod zset;

pub use blocking::{BlockKind, Blocked, Waiter};

/// Whether some command made a key ready for blocked clients that is not served yet (one
/// relaxed load: the check after every command).
pub fn keys_ready() -> bool {
    db::READY_PENDING.load(std::sync::atomic::Ordering::Relaxed) > 0
}
pub use bytes::{SmallBytes, INLINE_MAX};
pub use db::{
    expiry_paused, key_changes_wanted, keymiss_wanted, lru_clock, modified_pending,
    set_expiry_paused, set_loading, set_log_expired, set_store_events, set_tracking,
    store_events_pending, tracking_on, Db, DbStats, Expired, Obj, StoreEvent,
};
pub use dict::Dict;
pub use evict::Policy as EvictionPolicy;
pub use expire::{CycleReport, ExpireEffort};
pub use glob::glob_match;
pub use hash::{Hash, HashLimits};
pub use lfu::{lfu_enabled, set_lfu, LFU_INIT};
pub use list::{End, Fill, NodeLimit, QuickList};
pub use set::{IntSet, Member, Set};
pub use skiplist::SkipList;
pub use snapshot::{Preserved, SnapshotSink, SnapshotWalk};
pub use store::{hash_tag, AllShards, Locked, Shard, Store};
pub use value::{
    extend_bytes, thin_bytes, Str, ThinVec, Value, ValueType, EMBSTR_MAX, SHARED_INTEGERS,
};
pub use watch::{anyone_watches, WatchFlag};
pub use zrange::{LexBound, LexRange, ScoreRange};
pub use zset::{ZLimits, ZSet};
