//! Client-side caching (CLIENT TRACKING), as Redis 7.0's `tracking.c`.
//!
//! Default mode: the keys a tracking client reads (read-only commands, every key argument)
//! are remembered in one table, key → client ids, whatever the database (as Redis). When a
//! key changes — every place that tells WATCH tells this too: `Db::touch`, which records the
//! key while anyone tracks — the clients that read it are sent an invalidation once and
//! forgotten for that key. BCAST mode: no table; a change to a key under a prefix a client
//! registered is sent to it. FLUSHDB and FLUSHALL invalidate everything (a null key list).
//!
//! An invalidation is a RESP3 push `invalidate [keys]` to the client itself, or, with
//! REDIRECT, to another connection: as a push if it speaks RESP3, or as a message on
//! `__redis__:invalidate` if it is a RESP2 subscriber. It travels through the target's outbox
//! (other threads) or, for the client whose command changed the key, after that command's
//! reply, as Redis orders it.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::client::ClientShared;
use crate::server::Server;

/// A client's tracking settings (readable by the threads that invalidate for it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mode {
    pub on: bool,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING YES (optin) or NO (optout) given for the next command.
    pub caching: bool,
    /// Client id invalidations go to; 0 = this client.
    pub redirect: u64,
    /// The redirect target was gone when an invalidation was due.
    pub broken_redirect: bool,
    /// BCAST prefixes, sorted.
    pub prefixes: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct Tracking {
    /// Key → ids of the clients that read it since its last invalidation.
    table: Mutex<HashMap<Vec<u8>, HashSet<u64>>>,
    /// Entries of `table` (INFO's `tracking_total_items`).
    items: AtomicUsize,
    /// Keys in `table` (INFO's `tracking_total_keys`), so the limit check before each command
    /// takes no lock while the table is within it.
    keys: AtomicUsize,
    /// BCAST prefix → ids of its clients.
    prefixes: Mutex<BTreeMap<Vec<u8>, HashSet<u64>>>,
    /// Clients in tracking mode (INFO's `tracking_clients`).
    pub clients: AtomicUsize,
    /// `tracking-table-max-keys` (0: no limit).
    pub max_keys: AtomicUsize,
    /// Times in a row the table was still over its limit after an eviction round (Redis's
    /// `timeout_counter`: each such round tries harder).
    over_limit_rounds: AtomicUsize,
}

/// What an invalidation names: some keys, or everything (a flush).
pub enum Invalidated<'a> {
    Keys(&'a [Vec<u8>]),
    All,
}

impl Tracking {
    pub fn load(&self, config: &crate::config::Config) {
        let max = config
            .get("tracking-table-max-keys")
            .parse()
            .unwrap_or(1_000_000);
        self.max_keys.store(max, Relaxed);
    }

    pub fn total_keys(&self) -> usize {
        self.keys.load(Relaxed)
    }

    pub fn total_items(&self) -> usize {
        self.items.load(Relaxed)
    }

    pub fn total_prefixes(&self) -> usize {
        self.prefixes.lock().len()
    }

    /// Remember that client `id` read `keys`.
    pub fn remember(&self, id: u64, keys: &[&[u8]]) {
        let mut table = self.table.lock();
        for k in keys {
            if table.entry(k.to_vec()).or_default().insert(id) {
                self.items.fetch_add(1, Relaxed);
            }
        }
        self.keys.store(table.len(), Relaxed);
        store::set_tracking(true);
    }

    /// Register client `id` under BCAST `prefixes`.
    pub fn add_prefixes(&self, id: u64, prefixes: &[Vec<u8>]) {
        let mut table = self.prefixes.lock();
        for p in prefixes {
            table.entry(p.clone()).or_default().insert(id);
        }
        store::set_tracking(true);
    }

    pub fn remove_prefixes(&self, id: u64, prefixes: &[Vec<u8>]) {
        let mut table = self.prefixes.lock();
        for p in prefixes {
            if let Some(ids) = table.get_mut(p) {
                ids.remove(&id);
                if ids.is_empty() {
                    table.remove(p);
                }
            }
        }
    }

    /// Keys to drop from an oversized table: up to `effort` of them (any; a hash map's order is
    /// as good as Redis's random walk); `None` while the table is within its limit.
    fn over_limit(&self, effort: usize) -> Option<Vec<Vec<u8>>> {
        let max = self.max_keys.load(Relaxed);
        if max == 0 || self.keys.load(Relaxed) <= max {
            return None;
        }
        let table = self.table.lock();
        if max == 0 || table.len() <= max {
            return None;
        }
        let excess = table.len() - max;
        Some(table.keys().take(effort.min(excess)).cloned().collect())
    }

