//! `QuickList`: the list value, a deque of packed nodes like Redis's quicklist of listpacks.
//!
//! Each node packs its elements back to back as `varint length + bytes` in one allocation, so a
//! short element costs its length plus one or two bytes — about what a Redis listpack entry
//! costs — instead of a pointer and a header per element. A node holds at most
//! `list-max-listpack-size` worth of data (negative: a byte limit of 4–64 KiB; positive: an
//! element count), so an edit rewrites at most one small node.
//!
//! Redis 7.0 reports every list as `quicklist` (listpack-encoded small lists came later).
//!
//! `list-compress-depth` N > 0 keeps N nodes at each end plain and LZF-compresses the nodes
//! between them, as Redis does (only nodes of at least 48 bytes, and only when that saves at
//! least 8 bytes). A compressed node is decompressed in place before it is changed, and read
//! through a temporary copy; pushes and pops at the ends never touch compressed nodes.

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::list_node::{encoded_len, Node};

/// How full a node may get, from `list-max-listpack-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeLimit {
    /// At most this many bytes of packed data per node.
    Bytes(usize),
    /// At most this many elements per node.
    Count(usize),
}

/// The shape of a list's nodes: how full they get (`list-max-listpack-size`) and how many at
/// each end stay uncompressed (`list-compress-depth`, 0 = none compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub limit: NodeLimit,
    pub compress_depth: usize,
}

/// Byte cap for positive fills too (Redis's `SIZE_SAFETY_LIMIT`), so a node never grows huge.
const SAFETY_BYTES: usize = 8192;

impl Fill {
    /// `list-max-listpack-size`: -1..-5 mean 4, 8, 16, 32, 64 KiB; positive values a count.
    pub fn from_config(v: i64) -> Fill {
        let limit = match v {
            v if v > 0 => NodeLimit::Count(v as usize),
            v => NodeLimit::Bytes(4096 << ((-v).clamp(1, 5) - 1)),
        };
        Fill {
            limit,
            compress_depth: 0,
        }
    }

    /// With `list-compress-depth` `depth`.
    pub fn with_compress_depth(self, depth: usize) -> Fill {
        Fill {
            compress_depth: depth,
            ..self
        }
    }

    fn allows(self, node: &Node, extra_bytes: usize) -> bool {
        let bytes = node.buf.len() + extra_bytes;
        match self.limit {
            NodeLimit::Bytes(limit) => bytes <= limit,
            NodeLimit::Count(n) => (node.count as usize) < n && bytes <= SAFETY_BYTES,
        }
    }

    fn is_over(self, node: &Node) -> bool {
        match self.limit {
            NodeLimit::Bytes(limit) => node.buf.len() > limit,
            NodeLimit::Count(c) => node.count as usize > c || node.buf.len() > SAFETY_BYTES,
        }
    }
}

impl Default for Fill {
    fn default() -> Self {
        Fill::from_config(-2)
    }
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

/// A list of byte strings.
#[derive(Clone, Debug, Default)]
pub struct QuickList {
    nodes: VecDeque<Node>,
    len: usize,
    /// `list-compress-depth` as of the last edit that was given it (pops are not).
    compress_depth: u16,
}

impl QuickList {
    pub fn new() -> Self {
        QuickList::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the nodes (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.buf.capacity() + 32).sum()
    }

    /// Room for one more node, growing by a quarter: most lists are one node, and a
    /// `VecDeque`'s default growth would give a one-node list room for four (96 bytes).
    fn reserve_node(&mut self) {
        if self.nodes.len() == self.nodes.capacity() {
            self.nodes.reserve_exact((self.nodes.len() / 4).max(1));
        }
    }

