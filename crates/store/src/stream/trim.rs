//! Trimming from the oldest entries (`streamTrim` of Redis 7.0.15): XTRIM, and XADD's
//! MAXLEN/MINID.
//!
//! Why a faithful copy of Redis's loop rather than "drop entries until": the `~` form removes
//! whole nodes only and LIMIT counts whole nodes' entries, so which entries remain depends on
//! node boundaries, and replicas and AOF files (which get the rewritten exact argument) must
//! agree with what the reply said.

use super::id::StreamId;
use super::node;
use super::{Stream, Trim};

impl Stream {
    /// Trims from the oldest entries (`streamTrim`), returning how many entries went. With
    /// `approx` only whole nodes go; `limit` (0 for none) caps the entries removed, counted
    /// per whole node before it goes. Without `approx`, the node that straddles the target
    /// is trimmed by marking its entries deleted. The command computes `limit` (Redis's
    /// default for `~` is 100 × `stream-node-max-entries`, clamped to 10000..=1000000).
    pub fn trim(&mut self, strategy: Trim, approx: bool, limit: u64) -> u64 {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut deleted: i64 = 0;
        loop {
            if let Trim::MaxLen(max) = strategy {
                if self.meta.length <= max {
                    break;
                }
            }
            let Some(mut first) = self.nodes.first_entry() else {
                break;
            };
            let key = *first.key();
            let Some(m) = node::master(first.get()) else {
                break;
            };
            let entries = m.count;
            if limit != 0 && deleted.wrapping_add(entries) > limit {
                break;
            }
            let remove = match strategy {
                Trim::MaxLen(max) => self.meta.length.wrapping_sub(entries as u64) >= max,
                Trim::MinId(min) => node::last_entry_id(first.get(), key).is_some_and(|l| l < min),
            };
            if remove {
                first.remove();
                self.meta.length = self.meta.length.wrapping_sub(entries as u64);
                deleted = deleted.wrapping_add(entries);
                continue;
            }
            if approx {
                break;
            }
            let node = first.get_mut();
            let mut from_node = 0i64;
            let mut p = m.first_entry;
            while let Some(pos) = p {
                let Some(e) = node::entry_at(node, &m, key, pos) else {
                    break;
                };
                let stop = match strategy {
                    Trim::MaxLen(max) => self.meta.length <= max,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                let mut next = e.next;
                if !e.deleted() {
                    let delta = node::mark_deleted(node, e.flags_pos);
                    next = next.map(|n| n.wrapping_add_signed(delta));
                    from_node += 1;
                    self.meta.length = self.meta.length.saturating_sub(1);
                }
                p = next;
            }
            deleted += from_node;
            node::set_counts(node, entries - from_node, m.deleted.wrapping_add(from_node));
            break;
        }
        if self.meta.length == 0 {
            self.meta.first_id = StreamId::MIN;
        } else if deleted != 0 {
            self.meta.first_id = self.edge_id(true, true);
        }
        deleted as u64
    }
}
