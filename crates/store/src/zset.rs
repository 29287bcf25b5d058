//! The sorted set value: packed (score, member) entries in order while small (Redis's
//! `listpack`: at most `zset-max-listpack-entries` members of at most
//! `zset-max-listpack-value` bytes), otherwise a member→score dict plus an order-statistic
//! skiplist (Redis's `skiplist`). Like Redis, it never converts back, except that a result
//! built by a command (ZUNIONSTORE …) starts in whichever form fits it.
//!
//! Redis quirk kept on purpose: a listpack stores a score as text where an integral value is
//! printed as an integer, so `-0` comes back as `0` from the packed form but stays `-0` in the
//! skiplist form. [`Packed`] normalizes `-0.0` to `0.0` on insert for the same answers.

use crate::skiplist::SkipList;
use crate::varint;

/// Thresholds from `zset-max-listpack-entries` / `zset-max-listpack-value`.
#[derive(Debug, Clone, Copy)]
pub struct ZLimits {
    pub max_entries: usize,
    pub max_value_bytes: usize,
}

impl Default for ZLimits {
    fn default() -> Self {
        ZLimits {
            max_entries: 128,
            max_value_bytes: 64,
        }
    }
}

/// Largest magnitude stored as an integer score (every integer up to 2^53 is an exact f64).
const INT_SCORE_MAX: f64 = 9_007_199_254_740_992.0;
/// Tags of the non-integer score forms (integers use even tags, see [`put_score`]).
const TAG_F64: usize = 1;
const TAG_F32: usize = 3;

/// Append a packed score, as small as it can be without losing a bit (a listpack stores
/// integral scores as integers too): an integer `i` is `varint(zigzag(i) << 1)` (one byte up
/// to ±63); a value a `f32` holds exactly (1.5, 0.25, 1e10) is tag 3 and 4 bytes; anything
/// else is tag 1 and the 8 bytes of the double. `-0` is stored as the integer 0, as Redis's
/// listpack does.
fn put_score(out: &mut Vec<u8>, score: f64) {
    if score.fract() == 0.0 && score.abs() <= INT_SCORE_MAX {
        let i = score as i64;
        let zigzag = ((i << 1) ^ (i >> 63)) as u64;
        varint::put(out, (zigzag << 1) as usize);
    } else if f64::from(score as f32) == score {
        varint::put(out, TAG_F32);
        out.extend_from_slice(&(score as f32).to_le_bytes());
    } else {
        varint::put(out, TAG_F64);
        out.extend_from_slice(&score.to_le_bytes());
    }
}

/// Read the packed score at `at`: (score, offset after it).
fn get_score(buf: &[u8], at: usize) -> (f64, usize) {
    let (v, at) = varint::get(buf, at);
    match v {
        TAG_F64 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[at..at + 8]);
            (f64::from_le_bytes(b), at + 8)
        }
        TAG_F32 => {
            let mut b = [0u8; 4];
            b.copy_from_slice(&buf[at..at + 4]);
            (f64::from(f32::from_le_bytes(b)), at + 4)
        }
        _ => {
            debug_assert!(v & 1 == 0, "unknown packed score tag {v}");
            let zigzag = (v as u64) >> 1;
            let i = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
            (i as f64, at)
        }
    }
}

/// Entries `packed score + varint(len) + member`, ascending by (score, member).
#[derive(Clone, Debug, Default)]
pub struct Packed {
    buf: Vec<u8>,
    len: u32,
}

