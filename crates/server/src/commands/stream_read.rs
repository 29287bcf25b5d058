//! XREAD and XREADGROUP (Redis 7.0.15's `xreadCommand`), their blocking forms, and what
//! serving a blocked reader does (called by `crate::blocking::serve` through
//! `blocking::serve`).
//!
//! When a read serves at once and when it blocks is Redis's rule: XREAD serves a stream whose
//! last live ID is above the reader's; XREADGROUP serves history (an explicit ID) always, and
//! `>` when the last live ID is above the group's. A blocked reader waits on every stream it
//! named; an XADD (or a new stream) makes the key ready, and each stream waiter is then
//! checked in arrival order against the stream's last ID: XREAD against its own ID (`$`
//! resolved when it blocked), XREADGROUP against its group's last ID as it is *then* (others
//! of the group may have taken the entries). A deleted stream or a destroyed group ends an
//! XREADGROUP wait with Redis's error; an XREAD wait goes on.
//!
//! Logging: XREAD changes nothing. XREADGROUP is never logged as sent: each entry it hands out
//! is logged as Redis propagates it (`stream_groups::log_claim`), a NOACK read that moved the
//! group as `XGROUP SETID`, a consumer created by a NOACK read as `XGROUP CREATECONSUMER`.

use std::time::{Duration, Instant};

use resp::{Argv, Reply};
use store::stream::{Delivery, Stream, StreamId};
use store::{BlockKind, Value};

use super::blocking::{block_on_keys, Timeout};
use super::stream_groups::{c_str, log_claim, log_setid, no_key_or_group, now_i64};
use super::streams::{c_str_is, read_stream, reply_entry, reply_id, reply_range, write_stream};
use super::{is, parse_int};
use crate::blocking::BlockOp;
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

/// Entries a blocked reader without COUNT gets at most (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`): a wait on an old ID must not end in a huge reply.
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// XREAD BLOCK's timeout: integer milliseconds (Redis's `getTimeoutFromObjectOrReply` with
/// `UNIT_MILLISECONDS`), 0 = forever.
fn parse_timeout_ms(arg: &[u8], now_ms: u64) -> Result<Timeout, CmdError> {
    let ms = resp::parse_i64(arg)
        .ok_or_else(|| CmdError::from("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err("ERR timeout is negative".into());
    }
    if ms == 0 {
        return Ok(Timeout {
            set: false,
            deadline: None,
        });
    }
    if ms > i64::MAX - i64::try_from(now_ms).unwrap_or(i64::MAX) {
        return Err("ERR timeout is out of range".into());
    }
    Ok(Timeout {
        set: true,
        deadline: Instant::now().checked_add(Duration::from_millis(ms as u64)),
    })
}

/// A parsed XREAD or XREADGROUP.
struct Read<'a> {
    timeout: Option<Timeout>,
    count: usize,
    noack: bool,
    group: Option<(&'a [u8], &'a [u8])>,
    /// Index of the first key; as many IDs follow the keys.
    streams_at: usize,
    streams: usize,
}

fn parse_read<'a>(
    ctx: &Ctx<'_, '_>,
    argv: &Argv<'a>,
    group_form: bool,
) -> Result<Read<'a>, CmdError> {
    let mut r = Read {
        timeout: None,
        count: 0,
        noack: false,
        group: None,
        streams_at: 0,
        streams: 0,
    };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv.get(i);
        if is(opt, "block") && more > 0 {
            if ctx.client.in_script {
                return Err(CmdError::concat(&[
                    b"ERR ",
                    c_str(argv.get(0)),
                    b" command is not allowed with BLOCK option from scripts",
                ]));
            }
            i += 1;
            r.timeout = Some(parse_timeout_ms(argv.get(i), ctx.now_ms)?);
        } else if is(opt, "count") && more > 0 {
            i += 1;
            r.count = parse_int(argv.get(i))?.max(0) as usize;
        } else if is(opt, "streams") && more > 0 {
            r.streams_at = i + 1;
            let n = argv.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                return Err(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or \
                            '$' must be specified."
                        .into(),
                );
            }
            r.streams = n / 2;
            break;
        } else if is(opt, "group") && more >= 2 {
            if !group_form {
                return Err(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
                        .into(),
                );
            }
            r.group = Some((argv.get(i + 1), argv.get(i + 2)));
            i += 2;
        } else if is(opt, "noack") {
            if !group_form {
                return Err(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."
                        .into(),
                );
            }
            r.noack = true;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(err::SYNTAX.into());
    }
    if group_form && r.group.is_none() {
        return Err("ERR Missing GROUP option for XREADGROUP".into());
    }
    Ok(r)
}

