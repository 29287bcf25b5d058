//! `Dict`: a chained hash table with incremental rehashing, the structure Redis's keyspace uses.
//!
//! Why not `hashbrown`: two guarantees users rely on need this shape.
//! - **SCAN** must return every key that is present for the whole scan, even while the table grows
//!   or shrinks. With chaining, a key always lives in bucket `hash & mask`, so Redis's
//!   reverse-binary cursor covers it across resizes. Open addressing moves keys off their home
//!   slot and breaks that.
//! - **No 2× stall on growth**: a resize moves a few buckets per operation (two tables live during
//!   the move) instead of rehashing millions of keys in one command.
//!
//! Nodes are `next + key (24 B inline) + value`; with the keyspace's 32-byte value a node is 64
//! bytes, one jemalloc size class, plus 8 bytes of bucket per key.

use std::hash::BuildHasher;

use smallvec::SmallVec;

use crate::bytes::SmallBytes;

/// Initial number of buckets.
const INITIAL_BUCKETS: usize = 4;
/// Shrink when fewer than 1 in this many buckets is used (Redis's `HASHTABLE_MIN_FILL`, 10%).
const MIN_FILL_RATIO: usize = 10;
/// A rehash step gives up after visiting this many empty buckets per bucket it was asked to move.
const EMPTY_VISITS_PER_STEP: usize = 10;

struct Node<V> {
    next: Link<V>,
    key: SmallBytes,
    value: V,
}

type Link<V> = Option<Box<Node<V>>>;

struct Table<V> {
    buckets: Vec<Link<V>>,
    used: usize,
}

impl<V> Table<V> {
    fn empty() -> Self {
        Table {
            buckets: Vec::new(),
            used: 0,
        }
    }

    fn with_buckets(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        let mut buckets = Vec::with_capacity(n);
        buckets.resize_with(n, || None);
        Table { buckets, used: 0 }
    }

    fn mask(&self) -> u64 {
        (self.buckets.len() as u64).wrapping_sub(1)
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<&Node<V>> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut cur = self.buckets[(hash & self.mask()) as usize].as_deref();
        while let Some(node) = cur {
            if node.key.as_bytes() == key {
                return Some(node);
            }
            cur = node.next.as_deref();
        }
        None
    }

    fn find_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Node<V>> {
        if self.buckets.is_empty() {
            return None;
        }
        let idx = (hash & self.mask()) as usize;
        let mut cur = self.buckets[idx].as_deref_mut();
        while let Some(node) = cur {
            if node.key.as_bytes() == key {
                return Some(node);
            }
            cur = node.next.as_deref_mut();
        }
        None
    }

    fn unlink(&mut self, hash: u64, key: &[u8]) -> Option<Box<Node<V>>> {
        if self.buckets.is_empty() {
            return None;
        }
        let idx = (hash & self.mask()) as usize;
        let mut cur = &mut self.buckets[idx];
        while cur.as_ref().is_some_and(|n| n.key.as_bytes() != key) {
            cur = &mut cur.as_mut()?.next;
        }
        let mut node = cur.take()?;
        *cur = node.next.take();
        self.used -= 1;
        Some(node)
    }

    fn push(&mut self, hash: u64, mut node: Box<Node<V>>) {
        let idx = (hash & self.mask()) as usize;
        node.next = self.buckets[idx].take();
        self.buckets[idx] = Some(node);
        self.used += 1;
    }
}

impl<V> Drop for Table<V> {
    /// Unlink chains iteratively: dropping a long chain recursively could overflow the stack.
    fn drop(&mut self) {
        for bucket in &mut self.buckets {
            let mut cur = bucket.take();
            while let Some(mut node) = cur {
                cur = node.next.take();
            }
        }
    }
}

/// A hash table from byte-string keys to `V`.
pub struct Dict<V> {
    t0: Table<V>,
    t1: Table<V>,
    /// Next bucket of `t0` to move into `t1`, while a rehash is in progress.
    rehash_idx: Option<usize>,
    hasher: foldhash::fast::RandomState,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    pub fn new() -> Self {
        Dict {
            t0: Table::empty(),
            t1: Table::empty(),
            rehash_idx: None,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.t0.used + self.t1.used
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total buckets (for memory accounting and tests).
    /// Bytes of one entry's node (key inline up to its limit, value) as allocated.
    pub const fn node_bytes() -> usize {
        std::mem::size_of::<Node<V>>()
    }

    /// Bytes of the bucket arrays and nodes, without what keys and values own on the heap
    /// (MEMORY STATS's hash table overhead).
    pub fn overhead_bytes(&self) -> usize {
        self.buckets() * std::mem::size_of::<Link<V>>() + self.len() * Self::node_bytes()
    }

    pub fn buckets(&self) -> usize {
        self.t0.buckets.len() + self.t1.buckets.len()
    }

    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    pub fn get_key_value(&self, key: &[u8]) -> Option<(&SmallBytes, &V)> {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(key);
        let node = self.t0.find(h, key).or_else(|| self.t1.find(h, key))?;
        Some((&node.key, &node.value))
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step(1);
        let h = self.hash(key);
        if self.t0.find(h, key).is_some() {
            return self.t0.find_mut(h, key).map(|n| &mut n.value);
        }
        self.t1.find_mut(h, key).map(|n| &mut n.value)
    }

    /// Insert or replace; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(key) {
            return Some(std::mem::replace(slot, value));
        }
        self.insert_new(SmallBytes::new(key), value);
        None
    }

