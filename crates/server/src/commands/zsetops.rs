//! Sorted-set algebra: ZUNION ZINTER ZDIFF, their *STORE forms, and ZINTERCARD. Plain sets
//! take part with every member scored 1, as in Redis.
//!
//! Floating-point sums depend on the order of the additions, so the inputs are ordered as
//! Redis orders them (by cardinality, smallest first, stable) and each member's scores are
//! combined in that order, with Redis's rule that a NaN (`inf + -inf`, `inf * 0`) becomes 0.

use std::collections::HashMap;

use resp::Argv;
use store::{Set, Value, ZSet};

use super::zsets::{begin_scored, emit_scored, zlimits};
use super::{is, lookup_read, parse_int, store_result};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`.
    fn apply(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// One input: its members with scores (empty for a missing key), and its weight.
struct Source {
    members: Vec<(f64, Vec<u8>)>,
    index: HashMap<Vec<u8>, f64>,
    weight: f64,
}

impl Source {
    fn from_value(value: Option<&Value>) -> Source {
        let members: Vec<(f64, Vec<u8>)> = match value {
            Some(Value::ZSet(z)) => z.iter().map(|(s, m)| (s, m.to_vec())).collect(),
            Some(Value::Set(s)) => set_members(s),
            _ => Vec::new(),
        };
        let index = members.iter().map(|(s, m)| (m.clone(), *s)).collect();
        Source {
            members,
            index,
            weight: 1.0,
        }
    }
}

fn set_members(s: &Set) -> Vec<(f64, Vec<u8>)> {
    s.iter().map(|m| (1.0, m.to_vec())).collect()
}

/// What the command asked for.
struct Request {
    sources: Vec<Source>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Parse `numkeys key [key ...] [WEIGHTS …] [AGGREGATE …] [WITHSCORES] [LIMIT n]` with
/// `numkeys` at `at`. Key types are checked before the options, as Redis does.
fn parse(
    ctx: &mut Ctx<'_, '_>,
    argv: &Argv<'_>,
    at: usize,
    op: Op,
    store: bool,
    card_only: bool,
    name: &str,
) -> Result<Request, CmdError> {
    let numkeys = parse_int(argv.get(at))?;
    if numkeys < 1 {
        return Err(format!("ERR at least 1 input key is needed for '{name}' command").into());
    }
    if numkeys as u64 > (argv.len() - at - 1) as u64 {
        return Err(err::SYNTAX.into());
    }
    let numkeys = numkeys as usize;
    let (now, dbi) = (ctx.now_ms, ctx.client.db);
    let mut sources = Vec::with_capacity(numkeys);
    for i in at + 1..=at + numkeys {
        let key = argv.get(i);
        let obj = lookup_read(ctx.keys.db(key, dbi), key, now, true);
        let value = obj.map(|o| &o.value);
        if matches!(value, Some(v) if !matches!(v, Value::ZSet(_) | Value::Set(_))) {
            return Err(err::WRONGTYPE.into());
        }
        sources.push(Source::from_value(value));
    }
    let mut req = Request {
        sources,
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = at + 1 + numkeys;
    while j < argv.len() {
        let (a, left) = (argv.get(j), argv.len() - j);
        let weighted = op != Op::Diff && !card_only;
        if weighted && left > numkeys && is(a, "weights") {
            for (k, src) in req.sources.iter_mut().enumerate() {
                src.weight = store::num::parse_double(argv.get(j + 1 + k))
                    .ok_or("ERR weight value is not a float")?;
            }
            j += 1 + numkeys;
        } else if weighted && left >= 2 && is(a, "aggregate") {
            let v = argv.get(j + 1);
            req.aggregate = match () {
                _ if is(v, "sum") => Aggregate::Sum,
                _ if is(v, "min") => Aggregate::Min,
                _ if is(v, "max") => Aggregate::Max,
                _ => return Err(err::SYNTAX.into()),
            };
            j += 2;
        } else if !store && !card_only && is(a, "withscores") {
            req.withscores = true;
            j += 1;
        } else if card_only && left >= 2 && is(a, "limit") {
            req.limit = match resp::parse_i64(argv.get(j + 1)) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err("ERR LIMIT can't be negative".into()),
            };
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    Ok(req)
}

/// The combined members with their scores, in no particular order.
fn combine(mut req: Request, op: Op, card_only: bool) -> Vec<(f64, Vec<u8>)> {
    if op != Op::Diff {
        req.sources.sort_by_key(|s| s.members.len());
    }
    let agg = req.aggregate;
    let mut iter = req.sources.into_iter();
    let Some(first) = iter.next() else {
        return Vec::new();
    };
    let rest: Vec<Source> = iter.collect();
    match op {
        Op::Inter => {
            let mut out = Vec::new();
            // Redis walks the smallest input from its highest member down.
            for (s, m) in first.members.iter().rev() {
                let mut score = first.weight * s;
                if score.is_nan() {
                    score = 0.0;
                }
                let all = rest.iter().all(|src| match src.index.get(m) {
                    Some(v) => {
                        agg.apply(&mut score, v * src.weight);
                        true
                    }
                    None => false,
                });
                if all {
                    out.push((score, m.clone()));
                    if card_only && req.limit > 0 && out.len() >= req.limit {
                        break;
                    }
                }
            }
            out
        }
        Op::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for src in std::iter::once(&first).chain(rest.iter()) {
                for (s, m) in src.members.iter().rev() {
                    let mut score = src.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => agg.apply(t, score),
                        None => {
                            acc.insert(m.clone(), score);
                        }
                    }
                }
            }
            acc.into_iter().map(|(m, s)| (s, m)).collect()
        }
        Op::Diff => first
            .members
            .into_iter()
            .filter(|(_, m)| rest.iter().all(|src| !src.index.contains_key(m)))
            .collect(),
    }
}

fn generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, op: Op, name: &str) -> CmdResult {
    let req = parse(ctx, &argv, 1, op, false, false, name)?;
    let withscores = req.withscores;
    let mut items = combine(req, op, false);
    items.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.cmp(&b.1))
    });
    begin_scored(ctx.out, items.len(), withscores);
    for (s, m) in &items {
        emit_scored(ctx.out, m, *s, withscores);
    }
    Ok(())
}

fn generic_store(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, op: Op, name: &str) -> CmdResult {
    let req = parse(ctx, &argv, 2, op, true, false, name)?;
    let items = combine(req, op, false);
    let limits = zlimits(ctx);
    store_result(
        ctx,
        argv.get(1),
        items.len(),
        (ev::ZSET, ctx.spec.name),
        || Value::ZSet(Box::new(ZSet::from_entries(items, limits))),
    );
    Ok(())
}

pub fn zunion(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    generic(ctx, argv, Op::Union, "zunion")
}

pub fn zinter(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    generic(ctx, argv, Op::Inter, "zinter")
}

pub fn zdiff(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    generic(ctx, argv, Op::Diff, "zdiff")
}

pub fn zunionstore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    generic_store(ctx, argv, Op::Union, "zunionstore")
}

pub fn zinterstore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    generic_store(ctx, argv, Op::Inter, "zinterstore")
}

pub fn zdiffstore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    generic_store(ctx, argv, Op::Diff, "zdiffstore")
}

pub fn zintercard(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let req = parse(ctx, &argv, 1, Op::Inter, false, true, "zintercard")?;
    let limit = req.limit;
    let n = combine(req, Op::Inter, true).len();
    ctx.out.int(if limit > 0 { n.min(limit) } else { n } as i64);
    Ok(())
}
