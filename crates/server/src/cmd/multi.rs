//! MULTI … EXEC: queuing commands, and running the queue as one atomic step across shards;
//! the client's side of WATCH (the keyspace's side is `store::watch`).
//!
//! EXEC locks, in ascending order and before anything runs, every shard its queued commands
//! and its watched keys live in — or every shard when one queued command needs the whole
//! keyspace (a keyless command such as DBSIZE or FLUSHALL, SORT … BY). It then checks WATCH,
//! runs the commands one after the other under those locks, and logs their effects as one
//! `MULTI … EXEC` record before it lets go. So no other client, no BGSAVE instant and no AOF
//! rewrite instant can fall inside a transaction: they take the same locks. Blocked clients
//! made ready by the transaction are served after it, as Redis does.

use resp::Argv;
use smallvec::SmallVec;
use store::Locked;

use super::dispatch::{finish, needs_every_shard, run_locked, Batch, Flow};
use super::{flags, Spec};
use crate::client::ClientState;
use crate::server::Server;

/// Redis's reply to EXEC after a command was refused while queuing.
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// A transaction being queued (Redis's `CLIENT_MULTI` state).
#[derive(Default)]
pub struct Multi {
    queued: Vec<Queued>,
    /// A command was refused while queuing (Redis's `CLIENT_DIRTY_EXEC`): EXEC answers
    /// [`EXECABORT`].
    pub aborted: bool,
    /// Every queued command's flags, or-ed.
    flags: u32,
    /// Every queued command's missing flags, or-ed (Redis's `cmd_inv_flags`): EXEC is refused
    /// while stale or loading when one queued command would be.
    missing: u32,
    /// Bytes of queued arguments and their bookkeeping (CLIENT LIST's `multi-mem`).
    pub bytes: usize,
}

