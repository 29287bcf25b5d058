//! Adopting a stream from an RDB file or DUMP payload, and the stream's sizes for XINFO and
//! MEMORY USAGE.
//!
//! Why every node is checked in full, whatever `sanitize-dump-payload` says: Redis's shallow
//! mode trusts a node's inside and may crash on it later; here a node's bytes are walked by
//! code that must never read out of bounds or panic, so a node is adopted only after the
//! checks of Redis's deep mode (`streamValidateListpackIntegrity`) and a few more (see
//! `node::validate`). The group-level checks are in `group.rs` (`Group::load_*`).

use super::id::StreamId;
use super::node;
use super::{Stream, StreamMeta};

/// A stream in a file is damaged. The text is what Redis logs for the same damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Corrupt(pub &'static str);

impl Stream {
    /// Loading: adopts one node (its master ID and listpack bytes as the file has them) after
    /// checking it. Refused: a damaged node, an empty one (Redis's "Empty listpack inside
    /// stream"), a node without entries or with counts that disagree with its entries, and a
    /// second node with the same master ID. Nodes may come in any order, as in Redis.
    pub fn load_node(&mut self, master: StreamId, listpack: &[u8]) -> Result<(), Corrupt> {
        node::validate(listpack).map_err(Corrupt)?;
        if self.nodes.contains_key(&master) {
            return Err(Corrupt("Listpack re-added with existing key"));
        }
        self.nodes.insert(master, listpack.into());
        Ok(())
    }

    /// Loading, after the nodes: the bookkeeping of an RDB 7.0 stream
    /// (`RDB_TYPE_STREAM_LISTPACKS_2`). The length must be the nodes' live entries (Redis only
    /// refuses a length without nodes; a file it wrote always agrees).
    pub fn load_meta(&mut self, meta: StreamMeta) -> Result<(), Corrupt> {
        if meta.length != 0 && self.nodes.is_empty() {
            return Err(Corrupt("Stream length inconsistent with rax entries"));
        }
        let live: u64 = self
            .nodes
            .values()
            .map(|n| node::master(n).map_or(0, |m| m.count as u64))
            .sum();
        if live != meta.length {
            return Err(Corrupt("Stream length inconsistent with rax entries"));
        }
        self.meta = meta;
        Ok(())
    }

    /// Loading a stream of a file older than 7.0 (`RDB_TYPE_STREAM_LISTPACKS`): only the
    /// length and last ID are stored, the rest is derived as Redis derives it (entries added =
    /// length, no deletion known, the first ID found by a walk, which gives the largest ID for
    /// a stream without live entries). Groups of such files take their read counter from
    /// [`Stream::estimate_entries_read`].
    pub fn load_meta_v1(&mut self, length: u64, last_id: StreamId) -> Result<(), Corrupt> {
        let first_id = self.edge_id(true, true);
        self.load_meta(StreamMeta {
            length,
            last_id,
            first_id,
            max_deleted_entry_id: StreamId::MIN,
            entries_added: length,
        })
    }

    /// Redis's rax node count for this stream's node keys (XINFO STREAM's `radix-tree-nodes`).
    ///
    /// Why it can be computed: the keys are all 16 bytes, so only leaves are keys, and Redis's
    /// insertions and deletions (with their recompression) always leave the canonical radix
    /// tree: one node per branching point, one per maximal non-branching run of bytes (compressed
    /// or not), one per key, and just the head when empty. Checked against 7.0.15 on random
    /// streams with deletions and trims.
    pub fn rax_node_count(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        count_nodes(&keys, 0)
    }

    /// Approximate heap bytes of the stream (MEMORY USAGE, lazy-free decisions): node buffers,
    /// the ordered map's share per node, and the groups.
    pub fn heap_bytes(&self) -> usize {
        // A node costs its buffer (capacity plus the thin vector's header) and its map slot (key
        // and pointer, with about half again for the map's inner nodes).
        let nodes: usize = self
            .nodes
            .values()
            .map(|n| n.capacity() + 16 + (16 + 8) * 3 / 2)
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(k, g)| k.len() + 16 + g.heap_bytes())
            .sum();
        std::mem::size_of::<Stream>() + nodes + groups
    }
}

/// Nodes of the canonical radix tree holding the sorted, distinct `keys` from byte `depth` on.
fn count_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    if depth == 16 {
        return 1;
    }
    let (Some(lo), Some(hi)) = (keys.first(), keys.last()) else {
        return 0;
    };
    let common = (depth..16).take_while(|&i| lo[i] == hi[i]).count();
    if common > 0 {
        return 1 + count_nodes(keys, depth + common);
    }
    let mut total = 1;
    let mut rest = keys;
    while let Some(first) = rest.first() {
        let n = rest.iter().take_while(|k| k[depth] == first[depth]).count();
        total += count_nodes(&rest[..n], depth + 1);
        rest = &rest[n..];
    }
    total
}
