//! The stream value of Redis 7.0 (`src/t_stream.c`, `src/stream.h`): entries in nodes that are
//! Redis's own listpacks, consumer groups with their pending entries lists.
//!
//! Layout. Entries live in nodes keyed by their master ID (the first ID ever put in the node),
//! each node a listpack in Redis's stream layout (see `node.rs`): an RDB or DUMP writer emits
//! [`Stream::nodes`] as they are, a loader adopts nodes with [`Stream::load_node`] after
//! checking them. Per entry this costs what it costs Redis: the same bytes, plus the ordered
//! map's share per node (1M three-field entries: about 26 bytes each here, 29 in 7.0.15's
//! `used_memory`).
//!
//! Division of labour with the commands: this module parses IDs, stores, walks, trims and
//! tracks groups with Redis's algorithms, and names Redis's error replies; the commands parse
//! the other arguments, look keys up and create them, build replies, propagate effects and
//! send keyspace events. Times (`now_ms`) come from the caller, so one command sees one clock.
//!
//! Everything was checked against redis-server 7.0.15 (see the tests for the captured facts).

mod consume;
mod group;
mod id;
mod listpack;
mod load;
mod node;
mod range;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_group;
#[cfg(test)]
mod tests_model;
mod trim;

pub use consume::{AutoClaim, ClaimArgs, ClaimEvent, Claimed, Delivery, History};
pub use group::{Consumer, Group, Pending, PendingSummary, PendingView};
pub use id::{
    parse_id, parse_interval_id, parse_range_end, parse_range_start, parse_strict_id,
    parse_xadd_id, IdError, StreamId, XaddId,
};
pub use listpack::Elem;
pub use load::Corrupt;
pub use range::{Entry, Fields, Range};

use std::collections::BTreeMap;

use range::Nodes;

// Shards hand values between threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Stream>()
};

/// Largest total size of an entry's fields and values, and largest node Redis lets grow
/// (`STREAM_LISTPACK_MAX_SIZE`): listpacks keep 32-bit lengths.
const MAX_LISTPACK: u64 = 1 << 30;
/// Largest preallocation of a fresh tail node (`STREAM_LISTPACK_MAX_PRE_ALLOCATE`).
const MAX_PREALLOC: u64 = 4096;
/// Bytes a thin vector keeps before its data (length and capacity), subtracted from the
/// preallocation so a 4096-byte node is one 4096-byte allocation as in Redis.
const THIN_HEADER: usize = 16;

/// When the tail node is full: `stream-node-max-bytes` and `stream-node-max-entries` (0 means
/// no limit for either). The server owns the configuration and passes it to each append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// `stream-node-max-bytes` (default 4096).
    pub max_bytes: u64,
    /// `stream-node-max-entries` (default 100).
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// How XADD wants the new entry's ID chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSpec {
    /// `*`: `now_ms`-0, or the next ID after the last one when the clock has not moved past it.
    Auto {
        /// The command's clock reading.
        now_ms: u64,
    },
    /// `<ms>-*`: the next sequence within `ms`, or `ms`-0.
    AutoSeq(u64),
    /// A complete ID.
    Explicit(StreamId),
}

impl From<(XaddId, u64)> for IdSpec {
    /// The parsed XADD argument with the command's clock.
    fn from((id, now_ms): (XaddId, u64)) -> Self {
        match id {
            XaddId::Auto => IdSpec::Auto { now_ms },
            XaddId::AutoSeq(ms) => IdSpec::AutoSeq(ms),
            XaddId::Explicit(id) => IdSpec::Explicit(id),
        }
    }
}

