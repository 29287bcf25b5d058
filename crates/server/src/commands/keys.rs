//! Generic key commands: deletion, existence, renaming, expiry, iteration, introspection.

use resp::{Aggregate, Argv};
use store::lazyfree::Reason;
use store::{glob_match, Str, Value, SHARED_INTEGERS};

use super::{is, lookup_read, lookup_write, parse_int, reply_help};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

pub fn del(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    del_generic(ctx, argv, Reason::UserDel)
}

/// UNLINK: DEL, with large values always freed in the background.
pub fn unlink(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    del_generic(ctx, argv, Reason::Unlink)
}

fn del_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, reason: Reason) -> CmdResult {
    let (now, dbi) = (ctx.now_ms, ctx.client.db);
    let mut n = 0;
    // Only the keys deleted count as changed for WATCH.
    ctx.touched = true;
    for key in argv.iter().skip(1) {
        let db = ctx.db(key);
        db.expire_if_needed(key, now);
        if db.delete(key, reason) {
            n += 1;
            ctx.touch(dbi, key);
            ctx.notify(ev::GENERIC, "del", key);
        }
    }
    ctx.dirty += n as u64;
    ctx.out.int(n);
    Ok(())
}

pub fn exists(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let now = ctx.now_ms;
    let mut n = 0;
    for key in argv.iter().skip(1) {
        n += i64::from(lookup_read(ctx.db(key), key, now, false).is_some());
    }
    ctx.out.int(n);
    Ok(())
}

pub fn type_cmd(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let name =
        lookup_read(ctx.db(key), key, now, false).map_or("none", |o| o.value.value_type().name());
    ctx.out.simple(name);
    Ok(())
}