    /// Clients that read `key` (default mode): the key's entry is dropped, so a client reads
    /// it again to be told again.
    fn readers(&self, key: &[u8]) -> Vec<u64> {
        let ids = {
            let mut table = self.table.lock();
            let ids = table.remove(key);
            self.keys.store(table.len(), Relaxed);
            ids
        };
        let Some(ids) = ids else {
            return Vec::new();
        };
        self.items.fetch_sub(ids.len(), Relaxed);
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        ids
    }

    /// BCAST: the registered prefixes `key` falls under.
    fn prefixes_of(&self, key: &[u8]) -> Vec<Vec<u8>> {
        self.prefixes
            .lock()
            .keys()
            .filter(|p| key.starts_with(p))
            .cloned()
            .collect()
    }

    /// BCAST: the clients of `prefix`, by id.
    fn prefix_clients(&self, prefix: &[u8]) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .prefixes
            .lock()
            .get(prefix)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Every tracking client: FLUSHDB and FLUSHALL invalidate all of them (and the table).
    fn flush_targets(&self, srv: &Server) -> Vec<Arc<ClientShared>> {
        {
            let mut table = self.table.lock();
            table.clear();
            self.items.store(0, Relaxed);
            self.keys.store(0, Relaxed);
        }
        srv.clients
            .all()
            .into_iter()
            .filter(|c| c.tracking.lock().on)
            .collect()
    }
}

/// Encode an invalidation for `target` (RESP3 push, or a `__redis__:invalidate` message for
/// a RESP2 subscriber a client redirects to).
fn frame(target: &ClientShared, redirected: bool, what: &Invalidated<'_>) -> Option<Bytes> {
    let resp3 = target.resp.load(Relaxed) == 3;
    let mut out = resp::Reply::new();
    if resp3 {
        out.proto = resp::Proto::Resp3;
        out.push(2);
        out.bulk(b"invalidate");
    } else if redirected && target.sub_counts.iter().any(|c| c.load(Relaxed) > 0) {
        out.array(3);
        out.bulk(b"message");
        out.bulk(b"__redis__:invalidate");
    } else {
        return None;
    }
    match what {
        Invalidated::Keys(keys) => {
            out.array(keys.len());
            for k in keys.iter() {
                out.bulk(k);
            }
        }
        Invalidated::All => out.null(),
    }
    Some(Bytes::copy_from_slice(out.as_bytes()))
}

/// Send one invalidation to tracking client `c` (or where it redirects). `current` is the
/// client whose command caused it: its own copy waits in `pending` for after the reply.
fn send(
    srv: &Server,
    c: &Arc<ClientShared>,
    what: &Invalidated<'_>,
    current: u64,
    pending: &mut Vec<u8>,
) {
    let redirect = c.tracking.lock().redirect;
    let target = if redirect != 0 {
        match srv.clients.get(redirect) {
            Some(t) => t,
            None => {
                c.tracking.lock().broken_redirect = true;
                if c.resp.load(Relaxed) == 3 {
                    let mut out = resp::Reply::new();
                    out.proto = resp::Proto::Resp3;
                    out.push(2);
                    out.bulk(b"tracking-redir-broken");
                    out.int(redirect as i64);
                    deliver(
                        srv,
                        c,
                        Bytes::copy_from_slice(out.as_bytes()),
                        current,
                        pending,
                    );
                }
                return;
            }
        }
    } else {
        c.clone()
    };
    if let Some(f) = frame(&target, redirect != 0, what) {
        deliver(srv, &target, f, current, pending);
    }
}

fn deliver(srv: &Server, c: &Arc<ClientShared>, f: Bytes, current: u64, pending: &mut Vec<u8>) {
    if c.id == current {
        pending.extend_from_slice(&f);
        return;
    }
    let limit = srv.pubsub.limits().normal;
    if c.outbox
        .push(f, limit, crate::util::now_ms(), true)
        .is_err()
    {
        crate::log_warning!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            c.describe(crate::util::now_ms(), None)
        );
        c.kill();
    }
}