    pub fn push(&mut self, end: End, elem: &[u8], fill: Fill) {
        let extra = encoded_len(elem);
        let end_node = match end {
            End::Head => 0,
            End::Tail => self.nodes.len().wrapping_sub(1),
        };
        if let Some(n) = self.nodes.get_mut(end_node) {
            n.decompress();
        }
        let node = self.nodes.get_mut(end_node);
        match node {
            Some(n) if fill.allows(n, extra) => match end {
                End::Head => n.prepend(elem),
                End::Tail => n.append(elem),
            },
            _ => {
                let n = Node::from_elems(std::iter::once(elem));
                self.reserve_node();
                match end {
                    End::Head => self.nodes.push_front(n),
                    End::Tail => self.nodes.push_back(n),
                }
            }
        }
        self.len += 1;
        self.compress_inner(fill.compress_depth, &[]);
    }

    /// Keep `depth` nodes at each end plain and compress the nodes just inside them, plus the
    /// inner nodes in `touched` (just edited). Nodes further in were compressed when they
    /// crossed that line, so this is O(depth) per edit, as in Redis.
    fn compress_inner(&mut self, depth: usize, touched: &[usize]) {
        self.compress_depth = depth.min(usize::from(u16::MAX)) as u16;
        let n = self.nodes.len();
        if depth == 0 {
            return;
        }
        if n <= 2 * depth {
            // Every node is within `depth` of an end.
            self.nodes.iter_mut().for_each(Node::decompress);
            return;
        }
        for i in 0..depth {
            self.nodes[i].decompress();
            self.nodes[n - 1 - i].decompress();
        }
        self.nodes[depth].compress();
        self.nodes[n - 1 - depth].compress();
        for &t in touched {
            if t >= depth && t < n - depth {
                self.nodes[t].compress();
            }
        }
    }

    /// Node `n`, decompressed for an edit.
    fn plain_mut(&mut self, n: usize) -> &mut Node {
        let node = &mut self.nodes[n];
        node.decompress();
        node
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let v = match end {
            End::Head => {
                let node = self.nodes.front_mut()?;
                node.decompress();
                let v = node.pop_front();
                if node.count == 0 {
                    self.nodes.pop_front();
                }
                v
            }
            End::Tail => {
                let node = self.nodes.back_mut()?;
                node.decompress();
                let v = node.pop_back();
                if node.count == 0 {
                    self.nodes.pop_back();
                }
                v
            }
        }?;
        self.len -= 1;
        // A pop can bring a compressed node to the end.
        self.compress_inner(usize::from(self.compress_depth), &[]);
        Some(v)
    }

    /// Node index and position inside it of element `index`.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        // Walk from the nearer end.
        if index < self.len / 2 {
            let mut left = index;
            for (i, n) in self.nodes.iter().enumerate() {
                if left < n.count as usize {
                    return Some((i, left));
                }
                left -= n.count as usize;
            }
        } else {
            let mut right = self.len - 1 - index;
            for (i, n) in self.nodes.iter().enumerate().rev() {
                if right < n.count as usize {
                    return Some((i, n.count as usize - 1 - right));
                }
                right -= n.count as usize;
            }
        }
        None
    }

