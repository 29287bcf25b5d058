//! Hash commands, in Redis 7.0's order of checks (t_hash.c). A hash whose last field is
//! deleted is deleted.

use resp::Argv;
use store::{num, Db, Hash, HashLimits, Value};

use super::{is, lookup_read, lookup_write, parse_int, scan_args, scan_dict, typed, typed_ref};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

fn limits(ctx: &Ctx<'_, '_>) -> HashLimits {
    ctx.srv.limits.hash()
}

fn write_hash<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d mut Hash>, CmdError> {
    typed(lookup_write(db, key, now), Value::as_hash_mut)
}

fn read_hash<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d Hash>, CmdError> {
    typed_ref(lookup_read(db, key, now, true), Value::as_hash)
}

/// The hash under `key`, created empty if missing (Redis's `hashTypeLookupWriteOrCreate`).
fn hash_or_create<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<&'d mut Hash, CmdError> {
    if write_hash(db, key, now)?.is_none() {
        db.set(key, Value::Hash(Box::default()), false, now);
    }
    write_hash(db, key, now)?.ok_or_else(|| err::WRONGTYPE.into())
}

fn hset_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, name: &str) -> CmdResult {
    if argv.len() % 2 == 1 {
        return Err(format!("ERR wrong number of arguments for '{name}' command").into());
    }
    let (key, now, limits) = (argv.get(1), ctx.now_ms, limits(ctx));
    let hash = hash_or_create(ctx.keys.db(key, ctx.client.db), key, now)?;
    let mut created = 0;
    for i in (2..argv.len()).step_by(2) {
        created += i64::from(hash.set(argv.get(i), argv.get(i + 1), limits));
    }
    // Every pair counts, new field or not (Redis's hsetCommand).
    ctx.dirty += (argv.len() as u64 - 2) / 2;
    if name == "hset" {
        ctx.out.int(created);
    } else {
        ctx.out.ok();
    }
    // After the reply, as Redis orders them for a client that gets its own events.
    ctx.notify(ev::HASH, "hset", key);
    Ok(())
}

pub fn hset(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    hset_generic(ctx, argv, "hset")
}

pub fn hmset(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    hset_generic(ctx, argv, "hmset")
}

pub fn hsetnx(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now, limits) = (argv.get(1), ctx.now_ms, limits(ctx));
    let hash = hash_or_create(ctx.keys.db(key, ctx.client.db), key, now)?;
    if hash.get(argv.get(2)).is_some() {
        ctx.out.int(0);
    } else {
        hash.set(argv.get(2), argv.get(3), limits);
        ctx.dirty += 1;
        ctx.out.int(1);
        ctx.notify(ev::HASH, "hset", key);
    }
    Ok(())
}

