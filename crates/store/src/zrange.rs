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

    /// Redis's `zslIsInLexRange`: could anything be in range? (The top member must reach
    /// `min` and the bottom one `max`.)
    fn precheck(&self, z: &ZSet) -> bool {
        let n = z.len();
        !self.is_empty()
            && n > 0
            && z.by_rank(n - 1).is_some_and(|(_, m)| self.above_min(m))
            && z.by_rank(0).is_some_and(|(_, m)| self.below_max(m))
    }

    /// Redis's `zslFirstInLexRange` / `zzlFirstInLexRange`: rank of the first member in range.
    fn first_in(&self, z: &ZSet) -> Option<usize> {
        if !self.precheck(z) {
            return None;
        }
        let lo = self.walk_to_min(z)?;
        z.by_rank(lo)
            .is_some_and(|(_, m)| self.below_max(m))
            .then_some(lo)
    }

    /// Redis's `zslLastInLexRange` / `zzlLastInLexRange`: rank of the last member in range.
    fn last_in(&self, z: &ZSet) -> Option<usize> {
        if !self.precheck(z) {
            return None;
        }
        let last = if !z.is_packed() {
            z.count_before(|_, m| self.below_max(m)).checked_sub(1)?
        } else {
            let skip = z
                .iter_from_rank(0, true)
                .position(|(_, m)| self.below_max(m))?;
            z.len() - 1 - skip
        };
        z.by_rank(last)
            .is_some_and(|(_, m)| self.above_min(m))
            .then_some(last)
    }

    /// Where a walk up from the bottom first meets a member at or above `min`: a linear scan
    /// in the packed form, a descent through the levels in the skiplist form.
    fn walk_to_min(&self, z: &ZSet) -> Option<usize> {
        if !z.is_packed() {
            Some(z.count_before(|_, m| !self.above_min(m)))
        } else {
            z.iter().position(|(_, m)| self.above_min(m))
        }
    }

    fn run_up(&self, z: &ZSet, from: usize) -> usize {
        z.iter_from_rank(from, false)
            .take_while(|(_, m)| self.below_max(m))
            .count()
    }

    /// Ascending ranks `lo..hi` that ZRANGEBYLEX (`rev` false) or ZREVRANGEBYLEX (`rev`) walk.
    ///
    /// Lex ranges assume every member has the same score. When they do not, Redis's answer
    /// depends on how each command walks, and this follows those walks: nothing if the top
    /// member is below `min` or the bottom one above `max`; otherwise the first member (from
    /// the walk's end) on the right side of the near bound, and the run after it still inside
    /// the far bound. In the skiplist form the walk descends levels, which are random, so
    /// there the answer matches Redis's only when the members are in lex order.
    pub fn ranks(&self, z: &ZSet, rev: bool) -> (usize, usize) {
        if rev {
            let Some(last) = self.last_in(z) else {
                return (0, 0);
            };
            let run = z
                .iter_from_rank(z.len() - 1 - last, true)
                .take_while(|(_, m)| self.above_min(m))
                .count();
            (last + 1 - run, last + 1)
        } else {
            match self.first_in(z) {
                Some(lo) => (lo, lo + self.run_up(z, lo)),
                None => (0, 0),
            }
        }
    }

    /// ZLEXCOUNT's answer: a run from the first member in range (packed form), or the rank
    /// distance between the first and last members in range (skiplist form, O(log n)).
    pub fn count(&self, z: &ZSet) -> i64 {
        let Some(first) = self.first_in(z) else {
            return 0;
        };
        if z.is_packed() {
            return self.run_up(z, first) as i64;
        }
        match self.last_in(z) {
            Some(last) => last as i64 - first as i64 + 1,
            None => (z.len() - first) as i64,
        }
    }

    /// Ascending ranks ZREMRANGEBYLEX removes. The skiplist form skips the up-front checks
    /// (Redis's `zslDeleteRangeByLex`); the packed form makes them.
    pub fn delete_ranks(&self, z: &ZSet) -> (usize, usize) {
        let lo = if !z.is_packed() {
            self.walk_to_min(z)
        } else {
            self.first_in(z)
        };
        match lo {
            Some(lo) => (lo, lo + self.run_up(z, lo)),
            None => (0, 0),
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
        assert_eq!(r.count(&z), 0);
        // ZREMRANGEBYLEX on the skiplist form walks without the checks: "-3" is below "(x",
        // so the walk stops at once and the run from there is inside "[zz".
        let mut big = ZSet::default();
        let no_pack = ZLimits {
            max_entries: 0,
            max_value_bytes: 0,
        };
        big.set(b"y", -1.0, no_pack);
        big.set(b"10", f64::INFINITY, no_pack);
        let r = LexRange::parse(b"(x", b"[zz").unwrap();
        assert_eq!(r.delete_ranks(&big), (0, 2));
        assert_eq!(r.ranks(&big, false), (0, 0));
    }
}
