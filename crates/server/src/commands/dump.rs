//! DUMP and RESTORE: a key's value as a self-checking payload (`persist::rdb::dump`), and back.

use resp::Argv;

use super::{is, lookup_read, lookup_write, parse_int};
use crate::cmd::{err, CmdResult, Ctx};

pub fn dump(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, now) = (argv.get(1), ctx.now_ms);
    let compress = ctx.srv.config.read().get("rdbcompression") != "no";
    match lookup_read(ctx.db(key), key, now, true) {
        Some(obj) => {
            let payload = persist::rdb::dump::dump(&obj.value, compress);
            ctx.out.bulk(&payload);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct Options {
    replace: bool,
    absttl: bool,
    idle_sec: Option<i64>,
    freq: Option<i64>,
}

/// Redis's order of checks: options (syntax), then BUSYKEY, then the TTL, then the payload.
fn parse_options(argv: &Argv<'_>) -> Result<Options, crate::cmd::CmdError> {
    let mut o = Options::default();
    let mut j = 4;
    while j < argv.len() {
        let (a, more) = (argv.get(j), argv.len() - j - 1);
        if is(a, "replace") {
            o.replace = true;
        } else if is(a, "absttl") {
            o.absttl = true;
        } else if is(a, "idletime") && more >= 1 && o.freq.is_none() {
            let v = parse_int(argv.get(j + 1))?;
            if v < 0 {
                return Err("ERR Invalid IDLETIME value, must be >= 0".into());
            }
            o.idle_sec = Some(v);
            j += 1;
        } else if is(a, "freq") && more >= 1 && o.idle_sec.is_none() {
            let v = parse_int(argv.get(j + 1))?;
            if !(0..=255).contains(&v) {
                return Err("ERR Invalid FREQ value, must be >= 0 and <= 255".into());
            }
            o.freq = Some(v);
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// Whether `sanitize-dump-payload` asks for this RESTORE's payload to be checked in depth
/// (Redis's rule: `yes`, or `clients` for a user without `skip-sanitize-payload`). Basalt
/// checks every payload in full anyway; the answer decides what INFO counts.
fn sanitizes_in_depth(ctx: &Ctx<'_, '_>) -> bool {
    match ctx.srv.config.read().get("sanitize-dump-payload") {
        "yes" => true,
        "clients" => !ctx
            .client
            .user
            .as_ref()
            .is_some_and(|u| u.flags.skip_sanitize_payload),
        _ => false,
    }
}

pub fn restore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let o = parse_options(&argv)?;
    let (key, now) = (argv.get(1), ctx.now_ms);
    if !o.replace && lookup_write(ctx.db(key), key, now).is_some() {
        return Err("BUSYKEY Target key name already exists.".into());
    }
    let ttl = parse_int(argv.get(2))?;
    if ttl < 0 {
        return Err("ERR Invalid TTL value, must be >= 0".into());
    }
    let (value, packed, deep_checked) =
        persist::rdb::dump::restore_counted(argv.get(3)).map_err(|e| format!("ERR {e}"))?;
    if sanitizes_in_depth(ctx) {
        ctx.srv
            .stats
            .dump_payload_sanitizations
            .fetch_add(deep_checked, std::sync::atomic::Ordering::Relaxed);
    }
    // An empty collection is a bad payload too (Redis's loader refuses empty keys).
    let value = crate::rdb_load::to_value(ctx.srv, value, packed).ok_or("ERR Bad data format")?;
    let db = ctx.db(key);
    let deleted = o.replace && db.delete(key, store::lazyfree::Reason::ServerDel);
    let at_ms = match ttl {
        0 => None,
        t if o.absttl => Some(t as u64),
        // Redis adds the time in C, where an overflow wraps negative: already expired.
        t => Some(t.checked_add(now as i64).map_or(0, |at| at as u64)),
    };
    if at_ms.is_some_and(|at| at <= now) {
        // Already expired: nothing is created; an old key replaced is a deletion.
        if deleted {
            ctx.dirty += 1;
            ctx.log_as(&[b"DEL", key]);
            ctx.notify(crate::pubsub::notify::class::GENERIC, "del", key);
        }
        ctx.out.ok();
        return Ok(());
    }
    db.set(key, value, false, now);
    if let Some(at) = at_ms {
        db.set_expire(key, at);
    }
    // FREQ counts under an LFU policy, IDLETIME under any other, as in Redis.
    if o.idle_sec.is_some() || o.freq.is_some() {
        if let Some(obj) = db.get_mut(key) {
            let freq = o.freq.map(|f| f as u8);
            obj.set_access(freq, o.idle_sec.map(|i| i as u64), now);
        }
    }
    ctx.dirty += 1;
    if let (Some(at), false) = (at_ms, o.absttl) {
        // The log gets the absolute expiry, so a replay does not stretch it.
        let at = at.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", key, at.as_bytes(), argv.get(3)];
        args.extend(argv.iter().skip(4));
        args.push(b"ABSTTL");
        ctx.log_as(&args);
    }
    ctx.notify(crate::pubsub::notify::class::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}
