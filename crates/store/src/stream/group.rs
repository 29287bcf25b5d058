//! Consumer groups (`streamCG`, `streamConsumer`, `streamNACK` of Redis 7.0).
//!
//! A group keeps its last delivered ID, its read counter, the pending entries list (PEL: every
//! delivered, unacknowledged ID with its last delivery time, delivery count and owner) and its
//! consumers, each with the IDs it owns. Groups and consumers are ordered by name bytewise, as
//! Redis's rax lists them in XINFO and XPENDING.
//!
//! Why names are shared (`Arc<[u8]>`): a pending entry names its owner, as Redis's NACK points
//! at its consumer; sharing the consumer's name costs a pointer per entry and lets an entry
//! answer "who owns me" (XPENDING) without a search. Everything that needs the stream's
//! entries (delivering, claiming, lag) is in `consume.rs`, as methods of the stream.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use super::id::StreamId;
use super::load::Corrupt;
use super::Stream;

/// Redis's `SCG_INVALID_ENTRIES_READ`: the group's read counter is unknown.
pub(crate) const INVALID_ENTRIES_READ: i64 = -1;

/// A pending (delivered, not acknowledged) entry of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub(crate) delivery_time: i64,
    pub(crate) delivery_count: u64,
    /// `None` only while a file is being loaded (Redis's NACK before its consumer is read).
    pub(crate) owner: Option<Arc<[u8]>>,
}

impl Pending {
    /// Unix time in ms of the last delivery.
    pub fn delivery_time(&self) -> i64 {
        self.delivery_time
    }

    /// Number of deliveries.
    pub fn delivery_count(&self) -> u64 {
        self.delivery_count
    }

    /// Name of the consumer it was last delivered to.
    pub fn consumer(&self) -> &[u8] {
        self.owner.as_deref().unwrap_or(b"")
    }
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    pub(crate) seen_time: i64,
    pub(crate) pel: BTreeSet<StreamId>,
}

impl Consumer {
    /// Unix time in ms it was last active (created, read or claimed): XINFO's `seen-time`,
    /// `idle` is now minus this.
    pub fn seen_time(&self) -> i64 {
        self.seen_time
    }

    /// Number of entries it owns.
    pub fn pending_len(&self) -> usize {
        self.pel.len()
    }

    /// The IDs it owns, in order.
    pub fn pending_ids(&self) -> impl DoubleEndedIterator<Item = StreamId> + '_ {
        self.pel.iter().copied()
    }
}

/// XPENDING's summary form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSummary<'a> {
    /// Entries pending in the group.
    pub count: usize,
    /// Smallest and largest pending ID, `None` when nothing is pending.
    pub bounds: Option<(StreamId, StreamId)>,
    /// Consumers owning at least one entry, by name, with how many they own.
    pub consumers: Vec<(&'a [u8], usize)>,
}

/// One line of XPENDING's extended form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingView<'a> {
    /// The entry's ID.
    pub id: StreamId,
    /// Its owner.
    pub consumer: &'a [u8],
    /// Milliseconds since its last delivery (never negative).
    pub idle_ms: i64,
    /// Number of deliveries.
    pub delivery_count: u64,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub(crate) last_id: StreamId,
    pub(crate) entries_read: i64,
    pub(crate) pel: BTreeMap<StreamId, Pending>,
    pub(crate) consumers: BTreeMap<Arc<[u8]>, Consumer>,
}

impl Group {
    fn new(last_id: StreamId, entries_read: i64) -> Self {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Last delivered ID (`last-delivered-id`).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The read counter (`entries-read`), `None` when unknown (XINFO replies nil).
    pub fn entries_read(&self) -> Option<i64> {
        (self.entries_read != INVALID_ENTRIES_READ).then_some(self.entries_read)
    }

    /// The read counter as stored, -1 when unknown (what RDB files carry).
    pub fn entries_read_raw(&self) -> i64 {
        self.entries_read
    }

    /// XGROUP SETID: new last delivered ID and read counter (-1 for unknown, the default when
    /// ENTRIESREAD is not given).
    pub fn set_id(&mut self, id: StreamId, entries_read: i64) {
        self.last_id = id;
        self.entries_read = entries_read;
    }

    /// Entries pending in the group (`pending`, `pel-count`).
    pub fn pending_len(&self) -> usize {
        self.pel.len()
    }

    /// The pending entries in ID order (XINFO STREAM FULL, the RDB writer).
    pub fn pending(&self) -> impl DoubleEndedIterator<Item = (StreamId, &Pending)> + '_ {
        self.pel.iter().map(|(k, v)| (*k, v))
    }

