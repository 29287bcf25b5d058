//! An order-statistic skiplist of (score, member), the ordered half of a large sorted set
//! (Redis's `zskiplist`). Every forward link records its span — how many elements it jumps —
//! so rank lookups and access by rank are O(log n) like score lookups.
//!
//! Nodes live in an arena (`Vec`) and link by index, which keeps the structure in safe Rust;
//! freed slots are reused. Order is by score, then by member bytes (memcmp), as in Redis.

use std::cmp::Ordering;

use crate::bytes::SmallBytes;

const MAX_LEVEL: usize = 32;
/// Probability of adding a level (Redis's `ZSKIPLIST_P`).
const LEVEL_P: u32 = 0x4000; // 0.25 of 0x10000
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Link {
    forward: u32,
    span: u32,
}

#[derive(Clone, Debug)]
struct Node {
    member: SmallBytes,
    score: f64,
    backward: u32,
    links: Box<[Link]>,
}

/// A skiplist ordered by (score, member).
#[derive(Clone, Debug)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
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
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a_member.cmp(b_member))
}

impl SkipList {
    pub fn new() -> Self {
        let head = Node {
            member: SmallBytes::new(b""),
            score: 0.0,
            backward: NIL,
            links: vec![
                Link {
                    forward: NIL,
                    span: 0
                };
                MAX_LEVEL
            ]
            .into_boxed_slice(),
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
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
        self.nodes[node as usize].links[level]
    }

    /// Whether the node after `x` at `level` sorts before (score, member).
    fn next_before(&self, x: u32, level: usize, score: f64, member: &[u8]) -> bool {
        let f = self.link(x, level).forward;
        f != NIL && {
            let n = &self.nodes[f as usize];
            cmp(n.score, &n.member, score, member) == Ordering::Less
        }
    }

    /// Insert (score, member); the caller guarantees the member is not present.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            while self.next_before(x, i, score, member) {
                rank[i] += self.link(x, i).span;
                x = self.link(x, i).forward;
            }
            update[i] = x;
        }
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.nodes[HEAD as usize].links[i].span = self.len as u32;
            }
            self.level = level;
        }
        let node = Node {
            member: SmallBytes::new(member),
            score,
            backward: NIL,
            links: vec![
                Link {
                    forward: NIL,
                    span: 0
                };
                level
            ]
            .into_boxed_slice(),
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let up = update[i] as usize;
            let up_link = self.nodes[up].links[i];
            self.nodes[idx as usize].links[i] = Link {
                forward: up_link.forward,
                span: up_link.span - (rank[0] - rank[i]),
            };
            self.nodes[up].links[i] = Link {
                forward: idx,
                span: (rank[0] - rank[i]) + 1,
            };
        }
        for (i, &up) in update.iter().enumerate().take(self.level).skip(level) {
            self.nodes[up as usize].links[i].span += 1;
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

    /// Remove (score, member); returns false if absent.
    pub fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            while self.next_before(x, i, score, member) {
                x = self.link(x, i).forward;
            }
            update[i] = x;
        }
        let target = self.link(x, 0).forward;
        if target == NIL {
            return false;
        }
        let t = &self.nodes[target as usize];
        if t.score != score || t.member.as_bytes() != member {
            return false;
        }
        for (i, &up) in update.iter().enumerate().take(self.level) {
            let up = up as usize;
            if self.nodes[up].links[i].forward == target {
                let tl = self.nodes[target as usize].links[i];
                self.nodes[up].links[i].span += tl.span;
                self.nodes[up].links[i].span -= 1;
                self.nodes[up].links[i].forward = tl.forward;
            } else {
                self.nodes[up].links[i].span -= 1;
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
        self.nodes[target as usize].member = SmallBytes::new(b"");
        self.nodes[target as usize].links = Box::new([]);
        self.free.push(target);
        self.len -= 1;
        true
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
                if cmp(n.score, &n.member, score, member) == Ordering::Greater {
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
            cur = if rev { n.backward } else { n.links[0].forward };
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
                assert!(sl.delete(s, &m), "delete {step}");
                if x.is_multiple_of(3) {
                    continue;
                }
            }
            sl.insert(score, &member);
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
        assert!(!sl.delete(1e9, b"nope"));
    }
}
