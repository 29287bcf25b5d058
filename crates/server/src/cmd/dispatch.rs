//! From arguments to a reply: table lookup, arity and auth checks, shard locking, the handler,
//! statistics.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use resp::Argv;

use super::table::{lookup, lookup_sub};
use super::{err, Ctx, Spec};
use crate::client::ClientState;
use crate::server::Server;

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Send what was replied, then close (QUIT, protocol errors, CLIENT KILL of oneself).
    CloseAfterReply,
}

/// Redis's text for an unknown command: the name (up to 128 bytes, to the first NUL as C reads
/// it) and the arguments quoted while the list is shorter than 128 bytes, bytes as they came.
fn unknown_command_error(argv: Argv<'_>) -> Vec<u8> {
    let c_str = |b: &[u8]| -> Vec<u8> { b.split(|&c| c == 0).next().unwrap_or(b).to_vec() };
    let mut name = c_str(argv.get(0));
    name.truncate(128);
    let mut args: Vec<u8> = Vec::new();
    for i in 1..argv.len() {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let mut a = c_str(argv.get(i));
        a.truncate(room);
        args.push(b'\'');
        args.extend_from_slice(&a);
        args.extend_from_slice(b"' ");
    }
    [
        &b"ERR unknown command '"[..],
        &name,
        b"', with args beginning with: ",
        &args,
    ]
    .concat()
}

/// Resolve `argv` to the spec that will run it (a subcommand for containers), or the error.
pub fn resolve(argv: Argv<'_>) -> Result<&'static Spec, Vec<u8>> {
    let Some(spec) = lookup(argv.get(0)) else {
        return Err(unknown_command_error(argv));
    };
    if spec.subcommands.is_empty() {
        return Ok(spec);
    }
    if argv.len() < 2 && spec.handler.is_some() {
        return Ok(spec);
    }
    if argv.len() < 2 {
        return Err(
            format!("ERR wrong number of arguments for '{}' command", spec.name).into_bytes(),
        );
    }
    lookup_sub(spec, argv.get(1)).ok_or_else(|| {
        [
            &b"ERR unknown subcommand '"[..],
            argv.get(1),
            b"'. Try ",
            spec.name.to_ascii_uppercase().as_bytes(),
            b" HELP.",
        ]
        .concat()
    })
}

/// Run one command and append its reply to `out`.
pub fn execute(
    srv: &Server,
    client: &mut ClientState,
    out: &mut resp::Reply,
    argv: Argv<'_>,
) -> Flow {
    execute_in(srv, client, out, argv, &mut Batch::new())
}

/// What the commands of one batch (the requests of one read) share.
///
/// - The shard lock the previous command left (`held`). When the next command needs exactly
///   that one shard it runs under it without unlocking and relocking; otherwise it is
///   released first (so a thread never waits for a lock while holding one, and keyless
///   commands that lock shards themselves find none held). A pipeline of writes to one hot key
///   then takes its shard lock once per batch instead of once per command, which is what two
///   I/O threads contend on. Dropping the batch releases it.
/// - The clock: one monotonic reading per command, which ends one command's duration (for
///   INFO commandstats) and starts the next one's; the wall clock (for expiry) is read once
///   per batch and advanced by the monotonic one.
pub struct Batch<'s> {
    pub(super) held: Option<store::Locked<'s>>,
    wall_ms: u64,
    start: Instant,
    mark: Instant,
}

impl Batch<'_> {
    pub fn new() -> Self {
        let now = Instant::now();
        Batch {
            held: None,
            wall_ms: crate::util::now_ms(),
            start: now,
            mark: now,
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.wall_ms + (self.mark - self.start).as_millis() as u64
    }

    /// Microseconds since the last reading, and take a new one.
    pub(super) fn lap_us(&mut self) -> u64 {
        let now = Instant::now();
        let us = (now - self.mark).as_micros() as u64;
        self.mark = now;
        us
    }
}

impl Default for Batch<'_> {
    fn default() -> Self {
        Batch::new()
    }
}

/// Run one command of `batch` and append its reply to `out` — then any invalidations its
/// own changes caused for this client's cache, which Redis sends after the reply.
pub fn execute_in<'s>(
    srv: &'s Server,
    client: &mut ClientState,
    out: &mut resp::Reply,
    argv: Argv<'_>,
    batch: &mut Batch<'s>,
) -> Flow {
    let flow = execute_one(srv, client, out, argv, batch);
    if !client.pending_invalidations.is_empty() {
        out.raw(&client.pending_invalidations);
        client.pending_invalidations.clear();
    }
    flow
}

