//! `QuickList`: the list value, a deque of packed nodes like Redis's quicklist of listpacks.
//!
//! Each node packs its elements back to back as `varint length + bytes` in one allocation, so a
//! short element costs its length plus one or two bytes — about what a Redis listpack entry
//! costs — instead of a pointer and a header per element. A node holds at most
//! `list-max-listpack-size` worth of data (negative: a byte limit of 4–64 KiB; positive: an
//! element count), so an edit rewrites at most one small node.
//!
//! Redis 7.0 reports every list as `quicklist` (listpack-encoded small lists came later).

use std::collections::VecDeque;

use crate::varint;
use crate::varint::len as varint_len;

/// How full a node may get, from `list-max-listpack-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// At most this many bytes of packed data per node.
    Bytes(usize),
    /// At most this many elements per node.
    Count(usize),
}

/// Byte cap for positive fills too (Redis's `SIZE_SAFETY_LIMIT`), so a node never grows huge.
const SAFETY_BYTES: usize = 8192;

impl Fill {
    /// `list-max-listpack-size`: -1..-5 mean 4, 8, 16, 32, 64 KiB; positive values a count.
    pub fn from_config(v: i64) -> Fill {
        match v {
            v if v > 0 => Fill::Count(v as usize),
            v => Fill::Bytes(4096 << ((-v).clamp(1, 5) - 1)),
        }
    }

    fn allows(self, node: &Node, extra_bytes: usize) -> bool {
        let bytes = node.buf.len() + extra_bytes;
        match self {
            Fill::Bytes(limit) => bytes <= limit,
            Fill::Count(n) => (node.count as usize) < n && bytes <= SAFETY_BYTES,
        }
    }
}

impl Default for Fill {
    fn default() -> Self {
        Fill::from_config(-2)
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    buf: Vec<u8>,
    count: u32,
}

/// Entry layout (like a listpack entry): `varint(len) + bytes + backlen`, where `backlen` is
/// the size of `varint(len) + bytes`, stored so it can be read from its last byte backwards.
/// That makes both ends of a node reachable without scanning it.
fn encode_entry(out: &mut Vec<u8>, elem: &[u8]) {
    varint::put(out, elem.len());
    out.extend_from_slice(elem);
    let body = varint_len(elem.len()) + elem.len();
    let mut groups = Vec::with_capacity(3);
    let mut b = body;
    loop {
        groups.push((b & 0x7f) as u8);
        b >>= 7;
        if b == 0 {
            break;
        }
    }
    // Earliest byte first (no flag); every later byte flags "more bytes before me".
    for (i, g) in groups.iter().rev().enumerate() {
        out.push(if i == 0 { *g } else { g | 0x80 });
    }
}

fn encoded_len(elem: &[u8]) -> usize {
    let body = varint_len(elem.len()) + elem.len();
    body + varint_len(body)
}

/// Decode the entry starting at `at`: (data start, data end, next entry start).
fn entry_at(buf: &[u8], at: usize) -> (usize, usize, usize) {
    let (n, i) = varint::get(buf, at);
    let body = i - at + n;
    (i, i + n, i + n + varint_len(body))
}

/// Start of the entry that ends at `end` (exclusive), read through its backlen.
fn entry_before(buf: &[u8], end: usize) -> usize {
    let mut i = end - 1;
    let mut v = usize::from(buf[i] & 0x7f);
    let mut shift = 7;
    while buf[i] & 0x80 != 0 {
        i -= 1;
        v |= usize::from(buf[i] & 0x7f) << shift;
        shift += 7;
    }
    i - v
}

impl Node {
    fn from_elems<'a>(elems: impl Iterator<Item = &'a [u8]>) -> Node {
        let mut node = Node::default();
        for e in elems {
            node.append(e);
        }
        node
    }

    fn append(&mut self, elem: &[u8]) {
        self.buf.reserve_exact(encoded_len(elem));
        encode_entry(&mut self.buf, elem);
        self.count += 1;
    }

    fn prepend(&mut self, elem: &[u8]) {
        let mut entry = Vec::with_capacity(encoded_len(elem));
        encode_entry(&mut entry, elem);
        self.buf.reserve_exact(entry.len());
        self.buf.splice(0..0, entry);
        self.count += 1;
    }

