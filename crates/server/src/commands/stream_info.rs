//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO HELP: what Redis
//! 7.0.15's `xinfoCommand` reports, field by field in its order.

use resp::{Argv, Reply};
use store::stream::{Group, Stream, StreamId};
use store::Db;

use super::stream_groups::{no_group, now_i64};
use super::streams::{read_stream, reply_entry, reply_id, reply_range};
use super::{is, parse_int, reply_help, subcommand_syntax_error};
use crate::cmd::{err, CmdError, CmdResult, Ctx};

/// The stream XINFO looks at, which must exist.
fn info_stream<'d>(db: &'d mut Db, key: &[u8], now_ms: u64) -> Result<&'d Stream, CmdError> {
    read_stream(db, key, now_ms)?.ok_or_else(|| CmdError::from(err::NO_SUCH_KEY))
}

/// A group's `entries-read` (nil when unknown) and `lag` (nil when it cannot be known).
fn reply_read_and_lag(out: &mut Reply, s: &Stream, g: &Group) {
    out.bulk(b"entries-read");
    match g.entries_read() {
        Some(n) => out.int(n),
        None => out.null(),
    }
    out.bulk(b"lag");
    match s.group_lag(g) {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

pub fn xinfo_stream(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    // The key is looked up before the options are read (their errors come second).
    let options = match argv.len() {
        3 => Ok((false, 0)),
        4 if is(argv.get(3), "full") => Ok((true, 10)),
        6 if is(argv.get(3), "full") && is(argv.get(4), "count") => {
            parse_int(argv.get(5)).map(|n| (true, if n < 0 { 10 } else { n as usize }))
        }
        _ => Err(subcommand_syntax_error(&argv, "XINFO")),
    };
    let now = ctx.now_ms;
    let s = info_stream(ctx.keys.db(argv.get(2), ctx.client.db), argv.get(2), now)?;
    let (full, count) = options?;
    let out = &mut *ctx.out;
    let meta = s.meta();
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(meta.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_node_count() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, meta.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, meta.max_deleted_entry_id);
    out.bulk(b"entries-added");
    out.int(meta.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, meta.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.group_count() as i64);
        for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(name);
            match s.range(StreamId::MIN, StreamId::MAX, rev).next() {
                Some(e) => reply_entry(out, &e),
                None => out.null(),
            }
        }
        return Ok(());
    }
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, false, count);
    out.bulk(b"groups");
    out.array(s.group_count());
    for (name, g) in s.groups() {
        reply_full_group(out, s, name, g, count);
    }
    Ok(())
}

/// One group of XINFO STREAM FULL, with at most `count` (0: all) pending entries for the
/// group and for each consumer.
fn reply_full_group(out: &mut Reply, s: &Stream, name: &[u8], g: &Group, count: usize) {
    let limit = if count == 0 { usize::MAX } else { count };
    out.map(7);
    out.bulk(b"name");
    out.bulk(name);
    out.bulk(b"last-delivered-id");
    reply_id(out, g.last_id());
    reply_read_and_lag(out, s, g);
    out.bulk(b"pel-count");
    out.int(g.pending_len() as i64);
    out.bulk(b"pending");
    out.array(g.pending_len().min(limit));
    for (id, p) in g.pending().take(limit) {
        out.array(4);
        reply_id(out, id);
        out.bulk(p.consumer());
        out.int(p.delivery_time());
        out.int(p.delivery_count() as i64);
    }
    out.bulk(b"consumers");
    out.array(g.consumer_count());
    for (cname, c) in g.consumers() {
        out.map(4);
        out.bulk(b"name");
        out.bulk(cname);
        out.bulk(b"seen-time");
        out.int(c.seen_time());
        out.bulk(b"pel-count");
        out.int(c.pending_len() as i64);
        out.bulk(b"pending");
        out.array(c.pending_len().min(limit));
        for id in c.pending_ids().take(limit) {
            out.array(3);
            reply_id(out, id);
            let p = g.pending_entry(id);
            out.int(p.map_or(0, |p| p.delivery_time()));
            out.int(p.map_or(0, |p| p.delivery_count()) as i64);
        }
    }
}

pub fn xinfo_groups(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let now = ctx.now_ms;
    let s = info_stream(ctx.keys.db(argv.get(2), ctx.client.db), argv.get(2), now)?;
    let out = &mut *ctx.out;
    out.array(s.group_count());
    for (name, g) in s.groups() {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumer_count() as i64);
        out.bulk(b"pending");
        out.int(g.pending_len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id());
        reply_read_and_lag(out, s, g);
    }
    Ok(())
}

pub fn xinfo_consumers(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (key, name) = (argv.get(2), argv.get(3));
    let now = now_i64(ctx);
    let s = info_stream(ctx.keys.db(key, ctx.client.db), key, ctx.now_ms)?;
    let Some(g) = s.group(name) else {
        return Err(no_group(key, name));
    };
    let out = &mut *ctx.out;
    out.array(g.consumer_count());
    for (cname, c) in g.consumers() {
        out.map(3);
        out.bulk(b"name");
        out.bulk(cname);
        out.bulk(b"pending");
        out.int(c.pending_len() as i64);
        out.bulk(b"idle");
        out.int(now.wrapping_sub(c.seen_time()).max(0));
    }
    Ok(())
}

pub fn xinfo_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}