fn execute_one<'s>(
    srv: &'s Server,
    client: &mut ClientState,
    out: &mut resp::Reply,
    argv: Argv<'_>,
    batch: &mut Batch<'s>,
) -> Flow {
    // Eviction first, holding no lock (it locks shards one at a time).
    let out_of_memory = srv.evict.maxmemory() > 0 && {
        if crate::evict::over_limit(srv) {
            drop(batch.held.take());
            !crate::evict::perform(srv, batch.now_ms())
        } else {
            srv.evict.within();
            false
        }
    };
    client.oom_before_script = out_of_memory;
    if client.user.is_some() {
        crate::acl::clients::refresh(srv, client);
    }
    if srv.cluster.any_open_slot() {
        // The cluster check looks for the keys of a slot being migrated: no shard may be
        // held then.
        drop(batch.held.take());
    }
    let admitted = admit(srv, client, argv, out_of_memory);
    // ASKING covers the next command, or the transaction up to its EXEC.
    if client.cluster_asking
        && !argv.get(0).eq_ignore_ascii_case(b"asking")
        && (client.multi.is_none() || argv.get(0).eq_ignore_ascii_case(b"exec"))
    {
        client.cluster_asking = false;
    }
    let spec = match admitted {
        Ok(spec) => spec,
        Err(rejected) => {
            reject(srv, client, out, rejected);
            return Flow::Continue;
        }
    };
    client.flow = Flow::Continue;
    // Keep the tracking table within its limit before the command, as Redis does in
    // processCommand: this client's own invalidations go out before its reply.
    if srv.tracking.clients.load(Relaxed) > 0 {
        let mut now = Vec::new();
        crate::tracking::enforce_limit(srv, client.id, &mut now);
        out.raw(&now);
    }
    if client.multi.is_some() {
        if spec.name == "exec" {
            return super::multi::exec(srv, client, out, batch, spec, argv);
        }
        if !super::multi::runs_in_multi(spec) {
            super::multi::queue(client, spec, argv);
            note_command(client, spec);
            out.simple("QUEUED");
            return Flow::Continue;
        }
    }
    let key_idx = spec.key_indices(&argv);
    let keys = if needs_every_shard(spec, &key_idx) {
        drop(batch.held.take());
        srv.store.lock_all()
    } else {
        let idx = srv
            .store
            .shard_indices(key_idx.iter().map(|&i| argv.get(i)));
        match batch.held.take() {
            Some(l) if !idx.is_empty() && l.covers_exactly(&idx) => l,
            other => {
                drop(other);
                srv.store.lock_indices(&idx)
            }
        }
    };
    let (mut keys, result) = run_locked(srv, client, out, spec, argv, keys, batch.now_ms());
    // Clients blocked on keys this command created are served now, under its locks and
    // after its own log record, before anything else runs (Redis serves them after every
    // command).
    if store::keys_ready() {
        let stats = client.stats.clone();
        keys = crate::blocking::serve_ready(srv, &stats, keys, batch.now_ms());
    }
    if keys.count() == 1 && client.block.is_none() {
        batch.held = Some(keys);
    }
    finish(srv, client, out, spec, &argv, batch.lap_us(), result);
    client.flow
}

/// Why a command was refused before it ran: its spec when it was found, and the error.
pub(super) struct Rejected {
    spec: Option<&'static Spec>,
    msg: Vec<u8>,
    /// A cluster redirection: an EXEC refused so discards its transaction and answers the
    /// redirection itself, not EXECABORT (Redis's `processCommand`).
    redirect: bool,
}

