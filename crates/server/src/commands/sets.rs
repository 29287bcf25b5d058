//! Set commands, in Redis 7.0's order of checks (t_set.c). A set whose last member is removed
//! is deleted; the *STORE commands delete the destination when the result is empty.

use resp::{Argv, Reply};
use store::{Db, Set, Value};

use super::{
    is, lookup_read, lookup_write, parse_count, parse_int, scan_args, scan_dict, store_result,
    typed, typed_ref, Rng,
};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

fn max_intset(ctx: &Ctx<'_, '_>) -> usize {
    ctx.srv.limits.max_intset()
}

fn write_set<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d mut Set>, CmdError> {
    typed(lookup_write(db, key, now), Value::as_set_mut)
}

fn read_set<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d Set>, CmdError> {
    typed_ref(lookup_read(db, key, now, true), Value::as_set)
}

/// Delete `key` if its set is now empty; returns whether it did.
fn drop_if_empty(db: &mut Db, key: &[u8]) -> bool {
    if matches!(db.get_mut(key).map(|o| &o.value), Some(Value::Set(s)) if s.is_empty()) {
        db.remove(key);
        return true;
    }
    false
}

/// After a removal: its event, then `del` if the set is gone.
fn notify_removal(ctx: &mut Ctx<'_, '_>, event: &str, key: &[u8], deleted: bool) {
    ctx.notify(ev::SET, event, key);
    if deleted {
        ctx.notify(ev::GENERIC, "del", key);
    }
}