/// Why XADD could not add. `Display` is Redis's reply, code included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// An explicit `0-0`. Redis checks this before creating the key, so the command should
    /// too (this check is here so the value can never hold it).
    #[error("ERR The ID specified in XADD must be greater than 0-0")]
    ZeroId,
    /// The last ID is the largest possible.
    #[error("ERR The stream has exhausted the last possible ID, unable to add more items")]
    Exhausted,
    /// The ID is not above the last one.
    #[error("ERR The ID specified in XADD is equal or smaller than the target stream top item")]
    EqualOrSmaller,
    /// `<ms>-*` when the last ID is `<ms>-18446744073709551615`: Redis fails without setting
    /// its error code, and its XADD then reports this (checked on 7.0.15).
    #[error("ERR Elements are too large to be stored")]
    SeqExhausted,
    /// Fields and values over 1 GiB in total.
    #[error("ERR Elements are too large to be stored")]
    TooLarge,
}

/// How to trim (XTRIM, XADD's MAXLEN/MINID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries below this ID.
    MinId(StreamId),
}

/// Why XSETID refused. `Display` is Redis's reply, code included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SetIdError {
    /// The ID is below MAXDELETEDID (Redis checks this while parsing, before the key lookup).
    #[error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")]
    BelowMaxDeleted,
    /// The ID is below the last live entry.
    #[error("ERR The ID specified in XSETID is smaller than the target stream top item")]
    BelowTop,
    /// ENTRIESADDED is below the stream's length.
    #[error("ERR The entries_added specified in XSETID is smaller than the target stream length")]
    EntriesAddedTooSmall,
}

/// The stream's bookkeeping, as RDB files and XINFO STREAM carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StreamMeta {
    /// Live entries.
    pub length: u64,
    /// Last ID ever added (or set by XSETID).
    pub last_id: StreamId,
    /// First live entry as last recorded (`recorded-first-entry-id`), 0-0 when empty.
    pub first_id: StreamId,
    /// Largest ID ever deleted (`max-deleted-entry-id`).
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added (`entries-added`).
    pub entries_added: u64,
}