/// The checks before a command runs or is queued, in Redis's order (`processCommand`): the
/// name, the arity, protected commands, authentication, MULTI's own refusals, the disk.
fn admit(
    srv: &Server,
    client: &ClientState,
    argv: Argv<'_>,
    out_of_memory: bool,
) -> Result<&'static Spec, Rejected> {
    let spec = resolve(argv).map_err(|msg| Rejected {
        spec: None,
        msg,
        redirect: false,
    })?;
    let refuse = |msg: Vec<u8>| Rejected {
        spec: Some(spec),
        msg,
        redirect: false,
    };
    if !spec.arity_ok(argv.len()) {
        return Err(refuse(
            format!("ERR wrong number of arguments for '{}' command", spec.name).into_bytes(),
        ));
    }
    // The ADMIN flag first keeps the name comparison off ordinary commands' path.
    if spec.has(super::flags::ADMIN)
        && spec.name == "debug"
        && !crate::commands::debug::allowed(srv, client)
    {
        return Err(refuse(crate::commands::debug::NOT_ALLOWED.into()));
    }
    if !client.authenticated && !spec.has(super::flags::NO_AUTH) && srv.auth_required() {
        return Err(refuse(err::NOAUTH.into()));
    }
    // A monitor is a replica to Redis, and replicas do not touch the keyspace.
    if client.shared.monitoring.load(Relaxed)
        && (spec.has(super::flags::WRITE)
            || spec.has(super::flags::READONLY)
            || spec.has(super::flags::MAY_REPLICATE))
    {
        return Err(refuse(
            b"ERR Replica can't interact with the keyspace".to_vec(),
        ));
    }
    if client.multi.is_some() && spec.has(super::flags::NO_MULTI) {
        return Err(refuse(
            b"ERR Command not allowed inside a transaction".to_vec(),
        ));
    }
    let context = if client.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    if let Err(denied) = crate::acl::clients::permit(srv, client, spec, &argv, context, spec.name) {
        return Err(refuse(denied.error(spec)));
    }
    // EXEC counts as a write when it holds one.
    let writes = spec.has(super::flags::WRITE)
        || (spec.name == "exec" && super::multi::queued_writes(client));
    if let Some(r) = crate::cluster::redirect::of_command(srv, client, spec, &argv, writes) {
        return Err(Rejected {
            redirect: true,
            ..refuse(r.error().as_bytes().to_vec())
        });
    }
    // A script or function that declares flags takes them for the command (Redis's
    // `scriptFlagsToCmdFlags`): it may write unless `no-writes`, needs memory unless it
    // also says `allow-oom`. Read only when a check below needs them.
    let declared = || crate::commands::scripting::declared_flags(srv, spec, argv);
    if out_of_memory {
        // Inside MULTI nothing is queued while out of memory (it could grow without bound).
        let queueing =
            client.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset");
        let denyoom = spec.has(super::flags::DENYOOM)
            || (spec.name == "exec" && super::multi::queued_flags(client, super::flags::DENYOOM))
            || declared().is_some_and(|f| !f.allow_oom && !f.no_writes);
        if denyoom || queueing {
            return Err(refuse(crate::evict::OOM.as_bytes().to_vec()));
        }
    }
    // Redis refuses PING too while the disk fails (a health check should see it).
    if writes || spec.name == "ping" || super::script_call::is_script(spec) {
        if let Some(msg) = disk_error(srv) {
            if writes || spec.name == "ping" || declared().is_some_and(|f| !f.no_writes) {
                return Err(refuse(msg.into_bytes()));
            }
        }
    }
    if writes && !client.replaying && srv.repl.too_few_replicas() {
        return Err(refuse(
            b"NOREPLICAS Not enough good replicas to write.".to_vec(),
        ));
    }
    // A replica takes writes from its master only (`replica-read-only yes`, the default).
    if writes
        && !client.replaying
        && srv.repl.is_replica()
        && srv.config.read().get("replica-read-only") == "yes"
    {
        return Err(refuse(
            b"READONLY You can't write against a read only replica.".to_vec(),
        ));
    }
    // A command without the `stale` flag waits for the master's data when the link is down
    // and `replica-serve-stale-data` is off; one without `loading` while a full sync loads.
    let denied = |flag: u32| {
        !spec.has(flag) || (spec.name == "exec" && super::multi::queued_lacks(client, flag))
    };
    if srv.repl.master_down() && denied(super::flags::STALE) {
        return Err(refuse(
            b"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                .to_vec(),
        ));
    }
    if srv.repl.loading() && !client.replaying && denied(super::flags::LOADING) {
        return Err(refuse(
            b"LOADING Redis is loading the dataset in memory".to_vec(),
        ));
    }
    if srv.busy.any() && !spec.has(super::flags::ALLOW_BUSY) {
        return Err(refuse(srv.busy.reply().as_bytes().to_vec()));
    }
    // A subscribed RESP2 connection carries pushes, so only (un)subscribing and a few
    // connection commands may run on it (RESP3 tells pushes from replies).
    if client.subs.total() > 0
        && client.shared.resp.load(Relaxed) == 2
        && !crate::commands::pubsub::allowed_while_subscribed(spec.name)
    {
        return Err(refuse(
            format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )
            .into_bytes(),
        ));
    }
    Ok(spec)
}