/// Keys changed by client `current`'s command: invalidate them for every client that cached
/// them — one message per key in default mode, as Redis sends them; one per prefix with all
/// its keys in BCAST mode (without the keys a NOLOOP client changed itself). Invalidations for
/// `current` itself are appended to `pending`, to follow its reply.
pub fn invalidate(srv: &Server, keys: &[Vec<u8>], current: u64, pending: &mut Vec<u8>) {
    for key in keys {
        invalidate_readers(srv, key, current, pending);
    }
    let mut now: Changed = BTreeMap::new();
    for key in keys {
        for prefix in srv.tracking.prefixes_of(key) {
            now.entry(prefix).or_default().insert(key.clone(), current);
        }
    }
    if now.is_empty() {
        return;
    }
    let deferred = BCAST.with(|b| match b.borrow_mut().as_mut() {
        Some(batch) => {
            for (prefix, keys) in std::mem::take(&mut now) {
                batch.entry(prefix).or_default().extend(keys);
            }
            true
        }
        None => false,
    });
    if !deferred {
        broadcast(srv, now);
    }
}

/// BCAST keys changed, per prefix: each key (in order, once) with the client that changed it
/// last (for NOLOOP), as Redis keeps them until its event loop's turn ends.
type Changed = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, u64>>;

thread_local! {
    /// The BCAST changes of the batch running on this thread, if one is batching.
    static BCAST: std::cell::RefCell<Option<Changed>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` (a connection's batch of commands) sending BCAST invalidations once at its end,
/// one message per prefix with all its keys changed meanwhile — Redis sends them once per
/// event-loop turn.
pub fn bcast_batched<R>(srv: &Server, f: impl FnOnce() -> R) -> R {
    let outer = BCAST.with(|b| b.borrow_mut().replace(BTreeMap::new()));
    let r = f();
    let changed = BCAST.with(|b| std::mem::replace(&mut *b.borrow_mut(), outer));
    if let Some(changed) = changed.filter(|c| !c.is_empty()) {
        broadcast(srv, changed);
    }
    r
}

/// Send each prefix's changed keys to its clients, leaving out for a NOLOOP client the keys
/// it changed itself.
fn broadcast(srv: &Server, changed: Changed) {
    for (prefix, keys) in changed {
        for id in srv.tracking.prefix_clients(&prefix) {
            let Some(c) = srv.clients.get(id) else {
                continue;
            };
            let noloop = c.tracking.lock().noloop;
            let list: Vec<Vec<u8>> = keys
                .iter()
                .filter(|(_, by)| !(noloop && **by == id))
                .map(|(k, _)| k.clone())
                .collect();
            if !list.is_empty() {
                send(srv, &c, &Invalidated::Keys(&list), 0, &mut Vec::new());
            }
        }
    }
}

/// Tell the default-mode clients that read `key` it is invalid (once: they leave its entry),
/// except a NOLOOP client whose own command this is.
fn invalidate_readers(srv: &Server, key: &[u8], current: u64, pending: &mut Vec<u8>) {
    for id in srv.tracking.readers(key) {
        let Some(c) = srv.clients.get(id) else {
            continue;
        };
        let mode = c.tracking.lock().clone();
        if !mode.on || mode.bcast || (mode.noloop && id == current) {
            continue;
        }
        let keys = [key.to_vec()];
        send(srv, &c, &Invalidated::Keys(&keys), current, pending);
    }
}

/// Keep the table within `tracking-table-max-keys` (Redis's `trackingLimitUsedSlots`): drop
/// keys, invalidating them for their readers as if they had changed — at most 100 per round,
/// 100 more for every round in a row that ended still over the limit.
pub fn enforce_limit(srv: &Server, current: u64, pending: &mut Vec<u8>) {
    let t = &srv.tracking;
    let effort = 100 * (t.over_limit_rounds.load(Relaxed) + 1);
    let Some(victims) = t.over_limit(effort) else {
        t.over_limit_rounds.store(0, Relaxed);
        return;
    };
    for key in &victims {
        invalidate_readers(srv, key, current, pending);
    }
    if t.over_limit(1).is_some() {
        t.over_limit_rounds.fetch_add(1, Relaxed);
    } else {
        t.over_limit_rounds.store(0, Relaxed);
    }
}

/// FLUSHDB / FLUSHALL: every tracking client is told everything is gone.
pub fn invalidate_all(srv: &Server, current: u64, pending: &mut Vec<u8>) {
    for c in srv.tracking.flush_targets(srv) {
        send(srv, &c, &Invalidated::All, current, pending);
    }
}