pub fn hget(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    match read_hash(ctx.keys.db(key, ctx.client.db), key, now)?.and_then(|h| h.get(argv.get(2))) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn hmget(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let hash = read_hash(ctx.keys.db(key, ctx.client.db), key, now)?;
    ctx.out.array(argv.len() - 2);
    for field in argv.iter().skip(2) {
        match hash.and_then(|h| h.get(field)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

pub fn hdel(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(hash) = write_hash(db, key, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    let mut gone = false;
    for field in argv.iter().skip(2) {
        if hash.remove(field) {
            deleted += 1;
            if hash.is_empty() {
                db.remove(key);
                gone = true;
                break;
            }
        }
    }
    ctx.dirty += deleted as u64;
    if deleted > 0 {
        ctx.notify(ev::HASH, "hdel", key);
        if gone {
            ctx.notify(ev::GENERIC, "del", key);
        }
    }
    ctx.out.int(deleted);
    Ok(())
}

pub fn hlen(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let n = read_hash(ctx.keys.db(key, ctx.client.db), key, now)?.map_or(0, Hash::len);
    ctx.out.int(n as i64);
    Ok(())
}

pub fn hstrlen(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let hash = read_hash(ctx.keys.db(key, ctx.client.db), key, now)?;
    let n = hash.and_then(|h| h.get(argv.get(2))).map_or(0, <[u8]>::len);
    ctx.out.int(n as i64);
    Ok(())
}

pub fn hexists(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let hash = read_hash(ctx.keys.db(key, ctx.client.db), key, now)?;
    ctx.out
        .int(i64::from(hash.and_then(|h| h.get(argv.get(2))).is_some()));
    Ok(())
}

/// HKEYS, HVALS, HGETALL.
fn hgetall_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, fields: bool, values: bool) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let hash = read_hash(ctx.keys.db(key, ctx.client.db), key, now)?;
    let len = hash.map_or(0, Hash::len);
    if fields && values {
        ctx.out.map(len);
    } else {
        ctx.out.array(len);
    }
    if let Some(h) = hash {
        for (f, v) in h.iter() {
            if fields {
                ctx.out.bulk(f);
            }
            if values {
                ctx.out.bulk(v);
            }
        }
    }
    Ok(())
}

pub fn hkeys(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    hgetall_generic(ctx, argv, true, false)
}

pub fn hvals(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    hgetall_generic(ctx, argv, false, true)
}

pub fn hgetall(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    hgetall_generic(ctx, argv, true, true)
}

pub fn hincrby(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let by = parse_int(argv.get(3))?;
    let (key, field, now, limits) = (argv.get(1), argv.get(2), ctx.now_ms, limits(ctx));
    let hash = hash_or_create(ctx.keys.db(key, ctx.client.db), key, now)?;
    let current = match hash.get(field) {
        None => 0,
        Some(v) => resp::parse_i64(v).ok_or(CmdError::from("ERR hash value is not an integer"))?,
    };
    let next = current
        .checked_add(by)
        .ok_or(CmdError::from(err::OVERFLOW))?;
    hash.set(field, itoa::Buffer::new().format(next).as_bytes(), limits);
    ctx.dirty += 1;
    ctx.out.int(next);
    ctx.notify(ev::HASH, "hincrby", key);
    Ok(())
}

pub fn hincrbyfloat(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let incr = argv.get(3);
    match num::ld_classify(incr) {
        num::LdClass::NotFloat => return Err(err::NOT_FLOAT.into()),
        num::LdClass::Infinite => return Err("ERR value is NaN or Infinity".into()),
        num::LdClass::Finite => {}
    }
    let (key, field, now, limits) = (argv.get(1), argv.get(2), ctx.now_ms, limits(ctx));
    let hash = hash_or_create(ctx.keys.db(key, ctx.client.db), key, now)?;
    let current = hash
        .get(field)
        .map_or_else(|| b"0".to_vec(), <[u8]>::to_vec);
    let result = num::ld_add(&current, incr).map_err(|e| match e {
        num::LdError::NotFloat => CmdError::from("ERR hash value is not a float"),
        num::LdError::NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
    })?;
    hash.set(field, &result, limits);
    ctx.dirty += 1;
    ctx.log_as(&[b"HSET", key, field, &result]);
    ctx.out.bulk(&result);
    ctx.notify(ev::HASH, "hincrbyfloat", key);
    Ok(())
}

pub fn hrandfield(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut with_values = false;
    let count = if argv.len() >= 3 {
        let n = parse_int(argv.get(2))?;
        if n == i64::MIN {
            return Err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807".into());
        }
        if argv.len() >= 4 {
            if argv.len() > 4 || !is(argv.get(3), "withvalues") {
                return Err(err::SYNTAX.into());
            }
            with_values = true;
            // Twice as many replies as picks must stay countable (Redis's ±LONG_MAX/2),
            // checked before the key is looked at.
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
                return Err("ERR value is out of range".into());
            }
        }
        Some(n)
    } else {
        None
    };
    let (key, now) = (argv.get(1), ctx.now_ms);
    let hash = read_hash(ctx.keys.db(key, ctx.client.db), key, now)?;
    let Some(hash) = hash else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let pairs: Vec<(&[u8], &[u8])> = hash.iter().collect();
    let mut rng = super::Rng::seeded(ctx.client.id);
    let Some(n) = count else {
        ctx.out.bulk(pairs[rng.below(pairs.len())].0);
        return Ok(());
    };
    let mut picks = super::Picks::new(n, pairs.len(), &mut rng, || (0..pairs.len()).collect());
    let resp3_pairs = with_values && ctx.out.is_resp3();
    let total = picks.len() as usize;
    ctx.out.array(if with_values && !resp3_pairs {
        total * 2
    } else {
        total
    });
    let mut emitted = 0u32;
    while let Some(i) = picks.next(&mut rng) {
        let (f, v) = pairs[i];
        if resp3_pairs {
            ctx.out.array(2);
        }
        ctx.out.bulk(f);
        if with_values {
            ctx.out.bulk(v);
        }
        emitted = emitted.wrapping_add(1);
        if emitted.is_multiple_of(1024) && ctx.out.len() > super::REPLY_HARD_LIMIT_BYTES {
            break;
        }
    }
    super::reply_overflowed(ctx);
    Ok(())
}

pub fn hscan(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    // The cursor is checked first; the key is read before the other options (as Redis).
    super::parse_scan_cursor(argv.get(2))?;
    let found = read_hash(ctx.keys.db(key, ctx.client.db), key, now);
    if !super::scan_key_first(ctx.out, &found)? {
        return Ok(());
    }
    let args = scan_args(&argv, 2, 3, false)?;
    let hash = found?;
    let mut found: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut next = 0;
    match hash {
        None => {}
        Some(Hash::Table(d)) => {
            next = scan_dict(d, &args, |f, v| found.push((f.to_vec(), v.to_vec())));
        }
        Some(h) => found = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect(),
    }
    if let Some(p) = args.pattern {
        found.retain(|(f, _)| store::glob_match(p, f, false));
    }
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(found.len() * 2);
    for (f, v) in &found {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}
