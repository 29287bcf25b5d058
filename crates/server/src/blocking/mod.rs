//! Clients blocked on keys: how a wait begins, who decides it, and how the connection hands
//! the result to its client.
//!
//! Redis 7.0's model, kept exactly: a blocking command that finds nothing queues its client on
//! its keys (`store::Blocked`, in each key's shard). When a later command creates a list or
//! sorted set under a waited-on key (`Db` records the key as ready), that command — before it
//! releases its shard locks, right after its own effects are logged — serves the waiters
//! itself, oldest first, one pop each, writing each waiter's reply into its [`WaitSlot`]
//! (`serve.rs`). So the waiter is served after that very command, before the next command of a
//! pipeline runs, and a failed serve (BLMOVE into a key of another type) answers the error once
//! and ends the wait, as in Redis. The waiting connection only delivers what was decided.
//!
//! A wait is decided exactly once, by a compare-and-swap on the slot's state: by the serving
//! writer, CLIENT UNBLOCK, CLIENT KILL, or the connection itself (timeout, disconnect), which
//! does so holding its keys' shard locks — the locks a serve holds — so it never races a
//! serve in progress.

mod serve;
mod slot;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

pub use serve::serve_ready;
pub use slot::{BlockOp, Job, Outcome, Served, WaitSlot};

use crate::client::ClientState;
use crate::server::Server;

/// INFO clients' counts of blocked clients.
#[derive(Default)]
pub struct Counts {
    /// Clients whose wait is not decided yet (`blocked_clients`).
    pub clients: AtomicUsize,
    /// Those of them with a timeout (`clients_in_timeout_table`).
    pub in_timeout_table: AtomicUsize,
}

impl Counts {
    fn enter(&self, has_timeout: bool) {
        self.clients.fetch_add(1, Relaxed);
        if has_timeout {
            self.in_timeout_table.fetch_add(1, Relaxed);
        }
    }

    fn leave(&self, has_timeout: bool) {
        self.clients.fetch_sub(1, Relaxed);
        if has_timeout {
            self.in_timeout_table.fetch_sub(1, Relaxed);
        }
    }
}

/// End the client's wait and deliver its outcome into `out` (`None`: the connection is going
/// and nothing is delivered). If nobody decided the wait yet (timeout, disconnect), the client
/// gives it up itself. Either way it leaves every queue it was in.
pub fn finish(srv: &Server, client: &mut ClientState, out: Option<&mut resp::Reply>) {
    let Some(b) = client.block.take() else { return };
    client
        .shared
        .blocked_argv_bytes
        .store(0, std::sync::atomic::Ordering::Relaxed);
    let slot = &client.shared.wait;
    {
        // The shard locks of its keys: a serve holds one of them from its claim to its
        // delivery, so under them the wait is either still undecided or fully decided.
        let mut locked = srv.store.lock_keys(b.keys.iter().map(Vec::as_slice));
        slot.give_up(&srv.blocked);
        for k in &b.keys {
            locked.shard(k).blocked.remove(b.db, k, client.id);
        }
    }
    let outcome = slot.take_outcome();
    let Some(out) = out else { return };
    let failed = match outcome {
        Outcome::Served(s) => {
            client.pending_durable = client.pending_durable.max(s.durable_seq);
            if !b.drop_reply {
                out.raw(&s.reply);
            }
            // Redis logs a blocked command when it is served (never when it times out).
            client.stats.served(b.spec, b.call_us);
            if !b.spec.has(crate::cmd::flags::SKIP_SLOWLOG) && srv.slowlog.wants(b.call_us) {
                let name = client.shared.name.lock().clone().unwrap_or_default();
                let argv: Vec<&[u8]> = b.argv.iter().map(Vec::as_slice).collect();
                srv.slowlog
                    .push_args(&argv, b.call_us, client.shared.addr.clone(), name);
            }
            s.failed
        }
        Outcome::Timeout | Outcome::UnblockedTimeout => {
            // Every blocking command times out with a null array (BLMOVE too, in Redis 7.0).
            if !b.drop_reply {
                out.null_array();
            }
            matches!(outcome, Outcome::UnblockedTimeout)
        }
        Outcome::UnblockedError => {
            let msg = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
            srv.stats.record_error(msg);
            if !b.drop_reply {
                out.error(msg.as_bytes());
            }
            true
        }
        Outcome::Redirected(msg) => {
            srv.stats.record_error(&msg);
            if !b.drop_reply {
                out.error(msg.as_bytes());
            }
            true
        }
        Outcome::Gone => return,
    };
    // The call was counted when the command ran; its wait may add a failure.
    client.stats.unblocked(b.spec, 0, failed);
}