/// The ID each key is read after, with `$` resolved and `>` as the largest ID (looking each key
/// up as Redis does, so its type and group errors come in key order).
fn resolve_ids(
    ctx: &mut Ctx<'_, '_>,
    argv: &Argv<'_>,
    r: &Read<'_>,
) -> Result<Vec<StreamId>, CmdError> {
    let mut ids = Vec::with_capacity(r.streams);
    let now = ctx.now_ms;
    for i in 0..r.streams {
        let key = argv.get(r.streams_at + i);
        let arg = argv.get(r.streams_at + r.streams + i);
        let s = read_stream(ctx.keys.db(key, ctx.client.db), key, now)?;
        if let Some((group, _)) = r.group {
            if s.and_then(|s| s.group(group)).is_none() {
                return Err(no_key_or_group(
                    key,
                    group,
                    " in XREADGROUP with GROUP option",
                ));
            }
        }
        if c_str_is(arg, b"$") {
            if r.group.is_some() {
                return Err(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to \
                            read the history of this consumer by specifying a proper ID, or use \
                            the > ID to get new messages. The $ ID would just return an empty \
                            result set."
                        .into(),
                );
            }
            ids.push(s.map_or(StreamId::MIN, |s| s.last_id()));
        } else if c_str_is(arg, b">") {
            if r.group.is_none() {
                return Err(
                    "ERR The > ID can be specified only when calling XREADGROUP using the \
                            GROUP <group> <consumer> option."
                        .into(),
                );
            }
            ids.push(StreamId::MAX);
        } else {
            ids.push(store::stream::parse_strict_id(arg, 0)?);
        }
    }
    Ok(ids)
}

fn xread_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, group_form: bool) -> CmdResult {
    let r = parse_read(ctx, &argv, group_form)?;
    let ids = resolve_ids(ctx, &argv, &r)?;
    if r.group.is_some() {
        // Only the effects below are logged, never the command.
        ctx.effects = Some(Vec::new());
    }
    let outer = ctx.out.deferred();
    let mut served = 0;
    for (i, &id) in ids.iter().enumerate() {
        let key = argv.get(r.streams_at + i);
        if serve_now(ctx, key, id, &r)? {
            served += 1;
        }
    }
    if served > 0 {
        let kind = if ctx.out.is_resp3() {
            resp::Aggregate::Map
        } else {
            resp::Aggregate::Array
        };
        ctx.out.finish_deferred(outer, kind, served);
        return Ok(());
    }
    let Some(timeout) = r.timeout else {
        ctx.out.null_array();
        return Ok(());
    };
    if ctx.client.deny_blocking {
        ctx.out.null_array();
        return Ok(());
    }
    let keys: Vec<Vec<u8>> = (0..r.streams)
        .map(|i| argv.get(r.streams_at + i).to_vec())
        .collect();
    let count = if r.count == 0 {
        BLOCKED_DEFAULT_COUNT
    } else {
        r.count
    };
    let op = match r.group {
        Some((group, consumer)) => BlockOp::XReadGroup {
            group: group.to_vec(),
            consumer: consumer.to_vec(),
            count,
            noack: r.noack,
        },
        None => BlockOp::XRead {
            ids: keys.iter().cloned().zip(ids).collect(),
            count,
        },
    };
    block_on_keys(ctx, keys, timeout, BlockKind::Stream, op);
    Ok(())
}

/// Serve `key` at once if Redis would (see the module's doc); whether it did.
fn serve_now(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    id: StreamId,
    r: &Read<'_>,
) -> Result<bool, CmdError> {
    let now = ctx.now_ms;
    let Some(s) = read_stream(ctx.keys.db(key, ctx.client.db), key, now)? else {
        return Ok(false);
    };
    let top = s.last_valid_id();
    let (start, history) = match r.group {
        Some(_) if id != StreamId::MAX => (id, true),
        Some((group, _)) => {
            let last = s.group(group).map_or(StreamId::MAX, |g| g.last_id());
            match top {
                Some(t) if !s.is_empty() && t > last => (last, false),
                _ => return Ok(false),
            }
        }
        None => match top {
            Some(t) if !s.is_empty() && t > id => (id, false),
            _ => return Ok(false),
        },
    };
    if !ctx.out.is_resp3() {
        ctx.out.array(2);
    }
    ctx.out.bulk(key);
    let Some((group, consumer)) = r.group else {
        let s = read_stream(ctx.keys.db(key, ctx.client.db), key, now)?;
        if let (Some(s), Some(from)) = (s, start.incr()) {
            reply_range(ctx.out, s, from, StreamId::MAX, false, r.count);
        }
        return Ok(true);
    };
    let now_ms = now_i64(ctx);
    // Both forms read after the ID: history too is exclusive of the ID given.
    let from = start.incr().unwrap_or(StreamId::MAX);
    let Some(s) = write_stream(ctx.keys.db(key, ctx.client.db), key, now)? else {
        return Ok(true);
    };
    let created = if history {
        let out = &mut *ctx.out;
        let at = out.deferred();
        let h = s.read_history(group, consumer, from, r.count, now_ms, |id, e| match e {
            Some(e) => reply_entry(out, &e),
            None => {
                out.array(2);
                reply_id(out, id);
                out.null_array();
            }
        });
        let h = h.unwrap_or_default();
        out.finish_deferred(at, resp::Aggregate::Array, h.emitted);
        h.consumer_created
    } else {
        let d = deliver(
            ctx.out,
            &mut ctx.effects,
            s,
            key,
            group,
            consumer,
            from,
            r.count,
            r.noack,
            now_ms,
        );
        if d.consumer_created && r.noack {
            crate::cmd::log_as(
                &mut ctx.effects,
                &[b"XGROUP", b"CREATECONSUMER", key, group, consumer],
            );
        }
        d.consumer_created
    };
    ctx.dirty += 1;
    if created {
        ctx.dirty += 1;
        ctx.notify(ev::STREAM, "xgroup-createconsumer", key);
    }
    Ok(true)
}

