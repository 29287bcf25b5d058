//! Stream commands on entries: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID, and what
//! the other stream commands share (lookups, ID arguments, entry replies). Consumer groups are
//! in `stream_groups.rs`, XREAD and XREADGROUP in `stream_read.rs`, XINFO in
//! `stream_info.rs`; the value itself is `store::stream`.
//!
//! Logging: XADD is logged with the ID it got (`*` and `<ms>-*` replaced), and a `~` trim as
//! the exact trim it amounted to (`MAXLEN = <length after>`, `MINID = <first ID after>`), as
//! Redis rewrites them, so a replay is deterministic.

use resp::{Argv, Reply};
use store::stream::{
    parse_range_end, parse_range_start, parse_strict_id, parse_xadd_id, Entry, IdError, IdSpec,
    Stream, StreamId, Trim, XaddId,
};
use store::{Db, Value};

use super::{is, lookup_read, lookup_write, parse_int, typed, typed_ref};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

impl From<IdError> for CmdError {
    fn from(e: IdError) -> Self {
        CmdError::from(e.to_string())
    }
}

/// The stream at `key` for reading: `None` if missing, WRONGTYPE for another type.
pub fn read_stream<'d>(
    db: &'d mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'d Stream>, CmdError> {
    typed_ref(lookup_read(db, key, now_ms, true), Value::as_stream)
}

/// The stream at `key` for changing it.
pub fn write_stream<'d>(
    db: &'d mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'d mut Stream>, CmdError> {
    typed(lookup_write(db, key, now_ms), Value::as_stream_mut)
}

/// Whether `arg` equals `word` as C compares strings: Redis tests `~`, `=`, `$`, `>` and `*`
/// with `strcmp` or by their first bytes, so anything after a NUL byte is not looked at.
pub fn c_str_is(arg: &[u8], word: &[u8]) -> bool {
    let end = arg.iter().position(|&c| c == 0).unwrap_or(arg.len());
    &arg[..end] == word
}

/// An ID as a bulk reply.
pub fn reply_id(out: &mut Reply, id: StreamId) {
    let mut buf = Vec::with_capacity(41);
    id.write_to(&mut buf);
    out.bulk(&buf);
}

/// The text of an ID, for logged commands.
pub fn id_arg(id: StreamId) -> Vec<u8> {
    let mut buf = Vec::with_capacity(41);
    id.write_to(&mut buf);
    buf
}

/// One entry as Redis replies it: its ID and its field/value pairs.
pub fn reply_entry(out: &mut Reply, e: &Entry<'_>) {
    out.array(2);
    reply_id(out, e.id());
    out.array(e.field_count() as usize * 2);
    for (f, v) in e.fields() {
        f.with_bytes(|b| out.bulk(b));
        v.with_bytes(|b| out.bulk(b));
    }
}

/// Entries of `s` from `start` to `end` (`rev`: newest first), at most `count` (0: all), as
/// an array; returns how many.
pub fn reply_range(
    out: &mut Reply,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
) -> usize {
    let at = out.deferred();
    let mut n = 0;
    for e in s.range(start, end, rev) {
        reply_entry(out, &e);
        n += 1;
        if n == count {
            break;
        }
    }
    out.finish_deferred(at, resp::Aggregate::Array, n);
    n
}

