//! Sorted-set commands on one key: ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK
//! ZCOUNT ZLEXCOUNT ZRANDMEMBER ZSCAN, and the helpers every sorted-set file shares. Checks
//! come in Redis 7.0's order (t_zset.c): syntax, then numbers, then the key's type.
//!
//! Ranges live in `zranges.rs`, pops in `zpops.rs`, and the multi-key algebra in `zsetops.rs`.

use resp::{Argv, Reply};
use store::{Db, LexRange, ScoreRange, Value, ZLimits, ZSet};

use super::{
    is, lookup_read, lookup_write, parse_int, scan_args, scan_budgeted, typed, typed_ref, Rng,
};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

pub(super) const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
pub(super) const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// The listpack thresholds, as configured now.
pub(super) fn zlimits(ctx: &Ctx<'_, '_>) -> ZLimits {
    ctx.srv.limits.zset()
}

pub(super) fn write_zset<'d>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'d mut ZSet>, CmdError> {
    typed(lookup_write(db, key, now), Value::as_zset_mut)
}

pub(super) fn read_zset<'d>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'d ZSet>, CmdError> {
    typed_ref(lookup_read(db, key, now, true), Value::as_zset)
}

/// Delete `key` if it holds an empty sorted set (Redis never keeps empty collections).
/// Delete `key` if its sorted set is now empty; returns whether it did.
pub(super) fn drop_if_empty(db: &mut Db, key: &[u8]) -> bool {
    if matches!(db.get_mut(key).map(|o| &o.value), Some(Value::ZSet(z)) if z.is_empty()) {
        db.remove(key);
        return true;
    }
    false
}

/// After a removal: its event, then `del` if the sorted set is gone.
pub(super) fn notify_removal(ctx: &mut Ctx<'_, '_>, event: &str, key: &[u8], deleted: bool) {
    ctx.notify(ev::ZSET, event, key);
    if deleted {
        ctx.notify(ev::GENERIC, "del", key);
    }
}

/// The reply header for `n` members with or without scores: RESP2 flattens pairs into one
/// array; RESP3 nests a `[member, score]` array per member.
pub(super) fn begin_scored(out: &mut Reply, n: usize, withscores: bool) {
    if withscores && !out.is_resp3() {
        out.array(n * 2);
    } else {
        out.array(n);
    }
}

/// One member of a reply started with [`begin_scored`].
pub(super) fn emit_scored(out: &mut Reply, member: &[u8], score: f64, withscores: bool) {
    if !withscores {
        out.bulk(member);
        return;
    }
    if out.is_resp3() {
        out.array(2);
    }
    out.bulk(member);
    out.double(score);
}

/// A score as ZSCAN shows it. A listpack holds scores as text, integral ones that fit in half
/// the `long long` range as integers (Redis's `double2ll`, which also makes `-0` into `0`);
/// the skiplist form prints the double with `%.17g` (`-0` stays).
pub(super) fn scan_score_text(score: f64, packed: bool) -> String {
    const HALF_LLONG: f64 = (i64::MAX / 2) as f64;
    let integral = score.fract() == 0.0 && (-HALF_LLONG..=HALF_LLONG).contains(&score);
    if packed && integral {
        itoa::Buffer::new().format(score as i64).to_string()
    } else {
        resp::format_double(score)
    }
}

