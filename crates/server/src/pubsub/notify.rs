//! Keyspace and keyevent notifications (`notify-keyspace-events`): a command that changes a
//! key publishes `__keyspace@<db>__:<key>` with the event's name and `__keyevent@<db>__:<event>`
//! with the key, for the classes switched on, as Redis 7.0's `notifyKeyspaceEvent`.
//!
//! Handlers name their events ([`crate::cmd::Ctx::notify`]), in Redis's order within the
//! command. Two kinds of events happen inside the store instead — a key expiring (`expired`)
//! and a key being created (`new`) — and are collected there while wanted; they go out before
//! the next event the command names and, at the latest, when the command ends (the cron
//! publishes those of its active expiry).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::{Kind, Publisher};
use crate::server::Server;

/// Event classes, as the letters of `notify-keyspace-events`.
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const MODULE: u32 = 1 << 12; // d
    pub const NEW: u32 = 1 << 13; // n
}

/// Parse the (normalized) setting into class bits.
pub fn parse_classes(value: &str) -> u32 {
    use class::*;
    let mut bits = 0;
    for c in value.chars() {
        bits |= match c {
            'A' => {
                GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE
            }
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => 0,
        };
    }
    bits
}

/// The classes switched on.
#[derive(Default)]
pub struct Notifier {
    classes: AtomicU32,
}

impl Notifier {
    pub fn load(&self, config: &crate::config::Config) {
        let bits = parse_classes(config.get("notify-keyspace-events"));
        self.classes.store(bits, Relaxed);
        let delivered = bits & (class::KEYSPACE | class::KEYEVENT) != 0;
        store::set_store_events(
            delivered && bits & class::EXPIRED != 0,
            delivered && bits & class::NEW != 0,
            delivered && bits & class::KEY_MISS != 0,
            delivered && bits & class::EVICTED != 0,
        );
    }

    /// Whether events of `class` are published (a class, and K or E, are on).
    pub fn wants(&self, class: u32) -> bool {
        let bits = self.classes.load(Relaxed);
        bits & class != 0 && bits & (class::KEYSPACE | class::KEYEVENT) != 0
    }
}

/// Publish one event (the caller checked [`Notifier::wants`]).
pub fn emit(
    srv: &Server,
    class: u32,
    event: &str,
    key: &[u8],
    db: usize,
    mut me: Option<Publisher<'_>>,
) {
    let bits = srv.notify.classes.load(Relaxed);
    if bits & class == 0 {
        return;
    }
    let mut dbnum = itoa::Buffer::new();
    let dbnum = dbnum.format(db).as_bytes();
    if bits & class::KEYSPACE != 0 {
        let channel = [b"__keyspace@", dbnum, b"__:", key].concat();
        let me = me.as_mut().map(|p| Publisher {
            id: p.id,
            out: &mut *p.out,
        });
        srv.pubsub
            .publish(Kind::Channel, &channel, event.as_bytes(), me);
    }
    if bits & class::KEYEVENT != 0 {
        let channel = [b"__keyevent@", dbnum, b"__:", event.as_bytes()].concat();
        srv.pubsub.publish(Kind::Channel, &channel, key, me);
    }
}

/// Publish the store's own events (`expired`, `new`) collected in `shards`.
pub fn emit_store_events<'a>(
    srv: &Server,
    shards: impl Iterator<Item = &'a mut store::Shard>,
    mut me: Option<Publisher<'_>>,
) {
    // In the order they happened, whatever their shards.
    let mut events: Vec<_> = shards.flat_map(|s| s.take_events()).collect();
    events.sort_unstable_by_key(|e| e.0);
    {
        for (_, db, event, key) in events {
            let (class, name) = match event {
                store::StoreEvent::Expired => (class::EXPIRED, "expired"),
                store::StoreEvent::New => (class::NEW, "new"),
                store::StoreEvent::KeyMiss => (class::KEY_MISS, "keymiss"),
                store::StoreEvent::Evicted => (class::EVICTED, "evicted"),
            };
            let me = me.as_mut().map(|p| Publisher {
                id: p.id,
                out: &mut *p.out,
            });
            emit(srv, class, name, &key, db, me);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(parse_classes(""), 0);
        let a = parse_classes("AKE");
        assert!(a & class::EXPIRED != 0 && a & class::NEW == 0 && a & class::KEY_MISS == 0);
        assert_eq!(parse_classes("Kx"), class::KEYSPACE | class::EXPIRED);
    }
}
