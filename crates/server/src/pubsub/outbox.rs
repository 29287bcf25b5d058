//! A client's outbox: messages other threads deliver to it (pub/sub messages, later
//! invalidations), queued until its connection writes them, with Redis's output buffer limits.
//!
//! The publisher never waits for a subscriber: it appends a shared, already encoded frame
//! (`Bytes`, one allocation per message and protocol, not per subscriber) and wakes the
//! subscriber's connection. What is queued and not yet written to the socket counts against
//! the client's `client-output-buffer-limit` class; a client over its hard limit, or over its
//! soft limit for longer than the limit's seconds, is disconnected, as Redis does, and nothing
//! more is queued for it — so a subscriber that never reads holds a bounded amount of memory.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// One class's limits (`client-output-buffer-limit <class> <hard> <soft> <seconds>`); 0 is
/// no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_secs: u64,
}

/// The classes' limits, parsed from the normalized config value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObufLimits {
    pub normal: ObufLimit,
    pub replica: ObufLimit,
    pub pubsub: ObufLimit,
}

impl ObufLimits {
    /// Parse `normal 0 0 0 slave 268435456 67108864 60 pubsub …` (already validated and
    /// normalized to bytes by the config); a group that does not parse keeps its default.
    pub fn parse(value: &str) -> ObufLimits {
        let mut limits = ObufLimits::default();
        let words: Vec<&str> = value.split_whitespace().collect();
        for group in words.chunks(4) {
            let [class, hard, soft, secs] = group else {
                continue;
            };
            let (Ok(hard_bytes), Ok(soft_bytes), Ok(soft_secs)) =
                (hard.parse(), soft.parse(), secs.parse())
            else {
                continue;
            };
            let limit = ObufLimit {
                hard_bytes,
                soft_bytes,
                soft_secs,
            };
            match *class {
                "normal" => limits.normal = limit,
                "slave" | "replica" => limits.replica = limit,
                "pubsub" => limits.pubsub = limit,
                _ => {}
            }
        }
        limits
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Hard,
    Soft,
}

#[derive(Default)]
pub struct Outbox {
    queue: Mutex<Vec<Bytes>>,
    ready: Notify,
    /// Bytes queued or taken by the connection and not yet written (CLIENT LIST's `omem`).
    pending_bytes: AtomicUsize,
    /// When the pending bytes first went over the soft limit (ms since the epoch; 0 = not over).
    soft_since_ms: AtomicU64,
    /// A publisher's batch will wake the connection when it ends (see `pubsub::batched`).
    wake_owed: std::sync::atomic::AtomicBool,
}

impl Outbox {
    /// Queue `frame` unless that puts the client over `limit` (Redis's
    /// `checkClientOutputBufferLimits`): then nothing is queued and the caller disconnects it.
    /// Returns whether the caller owes the connection a [`Outbox::wake`] (it was not owed
    /// one already); `wake_now` wakes it at once instead.
    pub fn push(
        &self,
        frame: Bytes,
        limit: ObufLimit,
        now_ms: u64,
        wake_now: bool,
    ) -> Result<bool, Overflow> {
        let len = frame.len();
        let pending = (self.pending_bytes.fetch_add(len, Relaxed) + len) as u64;
        if let Err(e) = self.check(pending, limit, now_ms) {
            self.pending_bytes.fetch_sub(len, Relaxed);
            return Err(e);
        }
        self.queue.lock().push(frame);
        if wake_now {
            self.ready.notify_one();
            return Ok(false);
        }
        Ok(!self
            .wake_owed
            .swap(true, std::sync::atomic::Ordering::SeqCst))
    }

    /// Wake the connection for what was pushed (the owed wake of [`Outbox::push`]).
    pub fn wake(&self) {
        self.wake_owed
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.ready.notify_one();
    }

    fn check(&self, pending: u64, limit: ObufLimit, now_ms: u64) -> Result<(), Overflow> {
        if limit.hard_bytes > 0 && pending >= limit.hard_bytes {
            return Err(Overflow::Hard);
        }
        if limit.soft_bytes > 0 && pending >= limit.soft_bytes {
            let since = self.soft_since_ms.load(Relaxed);
            if since == 0 {
                self.soft_since_ms.store(now_ms, Relaxed);
            } else if now_ms.saturating_sub(since) > limit.soft_secs.saturating_mul(1000) {
                return Err(Overflow::Soft);
            }
        } else {
            self.soft_since_ms.store(0, Relaxed);
        }
        Ok(())
    }

    /// Move everything queued to `out`; returns the bytes moved, to report with
    /// [`Outbox::written`] once they reached the socket.
    pub fn drain_into(&self, out: &mut resp::Reply) -> usize {
        let frames = std::mem::take(&mut *self.queue.lock());
        let mut bytes = 0;
        for f in &frames {
            out.raw(f);
            bytes += f.len();
        }
        bytes
    }

    /// `bytes` taken by [`Outbox::drain_into`] were written to the socket.
    pub fn written(&self, bytes: usize) {
        if bytes > 0 {
            self.pending_bytes.fetch_sub(bytes, Relaxed);
        }
    }

    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes.load(Relaxed)
    }

    /// Resolves once something was queued since the last time it resolved.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_normalized_value() {
        let l = ObufLimits::parse(
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        );
        assert_eq!(l.normal, ObufLimit::default());
        assert_eq!(l.pubsub.hard_bytes, 33_554_432);
        assert_eq!(l.pubsub.soft_secs, 60);
        assert_eq!(l.replica.soft_bytes, 67_108_864);
    }

    #[test]
    fn hard_limit_refuses_and_soft_limit_refuses_after_its_seconds() {
        let o = Outbox::default();
        let hard = ObufLimit {
            hard_bytes: 10,
            soft_bytes: 0,
            soft_secs: 0,
        };
        assert!(o.push(Bytes::from_static(b"12345"), hard, 0, true).is_ok());
        assert_eq!(
            o.push(Bytes::from_static(b"123456"), hard, 0, true),
            Err(Overflow::Hard)
        );
        assert_eq!(o.pending_bytes(), 5);
        let soft = ObufLimit {
            hard_bytes: 0,
            soft_bytes: 5,
            soft_secs: 2,
        };
        assert_eq!(
            o.push(Bytes::from_static(b"x"), soft, 1000, false),
            Ok(true)
        );
        // Owed once until woken.
        assert_eq!(
            o.push(Bytes::from_static(b"x"), soft, 3000, false),
            Ok(false)
        );
        assert_eq!(
            o.push(Bytes::from_static(b"x"), soft, 3001, false),
            Err(Overflow::Soft)
        );
        let mut out = resp::Reply::new();
        let n = o.drain_into(&mut out);
        assert_eq!(out.as_bytes(), b"12345xx");
        o.written(n);
        assert_eq!(o.pending_bytes(), 0);
    }
}
