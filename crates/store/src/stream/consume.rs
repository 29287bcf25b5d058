//! What consumer groups do with the stream's entries: XREADGROUP's deliveries (new entries and
//! a consumer's history), XCLAIM and XAUTOCLAIM (`streamReplyWithRange` with a group,
//! `streamReplyWithRangeFromConsumerPEL`, `xclaimCommand`, `xautoclaimCommand` of 7.0.15).
//!
//! Why callbacks: the entries go straight from the nodes into the caller's reply (no copy, and
//! a group read of a long stream is never materialized), while the group changes as each entry
//! goes out. The outcome structs tell the command what Redis would propagate or notify.

use std::collections::btree_map::Entry as MapEntry;
use std::ops::Bound;
use std::sync::Arc;

use super::group::{Group, Pending, INVALID_ENTRIES_READ};
use super::id::StreamId;
use super::range::{Entry, Range};
use super::Stream;

/// What a delivery of new entries did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Entries handed out.
    pub delivered: usize,
    /// The consumer did not exist and was created (`xgroup-createconsumer`; with NOACK Redis
    /// propagates `XGROUP CREATECONSUMER`).
    pub consumer_created: bool,
    /// The group's last ID moved (with NOACK Redis propagates `XGROUP SETID … ENTRIESREAD`;
    /// without, each entry goes out as `XCLAIM … 0 <id> TIME <now> RETRYCOUNT 1 FORCE JUSTID
    /// LASTID <id>` naming this consumer).
    pub last_id_changed: bool,
}

/// What a history read did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// IDs reported (found or not).
    pub emitted: usize,
    /// The consumer did not exist and was created.
    pub consumer_created: bool,
}

/// XCLAIM's options, as the command parsed them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClaimArgs {
    /// `min-idle-time` (negative counts as 0).
    pub min_idle_ms: i64,
    /// The new delivery time: `now - IDLE` (wrapping) or TIME's value; `None` for now. A value
    /// below 0 or after now is replaced by now, as Redis does.
    pub delivery_time: Option<i64>,
    /// RETRYCOUNT; `None` when not given or negative (Redis ignores negative counts).
    pub retry_count: Option<u64>,
    /// FORCE: create the pending entry if missing (when the stream entry exists).
    pub force: bool,
    /// JUSTID: report IDs only, and do not count a delivery.
    pub justid: bool,
    /// LASTID: raise the group's last ID to this.
    pub last_id: Option<StreamId>,
}

/// One effect of XCLAIM or XAUTOCLAIM, in order. Redis propagates each as an XCLAIM of the ID
/// to the named consumer with `TIME <delivery_time> RETRYCOUNT <delivery_count> FORCE JUSTID
/// LASTID <group last ID>`.
#[derive(Clone, Copy, Debug)]
pub enum ClaimEvent<'a> {
    /// The entry now belongs to the claiming consumer. `entry` is `None` under JUSTID.
    Claimed {
        /// The ID.
        id: StreamId,
        /// The entry, for the reply.
        entry: Option<Entry<'a>>,
        /// Its delivery time now.
        delivery_time: i64,
        /// Its delivery count now.
        delivery_count: u64,
    },
    /// The entry was deleted from the stream, so its pending entry was dropped.
    Dropped {
        /// The ID.
        id: StreamId,
        /// Who owned it.
        consumer: &'a [u8],
        /// Its last delivery time.
        delivery_time: i64,
        /// Its delivery count.
        delivery_count: u64,
    },
}

/// What XCLAIM did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Claimed {
    /// Entries claimed (the reply's length).
    pub claimed: usize,
    /// Pending entries dropped because their stream entry is gone.
    pub dropped: usize,
    /// The claiming consumer was created.
    pub consumer_created: bool,
    /// LASTID moved the group's last ID. Redis propagates `XGROUP SETID` for it only when no
    /// XCLAIM was propagated (`claimed + dropped == 0`).
    pub last_id_changed: bool,
}

/// What XAUTOCLAIM did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoClaim {
    /// The cursor for the next call: the first pending ID after the last one looked at, 0-0
    /// when the scan reached the end.
    pub next: StreamId,
    /// IDs dropped from the pending list because their entries are gone (the reply's third
    /// element).
    pub deleted: Vec<StreamId>,
    /// Entries claimed.
    pub claimed: usize,
    /// The claiming consumer was created.
    pub consumer_created: bool,
}

