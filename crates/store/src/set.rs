//! The set value: an `intset` (sorted integers packed at 2, 4 or 8 bytes each, the smallest
//! width that fits them all) while every member is a canonical integer and there are at most
//! `set-max-intset-entries` of them, else a `hashtable` (a dict of members). Redis 7.0 has no
//! listpack sets. Like Redis, a set never converts back to an intset.

use crate::bytes::SmallBytes;
use crate::dict::Dict;

/// Sorted integers in the narrowest width that holds them all, in one exact-size allocation:
/// `[width, values…]` (empty while the set is empty). Sixteen bytes inline, so a set value
/// needs no separate box (one allocation per small set, like Redis's intset).
#[derive(Clone, Debug, Default)]
pub struct IntSet {
    data: Box<[u8]>,
}

fn width_for(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    /// Bytes per integer as an RDB intset has it: 2, 4 or 8.
    pub fn encoding_width(&self) -> u8 {
        self.width().max(2)
    }

    /// Bytes per integer: 2, 4 or 8 (0 while empty).
    fn width(&self) -> u8 {
        self.data.first().copied().unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        match self.width() {
            0 => 0,
            w => (self.data.len() - 1) / usize::from(w),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> i64 {
        let w = usize::from(self.width());
        let b = &self.data[1 + i * w..1 + (i + 1) * w];
        match w {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    fn encode(width: u8, v: i64) -> Vec<u8> {
        match width {
            2 => (v as i16).to_le_bytes().to_vec(),
            4 => (v as i32).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        }
    }

    /// Insert; returns true if new.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_for(v);
        if need > self.width() {
            let values: Vec<i64> = self.iter().collect();
            let mut data = Vec::with_capacity(1 + (values.len() + 1) * usize::from(need));
            data.push(need);
            data.extend(values.iter().flat_map(|&x| IntSet::encode(need, x)));
            self.data = data.into_boxed_slice();
        }
        match self.search(v) {
            Ok(_) => false,
            Err(i) => {
                let width = self.width();
                let w = usize::from(width);
                // Grow by exactly one element, as Redis's intset does: a doubling Vec would
                // waste up to half of a small set (`into_boxed_slice` then keeps the size).
                let mut data = std::mem::take(&mut self.data).into_vec();
                data.reserve_exact(w);
                data.splice(1 + i * w..1 + i * w, IntSet::encode(width, v));
                self.data = data.into_boxed_slice();
                true
            }
        }
    }

    pub fn remove(&mut self, v: i64) -> bool {
        match self.search(v) {
            Ok(i) => {
                let w = usize::from(self.width());
                let mut data = std::mem::take(&mut self.data).into_vec();
                data.drain(1 + i * w..1 + (i + 1) * w);
                self.data = if data.len() == 1 {
                    Box::default()
                } else {
                    data.into_boxed_slice()
                };
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// A set value (16 bytes: it sits inline in a `Value`).
#[derive(Clone, Debug)]
pub enum Set {
    Ints(IntSet),
    Table(Box<Dict<()>>),
}

const _: () = assert!(std::mem::size_of::<Set>() == 16);

impl Default for Set {
    fn default() -> Self {
        Set::Ints(IntSet::default())
    }
}

impl Clone for Box<Dict<()>> {
    fn clone(&self) -> Self {
        let mut d = Dict::new();
        for (k, _) in self.iter() {
            d.insert_new(k.clone(), ());
        }
        Box::new(d)
    }
}

impl std::fmt::Debug for Dict<()> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|(k, _)| k)).finish()
    }
}

/// A member as it is iterated: an integer from an intset, or bytes from a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Member::Int(i) => itoa::Buffer::new().format(i).as_bytes().to_vec(),
            Member::Bytes(b) => b.to_vec(),
        }
    }
}

impl Set {
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(s) => s.data.len(),
            Set::Table(d) => d.len() * 40 + d.buckets() * 8,
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(s) => resp::parse_i64(member).is_some_and(|v| s.contains(v)),
            Set::Table(d) => d.contains_key(member),
        }
    }

    /// Add; returns true if new. `max_intset` is `set-max-intset-entries`.
    pub fn add(&mut self, member: &[u8], max_intset: usize) -> bool {
        if let Set::Ints(s) = self {
            if let Some(v) = resp::parse_i64(member) {
                let added = s.insert(v);
                if s.len() > max_intset {
                    self.convert();
                }
                return added;
            }
            self.convert();
        }
        match self {
            Set::Table(d) => {
                if d.contains_key(member) {
                    false
                } else {
                    d.insert_new(SmallBytes::new(member), ());
                    true
                }
            }
            Set::Ints(_) => unreachable!("converted to a table above"),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(s) => resp::parse_i64(member).is_some_and(|v| s.remove(v)),
            Set::Table(d) => d.remove(member).is_some(),
        }
    }

    /// Members: ascending for an intset, table order otherwise.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match self {
            Set::Ints(s) => Box::new(s.iter().map(Member::Int)),
            Set::Table(d) => Box::new(d.iter().map(|(k, _)| Member::Bytes(k.as_bytes()))),
        }
    }

    /// A random member (`rand` gives random numbers).
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<Vec<u8>> {
        match self {
            Set::Ints(s) if !s.is_empty() => {
                let i = (rand() % s.len() as u64) as usize;
                Some(Member::Int(s.get(i)).to_vec())
            }
            Set::Ints(_) => None,
            Set::Table(d) => d.random(rand).map(|(k, _)| k.to_vec()),
        }
    }

    /// The table form, for SCAN cursors; `None` for an intset.
    pub fn table(&self) -> Option<&Dict<()>> {
        match self {
            Set::Table(d) => Some(d),
            Set::Ints(_) => None,
        }
    }

    fn convert(&mut self) {
        let Set::Ints(s) = self else { return };
        let mut d = Dict::new();
        for v in s.iter() {
            d.insert_new(
                SmallBytes::new(itoa::Buffer::new().format(v).as_bytes()),
                (),
            );
        }
        *self = Set::Table(Box::new(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_widths_and_order() {
        let mut s = IntSet::default();
        for v in [5, -3, 300, 70_000, -1] {
            assert!(s.insert(v));
        }
        assert!(!s.insert(300));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-3, -1, 5, 300, 70_000]);
        assert_eq!(s.width(), 4);
        s.insert(i64::MAX);
        assert_eq!(s.width(), 8);
        assert!(s.remove(5));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![-3, -1, 300, 70_000, i64::MAX]
        );
    }

    #[test]
    fn converts_on_non_integer_or_size() {
        let mut s = Set::default();
        assert!(s.add(b"1", 3));
        assert!(s.add(b"2", 3));
        assert_eq!(s.encoding_name(), "intset");
        assert!(s.add(b"01", 3));
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"01"));
        let mut t = Set::default();
        for i in 0..4 {
            t.add(i.to_string().as_bytes(), 3);
        }
        assert_eq!(t.encoding_name(), "hashtable");
        assert_eq!(t.len(), 4);
    }
}
