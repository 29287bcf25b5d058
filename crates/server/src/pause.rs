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
    /// Whether `state` is set (one relaxed load on every command while nothing is paused).
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
        self.active.store(true, Relaxed);
        store::set_expiry_paused(true);
        self.changed.notify_waiters();
    }

    pub fn stop(&self) {
        *self.state.lock() = None;
        self.active.store(false, Relaxed);
        // A replica's keys stay unexpired (they wait for the master's DELs).
        store::set_expiry_paused(crate::replication::HOLDS_EXPIRY.load(Relaxed));
        self.changed.notify_waiters();
    }

    /// The pause in force, ending it first if its time is up.
    pub fn current(&self) -> Option<(Instant, Mode)> {
        if !self.active.load(Relaxed) {
            return None;
        }
        let state = *self.state.lock();
        match state {
            Some((end, _)) if Instant::now() >= end => {
                self.stop();
                None
            }
            other => other,
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