/// Answer a refused command (Redis's `rejectCommand`): counted as rejected, and inside MULTI
/// it dooms the transaction; a refused EXEC ends it with `EXECABORT`.
fn reject(srv: &Server, client: &mut ClientState, out: &mut resp::Reply, r: Rejected) {
    if let Some(spec) = r.spec {
        client.stats.rejected(spec);
    }
    if let Some(multi) = client.multi.as_mut() {
        multi.aborted = true;
    }
    // A refused EXEC is always an EXECABORT, even outside MULTI (Redis's `rejectCommand`),
    // but for a cluster redirection.
    if r.redirect && r.spec.is_some_and(|s| s.name == "exec") && client.multi.is_some() {
        super::multi::discard(srv, client);
    } else if r.spec.is_some_and(|s| s.name == "exec") {
        if client.multi.is_some() {
            super::multi::discard(srv, client);
        }
        // Redis passes the reason without the `ERR ` code (other codes stay: NOAUTH, OOM …).
        let reason = r.msg.strip_prefix(b"ERR ").unwrap_or(&r.msg);
        let msg = [&b"EXECABORT Transaction discarded because of: "[..], reason].concat();
        srv.stats.record_error(&msg);
        out.error(&msg);
        return;
    }
    srv.stats.record_error(&r.msg);
    if client.replaying {
        let name = r.spec.map_or("<unknown>", |s| s.name);
        crate::aof::error_while_loading(srv, name, &r.msg);
    }
    out.error(&r.msg);
}

/// Whether a command runs with every shard locked: keys that cannot be known from the
/// arguments (SORT … BY), or a keyless command that changes every shard.
pub(super) fn needs_every_shard(spec: &Spec, key_idx: &[usize]) -> bool {
    spec.has_unknown_keys() || (key_idx.is_empty() && locks_every_shard(spec))
}

/// Run a command's handler under `keys`, then tell watchers of the keys it changed and log
/// it. Returns the locks (which a handler may have grown) and its result, not yet answered.
pub(super) fn run_locked<'s>(
    srv: &Server,
    client: &mut ClientState,
    out: &mut resp::Reply,
    spec: &'static Spec,
    argv: Argv<'_>,
    keys: store::Locked<'s>,
    now_ms: u64,
) -> (store::Locked<'s>, super::CmdResult) {
    let Some(handler) = spec.handler else {
        unreachable!("containers without a handler resolve to a subcommand")
    };
    let mut ctx = Ctx {
        srv,
        spec,
        client,
        out,
        keys,
        now_ms,
        dirty: 0,
        effects: None,
        touched: false,
    };
    let result = handler(&mut ctx, argv);
    ctx.flush_store_events();
    if ctx.keys.count() == 0 && store::store_events_pending() && touches_data_keyless(ctx.spec) {
        // A keyless command (SCAN, RANDOMKEY …) locked shards one at a time and expired keys
        // there: their events go out now, as the command's own.
        for i in 0..srv.store.shard_count() {
            let mut shard = srv.store.lock_shard(i);
            let me = crate::pubsub::Publisher {
                id: ctx.client.id,
                out: ctx.out,
            };
            crate::pubsub::notify::emit_store_events(srv, std::iter::once(&mut *shard), Some(me));
        }
    }
    if ctx.dirty > 0 && !ctx.touched && store::key_changes_wanted() {
        touch_written_keys(&mut ctx, &argv);
    }
    track(&mut ctx, &argv);
    log_and_count(&mut ctx, Some(&argv));
    (ctx.keys, result)
}

/// Client-side caching after a command: remember the keys a tracking client read, and
/// invalidate the keys the command changed (see `crate::tracking`).
fn track(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>) {
    // Nothing to do (one relaxed load) until some client has turned tracking on.
    if !store::tracking_on() {
        return;
    }
    if ctx.spec.has(super::flags::READONLY) && !ctx.spec.has(super::flags::PUBSUB) {
        let remember = {
            let mut mode = ctx.client.shared.tracking.lock();
            let wanted = mode.on
                && !mode.bcast
                && !((mode.optin && !mode.caching) || (mode.optout && mode.caching));
            if ctx.client.multi.is_none() && !ctx.client.in_exec() {
                mode.caching = false;
            }
            wanted
        };
        if remember {
            if let Some(refs) = ctx.spec.key_refs(argv) {
                let keys: Vec<&[u8]> = refs.iter().map(|&(i, _)| argv.get(i)).collect();
                ctx.srv.tracking.remember(ctx.client.id, &keys);
            }
        }
    } else if !ctx.spec.name.starts_with("client|")
        && ctx.client.multi.is_none()
        && !ctx.client.in_exec()
    {
        ctx.client.shared.tracking.lock().caching = false;
    }
    invalidate_modified(ctx);
}

