//! One client connection: read whatever arrived, run every complete request in it, send all the
//! replies with one write. Runs on its I/O thread's event loop; commands execute right here, on
//! this thread, under the locks of the shards they touch — no hop to another thread.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use resp::{Limits, Parsed, Reply, RequestParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::{ClientShared, ClientState, ReplyMode};
use crate::cmd::{execute_in, Batch, Flow};
use crate::server::Server;
use crate::stats::ThreadStats;

/// Initial read buffer; it grows for big requests and shrinks back after them.
const READ_BUF_BYTES: usize = 16 * 1024;
/// A reply buffer bigger than this after a batch is given back to the allocator.
const REPLY_BUF_KEEP_BYTES: usize = 64 * 1024;

/// Values from the config a connection needs on every read, refreshed when CONFIG SET runs.
struct ConnConfig {
    version: u64,
    idle_timeout: Option<Duration>,
    max_bulk_bytes: i64,
    query_buffer_limit: usize,
    /// `client-output-buffer-limit`'s classes, for the replies a batch piles up.
    obuf: crate::pubsub::ObufLimits,
}

impl ConnConfig {
    fn load(srv: &Server) -> Self {
        let version = srv.config_version.load(Relaxed);
        let c = srv.config.read();
        ConnConfig {
            version,
            idle_timeout: match c.timeout_secs() {
                0 => None,
                s => Some(Duration::from_secs(s)),
            },
            max_bulk_bytes: c.proto_max_bulk_len(),
            query_buffer_limit: c.query_buffer_limit(),
            obuf: srv.pubsub.limits(),
        }
    }
}

