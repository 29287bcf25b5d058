//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB. Delivery and
//! the registry are `crate::pubsub`; this side keeps the client's own subscriptions and the
//! confirmations Redis sends, one push per channel.

use std::sync::atomic::Ordering::Relaxed;

use resp::Argv;

use super::reply_help;
use crate::cmd::{CmdError, CmdResult, Ctx};
use crate::pubsub::{Kind, Publisher};

/// One confirmation: `[word, name or nil, count]` as a push (an array in RESP2).
fn confirm(ctx: &mut Ctx<'_, '_>, word: &str, name: Option<&[u8]>, count: usize) {
    ctx.out.push(3);
    ctx.out.bulk(word.as_bytes());
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
}

/// Show the subscription counts to CLIENT LIST.
fn publish_counts(ctx: &Ctx<'_, '_>) {
    let s = &ctx.client.subs;
    let c = &ctx.client.shared.sub_counts;
    c[0].store(s.channels.len(), Relaxed);
    c[1].store(s.patterns.len(), Relaxed);
    c[2].store(s.shard.len(), Relaxed);
}

/// SUBSCRIBE and PSUBSCRIBE are refused to a client that must get one reply per command,
/// except inside MULTI (Redis keeps that for compatibility); SSUBSCRIBE even there.
fn deny_subscribe(ctx: &Ctx<'_, '_>, name: &str, even_in_exec: bool) -> CmdResult {
    if ctx.client.deny_blocking && (even_in_exec || !ctx.client.in_exec()) {
        return Err(format!("ERR {name} isn't allowed for a DENY BLOCKING client").into());
    }
    Ok(())
}

fn subscribe_generic(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>, kind: Kind) {
    for ch in argv.iter().skip(1) {
        let set = match kind {
            Kind::Channel => &mut ctx.client.subs.channels,
            Kind::Shard => &mut ctx.client.subs.shard,
        };
        if set.insert(ch.to_vec()) {
            ctx.srv.pubsub.subscribe(kind, ch, &ctx.client.shared);
        }
        let (word, count) = match kind {
            Kind::Channel => ("subscribe", ctx.client.subs.count()),
            Kind::Shard => ("ssubscribe", ctx.client.subs.shard.len()),
        };
        confirm(ctx, word, Some(ch), count);
    }
    publish_counts(ctx);
}

fn unsubscribe_one(ctx: &mut Ctx<'_, '_>, ch: &[u8], kind: Kind, notify: bool) {
    let set = match kind {
        Kind::Channel => &mut ctx.client.subs.channels,
        Kind::Shard => &mut ctx.client.subs.shard,
    };
    if set.remove(ch) {
        ctx.srv.pubsub.unsubscribe(kind, ch, ctx.client.id);
    }
    if notify {
        let (word, count) = match kind {
            Kind::Channel => ("unsubscribe", ctx.client.subs.count()),
            Kind::Shard => ("sunsubscribe", ctx.client.subs.shard.len()),
        };
        confirm(ctx, word, Some(ch), count);
    }
}

fn unsubscribe_generic(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>, kind: Kind) {
    if argv.len() > 1 {
        for ch in argv.iter().skip(1) {
            unsubscribe_one(ctx, ch, kind, true);
        }
    } else {
        let all: Vec<Vec<u8>> = match kind {
            Kind::Channel => ctx.client.subs.channels.iter().cloned().collect(),
            Kind::Shard => ctx.client.subs.shard.iter().cloned().collect(),
        };
        if all.is_empty() {
            let (word, count) = match kind {
                Kind::Channel => ("unsubscribe", ctx.client.subs.count()),
                Kind::Shard => ("sunsubscribe", ctx.client.subs.shard.len()),
            };
            confirm(ctx, word, None, count);
        }
        for ch in all {
            unsubscribe_one(ctx, &ch, kind, true);
        }
    }
    publish_counts(ctx);
}

pub fn subscribe(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    deny_subscribe(ctx, "SUBSCRIBE", false)?;
    subscribe_generic(ctx, &argv, Kind::Channel);
    Ok(())
}

pub fn ssubscribe(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    deny_subscribe(ctx, "SSUBSCRIBE", true)?;
    subscribe_generic(ctx, &argv, Kind::Shard);
    Ok(())
}

pub fn unsubscribe(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    unsubscribe_generic(ctx, &argv, Kind::Channel);
    Ok(())
}

pub fn sunsubscribe(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    unsubscribe_generic(ctx, &argv, Kind::Shard);
    Ok(())
}

