//! Consumer groups: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP),
//! XACK, XPENDING, XCLAIM and XAUTOCLAIM. Reading through a group (XREADGROUP) is in
//! `stream_read.rs`.
//!
//! Logging, as Redis propagates: XCLAIM and XAUTOCLAIM are not logged as sent (their idle
//! filters and clocks would decide differently on replay) but as one
//! `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last` per entry
//! they claimed or dropped, which replays to the same pending entry; an XCLAIM whose only
//! effect was LASTID is logged as `XGROUP SETID … ENTRIESREAD n`.

use resp::Argv;
use store::stream::{
    parse_id, parse_range_end, parse_range_start, parse_strict_id, ClaimArgs, ClaimEvent, Group,
    Stream, StreamId,
};

use super::streams::{c_str_is, id_arg, read_stream, reply_entry, reply_id, write_stream};
use super::{is, parse_int, reply_help, subcommand_syntax_error};
use crate::cmd::{CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

/// `s` up to its first NUL byte: Redis formats names into errors with `%s`.
pub fn c_str(s: &[u8]) -> &[u8] {
    &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
}

/// `NOGROUP No such key '<key>' or consumer group '<group>'<rest>`.
pub fn no_key_or_group(key: &[u8], group: &[u8], rest: &str) -> CmdError {
    CmdError::concat(&[
        b"NOGROUP No such key '",
        c_str(key),
        b"' or consumer group '",
        c_str(group),
        b"'",
        rest.as_bytes(),
    ])
}

/// `NOGROUP No such consumer group '<group>' for key name '<key>'`.
pub fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::concat(&[
        b"NOGROUP No such consumer group '",
        c_str(group),
        b"' for key name '",
        c_str(key),
        b"'",
    ])
}

/// The time as Redis's `mstime()` gives it to stream bookkeeping.
pub fn now_i64(ctx: &Ctx<'_, '_>) -> i64 {
    i64::try_from(ctx.now_ms).unwrap_or(i64::MAX)
}

/// The XCLAIM Redis propagates for one pending entry (see the module's doc).
#[allow(clippy::too_many_arguments)]
pub fn log_claim(
    effects: &mut Option<Vec<Vec<Vec<u8>>>>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    id: StreamId,
    delivery_time: i64,
    delivery_count: u64,
    last_id: StreamId,
) {
    let mut num = itoa::Buffer::new();
    let time = num.format(delivery_time).as_bytes().to_vec();
    let count = num.format(delivery_count).as_bytes().to_vec();
    crate::cmd::log_as(
        effects,
        &[
            b"XCLAIM",
            key,
            group,
            consumer,
            b"0",
            &id_arg(id),
            b"TIME",
            &time,
            b"RETRYCOUNT",
            &count,
            b"FORCE",
            b"JUSTID",
            b"LASTID",
            &id_arg(last_id),
        ],
    );
}

/// `XGROUP SETID key group <last id> ENTRIESREAD <n>`, how Redis propagates a group's new
/// last ID when no XCLAIM carries it.
pub fn log_setid(effects: &mut Option<Vec<Vec<Vec<u8>>>>, key: &[u8], name: &[u8], g: &Group) {
    let read = itoa::Buffer::new()
        .format(g.entries_read_raw())
        .as_bytes()
        .to_vec();
    crate::cmd::log_as(
        effects,
        &[
            b"XGROUP",
            b"SETID",
            key,
            name,
            &id_arg(g.last_id()),
            b"ENTRIESREAD",
            &read,
        ],
    );
}

/// XGROUP CREATE and SETID's trailing options (from argument 5): MKSTREAM (CREATE only) and
/// ENTRIESREAD; -1 when not given.
fn group_options(argv: &Argv<'_>, create: bool) -> Result<(bool, i64), CmdError> {
    let (mut mkstream, mut entries_read) = (false, -1);
    let mut i = 5;
    while i < argv.len() {
        if create && is(argv.get(i), "mkstream") {
            mkstream = true;
            i += 1;
        } else if is(argv.get(i), "entriesread") && i + 1 < argv.len() {
            entries_read = parse_int(argv.get(i + 1))?;
            if entries_read < -1 {
                return Err("ERR value for ENTRIESREAD must be positive or -1".into());
            }
            i += 2;
        } else {
            return Err(subcommand_syntax_error(argv, "XGROUP"));
        }
    }
    Ok((mkstream, entries_read))
}

