//! The member → node index of a large sorted set: a chained hash table whose chains run
//! through the skiplist's own nodes (each node has a `next in bucket` field), so a member is
//! stored once, in its node, and the table itself costs one `u32` per bucket.
//!
//! It keeps the two properties `Dict` has for the keyspace (see `dict.rs`): incremental
//! rehashing (two bucket arrays while a resize is under way, a few buckets moved per
//! operation) and Redis's reverse-binary SCAN cursor, which returns every member present for
//! the whole ZSCAN even while the table grows or shrinks.

use std::hash::BuildHasher;

/// "No node": the end of a chain, an empty bucket.
pub const NIL: u32 = u32::MAX;
const INITIAL_BUCKETS: usize = 4;
/// Shrink when fewer than 1 in this many buckets is used (as `Dict`).
const MIN_FILL_RATIO: usize = 10;
const EMPTY_VISITS_PER_STEP: usize = 10;

/// What the index needs from the nodes it chains.
pub trait Chained {
    fn member(&self, node: u32) -> &[u8];
    fn chain_next(&self, node: u32) -> u32;
    fn set_chain_next(&mut self, node: u32, next: u32);
}

#[derive(Clone, Debug, Default)]
struct Buckets {
    heads: Vec<u32>,
    used: usize,
}

impl Buckets {
    fn with_len(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        Buckets {
            heads: vec![NIL; n],
            used: 0,
        }
    }

    fn mask(&self) -> u64 {
        (self.heads.len() as u64).wrapping_sub(1)
    }

    fn slot(&self, hash: u64) -> usize {
        (hash & self.mask()) as usize
    }

    fn push<C: Chained + ?Sized>(&mut self, nodes: &mut C, hash: u64, node: u32) {
        let s = self.slot(hash);
        nodes.set_chain_next(node, self.heads[s]);
        self.heads[s] = node;
        self.used += 1;
    }

    fn find<C: Chained + ?Sized>(&self, nodes: &C, hash: u64, member: &[u8]) -> Option<u32> {
        if self.heads.is_empty() {
            return None;
        }
        let mut cur = self.heads[self.slot(hash)];
        while cur != NIL {
            if nodes.member(cur) == member {
                return Some(cur);
            }
            cur = nodes.chain_next(cur);
        }
        None
    }

    fn unlink<C: Chained + ?Sized>(
        &mut self,
        nodes: &mut C,
        hash: u64,
        member: &[u8],
    ) -> Option<u32> {
        if self.heads.is_empty() {
            return None;
        }
        let s = self.slot(hash);
        let (mut prev, mut cur) = (NIL, self.heads[s]);
        while cur != NIL {
            let next = nodes.chain_next(cur);
            if nodes.member(cur) == member {
                if prev == NIL {
                    self.heads[s] = next;
                } else {
                    nodes.set_chain_next(prev, next);
                }
                self.used -= 1;
                return Some(cur);
            }
            (prev, cur) = (cur, next);
        }
        None
    }
}

/// Member → node index, chained through the nodes.
#[derive(Clone, Debug, Default)]
pub struct MemberIndex {
    t0: Buckets,
    t1: Buckets,
    rehash_idx: Option<usize>,
    hasher: foldhash::fast::RandomState,
}

impl MemberIndex {
    pub fn len(&self) -> usize {
        self.t0.used + self.t1.used
    }

    pub fn buckets(&self) -> usize {
        self.t0.heads.len() + self.t1.heads.len()
    }

    fn hash(&self, member: &[u8]) -> u64 {
        self.hasher.hash_one(member)
    }

    pub fn find<C: Chained + ?Sized>(&self, nodes: &C, member: &[u8]) -> Option<u32> {
        if self.len() == 0 {
            return None;
        }
        let h = self.hash(member);
        self.t0
            .find(nodes, h, member)
            .or_else(|| self.t1.find(nodes, h, member))
    }

    /// Index `node`, whose member the caller knows is not indexed yet.
    pub fn insert<C: Chained + ?Sized>(&mut self, nodes: &mut C, node: u32) {
        self.expand_if_needed();
        self.rehash_step(nodes, 1);
        let h = self.hash(nodes.member(node));
        if self.rehash_idx.is_some() {
            self.t1.push(nodes, h, node);
        } else {
            self.t0.push(nodes, h, node);
        }
    }

    /// Unindex `member`; returns its node.
    pub fn remove<C: Chained + ?Sized>(&mut self, nodes: &mut C, member: &[u8]) -> Option<u32> {
        if self.len() == 0 {
            return None;
        }
        self.rehash_step(nodes, 1);
        let h = self.hash(member);
        let node = self
            .t0
            .unlink(nodes, h, member)
            .or_else(|| self.t1.unlink(nodes, h, member))?;
        self.shrink_if_needed();
        Some(node)
    }