    /// Insert a key the caller knows is absent.
    pub fn insert_new(&mut self, key: SmallBytes, value: V) {
        debug_assert!(!self.contains_key(&key), "insert_new of a present key");
        self.expand_if_needed();
        self.rehash_step(1);
        let h = self.hash(&key);
        let node = Box::new(Node {
            next: None,
            key,
            value,
        });
        if self.is_rehashing() {
            self.t1.push(h, node);
        } else {
            self.t0.push(h, node);
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(SmallBytes, V)> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step(1);
        let h = self.hash(key);
        let node = self.t0.unlink(h, key).or_else(|| self.t1.unlink(h, key))?;
        self.shrink_if_needed();
        let Node { key, value, .. } = *node;
        Some((key, value))
    }

    /// Make room for `n` entries in an empty table, so loading them never rehashes (a file's
    /// RESIZEDB hint, as Redis's loader uses it). Does nothing to a table in use.
    pub fn reserve(&mut self, n: usize) {
        if self.is_empty() && !self.is_rehashing() && self.t0.buckets.len() < n {
            self.t0 = Table::with_buckets(n.max(INITIAL_BUCKETS).next_power_of_two());
        }
    }

    /// Remove everything. Returns the old contents so a caller can free them elsewhere (big
    /// tables are dropped on a background thread by FLUSHALL ASYNC).
    pub fn take(&mut self) -> Dict<V> {
        std::mem::take(self)
    }

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        if self.t0.buckets.is_empty() {
            self.t0 = Table::with_buckets(INITIAL_BUCKETS);
        } else if self.t0.used >= self.t0.buckets.len() {
            self.start_resize((self.t0.used + 1).next_power_of_two());
        }
    }

