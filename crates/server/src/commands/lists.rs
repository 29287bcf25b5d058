//! List commands. Argument checks, type checks and replies follow Redis 7.0's t_list.c in
//! order; a list that becomes empty is deleted, as in Redis.

use resp::Argv;
use store::{Db, End, Fill, QuickList, Value};

use super::{is, lookup_read, lookup_write, parse_int, typed, typed_ref};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

/// The node shape from `list-max-listpack-size` and `list-compress-depth` (cached in
/// `Server::limits`).
pub(super) fn fill(ctx: &Ctx<'_, '_>) -> Fill {
    ctx.srv.limits.fill()
}

/// The list under `key` for writing: `None` if missing, WRONGTYPE for another type.
fn write_list<'d>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'d mut QuickList>, CmdError> {
    typed(lookup_write(db, key, now), Value::as_list_mut)
}

fn read_list<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d QuickList>, CmdError> {
    typed_ref(lookup_read(db, key, now, true), Value::as_list)
}

/// Delete `key` if its list is now empty; returns whether it did.
fn drop_if_empty(db: &mut Db, key: &[u8]) -> bool {
    if let Some(obj) = db.get_mut(key) {
        if matches!(&obj.value, Value::List(l) if l.is_empty()) {
            db.remove(key);
            return true;
        }
    }
    false
}

/// The keyspace event of a push or pop at `end`.
fn push_event(end: End) -> &'static str {
    if end == End::Head {
        "lpush"
    } else {
        "rpush"
    }
}

fn pop_event(end: End) -> &'static str {
    if end == End::Head {
        "lpop"
    } else {
        "rpop"
    }
}

/// After a pop or removal: its event, then `del` if the list is gone.
fn notify_removal(ctx: &mut Ctx<'_, '_>, event: &str, key: &[u8], deleted: bool) {
    ctx.notify(ev::LIST, event, key);
    if deleted {
        ctx.notify(ev::GENERIC, "del", key);
    }
}

pub(super) fn end_of(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Head)
    } else if is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(err::SYNTAX.into())
    }
}

fn push_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, end: End, only_existing: bool) -> CmdResult {
    let (key, now, fill) = (argv.get(1), ctx.now_ms, fill(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    if write_list(db, key, now)?.is_none() {
        if only_existing {
            ctx.out.int(0);
            return Ok(());
        }
        db.set(key, Value::List(Box::default()), false, now);
    }
    let Some(list) = write_list(db, key, now)? else {
        return Ok(());
    };
    for elem in argv.iter().skip(2) {
        list.push(end, elem, fill);
    }
    let len = list.len();
    ctx.dirty += argv.len() as u64 - 2;
    ctx.out.int(len as i64);
    ctx.notify(ev::LIST, push_event(end), key);
    Ok(())
}

pub fn lpush(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    push_generic(ctx, argv, End::Head, false)
}

pub fn rpush(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    push_generic(ctx, argv, End::Tail, false)
}

pub fn lpushx(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    push_generic(ctx, argv, End::Head, true)
}

pub fn rpushx(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    push_generic(ctx, argv, End::Tail, true)
}

/// A count that must be positive (Redis's `getPositiveLongFromObjectOrReply`): one message
/// whether the argument is not a number or is negative.
fn positive(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    match resp::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(msg.into()),
    }
}

fn pop_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, end: End) -> CmdResult {
    if argv.len() > 3 {
        let name = if end == End::Head { "lpop" } else { "rpop" };
        return Err(format!("ERR wrong number of arguments for '{name}' command").into());
    }
    let count = match argv.len() {
        3 => Some(positive(
            argv.get(2),
            "ERR value is out of range, must be positive",
        )?),
        _ => None,
    };
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(list) = write_list(db, key, now)? else {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let mut popped = 0;
    match count {
        None => {
            if let Some(v) = list.pop(end) {
                popped = 1;
                ctx.out.bulk(&v);
            }
        }
        Some(0) => ctx.out.array(0),
        Some(n) => {
            let n = (n as usize).min(list.len());
            popped = n;
            ctx.out.array(n);
            for _ in 0..n {
                if let Some(v) = list.pop(end) {
                    ctx.out.bulk(&v);
                }
            }
        }
    }
    let deleted = drop_if_empty(db, key);
    ctx.dirty += popped as u64;
    if popped > 0 {
        notify_removal(ctx, pop_event(end), key, deleted);
    }
    Ok(())
}

pub fn lpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    pop_generic(ctx, argv, End::Head)
}

