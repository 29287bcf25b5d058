//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST. A HyperLogLog is a
//! string in Redis's `HYLL` format (`store::hll`), so GET/SET, DUMP/RESTORE and the files carry
//! it unchanged between Basalt and Redis.

use resp::Argv;
use store::hll::{self, HllError, HLL_REGISTERS};
use store::{Db, Str, ThinVec, Value};

use super::{is, lookup_read, write_str};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

impl From<HllError> for CmdError {
    fn from(e: HllError) -> Self {
        CmdError::from(e.to_string())
    }
}

/// The HyperLogLog at `key` for changing it (Redis's `isHLLObjectOrReply` and then
/// `dbUnshareStringValue`: a value that is no HyperLogLog is refused before it is touched).
fn write_hll<'d>(
    db: &'d mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'d mut ThinVec<u8>>, CmdError> {
    match write_str(db, key, now_ms)? {
        None => Ok(None),
        Some(s) if !s.with_bytes(hll::is_hll) => Err(HllError::NotHll.into()),
        Some(s) => Ok(Some(s.make_raw())),
    }
}

/// Folds the HyperLogLog at `key` (if any) into `max`; whether it was dense.
fn merge_key(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    max: &mut [u8; HLL_REGISTERS],
) -> Result<bool, CmdError> {
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    match lookup_read(db, key, now, true).map(|o| &o.value) {
        None => Ok(false),
        Some(Value::Str(s)) => s.with_bytes(|b| {
            if !hll::is_hll(b) {
                return Err(HllError::NotHll.into());
            }
            hll::merge_into(max, b).map_err(|_| HllError::Invalid)?;
            Ok(hll::is_dense(b))
        }),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

pub fn pfadd(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let (now, sparse_max) = (ctx.now_ms, ctx.srv.limits.hll_sparse_max_bytes());
    let db = ctx.keys.db(key, ctx.client.db);
    let mut updated = 0u64;
    if write_hll(db, key, now)?.is_none() {
        db.set(key, Value::Str(Str::Raw(hll::new_sparse())), false, now);
        updated += 1;
    }
    let Some(value) = write_hll(db, key, now)? else {
        unreachable!("the HyperLogLog was stored just above");
    };
    for element in argv.iter().skip(2) {
        // A corrupt value fails here; elements added before stay added but the change is
        // neither counted nor logged, as in Redis.
        updated += u64::from(hll::add(value, element, sparse_max)?);
    }
    if updated > 0 {
        hll::invalidate_cache(value);
        ctx.dirty += updated;
        ctx.notify(ev::STRING, "pfadd", key);
    }
    ctx.out.int(i64::from(updated > 0));
    Ok(())
}

pub fn pfcount(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 2 {
        let mut max = Box::new([0u8; HLL_REGISTERS]);
        for key in argv.iter().skip(1) {
            merge_key(ctx, key, &mut max)?;
        }
        ctx.out.int(hll::count_raw(&max) as i64);
        return Ok(());
    }
    let key = argv.get(1);
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    if lookup_read(db, key, now, true).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let Some(value) = write_hll(db, key, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let (card, cache_written) = hll::count(value)?;
    if cache_written {
        // The cache lives in the value: a read-only command that changed a key, so it is
        // counted, logged and shown to WATCH as Redis does.
        ctx.dirty += 1;
        ctx.touched = true;
        ctx.touch(ctx.client.db, key);
    }
    ctx.out.int(card as i64);
    Ok(())
}

pub fn pfmerge(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut max = Box::new([0u8; HLL_REGISTERS]);
    let mut dense = false;
    // The destination is one of the inputs.
    for key in argv.iter().skip(1) {
        dense |= merge_key(ctx, key, &mut max)?;
    }
    let dst = argv.get(1);
    let (now, sparse_max) = (ctx.now_ms, ctx.srv.limits.hll_sparse_max_bytes());
    let db = ctx.keys.db(dst, ctx.client.db);
    if write_hll(db, dst, now)?.is_none() {
        db.set(dst, Value::Str(Str::Raw(hll::new_sparse())), false, now);
    }
    let Some(value) = write_hll(db, dst, now)? else {
        unreachable!("the HyperLogLog was stored just above");
    };
    hll::store_merged(value, &max, dense, sparse_max)?;
    ctx.dirty += 1;
    ctx.notify(ev::STRING, "pfadd", dst);
    ctx.out.ok();
    Ok(())
}

pub fn pfdebug(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (sub, key, now) = (argv.get(1), argv.get(2), ctx.now_ms);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(value) = write_hll(db, key, now)? else {
        return Err("ERR The specified key does not exist".into());
    };
    if is(sub, "getreg") || is(sub, "todense") {
        let converted = hll::to_dense(value)?;
        let registers = if is(sub, "getreg") {
            Some(hll::registers(value)?)
        } else {
            None
        };
        // The encoding changed: logged so a replay has the same bytes.
        ctx.dirty += u64::from(converted);
        match registers {
            Some(regs) => {
                ctx.out.array(regs.len());
                regs.iter().for_each(|&r| ctx.out.int(i64::from(r)));
            }
            None => ctx.out.int(i64::from(converted)),
        }
    } else if is(sub, "decode") {
        let text = hll::decode_sparse(value)?;
        ctx.out.bulk(text.as_bytes());
    } else if is(sub, "encoding") {
        ctx.out.simple(hll::encoding_name(value));
    } else {
        // Redis formats the name as a C string, so it ends at a NUL byte.
        let name = sub.split(|&b| b == 0).next().unwrap_or(sub);
        let mut msg = b"ERR Unknown PFDEBUG subcommand '".to_vec();
        msg.extend_from_slice(name);
        msg.push(b'\'');
        return Err(msg.into());
    }
    Ok(())
}

pub fn pfselftest(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    hll::selftest(ctx.srv.limits.hll_sparse_max_bytes())
        .map_err(|e| CmdError::from(format!("ERR {e}")))?;
    ctx.out.ok();
    Ok(())
}