impl Packed {
    /// (score, member, entry start, entry end), in order.
    fn entries(&self) -> impl Iterator<Item = (f64, &[u8], usize, usize)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let start = at;
            let (score, after) = get_score(&self.buf, at);
            let (n, m) = varint::get(&self.buf, after);
            at = m + n;
            Some((score, &self.buf[m..m + n], start, at))
        })
    }

    fn find(&self, member: &[u8]) -> Option<(f64, usize, usize)> {
        self.entries()
            .find(|(_, m, ..)| *m == member)
            .map(|(s, _, a, b)| (s, a, b))
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (score, a, b) = self.find(member)?;
        self.buf.drain(a..b);
        self.buf.shrink_to_fit();
        self.len -= 1;
        Some(score)
    }

    fn insert(&mut self, score: f64, member: &[u8]) {
        // `-0.0 + 0.0` is `+0.0`: the listpack's integer text has no negative zero.
        let score = score + 0.0;
        let at = self
            .entries()
            .find(|(s, m, ..)| {
                s.partial_cmp(&score)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| (*m).cmp(member))
                    .is_gt()
            })
            .map_or(self.buf.len(), |(.., a, _)| a);
        let mut entry = Vec::with_capacity(9 + varint::len(member.len()) + member.len());
        put_score(&mut entry, score);
        varint::put(&mut entry, member.len());
        entry.extend_from_slice(member);
        self.buf.reserve_exact(entry.len());
        self.buf.splice(at..at, entry);
        self.len += 1;
    }

    /// Append an entry known to sort after every present one.
    fn push_back(&mut self, score: f64, member: &[u8]) {
        put_score(&mut self.buf, score + 0.0);
        varint::put(&mut self.buf, member.len());
        self.buf.extend_from_slice(member);
        self.len += 1;
    }
}

/// Order of (score, member) pairs: by score, then member bytes.
fn cmp_entry(a_score: f64, a: &[u8], b_score: f64, b: &[u8]) -> std::cmp::Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then_with(|| a.cmp(b))
}

/// A sorted set value.
#[derive(Clone, Debug)]
pub enum ZSet {
    Packed(Packed),
    /// The large form: an order-statistic skiplist that also indexes its members.
    Indexed(Box<SkipList>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Packed(Packed::default())
    }
}

