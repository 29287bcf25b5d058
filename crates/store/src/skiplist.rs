//! An order-statistic skiplist of (score, member) that also indexes its members: the whole
//! large form of a sorted set (Redis's `zskiplist` + `dict`). Every forward link records its
//! span — how many elements it jumps — so rank lookups and access by rank are O(log n) like
//! score lookups; a member → node hash table chained through the nodes (`zhash.rs`) answers
//! ZSCORE in O(1).
//!
//! Memory is the point of the layout (a sorted set is often millions of members):
//! - nodes live in an arena (`Vec`) and link by `u32` index, which keeps the structure in safe
//!   Rust; the member is stored once, inline in the node when short (`SmallBytes`);
//! - a node is 48 bytes: the level-0 link is only a forward index (its span is always 1),
//!   and the links of levels 1 and up (a quarter of the nodes have any) sit in a shared pool;
//! - freed nodes and link runs are reused through free lists threaded through themselves;
//! - the arena and the pool grow by a quarter at a time, not by doubling.
//!
//! Order is by score, then by member bytes (memcmp), as in Redis.

use std::cmp::Ordering;

use crate::bytes::SmallBytes;
use crate::zhash::{Chained, MemberIndex, NIL};

const MAX_LEVEL: usize = 32;
/// Probability of adding a level (Redis's `ZSKIPLIST_P`).
const LEVEL_P: u32 = 0x4000; // 0.25 of 0x10000
const HEAD: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Link {
    forward: u32,
    span: u32,
}

/// Score first: a search step compares scores and reads the member only on a tie.
#[derive(Clone, Debug)]
#[repr(C)]
struct Node {
    score: f64,
    member: SmallBytes,
    backward: u32,
    /// The level-0 link (span 1, or 0 when it is the end).
    forward0: u32,
    /// Where this node's links of levels 1.. start in `uppers`; NIL for a level-1 node.
    upper: u32,
    /// Next node in the same member-hash bucket; next free node when the slot is free.
    chain: u32,
}

const _: () = assert!(std::mem::size_of::<Node>() == 48);

/// A skiplist ordered by (score, member), with its members indexed.
#[derive(Clone, Debug)]
pub struct SkipList {
    nodes: Vec<Node>,
    /// Links of levels 1.. of every node, a run of `level - 1` per node.
    uppers: Vec<Link>,
    /// First free node slot (chained through `Node::chain`).
    free_node: u32,
    /// First free run of `n + 1` upper links, per `n` (chained through the run's first link).
    free_runs: [u32; MAX_LEVEL - 1],
    index: MemberIndex,
    level: usize,
    len: usize,
    tail: u32,
    rng: u64,
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

fn cmp(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    cmp_lazy(a_score, || a_member, b_score, b_member)
}

/// `cmp` with a node's member read only when the scores tie (saves touching it).
#[inline]
fn cmp_lazy<'m>(
    a_score: f64,
    a_member: impl FnOnce() -> &'m [u8],
    b_score: f64,
    b_member: &[u8],
) -> Ordering {
    match a_score.partial_cmp(&b_score) {
        Some(Ordering::Equal) | None => a_member().cmp(b_member),
        Some(o) => o,
    }
}

/// Grow `v` by a quarter (at least `min`) when full: less slack than doubling, still
/// amortized O(1) per push.
fn reserve_quarter<T>(v: &mut Vec<T>, min: usize) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(min));
    }
}

impl Chained for [Node] {
    fn member(&self, node: u32) -> &[u8] {
        self[node as usize].member.as_bytes()
    }
    fn chain_next(&self, node: u32) -> u32 {
        self[node as usize].chain
    }
    fn set_chain_next(&mut self, node: u32, next: u32) {
        self[node as usize].chain = next;
    }
}