    pub fn get(&self, index: usize) -> Option<Cow<'_, [u8]>> {
        let (n, i) = self.locate(index)?;
        let node = &self.nodes[n];
        if node.is_compressed() {
            return node.elems(false).nth(i).map(|e| Cow::Owned(e.into_owned()));
        }
        Some(Cow::Borrowed(node.get(i)))
    }

    /// Elements from `start` on, head to tail.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        let (first_node, skip) = self.locate(start).unwrap_or((self.nodes.len(), 0));
        self.nodes
            .iter()
            .skip(first_node)
            .flat_map(|n| n.elems(false))
            .skip(skip)
    }

    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        self.nodes.iter().flat_map(|n| n.elems(false))
    }

    /// The elements node by node, head to tail (an RDB file keeps the node boundaries).
    pub fn nodes(&self) -> impl Iterator<Item = Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_>> + '_ {
        self.nodes.iter().map(|n| n.elems(false))
    }

    /// Elements from the tail towards the head.
    pub fn iter_rev(&self) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        self.nodes.iter().rev().flat_map(|n| n.elems(true))
    }

    /// How many nodes are compressed (for tests and memory statistics).
    pub fn compressed_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_compressed()).count()
    }

    /// Replace element `index`. Returns false if out of range.
    pub fn set(&mut self, index: usize, elem: &[u8], fill: Fill) -> bool {
        let Some((n, i)) = self.locate(index) else {
            return false;
        };
        self.plain_mut(n).splice(i, i + 1, &[elem]);
        self.split_if_needed(n, fill);
        true
    }

    /// Insert `elem` before position `index` (`index == len()` appends).
    pub fn insert(&mut self, index: usize, elem: &[u8], fill: Fill) {
        if index == 0 {
            return self.push(End::Head, elem, fill);
        }
        if index >= self.len {
            return self.push(End::Tail, elem, fill);
        }
        let Some((n, i)) = self.locate(index) else {
            return;
        };
        self.plain_mut(n).splice(i, i, &[elem]);
        self.len += 1;
        self.split_if_needed(n, fill);
    }

    /// Remove element `index`.
    pub fn remove_at(&mut self, index: usize) {
        let Some((n, i)) = self.locate(index) else {
            return;
        };
        self.plain_mut(n).splice(i, i + 1, &[]);
        self.len -= 1;
        if self.nodes[n].count == 0 {
            self.nodes.remove(n);
            self.compress_inner(usize::from(self.compress_depth), &[]);
        } else {
            self.compress_inner(usize::from(self.compress_depth), &[n]);
        }
    }

    /// Keep only elements `[start, end]` (inclusive; the caller clamped them).
    pub fn keep_range(&mut self, start: usize, end: usize, fill: Fill) {
        if start > end || start >= self.len {
            *self = QuickList::default();
            return;
        }
        let kept: Vec<Vec<u8>> = self
            .iter_from(start)
            .take(end - start + 1)
            .map(Cow::into_owned)
            .collect();
        *self = QuickList::from_elems(kept.iter().map(Vec::as_slice), fill);
    }

    pub fn from_elems<'a>(elems: impl Iterator<Item = &'a [u8]>, fill: Fill) -> QuickList {
        let mut l = QuickList::default();
        for e in elems {
            l.push(End::Tail, e, fill);
        }
        l
    }

    fn split_if_needed(&mut self, n: usize, fill: Fill) {
        let node = &self.nodes[n];
        if !fill.is_over(node) || node.count < 2 {
            self.compress_inner(fill.compress_depth, &[n]);
            return;
        }
        let elems: Vec<Vec<u8>> = node.iter().map(<[u8]>::to_vec).collect();
        let half = elems.len() / 2;
        let a = Node::from_elems(elems[..half].iter().map(Vec::as_slice));
        let b = Node::from_elems(elems[half..].iter().map(Vec::as_slice));
        self.nodes[n] = a;
        self.reserve_node();
        self.nodes.insert(n + 1, b);
        self.compress_inner(fill.compress_depth, &[n, n + 1]);
    }

    /// Number of nodes (for tests and memory statistics).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_check(l: &QuickList, model: &VecDeque<Vec<u8>>) {
        assert_eq!(l.len(), model.len());
        let got: Vec<Vec<u8>> = l.iter().map(Cow::into_owned).collect();
        assert_eq!(got, model.iter().cloned().collect::<Vec<_>>());
        let rev: Vec<Vec<u8>> = l.iter_rev().map(Cow::into_owned).collect();
        assert_eq!(rev, model.iter().rev().cloned().collect::<Vec<_>>());
        for (i, m) in model.iter().enumerate() {
            assert_eq!(l.get(i).as_deref(), Some(m.as_slice()));
        }
        if l.len() > 2 {
            let from: Vec<Vec<u8>> = l.iter_from(1).map(Cow::into_owned).collect();
            assert_eq!(from, model.iter().skip(1).cloned().collect::<Vec<_>>());
        }
    }

    #[test]
    fn behaves_like_a_deque_across_many_nodes() {
        for depth in [0, 1, 2] {
            deque_model(depth);
        }
    }

    /// Random pushes, pops, inserts and sets against a `VecDeque`, with `depth` nodes at each
    /// end left uncompressed (0: no compression).
    fn deque_model(depth: usize) {
        let fill = Fill {
            limit: NodeLimit::Count(4),
            compress_depth: depth,
        };
        let mut saw_compressed = false;
        let mut l = QuickList::new();
        let mut model = VecDeque::new();
        let mut x: u64 = 7;
        for step in 0..3000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let elem = format!("e{}-{}", step, "x".repeat((x % 200) as usize)).into_bytes();
            match x % 8 {
                0 | 1 => {
                    l.push(End::Head, &elem, fill);
                    model.push_front(elem);
                }
                2 | 3 => {
                    l.push(End::Tail, &elem, fill);
                    model.push_back(elem);
                }
                4 => assert_eq!(l.pop(End::Head), model.pop_front()),
                5 => assert_eq!(l.pop(End::Tail), model.pop_back()),
                6 if !model.is_empty() => {
                    let i = (x as usize / 8) % (model.len() + 1);
                    l.insert(i, &elem, fill);
                    model.insert(i, elem);
                }
                7 if !model.is_empty() => {
                    let i = (x as usize / 8) % model.len();
                    assert!(l.set(i, &elem, fill));
                    model[i] = elem;
                }
                _ => {}
            }
            saw_compressed |= l.compressed_nodes() > 0;
            if depth > 0 {
                // Only nodes beyond `depth` from each end are ever compressed.
                let n = l.nodes.len();
                for (i, node) in l.nodes.iter().enumerate() {
                    let near_end = i < depth || i + depth >= n;
                    assert!(
                        !(near_end && node.is_compressed()),
                        "node {i} of {n} at step {step}"
                    );
                }
            }
            if step % 97 == 0 {
                model_check(&l, &model);
            }
        }
        model_check(&l, &model);
        assert!(l.node_count() > 1);
        assert_eq!(saw_compressed, depth > 0, "compression at depth {depth}");
    }

    #[test]
    fn keep_range_and_remove() {
        let fill = Fill::default();
        let elems: Vec<Vec<u8>> = (0..100).map(|i| i.to_string().into_bytes()).collect();
        let mut l = QuickList::from_elems(elems.iter().map(Vec::as_slice), fill);
        l.keep_range(10, 19, fill);
        assert_eq!(l.len(), 10);
        assert_eq!(l.get(0).as_deref(), Some(&b"10"[..]));
        l.remove_at(0);
        assert_eq!(l.get(0).as_deref(), Some(&b"11"[..]));
        assert_eq!(
            l.iter_from(8).map(Cow::into_owned).collect::<Vec<_>>(),
            vec![b"19".to_vec()]
        );
    }

    #[test]
    fn compression_saves_memory_on_repetitive_elements() {
        let size = |depth: usize| {
            let fill = Fill::default().with_compress_depth(depth);
            let mut l = QuickList::new();
            for i in 0..2000 {
                l.push(
                    End::Tail,
                    format!("{}{i}", "value-".repeat(8)).as_bytes(),
                    fill,
                );
            }
            (l.heap_bytes(), l.compressed_nodes(), l.node_count())
        };
        let (plain, none, _) = size(0);
        let (packed, compressed, nodes) = size(1);
        assert_eq!(none, 0);
        assert_eq!(compressed, nodes - 2, "every inner node compressed");
        assert!(packed * 3 < plain, "{packed} vs {plain} bytes");
    }

    #[test]
    fn small_elements_cost_about_their_length() {
        let fill = Fill::default();
        let mut l = QuickList::new();
        for i in 0..10_000 {
            l.push(End::Tail, format!("{i:08}").as_bytes(), fill);
        }
        // A Redis listpack entry for an 8-byte string is 10 bytes (header, data, backlen);
        // ours is the same, plus a little node overhead.
        let per_elem = l.heap_bytes() as f64 / 10_000.0;
        assert!(per_elem < 10.5, "{per_elem} bytes per 8-byte element");
    }
}