/// The stream XGROUP works on, which must exist.
fn xgroup_stream<'d>(ctx: &'d mut Ctx<'_, '_>, key: &[u8]) -> Result<&'d mut Stream, CmdError> {
    let now = ctx.now_ms;
    write_stream(ctx.keys.db(key, ctx.client.db), key, now)?.ok_or_else(|| {
        CmdError::from(
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may \
             want to use the MKSTREAM option to create an empty stream automatically.",
        )
    })
}

/// The group XGROUP SETID, CREATECONSUMER and DELCONSUMER work on.
fn xgroup_group<'d>(
    ctx: &'d mut Ctx<'_, '_>,
    key: &[u8],
    name: &[u8],
) -> Result<(&'d mut Group, StreamId), CmdError> {
    let s = xgroup_stream(ctx, key)?;
    let last = s.last_id();
    match s.group_mut(name) {
        Some(g) => Ok((g, last)),
        None => Err(no_group(key, name)),
    }
}

pub fn xgroup_create(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 8 {
        return Err(subcommand_syntax_error(&argv, "XGROUP"));
    }
    let (mkstream, entries_read) = group_options(&argv, true)?;
    let (key, name) = (argv.get(2), argv.get(3));
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    let exists = write_stream(db, key, now)?.is_some();
    if !exists && !mkstream {
        xgroup_stream(ctx, key)?;
    }
    let db = ctx.keys.db(key, ctx.client.db);
    let last = write_stream(db, key, now)?.map_or(StreamId::MIN, |s| s.last_id());
    let id = if c_str_is(argv.get(4), b"$") {
        last
    } else {
        parse_strict_id(argv.get(4), 0)?
    };
    if !exists {
        db.set(key, store::Value::Stream(Box::default()), false, now);
        ctx.touch(ctx.client.db, key);
    }
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(s) = write_stream(db, key, now)? else {
        unreachable!("the stream exists or was stored just above");
    };
    if !s.create_group(name, id, entries_read) {
        return Err("BUSYGROUP Consumer Group name already exists".into());
    }
    ctx.dirty += 1;
    ctx.notify(ev::STREAM, "xgroup-create", key);
    ctx.out.ok();
    Ok(())
}

pub fn xgroup_setid(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (_, entries_read) = group_options(&argv, false)?;
    let (key, name) = (argv.get(2), argv.get(3));
    let (g, last) = xgroup_group(ctx, key, name)?;
    if argv.len() != 5 && argv.len() != 7 {
        return Err(subcommand_syntax_error(&argv, "XGROUP"));
    }
    let id = if c_str_is(argv.get(4), b"$") {
        last
    } else {
        parse_id(argv.get(4), 0)?
    };
    g.set_id(id, entries_read);
    ctx.dirty += 1;
    ctx.notify(ev::STREAM, "xgroup-setid", key);
    ctx.out.ok();
    Ok(())
}

pub fn xgroup_destroy(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, name) = (argv.get(2), argv.get(3));
    if !xgroup_stream(ctx, key)?.destroy_group(name) {
        ctx.out.int(0);
        return Ok(());
    }
    // Its blocked readers learn that the group is gone.
    ctx.keys.db(key, ctx.client.db).signal_ready(key);
    ctx.dirty += 1;
    ctx.out.int(1);
    ctx.notify(ev::STREAM, "xgroup-destroy", key);
    Ok(())
}

pub fn xgroup_createconsumer(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, name) = (argv.get(2), argv.get(3));
    let now = now_i64(ctx);
    let (g, _) = xgroup_group(ctx, key, name)?;
    let created = g.create_consumer(argv.get(4), now);
    if created {
        ctx.dirty += 1;
        ctx.notify(ev::STREAM, "xgroup-createconsumer", key);
    }
    ctx.out.int(i64::from(created));
    Ok(())
}

pub fn xgroup_delconsumer(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, name) = (argv.get(2), argv.get(3));
    let (g, _) = xgroup_group(ctx, key, name)?;
    let pending = g.delete_consumer(argv.get(4));
    if pending.is_some() {
        ctx.dirty += 1;
        ctx.notify(ev::STREAM, "xgroup-delconsumer", key);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

pub fn xgroup_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

pub fn xack(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, name) = (argv.get(1), argv.get(2));
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    // Looked up as a read (hits, misses and `keymiss` as Redis counts them), then changed.
    if read_stream(db, key, now)?
        .and_then(|s| s.group(name))
        .is_none()
    {
        ctx.out.int(0);
        return Ok(());
    }
    let Some(g) = write_stream(db, key, now)?.and_then(|s| s.group_mut(name)) else {
        ctx.out.int(0);
        return Ok(());
    };
    // Every ID is checked before any is acknowledged: all or nothing.
    let ids = (3..argv.len())
        .map(|i| parse_strict_id(argv.get(i), 0))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = ids.into_iter().filter(|&id| g.ack(id)).count();
    ctx.dirty += acked as u64;
    ctx.out.int(acked as i64);
    Ok(())
}