/// The trimming part of XADD and XTRIM, as parsed.
#[derive(Debug, Default)]
struct AddTrim {
    trim: Option<Trim>,
    approx: bool,
    /// Index of the MAXLEN/MINID value (rewritten for the log after a `~` trim).
    trim_arg: usize,
    /// Entries a `~` trim may remove (0: no limit).
    limit: u64,
    nomkstream: bool,
    /// XADD's ID argument: where it is and what it says.
    id: Option<(usize, XaddId)>,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`: options from argument 2 to XADD's ID (or to the
/// end for XTRIM), with Redis's checks in its order.
fn parse_add_trim(ctx: &Ctx<'_, '_>, argv: &Argv<'_>, xadd: bool) -> Result<AddTrim, CmdError> {
    let mut a = AddTrim::default();
    let mut limit: Option<i64> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv.get(i);
        if xadd && c_str_is(opt, b"*") {
            a.id = Some((i, XaddId::Auto));
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if a.trim.is_some() {
                return Err(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
                        .into(),
                );
            }
            a.approx = false;
            let next = argv.get(i + 1);
            if more >= 2 && c_str_is(next, b"~") {
                a.approx = true;
                i += 1;
            } else if more >= 2 && c_str_is(next, b"=") {
                i += 1;
            }
            let value = argv.get(i + 1);
            a.trim = Some(if is(opt, "maxlen") {
                let n = parse_int(value)?;
                if n < 0 {
                    return Err("ERR The MAXLEN argument must be >= 0.".into());
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict_id(value, 0)?)
            });
            i += 1;
            a.trim_arg = i;
        } else if is(opt, "limit") && more > 0 {
            let n = parse_int(argv.get(i + 1))?;
            if n < 0 {
                return Err("ERR The LIMIT argument must be >= 0.".into());
            }
            limit = Some(n);
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some((i, parse_xadd_id(opt)?));
            break;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    if limit.is_some_and(|n| n != 0) && a.trim.is_none() {
        return Err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy".into(),
        );
    }
    if !xadd && a.trim.is_none() {
        return Err("ERR syntax error, XTRIM must be called with a trimming strategy".into());
    }
    if ctx.client.replaying {
        // The log holds exact trims (see the module's doc): never limited on replay.
        a.limit = 0;
    } else if let Some(n) = limit {
        if !a.approx {
            return Err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option".into(),
            );
        }
        a.limit = n as u64;
    } else if a.approx {
        let per_node = ctx.srv.limits.stream_nodes().max_entries;
        a.limit = per_node.saturating_mul(100).clamp(1, 1_000_000);
        if per_node == 0 {
            a.limit = 10_000;
        }
    }
    Ok(a)
}

/// Trim `s` as parsed; rewrites the logged command's `~` trim as the exact one it amounted
/// to. Returns the entries removed.
fn apply_trim(s: &mut Stream, a: &AddTrim, logged: &mut [Vec<u8>]) -> u64 {
    let Some(trim) = a.trim else { return 0 };
    let removed = s.trim(trim, a.approx, a.limit);
    if a.approx {
        logged[a.trim_arg - 1] = b"=".to_vec();
        logged[a.trim_arg] = match trim {
            Trim::MaxLen(_) => itoa::Buffer::new().format(s.len()).as_bytes().to_vec(),
            Trim::MinId(_) => id_arg(s.edge_id(true, false)),
        };
    }
    removed
}

pub fn xadd(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let a = parse_add_trim(ctx, &argv, true)?;
    let Some((id_pos, id)) = a.id else {
        // Options ran to the end: no ID and no fields.
        return Err(arity_error());
    };
    let fields_at = id_pos + 1;
    let n = argv.len() - fields_at;
    if n < 2 || n % 2 == 1 {
        return Err(arity_error());
    }
    if id == XaddId::Explicit(StreamId::MIN) {
        return Err("ERR The ID specified in XADD must be greater than 0-0".into());
    }
    let key = argv.get(1);
    let (now, limits) = (ctx.now_ms, ctx.srv.limits.stream_nodes());
    let db = ctx.keys.db(key, ctx.client.db);
    if write_stream(db, key, now)?.is_none() {
        if a.nomkstream {
            ctx.out.null();
            return Ok(());
        }
        db.set(key, Value::Stream(Box::default()), false, now);
    }
    let Some(s) = write_stream(db, key, now)? else {
        unreachable!("the stream was stored just above");
    };
    let fields: Vec<(&[u8], &[u8])> = (fields_at..argv.len())
        .step_by(2)
        .map(|i| (argv.get(i), argv.get(i + 1)))
        .collect();
    let new_id = s
        .append(IdSpec::from((id, now)), &fields, limits)
        .map_err(|e| CmdError::from(e.to_string()))?;
    let mut logged: Vec<Vec<u8>> = argv.iter().map(<[u8]>::to_vec).collect();
    let trimmed = apply_trim(s, &a, &mut logged);
    db.signal_ready(key);
    reply_id(ctx.out, new_id);
    if !matches!(id, XaddId::Explicit(_)) {
        logged[id_pos] = id_arg(new_id);
    }
    ctx.effects.get_or_insert_with(Vec::new).push(logged);
    ctx.dirty += 1;
    ctx.notify(ev::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(ev::STREAM, "xtrim", key);
    }
    Ok(())
}

fn arity_error() -> CmdError {
    "ERR wrong number of arguments for 'xadd' command".into()
}

pub fn xtrim(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let a = parse_add_trim(ctx, &argv, false)?;
    let key = argv.get(1);
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(s) = write_stream(db, key, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut logged: Vec<Vec<u8>> = argv.iter().map(<[u8]>::to_vec).collect();
    let removed = apply_trim(s, &a, &mut logged);
    if removed > 0 {
        ctx.effects.get_or_insert_with(Vec::new).push(logged);
        ctx.dirty += removed;
        ctx.notify(ev::STREAM, "xtrim", key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn xrange_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (argv.get(3), argv.get(2))
    } else {
        (argv.get(2), argv.get(3))
    };
    let start = parse_range_start(start_arg)?;
    let end = parse_range_end(end_arg)?;
    let mut count: Option<usize> = None;
    let mut i = 4;
    while i < argv.len() {
        if is(argv.get(i), "count") && i + 1 < argv.len() {
            count = Some(parse_int(argv.get(i + 1))?.max(0) as usize);
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let key = argv.get(1);
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(s) = read_stream(db, key, now)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        ctx.out.null_array();
        return Ok(());
    }
    reply_range(ctx.out, s, start, end, rev, count.unwrap_or(0));
    Ok(())
}

pub fn xrange(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    xrange_generic(ctx, argv, false)
}

pub fn xrevrange(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    xrange_generic(ctx, argv, true)
}

pub fn xlen(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let now = ctx.now_ms;
    let len = read_stream(ctx.keys.db(key, ctx.client.db), key, now)?.map_or(0, |s| s.len());
    ctx.out.int(len as i64);
    Ok(())
}

pub fn xdel(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let now = ctx.now_ms;
    // Redis parses the IDs after the lookup: a missing key answers 0 even for bad IDs.
    let db = ctx.keys.db(key, ctx.client.db);
    if write_stream(db, key, now)?.is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    let ids = (2..argv.len())
        .map(|i| parse_strict_id(argv.get(i), 0))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = write_stream(db, key, now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = s.delete(&ids);
    if deleted > 0 {
        ctx.dirty += deleted;
        ctx.notify(ev::STREAM, "xdel", key);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

pub fn xsetid(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let id = parse_strict_id(argv.get(2), 0)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted: Option<StreamId> = None;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv.get(i);
        if is(opt, "entriesadded") && more > 0 {
            let n = parse_int(argv.get(i + 1))?;
            if n < 0 {
                return Err("ERR entries_added must be positive".into());
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if is(opt, "maxdeletedid") && more > 0 {
            let m = parse_strict_id(argv.get(i + 1), 0)?;
            if id < m {
                return Err(store::stream::SetIdError::BelowMaxDeleted
                    .to_string()
                    .into());
            }
            max_deleted = Some(m);
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let key = argv.get(1);
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(s) = write_stream(db, key, now)? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    s.set_id(id, entries_added, max_deleted)
        .map_err(|e| CmdError::from(e.to_string()))?;
    ctx.dirty += 1;
    ctx.notify(ev::STREAM, "xsetid", key);
    ctx.out.ok();
    Ok(())
}