/// Hand new entries of `s` from `from` to `consumer` of `group`, writing them as an array and
/// logging what Redis propagates.
#[allow(clippy::too_many_arguments)]
fn deliver(
    out: &mut Reply,
    effects: &mut Option<Vec<Vec<Vec<u8>>>>,
    s: &mut Stream,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    from: StreamId,
    count: usize,
    noack: bool,
    now_ms: i64,
) -> Delivery {
    let mut last = s.group(group).map_or(StreamId::MIN, |g| g.last_id());
    let at = out.deferred();
    let d = s.deliver(group, consumer, from, count, noack, now_ms, |e| {
        reply_entry(out, &e);
        last = last.max(e.id());
        if !noack {
            log_claim(effects, key, group, consumer, e.id(), now_ms, 1, last);
        }
    });
    let d = d.unwrap_or_default();
    out.finish_deferred(at, resp::Aggregate::Array, d.delivered);
    if noack && d.last_id_changed {
        if let Some(g) = s.group(group) {
            log_setid(effects, key, group, g);
        }
    }
    d
}

pub fn xread(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    xread_generic(ctx, argv, false)
}

pub fn xreadgroup(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    xread_generic(ctx, argv, true)
}

/// Whether a blocked reader is served from `key` now (see the module's doc): its stream has
/// an entry after what it has seen, or (XREADGROUP) its stream or group is gone.
pub fn wants(value: Option<&Value>, op: &BlockOp, key: &[u8]) -> bool {
    let s = match value {
        Some(Value::Stream(s)) => s,
        _ => return matches!(op, BlockOp::XReadGroup { .. }),
    };
    match op {
        BlockOp::XRead { ids, .. } => ids
            .iter()
            .find(|(k, _)| k == key)
            .is_some_and(|(_, id)| s.last_id() > *id),
        BlockOp::XReadGroup { group, .. } => match s.group(group) {
            None => true,
            Some(g) => s.last_id() > g.last_id(),
        },
        _ => false,
    }
}

/// Serve a blocked reader from `key` (after [`wants`] said so), as the reader.
pub fn serve(ctx: &mut Ctx<'_, '_>, op: &BlockOp, key: &[u8]) -> CmdResult {
    let (now, now_ms) = (ctx.now_ms, now_i64(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    db.expire_if_needed(key, now);
    match op {
        BlockOp::XRead { ids, count } => {
            let Some(Value::Stream(s)) = db.peek(key, now).map(|o| &o.value) else {
                return Ok(());
            };
            let after = ids
                .iter()
                .find(|(k, _)| k == key)
                .map_or(StreamId::MAX, |(_, id)| *id);
            single_key_header(ctx.out, key);
            let from = after.incr().unwrap_or(StreamId::MAX);
            reply_range(ctx.out, s, from, StreamId::MAX, false, *count);
        }
        BlockOp::XReadGroup {
            group,
            consumer,
            count,
            noack,
        } => {
            let Some(obj) = db.get_mut(key) else {
                return Err("UNBLOCKED the stream key no longer exists".into());
            };
            let Value::Stream(s) = &mut obj.value else {
                return Err("UNBLOCKED the stream key no longer exists".into());
            };
            let Some(g) = s.group(group) else {
                return Err(
                    "NOGROUP the consumer group this client was blocked on no longer exists".into(),
                );
            };
            let from = g.last_id().incr().unwrap_or(StreamId::MAX);
            ctx.effects = Some(Vec::new());
            single_key_header(ctx.out, key);
            let d = deliver(
                ctx.out,
                &mut ctx.effects,
                s,
                key,
                group,
                consumer,
                from,
                *count,
                *noack,
                now_ms,
            );
            ctx.dirty += 1;
            if d.consumer_created {
                ctx.dirty += 1;
                ctx.notify(ev::STREAM, "xgroup-createconsumer", key);
            }
        }
        _ => {}
    }
    Ok(())
}

/// A served blocked reader's reply holds its one key: `[[key, entries]]`, a one-pair map in
/// RESP3.
fn single_key_header(out: &mut Reply, key: &[u8]) {
    if out.is_resp3() {
        out.map(1);
    } else {
        out.array(1);
        out.array(2);
    }
    out.bulk(key);
}
