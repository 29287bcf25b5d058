//! Score and lex ranges of sorted sets (`ZRANGEBYSCORE 1 (5`, `ZRANGEBYLEX [a (c`), parsed
//! as Redis's `zslParseRange` / `zslParseLexRange` do, and turned into ascending rank bounds
//! so that counting (ZCOUNT, ZLEXCOUNT) is O(log n) in the skiplist form.

use std::cmp::Ordering;

use crate::num::parse_range_double;
use crate::zset::ZSet;

/// `min`..`max` by score, each end inclusive unless `*_ex`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_ex: bool,
    pub max_ex: bool,
}

fn score_item(arg: &[u8]) -> Option<(f64, bool)> {
    match arg.first() {
        Some(b'(') => parse_range_double(&arg[1..]).map(|v| (v, true)),
        _ => parse_range_double(arg).map(|v| (v, false)),
    }
}

impl ScoreRange {
    /// `None` is Redis's "min or max is not a float".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, min_ex) = score_item(min)?;
        let (max, max_ex) = score_item(max)?;
        Some(ScoreRange {
            min,
            max,
            min_ex,
            max_ex,
        })
    }

    pub fn above_min(&self, score: f64) -> bool {
        if self.min_ex {
            score > self.min
        } else {
            score >= self.min
        }
    }

    pub fn below_max(&self, score: f64) -> bool {
        if self.max_ex {
            score < self.max
        } else {
            score <= self.max
        }
    }

    /// Whether no score can be in the range (Redis checks this before looking at the data).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_ex || self.max_ex))
    }

    /// Ascending ranks `lo..hi` of the members in the range.
    pub fn ranks(&self, z: &ZSet) -> (usize, usize) {
        if self.is_empty() {
            return (0, 0);
        }
        let lo = z.count_before(|s, _| !self.above_min(s));
        let hi = z.count_before(|s, _| self.below_max(s));
        (lo, hi.max(lo))
    }
}

/// One end of a lex range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[value` (inclusive) or `(value` (exclusive).
    Value(Vec<u8>, bool),
}

impl LexBound {
    /// Redis's `zslParseLexRangeItem`; like the C code, `+`/`-` only look at the byte after
    /// the sign as a C string would (a NUL byte ends it).
    fn parse(arg: &[u8]) -> Option<LexBound> {
        let alone = arg.len() == 1 || arg.get(1) == Some(&0);
        match arg.first()? {
            b'+' if alone => Some(LexBound::Max),
            b'-' if alone => Some(LexBound::Min),
            b'(' => Some(LexBound::Value(arg[1..].to_vec(), true)),
            b'[' => Some(LexBound::Value(arg[1..].to_vec(), false)),
            _ => None,
        }
    }

    fn exclusive(&self) -> bool {
        match self {
            LexBound::Min | LexBound::Max => true,
            LexBound::Value(_, ex) => *ex,
        }
    }

    /// Compare a member with this bound (`sdscmplex`).
    fn cmp_member(&self, member: &[u8]) -> Ordering {
        match self {
            LexBound::Min => Ordering::Greater,
            LexBound::Max => Ordering::Less,
            LexBound::Value(v, _) => member.cmp(v),
        }
    }
}

