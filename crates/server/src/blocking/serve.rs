//! Serving blocked clients from the keys a command made ready (Redis 7.0's
//! `handleClientsBlockedOnKeys`), run by that command under its own shard locks.

use std::sync::Arc;

use store::{BlockKind, Locked};

use super::slot::{BlockOp, Served};
use crate::client::{ClientShared, ClientState};
use crate::cmd::Ctx;
use crate::server::Server;
use crate::stats::ThreadStats;

/// Serve every client waiting on a key the command just created as a list or sorted set,
/// oldest first, until the key runs out or nobody waits; then the stream readers of a key an
/// XADD (or a new, deleted or group-less stream) made ready. Serving BLMOVE can create its
/// destination and make that ready in turn, so this runs until no key is ready. Returns the
/// locks, which may have grown (a BLMOVE destination in another shard).
pub fn serve_ready<'s>(
    srv: &'s Server,
    stats: &Arc<ThreadStats>,
    mut keys: Locked<'s>,
    now_ms: u64,
) -> Locked<'s> {
    loop {
        let ready: Vec<(usize, Vec<u8>)> = keys.shards_mut().flat_map(|s| s.take_ready()).collect();
        if ready.is_empty() {
            return keys;
        }
        for (db, key) in ready {
            keys = serve_key(srv, stats, keys, db, &key, now_ms);
            keys = serve_stream_key(srv, stats, keys, db, &key, now_ms);
        }
    }
}

/// Serve the waiters of one ready key. Each round ends one wait (served, or answered an
/// error), so this ends when the key is empty or its queue is.
fn serve_key<'s>(
    srv: &'s Server,
    stats: &Arc<ThreadStats>,
    mut keys: Locked<'s>,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> Locked<'s> {
    loop {
        let shard = keys.shard(key);
        // As Redis's lookup for serving: an expired key goes, and no hit or miss is counted.
        let data = shard.db(db);
        data.expire_if_needed(key, now_ms);
        let Some(kind) = data
            .peek(key, now_ms)
            .and_then(|o| BlockKind::ready(&o.value))
        else {
            return keys;
        };
        let Some(waiter) = shard.blocked.first_waiting(db, key, kind) else {
            return keys;
        };
        let Ok(client) = waiter.into_any().downcast::<ClientShared>() else {
            return keys;
        };
        let Some(job) = client.wait.job() else {
            // Not possible for a waiting client; drop the entry rather than loop.
            keys.shard(key).blocked.remove(db, key, client.id);
            continue;
        };
        if let BlockOp::Move { dst, .. } = &job.op {
            let (grown, relocked) = keys.with_shard(srv.store.shard_index(dst));
            keys = grown;
            if relocked {
                // Others may have run in between: look at the key again.
                continue;
            }
        }
        if !client.wait.claim(&srv.blocked) {
            continue;
        }
        keys.shard(key).blocked.remove(db, key, client.id);
        let unwinding = AnswerIfUnwinding(&client.wait);
        let (back, served) = run_job(srv, stats, keys, &client, &job, key, now_ms);
        std::mem::forget(unwinding);
        keys = back;
        client.wait.deliver(served);
    }
}

/// Serve the stream readers waiting on one ready key: each, in arrival order, is served (or
/// answered its error) if `stream_read::wants` says so, and otherwise keeps waiting.
fn serve_stream_key<'s>(
    srv: &'s Server,
    stats: &Arc<ThreadStats>,
    mut keys: Locked<'s>,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> Locked<'s> {
    let waiters = keys.shard(key).blocked.waiting(db, key, BlockKind::Stream);
    for waiter in waiters {
        let Ok(client) = waiter.into_any().downcast::<ClientShared>() else {
            continue;
        };
        let Some(job) = client.wait.job() else {
            continue;
        };
        let data = keys.shard(key).db(db);
        data.expire_if_needed(key, now_ms);
        let value = data.peek(key, now_ms).map(|o| &o.value);
        if !crate::commands::stream_read::wants(value, &job.op, key)
            || !client.wait.claim(&srv.blocked)
        {
            continue;
        }
        keys.shard(key).blocked.remove(db, key, client.id);
        let unwinding = AnswerIfUnwinding(&client.wait);
        let (back, served) = run_job(srv, stats, keys, &client, &job, key, now_ms);
        std::mem::forget(unwinding);
        keys = back;
        client.wait.deliver(served);
    }
    keys
}

/// A claimed waiter must get an answer even if serving it panics (a bug): otherwise it would
/// wait forever, claimed by nobody.
struct AnswerIfUnwinding<'a>(&'a super::WaitSlot);

impl Drop for AnswerIfUnwinding<'_> {
    fn drop(&mut self) {
        self.0.deliver(Served {
            reply: b"-ERR internal error while serving a blocked client\r\n".to_vec(),
            durable_seq: 0,
            failed: true,
        });
    }
}

/// Do the waiter's pop on `key` as the waiter: its database, its protocol; its effects logged
/// (still under the locks, after the command that made the key ready).
fn run_job<'s>(
    srv: &'s Server,
    stats: &Arc<ThreadStats>,
    keys: Locked<'s>,
    client: &Arc<ClientShared>,
    job: &super::Job,
    key: &[u8],
    now_ms: u64,
) -> (Locked<'s>, Served) {
    let mut state = ClientState::new(client.clone(), stats.clone(), true);
    state.db = job.db;
    let mut out = resp::Reply::new();
    out.proto = job.proto;
    let mut ctx = Ctx {
        srv,
        spec: job.spec,
        client: &mut state,
        out: &mut out,
        keys,
        now_ms,
        dirty: 0,
        effects: None,
        touched: false,
    };
    let mut failed = false;
    if let Err(e) = crate::commands::blocking::serve(&mut ctx, &job.op, key) {
        failed = true;
        srv.stats.record_error(e.msg());
        ctx.out.error(e.msg());
    }
    ctx.flush_store_events();
    crate::cmd::invalidate_modified(&mut ctx);
    crate::cmd::log_and_count(&mut ctx, None);
    let keys = ctx.keys;
    let durable_seq = state.pending_durable;
    (
        keys,
        Served {
            reply: out.as_bytes().to_vec(),
            durable_seq,
            failed,
        },
    )
}