/// Serve one connection until it closes, is killed, or the server stops.
pub async fn serve<S>(
    srv: Arc<Server>,
    mut stream: S,
    shared: Arc<ClientShared>,
    stats: Arc<ThreadStats>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let id = shared.id;
    let mut client = ClientState::new(shared.clone(), stats.clone(), !srv.auth_required());
    client.acl_generation = srv.acl.generation();
    client.user = Some(srv.acl.default_user());
    let mut rbuf = BytesMut::with_capacity(READ_BUF_BYTES);
    let mut out = Reply::new();
    let mut parser = RequestParser::new();
    let mut cfg = ConnConfig::load(&srv);
    // Created once: registering with the Notify on every read would cost a lock per request.
    let killed = shared.killed();
    tokio::pin!(killed);
    let stopped = srv.stopped();
    tokio::pin!(stopped);
    loop {
        if srv.config_version.load(Relaxed) != cfg.version {
            cfg = ConnConfig::load(&srv);
        }
        // Subscribers are never idle: they wait for messages (as in Redis).
        let idle_timeout = if client.subs.total() > 0 {
            None
        } else {
            cfg.idle_timeout
        };
        let n = tokio::select! {
            biased;
            _ = &mut killed => break,
            _ = &mut stopped => break,
            r = read_with_timeout(&mut stream, &mut rbuf, idle_timeout) => match r {
                Some(n) if n > 0 => n,
                _ => break,
            },
            _ = shared.outbox.ready() => 0,
        };
        // Messages from other clients go out before this batch's replies.
        let pushed = shared.outbox.drain_into(&mut out);
        if n == 0 {
            if !flush_pushes(
                &shared,
                &mut stream,
                &mut out,
                &stats,
                killed.as_mut(),
                pushed,
            )
            .await
            {
                break;
            }
            continue;
        }
        stats.net_input_bytes.fetch_add(n as u64, Relaxed);
        stats.reads.fetch_add(1, Relaxed);
        shared
            .last_interaction_ms
            .store(crate::util::now_ms(), Relaxed);
        store_query_buf(&shared, &rbuf, client.held_bytes);
        let mut end = crate::tracking::bcast_batched(&srv, || {
            crate::pubsub::batched(|| {
                run_batch(&srv, &mut client, &mut parser, &mut rbuf, &mut out, &cfg)
            })
        });
        store_query_buf(&shared, &rbuf, client.held_bytes);
        // A blocking command waits here; input after it stays buffered until it is served.
        // A command held by CLIENT PAUSE waits for the pause to end and its turn.
        while matches!(
            end,
            BatchEnd::Blocked | BatchEnd::Paused | BatchEnd::WaitAcks
        ) {
            wait_durable(&srv, &mut client).await;
            if !flush(&mut stream, &mut out, &stats).await {
                end = BatchEnd::Close;
                break;
            }
            let mut ticket = None;
            if end == BatchEnd::WaitAcks {
                let Some(wait) = client.repl.wait.take() else {
                    break;
                };
                let ended = killed_or_stopped(killed.as_mut(), stopped.as_mut());
                tokio::pin!(ended);
                let acked = crate::replication::master::wait_acks(
                    &srv,
                    &wait,
                    &mut stream,
                    &mut rbuf,
                    cfg.query_buffer_limit,
                    ended,
                );
                match acked.await {
                    Some(n) => out.int(n as i64),
                    None => {
                        end = BatchEnd::Close;
                        break;
                    }
                }
            } else if end == BatchEnd::Blocked {
                let waited = wait_blocked(
                    &client,
                    &mut stream,
                    &mut rbuf,
                    killed.as_mut(),
                    stopped.as_mut(),
                    cfg.query_buffer_limit,
                );
                match waited.await {
                    Wake::Close => {
                        end = BatchEnd::Close;
                        break;
                    }
                    Wake::Push => {
                        let pushed = shared.outbox.drain_into(&mut out);
                        let sent = flush_pushes(
                            &shared,
                            &mut stream,
                            &mut out,
                            &stats,
                            killed.as_mut(),
                            pushed,
                        );
                        if !sent.await {
                            end = BatchEnd::Close;
                            break;
                        }
                        continue;
                    }
                    Wake::Ended => {}
                }
                // Served, unblocked, or timed out: deliver it, then go on with the pipeline.
                crate::blocking::finish(&srv, &mut client, Some(&mut out));
            } else {
                let t = srv.pause.ticket();
                ticket = Some(t);
                srv.blocked.clients.fetch_add(1, Relaxed);
                // Meanwhile the socket is still read (as Redis keeps reading a paused client's
                // input), so a client that disconnects is gone at once.
                let wait = srv.pause.wait(t);
                tokio::pin!(wait);
                let resumed = loop {
                    if rbuf.capacity() - rbuf.len() < 1024 {
                        rbuf.reserve(READ_BUF_BYTES);
                    }
                    tokio::select! {
                        biased;
                        _ = killed.as_mut() => break false,
                        _ = stopped.as_mut() => break false,
                        _ = &mut wait => break true,
                        r = stream.read_buf(&mut rbuf) => match r {
                            Ok(n) if n > 0 && rbuf.len() <= cfg.query_buffer_limit => {}
                            _ => break false,
                        },
                    }
                };
                srv.blocked.clients.fetch_sub(1, Relaxed);
                client.shared.paused.store(false, Relaxed);
                client.shared.blocked_argv_bytes.store(0, Relaxed);
                client.held_bytes = 0;
                if !resumed {
                    srv.pause.done(t);
                    end = BatchEnd::Close;
                    break;
                }
            }
            end = crate::tracking::bcast_batched(&srv, || {
                crate::pubsub::batched(|| {
                    run_batch(&srv, &mut client, &mut parser, &mut rbuf, &mut out, &cfg)
                })
            });
            if let Some(t) = ticket {
                srv.pause.done(t);
            }
        }
        if end == BatchEnd::Replica {
            // Replies before the PSYNC go first; the replica's link takes the connection.
            wait_durable(&srv, &mut client).await;
            if flush(&mut stream, &mut out, &stats).await {
                let ended = killed_or_stopped(killed.as_mut(), stopped.as_mut());
                tokio::pin!(ended);
                crate::replication::master::serve_replica(
                    &srv,
                    &mut stream,
                    &mut rbuf,
                    &mut client,
                    ended,
                )
                .await;
            }
            break;
        }
        wait_durable(&srv, &mut client).await;
        // The other connections of this thread that are ready run their batches before this
        // reply leaves, so the replies of one loop turn go out together (as Redis writes
        // them all before it sleeps): a client woken by the first of them finds the rest
        // waiting, rather than being woken once per reply (which cost a third of a short
        // script's CPU at pipeline 1).
        if !out.is_empty() {
            tokio::task::yield_now().await;
        }
        // A client killed while its socket is full (a subscriber over its output buffer
        // limit) must not stay stuck in the write.
        let sent = tokio::select! {
            biased;
            _ = &mut killed => false,
            sent = flush(&mut stream, &mut out, &stats) => sent,
        };
        shared.outbox.written(pushed);
        if !sent || end == BatchEnd::Close {
            break;
        }
        if rbuf.len() > cfg.query_buffer_limit {
            crate::log_warning!(
                "Closing client that reached max query buffer length: id={id} (qbuf={})",
                rbuf.len()
            );
            break;
        }
        if rbuf.is_empty() && rbuf.capacity() > 4 * READ_BUF_BYTES {
            rbuf = BytesMut::with_capacity(READ_BUF_BYTES);
        }
    }
    crate::blocking::finish(&srv, &mut client, None);
    crate::cmd::unwatch_all(&srv, &mut client);
    crate::commands::pubsub::unsubscribe_all(&srv, &mut client);
    crate::commands::caching::disable_tracking(&srv, &shared);
    crate::commands::introspect::stop_monitoring(&srv, &shared);
    let _ = stream.shutdown().await;
    srv.clients.unregister(id);
}

