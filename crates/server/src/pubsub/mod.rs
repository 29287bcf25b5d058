//! Pub/Sub: who listens to which channel or pattern, and delivering a message to them.
//!
//! The registry maps channels (and, separately, shard channels and patterns) to their
//! subscribers' shared connection state. PUBLISH holds a read lock while it hands one encoded
//! frame per protocol to every subscriber's [`Outbox`] (the publisher's own connection, when
//! it is a subscriber, gets the frame straight into the reply being built, before PUBLISH's
//! own reply, where Redis puts it). Each outbox is FIFO and each publisher appends in order, so
//! a subscriber sees every publisher's messages in the order they were published, whatever
//! threads the two run on. A slow subscriber only grows its own outbox, up to its
//! `client-output-buffer-limit`; the publisher never waits for it.

pub mod notify;
pub mod outbox;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::client::ClientShared;
pub use outbox::{ObufLimit, ObufLimits, Outbox, Overflow};

type Subscribers = Vec<Arc<ClientShared>>;

thread_local! {
    /// Subscribers owed a wake-up by the batch running on this thread, if one is batching.
    static OWED: RefCell<Option<Vec<Arc<ClientShared>>>> = const { RefCell::new(None) };
}

/// Run `f` (a connection's batch of commands) waking each subscriber it published to once, at
/// the end, instead of once per message: a pipeline of 100 PUBLISHes then costs a subscriber
/// one wake-up and one write, as Redis writes once per event-loop turn.
pub fn batched<R>(f: impl FnOnce() -> R) -> R {
    let outer = OWED.with(|o| o.borrow_mut().replace(Vec::new()));
    let r = f();
    let owed = OWED.with(|o| std::mem::replace(&mut *o.borrow_mut(), outer));
    for c in owed.unwrap_or_default() {
        c.outbox.wake();
    }
    r
}

/// Plain channels (SUBSCRIBE, PUBLISH) or shard channels (SSUBSCRIBE, SPUBLISH): two separate
/// namespaces; patterns apply to plain channels only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Shard,
}

impl Kind {
    /// The first element of a delivered message.
    fn message_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"message",
            Kind::Shard => b"smessage",
        }
    }
}

#[derive(Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Vec<u8>, Subscribers>>,
    shard_channels: RwLock<HashMap<Vec<u8>, Subscribers>>,
    patterns: RwLock<HashMap<Vec<u8>, Subscribers>>,
    limits: RwLock<ObufLimits>,
}

/// A client's subscriptions, kept by its connection (the registry holds the other side).
#[derive(Default)]
pub struct Subscriptions {
    pub channels: HashSet<Vec<u8>>,
    /// In subscription order: PUNSUBSCRIBE without arguments answers in this order, as Redis.
    pub patterns: Vec<Vec<u8>>,
    pub shard: HashSet<Vec<u8>>,
}

impl Subscriptions {
    /// Channels plus patterns: the count SUBSCRIBE and PSUBSCRIBE replies carry.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription (Redis's `CLIENT_PUBSUB` while not 0).
    pub fn total(&self) -> usize {
        self.count() + self.shard.len()
    }
}

/// Encode one pushed frame: `*n` in RESP2, `>n` in RESP3, then bulk strings (one allocation,
/// handed to `Bytes` without a copy).
pub fn frame(resp3: bool, parts: &[&[u8]]) -> Bytes {
    let mut b = Vec::with_capacity(8 + parts.iter().map(|p| p.len() + 16).sum::<usize>());
    let mut num = itoa::Buffer::new();
    b.push(if resp3 { b'>' } else { b'*' });
    b.extend_from_slice(num.format(parts.len()).as_bytes());
    b.extend_from_slice(b"\r\n");
    for p in parts {
        b.push(b'$');
        b.extend_from_slice(num.format(p.len()).as_bytes());
        b.extend_from_slice(b"\r\n");
        b.extend_from_slice(p);
        b.extend_from_slice(b"\r\n");
    }
    Bytes::from(b)
}

/// A frame encoded at most once per protocol, whatever the number of subscribers.
struct Lazy<'a> {
    parts: &'a [&'a [u8]],
    resp2: Option<Bytes>,
    resp3: Option<Bytes>,
}

impl<'a> Lazy<'a> {
    fn new(parts: &'a [&'a [u8]]) -> Self {
        Lazy {
            parts,
            resp2: None,
            resp3: None,
        }
    }

    fn get(&mut self, resp3: bool) -> Bytes {
        let slot = if resp3 {
            &mut self.resp3
        } else {
            &mut self.resp2
        };
        slot.get_or_insert_with(|| frame(resp3, self.parts)).clone()
    }
}

/// The publishing client: its id, and the reply it is building (its own copy of a message
/// goes there, not through its outbox).
pub struct Publisher<'a> {
    pub id: u64,
    pub out: &'a mut resp::Reply,
}

impl PubSub {
    pub fn load_limits(&self, config: &crate::config::Config) {
        *self.limits.write() = ObufLimits::parse(config.get("client-output-buffer-limit"));
    }

    /// The output buffer limits in force.
    pub fn limits(&self) -> ObufLimits {
        *self.limits.read()
    }

