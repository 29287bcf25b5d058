//! String commands. The order of checks (syntax, then type, then argument values) follows
//! Redis 7.0 command by command, because clients see which error wins.

use resp::Argv;
use store::{num, Str, Value};

use super::{is, lookup_write, parse_int, read_str, write_str};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

/// Options shared by SET and GETEX (Redis's `parseExtendedStringArgumentsOrReply`).
#[derive(Default)]
struct SetOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// The expiry argument and its form.
    expire: Option<(&'a [u8], ExpireUnit)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireUnit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

#[derive(PartialEq, Eq)]
enum Family {
    Set,
    GetEx,
}

fn parse_set_opts<'a>(
    argv: &Argv<'a>,
    from: usize,
    family: Family,
) -> Result<SetOpts<'a>, CmdError> {
    let mut o = SetOpts::default();
    let mut j = from;
    while j < argv.len() {
        let a = argv.get(j);
        let has_next = j + 1 < argv.len();
        let unit = if is(a, "ex") {
            Some(ExpireUnit::Ex)
        } else if is(a, "px") {
            Some(ExpireUnit::Px)
        } else if is(a, "exat") {
            Some(ExpireUnit::ExAt)
        } else if is(a, "pxat") {
            Some(ExpireUnit::PxAt)
        } else {
            None
        };
        if is(a, "nx") && !o.xx && family == Family::Set {
            o.nx = true;
        } else if is(a, "xx") && !o.nx && family == Family::Set {
            o.xx = true;
        } else if is(a, "get") && family == Family::Set {
            o.get = true;
        } else if is(a, "keepttl") && !o.persist && o.expire.is_none() && family == Family::Set {
            o.keepttl = true;
        } else if is(a, "persist") && family == Family::GetEx && o.expire.is_none() && !o.keepttl {
            o.persist = true;
        } else if let Some(unit) = unit.filter(|u| {
            !o.keepttl && !o.persist && has_next && o.expire.is_none_or(|(_, cur)| cur == *u)
        }) {
            o.expire = Some((argv.get(j + 1), unit));
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// Turn an expiry argument into an absolute time in ms, with Redis's errors; `cmd` names the
/// command in "invalid expire time in '<cmd>' command".
fn expire_at_ms(arg: &[u8], unit: ExpireUnit, now_ms: u64, cmd: &str) -> Result<i64, CmdError> {
    let invalid = || CmdError::from(format!("ERR invalid expire time in '{cmd}' command"));
    let n = parse_int(arg)?;
    let seconds = matches!(unit, ExpireUnit::Ex | ExpireUnit::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if seconds { n * 1000 } else { n };
    let ms = if matches!(unit, ExpireUnit::Ex | ExpireUnit::Px) {
        ms.checked_add(now_ms as i64).ok_or_else(invalid)?
    } else {
        ms
    };
    Ok(ms)
}

pub fn get(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.keys.db(argv.get(1), ctx.client.db);
    reply_str(ctx.out, read_str(db, argv.get(1), now)?);
    Ok(())
}

fn reply_str(out: &mut resp::Reply, s: Option<&Str>) {
    match s {
        None => out.null(),
        Some(s) => s.with_bytes(|b| out.bulk(b)),
    }
}

pub fn set(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let o = parse_set_opts(&argv, 3, Family::Set)?;
    let (key, now) = (argv.get(1), ctx.now_ms);
    let at = match o.expire {
        Some((arg, unit)) => Some(expire_at_ms(arg, unit, now, "set")?),
        None => None,
    };
    let db = ctx.keys.db(key, ctx.client.db);
    if o.get {
        let old = read_str(db, key, now)?;
        reply_str(ctx.out, old);
    }
    let found = lookup_write(db, key, now).is_some();
    if (o.nx && found) || (o.xx && !found) {
        if !o.get {
            ctx.out.null();
        }
        return Ok(());
    }
    db.set(
        key,
        Value::Str(Str::from_bytes(argv.get(2))),
        o.keepttl,
        now,
    );
    if let Some(at) = at {
        db.set_expire(key, at.max(0) as u64);
        // Logged with the absolute time, never the relative one.
        let ms = at.max(0).to_string();
        ctx.log_as(&[b"SET", key, argv.get(2), b"PXAT", ms.as_bytes()]);
    }
    ctx.dirty += 1;
    ctx.notify(ev::STRING, "set", key);
    if at.is_some() {
        ctx.notify(ev::GENERIC, "expire", key);
    }
    if !o.get {
        ctx.out.ok();
    }
    Ok(())
}

pub fn setnx(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    if lookup_write(db, key, now).is_some() {
        ctx.out.int(0);
    } else {
        db.set(key, Value::Str(Str::from_bytes(argv.get(2))), false, now);
        ctx.dirty += 1;
        ctx.notify(ev::STRING, "set", key);
        ctx.out.int(1);
    }
    Ok(())
}

fn setex_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, unit: ExpireUnit, cmd: &str) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let at = expire_at_ms(argv.get(2), unit, now, cmd)?;
    let db = ctx.keys.db(key, ctx.client.db);
    db.expire_if_needed(key, now);
    db.set(key, Value::Str(Str::from_bytes(argv.get(3))), false, now);
    db.set_expire(key, at as u64);
    ctx.dirty += 1;
    let ms = at.to_string();
    ctx.log_as(&[b"SET", key, argv.get(3), b"PXAT", ms.as_bytes()]);
    ctx.notify(ev::STRING, "set", key);
    ctx.notify(ev::GENERIC, "expire", key);
    ctx.out.ok();
    Ok(())
}

pub fn setex(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    setex_generic(ctx, argv, ExpireUnit::Ex, "setex")
}

pub fn psetex(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    setex_generic(ctx, argv, ExpireUnit::Px, "psetex")
}

pub fn getset(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let old = read_str(db, key, now)?;
    reply_str(ctx.out, old);
    db.set(key, Value::Str(Str::from_bytes(argv.get(2))), false, now);
    ctx.dirty += 1;
    ctx.notify(ev::STRING, "set", key);
    Ok(())
}

pub fn getdel(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let old = read_str(db, key, now)?;
    reply_str(ctx.out, old);
    if old.is_some() {
        db.remove(key);
        ctx.dirty += 1;
        ctx.log_as(&[b"DEL", key]);
        ctx.notify(ev::GENERIC, "del", key);
    }
    Ok(())
}

pub fn getex(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let o = parse_set_opts(&argv, 2, Family::GetEx)?;
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    if read_str(db, key, now)?.is_none() {
        ctx.out.null();
        return Ok(());
    }
    let at = match o.expire {
        Some((arg, unit)) => Some((expire_at_ms(arg, unit, now, "getex")?, unit)),
        None => None,
    };
    reply_str(ctx.out, read_str(db, key, now)?);
    match at {
        Some((at, ExpireUnit::ExAt | ExpireUnit::PxAt)) if at as u64 <= now => {
            db.remove(key);
            ctx.dirty += 1;
            ctx.log_as(&[b"DEL", key]);
            ctx.notify(ev::GENERIC, "del", key);
        }
        Some((at, _)) => {
            db.set_expire(key, at as u64);
            ctx.dirty += 1;
            let ms = at.to_string();
            ctx.log_as(&[b"PEXPIREAT", key, ms.as_bytes()]);
            ctx.notify(ev::GENERIC, "expire", key);
        }
        None if o.persist => {
            let removed = db.persist(key);
            ctx.dirty += u64::from(removed);
            ctx.log_as(&[b"PERSIST", key]);
            if removed {
                ctx.notify(ev::GENERIC, "persist", key);
            }
        }
        None => {}
    }
    Ok(())
}

pub fn mget(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let now = ctx.now_ms;
    ctx.out.array(argv.len() - 1);
    for key in argv.iter().skip(1) {
        let db = ctx.keys.db(key, ctx.client.db);
        match super::lookup_read(db, key, now, true).map(|o| &o.value) {
            Some(Value::Str(s)) => s.with_bytes(|b| ctx.out.bulk(b)),
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, nx: bool) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        return Err(format!("ERR wrong number of arguments for '{name}' command").into());
    }
    let now = ctx.now_ms;
    if nx {
        for i in (1..argv.len()).step_by(2) {
            let key = argv.get(i);
            if lookup_write(ctx.keys.db(key, ctx.client.db), key, now).is_some() {
                ctx.out.int(0);
                return Ok(());
            }
        }
    }
    for i in (1..argv.len()).step_by(2) {
        let key = argv.get(i);
        let db = ctx.keys.db(key, ctx.client.db);
        db.expire_if_needed(key, now);
        db.set(
            key,
            Value::Str(Str::from_bytes(argv.get(i + 1))),
            false,
            now,
        );
        ctx.notify(ev::STRING, "set", key);
    }
    ctx.dirty += (argv.len() as u64 - 1) / 2;
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

pub fn mset(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    mset_generic(ctx, argv, false)
}

pub fn msetnx(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    mset_generic(ctx, argv, true)
}

/// Redis's `checkStringLength`: a string may not grow past `proto-max-bulk-len`.
fn check_string_length(ctx: &Ctx<'_, '_>, size: u64, append: u64) -> CmdResult {
    let max = ctx.srv.config.read().proto_max_bulk_len() as u64;
    match size.checked_add(append) {
        Some(total) if total <= max => Ok(()),
        _ => Err("ERR string exceeds maximum allowed size (proto-max-bulk-len)".into()),
    }
}

pub fn append(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, add, now) = (argv.get(1), argv.get(2), ctx.now_ms);
    let current_len = write_str(ctx.keys.db(key, ctx.client.db), key, now)?.map(|s| s.len());
    let db_index = ctx.client.db;
    match current_len {
        None => {
            let db = ctx.keys.db(key, db_index);
            db.set(key, Value::Str(Str::from_bytes(add)), false, now);
            ctx.dirty += 1;
            ctx.notify(ev::STRING, "append", key);
            ctx.out.int(add.len() as i64);
        }
        Some(len) => {
            check_string_length(ctx, len as u64, add.len() as u64)?;
            let db = ctx.keys.db(key, db_index);
            if let Some(s) = write_str(db, key, now)? {
                let raw = s.make_raw();
                store::extend_bytes(raw, add);
                ctx.out.int(raw.len() as i64);
                ctx.dirty += 1;
                ctx.notify(ev::STRING, "append", key);
            }
        }
    }
    Ok(())
}

pub fn strlen(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let db = ctx.keys.db(argv.get(1), ctx.client.db);
    let len = read_str(db, argv.get(1), ctx.now_ms)?.map_or(0, |s| s.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn incr_by(ctx: &mut Ctx<'_, '_>, key: &[u8], by: i64) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    let current = match write_str(db, key, now)? {
        None => 0,
        Some(s) => s.as_i64().ok_or(CmdError::from(err::NOT_INT))?,
    };
    let next = current
        .checked_add(by)
        .ok_or(CmdError::from(err::OVERFLOW))?;
    match write_str(db, key, now)? {
        Some(s) => *s = Str::Int(next),
        None => db.set(key, Value::Str(Str::Int(next)), false, now),
    }
    ctx.dirty += 1;
    ctx.notify(ev::STRING, "incrby", key);
    ctx.out.int(next);
    Ok(())
}

pub fn incr(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    incr_by(ctx, argv.get(1), 1)
}

pub fn decr(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    incr_by(ctx, argv.get(1), -1)
}

pub fn incrby(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let by = parse_int(argv.get(2))?;
    incr_by(ctx, argv.get(1), by)
}

pub fn decrby(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let by = parse_int(argv.get(2))?;
    if by == i64::MIN {
        return Err("ERR decrement would overflow".into());
    }
    incr_by(ctx, argv.get(1), -by)
}

pub fn incrbyfloat(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let current = match write_str(db, key, now)? {
        None => b"0".to_vec(),
        Some(s) => s.as_bytes().into_owned(),
    };
    let result = num::ld_add(&current, argv.get(2)).map_err(|e| match e {
        num::LdError::NotFloat => CmdError::from(err::NOT_FLOAT),
        num::LdError::NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
    })?;
    db.set(key, Value::Str(Str::from_bytes_no_int(&result)), true, now);
    ctx.dirty += 1;
    // The result, not the addition: replaying a float addition could round differently.
    ctx.log_as(&[b"SET", key, &result, b"KEEPTTL"]);
    ctx.notify(ev::STRING, "incrbyfloat", key);
    ctx.out.bulk(&result);
    Ok(())
}

pub fn getrange(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut start = parse_int(argv.get(2))?;
    let mut end = parse_int(argv.get(3))?;
    let db = ctx.keys.db(argv.get(1), ctx.client.db);
    let Some(s) = read_str(db, argv.get(1), ctx.now_ms)? else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    s.with_bytes(|b| {
        let len = b.len() as i64;
        if start < 0 && end < 0 && start > end {
            ctx.out.bulk(b"");
            return;
        }
        if start < 0 {
            start += len;
        }
        if end < 0 {
            end += len;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= len {
            end = len - 1;
        }
        if start > end || len == 0 {
            ctx.out.bulk(b"");
        } else {
            ctx.out.bulk(&b[start as usize..=end as usize]);
        }
    });
    Ok(())
}

pub fn substr(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    getrange(ctx, argv)
}

pub fn setrange(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, value, now) = (argv.get(1), argv.get(3), ctx.now_ms);
    let offset = parse_int(argv.get(2))?;
    if offset < 0 {
        return Err("ERR offset is out of range".into());
    }
    let offset = offset as usize;
    let db_index = ctx.client.db;
    let existing = write_str(ctx.keys.db(key, db_index), key, now)?.map(|s| s.len());
    if value.is_empty() {
        ctx.out.int(existing.unwrap_or(0) as i64);
        return Ok(());
    }
    check_string_length(ctx, offset as u64, value.len() as u64)?;
    let db = ctx.keys.db(key, db_index);
    if existing.is_none() {
        db.set(key, Value::Str(Str::Raw(store::ThinVec::new())), false, now);
    }
    if let Some(s) = write_str(db, key, now)? {
        let raw = s.make_raw();
        if raw.len() < offset + value.len() {
            store::bits::zero_extend(raw, offset + value.len());
        }
        raw[offset..offset + value.len()].copy_from_slice(value);
        ctx.out.int(raw.len() as i64);
        ctx.dirty += 1;
        ctx.notify(ev::STRING, "setrange", key);
    }
    Ok(())
}

/// LCS options.
struct LcsOpts {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

pub fn lcs(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let now = ctx.now_ms;
    let mut fetch = |key: &[u8]| -> Result<Vec<u8>, CmdError> {
        let db = ctx.keys.db(key, ctx.client.db);
        match super::lookup_read(db, key, now, true).map(|o| &o.value) {
            None => Ok(Vec::new()),
            Some(Value::Str(s)) => Ok(s.as_bytes().into_owned()),
            Some(_) => Err("ERR The specified keys must contain string values".into()),
        }
    };
    let a = fetch(argv.get(1))?;
    let b = fetch(argv.get(2))?;
    let mut o = LcsOpts {
        len: false,
        idx: false,
        with_match_len: false,
        min_match_len: 0,
    };
    let mut j = 3;
    while j < argv.len() {
        let opt = argv.get(j);
        if is(opt, "idx") {
            o.idx = true;
        } else if is(opt, "len") {
            o.len = true;
        } else if is(opt, "withmatchlen") {
            o.with_match_len = true;
        } else if is(opt, "minmatchlen") && j + 1 < argv.len() {
            o.min_match_len = parse_int(argv.get(j + 1))?.max(0) as u64;
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err("ERR If you want both the length and indexes, please just use IDX.".into());
    }
    let table_bytes = (a.len() as u64 + 1) * (b.len() as u64 + 1) * 4;
    if table_bytes > ctx.srv.config.read().proto_max_bulk_len() as u64 {
        return Err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len".into(),
        );
    }
    lcs_reply(ctx.out, &a, &b, &o);
    Ok(())
}

/// The classic dynamic-programming LCS, walked back from the end to produce the string or the
/// matching ranges (the ranges come out last-first, as Redis emits them).
fn lcs_reply(out: &mut resp::Reply, a: &[u8], b: &[u8], o: &LcsOpts) {
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * (blen + 1)];
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[alen * w + blen] as usize;
    if o.len && !o.idx {
        out.int(total as i64);
        return;
    }
    let mut result = vec![0u8; total];
    let mut k = total;
    let mut ranges: Vec<[usize; 4]> = Vec::new();
    // A range in progress: (a_start, a_end, b_start, b_end); `None` when not tracking.
    let mut cur: Option<[usize; 4]> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[k - 1] = a[i - 1];
            match cur.as_mut() {
                None => cur = Some([i - 1, i - 1, j - 1, j - 1]),
                Some(r) if r[0] == i && r[2] == j => {
                    r[0] -= 1;
                    r[2] -= 1;
                }
                Some(_) => emit = true,
            }
            if let Some(r) = cur {
                if r[0] == 0 || r[2] == 0 {
                    emit = true;
                }
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if cur.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = cur.take() {
                if (r[1] - r[0] + 1) as u64 >= o.min_match_len {
                    ranges.push(r);
                }
            }
        }
    }
    if !o.idx {
        out.bulk(&result);
        return;
    }
    out.map(2);
    out.bulk(b"matches");
    out.array(ranges.len());
    for r in &ranges {
        out.array(2 + usize::from(o.with_match_len));
        out.array(2);
        out.int(r[0] as i64);
        out.int(r[1] as i64);
        out.array(2);
        out.int(r[2] as i64);
        out.int(r[3] as i64);
        if o.with_match_len {
            out.int((r[1] - r[0] + 1) as i64);
        }
    }
    out.bulk(b"len");
    out.int(total as i64);
}