/// The claiming consumer, looked up (and refreshed, or created) at the first claim only.
fn claimer(
    g: &mut Group,
    name: &mut Option<Arc<[u8]>>,
    consumer: &[u8],
    now_ms: i64,
    created: &mut bool,
) -> Arc<[u8]> {
    if let Some(n) = name {
        return n.clone();
    }
    let (n, c) = g.consumer_for(consumer, now_ms);
    *created = c;
    *name = Some(n.clone());
    n
}

impl Stream {
    /// XREADGROUP with `>` (also serving a blocked one): delivers live entries from `start`
    /// (the group's last ID plus one) to the end, at most `count` (0: no limit), to `consumer`
    /// (created if missing, its seen time refreshed), moving the group's last ID and read
    /// counter as Redis does and, unless `noack`, recording each entry as pending for this
    /// consumer (taking it from another owner if needed). `None` if there is no such group.
    ///
    /// When to call is the command's decision, as in Redis: XREADGROUP serves at once only if
    /// the stream is not empty and [`Stream::last_valid_id`] is above the group's last ID (no
    /// consumer is created otherwise); a blocked reader is served when [`Stream::last_id`] is.
    #[allow(clippy::too_many_arguments)]
    pub fn deliver(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        count: usize,
        noack: bool,
        now_ms: i64,
        mut emit: impl FnMut(Entry<'_>),
    ) -> Option<Delivery> {
        let Stream {
            nodes,
            meta,
            groups,
        } = self;
        let g = groups.get_mut(group)?;
        let (name, created) = g.consumer_for(consumer, now_ms);
        let mut out = Delivery {
            consumer_created: created,
            ..Delivery::default()
        };
        for e in Range::new(nodes, start, StreamId::MAX, false) {
            let id = e.id();
            if id > g.last_id {
                if g.entries_read != INVALID_ENTRIES_READ
                    && !meta.range_has_tombstones(Some(id), None)
                {
                    g.entries_read = g.entries_read.wrapping_add(1);
                } else if meta.entries_added != 0 {
                    g.entries_read = meta.estimate_entries_read(id);
                }
                g.last_id = id;
                out.last_id_changed = true;
            }
            emit(e);
            if !noack {
                match g.pel.entry(id) {
                    MapEntry::Vacant(v) => {
                        v.insert(Pending {
                            delivery_time: now_ms,
                            delivery_count: 1,
                            owner: Some(name.clone()),
                        });
                        if let Some(c) = g.consumers.get_mut(&*name) {
                            c.pel.insert(id);
                        }
                    }
                    MapEntry::Occupied(mut o) => {
                        let p = o.get_mut();
                        p.delivery_time = now_ms;
                        p.delivery_count = 1;
                        g.transfer(id, &name);
                    }
                }
            }
            out.delivered += 1;
            if count != 0 && out.delivered == count {
                break;
            }
        }
        Some(out)
    }

    /// XREADGROUP with an ID: the consumer's own pending entries from `start`, at most `count`
    /// (0: no limit). Each is reported with its entry, or `None` when the entry was deleted
    /// since (the reply then has a nil for it); found ones count as delivered again (time and
    /// count updated). The consumer is created if missing. `None` if there is no such group.
    pub fn read_history(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        count: usize,
        now_ms: i64,
        mut emit: impl FnMut(StreamId, Option<Entry<'_>>),
    ) -> Option<History> {
        let Stream { nodes, groups, .. } = self;
        let g = groups.get_mut(group)?;
        let (name, created) = g.consumer_for(consumer, now_ms);
        let mut out = History {
            emitted: 0,
            consumer_created: created,
        };
        let Group { pel, consumers, .. } = g;
        let c = consumers.get(&*name)?;
        for &id in c.pel.range(start..) {
            if count != 0 && out.emitted >= count {
                break;
            }
            match Range::new(nodes, id, id, false).next() {
                Some(e) => {
                    emit(id, Some(e));
                    if let Some(p) = pel.get_mut(&id) {
                        p.delivery_time = now_ms;
                        p.delivery_count = p.delivery_count.wrapping_add(1);
                    }
                }
                None => emit(id, None),
            }
            out.emitted += 1;
        }
        Some(out)
    }

    /// XCLAIM after its parsing: for each of `ids` in order, drops the pending entry if the
    /// stream entry is gone, else (creating it under FORCE) gives it to `consumer` when idle
    /// long enough, with the delivery time and count the options say. `None` if there is no
    /// such group.
    #[allow(clippy::too_many_arguments)]
    pub fn claim(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        args: &ClaimArgs,
        now_ms: i64,
        mut emit: impl FnMut(ClaimEvent<'_>),
    ) -> Option<Claimed> {
        let Stream { nodes, groups, .. } = self;
        let g = groups.get_mut(group)?;
        let mut out = Claimed::default();
        if let Some(l) = args.last_id {
            if l > g.last_id {
                g.last_id = l;
                out.last_id_changed = true;
            }
        }
        let min_idle = args.min_idle_ms.max(0);
        let time = match args.delivery_time {
            Some(t) if (0..=now_ms).contains(&t) => t,
            _ => now_ms,
        };
        let mut name = None;
        for &id in ids {
            let Some(entry) = Range::new(nodes, id, id, false).next() else {
                if let Some(p) = g.remove_pending(id) {
                    emit(ClaimEvent::Dropped {
                        id,
                        consumer: p.consumer(),
                        delivery_time: p.delivery_time,
                        delivery_count: p.delivery_count,
                    });
                    out.dropped += 1;
                }
                continue;
            };
            if args.force && !g.pel.contains_key(&id) {
                g.pel.insert(
                    id,
                    Pending {
                        delivery_time: now_ms,
                        delivery_count: 1,
                        owner: None,
                    },
                );
            }
            let Some(p) = g.pel.get(&id) else { continue };
            if p.owner.is_some() && min_idle != 0 && now_ms.wrapping_sub(p.delivery_time) < min_idle
            {
                continue;
            }
            let to = claimer(g, &mut name, consumer, now_ms, &mut out.consumer_created);
            g.transfer(id, &to);
            let Some(p) = g.pel.get_mut(&id) else {
                continue;
            };
            p.delivery_time = time;
            if let Some(r) = args.retry_count {
                p.delivery_count = r;
            } else if !args.justid {
                p.delivery_count = p.delivery_count.wrapping_add(1);
            }
            let (delivery_time, delivery_count) = (p.delivery_time, p.delivery_count);
            let entry = (!args.justid).then_some(entry);
            emit(ClaimEvent::Claimed {
                id,
                entry,
                delivery_time,
                delivery_count,
            });
            out.claimed += 1;
        }
        Some(out)
    }

    /// XAUTOCLAIM after its parsing: scans the group's pending list from `start`, looking at
    /// no more than `count × 10` entries (7.0's attempts limit) and stopping after `count`
    /// claimed or dropped; entries idle for at least `min_idle_ms` go to `consumer` (delivery
    /// time now, count + 1 unless `justid`), entries deleted from the stream are dropped.
    /// `None` if there is no such group.
    #[allow(clippy::too_many_arguments)]
    pub fn autoclaim(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        count: u64,
        min_idle_ms: i64,
        justid: bool,
        now_ms: i64,
        mut emit: impl FnMut(ClaimEvent<'_>),
    ) -> Option<AutoClaim> {
        let Stream { nodes, groups, .. } = self;
        let g = groups.get_mut(group)?;
        let mut out = AutoClaim::default();
        let min_idle = min_idle_ms.max(0);
        let mut attempts = count.saturating_mul(10);
        let mut left = count;
        let mut lower = Bound::Included(start);
        let mut eof = false;
        let mut name = None;
        loop {
            if attempts == 0 {
                break;
            }
            attempts -= 1;
            if left == 0 {
                break;
            }
            let Some((&id, p)) = g.pel.range((lower, Bound::Unbounded)).next() else {
                eof = true;
                break;
            };
            lower = Bound::Excluded(id);
            let idle = now_ms.wrapping_sub(p.delivery_time);
            let Some(entry) = Range::new(nodes, id, id, false).next() else {
                if let Some(p) = g.remove_pending(id) {
                    emit(ClaimEvent::Dropped {
                        id,
                        consumer: p.consumer(),
                        delivery_time: p.delivery_time,
                        delivery_count: p.delivery_count,
                    });
                }
                out.deleted.push(id);
                left -= 1;
                continue;
            };
            if min_idle != 0 && idle < min_idle {
                continue;
            }
            let to = claimer(g, &mut name, consumer, now_ms, &mut out.consumer_created);
            g.transfer(id, &to);
            let Some(p) = g.pel.get_mut(&id) else {
                continue;
            };
            p.delivery_time = now_ms;
            if !justid {
                p.delivery_count = p.delivery_count.wrapping_add(1);
            }
            let (delivery_time, delivery_count) = (p.delivery_time, p.delivery_count);
            let entry = (!justid).then_some(entry);
            emit(ClaimEvent::Claimed {
                id,
                entry,
                delivery_time,
                delivery_count,
            });
            out.claimed += 1;
            left -= 1;
        }
        if !eof {
            out.next = g
                .pel
                .range((lower, Bound::Unbounded))
                .next()
                .map_or(StreamId::MIN, |(k, _)| *k);
        }
        Some(out)
    }
}