impl SkipList {
    pub fn new() -> Self {
        let head = Node {
            member: SmallBytes::new(b""),
            score: 0.0,
            backward: NIL,
            forward0: NIL,
            upper: 0,
            chain: NIL,
        };
        SkipList {
            nodes: vec![head],
            uppers: vec![
                Link {
                    forward: NIL,
                    span: 0
                };
                MAX_LEVEL - 1
            ],
            free_node: NIL,
            free_runs: [NIL; MAX_LEVEL - 1],
            index: MemberIndex::default(),
            level: 1,
            len: 0,
            tail: NIL,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate heap bytes owned: arena, link pool and hash buckets (members longer than
    /// the inline limit add their own allocations, not counted here to keep this O(1)).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.uppers.capacity() * std::mem::size_of::<Link>()
            + self.index.buckets() * 4
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if (self.rng & 0xffff) as u32 >= LEVEL_P || level >= MAX_LEVEL {
                return level;
            }
            level += 1;
        }
    }

    fn link(&self, node: u32, level: usize) -> Link {
        let n = &self.nodes[node as usize];
        if level == 0 {
            Link {
                forward: n.forward0,
                span: u32::from(n.forward0 != NIL),
            }
        } else {
            self.uppers[n.upper as usize + level - 1]
        }
    }

    /// Set a link; at level 0 only the forward index is kept (the span follows from it).
    fn set_link(&mut self, node: u32, level: usize, l: Link) {
        if level == 0 {
            self.nodes[node as usize].forward0 = l.forward;
        } else {
            let at = self.nodes[node as usize].upper as usize + level - 1;
            self.uppers[at] = l;
        }
    }

    fn add_span(&mut self, node: u32, level: usize, delta: i64) {
        if level > 0 {
            let mut l = self.link(node, level);
            l.span = (i64::from(l.span) + delta) as u32;
            self.set_link(node, level, l);
        }
    }

    /// A run of `n` (>= 1) upper links, reused if one was freed.
    fn alloc_run(&mut self, n: usize) -> u32 {
        let free = self.free_runs[n - 1];
        let empty = Link {
            forward: NIL,
            span: 0,
        };
        if free != NIL {
            self.free_runs[n - 1] = self.uppers[free as usize].forward;
            self.uppers[free as usize..free as usize + n].fill(empty);
            return free;
        }
        reserve_quarter(&mut self.uppers, 64);
        let at = self.uppers.len() as u32;
        self.uppers.resize(self.uppers.len() + n, empty);
        at
    }

    fn free_run(&mut self, at: u32, n: usize) {
        self.uppers[at as usize].forward = self.free_runs[n - 1];
        self.free_runs[n - 1] = at;
    }

    fn alloc_node(&mut self, node: Node) -> u32 {
        if self.free_node != NIL {
            let idx = self.free_node;
            self.free_node = self.nodes[idx as usize].chain;
            self.nodes[idx as usize] = node;
            return idx;
        }
        reserve_quarter(&mut self.nodes, 16);
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    /// The score of `member`, if present (O(1)).
    pub fn score_of(&self, member: &[u8]) -> Option<f64> {
        let n = self.index.find(self.nodes.as_slice(), member)?;
        Some(self.nodes[n as usize].score)
    }

    /// For each level, the last node before (score, member), and (`with_rank`) its rank.
    fn path(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = self.link(x, i);
                if l.forward == NIL {
                    break;
                }
                let n = &self.nodes[l.forward as usize];
                if cmp_lazy(n.score, || n.member.as_bytes(), score, member) != Ordering::Less {
                    break;
                }
                rank[i] += l.span;
                x = l.forward;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Link node `idx` (with `level` levels, its score and member set) after the path found
    /// for its (score, member).
    fn link_in(&mut self, idx: u32, level: usize) {
        let (score, member) = {
            let n = &self.nodes[idx as usize];
            (n.score, n.member.clone())
        };
        let (mut update, mut rank) = self.path(score, member.as_bytes());
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                let len = self.len as u32;
                self.set_link(
                    HEAD,
                    i,
                    Link {
                        forward: NIL,
                        span: len,
                    },
                );
            }
            self.level = level;
        }
        for i in 0..level {
            let up = update[i];
            let up_link = self.link(up, i);
            self.set_link(
                idx,
                i,
                Link {
                    forward: up_link.forward,
                    span: up_link.span - (rank[0] - rank[i]),
                },
            );
            self.set_link(
                up,
                i,
                Link {
                    forward: idx,
                    span: (rank[0] - rank[i]) + 1,
                },
            );
        }
        for (i, &up) in update.iter().enumerate().take(self.level).skip(level) {
            self.add_span(up, i, 1);
        }
        self.nodes[idx as usize].backward = if update[0] == HEAD { NIL } else { update[0] };
        let next = self.link(idx, 0).forward;
        if next != NIL {
            self.nodes[next as usize].backward = idx;
        } else {
            self.tail = idx;
        }
        self.len += 1;
    }

    /// Unlink node `target` (found after `update`); returns its level. The slot, its links
    /// run and its place in the member index stay.
    fn unlink(&mut self, target: u32, update: &[u32; MAX_LEVEL]) -> usize {
        // The target has a link at every level where it follows its predecessor.
        let mut target_level = 0;
        for (i, &up) in update.iter().enumerate().take(self.level) {
            if self.link(up, i).forward == target {
                let tl = self.link(target, i);
                let mut l = self.link(up, i);
                l.span = l.span + tl.span - 1;
                l.forward = tl.forward;
                self.set_link(up, i, l);
                target_level = i + 1;
            } else {
                self.add_span(up, i, -1);
            }
        }
        let next = self.link(target, 0).forward;
        let back = self.nodes[target as usize].backward;
        if next != NIL {
            self.nodes[next as usize].backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).forward == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        target_level
    }

    /// The node holding (score, member) and the path to it, if present.
    fn locate(&self, score: f64, member: &[u8]) -> Option<(u32, [u32; MAX_LEVEL])> {
        let (update, _) = self.path(score, member);
        let target = self.link(update[0], 0).forward;
        let t = self.nodes.get(target as usize)?;
        (target != NIL && t.score == score && t.member.as_bytes() == member)
            .then_some((target, update))
    }

    /// Insert (score, member); the caller guarantees the member is not present.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        debug_assert!(
            self.score_of(member).is_none(),
            "insert of a present member"
        );
        let level = self.random_level();
        let upper = if level > 1 {
            self.alloc_run(level - 1)
        } else {
            NIL
        };
        let idx = self.alloc_node(Node {
            member: SmallBytes::new(member),
            score,
            backward: NIL,
            forward0: NIL,
            upper,
            chain: NIL,
        });
        self.link_in(idx, level);
        self.index.insert(self.nodes.as_mut_slice(), idx);
    }

    /// Remove (score, member); returns false if absent.
    pub fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        let Some((target, update)) = self.locate(score, member) else {
            return false;
        };
        let level = self.unlink(target, &update);
        self.index.remove(self.nodes.as_mut_slice(), member);
        let upper = self.nodes[target as usize].upper;
        if level > 1 {
            self.free_run(upper, level - 1);
        }
        let slot = &mut self.nodes[target as usize];
        slot.member = SmallBytes::new(b"");
        slot.chain = self.free_node;
        self.free_node = target;
        true
    }

    /// Give the present `member` a new score; returns the old one. Like Redis's
    /// `zslUpdateScore`: when the member keeps its place the score changes in place (no
    /// traversal); otherwise the node moves, keeping its slot, links and index entry.
    pub fn update_score(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let idx = self.index.find(self.nodes.as_slice(), member)?;
        let (old, back, next) = {
            let n = &self.nodes[idx as usize];
            (n.score, n.backward, n.forward0)
        };
        let after_back = back == NIL || {
            let b = &self.nodes[back as usize];
            cmp(b.score, &b.member, score, member) == Ordering::Less
        };
        let before_next = next == NIL || {
            let f = &self.nodes[next as usize];
            cmp(score, member, f.score, &f.member) == Ordering::Less
        };
        if after_back && before_next {
            self.nodes[idx as usize].score = score;
            return Some(old);
        }
        let (_, update) = self.locate(old, member)?;
        let level = self.unlink(idx, &update);
        self.nodes[idx as usize].score = score;
        self.link_in(idx, level);
        Some(old)
    }

    /// One ZSCAN step over the member index: `emit(member, score)` for the cursor's
    /// bucket(s); returns the next cursor, 0 when done.
    pub fn scan(&self, cursor: u64, mut emit: impl FnMut(&[u8], f64)) -> u64 {
        self.index.scan(self.nodes.as_slice(), cursor, |n| {
            let node = &self.nodes[n as usize];
            emit(node.member.as_bytes(), node.score);
        })
    }

    /// 0-based rank of (score, member), if present.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut x = HEAD;
        let mut rank = 0u64;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.forward == NIL {
                    break;
                }
                let n = &self.nodes[l.forward as usize];
                if cmp_lazy(n.score, || n.member.as_bytes(), score, member) == Ordering::Greater {
                    break;
                }
                rank += u64::from(l.span);
                x = l.forward;
            }
            if x != HEAD && self.nodes[x as usize].member.as_bytes() == member {
                return Some(rank as usize - 1);
            }
        }
        None
    }

    /// The element at 0-based `rank`.
    pub fn by_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        self.node_at(rank).map(|n| {
            let node = &self.nodes[n as usize];
            (node.score, node.member.as_bytes())
        })
    }

    fn node_at(&self, rank: usize) -> Option<u32> {
        if rank >= self.len {
            return None;
        }
        let want = rank as u64 + 1;
        let mut traversed = 0u64;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.forward == NIL || traversed + u64::from(l.span) > want {
                    break;
                }
                traversed += u64::from(l.span);
                x = l.forward;
            }
            if traversed == want {
                return Some(x);
            }
        }
        None
    }

    /// Elements from 0-based rank `start` on, ascending (`rev`: descending from rank
    /// `start` counted from the end).
    pub fn iter_from_rank(
        &self,
        start: usize,
        rev: bool,
    ) -> impl Iterator<Item = (f64, &[u8])> + '_ {
        let first = if rev {
            self.len
                .checked_sub(start + 1)
                .and_then(|r| self.node_at(r))
        } else {
            self.node_at(start)
        };
        let mut cur = first.unwrap_or(NIL);
        std::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let n = &self.nodes[cur as usize];
            cur = if rev { n.backward } else { n.forward0 };
            Some((n.score, n.member.as_bytes()))
        })
    }

    /// 0-based rank of the first element with score above `min` (or at it, unless
    /// `exclusive`): where an ascending score range starts.
    pub fn first_rank_with_score(&self, min: f64, exclusive: bool) -> usize {
        self.count_before(|s, _| if exclusive { s <= min } else { s < min })
    }

    /// How many leading elements satisfy `before`, which must hold for a prefix of the order
    /// and not after it (a range start). O(log n), walking down the levels as Redis's
    /// `zslFirstInRange` / `zslFirstInLexRange` do.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.forward == NIL {
                    break;
                }
                let n = &self.nodes[l.forward as usize];
                if !before(n.score, n.member.as_bytes()) {
                    break;
                }
                rank += l.span as usize;
                x = l.forward;
            }
        }
        rank
    }

    /// Iterate every element ascending.
    pub fn iter(&self) -> impl Iterator<Item = (f64, &[u8])> + '_ {
        self.iter_from_rank(0, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Vec<u8> {
        format!("m{}", i % 997).into_bytes()
    }

    /// Compare against a sorted Vec model through many random inserts and deletes.
    #[test]
    fn matches_a_sorted_vector_model() {
        let mut sl = SkipList::new();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut x: u64 = 42;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let member = key((x >> 8) as u32);
            let score = ((x >> 40) % 50) as f64 - 10.0;
            if let Some(pos) = model.iter().position(|(_, m)| *m == member) {
                let (s, m) = model.remove(pos);
                if x % 3 == 1 {
                    // Moves the node, or changes the score in place when it keeps its place.
                    assert_eq!(sl.update_score(&m, score), Some(s), "update {step}");
                } else {
                    assert!(sl.delete(s, &m), "delete {step}");
                    if x.is_multiple_of(3) {
                        continue;
                    }
                    sl.insert(score, &member);
                }
            } else {
                sl.insert(score, &member);
            }
            let pos = model
                .binary_search_by(|(s, m)| cmp(*s, m, score, &member))
                .unwrap_err();
            model.insert(pos, (score, member));
            if step % 997 == 0 {
                let got: Vec<(f64, Vec<u8>)> = sl.iter().map(|(s, m)| (s, m.to_vec())).collect();
                assert_eq!(got, model);
            }
        }
        assert_eq!(sl.len(), model.len());
        for (i, (s, m)) in model.iter().enumerate() {
            assert_eq!(sl.rank(*s, m), Some(i));
            assert_eq!(sl.by_rank(i), Some((*s, m.as_slice())));
            assert_eq!(sl.score_of(m), Some(*s));
        }
        let rev: Vec<Vec<u8>> = sl
            .iter_from_rank(0, true)
            .map(|(_, m)| m.to_vec())
            .collect();
        let want: Vec<Vec<u8>> = model.iter().rev().map(|(_, m)| m.clone()).collect();
        assert_eq!(rev, want);
        for min in [-11.0, -10.0, 0.0, 5.5, 39.0, 40.0] {
            for ex in [false, true] {
                let want = model
                    .iter()
                    .position(|(s, _)| if ex { *s > min } else { *s >= min })
                    .unwrap_or(model.len());
                assert_eq!(sl.first_rank_with_score(min, ex), want, "min {min} ex {ex}");
            }
        }
        assert_eq!(sl.rank(1e9, b"nope"), None);
        assert_eq!(sl.score_of(b"nope"), None);
        let mut scanned = 0;
        let mut cursor = 0;
        loop {
            cursor = sl.scan(cursor, |_, _| scanned += 1);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(scanned, model.len());
        assert!(!sl.delete(1e9, b"nope"));
    }
}
