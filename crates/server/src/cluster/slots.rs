//! Who serves each of the 16,384 slots, as small indexes into a table of node IDs.
//!
//! A node ID is 40 bytes; the table is walked whole by every save of `nodes.conf`, every
//! CLUSTER NODES/SLOTS/INFO, every state update and every change of the served-slot bitmap.
//! Comparing 16,384 IDs made those walks dominate CLUSTER SETSLOT (a reshard sends several
//! per slot); comparing 16,384 `u16`s does not. Counts per owner are kept as slots change,
//! so "how many slots does this node serve" is a lookup.

use std::cell::RefCell;
use std::ops::Index;

use store::slot::SLOTS;

use super::NodeId;

pub struct SlotTable {
    /// Per slot: an index into `ids` (0: nobody).
    idx: Vec<u16>,
    /// `ids[0]` is `None`; an entry whose count is 0 is free for the next new owner.
    ids: Vec<Option<NodeId>>,
    /// Slots served by `ids[i]`.
    counts: Vec<u32>,
    /// [`SlotTable::runs`] since the last change: one CLUSTER SETSLOT reads them for the
    /// served-slot bitmap, the state and `nodes.conf`, every PING for its slot bitmap.
    runs: RefCell<Option<Vec<Run>>>,
}

/// First slot, last slot, owner.
pub type Run = (u16, u16, NodeId);

impl Default for SlotTable {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotTable {
    pub fn new() -> Self {
        Self {
            idx: vec![0; SLOTS],
            ids: vec![None],
            counts: vec![SLOTS as u32],
            runs: RefCell::new(None),
        }
    }

    /// Give `slot` to `owner` (or to nobody).
    pub fn set(&mut self, slot: usize, owner: Option<NodeId>) {
        let new = self.intern(owner);
        let old = std::mem::replace(&mut self.idx[slot], new) as usize;
        if old != new as usize {
            self.runs.get_mut().take();
        }
        self.counts[old] -= 1;
        self.counts[new as usize] += 1;
        debug_assert_eq!(
            self.counts.iter().map(|&c| c as usize).sum::<usize>(),
            SLOTS
        );
    }

    /// Every slot of `from` goes to `to`.
    pub fn reassign(&mut self, from: &NodeId, to: Option<NodeId>) {
        let Some(old) = self.find(from) else {
            return;
        };
        if self.counts[old as usize] == 0 {
            return;
        }
        let new = self.intern(to);
        self.runs.get_mut().take();
        for i in self.idx.iter_mut().filter(|i| **i == old) {
            *i = new;
        }
        self.counts[new as usize] += std::mem::take(&mut self.counts[old as usize]);
    }

    /// Nobody serves any slot.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// How many slots `id` serves.
    pub fn count(&self, id: &NodeId) -> usize {
        self.find(id)
            .map_or(0, |i| self.counts[i as usize] as usize)
    }

    /// How many slots somebody serves.
    pub fn assigned(&self) -> usize {
        SLOTS - self.counts[0] as usize
    }

    /// The slots `id` serves, in order.
    pub fn slots_of(&self, id: &NodeId) -> impl Iterator<Item = usize> + '_ {
        let want = self.find(id);
        self.idx
            .iter()
            .enumerate()
            .filter(move |(_, &i)| Some(i) == want)
            .map(|(s, _)| s)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Option<NodeId>> + '_ {
        self.idx.iter().map(|&i| &self.ids[i as usize])
    }

    /// Every run of consecutive slots with one owner, in slot order.
    pub fn runs(&self) -> Vec<Run> {
        self.runs
            .borrow_mut()
            .get_or_insert_with(|| self.walk())
            .clone()
    }

    /// The owners' runs, from the table.
    fn walk(&self) -> Vec<Run> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < SLOTS {
            let i = self.idx[start];
            let len = self.idx[start..]
                .iter()
                .position(|&x| x != i)
                .unwrap_or(SLOTS - start);
            if let Some(id) = self.ids[i as usize] {
                out.push((start as u16, (start + len - 1) as u16, id));
            }
            start += len;
        }
        out
    }

    fn find(&self, id: &NodeId) -> Option<u16> {
        (1..self.ids.len())
            .find(|&i| self.ids[i].as_ref() == Some(id) && self.counts[i] > 0)
            .map(|i| i as u16)
    }

    /// The index of `owner`, taking a free entry (or a new one) for an owner not in use.
    fn intern(&mut self, owner: Option<NodeId>) -> u16 {
        let Some(id) = owner else {
            return 0;
        };
        if let Some(i) = self.find(&id) {
            return i;
        }
        let i = match (1..self.ids.len()).find(|&i| self.counts[i] == 0) {
            Some(free) => free,
            None => {
                self.ids.push(None);
                self.counts.push(0);
                self.ids.len() - 1
            }
        };
        // At most SLOTS owners are in use, so the index always fits a u16.
        assert!(i <= SLOTS);
        self.ids[i] = Some(id);
        i as u16
    }
}

/// Set bits `first..=last` of a little-endian bitmap of 64-bit words, a word at a time.
pub fn fill_bits(words: &mut [u64], first: usize, last: usize) {
    debug_assert!(first <= last && last / 64 < words.len());
    let mut s = first;
    while s <= last {
        let bit = s % 64;
        let n = (last - s + 1).min(64 - bit);
        let mask = if n == 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << bit
        };
        words[s / 64] |= mask;
        s += n;
    }
}

impl Index<usize> for SlotTable {
    type Output = Option<NodeId>;

    fn index(&self, slot: usize) -> &Option<NodeId> {
        &self.ids[self.idx[slot] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        [c; 40]
    }

    #[test]
    fn fill_bits_sets_exactly_the_range() {
        for (a, b) in [
            (0, 0),
            (0, 63),
            (0, 64),
            (5, 200),
            (63, 64),
            (100, 16383),
            (16383, 16383),
        ] {
            let mut words = vec![0u64; SLOTS / 64];
            fill_bits(&mut words, a, b);
            for s in 0..SLOTS {
                assert_eq!(
                    words[s / 64] >> (s % 64) & 1 == 1,
                    (a..=b).contains(&s),
                    "{a}..={b} at {s}"
                );
            }
        }
    }

    #[test]
    fn set_count_runs_and_reuse_of_free_entries() {
        let mut t = SlotTable::new();
        for s in 0..10 {
            t.set(s, Some(id(b'a')));
        }
        t.set(5, Some(id(b'b')));
        assert_eq!(t.count(&id(b'a')), 9);
        assert_eq!(t.count(&id(b'b')), 1);
        assert_eq!(t.assigned(), 10);
        assert_eq!(
            t.runs(),
            vec![(0, 4, id(b'a')), (5, 5, id(b'b')), (6, 9, id(b'a'))]
        );
        t.set(5, None);
        assert_eq!(t.count(&id(b'b')), 0);
        assert_eq!(t[5], None);
        // b's entry is free again and taken by c.
        t.set(100, Some(id(b'c')));
        assert_eq!(t.ids.len(), 3);
        assert_eq!(t[100], Some(id(b'c')));
        t.reassign(&id(b'a'), Some(id(b'c')));
        assert_eq!(t.count(&id(b'a')), 0);
        assert_eq!(t.count(&id(b'c')), 10);
        assert_eq!(
            t.runs(),
            vec![(0, 4, id(b'c')), (6, 9, id(b'c')), (100, 100, id(b'c'))]
        );
        t.reassign(&id(b'c'), None);
        assert_eq!(t.assigned(), 0);
        assert!(t.iter().all(|o| o.is_none()));
    }
}