pub fn xpending(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(crate::cmd::err::SYNTAX.into());
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(argv.get(3), "idle") {
            min_idle = parse_int(argv.get(4))?;
            if argc < 8 {
                return Err(crate::cmd::err::SYNTAX.into());
            }
            at += 2;
        }
        let count = parse_int(argv.get(at + 2))?.max(0) as u64;
        let start = parse_range_start(argv.get(at))?;
        let end = parse_range_end(argv.get(at + 1))?;
        let consumer = (at + 3 < argc).then(|| argv.get(at + 3));
        range = Some((start, end, count, min_idle, consumer));
    }
    let (key, name) = (argv.get(1), argv.get(2));
    let now = ctx.now_ms;
    let now_ms = now_i64(ctx);
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(g) = read_stream(db, key, now)?.and_then(|s| s.group(name)) else {
        return Err(no_key_or_group(key, name, ""));
    };
    let out = &mut *ctx.out;
    let Some((start, end, count, min_idle, consumer)) = range else {
        let sum = g.pending_summary();
        out.array(4);
        out.int(sum.count as i64);
        match sum.bounds {
            None => {
                out.null();
                out.null();
                out.null_array();
            }
            Some((first, last)) => {
                reply_id(out, first);
                reply_id(out, last);
                out.array(sum.consumers.len());
                for (c, n) in sum.consumers {
                    out.array(2);
                    out.bulk(c);
                    out.bulk_int(n as i64);
                }
            }
        }
        return Ok(());
    };
    let lines = g.pending_range(start, end, count, min_idle, consumer, now_ms);
    out.array(lines.len());
    for p in lines {
        out.array(4);
        reply_id(out, p.id);
        out.bulk(p.consumer);
        out.int(p.idle_ms);
        out.int(p.delivery_count as i64);
    }
    Ok(())
}

/// XCLAIM and XAUTOCLAIM's handling of one claim event: a claimed entry goes into the reply
/// (whole, or its ID under JUSTID); claimed and dropped entries alike are logged as the
/// XCLAIM Redis propagates, with the group's last ID `last`.
struct Claim<'a> {
    key: &'a [u8],
    group: &'a [u8],
    consumer: &'a [u8],
    last: StreamId,
}

impl Claim<'_> {
    /// Whether the event added an element to the reply.
    fn apply(
        &self,
        out: &mut resp::Reply,
        effects: &mut Option<Vec<Vec<Vec<u8>>>>,
        ev: ClaimEvent<'_>,
    ) -> bool {
        let (id, owner, time, count, replied) = match ev {
            ClaimEvent::Claimed {
                id,
                entry,
                delivery_time,
                delivery_count,
            } => {
                match entry {
                    Some(e) => reply_entry(out, &e),
                    None => reply_id(out, id),
                }
                (id, self.consumer, delivery_time, delivery_count, true)
            }
            ClaimEvent::Dropped {
                id,
                consumer,
                delivery_time,
                delivery_count,
            } => (id, consumer, delivery_time, delivery_count, false),
        };
        log_claim(
            effects, self.key, self.group, owner, id, time, count, self.last,
        );
        replied
    }
}

