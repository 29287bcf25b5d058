//! From arguments to a reply: table lookup, arity and auth checks, shard locking, the handler,
//! statistics.

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
    held: Option<store::Locked<'s>>,
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
    fn lap_us(&mut self) -> u64 {
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

/// Run one command of `batch` and append its reply to `out`.
pub fn execute_in<'s>(
    srv: &'s Server,
    client: &mut ClientState,
    out: &mut resp::Reply,
    argv: Argv<'_>,
    batch: &mut Batch<'s>,
) -> Flow {
    let spec = match resolve(argv) {
        Ok(spec) => spec,
        Err(msg) => {
            srv.stats.record_error(&msg);
            out.error(&msg);
            return Flow::Continue;
        }
    };
    if !spec.arity_ok(argv.len()) {
        let msg = format!("ERR wrong number of arguments for '{}' command", spec.name);
        client.stats.rejected(spec);
        srv.stats.record_error(&msg);
        out.error(msg.as_bytes());
        return Flow::Continue;
    }
    // The ADMIN flag first keeps the name comparison off ordinary commands' path.
    if spec.has(super::flags::ADMIN)
        && spec.name == "debug"
        && !crate::commands::debug::allowed(srv, client)
    {
        let msg = crate::commands::debug::NOT_ALLOWED;
        client.stats.rejected(spec);
        srv.stats.record_error(msg);
        out.error(msg.as_bytes());
        return Flow::Continue;
    }
    if !client.authenticated && !spec.has(super::flags::NO_AUTH) && srv.auth_required() {
        client.stats.rejected(spec);
        srv.stats.record_error(err::NOAUTH);
        out.error(err::NOAUTH.as_bytes());
        return Flow::Continue;
    }
    // Redis refuses PING too while the disk fails (a health check should see it).
    if spec.has(super::flags::WRITE) || spec.name == "ping" {
        if let Some(msg) = disk_error(srv) {
            client.stats.rejected(spec);
            srv.stats.record_error(&msg);
            out.error(msg.as_bytes());
            return Flow::Continue;
        }
    }
    client.flow = Flow::Continue;
    let Some(handler) = spec.handler else {
        unreachable!("containers without a handler resolve to a subcommand")
    };
    let key_idx = spec.key_indices(&argv);
    let keys = if spec.has_unknown_keys() || (key_idx.is_empty() && locks_every_shard(spec)) {
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
    let mut ctx = Ctx {
        srv,
        spec,
        client,
        out,
        keys,
        now_ms: batch.now_ms(),
        dirty: 0,
        effects: None,
    };
    let result = handler(&mut ctx, argv);
    log_and_count(&mut ctx, Some(&argv));
    let mut keys = ctx.keys;
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
    let elapsed_us = batch.lap_us();
    // A command that blocks is counted now, as Redis 7.0 does; a failed serve adds a failure
    // when its wait ends (`blocking::finish`).
    match result {
        Ok(()) => client.stats.called(spec, elapsed_us, false),
        Err(e) => {
            client.stats.called(spec, elapsed_us, true);
            srv.stats.record_error(e.msg());
            out.error(e.msg());
        }
    }
    client.last_command = spec.name;
    client.shared.last_command.store(
        super::table::spec_index(spec) + 1,
        std::sync::atomic::Ordering::Relaxed,
    );
    client.flow
}

/// Keyless writes that change every shard: they run, and are logged, with every shard locked,
/// so no other write can fall between their effect and their log record (a write logged
/// before a FLUSHALL that ran after it would be lost on replay), and an AOF rewrite's instant
/// sees them whole.
fn locks_every_shard(spec: &Spec) -> bool {
    matches!(spec.name, "flushall" | "flushdb" | "swapdb")
}

/// Log what a command did, still under its shard locks (so conflicting commands are logged
/// in the order they ran): first a `DEL` for every key of the locked shards that expired
/// (during this command or earlier, found by a keyless command or the active cycle), then its
/// effects — `ctx.effects`, or the command as sent (`argv`) — if it changed anything. Its
/// changes are added to the server's count.
pub(crate) fn log_and_count(ctx: &mut Ctx<'_, '_>, argv: Option<&Argv<'_>>) {
    if let Some(aof) = ctx.srv.aof() {
        log_expired(aof, ctx);
        if ctx.dirty > 0 {
            let effects = ctx
                .effects
                .take()
                .or_else(|| argv.map(|a| vec![a.iter().map(<[u8]>::to_vec).collect()]));
            if let Some(effects) = effects {
                match aof.append(ctx.client.db, &effects) {
                    Ok(seq) => ctx.client.pending_durable = ctx.client.pending_durable.max(seq),
                    // Writes are refused from now on (MISCONF) until the log works again.
                    Err(e) => crate::log_warning!("Error appending to the AOF: {e}"),
                }
            }
        }
    }
    if ctx.dirty > 0 {
        ctx.srv
            .stats
            .dirty
            .fetch_add(ctx.dirty, std::sync::atomic::Ordering::Relaxed);
    }
}

fn log_expired(aof: &crate::aof::Aof, ctx: &mut Ctx<'_, '_>) {
    for shard in ctx.keys.shards_mut() {
        for (db, key) in shard.drain_expired() {
            match aof.append(db, &[vec![b"DEL".to_vec(), key]]) {
                Ok(seq) => ctx.client.pending_durable = ctx.client.pending_durable.max(seq),
                Err(e) => crate::log_warning!("Error appending to the AOF: {e}"),
            }
        }
    }
}

/// Why writes are refused because of the disk, if they are (Redis's
/// `writeCommandsDeniedByDiskError`: a failed BGSAVE under `stop-writes-on-bgsave-error`
/// first, then the log's write errors).
fn disk_error(srv: &Server) -> Option<String> {
    if srv
        .save_state
        .writes_denied
        .load(std::sync::atomic::Ordering::Relaxed)
    {
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