    /// One pending entry.
    pub fn pending_entry(&self, id: StreamId) -> Option<&Pending> {
        self.pel.get(&id)
    }

    /// Number of consumers.
    pub fn consumer_count(&self) -> usize {
        self.consumers.len()
    }

    /// The consumers by name, bytewise (XINFO CONSUMERS, the RDB writer).
    pub fn consumers(&self) -> impl DoubleEndedIterator<Item = (&[u8], &Consumer)> + '_ {
        self.consumers.iter().map(|(k, v)| (&**k, v))
    }

    /// One consumer, without refreshing its seen time (`SLC_NO_REFRESH`).
    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        self.consumers.get(name)
    }

    /// A consumer's pending entries with their details (XINFO STREAM FULL).
    pub fn consumer_pending<'a>(
        &'a self,
        name: &[u8],
    ) -> impl Iterator<Item = (StreamId, &'a Pending)> + 'a {
        let ids = self.consumers.get(name).map(|c| &c.pel);
        ids.into_iter()
            .flatten()
            .filter_map(move |id| Some((*id, self.pel.get(id)?)))
    }

    /// XGROUP CREATECONSUMER: `false` if it exists already.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            Arc::from(name),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// XGROUP DELCONSUMER: removes the consumer and its pending entries from the group;
    /// returns how many it owned, `None` if there is no such consumer (the reply is then 0).
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// The consumer's shared name, refreshing its seen time, or creating it
    /// (`streamLookupConsumer` then `streamCreateConsumer`). The `bool` says it was created
    /// (the command then sends `xgroup-createconsumer` and, under NOACK, propagates it).
    pub(crate) fn consumer_for(&mut self, name: &[u8], now_ms: i64) -> (Arc<[u8]>, bool) {
        let found = self
            .consumers
            .range_mut::<[u8], _>((Bound::Included(name), Bound::Included(name)))
            .next();
        if let Some((k, c)) = found {
            c.seen_time = now_ms;
            return (k.clone(), false);
        }
        let k: Arc<[u8]> = Arc::from(name);
        self.consumers.insert(
            k.clone(),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        (k, true)
    }

    /// Gives the pending entry `id` to `to`, leaving its time and count to the caller.
    pub(crate) fn transfer(&mut self, id: StreamId, to: &Arc<[u8]>) {
        let Some(p) = self.pel.get_mut(&id) else {
            return;
        };
        if p.owner.as_ref().is_some_and(|o| **o == **to) {
            return;
        }
        if let Some(old) = p.owner.replace(to.clone()) {
            if let Some(c) = self.consumers.get_mut(&*old) {
                c.pel.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(&**to) {
            c.pel.insert(id);
        }
    }

    /// Removes the pending entry `id` from the group and its owner; returns it.
    pub(crate) fn remove_pending(&mut self, id: StreamId) -> Option<Pending> {
        let p = self.pel.remove(&id)?;
        if let Some(c) = p.owner.as_ref().and_then(|o| self.consumers.get_mut(&**o)) {
            c.pel.remove(&id);
        }
        Some(p)
    }

    /// XACK of one ID: whether it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        self.remove_pending(id).is_some()
    }

    /// XPENDING without a range.
    pub fn pending_summary(&self) -> PendingSummary<'_> {
        let bounds = match (self.pel.keys().next(), self.pel.keys().next_back()) {
            (Some(a), Some(b)) => Some((*a, *b)),
            _ => None,
        };
        let consumers = self
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(k, c)| (&**k, c.pel.len()))
            .collect();
        PendingSummary {
            count: self.pel.len(),
            bounds,
            consumers,
        }
    }

    /// XPENDING's extended form: up to `count` entries from `start` to `end` (inclusive), of
    /// one consumer if given (none at all if it does not exist), skipping entries idle for
    /// less than `min_idle_ms` when that is not 0 (skipped entries do not count).
    pub fn pending_range(
        &self,
        start: StreamId,
        end: StreamId,
        count: u64,
        min_idle_ms: i64,
        consumer: Option<&[u8]>,
        now_ms: i64,
    ) -> Vec<PendingView<'_>> {
        let mut out = Vec::new();
        if count == 0 || start > end {
            return out;
        }
        let ids: Box<dyn Iterator<Item = StreamId> + '_> = match consumer {
            Some(name) => match self.consumers.get(name) {
                Some(c) => Box::new(c.pel.range(start..=end).copied()),
                None => return out,
            },
            None => Box::new(self.pel.range(start..=end).map(|(k, _)| *k)),
        };
        for id in ids {
            let Some(p) = self.pel.get(&id) else { continue };
            let idle = now_ms.wrapping_sub(p.delivery_time);
            if min_idle_ms != 0 && idle < min_idle_ms {
                continue;
            }
            out.push(PendingView {
                id,
                consumer: p.consumer(),
                idle_ms: idle.max(0),
                delivery_count: p.delivery_count,
            });
            if out.len() as u64 == count {
                break;
            }
        }
        out
    }

    /// Loading: a pending entry of the group's list, its owner still unknown (RDB files list
    /// the group's entries first, then each consumer's IDs).
    pub fn load_pending(
        &mut self,
        id: StreamId,
        delivery_time: i64,
        delivery_count: u64,
    ) -> Result<(), Corrupt> {
        if self.pel.contains_key(&id) {
            return Err(Corrupt(
                "Duplicated global PEL entry loading stream consumer group",
            ));
        }
        self.pel.insert(
            id,
            Pending {
                delivery_time,
                delivery_count,
                owner: None,
            },
        );
        Ok(())
    }

    /// Loading: a consumer and its seen time.
    pub fn load_consumer(&mut self, name: &[u8], seen_time: i64) -> Result<(), Corrupt> {
        if !self.create_consumer(name, seen_time) {
            return Err(Corrupt("Duplicate stream consumer detected."));
        }
        Ok(())
    }

    /// Loading: one ID of a consumer's list, which must be pending in the group and not owned
    /// yet. (Redis would let a second consumer take it over and keep a dangling reference in
    /// the first; that is refused here.)
    pub fn load_consumer_pending(&mut self, consumer: &[u8], id: StreamId) -> Result<(), Corrupt> {
        let Some((name, _)) = self.consumers.get_key_value(consumer) else {
            return Err(Corrupt("Consumer entry not found in group global PEL"));
        };
        let name = name.clone();
        let p = self
            .pel
            .get_mut(&id)
            .ok_or(Corrupt("Consumer entry not found in group global PEL"))?;
        if p.owner.is_some() {
            return Err(Corrupt(
                "Duplicated consumer PEL entry loading a stream consumer group",
            ));
        }
        p.owner = Some(name.clone());
        if let Some(c) = self.consumers.get_mut(&*name) {
            c.pel.insert(id);
        }
        Ok(())
    }

    /// Loading, at the group's end: every pending entry must have found its owner (Redis's
    /// deep check; without it Redis would crash on the first XPENDING).
    pub fn check_loaded(&self) -> Result<(), Corrupt> {
        if self.pel.values().any(|p| p.owner.is_none()) {
            return Err(Corrupt("Stream CG PEL entry without consumer"));
        }
        Ok(())
    }

    /// Approximate heap bytes of the group.
    pub(crate) fn heap_bytes(&self) -> usize {
        // Ordered-map entries cost their key and value plus about half again in node overhead.
        let pel = self.pel.len() * (16 + std::mem::size_of::<Pending>()) * 3 / 2;
        let consumers: usize = self
            .consumers
            .iter()
            .map(|(k, c)| 16 + k.len() + std::mem::size_of::<Consumer>() + c.pel.len() * 16 * 3 / 2)
            .sum();
        std::mem::size_of::<Group>() + pel + consumers * 3 / 2
    }
}