/// A lex range `min`..`max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// `None` is Redis's "min or max not valid string range item".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    pub fn above_min(&self, member: &[u8]) -> bool {
        match self.min.cmp_member(member) {
            Ordering::Greater => true,
            Ordering::Equal => !self.min.exclusive(),
            Ordering::Less => false,
        }
    }

    pub fn below_max(&self, member: &[u8]) -> bool {
        match self.max.cmp_member(member) {
            Ordering::Less => true,
            Ordering::Equal => !self.max.exclusive(),
            Ordering::Greater => false,
        }
    }

    /// Whether no member can be in the range.
    pub fn is_empty(&self) -> bool {
        let order = match (&self.min, &self.max) {
            (LexBound::Min, LexBound::Min) | (LexBound::Max, LexBound::Max) => Ordering::Equal,
            (LexBound::Min, _) | (_, LexBound::Max) => Ordering::Less,
            (LexBound::Max, _) | (_, LexBound::Min) => Ordering::Greater,
            (LexBound::Value(a, _), LexBound::Value(b, _)) => a.cmp(b),
        };
        order == Ordering::Greater
            || (order == Ordering::Equal && (self.min.exclusive() || self.max.exclusive()))
    }

    /// Ascending ranks `lo..hi` of the members in the range, found walking up from the
    /// bottom (`rev` false: ZRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX) or down from the top.
    ///
    /// Lex ranges assume every member has the same score. When they do not, Redis's answer
    /// depends on how it walks, and this follows that walk exactly for the packed form:
    /// nothing if the top member is below `min` or the bottom one above `max`; otherwise the
    /// first member (from the walk's end) on the right side of the near bound, and the run
    /// after it still inside the far bound. The skiplist form answers in O(log n) as if the
    /// members were sorted (Redis's skiplist walk depends on its random levels).
    pub fn ranks(&self, z: &ZSet, rev: bool) -> (usize, usize) {
        let n = z.len();
        if self.is_empty() || n == 0 {
            return (0, 0);
        }
        let top_ok = z.by_rank(n - 1).is_some_and(|(_, m)| self.above_min(m));
        let bottom_ok = z.by_rank(0).is_some_and(|(_, m)| self.below_max(m));
        if !top_ok || !bottom_ok {
            return (0, 0);
        }
        if z.table().is_some() {
            let lo = z.count_before(|_, m| !self.above_min(m));
            let hi = z.count_before(|_, m| self.below_max(m));
            return (lo, hi.max(lo));
        }
        if rev {
            let mut walk = z.iter_from_rank(0, true).map(|(_, m)| m);
            let Some(skip) = walk.position(|m| self.below_max(m)) else {
                return (0, 0);
            };
            let hi = n - skip;
            let run = z
                .iter_from_rank(skip, true)
                .take_while(|(_, m)| self.above_min(m))
                .count();
            (hi - run, hi)
        } else {
            let mut walk = z.iter().map(|(_, m)| m);
            let Some(lo) = walk.position(|m| self.above_min(m)) else {
                return (0, 0);
            };
            let run = z
                .iter_from_rank(lo, false)
                .take_while(|(_, m)| self.below_max(m))
                .count();
            (lo, lo + run)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zset::ZLimits;

    #[test]
    fn score_ranges_parse_and_count() {
        let r = ScoreRange::parse(b"(1", b"3").unwrap();
        assert!(r.min_ex && !r.max_ex);
        assert!(ScoreRange::parse(b"(", b"1").is_some());
        assert!(ScoreRange::parse(b"x", b"1").is_none());
        assert!(ScoreRange::parse(b"1", b"nan").is_none());
        assert!(ScoreRange::parse(b"(1", b"(1").unwrap().is_empty());
        for limits in [
            ZLimits::default(),
            ZLimits {
                max_entries: 0,
                max_value_bytes: 0,
            },
        ] {
            let mut z = ZSet::default();
            for i in 0..10 {
                z.set(format!("m{i}").as_bytes(), f64::from(i), limits);
            }
            assert_eq!(r.ranks(&z), (2, 4));
            let all = ScoreRange::parse(b"-inf", b"+inf").unwrap();
            assert_eq!(all.ranks(&z), (0, 10));
            assert_eq!(ScoreRange::parse(b"5", b"2").unwrap().ranks(&z), (0, 0));
        }
    }

    #[test]
    fn lex_ranges_parse_and_count() {
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(LexRange::parse(b"-x", b"+").is_none());
        assert!(LexRange::parse(b"-\0x", b"+").is_some());
        assert!(LexRange::parse(b"+", b"+").unwrap().is_empty());
        assert!(LexRange::parse(b"[b", b"(b").unwrap().is_empty());
        assert!(!LexRange::parse(b"[b", b"[b").unwrap().is_empty());
        let mut z = ZSet::default();
        for m in ["a", "b", "c", "d"] {
            z.set(m.as_bytes(), 0.0, ZLimits::default());
        }
        let r = LexRange::parse(b"(a", b"[c").unwrap();
        assert_eq!(r.ranks(&z, false), (1, 3));
        assert_eq!(r.ranks(&z, true), (1, 3));
        assert_eq!(
            LexRange::parse(b"-", b"+").unwrap().ranks(&z, false),
            (0, 4)
        );
    }

    /// Found by proptest_collections: with mixed scores Redis first checks the top member
    /// against `min` (here "-3" < "x", so nothing is in range).
    #[test]
    fn lex_range_over_mixed_scores_walks_like_redis() {
        let mut z = ZSet::default();
        z.set(b"x", 0.0, ZLimits::default());
        z.set(b"-3", f64::INFINITY, ZLimits::default());
        let r = LexRange::parse(b"[x", b"[zz").unwrap();
        assert_eq!(r.ranks(&z, false), (0, 0));
    }
}