/// ZADD's options.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// Parse the option words before the first score; returns where the scores start.
fn add_flags(argv: &Argv<'_>, f: &mut AddFlags) -> usize {
    let mut i = 2;
    while i < argv.len() {
        let a = argv.get(i);
        let flag = match () {
            _ if is(a, "nx") => &mut f.nx,
            _ if is(a, "xx") => &mut f.xx,
            _ if is(a, "gt") => &mut f.gt,
            _ if is(a, "lt") => &mut f.lt,
            _ if is(a, "ch") => &mut f.ch,
            _ if is(a, "incr") => &mut f.incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    i
}

/// What one ZADD element did.
enum Outcome {
    Added,
    Updated,
    Unchanged,
    Skipped,
}

/// Redis's `zsetAdd` for one element: returns the outcome and the score it now has.
fn add_one(
    z: &mut ZSet,
    f: &AddFlags,
    member: &[u8],
    score: f64,
    limits: ZLimits,
) -> Result<(Outcome, f64), CmdError> {
    let Some(cur) = z.score(member) else {
        if f.xx {
            return Ok((Outcome::Skipped, score));
        }
        z.set(member, score, limits);
        return Ok((Outcome::Added, score));
    };
    if f.nx {
        return Ok((Outcome::Skipped, cur));
    }
    let new = if f.incr { cur + score } else { score };
    if new.is_nan() {
        return Err("ERR resulting score is not a number (NaN)".into());
    }
    if (f.lt && new >= cur) || (f.gt && new <= cur) {
        return Ok((Outcome::Skipped, cur));
    }
    if new == cur {
        return Ok((Outcome::Unchanged, new));
    }
    z.set(member, new, limits);
    Ok((Outcome::Updated, new))
}

fn zadd_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, incr: bool) -> CmdResult {
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let first = add_flags(&argv, &mut f);
    let elements = argv.len() - first;
    if elements == 0 || elements % 2 == 1 {
        return Err(err::SYNTAX.into());
    }
    if f.nx && f.xx {
        return Err("ERR XX and NX options at the same time are not compatible".into());
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err("ERR GT, LT, and/or NX options at the same time are not compatible".into());
    }
    if f.incr && elements > 2 {
        return Err("ERR INCR option supports a single increment-element pair".into());
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for i in (first..argv.len()).step_by(2) {
        let score = store::num::parse_double(argv.get(i)).ok_or(err::NOT_FLOAT)?;
        pairs.push((score, argv.get(i + 1)));
    }
    let (key, now, limits) = (argv.get(1), ctx.now_ms, zlimits(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    if write_zset(db, key, now)?.is_none() {
        if f.xx {
            reply_add(ctx.out, &f, 0, 0, None);
            return Ok(());
        }
        db.set(key, Value::ZSet(Box::default()), false, now);
    }
    let Some(z) = write_zset(db, key, now)? else {
        unreachable!("created above")
    };
    let (mut added, mut updated, mut last) = (0, 0, None);
    let mut result = Ok(());
    for (score, member) in pairs {
        match add_one(z, &f, member, score, limits) {
            Ok((Outcome::Added, s)) => (added, last) = (added + 1, Some(s)),
            Ok((Outcome::Updated, s)) => (updated, last) = (updated + 1, Some(s)),
            Ok((Outcome::Unchanged, s)) => last = Some(s),
            Ok((Outcome::Skipped, _)) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    drop_if_empty(db, key);
    result?;
    ctx.dirty += (added + updated) as u64;
    reply_add(ctx.out, &f, added, updated, last);
    if added + updated > 0 {
        ctx.notify(ev::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    Ok(())
}

fn reply_add(out: &mut Reply, f: &AddFlags, added: i64, updated: i64, last: Option<f64>) {
    match (f.incr, last) {
        (true, Some(s)) => out.double(s),
        (true, None) => out.null(),
        (false, _) => out.int(if f.ch { added + updated } else { added }),
    }
}

pub fn zadd(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    zadd_generic(ctx, argv, false)
}

/// ZINCRBY is ZADD INCR underneath, option parsing included (as in Redis).
pub fn zincrby(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    zadd_generic(ctx, argv, true)
}

pub fn zrem(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let mut removed = 0;
    let mut deleted = false;
    if let Some(z) = write_zset(db, key, now)? {
        for m in argv.iter().skip(2) {
            removed += i64::from(z.remove(m).is_some());
            if z.is_empty() {
                break;
            }
        }
        deleted = drop_if_empty(db, key);
    }
    ctx.dirty += removed as u64;
    if removed > 0 {
        notify_removal(ctx, "zrem", key, deleted);
    }
    ctx.out.int(removed);
    Ok(())
}

pub fn zcard(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let n = read_zset(ctx.keys.db(key, ctx.client.db), key, now)?.map_or(0, ZSet::len);
    ctx.out.int(n as i64);
    Ok(())
}

pub fn zscore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let z = read_zset(ctx.keys.db(key, ctx.client.db), key, now)?;
    match z.and_then(|z| z.score(argv.get(2))) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn zmscore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let z = read_zset(ctx.keys.db(key, ctx.client.db), key, now)?;
    ctx.out.array(argv.len() - 2);
    for m in argv.iter().skip(2) {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, rev: bool) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let z = read_zset(ctx.keys.db(key, ctx.client.db), key, now)?;
    let rank = z.and_then(|z| {
        z.rank(argv.get(2))
            .map(|r| if rev { z.len() - 1 - r } else { r })
    });
    match rank {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn zrank(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    rank_generic(ctx, argv, false)
}

pub fn zrevrank(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    rank_generic(ctx, argv, true)
}

pub fn zcount(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let range = ScoreRange::parse(argv.get(2), argv.get(3)).ok_or(NOT_FLOAT_RANGE)?;
    let (key, now) = (argv.get(1), ctx.now_ms);
    let z = read_zset(ctx.keys.db(key, ctx.client.db), key, now)?;
    let (lo, hi) = z.map_or((0, 0), |z| range.ranks(z));
    ctx.out.int((hi - lo) as i64);
    Ok(())
}

pub fn zlexcount(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let range = LexRange::parse(argv.get(2), argv.get(3)).ok_or(NOT_LEX_RANGE)?;
    let (key, now) = (argv.get(1), ctx.now_ms);
    let z = read_zset(ctx.keys.db(key, ctx.client.db), key, now)?;
    ctx.out.int(z.map_or(0, |z| range.count(z)));
    Ok(())
}

pub fn zrandmember(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut count = None;
    let mut withscores = false;
    if argv.len() >= 3 {
        let n = parse_int(argv.get(2))?;
        if n == i64::MIN {
            return Err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807".into());
        }
        if argv.len() > 4 || (argv.len() == 4 && !is(argv.get(3), "withscores")) {
            return Err(err::SYNTAX.into());
        }
        if argv.len() == 4 {
            withscores = true;
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
                return Err("ERR value is out of range".into());
            }
        }
        count = Some(n);
    }
    let (key, now) = (argv.get(1), ctx.now_ms);
    let mut rng = Rng::seeded(ctx.client.id);
    let z = read_zset(ctx.keys.db(key, ctx.client.db), key, now)?;
    let Some(z) = z else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(n) = count else {
        if let Some((_, m)) = z.by_rank(rng.below(z.len())) {
            ctx.out.bulk(m);
        }
        return Ok(());
    };
    // The whole set is walked from the top, as Redis's zset iterator does.
    let len = z.len();
    let mut picks = super::Picks::new(n, len, &mut rng, || (0..len).rev().collect());
    begin_scored(ctx.out, picks.len() as usize, withscores);
    let mut emitted = 0u32;
    while let Some(r) = picks.next(&mut rng) {
        if let Some((s, m)) = z.by_rank(r) {
            emit_scored(ctx.out, m, s, withscores);
        }
        emitted = emitted.wrapping_add(1);
        if emitted.is_multiple_of(1024) && ctx.out.len() > super::REPLY_HARD_LIMIT_BYTES {
            break;
        }
    }
    super::reply_overflowed(ctx);
    Ok(())
}

pub fn zscan(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    // The cursor is checked first; the key is read before the other options (as Redis).
    super::parse_scan_cursor(argv.get(2))?;
    let found = read_zset(ctx.keys.db(key, ctx.client.db), key, now);
    if !super::scan_key_first(ctx.out, &found)? {
        return Ok(());
    }
    let args = scan_args(&argv, 2, 3, false)?;
    let z = found?;
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut next = 0;
    let packed = z.is_some_and(ZSet::is_packed);
    if let Some(z) = z {
        next = scan_budgeted(&args, |cursor| {
            let before = found.len();
            let next = z.scan(cursor, |m, s| found.push((m.to_vec(), s)));
            (next, found.len() - before)
        });
    }
    if let Some(p) = args.pattern {
        found.retain(|(m, _)| store::glob_match(p, m, false));
    }
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len() * 2);
    for (m, s) in &found {
        ctx.out.bulk(m);
        ctx.out.bulk(scan_score_text(*s, packed).as_bytes());
    }
    Ok(())
}