/// A stream value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    nodes: Nodes,
    meta: StreamMeta,
    groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    /// An empty stream (XADD on a new key, XGROUP CREATE … MKSTREAM).
    pub fn new() -> Self {
        Stream::default()
    }

    /// Live entries (XLEN).
    pub fn len(&self) -> u64 {
        self.meta.length
    }

    /// Whether there is no live entry. An empty stream is still a value (unlike empty lists).
    pub fn is_empty(&self) -> bool {
        self.meta.length == 0
    }

    /// The last ID ever added or set (`last-generated-id`, XREAD's `$`).
    pub fn last_id(&self) -> StreamId {
        self.meta.last_id
    }

    /// The recorded first live ID (`recorded-first-entry-id`).
    pub fn first_id(&self) -> StreamId {
        self.meta.first_id
    }

    /// The largest deleted ID (`max-deleted-entry-id`).
    pub fn max_deleted_entry_id(&self) -> StreamId {
        self.meta.max_deleted_entry_id
    }

    /// Entries ever added (`entries-added`).
    pub fn entries_added(&self) -> u64 {
        self.meta.entries_added
    }

    /// All bookkeeping at once, for the RDB writer.
    pub fn meta(&self) -> StreamMeta {
        self.meta
    }

    /// Number of nodes (XINFO STREAM's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes in ID order, master ID and listpack bytes, for the RDB writer.
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &[u8])> + '_ {
        self.nodes.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    /// Lazily walks the live entries from `start` to `end`, both inclusive, backwards if `rev`
    /// (XRANGE, XREVRANGE, XREAD, XINFO).
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Range<'_> {
        Range::new(&self.nodes, start, end, rev)
    }

    /// The live entry with this ID (`streamEntryExists`, and what XCLAIM replies with).
    pub fn entry(&self, id: StreamId) -> Option<Entry<'_>> {
        self.range(id, id, false).next()
    }

    /// The first or last ID, tombstones included or not (`streamGetEdgeID`). When there is
    /// none it answers as Redis does: the largest ID for the first, 0-0 for the last. XADD and
    /// XTRIM with `~` rewrite MINID with the first ID including tombstones.
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let mut r = Range::new(&self.nodes, StreamId::MIN, StreamId::MAX, !first);
        if !skip_tombstones {
            r = r.with_tombstones();
        }
        match r.next_raw() {
            Some((_, e)) => e.id(),
            None if first => StreamId::MAX,
            None => StreamId::MIN,
        }
    }

    /// The last live ID (`streamLastValidID`), `None` when there is no live entry. XREAD serves
    /// at once only when it is above the requested ID.
    pub fn last_valid_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, true)
            .next()
            .map(|e| e.id())
    }

    /// Adds an entry (`streamAppendItem`, with XADD's checks before it): picks the ID, appends
    /// to the tail node or starts a new one when the tail is full by `limits`, and updates
    /// the length, last ID, first ID and entries-added count. Returns the new ID.
    pub fn append(
        &mut self,
        spec: IdSpec,
        fields: &[(&[u8], &[u8])],
        limits: NodeLimits,
    ) -> Result<StreamId, AppendError> {
        if spec == IdSpec::Explicit(StreamId::MIN) {
            return Err(AppendError::ZeroId);
        }
        let last = self.meta.last_id;
        if last == StreamId::MAX {
            return Err(AppendError::Exhausted);
        }
        let id = match spec {
            IdSpec::Auto { now_ms } if now_ms > last.ms => StreamId::new(now_ms, 0),
            IdSpec::Auto { .. } => last.incr().ok_or(AppendError::EqualOrSmaller)?,
            IdSpec::AutoSeq(ms) if ms == last.ms => {
                if last.seq == u64::MAX {
                    return Err(AppendError::SeqExhausted);
                }
                StreamId::new(ms, last.seq + 1)
            }
            IdSpec::AutoSeq(ms) => StreamId::new(ms, 0),
            IdSpec::Explicit(id) => id,
        };
        if id <= last {
            return Err(AppendError::EqualOrSmaller);
        }
        let total: u64 = fields.iter().map(|(f, v)| (f.len() + v.len()) as u64).sum();
        if total > MAX_LISTPACK {
            return Err(AppendError::TooLarge);
        }
        let mut tail = self.nodes.last_entry();
        if let Some(t) = tail.as_mut() {
            let node = t.get_mut();
            let max_bytes = match limits.max_bytes {
                0 => MAX_LISTPACK,
                b => b.min(MAX_LISTPACK),
            };
            // A node whose master entry does not read (impossible for checked nodes) is
            // treated as full, so nothing is ever appended to it.
            let full = node.len() as u64 + total >= max_bytes
                || node::master(node).is_none_or(|m| {
                    limits.max_entries != 0
                        && m.count.wrapping_add(m.deleted) as u64 >= limits.max_entries
                });
            if full {
                node.shrink_to_fit();
                tail = None;
            }
        }
        match tail {
            Some(mut t) => {
                let key = *t.key();
                node::append(t.get_mut(), key, id, fields);
            }
            None => {
                let mut prealloc = MAX_PREALLOC;
                if limits.max_bytes > 0 && limits.max_bytes < prealloc {
                    prealloc = limits.max_bytes;
                }
                let cap = (prealloc as usize).saturating_sub(THIN_HEADER);
                self.nodes.insert(id, node::create(id, fields, cap));
            }
        }
        self.meta.length += 1;
        self.meta.entries_added += 1;
        self.meta.last_id = id;
        if self.meta.length == 1 {
            self.meta.first_id = id;
        }
        Ok(id)
    }

    /// Marks the live entry `id` deleted (`streamDeleteItem`); frees its node when it held the
    /// node's last live entry. Touches neither the first ID nor the maximal deleted ID.
    fn remove_entry(&mut self, id: StreamId) -> bool {
        let Some((key, flags_pos)) = Range::new(&self.nodes, id, id, false)
            .next_raw()
            .map(|(k, e)| (k, e.flags_pos()))
        else {
            return false;
        };
        let Some(node) = self.nodes.get_mut(&key) else {
            return false;
        };
        node::mark_deleted(node, flags_pos);
        match node::master(node) {
            Some(m) if m.count == 1 => {
                self.nodes.remove(&key);
            }
            Some(m) => node::set_counts(node, m.count - 1, m.deleted.wrapping_add(1)),
            None => {}
        }
        self.meta.length = self.meta.length.saturating_sub(1);
        true
    }

    /// XDEL: deletes the live entries among `ids`, updating the maximal deleted ID and, once at
    /// the end as Redis does, the first ID. Returns how many were deleted. Consumer groups'
    /// pending lists are left alone, as in Redis.
    pub fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.remove_entry(id) {
                if id == self.meta.first_id {
                    first_entry = true;
                }
                if id > self.meta.max_deleted_entry_id {
                    self.meta.max_deleted_entry_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.meta.length == 0 {
                self.meta.first_id = StreamId::MIN;
            } else if first_entry {
                self.meta.first_id = self.edge_id(true, true);
            }
        }
        deleted
    }

    /// XSETID after its parsing: sets the last ID, and the entries-added count and maximal
    /// deleted ID when given (`None`, or a zero maximal deleted ID, leaves them), with Redis's
    /// checks in Redis's order.
    pub fn set_id(
        &mut self,
        id: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> Result<(), SetIdError> {
        if max_deleted.is_some_and(|m| id < m) {
            return Err(SetIdError::BelowMaxDeleted);
        }
        if self.meta.length > 0 {
            if self.last_valid_id().is_some_and(|top| id < top) {
                return Err(SetIdError::BelowTop);
            }
            if entries_added.is_some_and(|a| self.meta.length > a) {
                return Err(SetIdError::EntriesAddedTooSmall);
            }
        }
        self.meta.last_id = id;
        if let Some(a) = entries_added {
            self.meta.entries_added = a;
        }
        if let Some(m) = max_deleted.filter(|m| !m.is_zero()) {
            self.meta.max_deleted_entry_id = m;
        }
        Ok(())
    }

    /// Whether a tombstone may lie between `start` and `end` (`streamRangeHasTombstones`;
    /// `None` means unbounded): only the maximal deleted ID is known, so this is its test.
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        self.meta.range_has_tombstones(start, end)
    }

    /// How many entries were added up to `id` (`streamEstimateDistanceFromFirstEverEntry`), or
    /// -1 when it cannot be known (Redis's `SCG_INVALID_ENTRIES_READ`). Groups' `entries-read`
    /// and lag come from it; the RDB loader uses it for groups of files older than 7.0.
    pub fn estimate_entries_read(&self, id: StreamId) -> i64 {
        self.meta.estimate_entries_read(id)
    }
}