fn rename_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, nx: bool) -> CmdResult {
    let (src, dst, now) = (argv.get(1), argv.get(2), ctx.now_ms);
    if lookup_write(ctx.db(src), src, now).is_none() {
        return Err(err::NO_SUCH_KEY.into());
    }
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if lookup_write(ctx.db(dst), dst, now).is_some() {
        if nx {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.db(dst).delete(dst, Reason::ServerDel);
    }
    if let Some((obj, at)) = ctx.db(src).remove(src) {
        ctx.db(dst).insert_obj(dst, obj, at);
    }
    ctx.dirty += 1;
    ctx.notify(ev::GENERIC, "rename_from", src);
    ctx.notify(ev::GENERIC, "rename_to", dst);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

pub fn rename(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    rename_generic(ctx, argv, false)
}

pub fn renamenx(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    rename_generic(ctx, argv, true)
}

pub fn keys(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let pattern = argv.get(1);
    let all = pattern == b"*";
    let (dbi, now) = (ctx.client.db, ctx.now_ms);
    let at = ctx.out.deferred();
    let mut n = 0;
    let out = &mut *ctx.out;
    let mut shards = if ctx.keys.holds_all() {
        store::AllShards::Held(&mut ctx.keys)
    } else {
        store::AllShards::Lock(&ctx.srv.store)
    };
    shards.for_each(|_, shard| {
        let db = shard.db_ref(dbi);
        for (key, _) in db.keys().iter() {
            if (all || glob_match(pattern, key, false)) && !db.is_expired(key, now) {
                out.bulk(key);
                n += 1;
            }
        }
    });
    ctx.out.finish_deferred(at, Aggregate::Array, n);
    Ok(())
}

/// SCAN's cursor covers every shard: the shard index in the low bits, that shard's dict cursor
/// above them. A shard's scan ends when its dict cursor returns to 0; then the next shard
/// starts. Empty shards are passed over without spending the COUNT budget.
pub fn scan(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let args = super::scan_args(&argv, 1, 2, true)?;
    let (cursor, count, pattern, type_name) =
        (args.cursor, args.count, args.pattern, args.type_name);
    let (dbi, now) = (ctx.client.db, ctx.now_ms);
    let mut store = ctx.all_shards();
    let shard_bits = store.shard_count().trailing_zeros();
    let mask = (store.shard_count() - 1) as u64;
    let (mut shard, mut bucket_cursor) = ((cursor & mask) as usize, cursor >> shard_bits);
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut iterations = count.saturating_mul(10);
    let next = loop {
        let step = store.with(shard, |guard| {
            let db = guard.db(dbi);
            if db.is_empty() {
                return None;
            }
            let mut found = Vec::new();
            let next = db.keys().scan(bucket_cursor, |k, _| found.push(k.to_vec()));
            for key in found {
                if db.expire_if_needed(&key, now) != store::Expired::No {
                    continue;
                }
                if pattern.is_some_and(|p| !glob_match(p, &key, false)) {
                    continue;
                }
                if let Some(t) = type_name {
                    let actual = db
                        .peek(&key, now)
                        .map_or("none", |o| o.value.value_type().name());
                    if !t.eq_ignore_ascii_case(actual.as_bytes()) {
                        continue;
                    }
                }
                keys.push(key);
            }
            Some(next)
        });
        let Some(next) = step else {
            // An empty shard costs no iteration (Redis's budget counts buckets of one dict), so
            // an empty or sparse database finishes with cursor 0 as it does in Redis.
            bucket_cursor = 0;
            shard += 1;
            if shard == store.shard_count() {
                break 0;
            }
            continue;
        };
        bucket_cursor = next;
        if bucket_cursor == 0 {
            shard += 1;
            if shard == store.shard_count() {
                break 0;
            }
        }
        iterations -= 1;
        if iterations <= 0 || keys.len() as i64 >= count {
            break (bucket_cursor << shard_bits) | shard as u64;
        }
    };
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

pub fn randomkey(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let (dbi, now) = (ctx.client.db, ctx.now_ms);
    let mut rng = crate::util::now_us() ^ (ctx.client.id << 32);
    let mut rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut store = ctx.all_shards();
    let mut found = None;
    // Bounded retries: a key found expired is deleted and another one is drawn.
    for _ in 0..100 {
        let mut sizes: Vec<usize> = Vec::with_capacity(store.shard_count());
        store.for_each(|_, s| sizes.push(s.db_ref(dbi).len()));
        let total: usize = sizes.iter().sum();
        if total == 0 {
            break;
        }
        let mut pick = (rand() % total as u64) as usize;
        let shard = sizes
            .iter()
            .position(|&n| {
                if pick < n {
                    true
                } else {
                    pick -= n;
                    false
                }
            })
            .unwrap_or(0);
        let live = store.with(shard, |guard| {
            let db = guard.db(dbi);
            let key = db.keys().random(&mut rand).map(|(k, _)| k.to_vec())?;
            (db.expire_if_needed(&key, now) == store::Expired::No).then_some(key)
        });
        if live.is_some() {
            found = live;
            break;
        }
    }
    match found {
        Some(key) => ctx.out.bulk(&key),
        None => ctx.out.null(),
    }
    Ok(())
}

#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(argv: &Argv<'_>) -> Result<ExpireFlags, CmdError> {
    let mut f = ExpireFlags::default();
    for opt in argv.iter().skip(3) {
        if is(opt, "nx") {
            f.nx = true;
        } else if is(opt, "xx") {
            f.xx = true;
        } else if is(opt, "gt") {
            f.gt = true;
        } else if is(opt, "lt") {
            f.lt = true;
        } else {
            let c_str = opt.split(|&c| c == 0).next().unwrap_or(opt);
            return Err(CmdError::concat(&[b"ERR Unsupported option ", c_str]));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if f.gt && f.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(f)
}

fn expire_generic(
    ctx: &mut Ctx<'_, '_>,
    argv: Argv<'_>,
    relative: bool,
    seconds: bool,
    cmd: &str,
) -> CmdResult {
    let f = parse_expire_flags(&argv)?;
    let mut when = parse_int(argv.get(2))?;
    let invalid = || CmdError::from(format!("ERR invalid expire time in '{cmd}' command"));
    if seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let (key, now) = (argv.get(1), ctx.now_ms);
    if relative {
        when = when.checked_add(now as i64).ok_or_else(invalid)?;
    }
    let db = ctx.db(key);
    if lookup_write(db, key, now).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let current = db.expire_at(key).map(|at| at as i64);
    let refused = (f.nx && current.is_some())
        || (f.xx && current.is_none())
        || (f.gt && current.is_none_or(|c| when <= c))
        || (f.lt && current.is_some_and(|c| when >= c));
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= now as i64 {
        db.remove(key);
        ctx.log_as(&[b"DEL", key]);
        ctx.notify(ev::GENERIC, "del", key);
    } else {
        db.set_expire(key, when as u64);
        let ms = when.to_string();
        ctx.log_as(&[b"PEXPIREAT", key, ms.as_bytes()]);
        ctx.notify(ev::GENERIC, "expire", key);
    }
    ctx.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

pub fn expire(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, true, true, "expire")
}

pub fn pexpire(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, true, false, "pexpire")
}

pub fn expireat(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, false, true, "expireat")
}

pub fn pexpireat(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, false, false, "pexpireat")
}

/// TTL family: `abs` for EXPIRETIME, `ms` for the millisecond forms.
fn ttl_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, ms: bool, abs: bool) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.db(key);
    if lookup_read(db, key, now, false).is_none() {
        ctx.out.int(-2);
        return Ok(());
    }
    let Some(at) = db.expire_at(key) else {
        ctx.out.int(-1);
        return Ok(());
    };
    let value = if abs {
        at as i64
    } else {
        (at as i64 - now as i64).max(0)
    };
    // Rounded to the nearest second without overflowing at the edge of i64 (Redis prints
    // 9223372036854776 for an expiry at i64::MAX ms).
    ctx.out.int(if ms {
        value
    } else {
        ((i128::from(value) + 500) / 1000) as i64
    });
    Ok(())
}

