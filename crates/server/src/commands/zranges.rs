//! Sorted-set ranges: ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES), ZRANGESTORE, the older
//! ZREVRANGE / Z[REV]RANGEBYSCORE / Z[REV]RANGEBYLEX forms, and ZREMRANGEBYRANK/SCORE/LEX.
//!
//! Every form goes through [`range_generic`], as all of them do in Redis's
//! `zrangeGenericCommand`, so option errors match command by command: the older forms fix the
//! range type and direction, which makes `REV`/`BYSCORE`/`BYLEX` syntax errors there.

use resp::Argv;
use store::{LexRange, ScoreRange, Value, ZSet};

use super::zsets::{
    begin_scored, drop_if_empty, emit_scored, read_zset, write_zset, zlimits, NOT_FLOAT_RANGE,
    NOT_LEX_RANGE,
};
use super::{is, parse_int, store_result};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// The parsed range, in ascending terms.
enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

struct Request {
    range: Range,
    rev: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
}

/// Parse `<min> <max> [options]` starting at `at` (the key is just before). `by`/`rev` are
/// `None` for ZRANGE and ZRANGESTORE, which take them as options.
fn parse_request(
    argv: &Argv<'_>,
    at: usize,
    by: Option<By>,
    rev: Option<bool>,
    store: bool,
) -> Result<Request, CmdError> {
    let (mut by_opt, mut rev_opt) = (by, rev);
    let (mut withscores, mut limit_given) = (false, false);
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = at + 2;
    while j < argv.len() {
        let a = argv.get(j);
        let left = argv.len() - j - 1;
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = parse_int(argv.get(j + 1))?;
            limit = parse_int(argv.get(j + 2))?;
            limit_given = true;
            j += 2;
        } else if rev_opt.is_none() && is(a, "rev") {
            rev_opt = Some(true);
        } else if by_opt.is_none() && is(a, "bylex") {
            by_opt = Some(By::Lex);
        } else if by_opt.is_none() && is(a, "byscore") {
            by_opt = Some(By::Score);
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let (by, rev) = (by_opt.unwrap_or(By::Rank), rev_opt.unwrap_or(false));
    // Redis checks the count alone: `LIMIT <any> -1` passes in rank mode (and is ignored).
    if limit_given && limit != -1 && by == By::Rank {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
                .into(),
        );
    }
    if withscores && by == By::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX".into());
    }
    // Reversed score and lex ranges are given as <max> <min>.
    let (lo, hi) = match (by, rev) {
        (By::Rank, _) | (_, false) => (argv.get(at), argv.get(at + 1)),
        (_, true) => (argv.get(at + 1), argv.get(at)),
    };
    let range = match by {
        By::Rank => Range::Rank(parse_int(lo)?, parse_int(hi)?),
        By::Score => Range::Score(ScoreRange::parse(lo, hi).ok_or(NOT_FLOAT_RANGE)?),
        By::Lex => Range::Lex(LexRange::parse(lo, hi).ok_or(NOT_LEX_RANGE)?),
    };
    Ok(Request {
        range,
        rev,
        withscores,
        offset,
        limit,
    })
}

/// Ascending ranks `lo..hi` of a rank range as Redis clamps it.
fn rank_bounds(start: i64, end: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return (0, 0);
    }
    (start as usize, (end.min(len - 1) + 1) as usize)
}

/// The selected members in reply order.
fn select(z: &ZSet, req: &Request) -> Vec<(f64, Vec<u8>)> {
    let n = z.len();
    let (lo, hi, windowed) = match &req.range {
        Range::Rank(s, e) => {
            // A rank range counts from the top when reversed.
            let (a, b) = rank_bounds(*s, *e, n);
            let (a, b) = if req.rev { (n - b, n - a) } else { (a, b) };
            (a, b, false)
        }
        Range::Score(r) => {
            let (a, b) = r.ranks(z);
            (a, b, true)
        }
        Range::Lex(r) => {
            let (a, b) = r.ranks(z, req.rev);
            (a, b, true)
        }
    };
    if lo >= hi {
        return Vec::new();
    }
    let mut count = hi - lo;
    let mut skip = 0;
    if windowed {
        // Redis walks `offset` elements first (a negative offset never stops walking) and
        // then takes `limit` (negative: no limit).
        if req.offset < 0 {
            return Vec::new();
        }
        skip = (req.offset as u64).min(count as u64) as usize;
        count -= skip;
        if req.limit >= 0 {
            count = count.min(req.limit as usize);
        }
    }
    let start = if req.rev { n - hi + skip } else { lo + skip };
    z.iter_from_rank(start, req.rev)
        .take(count)
        .map(|(s, m)| (s, m.to_vec()))
        .collect()
}