/// Resolves once the client is killed or the server stops (what ends a replica's link or a
/// WAIT).
async fn killed_or_stopped(
    killed: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    stopped: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) {
    tokio::select! {
        biased;
        _ = killed => {}
        _ = stopped => {}
    }
}

/// Write what other clients queued for this one (`pushed` bytes of it, taken from its
/// outbox into `out`); a kill meanwhile abandons the write. Whether it was written.
async fn flush_pushes<S: AsyncWrite + Unpin>(
    shared: &ClientShared,
    stream: &mut S,
    out: &mut Reply,
    stats: &ThreadStats,
    mut killed: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    pushed: usize,
) -> bool {
    let sent = tokio::select! {
        biased;
        _ = killed.as_mut() => false,
        sent = flush(stream, out, stats) => sent,
    };
    shared.outbox.written(pushed);
    sent
}

/// What CLIENT LIST shows of the read buffer: before a batch (a client listing itself sees
/// its own command in it, as in Redis) and after (what waits behind a blocking command).
/// What CLIENT LIST shows of the read buffer; `held_bytes` of it are a command CLIENT PAUSE
/// holds, which Redis has already taken out of its query buffer.
fn store_query_buf(shared: &ClientShared, rbuf: &BytesMut, held_bytes: usize) {
    shared
        .query_buf_bytes
        .store(rbuf.len().saturating_sub(held_bytes), Relaxed);
    shared
        .query_buf_free
        .store(rbuf.capacity() - rbuf.len(), Relaxed);
}

/// Replies to writes leave only once the log holds the client's last logged write: written
/// to the file (as Redis writes its AOF buffer before replying, so a killed process loses no
/// acknowledged write) and, under `appendfsync always`, synced — one write and one fsync cover
/// every client's records buffered before them.
async fn wait_durable(srv: &Server, client: &mut ClientState) {
    let want = std::mem::take(&mut client.pending_durable);
    let Some(aof) = srv.aof() else { return };
    if want == 0 || aof.durable_seq() >= want {
        return;
    }
    // Let the other connections of this thread that are ready run their commands first:
    // whichever writes through next writes (and under `always` syncs) all their records at once.
    tokio::task::yield_now().await;
    if aof.write_through(want) {
        return;
    }
    loop {
        let notified = aof.durable.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if aof.durable_seq() >= want {
            return;
        }
        notified.await;
    }
}

/// Send pending replies; false if the connection is gone.
async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Reply,
    stats: &ThreadStats,
) -> bool {
    if out.is_empty() {
        return true;
    }
    // The flush matters for TLS (records still buffered in the session); a TCP socket's is
    // a no-op.
    if stream.write_all(out.as_bytes()).await.is_err() || stream.flush().await.is_err() {
        return false;
    }
    stats.net_output_bytes.fetch_add(out.len() as u64, Relaxed);
    stats.writes.fetch_add(1, Relaxed);
    out.clear();
    if out.grew() {
        stats.reply_buffer_expands.fetch_add(1, Relaxed);
    }
    if out.shrink(REPLY_BUF_KEEP_BYTES) {
        stats.reply_buffer_shrinks.fetch_add(1, Relaxed);
    }
    true
}

async fn read_with_timeout<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    timeout: Option<Duration>,
) -> Option<usize> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(READ_BUF_BYTES);
    }
    match timeout {
        None => stream.read_buf(buf).await.ok(),
        Some(t) => match tokio::time::timeout(t, stream.read_buf(buf)).await {
            Ok(r) => r.ok(),
            Err(_) => None,
        },
    }
}