pub fn rpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    pop_generic(ctx, argv, End::Tail)
}

pub fn llen(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let len = read_list(ctx.db(key), key, now)?.map_or(0, QuickList::len);
    ctx.out.int(len as i64);
    Ok(())
}

/// Redis's start/end normalization for LRANGE; `None` when the range is empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    if start > end || start >= len {
        return None;
    }
    end = end.min(len - 1);
    Some((start as usize, end as usize))
}

pub fn lrange(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let start = parse_int(argv.get(2))?;
    let end = parse_int(argv.get(3))?;
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(list) = read_list(db, key, now)? else {
        ctx.out.array(0);
        return Ok(());
    };
    match clamp_range(start, end, list.len()) {
        None => ctx.out.array(0),
        Some((s, e)) => {
            ctx.out.array(e - s + 1);
            for elem in list.iter_from(s).take(e - s + 1) {
                ctx.out.bulk(&elem);
            }
        }
    }
    Ok(())
}

/// A signed index into a list of `len`, `None` if out of range.
fn index_of(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// Unlike LRANGE, Redis looks the key up before parsing the index: a missing key answers nil
/// whatever the index is.
pub fn lindex(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(list) = read_list(db, key, now)? else {
        ctx.out.null();
        return Ok(());
    };
    let index = parse_int(argv.get(2))?;
    match index_of(index, list.len()).and_then(|i| list.get(i)) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn lset(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now, fill) = (argv.get(1), ctx.now_ms, fill(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(list) = write_list(db, key, now)? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    let index = parse_int(argv.get(2))?;
    match index_of(index, list.len()) {
        Some(i) => {
            list.set(i, argv.get(3), fill);
            ctx.dirty += 1;
            ctx.out.ok();
            ctx.notify(ev::LIST, "lset", key);
            Ok(())
        }
        None => Err("ERR index out of range".into()),
    }
}

pub fn linsert(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let after = if is(argv.get(2), "after") {
        true
    } else if is(argv.get(2), "before") {
        false
    } else {
        return Err(err::SYNTAX.into());
    };
    let (key, now, fill) = (argv.get(1), ctx.now_ms, fill(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(list) = write_list(db, key, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let pivot = argv.get(3);
    let found = list.iter().position(|e| e == pivot);
    match found {
        Some(i) => {
            list.insert(if after { i + 1 } else { i }, argv.get(4), fill);
            let len = list.len();
            ctx.dirty += 1;
            ctx.notify(ev::LIST, "linsert", key);
            ctx.out.int(len as i64);
        }
        None => ctx.out.int(-1),
    }
    Ok(())
}

pub fn lrem(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let count = parse_int(argv.get(2))?;
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(list) = write_list(db, key, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let elem = argv.get(3);
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let len = list.len();
    let mut hits: Vec<usize> = if count < 0 {
        list.iter_rev()
            .enumerate()
            .filter(|(_, e)| *e == elem)
            .map(|(i, _)| len - 1 - i)
            .take(limit)
            .collect()
    } else {
        list.iter()
            .enumerate()
            .filter(|(_, e)| *e == elem)
            .map(|(i, _)| i)
            .take(limit)
            .collect()
    };
    // Remove from the highest index down so earlier indices stay valid.
    hits.sort_unstable_by(|a, b| b.cmp(a));
    for &i in &hits {
        list.remove_at(i);
    }
    let deleted = drop_if_empty(db, key);
    ctx.dirty += hits.len() as u64;
    if !hits.is_empty() {
        notify_removal(ctx, "lrem", key, deleted);
    }
    ctx.out.int(hits.len() as i64);
    Ok(())
}

pub fn ltrim(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let start = parse_int(argv.get(2))?;
    let end = parse_int(argv.get(3))?;
    let (key, now, fill) = (argv.get(1), ctx.now_ms, fill(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    if let Some(list) = write_list(db, key, now)? {
        let before = list.len();
        match clamp_range(start, end, list.len()) {
            Some((s, e)) => list.keep_range(s, e, fill),
            None => *list = QuickList::default(),
        }
        ctx.dirty += (before - list.len()) as u64;
        let deleted = drop_if_empty(db, key);
        notify_removal(ctx, "ltrim", key, deleted);
    }
    ctx.out.ok();
    Ok(())
}

pub fn lpos(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (mut rank, mut count, mut maxlen): (i64, Option<i64>, i64) = (1, None, 0);
    let mut j = 3;
    while j < argv.len() {
        let (opt, more) = (argv.get(j), j + 1 < argv.len());
        if is(opt, "rank") && more {
            rank = parse_int(argv.get(j + 1))?;
            if rank == 0 {
                return Err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into());
            }
        } else if is(opt, "count") && more {
            count = Some(positive(argv.get(j + 1), "ERR COUNT can't be negative")?);
        } else if is(opt, "maxlen") && more {
            maxlen = positive(argv.get(j + 1), "ERR MAXLEN can't be negative")?;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 2;
    }
    let (key, elem, now) = (argv.get(1), argv.get(2), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(list) = read_list(db, key, now)? else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let len = list.len();
    let from_tail = rank < 0;
    // Redis negates the rank; i64::MIN stays negative there, so every match qualifies and the
    // first one from the tail is returned.
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() as usize - 1
    };
    let scan: Box<dyn Iterator<Item = std::borrow::Cow<'_, [u8]>>> = if from_tail {
        Box::new(list.iter_rev())
    } else {
        Box::new(list.iter())
    };
    let limit = if maxlen == 0 {
        usize::MAX
    } else {
        maxlen as usize
    };
    let wanted = match count {
        None => 1,
        Some(0) => usize::MAX,
        // Redis's stop test (`matches - rank + 1 >= count`) overflows for i64::MIN and never
        // holds: every match is returned, whatever the COUNT.
        Some(_) if rank == i64::MIN => usize::MAX,
        Some(n) => n as usize,
    };
    let found: Vec<i64> = scan
        .take(limit)
        .enumerate()
        .filter(|(_, e)| *e == elem)
        .skip(skip)
        .take(wanted)
        .map(|(i, _)| {
            if from_tail {
                (len - 1 - i) as i64
            } else {
                i as i64
            }
        })
        .collect();
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for p in found {
                ctx.out.int(p);
            }
        }
        None => match found.first() {
            Some(&p) => ctx.out.int(p),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

/// Pop from `src` and push to `dst` (the same key rotates the list), replying with the
/// element. Returns false, replying nothing, if `src` is missing.
pub(super) fn move_one(
    ctx: &mut Ctx<'_, '_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<bool, CmdError> {
    let (now, fill, dbi) = (ctx.now_ms, fill(ctx), ctx.client.db);
    if write_list(ctx.keys.db(src, dbi), src, now)?.is_none() {
        return Ok(false);
    }
    // The destination's type is checked before anything is popped.
    let dst_exists = write_list(ctx.keys.db(dst, dbi), dst, now)?.is_some();
    let Some(value) = write_list(ctx.keys.db(src, dbi), src, now)?.and_then(|l| l.pop(from)) else {
        return Ok(false);
    };
    let dst_db = ctx.keys.db(dst, dbi);
    if !dst_exists && !dst_db.contains(dst) {
        dst_db.set(dst, Value::List(Box::default()), false, now);
    }
    if let Some(list) = write_list(dst_db, dst, now)? {
        list.push(to, &value, fill);
    }
    ctx.notify(ev::LIST, push_event(to), dst);
    let deleted = drop_if_empty(ctx.keys.db(src, dbi), src);
    notify_removal(ctx, pop_event(from), src, deleted);
    ctx.dirty += 1;
    ctx.out.bulk(&value);
    Ok(true)
}

fn move_generic(ctx: &mut Ctx<'_, '_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    if !move_one(ctx, src, dst, from, to)? {
        ctx.out.null();
    }
    Ok(())
}

/// Pop one element from `key` (deleting an emptied list); `None` if missing.
pub(super) fn pop_one(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    end: End,
) -> Result<Option<Vec<u8>>, CmdError> {
    let (now, dbi) = (ctx.now_ms, ctx.client.db);
    let db = ctx.keys.db(key, dbi);
    let v = write_list(db, key, now)?.and_then(|l| l.pop(end));
    let deleted = drop_if_empty(db, key);
    ctx.dirty += u64::from(v.is_some());
    if v.is_some() {
        notify_removal(ctx, pop_event(end), key, deleted);
    }
    Ok(v)
}

pub fn lmove(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let from = end_of(argv.get(3))?;
    let to = end_of(argv.get(4))?;
    move_generic(ctx, argv.get(1), argv.get(2), from, to)
}

pub fn rpoplpush(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    move_generic(ctx, argv.get(1), argv.get(2), End::Tail, End::Head)
}

/// A positive count with one message for every failure (Redis's `getRangeLongFromObject`).
fn positive_or(arg: &[u8], msg: &'static str) -> Result<usize, CmdError> {
    match resp::parse_i64(arg) {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(msg.into()),
    }
}

/// Parsed `numkeys key [key ...] <where> [COUNT n]` of LMPOP/BLMPOP (`where` is LEFT|RIGHT)
/// and ZMPOP/BZMPOP (MIN|MAX).
pub(super) struct MpopArgs<E> {
    /// Argument indices of the keys.
    pub keys: Vec<usize>,
    pub end: E,
    pub count: usize,
}

/// Parse LMPOP's arguments with `numkeys` at `at` (BLMPOP has its timeout first).
pub(super) fn parse_mpop(argv: &Argv<'_>, at: usize) -> Result<MpopArgs<End>, CmdError> {
    parse_mpop_with(argv, at, end_of)
}

/// The *MPOP argument shape, with `parse_where` reading the direction word.
pub(super) fn parse_mpop_with<E>(
    argv: &Argv<'_>,
    at: usize,
    parse_where: impl FnOnce(&[u8]) -> Result<E, CmdError>,
) -> Result<MpopArgs<E>, CmdError> {
    let numkeys = positive_or(argv.get(at), "ERR numkeys should be greater than 0")?;
    let where_idx = (at + 1).saturating_add(numkeys);
    if where_idx >= argv.len() {
        return Err(err::SYNTAX.into());
    }
    let end = parse_where(argv.get(where_idx))?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && is(argv.get(j), "count") && j + 1 < argv.len() {
            count = Some(positive_or(
                argv.get(j + 1),
                "ERR count should be greater than 0",
            )?);
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    Ok(MpopArgs {
        keys: (at + 1..where_idx).collect(),
        end,
        count: count.unwrap_or(1),
    })
}

/// Pop up to `count` from the first non-empty list of `keys`, replying `[key, [elems]]`.
/// Returns false, replying nothing, if every list is missing.
pub(super) fn mpop_first(
    ctx: &mut Ctx<'_, '_>,
    keys: &[Vec<u8>],
    end: End,
    count: usize,
) -> Result<bool, CmdError> {
    let (now, dbi) = (ctx.now_ms, ctx.client.db);
    for key in keys {
        let db = ctx.keys.db(key, dbi);
        let Some(list) = write_list(db, key, now)? else {
            continue;
        };
        let n = count.min(list.len());
        ctx.dirty += n as u64;
        // LMPOP and BLMPOP are logged as the pop they did (as Redis propagates them).
        let pop: &[u8] = if end == End::Head { b"LPOP" } else { b"RPOP" };
        let count_text = n.to_string();
        crate::cmd::log_as(&mut ctx.effects, &[pop, key, count_text.as_bytes()]);
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(n);
        for _ in 0..n {
            if let Some(v) = list.pop(end) {
                ctx.out.bulk(&v);
            }
        }
        let deleted = drop_if_empty(db, key);
        notify_removal(ctx, pop_event(end), key, deleted);
        // Only this key changed, not every key named (WATCH, tracking).
        ctx.touch(dbi, key);
        return Ok(true);
    }
    Ok(false)
}

pub fn lmpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let a = parse_mpop(&argv, 1)?;
    let keys: Vec<Vec<u8>> = a.keys.iter().map(|&i| argv.get(i).to_vec()).collect();
    if !mpop_first(ctx, &keys, a.end, a.count)? {
        ctx.out.null_array();
    }
    Ok(())
}