pub fn sadd(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now, max) = (argv.get(1), ctx.now_ms, max_intset(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    if write_set(db, key, now)?.is_none() {
        db.set(key, Value::Set(Set::default()), false, now);
    }
    let mut added = 0;
    if let Some(set) = write_set(db, key, now)? {
        for m in argv.iter().skip(2) {
            added += i64::from(set.add(m, max));
        }
    }
    ctx.dirty += added as u64;
    if added > 0 {
        ctx.notify(ev::SET, "sadd", key);
    }
    ctx.out.int(added);
    Ok(())
}

pub fn srem(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let mut removed = 0;
    let mut deleted = false;
    if let Some(set) = write_set(db, key, now)? {
        for m in argv.iter().skip(2) {
            removed += i64::from(set.remove(m));
            if set.is_empty() {
                break;
            }
        }
        deleted = drop_if_empty(db, key);
    }
    ctx.dirty += removed as u64;
    if removed > 0 {
        notify_removal(ctx, "srem", key, deleted);
    }
    ctx.out.int(removed);
    Ok(())
}

pub fn sismember(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let set = read_set(ctx.keys.db(key, ctx.client.db), key, now)?;
    ctx.out
        .int(i64::from(set.is_some_and(|s| s.contains(argv.get(2)))));
    Ok(())
}

pub fn smismember(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let set = read_set(ctx.keys.db(key, ctx.client.db), key, now)?;
    ctx.out.array(argv.len() - 2);
    for m in argv.iter().skip(2) {
        ctx.out.int(i64::from(set.is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

pub fn scard(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let n = read_set(ctx.keys.db(key, ctx.client.db), key, now)?.map_or(0, Set::len);
    ctx.out.int(n as i64);
    Ok(())
}

fn reply_members(out: &mut Reply, members: &[Vec<u8>]) {
    out.set(members.len());
    for m in members {
        out.bulk(m);
    }
}

pub fn smembers(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let set = read_set(ctx.keys.db(key, ctx.client.db), key, now)?;
    let members: Vec<Vec<u8>> =
        set.map_or_else(Vec::new, |s| s.iter().map(|m| m.to_vec()).collect());
    reply_members(ctx.out, &members);
    Ok(())
}

pub fn spop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let count = match argv.len() {
        3 => Some(parse_count(argv.get(2))?),
        _ => None,
    };
    let (key, now) = (argv.get(1), ctx.now_ms);
    let mut rng = Rng::seeded(ctx.client.id);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(set) = write_set(db, key, now)? else {
        match count {
            Some(_) => ctx.out.set(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let before = ctx.dirty;
    match count {
        None => {
            if let Some(m) = set.random(|| rng.next_u64()) {
                set.remove(&m);
                ctx.dirty += 1;
                crate::cmd::log_as(&mut ctx.effects, &[b"SREM", key, &m]);
                ctx.out.bulk(&m);
            }
        }
        Some(n) => {
            let all: Vec<Vec<u8>> = set.iter().map(|m| m.to_vec()).collect();
            let picked: Vec<Vec<u8>> = if n >= all.len() {
                all
            } else {
                rng.distinct(all.len(), n)
                    .into_iter()
                    .map(|i| all[i].clone())
                    .collect()
            };
            for m in &picked {
                set.remove(m);
            }
            ctx.dirty += picked.len() as u64;
            if !picked.is_empty() {
                let mut args: Vec<&[u8]> = vec![b"SREM", key];
                args.extend(picked.iter().map(Vec::as_slice));
                crate::cmd::log_as(&mut ctx.effects, &args);
            }
            reply_members(ctx.out, &picked);
        }
    }
    let deleted = drop_if_empty(db, key);
    if ctx.dirty > before {
        notify_removal(ctx, "spop", key, deleted);
    }
    Ok(())
}

pub fn srandmember(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let count = match argv.len() {
        3 => {
            let n = parse_int(argv.get(2))?;
            if n == i64::MIN {
                return Err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807".into());
            }
            Some(n)
        }
        _ => None,
    };
    let (key, now) = (argv.get(1), ctx.now_ms);
    let mut rng = Rng::seeded(ctx.client.id);
    let set = read_set(ctx.keys.db(key, ctx.client.db), key, now)?;
    let Some(set) = set else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(n) = count else {
        if let Some(m) = set.random(|| rng.next_u64()) {
            ctx.out.bulk(&m);
        }
        return Ok(());
    };
    let all: Vec<Vec<u8>> = set.iter().map(|m| m.to_vec()).collect();
    let mut picks = super::Picks::new(n, all.len(), &mut rng, || (0..all.len()).collect());
    ctx.out.array(picks.len() as usize);
    let mut emitted = 0u32;
    while let Some(i) = picks.next(&mut rng) {
        ctx.out.bulk(&all[i]);
        emitted = emitted.wrapping_add(1);
        if emitted.is_multiple_of(1024) && super::reply_overflowed(ctx) {
            break;
        }
    }
    Ok(())
}

pub fn smove(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (src, dst, member, now, max) = (
        argv.get(1),
        argv.get(2),
        argv.get(3),
        ctx.now_ms,
        max_intset(ctx),
    );
    let dbi = ctx.client.db;
    let src_exists = lookup_write(ctx.keys.db(src, dbi), src, now).is_some();
    let dst_exists = lookup_write(ctx.keys.db(dst, dbi), dst, now).is_some();
    if !src_exists {
        ctx.out.int(0);
        return Ok(());
    }
    write_set(ctx.keys.db(src, dbi), src, now)?;
    write_set(ctx.keys.db(dst, dbi), dst, now)?;
    if src == dst {
        let has = read_set(ctx.keys.db(src, dbi), src, now)?.is_some_and(|s| s.contains(member));
        ctx.out.int(i64::from(has));
        return Ok(());
    }
    let removed = write_set(ctx.keys.db(src, dbi), src, now)?.is_some_and(|s| s.remove(member));
    if !removed {
        ctx.out.int(0);
        return Ok(());
    }
    let deleted = drop_if_empty(ctx.keys.db(src, dbi), src);
    notify_removal(ctx, "srem", src, deleted);
    let db = ctx.keys.db(dst, dbi);
    if !dst_exists {
        db.set(dst, Value::Set(Set::default()), false, now);
    }
    // One change for the removal, one more if the member was new in the destination (and
    // only then is the destination changed, for WATCH and events).
    let added = write_set(db, dst, now)?.is_some_and(|set| set.add(member, max));
    ctx.dirty += 1;
    ctx.touch(dbi, src);
    if added {
        ctx.dirty += 1;
        ctx.touch(dbi, dst);
        ctx.notify(ev::SET, "sadd", dst);
    }
    ctx.out.int(1);
    Ok(())
}

/// Which combination of sets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The members of each key (`None` for a missing key), type-checking every key first.
fn gather(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]]) -> Result<Vec<Option<Vec<Vec<u8>>>>, CmdError> {
    let (now, dbi) = (ctx.now_ms, ctx.client.db);
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let set = read_set(ctx.keys.db(key, dbi), key, now)?;
        out.push(set.map(|s| s.iter().map(|m| m.to_vec()).collect()));
    }
    Ok(out)
}

fn combine(sets: Vec<Option<Vec<Vec<u8>>>>, op: Op) -> Vec<Vec<u8>> {
    use std::collections::HashSet;
    let mut iter = sets.into_iter();
    let first: Vec<Vec<u8>> = iter.next().flatten().unwrap_or_default();
    match op {
        Op::Union => {
            let mut seen: HashSet<Vec<u8>> = HashSet::new();
            let mut out = Vec::new();
            for m in first.into_iter().chain(iter.flatten().flatten()) {
                if seen.insert(m.clone()) {
                    out.push(m);
                }
            }
            out
        }
        Op::Inter => {
            let rest: Vec<Option<HashSet<Vec<u8>>>> =
                iter.map(|s| s.map(|v| v.into_iter().collect())).collect();
            if rest.iter().any(Option::is_none) {
                return Vec::new();
            }
            first
                .into_iter()
                .filter(|m| rest.iter().flatten().all(|s| s.contains(m)))
                .collect()
        }
        Op::Diff => {
            let rest: HashSet<Vec<u8>> = iter.flatten().flatten().collect();
            first.into_iter().filter(|m| !rest.contains(m)).collect()
        }
    }
}

/// Reply order as Redis's: SINTER walks the smallest input set; SUNION/SDIFF build a result
/// set first (an all-integer result is an intset, so it comes back sorted).
fn set_op(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, op: Op) -> CmdResult {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    let mut sets = gather(ctx, &keys)?;
    let members = match op {
        Op::Inter => {
            if let Some(smallest) =
                (0..sets.len()).min_by_key(|&i| sets[i].as_ref().map_or(0, Vec::len))
            {
                sets.swap(0, smallest);
            }
            combine(sets, op)
        }
        _ => {
            let max = max_intset(ctx);
            let mut result = Set::default();
            for m in combine(sets, op) {
                result.add(&m, max);
            }
            result.iter().map(|m| m.to_vec()).collect()
        }
    };
    reply_members(ctx.out, &members);
    Ok(())
}

fn set_op_store(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, op: Op) -> CmdResult {
    let dst = argv.get(1);
    let keys: Vec<&[u8]> = argv.iter().skip(2).collect();
    let sets = gather(ctx, &keys)?;
    let members = combine(sets, op);
    let max = max_intset(ctx);
    store_result(ctx, dst, members.len(), (ev::SET, ctx.spec.name), || {
        let mut set = Set::default();
        for m in &members {
            set.add(m, max);
        }
        Value::Set(set)
    });
    Ok(())
}

pub fn sinter(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    set_op(ctx, argv, Op::Inter)
}

pub fn sunion(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    set_op(ctx, argv, Op::Union)
}

pub fn sdiff(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    set_op(ctx, argv, Op::Diff)
}

pub fn sinterstore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    set_op_store(ctx, argv, Op::Inter)
}

pub fn sunionstore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    set_op_store(ctx, argv, Op::Union)
}

pub fn sdiffstore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    set_op_store(ctx, argv, Op::Diff)
}

pub fn sintercard(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let numkeys = match resp::parse_i64(argv.get(1)) {
        Some(n) if n > 0 => n as usize,
        _ => return Err("ERR numkeys should be greater than 0".into()),
    };
    if numkeys > argv.len() - 2 {
        return Err("ERR Number of keys can't be greater than number of args".into());
    }
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < argv.len() {
        if is(argv.get(j), "limit") && j + 1 < argv.len() {
            limit = match resp::parse_i64(argv.get(j + 1)) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err("ERR LIMIT can't be negative".into()),
            };
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| argv.get(i)).collect();
    let sets = gather(ctx, &keys)?;
    let mut n = combine(sets, Op::Inter).len();
    if limit > 0 {
        n = n.min(limit);
    }
    ctx.out.int(n as i64);
    Ok(())
}

pub fn sscan(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    // The cursor is checked first; the key is read before the other options (as Redis).
    super::parse_scan_cursor(argv.get(2))?;
    let found = read_set(ctx.keys.db(key, ctx.client.db), key, now);
    if !super::scan_key_first(ctx.out, &found)? {
        return Ok(());
    }
    let args = scan_args(&argv, 2, 3, false)?;
    let set = found?;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut next = 0;
    match set {
        None => {}
        Some(Set::Table(d)) => {
            next = scan_dict(d, &args, |m, _| found.push(m.to_vec()));
        }
        Some(s) => found = s.iter().map(|m| m.to_vec()).collect(),
    }
    if let Some(p) = args.pattern {
        found.retain(|m| store::glob_match(p, m, false));
    }
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len());
    for m in &found {
        ctx.out.bulk(m);
    }
    Ok(())
}