fn range_generic(
    ctx: &mut Ctx<'_, '_>,
    argv: Argv<'_>,
    by: Option<By>,
    rev: Option<bool>,
) -> CmdResult {
    let req = parse_request(&argv, 2, by, rev, false)?;
    let (key, now) = (argv.get(1), ctx.now_ms);
    let z = read_zset(ctx.keys.db(key, ctx.client.db), key, now)?;
    let items = z.map_or_else(Vec::new, |z| select(z, &req));
    begin_scored(ctx.out, items.len(), req.withscores);
    for (s, m) in &items {
        emit_scored(ctx.out, m, *s, req.withscores);
    }
    Ok(())
}

pub fn zrange(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    range_generic(ctx, argv, None, None)
}

pub fn zrevrange(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    range_generic(ctx, argv, Some(By::Rank), Some(true))
}

pub fn zrangebyscore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    range_generic(ctx, argv, Some(By::Score), Some(false))
}

pub fn zrevrangebyscore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    range_generic(ctx, argv, Some(By::Score), Some(true))
}

pub fn zrangebylex(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    range_generic(ctx, argv, Some(By::Lex), Some(false))
}

pub fn zrevrangebylex(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    range_generic(ctx, argv, Some(By::Lex), Some(true))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: an empty result
/// deletes `dst`.
pub fn zrangestore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let req = parse_request(&argv, 3, None, None, true)?;
    let (dst, src, now, dbi) = (argv.get(1), argv.get(2), ctx.now_ms, ctx.client.db);
    let items =
        read_zset(ctx.keys.db(src, dbi), src, now)?.map_or_else(Vec::new, |z| select(z, &req));
    let limits = zlimits(ctx);
    store_result(ctx, dst, items.len(), (ev::ZSET, "zrangestore"), || {
        Value::ZSet(Box::new(ZSet::from_entries(items, limits)))
    });
    Ok(())
}

fn remrange(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, by: By) -> CmdResult {
    let (a, b) = (argv.get(2), argv.get(3));
    let range = match by {
        By::Rank => Range::Rank(parse_int(a)?, parse_int(b)?),
        By::Score => Range::Score(ScoreRange::parse(a, b).ok_or(NOT_FLOAT_RANGE)?),
        By::Lex => Range::Lex(LexRange::parse(a, b).ok_or(NOT_LEX_RANGE)?),
    };
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(z) = write_zset(db, key, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let (lo, hi) = match &range {
        Range::Rank(s, e) => rank_bounds(*s, *e, z.len()),
        Range::Score(r) => r.ranks(z),
        Range::Lex(r) => r.delete_ranks(z),
    };
    let removed = z.remove_ranks(lo, hi).len();
    let deleted = drop_if_empty(db, key);
    ctx.dirty += removed as u64;
    if removed > 0 {
        let event = match by {
            By::Rank => "zremrangebyrank",
            By::Score => "zremrangebyscore",
            By::Lex => "zremrangebylex",
        };
        super::zsets::notify_removal(ctx, event, key, deleted);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

pub fn zremrangebyrank(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    remrange(ctx, argv, By::Rank)
}

pub fn zremrangebyscore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    remrange(ctx, argv, By::Score)
}

pub fn zremrangebylex(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    remrange(ctx, argv, By::Lex)
}

#[cfg(test)]
mod tests {
    use super::rank_bounds;

    #[test]
    fn rank_bounds_clamp_like_redis() {
        assert_eq!(rank_bounds(0, -1, 5), (0, 5));
        assert_eq!(rank_bounds(-100, 100, 5), (0, 5));
        assert_eq!(rank_bounds(3, 1, 5), (0, 0));
        assert_eq!(rank_bounds(5, 10, 5), (0, 0));
        assert_eq!(rank_bounds(-2, -1, 5), (3, 5));
        assert_eq!(rank_bounds(0, -6, 5), (0, 0));
    }
}