pub fn psubscribe(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    deny_subscribe(ctx, "PSUBSCRIBE", false)?;
    for pat in argv.iter().skip(1) {
        if !ctx.client.subs.patterns.iter().any(|p| p == pat) {
            ctx.client.subs.patterns.push(pat.to_vec());
            ctx.srv.pubsub.psubscribe(pat, &ctx.client.shared);
        }
        let count = ctx.client.subs.count();
        confirm(ctx, "psubscribe", Some(pat), count);
    }
    publish_counts(ctx);
    Ok(())
}

fn punsubscribe_one(ctx: &mut Ctx<'_, '_>, pat: &[u8], notify: bool) {
    let patterns = &mut ctx.client.subs.patterns;
    if let Some(at) = patterns.iter().position(|p| p == pat) {
        patterns.remove(at);
        ctx.srv.pubsub.punsubscribe(pat, ctx.client.id);
    }
    if notify {
        let count = ctx.client.subs.count();
        confirm(ctx, "punsubscribe", Some(pat), count);
    }
}

pub fn punsubscribe(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 1 {
        for pat in argv.iter().skip(1) {
            punsubscribe_one(ctx, pat, true);
        }
    } else {
        let all = ctx.client.subs.patterns.clone();
        if all.is_empty() {
            let count = ctx.client.subs.count();
            confirm(ctx, "punsubscribe", None, count);
        }
        for pat in all {
            punsubscribe_one(ctx, &pat, true);
        }
    }
    publish_counts(ctx);
    Ok(())
}

/// Leave every subscription without confirmations (RESET, the connection closing).
pub fn unsubscribe_all(srv: &crate::server::Server, client: &mut crate::client::ClientState) {
    let subs = std::mem::take(&mut client.subs);
    for ch in &subs.channels {
        srv.pubsub.unsubscribe(Kind::Channel, ch, client.id);
    }
    for ch in &subs.shard {
        srv.pubsub.unsubscribe(Kind::Shard, ch, client.id);
    }
    for pat in &subs.patterns {
        srv.pubsub.punsubscribe(pat, client.id);
    }
    for c in &client.shared.sub_counts {
        c.store(0, Relaxed);
    }
}

fn publish_generic(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>, kind: Kind) {
    let me = Publisher {
        id: ctx.client.id,
        out: ctx.out,
    };
    let n = ctx
        .srv
        .pubsub
        .publish(kind, argv.get(1), argv.get(2), Some(me));
    ctx.out.int(n as i64);
    if ctx.srv.cluster.enabled {
        crate::cluster::bus::propagate_publish(
            ctx.srv,
            kind == Kind::Shard,
            argv.get(1),
            argv.get(2),
        );
    }
    crate::propagate::replicas_only(
        ctx.srv,
        ctx.client,
        &[argv.get(0), argv.get(1), argv.get(2)],
    );
}

pub fn publish(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    publish_generic(ctx, &argv, Kind::Channel);
    Ok(())
}

pub fn spublish(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    publish_generic(ctx, &argv, Kind::Shard);
    Ok(())
}

const HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

pub fn pubsub_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        HELP,
    );
    Ok(())
}

/// Redis's reply to a known subcommand with the wrong arguments.
fn syntax(argv: &Argv<'_>) -> CmdError {
    CmdError::concat(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        argv.get(1),
        b"'. Try PUBSUB HELP.",
    ])
}

fn channels_generic(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>, kind: Kind) -> CmdResult {
    if argv.len() > 3 {
        return Err(syntax(argv));
    }
    let pattern = (argv.len() == 3).then(|| argv.get(2));
    let list = ctx.srv.pubsub.active(kind, pattern);
    ctx.out.array(list.len());
    for ch in &list {
        ctx.out.bulk(ch);
    }
    Ok(())
}

pub fn pubsub_channels(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    channels_generic(ctx, &argv, Kind::Channel)
}

pub fn pubsub_shardchannels(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    channels_generic(ctx, &argv, Kind::Shard)
}

fn numsub_generic(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>, kind: Kind) {
    ctx.out.array((argv.len() - 2) * 2);
    for ch in argv.iter().skip(2) {
        ctx.out.bulk(ch);
        ctx.out.int(ctx.srv.pubsub.numsub(kind, ch) as i64);
    }
}

pub fn pubsub_numsub(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    numsub_generic(ctx, &argv, Kind::Channel);
    Ok(())
}

pub fn pubsub_shardnumsub(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    numsub_generic(ctx, &argv, Kind::Shard);
    Ok(())
}

pub fn pubsub_numpat(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.out.int(ctx.srv.pubsub.numpat() as i64);
    Ok(())
}

/// Whether `name` may run while a RESP2 client is subscribed.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// PING from a subscribed RESP2 client: `["pong", message or ""]`, as Redis answers there.
pub fn subscribed_ping(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>) {
    ctx.out.array(2);
    ctx.out.bulk(b"pong");
    ctx.out
        .bulk(if argv.len() == 2 { argv.get(1) } else { b"" });
}
