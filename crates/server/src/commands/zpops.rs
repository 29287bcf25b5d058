//! Sorted-set pops: ZPOPMIN ZPOPMAX ZMPOP and their blocking forms BZPOPMIN BZPOPMAX BZMPOP.
//!
//! One pop routine serves all six, as Redis's `genericZpopCommand` does; only the reply shape
//! differs. The blocking forms wait through `blocking::attempt_or_block` as the list ones do,
//! queued as sorted-set waiters so that only a sorted set under the key wakes them.

use resp::Argv;
use store::{BlockKind, Value};

use super::blocking::{attempt_or_block, Wait};
use super::lists::parse_mpop_with;
use super::zsets::{drop_if_empty, write_zset};
use super::{is, lookup_write, parse_count};
use crate::blocking::BlockOp;
use crate::cmd::{err, CmdError, CmdResult, Ctx};

/// How a pop answers.
#[derive(Clone, Copy)]
struct Shape {
    /// Name the key first (BZPOPMIN/BZPOPMAX flat, ZMPOP/BZMPOP nested).
    emit_key: bool,
    /// One `[member, score]` array per member instead of a flat list.
    nested: bool,
}

/// Pop up to `count` members of the sorted set at `key` (known to be non-empty), from the top
/// when `max`, and reply in `shape`. The key goes when its last member does.
fn pop_from(ctx: &mut Ctx<'_, '_>, key: &[u8], max: bool, count: usize, shape: Shape) {
    let (now, dbi) = (ctx.now_ms, ctx.client.db);
    let db = ctx.keys.db(key, dbi);
    let Ok(Some(z)) = write_zset(db, key, now) else {
        return;
    };
    let n = count.min(z.len());
    let mut popped = if max {
        z.remove_ranks(z.len() - n, z.len())
    } else {
        z.remove_ranks(0, n)
    };
    if max {
        popped.reverse();
    }
    let deleted = drop_if_empty(db, key);
    ctx.dirty += n as u64;
    if n > 0 {
        let event = if max { "zpopmax" } else { "zpopmin" };
        super::zsets::notify_removal(ctx, event, key, deleted);
        // Only this key changed, not every key the multi-key forms name.
        ctx.touch(dbi, key);
    }
    // The blocking and multi-key forms are logged as the plain pop they did.
    if shape.emit_key {
        let pop: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        let count_text = n.to_string();
        if shape.nested {
            crate::cmd::log_as(&mut ctx.effects, &[pop, key, count_text.as_bytes()]);
        } else {
            crate::cmd::log_as(&mut ctx.effects, &[pop, key]);
        }
    }
    let out = &mut *ctx.out;
    match (shape.emit_key, shape.nested) {
        (false, false) => out.array(n * 2),
        (false, true) => out.array(n),
        (true, false) => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    for (s, m) in &popped {
        if shape.nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
}

/// The first of `keys` holding a sorted set: `Ok(None)` if none exists, WRONGTYPE if the first
/// existing key holds another type.
fn first_zset(ctx: &mut Ctx<'_, '_>, keys: &[Vec<u8>]) -> Result<Option<Vec<u8>>, CmdError> {
    let (now, dbi) = (ctx.now_ms, ctx.client.db);
    for key in keys {
        let db = ctx.keys.db(key, dbi);
        let Some(obj) = lookup_write(db, key, now) else {
            continue;
        };
        match &obj.value {
            Value::ZSet(z) if !z.is_empty() => return Ok(Some(key.clone())),
            Value::ZSet(_) => continue,
            _ => return Err(err::WRONGTYPE.into()),
        }
    }
    Ok(None)
}

fn zpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let count = match argv.len() {
        3 => Some(parse_count(argv.get(2))?),
        _ => None,
    };
    let key = argv.get(1).to_vec();
    let Some(key) = first_zset(ctx, &[key])? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        ctx.out.array(0);
        return Ok(());
    }
    let nested = ctx.out.is_resp3() && count.is_some();
    let shape = Shape {
        emit_key: false,
        nested,
    };
    pop_from(ctx, &key, max, count.unwrap_or(1), shape);
    Ok(())
}

pub fn zpopmin(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    zpop(ctx, argv, false)
}

pub fn zpopmax(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    zpop(ctx, argv, true)
}

fn min_or_max(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "min") {
        Ok(false)
    } else if is(arg, "max") {
        Ok(true)
    } else {
        Err(err::SYNTAX.into())
    }
}

const NESTED_WITH_KEY: Shape = Shape {
    emit_key: true,
    nested: true,
};

pub fn zmpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let a = parse_mpop_with(&argv, 1, min_or_max)?;
    let keys: Vec<Vec<u8>> = a.keys.iter().map(|&i| argv.get(i).to_vec()).collect();
    match first_zset(ctx, &keys)? {
        Some(key) => pop_from(ctx, &key, a.end, a.count, NESTED_WITH_KEY),
        None => ctx.out.null_array(),
    }
    Ok(())
}

/// Pop from the first non-empty sorted set of `keys`; false if none.
fn try_pop(
    ctx: &mut Ctx<'_, '_>,
    keys: &[Vec<u8>],
    max: bool,
    count: usize,
    shape: Shape,
) -> Result<bool, CmdError> {
    match first_zset(ctx, keys)? {
        Some(key) => {
            pop_from(ctx, &key, max, count, shape);
            Ok(true)
        }
        None => Ok(false),
    }
}

const FLAT_WITH_KEY: Shape = Shape {
    emit_key: true,
    nested: false,
};

/// Serve a BZPOPMIN/BZPOPMAX (`count` None) or BZMPOP waiter from `key`, a non-empty sorted
/// set.
pub(super) fn serve_pop(ctx: &mut Ctx<'_, '_>, key: &[u8], max: bool, count: Option<usize>) {
    match count {
        None => pop_from(ctx, key, max, 1, FLAT_WITH_KEY),
        Some(n) => pop_from(ctx, key, max, n, NESTED_WITH_KEY),
    }
}

fn zset_wait(keys: Vec<Vec<u8>>, timeout_arg: &[u8], op: BlockOp) -> Wait<'_> {
    Wait {
        keys,
        timeout_arg,
        denied_null_bulk: false,
        kind: BlockKind::ZSet,
        op,
    }
}

fn bzpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, max: bool) -> CmdResult {
    let keys: Vec<Vec<u8>> = (1..argv.len() - 1).map(|i| argv.get(i).to_vec()).collect();
    let timeout = argv.get(argv.len() - 1);
    let attempt_keys = keys.clone();
    let wait = zset_wait(keys, timeout, BlockOp::ZPop { max });
    attempt_or_block(ctx, wait, move |ctx| {
        try_pop(ctx, &attempt_keys, max, 1, FLAT_WITH_KEY)
    })
}

pub fn bzpopmin(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    bzpop(ctx, argv, false)
}

pub fn bzpopmax(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    bzpop(ctx, argv, true)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT n]: the argument errors come before
/// the timeout's, as in Redis.
pub fn bzmpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let a = parse_mpop_with(&argv, 2, min_or_max)?;
    let timeout = argv.get(1);
    let keys: Vec<Vec<u8>> = a.keys.iter().map(|&i| argv.get(i).to_vec()).collect();
    let attempt_keys = keys.clone();
    let op = BlockOp::ZMPop {
        max: a.end,
        count: a.count,
    };
    attempt_or_block(ctx, zset_wait(keys, timeout, op), move |ctx| {
        try_pop(ctx, &attempt_keys, a.end, a.count, NESTED_WITH_KEY)
    })
}