/// How a batch of requests ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchEnd {
    /// Everything complete was run; read more.
    Drained,
    /// Send the replies, then close.
    Close,
    /// A blocking command is waiting; later requests stay in the buffer.
    Blocked,
    /// CLIENT PAUSE holds the next command (still in the buffer).
    Paused,
    /// WAIT waits for replicas' acknowledgements; later requests stay in the buffer.
    WaitAcks,
    /// SYNC or PSYNC: the connection now serves a replica.
    Replica,
}

/// Run every complete request in `rbuf`, stopping early at a blocking command.
fn run_batch(
    srv: &Server,
    client: &mut ClientState,
    parser: &mut RequestParser,
    rbuf: &mut BytesMut,
    out: &mut Reply,
    cfg: &ConnConfig,
) -> BatchEnd {
    let mut pos = 0;
    let mut end = BatchEnd::Drained;
    // Shared by the batch's commands: the last shard lock (released when the batch ends,
    // before any socket I/O) and the clock.
    let mut batch = Batch::new();
    while pos < rbuf.len() {
        // A killed client runs nothing more, as Redis frees it at once.
        if client.shared.is_killed() {
            end = BatchEnd::Close;
            break;
        }
        let limits = Limits {
            max_bulk_bytes: cfg.max_bulk_bytes,
            auth_required: !client.authenticated && srv.auth_required(),
        };
        match parser.parse(&rbuf[pos..], limits) {
            Ok(Parsed::Command { consumed }) => {
                let argv = parser.argv(&rbuf[pos..]);
                if let Some(spec) = held_by_pause(srv, client, argv) {
                    // As Redis shows a postponed client: blocked, its command looked up and
                    // its arguments out of the query buffer.
                    crate::cmd::note_command(client, spec);
                    let argv_bytes = argv.iter().map(<[u8]>::len).sum();
                    client.shared.blocked_argv_bytes.store(argv_bytes, Relaxed);
                    client.shared.paused.store(true, Relaxed);
                    client.held_bytes = consumed;
                    parser.reset();
                    end = BatchEnd::Paused;
                    break;
                }
                let before = out.len();
                let mode_before = client.reply_mode;
                let flow = execute_in(srv, client, out, argv, &mut batch);
                let drop_reply = apply_reply_mode(client, out, before, mode_before);
                if let Some(b) = client.block.as_mut() {
                    // Its reply comes later; the mode it ran under decides it then.
                    b.drop_reply = drop_reply;
                }
                parser.reset();
                pos += consumed;
                if over_output_limit(client, out, cfg) {
                    // Redis frees such a client without sending what it had pending.
                    out.truncate(0);
                    end = BatchEnd::Close;
                    break;
                }
                if flow == Flow::CloseAfterReply {
                    end = BatchEnd::Close;
                    break;
                }
                if client.block.is_some() {
                    end = BatchEnd::Blocked;
                    break;
                }
                if client.repl.wait.is_some() {
                    end = BatchEnd::WaitAcks;
                    break;
                }
                if client.repl.sync.is_some() {
                    end = BatchEnd::Replica;
                    break;
                }
            }
            Ok(Parsed::Empty { consumed }) => pos += consumed,
            Ok(Parsed::Incomplete { total_hint }) => {
                let have = rbuf.len() - pos;
                if total_hint > have {
                    rbuf.reserve(total_hint - have);
                }
                break;
            }
            Err(e) => {
                let msg = format!("ERR {e}");
                srv.stats.record_error(&msg);
                out.error(msg.as_bytes());
                crate::log_verbose!("Protocol error ({e}) from client: id={}", client.id);
                end = BatchEnd::Close;
                break;
            }
        }
    }
    rbuf.advance(pos);
    end
}