/// Invalidate, for client-side caching, the keys changed under `ctx`'s locks (and, for a
/// keyless command, in the shards it visited).
pub(crate) fn invalidate_modified(ctx: &mut Ctx<'_, '_>) {
    if !store::modified_pending() {
        return;
    }
    let mut keys: Vec<(u64, Vec<u8>)> = Vec::new();
    for shard in ctx.keys.shards_mut() {
        keys.extend(shard.take_modified());
    }
    if ctx.keys.count() == 0 && touches_data_keyless(ctx.spec) {
        // A keyless command expired keys in shards it locked one at a time.
        for i in 0..ctx.srv.store.shard_count() {
            keys.extend(ctx.srv.store.lock_shard(i).take_modified());
        }
    }
    if !keys.is_empty() {
        // In the order the keys changed, whatever their shards.
        keys.sort_unstable_by_key(|(seq, _)| *seq);
        let keys: Vec<Vec<u8>> = keys.into_iter().map(|(_, k)| k).collect();
        let id = ctx.client.id;
        crate::tracking::invalidate(ctx.srv, &keys, id, &mut ctx.client.pending_invalidations);
    }
}

/// A keyless command that reads or writes the keyspace (SCAN, RANDOMKEY, KEYS …): it locks
/// shards one at a time, so what it caused there (expiries) is collected after it.
pub(super) fn touches_data_keyless(spec: &Spec) -> bool {
    spec.has(super::flags::READONLY) || spec.has(super::flags::WRITE)
}

/// Statistics and the error reply of a command that ran. A command that blocks is counted
/// now, as Redis 7.0 does; a failed serve adds a failure when its wait ends
/// (`blocking::finish`).
pub(super) fn finish(
    srv: &Server,
    client: &mut ClientState,
    out: &mut resp::Reply,
    spec: &'static Spec,
    argv: &Argv<'_>,
    elapsed_us: u64,
    result: super::CmdResult,
) {
    let blocked = client.block.is_some();
    if !blocked && !spec.has(super::flags::SKIP_SLOWLOG) && srv.slowlog.wants(elapsed_us) {
        let name = client.shared.name.lock().clone().unwrap_or_default();
        srv.slowlog
            .push(spec, argv, elapsed_us, client.shared.addr.clone(), name);
    }
    if srv.monitors.any() {
        if client.in_script {
            if !spec.has(super::flags::ADMIN) && !spec.has(super::flags::SKIP_MONITOR) {
                crate::monitor::feed_from(srv, "lua", client.db, spec, argv);
            }
        } else {
            crate::monitor::feed(srv, &client.shared, client.db, spec, argv);
        }
    }
    let event = if spec.has(super::flags::FAST) {
        "fast-command"
    } else {
        "command"
    };
    srv.latency.add_if_needed(event, elapsed_us / 1000);
    match result {
        Ok(()) => {
            let failed = std::mem::take(&mut client.reply_failed);
            client.stats.called(spec, elapsed_us, failed, blocked)
        }
        Err(e) => {
            client.stats.called(spec, elapsed_us, true, blocked);
            srv.stats.record_error(e.msg());
            if client.replaying {
                crate::aof::error_while_loading(srv, spec.name, e.msg());
            }
            out.error(e.msg());
        }
    }
    if let Some(b) = client.block.as_mut() {
        // A blocked client keeps its arguments until it is served (CLIENT LIST `argv-mem`,
        // the slow log).
        b.argv = argv.iter().map(<[u8]>::to_vec).collect();
        b.call_us = elapsed_us;
        let bytes = argv.iter().map(<[u8]>::len).sum();
        client.shared.blocked_argv_bytes.store(bytes, Relaxed);
    }
    note_command(client, spec);
}

/// The client's last command, as CLIENT LIST's `cmd` shows it: Redis names a command there
/// once it is looked up, so a queued command counts too.
pub(crate) fn note_command(client: &mut ClientState, spec: &'static Spec) {
    client.last_command = spec.name;
    client
        .shared
        .last_command
        .store(super::table::spec_index(spec) + 1, Relaxed);
}