pub fn ttl(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, false, false)
}

pub fn pttl(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, true, false)
}

pub fn expiretime(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, false, true)
}

pub fn pexpiretime(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, true, true)
}

pub fn persist(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let db = ctx.db(key);
    let n = lookup_write(db, key, now).is_some() && db.persist(key);
    ctx.dirty += u64::from(n);
    if n {
        ctx.notify(ev::GENERIC, "persist", key);
    }
    ctx.out.int(i64::from(n));
    Ok(())
}

/// A database index given as an option value (COPY DB, MOVE): Redis's `getIntFromObject`.
fn db_option(ctx: &Ctx<'_, '_>, arg: &[u8]) -> Result<usize, CmdError> {
    super::parse_db_index(ctx, arg)
}

pub fn copy_cmd(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (src, dst, now) = (argv.get(1), argv.get(2), ctx.now_ms);
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        if is(argv.get(j), "replace") {
            replace = true;
        } else if is(argv.get(j), "db") && j + 1 < argv.len() {
            dst_db = db_option(ctx, argv.get(j + 1))?;
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    if ctx.srv.cluster.enabled && (src_db != 0 || dst_db != 0) {
        return Err("ERR Copying to another database is not allowed in cluster mode".into());
    }
    if src_db == dst_db && src == dst {
        return Err("ERR source and destination objects are the same".into());
    }
    let Some(obj) = lookup_read(ctx.keys.db(src, src_db), src, now, true).cloned() else {
        ctx.out.int(0);
        return Ok(());
    };
    let at = ctx.keys.db(src, src_db).expire_at(src);
    let target = ctx.keys.db(dst, dst_db);
    if lookup_write(target, dst, now).is_some() {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        target.delete(dst, Reason::ServerDel);
    }
    let mut copy = store::Obj::new(obj.value, now);
    // Redis duplicates the object, so even a shared small integer is an object of its own.
    copy.unshared_int = matches!(copy.value, Value::Str(Str::Int(_)));
    target.insert_obj(dst, copy, at);
    ctx.touch(dst_db, dst);
    ctx.notify_in(ev::GENERIC, "copy_to", dst, dst_db);
    ctx.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

pub fn move_cmd(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if ctx.srv.cluster.enabled {
        return Err("ERR MOVE is not allowed in cluster mode".into());
    }
    let (key, now) = (argv.get(1), ctx.now_ms);
    let dst_db = db_option(ctx, argv.get(2))?;
    let src_db = ctx.client.db;
    if src_db == dst_db {
        return Err("ERR source and destination objects are the same".into());
    }
    if lookup_write(ctx.keys.db(key, src_db), key, now).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    if lookup_write(ctx.keys.db(key, dst_db), key, now).is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    if let Some((obj, at)) = ctx.keys.db(key, src_db).remove(key) {
        ctx.keys.db(key, dst_db).insert_obj(key, obj, at);
    }
    ctx.touch(src_db, key);
    ctx.touch(dst_db, key);
    ctx.notify_in(ev::GENERIC, "move_from", key, src_db);
    ctx.notify_in(ev::GENERIC, "move_to", key, dst_db);
    ctx.dirty += 1;
    ctx.out.int(1);
    Ok(())
}

pub fn touch(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let now = ctx.now_ms;
    let mut n = 0;
    for key in argv.iter().skip(1) {
        n += i64::from(lookup_read(ctx.db(key), key, now, true).is_some());
    }
    ctx.out.int(n);
    Ok(())
}

/// The object under argv[2] for OBJECT subcommands, without touching its access time.
fn object_lookup<'c>(ctx: &'c mut Ctx<'_, '_>, argv: &Argv<'_>) -> Option<&'c store::Obj> {
    let (key, now) = (argv.get(2), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    if db.expire_if_needed(key, now) == store::Expired::Hidden {
        return None;
    }
    db.get_for_read(key, None)
}

pub fn object_encoding(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    match object_lookup(ctx, &argv).map(|o| o.value.encoding_name()) {
        Some(enc) => ctx.out.bulk(enc.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Whether small integers are shared objects (refcount INT_MAX), which Redis disables under
/// an LRU/LFU maxmemory policy.
fn shared_integers(ctx: &Ctx<'_, '_>) -> bool {
    let c = ctx.srv.config.read();
    let policy = c.get("maxmemory-policy");
    c.maxmemory() == 0 || !(policy.contains("lru") || policy.contains("lfu"))
}

pub fn object_refcount(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let shared = shared_integers(ctx);
    match object_lookup(ctx, &argv).map(|o| match &o.value {
        Value::Str(Str::Int(n))
            if shared && !o.unshared_int && (0..SHARED_INTEGERS).contains(n) =>
        {
            i64::from(i32::MAX)
        }
        _ => 1,
    }) {
        Some(n) => ctx.out.int(n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lfu_policy(ctx: &Ctx<'_, '_>) -> bool {
    ctx.srv
        .config
        .read()
        .get("maxmemory-policy")
        .contains("lfu")
}

pub fn object_idletime(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let now = ctx.now_ms;
    let lfu = lfu_policy(ctx);
    let Some(obj) = object_lookup(ctx, &argv) else {
        ctx.out.null();
        return Ok(());
    };
    if lfu {
        return Err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into());
    }
    let idle = obj.idle_seconds(now);
    ctx.out.int(idle as i64);
    Ok(())
}

pub fn object_freq(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let lfu = lfu_policy(ctx);
    let now = ctx.now_ms;
    let Some(obj) = object_lookup(ctx, &argv) else {
        ctx.out.null();
        return Ok(());
    };
    if !lfu {
        return Err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into());
    }
    let freq = obj.lfu_freq(now);
    ctx.out.int(i64::from(freq));
    Ok(())
}

pub fn object_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}
