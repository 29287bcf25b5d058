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
use crate::cmd::{execute, Flow};
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
        let n = tokio::select! {
            biased;
            _ = &mut killed => break,
            _ = &mut stopped => break,
            r = read_with_timeout(&mut stream, &mut rbuf, cfg.idle_timeout) => match r {
                Some(n) if n > 0 => n,
                _ => break,
            },
        };
        stats.net_input_bytes.fetch_add(n as u64, Relaxed);
        shared
            .last_interaction_ms
            .store(crate::util::now_ms(), Relaxed);
        let close = run_batch(&srv, &mut client, &mut parser, &mut rbuf, &mut out, &cfg);
        shared.query_buf_bytes.store(rbuf.len(), Relaxed);
        if !out.is_empty() {
            if stream.write_all(out.as_bytes()).await.is_err() {
                break;
            }
            stats.net_output_bytes.fetch_add(out.len() as u64, Relaxed);
            out.clear();
            out.shrink(REPLY_BUF_KEEP_BYTES);
        }
        if close {
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
    let _ = stream.shutdown().await;
    srv.clients.unregister(id);
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

/// Run every complete request in `rbuf`; returns true if the connection must close after the
/// replies are sent.
fn run_batch(
    srv: &Server,
    client: &mut ClientState,
    parser: &mut RequestParser,
    rbuf: &mut BytesMut,
    out: &mut Reply,
    cfg: &ConnConfig,
) -> bool {
    let mut pos = 0;
    let mut close = false;
    while pos < rbuf.len() {
        let limits = Limits {
            max_bulk_bytes: cfg.max_bulk_bytes,
            auth_required: !client.authenticated && srv.auth_required(),
        };
        match parser.parse(&rbuf[pos..], limits) {
            Ok(Parsed::Command { consumed }) => {
                let argv = parser.argv(&rbuf[pos..]);
                let before = out.len();
                let mode_before = client.reply_mode;
                let flow = execute(srv, client, out, argv);
                apply_reply_mode(client, out, before, mode_before);
                parser.reset();
                pos += consumed;
                if flow == Flow::CloseAfterReply {
                    close = true;
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
                close = true;
                break;
            }
        }
    }
    rbuf.advance(pos);
    close
}

/// CLIENT REPLY OFF / SKIP: drop the reply just written when replies are off or skipped.
fn apply_reply_mode(client: &mut ClientState, out: &mut Reply, before: usize, was: ReplyMode) {
    let now = client.reply_mode;
    if now == ReplyMode::Off || (was == ReplyMode::Skipping && now == ReplyMode::Skipping) {
        out.truncate(before);
    }
    client.reply_mode = match now {
        ReplyMode::Skipping if was == ReplyMode::Skipping => ReplyMode::On,
        ReplyMode::SkipNext => ReplyMode::Skipping,
        m => m,
    };
}