/// A command changed something and handled no watcher itself: every key its specifications
/// do not mark read-only counts as changed, in the client's database — Redis's
/// `signalModifiedKey` calls of the write commands. Handlers whose writes are narrower (DEL of
/// missing keys) or elsewhere (MOVE, COPY … DB, SORT … STORE) touch keys themselves.
fn touch_written_keys(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>) {
    for ks in ctx.spec.key_specs {
        if ks.flags.contains(&"RO") || !ks.names_keys() {
            continue;
        }
        for i in ks.indices_strict(argv).unwrap_or_default() {
            let key = argv.get(i);
            ctx.db(key).touch(key);
        }
    }
}

/// Keyless writes that change every shard: they run, and are logged, with every shard locked,
/// so no other write can fall between their effect and their log record (a write logged
/// before a FLUSHALL that ran after it would be lost on replay), and an AOF rewrite's instant
/// sees them whole.
fn locks_every_shard(spec: &Spec) -> bool {
    // Changing the function libraries too: a snapshot's instant (every shard locked) then
    // sees them as they were with the keys.
    matches!(
        spec.name,
        "flushall"
            | "flushdb"
            | "swapdb"
            | "function|load"
            | "function|delete"
            | "function|flush"
            | "function|restore"
    )
}

/// Log what a command did, still under its shard locks (so conflicting commands are logged
/// in the order they ran): first a `DEL` for every key of the locked shards that expired
/// (during this command or earlier, found by a keyless command or the active cycle), then its
/// effects — `ctx.effects`, or the command as sent (`argv`) — if it changed anything. Its
/// changes are added to the server's count.
pub(crate) fn log_and_count(ctx: &mut Ctx<'_, '_>, argv: Option<&Argv<'_>>) {
    if crate::propagate::wanted(ctx.srv, ctx.client) {
        log_expired(ctx);
        if ctx.dirty > 0 {
            let effects = ctx
                .effects
                .take()
                .or_else(|| argv.map(|a| vec![a.iter().map(<[u8]>::to_vec).collect()]));
            if let Some(effects) = effects {
                let db = ctx.client.db;
                crate::propagate::commands(ctx.srv, ctx.client, db, effects);
            }
        }
    }
    if ctx.dirty > 0 {
        // This thread's own counter (see `Stats::dirty_total`).
        ctx.client
            .stats
            .dirty
            .fetch_add(ctx.dirty, std::sync::atomic::Ordering::Relaxed);
    }
}

fn log_expired(ctx: &mut Ctx<'_, '_>) {
    let mut expired = Vec::new();
    for shard in ctx.keys.shards_mut() {
        expired.extend(shard.drain_expired());
    }
    for (db, key) in expired {
        let del = vec![vec![b"DEL".to_vec(), key]];
        crate::propagate::commands(ctx.srv, ctx.client, db, del);
    }
}

/// Why writes are refused because of the disk, if they are (Redis's
/// `writeCommandsDeniedByDiskError`: a failed BGSAVE under `stop-writes-on-bgsave-error`
/// first, then the log's write errors).
pub(super) fn disk_error(srv: &Server) -> Option<String> {
    if srv.save_state.writes_denied.load(Relaxed) {
        return Some(crate::save::MISCONF_RDB.to_string());
    }
    let e = srv.aof().and_then(crate::aof::Aof::last_error)?;
    Some(format!("MISCONF Errors writing to the AOF file: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv_of(parts: &[&[u8]]) -> (Vec<u8>, resp::RequestParser) {
        let mut buf = format!("*{}\r\n", parts.len()).into_bytes();
        for p in parts {
            buf.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            buf.extend_from_slice(p);
            buf.extend_from_slice(b"\r\n");
        }
        let mut parser = resp::RequestParser::new();
        parser.parse(&buf, resp::Limits::default()).unwrap();
        (buf, parser)
    }

    #[test]
    fn unknown_command_text() {
        let (buf, p) = argv_of(&[b"foo", b"a", b"b\0c"]);
        assert_eq!(
            unknown_command_error(p.argv(&buf)),
            b"ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let long = vec![b'x'; 200];
        let (buf, p) = argv_of(&[b"foo", &long, b"z"]);
        let msg = unknown_command_error(p.argv(&buf));
        assert!(msg.ends_with(format!("'{}' ", "x".repeat(128)).as_bytes()));
    }
}
