//! CLIENT PAUSE and UNPAUSE (Redis 7.0's `pauseClients`): for a while, every command (ALL) or
//! every command that writes (WRITE) waits instead of running; keys do not expire meanwhile,
//! so the dataset stays still. Commands that were held run when the pause ends, client after
//! client in the order they were held, each client's pipeline in its order.
//!
//! A held connection stops its batch before the command (which stays in its buffer) and
//! waits on [`Pause::wait`]; it costs no CPU while it waits.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::cmd::{flags, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Write,
    All,
}

#[derive(Default)]
pub struct Pause {
    state: Mutex<Option<(Instant, Mode)>>,
    /// FAILOVER holds writes apart from CLIENT PAUSE (Redis's `PAUSE_DURING_FAILOVER`), until
    /// it ends: CLIENT UNPAUSE does not release them.
    failover: std::sync::atomic::AtomicBool,
    /// Whether `state` or `failover` is set (one relaxed load on every command while nothing is paused).
    active: std::sync::atomic::AtomicBool,
    changed: Notify,
    next_ticket: AtomicU64,
    serving: AtomicU64,
}

impl Pause {
    /// Pause for `ms` milliseconds; an earlier pause still running keeps the later end and the
    /// stricter mode, as in Redis.
    pub fn start(&self, ms: u64, mode: Mode) {
        let now = Instant::now();
        // A time too far to represent is a pause without end (until CLIENT UNPAUSE).
        let end = now
            .checked_add(Duration::from_millis(ms))
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
            .unwrap_or(now);
        let mut state = self.state.lock();
        *state = Some(match *state {
            Some((e, m)) => (e.max(end), m.max(mode)),
            None => (end, mode),
        });
        drop(state);
        self.refresh();
    }

    /// CLIENT UNPAUSE (a failover's hold stays).
    pub fn stop(&self) {
        *self.state.lock() = None;
        self.refresh();
    }

    /// Hold writes while a FAILOVER waits and hands over, or release them.
    pub fn hold_writes_for_failover(&self, on: bool) {
        self.failover.store(on, Relaxed);
        self.refresh();
    }

    fn refresh(&self) {
        let any = self.state.lock().is_some() || self.failover.load(Relaxed);
        self.active.store(any, Relaxed);
        // A replica's keys stay unexpired (they wait for the master's DELs).
        store::set_expiry_paused(any || crate::replication::HOLDS_EXPIRY.load(Relaxed));
        self.changed.notify_waiters();
    }

    /// The pause in force (the stricter of CLIENT PAUSE and a failover's), ending CLIENT
    /// PAUSE first if its time is up.
    pub fn current(&self) -> Option<(Instant, Mode)> {
        if !self.active.load(Relaxed) {
            return None;
        }
        let now = Instant::now();
        let client = match *self.state.lock() {
            Some((end, _)) if now >= end => None,
            other => other,
        };
        if client.is_none() && self.state.lock().is_some_and(|(end, _)| now >= end) {
            self.stop();
        }
        // A failover's hold has no end of its own: it is released explicitly.
        let failover = self
            .failover
            .load(Relaxed)
            .then(|| (now + Duration::from_secs(3600), Mode::Write));
        match (client, failover) {
            (Some((e1, m1)), Some((e2, m2))) => Some((e1.max(e2), m1.max(m2))),
            (a, b) => a.or(b),
        }
    }

    /// Whether `spec` must wait now (`writes`: it is EXEC of a transaction that writes).
    pub fn holds(&self, spec: &Spec, writes: bool) -> bool {
        match self.current() {
            None => false,
            Some((_, Mode::All)) => true,
            Some((_, Mode::Write)) => {
                writes || spec.has(flags::WRITE) || spec.has(flags::MAY_REPLICATE)
            }
        }
    }

    /// A place in the line of held clients.
    pub fn ticket(&self) -> u64 {
        self.next_ticket.fetch_add(1, Relaxed)
    }

    /// The holder of `ticket` ran (or gave up): the next one may go.
    pub fn done(&self, ticket: u64) {
        let _ = self
            .serving
            .fetch_update(Relaxed, Relaxed, |s| (s <= ticket).then_some(ticket + 1));
        self.changed.notify_waiters();
    }

    /// Wait until the pause ends, then for this ticket's turn (bounded, so a client that went
    /// away never holds up the others for long).
    pub async fn wait(&self, ticket: u64) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let Some((end, _)) = self.current() else {
                break;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(end.into()) => {}
                _ = &mut notified => {}
            }
        }
        let deadline = Instant::now() + Duration::from_millis(100);
        while self.serving.load(Relaxed) < ticket && Instant::now() < deadline {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.serving.load(Relaxed) >= ticket {
                break;
            }
            let _ = tokio::time::timeout_at(deadline.into(), notified).await;
        }
    }
}
