//! Walking a stream's entries in ID order, either way, lazily (`streamIterator`).
//!
//! Why lazy: XRANGE with COUNT, XREAD and XINFO's first/last entry only need a few entries of
//! a stream that may hold millions; nothing here copies an entry until the caller asks.
//!
//! The walk follows Redis's `streamIteratorStart`/`streamIteratorGetID` to the letter (which
//! node it starts from, when it stops), because streams can legitimately hold entries out of
//! order (XSETID may lower the last ID below a tombstone, and the next XADD then appends a
//! smaller ID after it), and Redis's answers for such streams follow from those details.

use std::collections::btree_map;
use std::collections::BTreeMap;

use super::id::StreamId;
use super::listpack::{self as lp, Elem};
use super::node::{self, Master, RawEntry};
use crate::ThinVec;

/// The nodes of a stream, keyed by master ID (Redis's rax keyed by the big-endian ID).
pub(crate) type Nodes = BTreeMap<StreamId, ThinVec<u8>>;

/// One entry of a stream, borrowed from its node: its ID and a way to read its fields.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    node: &'a [u8],
    raw: RawEntry,
    master: Master,
}

impl<'a> Entry<'a> {
    /// The entry's ID.
    pub fn id(&self) -> StreamId {
        self.raw.id
    }

    /// Number of field/value pairs (a reply's array holds twice as many items).
    pub fn field_count(&self) -> u64 {
        self.raw.fields
    }

    /// The field/value pairs in order, read straight from the node.
    pub fn fields(&self) -> Fields<'a> {
        let names = if self.raw.same_fields() {
            Some(self.master.fields_pos)
        } else {
            None
        };
        Fields {
            node: self.node,
            names,
            pos: self.raw.data_pos,
            left: self.raw.fields,
        }
    }

    /// The pairs as owned vectors, for callers that keep them (tests, AOF rewriting).
    pub fn to_pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.fields()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect()
    }

    /// Position of the entry's flags in its node (where a deletion writes).
    pub(crate) fn flags_pos(&self) -> usize {
        self.raw.flags_pos
    }
}

/// Iterator over an entry's field/value pairs.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    node: &'a [u8],
    /// Next master field name, for entries that store only values.
    names: Option<usize>,
    pos: Option<usize>,
    left: u64,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (Elem<'a>, Elem<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let field = match self.names {
            Some(n) => {
                self.names = lp::next(self.node, n);
                lp::get(self.node, n)?
            }
            None => {
                let p = self.pos?;
                self.pos = lp::next(self.node, p);
                lp::get(self.node, p)?
            }
        };
        let p = self.pos?;
        self.pos = lp::next(self.node, p);
        Some((field, lp::get(self.node, p)?))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, usize::try_from(self.left).ok())
    }
}

/// The node being walked.
struct Cursor<'a> {
    key: StreamId,
    node: &'a [u8],
    master: Master,
    /// Forward: flags of the next entry to look at. Backward: lp-count of the next entry to look
    /// at (the master's terminator once the node is done).
    pos: Option<usize>,
}

/// Lazy walk over the live entries between two IDs (both inclusive), forward or backward.
pub struct Range<'a> {
    nodes: btree_map::Range<'a, StreamId, ThinVec<u8>>,
    cur: Option<Cursor<'a>>,
    start: StreamId,
    end: StreamId,
    rev: bool,
    skip_tombstones: bool,
    done: bool,
}

impl<'a> Range<'a> {
    /// Starts a walk as `streamIteratorStart` seeks: forward from the last node whose master ID
    /// is at most `start` (the first node if none, or if `start` is 0-0); backward from the last
    /// node whose master ID is at most `end` (the last node if none, or if `end` is 0-0).
    pub(crate) fn new(nodes: &'a Nodes, start: StreamId, end: StreamId, rev: bool) -> Self {
        let seek = if rev { end } else { start };
        let from = if seek.is_zero() {
            None
        } else {
            nodes.range(..=seek).next_back().map(|(k, _)| *k)
        };
        let iter = match (from, rev) {
            (Some(k), false) => nodes.range(k..),
            (Some(k), true) => nodes.range(..=k),
            (None, _) => nodes.range(..),
        };
        Range {
            nodes: iter,
            cur: None,
            start,
            end,
            rev,
            skip_tombstones: true,
            done: false,
        }
    }

    /// Makes the walk return tombstones too (`streamGetEdgeID` without skipping).
    pub(crate) fn with_tombstones(mut self) -> Self {
        self.skip_tombstones = false;
        self
    }

    /// Moves to the next node; `false` when there is none.
    fn next_node(&mut self) -> bool {
        let next = if self.rev {
            self.nodes.next_back()
        } else {
            self.nodes.next()
        };
        let Some((key, node)) = next else {
            return false;
        };
        let Some(master) = node::master(node) else {
            // Cannot happen for a validated node: treat it as an empty one.
            self.cur = Some(Cursor {
                key: *key,
                node,
                master: EMPTY,
                pos: None,
            });
            return true;
        };
        let pos = if self.rev {
            lp::last(node)
        } else {
            master.first_entry
        };
        self.cur = Some(Cursor {
            key: *key,
            node,
            master,
            pos,
        });
        true
    }

    /// The next entry in walking order with the node it sits in, tombstones included when asked.
    pub(crate) fn next_raw(&mut self) -> Option<(StreamId, Entry<'a>)> {
        if self.done {
            return None;
        }
        loop {
            let cur = match &mut self.cur {
                Some(c) if c.pos.is_some() => c,
                _ => {
                    if !self.next_node() {
                        self.done = true;
                        return None;
                    }
                    continue;
                }
            };
            let p = cur.pos?;
            let flags_pos = if self.rev {
                match node::entry_start(cur.node, p) {
                    Some(f) => f,
                    None => {
                        cur.pos = None;
                        continue;
                    }
                }
            } else {
                p
            };
            let Some(raw) = node::entry_at(cur.node, &cur.master, cur.key, flags_pos) else {
                cur.pos = None;
                continue;
            };
            cur.pos = if self.rev {
                lp::prev(cur.node, flags_pos)
            } else {
                raw.next
            };
            let id = raw.id;
            let visible = !self.skip_tombstones || !raw.deleted();
            let entry = Entry {
                node: cur.node,
                raw,
                master: cur.master,
            };
            let key = cur.key;
            if !self.rev {
                if id >= self.start && visible {
                    if id > self.end {
                        self.done = true;
                        return None;
                    }
                    return Some((key, entry));
                }
            } else if id <= self.end && visible {
                if id < self.start {
                    self.done = true;
                    return None;
                }
                return Some((key, entry));
            }
        }
    }
}

/// Stand-in for a node whose master entry does not parse.
const EMPTY: Master = Master {
    count: 0,
    deleted: 0,
    fields: 0,
    fields_pos: 0,
    first_entry: None,
};

impl<'a> Iterator for Range<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        self.next_raw().map(|(_, e)| e)
    }
}