impl Stream {
    /// XGROUP CREATE: `false` if the name is taken (BUSYGROUP). `entries_read` is -1 unless
    /// ENTRIESREAD was given.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups
            .insert(name.into(), Group::new(last_id, entries_read));
        true
    }

    /// XGROUP DESTROY: whether it existed.
    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// A group by name.
    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    /// A group by name, to change it (SETID, consumers, XACK).
    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    /// The groups by name, bytewise (XINFO GROUPS, the RDB writer).
    pub fn groups(&self) -> impl DoubleEndedIterator<Item = (&[u8], &Group)> + '_ {
        self.groups.iter().map(|(k, v)| (&**k, v))
    }

    /// Number of groups (XINFO STREAM's `groups`).
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Loading: a group (`streamCreateCG` from the RDB reader), duplicates refused.
    pub fn load_group(
        &mut self,
        name: &[u8],
        last_id: StreamId,
        entries_read: i64,
    ) -> Result<&mut Group, Corrupt> {
        if !self.create_group(name, last_id, entries_read) {
            return Err(Corrupt("Duplicated consumer group name"));
        }
        self.groups
            .get_mut(name)
            .ok_or(Corrupt("Duplicated consumer group name"))
    }

    /// The group's lag (`streamReplyWithCGLag`): entries added and not yet delivered, `None`
    /// (a nil reply) when tombstones make it unknowable.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        let added = self.meta.entries_added as i64;
        if self.meta.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(Some(g.last_id), None)
        {
            return Some(added.wrapping_sub(g.entries_read));
        }
        let read = self.estimate_entries_read(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| added.wrapping_sub(read))
    }
}