impl Multi {
    /// Commands queued (CLIENT LIST's `multi`).
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

/// One queued command line: its arguments in one buffer.
struct Queued {
    spec: &'static Spec,
    src: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl Queued {
    fn argv(&self) -> Argv<'_> {
        Argv::from_parts(&self.src, &self.ranges)
    }
}

/// The keys a client watches (with their database); a change to one sets the client's
/// `ClientShared::watch_flag`.
#[derive(Default)]
pub struct Watching {
    keys: Vec<(usize, Vec<u8>)>,
}

impl Watching {
    /// Keys watched (CLIENT LIST's `watch`).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Whether a command runs at once inside MULTI rather than being queued.
pub fn runs_in_multi(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Whether the transaction being queued holds a write (EXEC is then refused while the disk
/// fails, as a write would be).
/// Whether a queued command has any of `flag`.
pub fn queued_flags(client: &ClientState, flag: u32) -> bool {
    client.multi.as_ref().is_some_and(|m| m.flags & flag != 0)
}

/// Every key of the queued commands (cluster mode's check of EXEC).
pub fn queued_keys(client: &ClientState) -> Vec<Vec<u8>> {
    let Some(m) = client.multi.as_ref() else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for q in &m.queued {
        let argv = q.argv();
        for (i, _) in q.spec.key_refs(&argv).unwrap_or_default() {
            if i < argv.len() {
                keys.push(argv.get(i).to_vec());
            }
        }
    }
    keys
}

/// Whether a queued command lacks `flag`.
pub fn queued_lacks(client: &ClientState, flag: u32) -> bool {
    client.multi.as_ref().is_some_and(|m| m.missing & flag != 0)
}

pub fn queued_writes(client: &ClientState) -> bool {
    client
        .multi
        .as_ref()
        .is_some_and(|m| m.flags & flags::WRITE != 0)
}

/// Whether the transaction holds a command that writes or may replicate (PUBLISH, a script):
/// CLIENT PAUSE WRITE holds such an EXEC.
pub fn queued_may_replicate(client: &ClientState) -> bool {
    client
        .multi
        .as_ref()
        .is_some_and(|m| m.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0)
}

/// Queue a command for EXEC. Once the transaction is doomed (a refused command, a watched
/// key changed) nothing more is kept, as in Redis.
pub fn queue(client: &mut ClientState, spec: &'static Spec, argv: Argv<'_>) {
    let dirty = client.shared.watch_flag.is_dirty();
    let Some(multi) = client.multi.as_mut() else {
        return;
    };
    if multi.aborted || dirty {
        return;
    }
    let mut src = Vec::with_capacity(argv.iter().map(<[u8]>::len).sum());
    let mut ranges = Vec::with_capacity(argv.len());
    for a in argv.iter() {
        ranges.push((src.len(), src.len() + a.len()));
        src.extend_from_slice(a);
    }
    multi.bytes += src.len() + ranges.len() * std::mem::size_of::<(usize, usize)>();
    multi.flags |= spec.flags;
    multi.missing |= !spec.flags;
    multi.queued.push(Queued { spec, src, ranges });
    publish(client);
}

/// Show the transaction state to CLIENT LIST (other threads read it from `ClientShared`).
pub fn publish(client: &ClientState) {
    use std::sync::atomic::Ordering::Relaxed;
    let (count, bytes) = client
        .multi
        .as_ref()
        .map_or((-1, 0), |m| (m.queued.len() as i64, m.bytes));
    client.shared.multi_count.store(count, Relaxed);
    let watched = client.watching.keys.len() * WATCHED_KEY_BYTES;
    client.shared.multi_mem.store(bytes, Relaxed);
    client.shared.watch_mem.store(watched, Relaxed);
}

/// What one watched key costs a client beyond the key itself (Redis counts its list node and
/// `watchedKey` record).
const WATCHED_KEY_BYTES: usize = 56;

/// End a transaction without running it (DISCARD, a failed EXEC, RESET).
pub fn discard(srv: &Server, client: &mut ClientState) {
    client.multi = None;
    unwatch_all(srv, client);
}

/// Start queuing (MULTI).
pub fn begin(client: &mut ClientState) {
    client.multi = Some(Multi::default());
    publish(client);
}

/// WATCH `keys` of the client's database (the dispatcher locked their shards).
pub fn watch(client: &mut ClientState, keys: &mut Locked<'_>, argv: &Argv<'_>, now_ms: u64) {
    // No point watching once a watched key changed: EXEC will fail anyway.
    let flag = &client.shared.watch_flag;
    if flag.is_dirty() {
        return;
    }
    let db = client.db;
    for key in argv.iter().skip(1) {
        let w = &mut client.watching;
        if w.keys.iter().any(|(d, k)| *d == db && k == key) {
            continue;
        }
        keys.db(key, db).watch(key, flag, now_ms);
        w.keys.push((db, key.to_vec()));
    }
    publish(client);
}

/// Stop watching every key and forget any change seen (UNWATCH, EXEC, DISCARD, RESET, the
/// connection closing). Locks each watched key's shard in turn: the caller holds none.
pub fn unwatch_all(srv: &Server, client: &mut ClientState) {
    let flag = &client.shared.watch_flag;
    for (db, key) in client.watching.keys.drain(..) {
        srv.store
            .lock_keys([key.as_slice()])
            .db(&key, db)
            .unwatch(&key, flag);
    }
    flag.clear();
    publish(client);
}

/// [`unwatch_all`] under locks that hold every watched key's shard (EXEC's).
fn unwatch_locked(client: &mut ClientState, keys: &mut Locked<'_>) {
    let flag = &client.shared.watch_flag;
    for (db, key) in client.watching.keys.drain(..) {
        keys.db(&key, db).unwatch(&key, flag);
    }
    flag.clear();
    publish(client);
}

/// Keyless commands that read or change no data: they let EXEC lock only its keys' shards.
/// Any other keyless command (DBSIZE, KEYS, INFO, FLUSHALL …) makes EXEC lock every shard,
/// since it reads or writes all of them.
pub(super) fn keyless_without_data(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "ping" | "echo" | "select" | "time" | "lastsave" | "hello" | "auth" | "wait" | "lolwut"
    ) || spec.name.starts_with("client|")
        || spec.name.starts_with("command|")
        || spec.name == "config|get"
}

/// Lock what the transaction touches: see the module's documentation.
fn lock_for<'s>(srv: &'s Server, client: &ClientState, multi: &Multi) -> Locked<'s> {
    let mut idx: SmallVec<[usize; 8]> = SmallVec::new();
    for q in &multi.queued {
        let argv = q.argv();
        let key_idx = q.spec.key_indices(&argv);
        // A script may touch keys it did not declare, and cannot start over inside EXEC.
        if needs_every_shard(q.spec, &key_idx)
            || (key_idx.is_empty() && !keyless_without_data(q.spec))
            || super::script_call::is_script(q.spec)
        {
            return srv.store.lock_all();
        }
        idx.extend(key_idx.iter().map(|&i| srv.store.shard_index(argv.get(i))));
    }
    idx.extend(
        client
            .watching
            .keys
            .iter()
            .map(|(_, k)| srv.store.shard_index(k)),
    );
    idx.sort_unstable();
    idx.dedup();
    srv.store.lock_indices(&idx)
}

/// Whether a watched key changed or expired since WATCH (Redis's `CLIENT_DIRTY_CAS` and
/// `isWatchedKeyExpired`).
fn watch_failed(client: &ClientState, keys: &mut Locked<'_>, now_ms: u64) -> bool {
    let flag = &client.shared.watch_flag;
    flag.is_dirty()
        || client
            .watching
            .keys
            .iter()
            .any(|(db, k)| keys.db(k, *db).watched_key_expired(k, flag, now_ms))
}

/// EXEC inside MULTI: see the module's documentation.
pub fn exec<'s>(
    srv: &'s Server,
    client: &mut ClientState,
    out: &mut resp::Reply,
    batch: &mut Batch<'s>,
    spec: &'static Spec,
    argv: Argv<'_>,
) -> Flow {
    let Some(multi) = client.multi.take() else {
        return Flow::Continue;
    };
    publish(client);
    if multi.aborted {
        unwatch_all(srv, client);
        finish(
            srv,
            client,
            out,
            spec,
            &argv,
            batch.lap_us(),
            Err(EXECABORT.into()),
        );
        return client.flow;
    }
    drop(batch.held.take());
    let now_ms = batch.now_ms();
    let mut keys = lock_for(srv, client, &multi);
    if watch_failed(client, &mut keys, now_ms) {
        unwatch_locked(client, &mut keys);
        drop(keys);
        out.null_array();
        finish(srv, client, out, spec, &argv, batch.lap_us(), Ok(()));
        return client.flow;
    }
    unwatch_locked(client, &mut keys);
    let deny_before = std::mem::replace(&mut client.deny_blocking, true);
    client.exec_log = Some(Vec::new());
    out.array(multi.queued.len());
    for q in &multi.queued {
        // Permissions are checked again: the user's rules may have changed since queuing.
        if let Err(denied) =
            crate::acl::clients::permit(srv, client, q.spec, &q.argv(), "multi", q.spec.name)
        {
            let msg = format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}", denied.exec_reason());
            srv.stats.record_error(msg.as_bytes());
            out.error(msg.as_bytes());
            continue;
        }
        let (back, result) = run_locked(srv, client, out, q.spec, q.argv(), keys, now_ms);
        keys = back;
        finish(srv, client, out, q.spec, &q.argv(), batch.lap_us(), result);
    }
    client.deny_blocking = deny_before;
    if let Some(ops) = client.exec_log.take() {
        log_transaction(srv, client, &ops);
    }
    if store::keys_ready() {
        let stats = client.stats.clone();
        keys = crate::blocking::serve_ready(srv, &stats, keys, now_ms);
    }
    drop(keys);
    finish(srv, client, out, spec, &argv, batch.lap_us(), Ok(()));
    client.flow
}

/// Log a transaction's effects in one append: wrapped in `MULTI … EXEC` when there is more
/// than one command (as Redis 7.0 propagates: a single command is atomic by itself).
pub(crate) fn log_transaction(
    srv: &Server,
    client: &mut ClientState,
    ops: &[(usize, Vec<Vec<u8>>)],
) {
    crate::propagate::transaction(srv, client, ops);
}