impl ZSet {
    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.len as usize,
            ZSet::Indexed(i) => i.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Indexed(_) => "skiplist",
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => p.find(member).map(|(s, ..)| s),
            ZSet::Indexed(i) => i.score_of(member),
        }
    }

    /// Give `member` the score `score`; returns its previous score, if it had one.
    ///
    /// As Redis's `zsetAdd`: an existing member of the packed form is re-placed there; a new
    /// one first converts the value when it would exceed the limits, then goes in as given
    /// (so a `-0` score survives only in the skiplist form).
    pub fn set(&mut self, member: &[u8], score: f64, limits: ZLimits) -> Option<f64> {
        if let ZSet::Packed(p) = self {
            if let Some(old) = p.remove(member) {
                p.insert(score, member);
                return Some(old);
            }
            if (p.len as usize) < limits.max_entries && member.len() <= limits.max_value_bytes {
                p.insert(score, member);
                return None;
            }
            self.convert();
        }
        let ZSet::Indexed(i) = self else {
            unreachable!("converted above")
        };
        let old = i.update_score(member, score);
        if old.is_none() {
            i.insert(score, member);
        }
        old
    }

    /// A value holding `entries` (distinct members, any order) in the form Redis gives a
    /// computed result (`zsetConvertToListpackIfNeeded`): packed if it fits the limits.
    pub fn from_entries(entries: Vec<(f64, Vec<u8>)>, limits: ZLimits) -> ZSet {
        let fits = entries.len() <= limits.max_entries
            && entries
                .iter()
                .all(|(_, m)| m.len() <= limits.max_value_bytes);
        if fits {
            let mut sorted = entries;
            sorted.sort_by(|a, b| cmp_entry(a.0, &a.1, b.0, &b.1));
            let mut p = Packed::default();
            for (s, m) in &sorted {
                p.push_back(*s, m);
            }
            return ZSet::Packed(p);
        }
        let mut order = SkipList::new();
        for (s, m) in entries {
            order.insert(s, &m);
        }
        ZSet::Indexed(Box::new(order))
    }

    /// Remove `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => p.remove(member),
            ZSet::Indexed(i) => {
                let s = i.score_of(member)?;
                i.delete(s, member);
                Some(s)
            }
        }
    }

    /// 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Packed(p) => p.entries().position(|(_, m, ..)| m == member),
            ZSet::Indexed(i) => {
                let s = i.score_of(member)?;
                i.rank(s, member)
            }
        }
    }

    /// Members from 0-based rank `start` on: ascending, or descending from the top when `rev`.
    pub fn iter_from_rank(
        &self,
        start: usize,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (f64, &[u8])> + '_> {
        match self {
            ZSet::Packed(p) => {
                let all: Vec<(f64, &[u8])> = p.entries().map(|(s, m, ..)| (s, m)).collect();
                if rev {
                    Box::new(all.into_iter().rev().skip(start))
                } else {
                    Box::new(all.into_iter().skip(start))
                }
            }
            ZSet::Indexed(i) => Box::new(i.iter_from_rank(start, rev)),
        }
    }

    /// 0-based rank where scores reach `min` (above it when `exclusive`).
    pub fn first_rank_with_score(&self, min: f64, exclusive: bool) -> usize {
        match self {
            ZSet::Packed(p) => p
                .entries()
                .position(|(s, ..)| if exclusive { s > min } else { s >= min })
                .unwrap_or(p.len as usize),
            ZSet::Indexed(i) => i.first_rank_with_score(min, exclusive),
        }
    }

    /// How many leading members (ascending) satisfy `before`, a predicate that holds for a
    /// prefix of the order: where a score or lex range starts (or, negated, ends).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Packed(p) => p.entries().take_while(|(s, m, ..)| before(*s, m)).count(),
            ZSet::Indexed(i) => i.count_before(before),
        }
    }

    /// The member at 0-based ascending `rank`.
    pub fn by_rank(&self, rank: usize) -> Option<(f64, &[u8])> {
        match self {
            ZSet::Packed(p) => p.entries().nth(rank).map(|(s, m, ..)| (s, m)),
            ZSet::Indexed(i) => i.by_rank(rank),
        }
    }

    /// Every member, ascending.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (f64, &[u8])> + '_> {
        self.iter_from_rank(0, false)
    }

    /// Remove the members of ascending ranks `lo..hi`; returns them in that order.
    pub fn remove_ranks(&mut self, lo: usize, hi: usize) -> Vec<(f64, Vec<u8>)> {
        let hi = hi.min(self.len());
        if lo >= hi {
            return Vec::new();
        }
        let gone: Vec<(f64, Vec<u8>)> = self
            .iter_from_rank(lo, false)
            .take(hi - lo)
            .map(|(s, m)| (s, m.to_vec()))
            .collect();
        match self {
            ZSet::Packed(p) => {
                let start = p.entries().nth(lo).map_or(p.buf.len(), |(.., a, _)| a);
                let end = p.entries().nth(hi).map_or(p.buf.len(), |(.., a, _)| a);
                p.buf.drain(start..end);
                p.buf.shrink_to_fit();
                p.len -= (hi - lo) as u32;
            }
            ZSet::Indexed(i) => {
                for (s, m) in &gone {
                    i.delete(*s, m);
                }
            }
        }
        gone
    }

    /// Whether this is the packed (listpack) form.
    pub fn is_packed(&self) -> bool {
        matches!(self, ZSet::Packed(_))
    }

    /// One ZSCAN step: the packed form answers everything at once (cursor 0); the skiplist
    /// form walks its member index with Redis's cursor.
    pub fn scan(&self, cursor: u64, mut emit: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Packed(p) => {
                for (s, m, ..) in p.entries() {
                    emit(m, s);
                }
                0
            }
            ZSet::Indexed(i) => i.scan(cursor, emit),
        }
    }

    /// Approximate heap bytes owned (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.buf.capacity(),
            ZSet::Indexed(i) => i.heap_bytes(),
        }
    }

    /// Switch to the skiplist form (Redis's SORT does this to the sorted set it reads).
    pub fn convert_to_skiplist(&mut self) {
        self.convert();
    }

    fn convert(&mut self) {
        let ZSet::Packed(p) = self else { return };
        let mut order = SkipList::new();
        for (s, m, ..) in p.entries() {
            order.insert(s, m);
        }
        *self = ZSet::Indexed(Box::new(order));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_scores_round_trip_exactly() {
        let scores = [
            0.0,
            1.0,
            -1.0,
            63.0,
            -64.0,
            64.0,
            1.5,
            -2.25,
            0.1,
            1e20,
            -1e-300,
            123.5,
            9_007_199_254_740_992.0,
            -9_007_199_254_740_992.0,
            9_007_199_254_740_994.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
            4.9e-324,
        ];
        for s in scores {
            let mut b = Vec::new();
            put_score(&mut b, s);
            assert_eq!(get_score(&b, 0), (s, b.len()), "{s}");
        }
        let size = |s: f64| {
            let mut b = Vec::new();
            put_score(&mut b, s);
            b.len()
        };
        assert_eq!((size(7.0), size(123.5), size(0.1)), (1, 5, 9));
        let mut b = Vec::new();
        put_score(&mut b, -0.0);
        assert_eq!(get_score(&b, 0).0.to_bits(), 0.0f64.to_bits());
    }

    fn check(z: &ZSet, model: &[(f64, Vec<u8>)]) {
        assert_eq!(z.len(), model.len());
        let got: Vec<(f64, Vec<u8>)> = z
            .iter_from_rank(0, false)
            .map(|(s, m)| (s, m.to_vec()))
            .collect();
        assert_eq!(got, model);
        for (i, (s, m)) in model.iter().enumerate() {
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.rank(m), Some(i));
        }
        let rev: Vec<Vec<u8>> = z.iter_from_rank(1, true).map(|(_, m)| m.to_vec()).collect();
        let want: Vec<Vec<u8>> = model.iter().rev().skip(1).map(|(_, m)| m.clone()).collect();
        assert_eq!(rev, want);
    }

    #[test]
    fn packed_and_indexed_agree_with_a_model() {
        let limits = ZLimits {
            max_entries: 16,
            max_value_bytes: 8,
        };
        let mut z = ZSet::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut x: u64 = 7;
        for step in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = format!("m{}", x % 40).into_bytes();
            let s = ((x >> 20) % 9) as f64 / 2.0;
            if x.is_multiple_of(5) {
                let want = model
                    .iter()
                    .position(|(_, mm)| *mm == m)
                    .map(|p| model.remove(p).0);
                assert_eq!(z.remove(&m), want);
            } else {
                let old = model
                    .iter()
                    .position(|(_, mm)| *mm == m)
                    .map(|p| model.remove(p).0);
                assert_eq!(z.set(&m, s, limits), old);
                let pos = model
                    .iter()
                    .position(|(ms, mm)| {
                        ms.partial_cmp(&s).unwrap().then_with(|| mm.cmp(&m)).is_gt()
                    })
                    .unwrap_or(model.len());
                model.insert(pos, (s, m));
            }
            if step % 50 == 0 {
                check(&z, &model);
                assert_eq!(
                    z.first_rank_with_score(2.0, false),
                    model
                        .iter()
                        .position(|(s, _)| *s >= 2.0)
                        .unwrap_or(model.len())
                );
            }
        }
        check(&z, &model);
        assert_eq!(z.encoding_name(), "skiplist");
        let mut small = ZSet::default();
        small.set(b"a", 1.0, limits);
        assert_eq!(small.encoding_name(), "listpack");
        small.set(b"a-long-member", 2.0, limits);
        assert_eq!(small.encoding_name(), "skiplist");
        assert_eq!(small.rank(b"a-long-member"), Some(1));
    }
}
