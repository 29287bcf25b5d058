//! A blocked client's wait, decided exactly once.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::AcqRel, Ordering::Acquire};
use std::sync::atomic::{Ordering::Relaxed, Ordering::Release, Ordering::SeqCst};

use parking_lot::Mutex;
use store::stream::StreamId;
use store::End;
use tokio::sync::Notify;

use super::Counts;

/// What serving a waiter does with a ready key (its command, reduced to the key it is served
/// from: Redis serves the key that became ready, not the first of the command's keys).
#[derive(Debug, Clone)]
pub enum BlockOp {
    /// BLPOP / BRPOP.
    Pop(End),
    /// BLMOVE / BRPOPLPUSH.
    Move { dst: Vec<u8>, from: End, to: End },
    /// BLMPOP.
    MPop { end: End, count: usize },
    /// BZPOPMIN / BZPOPMAX.
    ZPop { max: bool },
    /// BZMPOP.
    ZMPop { max: bool, count: usize },
    /// XREAD: entries after each key's ID (`$` resolved when the wait began), at most
    /// `count`.
    XRead {
        ids: Vec<(Vec<u8>, StreamId)>,
        count: usize,
    },
    /// XREADGROUP with `>`: new entries of the group, for the consumer.
    XReadGroup {
        group: Vec<u8>,
        consumer: Vec<u8>,
        count: usize,
        noack: bool,
    },
}

/// What the serving writer needs to know of the waiter.
#[derive(Debug, Clone)]
pub struct Job {
    pub op: BlockOp,
    pub db: usize,
    /// The waiter's protocol, to encode its reply.
    pub proto: resp::Proto,
    /// The blocking command, for the serve's statistics and errors.
    pub spec: &'static crate::cmd::Spec,
    /// Cluster mode: the hash slot of its keys (one, or it would have been refused), so a
    /// wait whose slot moves away ends with a redirection.
    pub slot: Option<u16>,
}

/// A waiter's reply, written by the command that served it.
#[derive(Debug, Default)]
pub struct Served {
    pub reply: Vec<u8>,
    /// Log sequence of the serve's effect: the reply leaves once the log holds it.
    pub durable_seq: u64,
    /// The serve answered an error (WRONGTYPE destination).
    pub failed: bool,
}

/// How a wait ended.
#[derive(Debug)]
pub enum Outcome {
    Served(Served),
    /// The timeout passed.
    Timeout,
    /// CLIENT UNBLOCK … TIMEOUT: answered as a timeout, counted as a failed call (as Redis
    /// 7.0 counts every CLIENT UNBLOCK).
    UnblockedTimeout,
    /// CLIENT UNBLOCK … ERROR.
    UnblockedError,
    /// CLIENT KILL: nothing to deliver.
    Gone,
    /// Cluster mode: its slot moved away or the cluster went down; the error to answer
    /// (`-MOVED …`, `-CLUSTERDOWN …`).
    Redirected(String),
}

const IDLE: u8 = 0;
const BLOCKED: u8 = 1;
/// A writer won the wait and is serving it (under the key's shard lock).
const CLAIMED: u8 = 2;
const SERVED: u8 = 3;
const UNBLOCKED_TIMEOUT: u8 = 4;
const UNBLOCKED_ERROR: u8 = 5;
const GONE: u8 = 6;
const REDIRECTED: u8 = 7;

/// One connection's wait. Everyone who can end it races through [`WaitSlot::decide`]; the one
/// that moves the state out of `BLOCKED` owns the outcome and lowers the counts.
pub struct WaitSlot {
    state: AtomicU8,
    has_timeout: AtomicBool,
    notify: Notify,
    job: Mutex<Option<Job>>,
    served: Mutex<Option<Served>>,
    redirect: Mutex<Option<String>>,
}

impl Default for WaitSlot {
    fn default() -> Self {
        WaitSlot {
            state: AtomicU8::new(IDLE),
            has_timeout: AtomicBool::new(false),
            notify: Notify::new(),
            job: Mutex::new(None),
            served: Mutex::new(None),
            redirect: Mutex::new(None),
        }
    }
}