/// XCLAIM's options after its IDs (the first argument that is not an ID starts them).
fn claim_options(argv: &Argv<'_>, from: usize, now_ms: i64) -> Result<ClaimArgs, CmdError> {
    let mut a = ClaimArgs::default();
    let int_or = |arg: &[u8], what: &str| -> Result<i64, CmdError> {
        resp::parse_i64(arg)
            .ok_or_else(|| CmdError::from(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    let mut j = from;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv.get(j);
        if is(opt, "force") {
            a.force = true;
        } else if is(opt, "justid") {
            a.justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            a.delivery_time = Some(now_ms.wrapping_sub(int_or(argv.get(j), "IDLE")?));
        } else if is(opt, "time") && more > 0 {
            j += 1;
            a.delivery_time = Some(int_or(argv.get(j), "TIME")?);
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            let n = int_or(argv.get(j), "RETRYCOUNT")?;
            a.retry_count = u64::try_from(n).ok();
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            a.last_id = Some(parse_strict_id(argv.get(j), 0)?);
        } else {
            return Err(CmdError::concat(&[
                b"ERR Unrecognized XCLAIM option '",
                c_str(opt),
                b"'",
            ]));
        }
        j += 1;
    }
    Ok(a)
}

pub fn xclaim(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, name, consumer) = (argv.get(1), argv.get(2), argv.get(3));
    let (now, now_ms) = (ctx.now_ms, now_i64(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    if read_stream(db, key, now)?
        .and_then(|s| s.group(name))
        .is_none()
    {
        return Err(no_key_or_group(key, name, ""));
    }
    let min_idle_ms = resp::parse_i64(argv.get(4))
        .ok_or_else(|| CmdError::from("ERR Invalid min-idle-time argument for XCLAIM"))?;
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id(argv.get(j), 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let mut args = claim_options(&argv, j, now_ms)?;
    args.min_idle_ms = min_idle_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    let Some(s) = write_stream(db, key, now)? else {
        return Err(no_key_or_group(key, name, ""));
    };
    let last = s
        .group(name)
        .map_or(StreamId::MIN, |g| g.last_id())
        .max(args.last_id.unwrap_or(StreamId::MIN));
    let (out, effects) = (&mut *ctx.out, &mut ctx.effects);
    let at = out.deferred();
    let mut replied = 0;
    let done = s.claim(name, consumer, &ids, &args, now_ms, |ev| {
        let claim = Claim {
            key,
            group: name,
            consumer,
            last,
        };
        replied += usize::from(claim.apply(out, effects, ev));
    });
    out.finish_deferred(at, resp::Aggregate::Array, replied);
    let Some(done) = done else { return Ok(()) };
    ctx.dirty += (done.claimed + done.dropped) as u64;
    if done.last_id_changed && done.claimed + done.dropped == 0 {
        if let Some(g) = s.group(name) {
            log_setid(&mut ctx.effects, key, name, g);
        }
        ctx.dirty += 1;
    }
    if ctx.effects.is_none() {
        // Nothing changed: nothing is logged (never the command as sent).
        ctx.effects = Some(Vec::new());
    }
    if done.consumer_created {
        ctx.dirty += 1;
        ctx.notify(ev::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

pub fn xautoclaim(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, name, consumer) = (argv.get(1), argv.get(2), argv.get(3));
    let min_idle_ms = resp::parse_i64(argv.get(4))
        .ok_or_else(|| CmdError::from("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?;
    let start = parse_range_start(argv.get(5))?;
    let (mut count, mut justid) = (100u64, false);
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is(argv.get(j), "count") && more > 0 {
            // Redis bounds COUNT so that COUNT × 10 attempts and COUNT IDs fit its sizes. It
            // also allocates COUNT IDs up front and answers "Insufficient memory … COUNT too
            // high" when its allocator refuses (how large depends on the machine); Basalt
            // collects the IDs as they come, so no COUNT in range fails that way.
            let max = (i64::MAX / 16) as u64;
            count = resp::parse_i64(argv.get(j + 1))
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CmdError::from("ERR COUNT must be > 0"))?;
            j += 1;
        } else if is(argv.get(j), "justid") {
            justid = true;
        } else {
            return Err(crate::cmd::err::SYNTAX.into());
        }
        j += 1;
    }
    let (now, now_ms) = (ctx.now_ms, now_i64(ctx));
    let db = ctx.keys.db(key, ctx.client.db);
    if read_stream(db, key, now)?
        .and_then(|s| s.group(name))
        .is_none()
    {
        return Err(no_key_or_group(key, name, ""));
    }
    let Some(s) = write_stream(db, key, now)?.filter(|s| s.group(name).is_some()) else {
        return Err(no_key_or_group(key, name, ""));
    };
    let last = s.group(name).map_or(StreamId::MIN, |g| g.last_id());
    let (out, effects) = (&mut *ctx.out, &mut ctx.effects);
    out.array(3);
    let next_at = out.deferred();
    let at = out.deferred();
    let mut replied = 0;
    let done = s.autoclaim(
        name,
        consumer,
        start,
        count,
        min_idle_ms,
        justid,
        now_ms,
        |ev| {
            let claim = Claim {
                key,
                group: name,
                consumer,
                last,
            };
            replied += usize::from(claim.apply(out, effects, ev));
        },
    );
    out.finish_deferred(at, resp::Aggregate::Array, replied);
    let done = done.unwrap_or_default();
    let mut next = Vec::new();
    done.next.write_to(&mut next);
    out.fill_deferred_bulk(next_at, &next);
    out.array(done.deleted.len());
    for id in &done.deleted {
        reply_id(out, *id);
    }
    ctx.dirty += (done.claimed + done.deleted.len()) as u64;
    if ctx.effects.is_none() {
        ctx.effects = Some(Vec::new());
    }
    if done.consumer_created {
        ctx.dirty += 1;
        ctx.notify(ev::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}