    fn expand_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        if self.t0.heads.is_empty() {
            self.t0 = Buckets::with_len(INITIAL_BUCKETS);
        } else if self.t0.used >= self.t0.heads.len() {
            self.start_resize((self.t0.used + 1).next_power_of_two());
        }
    }

    fn shrink_if_needed(&mut self) {
        let size = self.t0.heads.len();
        if self.rehash_idx.is_some() || size <= INITIAL_BUCKETS {
            return;
        }
        if self.t0.used * MIN_FILL_RATIO < size {
            let target = self.t0.used.max(INITIAL_BUCKETS).next_power_of_two();
            if target < size {
                self.start_resize(target);
            }
        }
    }

    fn start_resize(&mut self, buckets: usize) {
        self.t1 = Buckets::with_len(buckets);
        self.rehash_idx = Some(0);
    }

    /// Move up to `n` buckets of the old array into the new one.
    fn rehash_step<C: Chained + ?Sized>(&mut self, nodes: &mut C, n: usize) {
        let Some(mut idx) = self.rehash_idx else {
            return;
        };
        let mut empty_visits = n * EMPTY_VISITS_PER_STEP;
        let mut moved = 0;
        while moved < n && self.t0.used > 0 {
            let mut cur = std::mem::replace(&mut self.t0.heads[idx], NIL);
            idx += 1;
            if cur == NIL {
                empty_visits -= 1;
                if empty_visits == 0 {
                    break;
                }
                continue;
            }
            while cur != NIL {
                let next = nodes.chain_next(cur);
                let h = self.hash(nodes.member(cur));
                self.t0.used -= 1;
                self.t1.push(nodes, h, cur);
                cur = next;
            }
            moved += 1;
        }
        if self.t0.used == 0 {
            self.t0 = std::mem::take(&mut self.t1);
            self.rehash_idx = None;
            self.shrink_if_needed();
        } else {
            self.rehash_idx = Some(idx);
        }
    }

    /// One ZSCAN step: `emit` every node of the cursor's bucket(s); returns the next cursor
    /// (0 when done). Same reverse-binary walk as `Dict::scan`.
    pub fn scan<C: Chained + ?Sized>(
        &self,
        nodes: &C,
        cursor: u64,
        mut emit: impl FnMut(u32),
    ) -> u64 {
        if self.len() == 0 {
            return 0;
        }
        let mut emit_bucket = |b: &Buckets, v: u64| {
            let mut cur = b.heads[(v & b.mask()) as usize];
            while cur != NIL {
                emit(cur);
                cur = nodes.chain_next(cur);
            }
        };
        let mut v = cursor;
        if self.rehash_idx.is_none() {
            emit_bucket(&self.t0, v);
            v |= !self.t0.mask();
            return v.reverse_bits().wrapping_add(1).reverse_bits();
        }
        let (small, big) = if self.t0.heads.len() <= self.t1.heads.len() {
            (&self.t0, &self.t1)
        } else {
            (&self.t1, &self.t0)
        };
        let (m0, m1) = (small.mask(), big.mask());
        emit_bucket(small, v);
        loop {
            emit_bucket(big, v);
            v |= !m1;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v & (m0 ^ m1) == 0 {
                return v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    struct Nodes(Vec<(Vec<u8>, u32)>);

    impl Chained for Nodes {
        fn member(&self, node: u32) -> &[u8] {
            &self.0[node as usize].0
        }
        fn chain_next(&self, node: u32) -> u32 {
            self.0[node as usize].1
        }
        fn set_chain_next(&mut self, node: u32, next: u32) {
            self.0[node as usize].1 = next;
        }
    }

    #[test]
    fn finds_removes_and_scans_through_resizes() {
        let mut nodes = Nodes(
            (0..5000)
                .map(|i| (format!("m{i}").into_bytes(), NIL))
                .collect(),
        );
        let mut ix = MemberIndex::default();
        for i in 0..5000u32 {
            ix.insert(&mut nodes, i);
        }
        assert_eq!(ix.len(), 5000);
        for i in (0..5000u32).step_by(7) {
            assert_eq!(ix.find(&nodes, format!("m{i}").as_bytes()), Some(i));
        }
        // A scan interleaved with deletions (which shrink the table) still returns every
        // member that stays present.
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut removed = 0u32;
        loop {
            cursor = ix.scan(&nodes, cursor, |n| {
                seen.insert(n);
            });
            for _ in 0..40 {
                if removed < 4900 {
                    let m = format!("m{removed}").into_bytes();
                    assert_eq!(ix.remove(&mut nodes, &m), Some(removed));
                    removed += 1;
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 4900..5000u32 {
            assert!(seen.contains(&i), "member {i} missed by the scan");
        }
        assert_eq!(ix.len(), 100);
        // Later operations finish the shrink the deletions started.
        for _ in 0..2000 {
            ix.insert(&mut nodes, 0);
            assert_eq!(ix.remove(&mut nodes, b"m0"), Some(0));
        }
        assert!(ix.buckets() <= 256, "the table shrank: {}", ix.buckets());
        assert_eq!(ix.find(&nodes, b"m3"), None);
    }
}