impl WaitSlot {
    /// Not decided yet: a writer may still serve it.
    pub fn is_waiting(&self) -> bool {
        self.state.load(Acquire) == BLOCKED
    }

    /// Blocked as CLIENT LIST and CLIENT UNBLOCK see it (a serve in progress included).
    pub fn is_blocked(&self) -> bool {
        matches!(self.state.load(Acquire), BLOCKED | CLAIMED)
    }

    /// Start waiting for `job` (under the locks of the command's keys).
    pub fn begin(&self, job: Job, has_timeout: bool, counts: &Counts) {
        debug_assert_eq!(self.state.load(Acquire), IDLE, "a wait began twice");
        *self.job.lock() = Some(job);
        *self.served.lock() = None;
        self.has_timeout.store(has_timeout, Relaxed);
        counts.enter(has_timeout);
        self.state.store(BLOCKED, SeqCst);
    }

    /// What serving this waiter does.
    pub fn job(&self) -> Option<Job> {
        self.job.lock().clone()
    }

    /// Move `BLOCKED` to `to`; true for the one caller that did it.
    fn decide(&self, to: u8, counts: &Counts) -> bool {
        let won = self
            .state
            .compare_exchange(BLOCKED, to, SeqCst, Acquire)
            .is_ok();
        if won {
            counts.leave(self.has_timeout.load(Relaxed));
        }
        won
    }

    /// A writer takes the wait to serve it; follow with [`WaitSlot::deliver`] under the same
    /// lock.
    pub fn claim(&self, counts: &Counts) -> bool {
        self.decide(CLAIMED, counts)
    }

    /// The claimed wait's reply; wakes the connection.
    pub fn deliver(&self, served: Served) {
        debug_assert_eq!(self.state.load(Acquire), CLAIMED);
        *self.served.lock() = Some(served);
        self.state.store(SERVED, Release);
        self.notify.notify_one();
    }

    /// CLIENT UNBLOCK: true if the client was waiting.
    pub fn unblock(&self, error: bool, counts: &Counts) -> bool {
        let to = if error {
            UNBLOCKED_ERROR
        } else {
            UNBLOCKED_TIMEOUT
        };
        let won = self.decide(to, counts);
        if won {
            self.notify.notify_one();
        }
        won
    }

    /// Cluster mode: end the wait with this redirection error; true if it was waiting.
    pub fn redirect(&self, error: String, counts: &Counts) -> bool {
        *self.redirect.lock() = Some(error);
        let won = self.decide(REDIRECTED, counts);
        if won {
            self.notify.notify_one();
        }
        won
    }

    /// CLIENT KILL: no writer may serve the client any more.
    pub fn cancel(&self, counts: &Counts) {
        if self.decide(GONE, counts) {
            self.notify.notify_one();
        }
    }

    /// The connection ends an undecided wait itself (timeout, disconnect), holding its keys'
    /// shard locks.
    pub fn give_up(&self, counts: &Counts) {
        self.decide(IDLE, counts);
    }

    /// Resolves once the wait is decided by someone else.
    pub async fn decided(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_blocked() {
                return;
            }
            notified.await;
        }
    }

    /// The decided outcome; the slot is idle again afterwards.
    pub fn take_outcome(&self) -> Outcome {
        let state = self.state.swap(IDLE, AcqRel);
        debug_assert!(
            !matches!(state, BLOCKED | CLAIMED),
            "outcome of an open wait"
        );
        *self.job.lock() = None;
        match state {
            SERVED => Outcome::Served(self.served.lock().take().unwrap_or_default()),
            UNBLOCKED_ERROR => Outcome::UnblockedError,
            UNBLOCKED_TIMEOUT => Outcome::UnblockedTimeout,
            GONE => Outcome::Gone,
            REDIRECTED => Outcome::Redirected(self.redirect.lock().take().unwrap_or_default()),
            _ => Outcome::Timeout,
        }
    }
}