    /// Give memory back when a node has shrunk to well under its allocation.
    fn maybe_shrink(&mut self) {
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    fn pop_front(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let (s, e, next) = entry_at(&self.buf, 0);
        let v = self.buf[s..e].to_vec();
        self.buf.drain(..next);
        self.count -= 1;
        self.maybe_shrink();
        Some(v)
    }

    fn pop_back(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let start = entry_before(&self.buf, self.buf.len());
        let (s, e, _) = entry_at(&self.buf, start);
        let v = self.buf[s..e].to_vec();
        self.buf.truncate(start);
        self.count -= 1;
        self.maybe_shrink();
        Some(v)
    }

    /// Byte offsets of every entry (nodes are small, so this is cheap).
    fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.count as usize);
        let mut at = 0;
        while at < self.buf.len() {
            v.push(at);
            at = entry_at(&self.buf, at).2;
        }
        debug_assert_eq!(v.len(), self.count as usize);
        v
    }

    fn get(&self, i: usize) -> &[u8] {
        let mut at = 0;
        for _ in 0..i {
            at = entry_at(&self.buf, at).2;
        }
        let (s, e, _) = entry_at(&self.buf, at);
        &self.buf[s..e]
    }

    fn iter(&self) -> NodeIter<'_> {
        NodeIter {
            buf: &self.buf,
            at: 0,
        }
    }

    fn iter_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let buf = &self.buf;
        let mut end = buf.len();
        std::iter::from_fn(move || {
            if end == 0 {
                return None;
            }
            let start = entry_before(buf, end);
            let (s, e, _) = entry_at(buf, start);
            end = start;
            Some(&buf[s..e])
        })
    }

    /// Replace entries `[from, to)` with `elems`.
    fn splice(&mut self, from: usize, to: usize, elems: &[&[u8]]) {
        let offsets = self.offsets();
        let start = offsets.get(from).copied().unwrap_or(self.buf.len());
        let end = offsets.get(to).copied().unwrap_or(self.buf.len());
        let mut bytes = Vec::new();
        for e in elems {
            encode_entry(&mut bytes, e);
        }
        self.buf.splice(start..end, bytes);
        self.maybe_shrink();
        self.count = self.count + elems.len() as u32 - (to - from) as u32;
    }
}

struct NodeIter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (s, e, next) = entry_at(self.buf, self.at);
        self.at = next;
        Some(&self.buf[s..e])
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
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
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
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let v = match end {
            End::Head => {
                let node = self.nodes.front_mut()?;
                let v = node.pop_front();
                if node.count == 0 {
                    self.nodes.pop_front();
                }
                v
            }
            End::Tail => {
                let node = self.nodes.back_mut()?;
                let v = node.pop_back();
                if node.count == 0 {
                    self.nodes.pop_back();
                }
                v
            }
        }?;
        self.len -= 1;
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

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let (n, i) = self.locate(index)?;
        Some(self.nodes[n].get(i))
    }

    /// Elements from `start` on, head to tail.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (first_node, skip) = self.locate(start).unwrap_or((self.nodes.len(), 0));
        self.nodes
            .iter()
            .skip(first_node)
            .flat_map(|n| n.iter())
            .skip(skip)
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(|n| n.iter())
    }

    /// Elements from the tail towards the head.
    pub fn iter_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes.iter().rev().flat_map(|n| n.iter_rev())
    }

    /// Replace element `index`. Returns false if out of range.
    pub fn set(&mut self, index: usize, elem: &[u8], fill: Fill) -> bool {
        let Some((n, i)) = self.locate(index) else {
            return false;
        };
        self.nodes[n].splice(i, i + 1, &[elem]);
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
        self.nodes[n].splice(i, i, &[elem]);
        self.len += 1;
        self.split_if_needed(n, fill);
    }

    /// Remove element `index`.
    pub fn remove_at(&mut self, index: usize) {
        let Some((n, i)) = self.locate(index) else {
            return;
        };
        self.nodes[n].splice(i, i + 1, &[]);
        self.len -= 1;
        if self.nodes[n].count == 0 {
            self.nodes.remove(n);
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
            .map(<[u8]>::to_vec)
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
        let over = match fill {
            Fill::Bytes(limit) => node.buf.len() > limit,
            Fill::Count(c) => node.count as usize > c || node.buf.len() > SAFETY_BYTES,
        };
        if !over || node.count < 2 {
            return;
        }
        let elems: Vec<Vec<u8>> = node.iter().map(<[u8]>::to_vec).collect();
        let half = elems.len() / 2;
        let a = Node::from_elems(elems[..half].iter().map(Vec::as_slice));
        let b = Node::from_elems(elems[half..].iter().map(Vec::as_slice));
        self.nodes[n] = a;
        self.reserve_node();
        self.nodes.insert(n + 1, b);
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
        let got: Vec<Vec<u8>> = l.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(got, model.iter().cloned().collect::<Vec<_>>());
        let rev: Vec<Vec<u8>> = l.iter_rev().map(<[u8]>::to_vec).collect();
        assert_eq!(rev, model.iter().rev().cloned().collect::<Vec<_>>());
        for (i, m) in model.iter().enumerate() {
            assert_eq!(l.get(i), Some(m.as_slice()));
        }
    }

    #[test]
    fn behaves_like_a_deque_across_many_nodes() {
        let fill = Fill::Count(4);
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
            if step % 97 == 0 {
                model_check(&l, &model);
            }
        }
        model_check(&l, &model);
        assert!(l.node_count() > 1);
    }

    #[test]
    fn keep_range_and_remove() {
        let fill = Fill::default();
        let elems: Vec<Vec<u8>> = (0..100).map(|i| i.to_string().into_bytes()).collect();
        let mut l = QuickList::from_elems(elems.iter().map(Vec::as_slice), fill);
        l.keep_range(10, 19, fill);
        assert_eq!(l.len(), 10);
        assert_eq!(l.get(0), Some(&b"10"[..]));
        l.remove_at(0);
        assert_eq!(l.get(0), Some(&b"11"[..]));
        assert_eq!(l.iter_from(8).collect::<Vec<_>>(), vec![&b"19"[..]]);
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