impl StreamMeta {
    /// See [`Stream::range_has_tombstones`].
    pub(crate) fn range_has_tombstones(
        &self,
        start: Option<StreamId>,
        end: Option<StreamId>,
    ) -> bool {
        let m = self;
        if m.length == 0 || m.max_deleted_entry_id.is_zero() || m.first_id > m.max_deleted_entry_id
        {
            return false;
        }
        let start = start.unwrap_or(StreamId::MIN);
        let end = end.unwrap_or(StreamId::MAX);
        start <= m.max_deleted_entry_id && m.max_deleted_entry_id <= end
    }

    /// See [`Stream::estimate_entries_read`].
    pub(crate) fn estimate_entries_read(&self, id: StreamId) -> i64 {
        let m = self;
        if m.entries_added == 0 {
            return 0;
        }
        if m.length == 0 && id <= m.last_id {
            return m.entries_added as i64;
        }
        if id == m.last_id {
            return m.entries_added as i64;
        } else if id > m.last_id {
            return -1;
        }
        if m.max_deleted_entry_id.is_zero() || m.max_deleted_entry_id < m.first_id {
            if id < m.first_id {
                return m.entries_added.wrapping_sub(m.length) as i64;
            } else if id == m.first_id {
                return m.entries_added.wrapping_sub(m.length).wrapping_add(1) as i64;
            }
        }
        -1
    }
}