    fn table(&self, kind: Kind) -> &RwLock<HashMap<Vec<u8>, Subscribers>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Shard => &self.shard_channels,
        }
    }

    /// Add `client` to `channel` (the caller checked it was not subscribed yet).
    pub fn subscribe(&self, kind: Kind, channel: &[u8], client: &Arc<ClientShared>) {
        self.table(kind)
            .write()
            .entry(channel.to_vec())
            .or_default()
            .push(client.clone());
    }

    pub fn unsubscribe(&self, kind: Kind, channel: &[u8], id: u64) {
        remove(&mut self.table(kind).write(), channel, id);
    }

    pub fn psubscribe(&self, pattern: &[u8], client: &Arc<ClientShared>) {
        self.patterns
            .write()
            .entry(pattern.to_vec())
            .or_default()
            .push(client.clone());
    }

    pub fn punsubscribe(&self, pattern: &[u8], id: u64) {
        remove(&mut self.patterns.write(), pattern, id);
    }

    /// Deliver `msg` on `channel` to its subscribers (and, for plain channels, to the
    /// subscribers of every matching pattern); returns how many received it.
    pub fn publish(
        &self,
        kind: Kind,
        channel: &[u8],
        msg: &[u8],
        mut me: Option<Publisher<'_>>,
    ) -> usize {
        let limit = self.limits.read().pubsub;
        let now_ms = crate::util::now_ms();
        let mut receivers = 0;
        {
            let parts: [&[u8]; 3] = [kind.message_word(), channel, msg];
            let mut frames = Lazy::new(&parts);
            if let Some(subs) = self.table(kind).read().get(channel) {
                for c in subs {
                    deliver(c, &mut frames, &mut me, limit, now_ms);
                    receivers += 1;
                }
            }
        }
        if kind == Kind::Shard {
            return receivers;
        }
        for (pattern, subs) in self.patterns.read().iter() {
            if !store::glob_match(pattern, channel, false) {
                continue;
            }
            let parts: [&[u8]; 4] = [b"pmessage", pattern, channel, msg];
            let mut frames = Lazy::new(&parts);
            for c in subs {
                deliver(c, &mut frames, &mut me, limit, now_ms);
                receivers += 1;
            }
        }
        receivers
    }

    /// Channels with at least one subscriber, matching `pattern` when given.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.table(kind)
            .read()
            .keys()
            .filter(|ch| pattern.is_none_or(|p| store::glob_match(p, ch, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of `channel` (patterns not counted).
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.table(kind).read().get(channel).map_or(0, Vec::len)
    }

    /// What client `id` is subscribed to: its channels and shard channels, and its patterns
    /// (a walk over every subscription, for the rare ACL change that revokes channels).
    pub fn subscriptions_of(&self, id: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let of = |table: &RwLock<HashMap<Vec<u8>, Subscribers>>| -> Vec<Vec<u8>> {
            table
                .read()
                .iter()
                .filter(|(_, subs)| subs.iter().any(|c| c.id == id))
                .map(|(name, _)| name.clone())
                .collect()
        };
        let mut channels = of(&self.channels);
        channels.extend(of(&self.shard_channels));
        (channels, of(&self.patterns))
    }

    /// Distinct patterns subscribed to by anyone.
    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }

    /// Distinct channels with subscribers (INFO's `pubsub_channels`, `pubsubshard_channels`).
    pub fn channel_count(&self, kind: Kind) -> usize {
        self.table(kind).read().len()
    }
}

fn remove(table: &mut HashMap<Vec<u8>, Subscribers>, name: &[u8], id: u64) {
    if let Some(subs) = table.get_mut(name) {
        subs.retain(|c| c.id != id);
        if subs.is_empty() {
            table.remove(name);
        }
    }
}

/// Hand one subscriber its copy: into the publisher's own reply, or its outbox; a subscriber
/// over its output buffer limit is disconnected instead (Redis's "closed ASAP").
fn deliver(
    c: &Arc<ClientShared>,
    frames: &mut Lazy<'_>,
    me: &mut Option<Publisher<'_>>,
    limit: ObufLimit,
    now_ms: u64,
) {
    let resp3 = c.resp.load(std::sync::atomic::Ordering::Relaxed) == 3;
    if let Some(p) = me.as_mut().filter(|p| p.id == c.id) {
        p.out.raw(&frames.get(resp3));
        return;
    }
    if c.is_killed() {
        return;
    }
    let batching = OWED.with(|o| o.borrow().is_some());
    match c.outbox.push(frames.get(resp3), limit, now_ms, !batching) {
        Ok(true) => OWED.with(|o| {
            if let Some(owed) = o.borrow_mut().as_mut() {
                owed.push(c.clone());
            }
        }),
        Ok(false) => {}
        Err(_) => {
            crate::log_warning!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                c.describe(now_ms, None)
            );
            c.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_in_both_protocols() {
        assert_eq!(
            &frame(false, &[b"message", b"ch", b""])[..],
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$0\r\n\r\n"
        );
        assert_eq!(&frame(true, &[b"x"])[..], b">1\r\n$1\r\nx\r\n");
    }
}