/// Whether the replies this batch has piled up put the client over its class's
/// `client-output-buffer-limit` (Redis's `checkClientOutputBufferLimits`, checked as each
/// reply is added): the hard limit at once, the soft one once it has lasted its seconds.
/// A connection reads no more requests until its replies are written, so only one batch's
/// replies can pile up here.
fn over_output_limit(client: &mut ClientState, out: &Reply, cfg: &ConnConfig) -> bool {
    let limit = if client.subs.total() > 0 {
        cfg.obuf.pubsub
    } else {
        cfg.obuf.normal
    };
    // Messages queued for it by others are checked against the limit as they are queued
    // (`Outbox::push`); `out` holds this batch's replies and the messages taken with them.
    let pending = out.len() as u64;
    let over = if limit.hard_bytes > 0 && pending >= limit.hard_bytes {
        true
    } else if limit.soft_bytes > 0 && pending >= limit.soft_bytes {
        let now = crate::util::now_ms();
        if client.obuf_soft_since_ms == 0 {
            client.obuf_soft_since_ms = now;
        }
        now.saturating_sub(client.obuf_soft_since_ms) > limit.soft_secs.saturating_mul(1000)
    } else {
        client.obuf_soft_since_ms = 0;
        false
    };
    if over {
        crate::log_warning!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            client.shared.describe(crate::util::now_ms(), None)
        );
    }
    over
}

/// Whether CLIENT PAUSE holds this command: after the checks Redis makes first (a command
/// that would be refused for its name or arity is answered at once).
fn held_by_pause(
    srv: &Server,
    client: &ClientState,
    argv: resp::Argv<'_>,
) -> Option<&'static crate::cmd::Spec> {
    srv.pause.current()?;
    match crate::cmd::resolve(argv) {
        Ok(spec) if spec.arity_ok(argv.len()) => {
            // A transaction that writes or publishes is held whole; a script is held unless
            // its shebang says `no-writes` (Redis's flags for EVAL and FCALL).
            let declared = crate::commands::scripting::declared_flags(srv, spec, argv);
            let writes = (spec.name == "exec" && crate::cmd::queued_may_replicate(client))
                || declared.is_some_and(|f| !f.no_writes);
            let read_only_script = declared.is_some_and(|f| f.no_writes);
            (!read_only_script && srv.pause.holds(spec, writes)).then_some(spec)
        }
        _ => None,
    }
}

/// How a wait in a blocking command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Decided by someone else (served, CLIENT UNBLOCK), or the timeout passed.
    Ended,
    /// The connection is going (disconnect, kill, shutdown, query buffer over its limit).
    Close,
    /// Messages for the client arrived (RESP3 pushes, invalidations): they go out while
    /// it stays blocked, as in Redis.
    Push,
}

/// Wait until the blocked command's wait is decided or its timeout passes; a kill or
/// shutdown ends it too. Like Redis, keep reading the socket meanwhile: later requests are
/// buffered, and a client that disconnects stops waiting. Costs nothing while nothing happens.
async fn wait_blocked<S: AsyncRead + Unpin>(
    client: &ClientState,
    stream: &mut S,
    rbuf: &mut BytesMut,
    mut killed: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    mut stopped: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    query_buffer_limit: usize,
) -> Wake {
    let deadline = client.block.as_ref().and_then(|b| b.deadline);
    let slot = &client.shared.wait;
    let decided = slot.decided();
    tokio::pin!(decided);
    let timeout = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    loop {
        if rbuf.capacity() - rbuf.len() < 1024 {
            rbuf.reserve(READ_BUF_BYTES);
        }
        tokio::select! {
            biased;
            _ = killed.as_mut() => return Wake::Close,
            _ = stopped.as_mut() => return Wake::Close,
            _ = &mut decided => return Wake::Ended,
            _ = &mut timeout => return Wake::Ended,
            _ = client.shared.outbox.ready() => return Wake::Push,
            r = stream.read_buf(rbuf) => match r {
                Ok(n) if n > 0 && rbuf.len() <= query_buffer_limit => {}
                _ => return Wake::Close,
            },
        }
    }
}

/// CLIENT REPLY OFF / SKIP: drop the reply just written when replies are off or skipped;
/// returns whether the command's reply is dropped.
fn apply_reply_mode(
    client: &mut ClientState,
    out: &mut Reply,
    before: usize,
    was: ReplyMode,
) -> bool {
    let now = client.reply_mode;
    let drop = now == ReplyMode::Off || (was == ReplyMode::Skipping && now == ReplyMode::Skipping);
    if drop {
        out.truncate(before);
    }
    client.reply_mode = match now {
        ReplyMode::Skipping if was == ReplyMode::Skipping => ReplyMode::On,
        ReplyMode::SkipNext => ReplyMode::Skipping,
        m => m,
    };
    drop
}
