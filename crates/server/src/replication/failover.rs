//! FAILOVER (Redis 6.2+'s coordinated failover): the master holds writes (a write pause of
//! its own, apart from CLIENT PAUSE), waits until a replica has acknowledged its whole stream
//! (`waiting-for-sync`), then becomes a replica of it and sends `PSYNC <id> <offset> FAILOVER`
//! (`failover-in-progress`): the target, seeing its own replication ID, turns master and
//! answers `+CONTINUE <new id>`, so no byte is lost and neither side syncs in full. The writes
//! held then run against a replica and answer `-READONLY`, as in Redis; clients reconnect to
//! the new master.
//!
//! A `TIMEOUT` bounds the wait: past it the failover is aborted, or with `FORCE` goes ahead
//! to the named target anyway. `FAILOVER ABORT`, a target that refuses the PSYNC or cannot be
//! reached end it and the server is a master again (with a new replication ID when it had
//! started to follow, as Redis's `abortFailover`).

use std::sync::Arc;
use std::time::Duration;

use super::Replication;
use crate::server::Server;

/// How often the wait for the target's acknowledgement looks again (only during a failover).
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    WaitForSync,
    InProgress,
}

/// A failover under way.
#[derive(Debug, Clone)]
pub struct Failover {
    pub phase: Phase,
    /// The replica to hand over to; chosen at the first one caught up when not named.
    pub target: Option<(String, u16)>,
    /// Unix ms past which the wait ends (`TIMEOUT`), if any.
    pub end_ms: Option<u64>,
    pub force: bool,
}

/// INFO's `master_failover_state`.
pub fn state_name(f: Option<&Failover>) -> &'static str {
    match f.map(|f| f.phase) {
        None => "no-failover",
        Some(Phase::WaitForSync) => "waiting-for-sync",
        Some(Phase::InProgress) => "failover-in-progress",
    }
}

impl Replication {
    pub fn failover_state(&self) -> Option<Failover> {
        self.failover.lock().clone()
    }

    /// Start a failover (the command checked its arguments and the replicas): hold writes,
    /// ask the replicas for their offsets, and watch for one caught up.
    pub fn start_failover(&self, srv: &Arc<Server>, failover: Failover) {
        match &failover.target {
            Some((host, port)) => crate::log_notice!("FAILOVER requested to {host}:{port}."),
            None => crate::log_notice!("FAILOVER requested to any replica."),
        }
        *self.failover.lock() = Some(failover);
        srv.pause.hold_writes_for_failover(true);
        self.feed.request_acks();
        let watcher = srv.clone();
        let spawned = std::thread::Builder::new()
            .name("basalt-failover".into())
            .spawn(move || watch(&watcher));
        if let Err(e) = spawned {
            crate::log_warning!("Can't start the failover thread: {e}");
            self.abort_failover(srv, "can't start the failover thread");
        }
    }

    /// End the failover and release the writes held (Redis's `clearFailoverState`).
    fn clear_failover(&self, srv: &Server) {
        *self.failover.lock() = None;
        srv.pause.hold_writes_for_failover(false);
    }

    /// Abort (Redis's `abortFailover`): a master again.
    pub fn abort_failover(&self, srv: &Server, why: &str) {
        let Some(f) = self.failover_state() else {
            return;
        };
        match &f.target {
            Some((host, port)) => {
                crate::log_notice!("FAILOVER to {host}:{port} aborted: {why}")
            }
            None => crate::log_notice!("FAILOVER to any replica aborted: {why}"),
        }
        if f.phase == Phase::InProgress {
            self.unfollow(srv, None);
        }
        self.clear_failover(srv);
    }

    /// Whether the next PSYNC is the failover's (it carries `FAILOVER`).
    pub fn failover_psync(&self) -> bool {
        self.failover
            .lock()
            .as_ref()
            .is_some_and(|f| f.phase == Phase::InProgress)
    }

    /// The target answered the failover's PSYNC: done, or aborted when it refused.
    pub fn failover_psync_answered(&self, srv: &Server, accepted: bool) {
        if !self.failover_psync() {
            return;
        }
        if accepted {
            self.clear_failover(srv);
        } else {
            self.abort_failover(srv, "Failover target rejected psync request");
        }
    }
}

/// Wait for a replica to acknowledge the whole stream (or the timeout), then fail over to it
/// (Redis's `updateFailoverStatus`, run from its event loop; here from this thread, which
/// lives only while a failover waits).
fn watch(srv: &Arc<Server>) {
    loop {
        let Some(f) = srv.repl.failover_state() else {
            return;
        };
        if f.phase != Phase::WaitForSync {
            return;
        }
        if f.end_ms.is_some_and(|end| crate::util::now_ms() >= end) {
            match (f.force, &f.target) {
                (true, Some((host, port))) => {
                    crate::log_notice!(
                        "FAILOVER to {host}:{port} time out exceeded, failing over."
                    );
                    hand_over(srv, host, *port);
                }
                _ => srv
                    .repl
                    .abort_failover(srv, "Replica never caught up before timeout"),
            }
            return;
        }
        let offset = srv.repl.feed.offset();
        let caught_up = srv.repl.feed.replicas().into_iter().find(|r| {
            let wanted = f
                .target
                .as_ref()
                .is_none_or(|(host, port)| host.eq_ignore_ascii_case(&r.ip) && *port == r.port);
            wanted && r.ack.load(std::sync::atomic::Ordering::Relaxed) == offset
        });
        if let Some(r) = caught_up {
            crate::log_notice!(
                "Failover target {}:{} is synced, failing over.",
                r.ip,
                r.port
            );
            hand_over(srv, &r.ip, r.port);
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Become a replica of the target; the link's PSYNC carries `FAILOVER`. The state's lock is
/// held until the link is started, so a concurrent FAILOVER ABORT sees either the wait (and
/// ends it) or the hand-over (and undoes it).
fn hand_over(srv: &Arc<Server>, host: &str, port: u16) {
    let mut state = srv.repl.failover.lock();
    let Some(f) = state.as_mut() else {
        return;
    };
    f.phase = Phase::InProgress;
    f.target = Some((host.to_string(), port));
    srv.repl.follow(srv, host, port, "");
}
