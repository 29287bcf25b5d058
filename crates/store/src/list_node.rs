//! One node of a `QuickList`: packed entries (`varint length + bytes + back-length`, like a
//! listpack's), optionally LZF-compressed (`list-compress-depth`).

use std::borrow::Cow;

use crate::varint;
use crate::varint::len as varint_len;

/// Nodes smaller than this are never compressed (Redis's `MIN_COMPRESS_BYTES`).
const MIN_COMPRESS_BYTES: usize = 48;
/// A compressed node must save at least this much (Redis's `MIN_COMPRESS_IMPROVE`).
const MIN_COMPRESS_IMPROVE: usize = 8;

#[derive(Clone, Debug, Default)]
pub(crate) struct Node {
    /// The packed entries, or their LZF compression when `raw_len > 0`.
    pub(crate) buf: Vec<u8>,
    pub(crate) count: u32,
    /// Length of the packed entries when `buf` holds them compressed; 0 for a plain node.
    raw_len: u32,
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

pub(crate) fn encoded_len(elem: &[u8]) -> usize {
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
    pub(crate) fn is_compressed(&self) -> bool {
        self.raw_len > 0
    }

    /// Compress the entries if that is worth it (Redis's thresholds).
    pub(crate) fn compress(&mut self) {
        if self.is_compressed() || self.buf.len() < MIN_COMPRESS_BYTES {
            return;
        }
        if let Ok(mut c) = lzf::compress(&self.buf) {
            if c.len() + MIN_COMPRESS_IMPROVE <= self.buf.len() {
                // The compressor's output buffer is as big as its input: give the rest back.
                c.shrink_to_fit();
                self.raw_len = self.buf.len() as u32;
                self.buf = c;
            }
        }
    }

    /// Back to plain entries.
    pub(crate) fn decompress(&mut self) {
        if self.is_compressed() {
            self.buf = self.raw_bytes().into_owned();
            self.buf.shrink_to_fit();
            self.raw_len = 0;
        }
    }

    /// The packed entries, decompressed into a copy if needed.
    pub(crate) fn raw_bytes(&self) -> Cow<'_, [u8]> {
        if !self.is_compressed() {
            return Cow::Borrowed(&self.buf);
        }
        // Compressed by `compress` from exactly `raw_len` bytes: this cannot fail unless
        // memory was corrupted, and then no answer would be right.
        let raw = lzf::decompress(&self.buf, self.raw_len as usize)
            .unwrap_or_else(|e| panic!("a list node's own LZF data does not decompress: {e:?}"));
        assert_eq!(raw.len(), self.raw_len as usize, "LZF node length");
        Cow::Owned(raw)
    }

    /// Every element, owned or borrowed (head to tail, or reversed).
    pub(crate) fn elems(&self, rev: bool) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        if !self.is_compressed() {
            return if rev {
                Box::new(self.iter_rev().map(Cow::Borrowed))
            } else {
                Box::new(self.iter().map(Cow::Borrowed))
            };
        }
        let raw = self.raw_bytes();
        let plain = Node {
            buf: raw.into_owned(),
            count: self.count,
            raw_len: 0,
        };
        let mut v: Vec<Vec<u8>> = plain.iter().map(<[u8]>::to_vec).collect();
        if rev {
            v.reverse();
        }
        Box::new(v.into_iter().map(Cow::Owned))
    }

    pub(crate) fn from_elems<'a>(elems: impl Iterator<Item = &'a [u8]>) -> Node {
        let mut node = Node::default();
        for e in elems {
            node.append(e);
        }
        node
    }

    pub(crate) fn append(&mut self, elem: &[u8]) {
        self.buf.reserve_exact(encoded_len(elem));
        encode_entry(&mut self.buf, elem);
        self.count += 1;
    }

    pub(crate) fn prepend(&mut self, elem: &[u8]) {
        let mut entry = Vec::with_capacity(encoded_len(elem));
        encode_entry(&mut entry, elem);
        self.buf.reserve_exact(entry.len());
        self.buf.splice(0..0, entry);
        self.count += 1;
    }

    /// Give memory back when a node has shrunk to well under its allocation.
    pub(crate) fn maybe_shrink(&mut self) {
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<Vec<u8>> {
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

    pub(crate) fn pop_back(&mut self) -> Option<Vec<u8>> {
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
    pub(crate) fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.count as usize);
        let mut at = 0;
        while at < self.buf.len() {
            v.push(at);
            at = entry_at(&self.buf, at).2;
        }
        debug_assert_eq!(v.len(), self.count as usize);
        v
    }

    pub(crate) fn get(&self, i: usize) -> &[u8] {
        let mut at = 0;
        for _ in 0..i {
            at = entry_at(&self.buf, at).2;
        }
        let (s, e, _) = entry_at(&self.buf, at);
        &self.buf[s..e]
    }

    pub(crate) fn iter(&self) -> NodeIter<'_> {
        NodeIter {
            buf: &self.buf,
            at: 0,
        }
    }

    pub(crate) fn iter_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
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
    pub(crate) fn splice(&mut self, from: usize, to: usize, elems: &[&[u8]]) {
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

pub(crate) struct NodeIter<'a> {
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