    fn shrink_if_needed(&mut self) {
        let size = self.t0.buckets.len();
        if self.is_rehashing() || size <= INITIAL_BUCKETS {
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
        debug_assert!(!self.is_rehashing());
        self.t1 = Table::with_buckets(buckets);
        self.rehash_idx = Some(0);
    }

    /// Move up to `n` buckets from the old table to the new one. Returns true if a rehash is
    /// still in progress afterwards.
    pub fn rehash_step(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * EMPTY_VISITS_PER_STEP;
        let mut moved = 0;
        while moved < n && self.t0.used > 0 {
            debug_assert!(idx < self.t0.buckets.len());
            let mut chain = self.t0.buckets[idx].take();
            if chain.is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    break;
                }
                continue;
            }
            while let Some(mut node) = chain {
                chain = node.next.take();
                let h = self.hasher.hash_one(node.key.as_bytes());
                self.t0.used -= 1;
                self.t1.push(h, node);
            }
            idx += 1;
            moved += 1;
        }
        if self.t0.used == 0 {
            self.t0 = std::mem::replace(&mut self.t1, Table::empty());
            self.rehash_idx = None;
            // Deletions during a growth could not start a shrink; look again now.
            self.shrink_if_needed();
            return self.is_rehashing();
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// One step of a SCAN: calls `emit` for the keys of one bucket (of each table, when
    /// rehashing) and returns the next cursor, 0 when the scan is complete.
    ///
    /// The cursor counts in bit-reversed order over the masked bits, so keys that were in a
    /// visited bucket of a smaller table are in visited buckets of a bigger one and vice versa:
    /// a key present for the whole scan is returned at least once (maybe more than once).
    pub fn scan(&self, cursor: u64, mut emit: impl FnMut(&SmallBytes, &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        self.scan_buckets(cursor, |table, idx| {
            let t = if table == 0 { &self.t0 } else { &self.t1 };
            let mut cur = t.buckets[idx].as_deref();
            while let Some(node) = cur {
                emit(&node.key, &node.value);
                cur = node.next.as_deref();
            }
        })
    }

    /// [`Dict::scan`] with mutable access to the values (a snapshot's walk marks what it
    /// visited). The same cursor rules hold.
    pub fn scan_mut(&mut self, cursor: u64, mut emit: impl FnMut(&SmallBytes, &mut V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut visited = SmallVec::<[(u8, usize); 4]>::new();
        let next = self.scan_buckets(cursor, |table, idx| visited.push((table, idx)));
        for (table, idx) in visited {
            let t = if table == 0 {
                &mut self.t0
            } else {
                &mut self.t1
            };
            let mut cur = t.buckets[idx].as_deref_mut();
            while let Some(node) = cur {
                emit(&node.key, &mut node.value);
                cur = node.next.as_deref_mut();
            }
        }
        next
    }

    /// The buckets one SCAN step covers, as `(table, index)` (0 for `t0`, 1 for `t1`), and the
    /// next cursor.
    fn scan_buckets(&self, cursor: u64, mut visit: impl FnMut(u8, usize)) -> u64 {
        let mut v = cursor;
        if !self.is_rehashing() {
            let m0 = self.t0.mask();
            visit(0, (v & m0) as usize);
            v |= !m0;
            return v.reverse_bits().wrapping_add(1).reverse_bits();
        }
        let ((small, m0), (big, m1)) = if self.t0.buckets.len() <= self.t1.buckets.len() {
            ((0, self.t0.mask()), (1, self.t1.mask()))
        } else {
            ((1, self.t1.mask()), (0, self.t0.mask()))
        };
        visit(small, (v & m0) as usize);
        loop {
            visit(big, (v & m1) as usize);
            v |= !m1;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v & (m0 ^ m1) == 0 {
                break;
            }
        }
        v
    }

    /// A random entry, each key about equally likely. `rand` supplies random numbers.
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&SmallBytes, &V)> {
        if self.is_empty() {
            return None;
        }
        // Empty buckets are at most 90% of the table (we shrink below 10% fill), so this ends
        // quickly; the bound keeps a pathological table from spinning.
        for _ in 0..1_000_000 {
            let r = rand();
            let (table, idx) = match self.rehash_idx {
                Some(done) => {
                    let span = (self.t0.buckets.len() - done + self.t1.buckets.len()) as u64;
                    let i = done as u64 + r % span;
                    if (i as usize) < self.t0.buckets.len() {
                        (&self.t0, i as usize)
                    } else {
                        (&self.t1, i as usize - self.t0.buckets.len())
                    }
                }
                None => (&self.t0, (r & self.t0.mask()) as usize),
            };
            if let Some(head) = table.buckets[idx].as_deref() {
                let mut chain_len = 0;
                let mut cur = Some(head);
                while let Some(n) = cur {
                    chain_len += 1;
                    cur = n.next.as_deref();
                }
                let mut pick = (rand() % chain_len) as usize;
                let mut node = head;
                while pick > 0 {
                    node = node.next.as_deref()?;
                    pick -= 1;
                }
                return Some((&node.key, &node.value));
            }
        }
        self.iter().next()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&SmallBytes, &V)> {
        self.t0
            .buckets
            .iter()
            .chain(self.t1.buckets.iter())
            .flat_map(|bucket| {
                let mut cur = bucket.as_deref();
                std::iter::from_fn(move || {
                    let node = cur?;
                    cur = node.next.as_deref();
                    Some((&node.key, &node.value))
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn key(i: u32) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    #[test]
    fn insert_get_remove_across_resizes() {
        let mut d = Dict::new();
        for i in 0..10_000 {
            assert!(d.insert(&key(i), i).is_none());
        }
        assert_eq!(d.len(), 10_000);
        for i in 0..10_000 {
            assert_eq!(d.get(&key(i)), Some(&i));
        }
        assert_eq!(d.insert(&key(5), 50), Some(5));
        for i in 0..9_990 {
            assert!(d.remove(&key(i)).is_some(), "{i}");
        }
        assert_eq!(d.len(), 10);
        while d.rehash_step(100) {}
        assert!(d.buckets() <= 64, "shrunk: {}", d.buckets());
        assert_eq!(d.iter().count(), 10);
    }

    /// Regression guard for the SCAN guarantee: keys present throughout are all returned even
    /// when the table grows (and rehashes) between calls.
    #[test]
    fn scan_sees_every_stable_key_while_growing() {
        let mut d = Dict::new();
        for i in 0..500 {
            d.insert(&key(i), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut next_new = 1_000_000;
        let start_buckets = d.buckets();
        // Like SCAN with COUNT 10: ten buckets per call, a few inserts between calls.
        'outer: loop {
            for _ in 0..10 {
                cursor = d.scan(cursor, |k, _| {
                    seen.insert(k.to_vec());
                });
                if cursor == 0 {
                    break 'outer;
                }
            }
            for _ in 0..3 {
                d.insert(&key(next_new), ());
                next_new += 1;
            }
        }
        assert!(
            d.buckets() > start_buckets,
            "the table grew during the scan"
        );
        for i in 0..500 {
            assert!(seen.contains(&key(i)), "missed {i}");
        }
    }

    #[test]
    fn scan_sees_every_stable_key_while_shrinking() {
        let mut d = Dict::new();
        for i in 0..5000 {
            d.insert(&key(i), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut next_del = 100;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            for _ in 0..50 {
                if next_del < 5000 {
                    d.remove(&key(next_del));
                    next_del += 1;
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(&key(i)), "missed {i}");
        }
    }

    #[test]
    fn random_returns_members() {
        let mut d = Dict::new();
        for i in 0..100 {
            d.insert(&key(i), i);
        }
        let mut x = 12345u64;
        let mut rng = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            let (k, v) = d.random(&mut rng).unwrap();
            assert_eq!(k.as_bytes(), key(*v));
            seen.insert(*v);
        }
        assert!(seen.len() > 90);
    }
}
