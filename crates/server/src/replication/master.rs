//! The master side: a connection that sent SYNC or PSYNC becomes a replica (Redis's
//! `syncCommand` and `masterTryPartialResynchronization`), and WAIT.
//!
//! The command only records the request (`ClientRepl::sync`); the connection's task then
//! hands its socket to [`serve_replica`], which answers `+CONTINUE` and sends the backlog
//! from the offset asked, or answers `+FULLRESYNC <id> <offset>` and sends a snapshot of
//! that instant (`fullsync`), then streams the replication stream (`feed`) for as long as
//! the replica stays, reading its `REPLCONF ACK`s. It runs on the connection's own I/O
//! thread and socket (TCP, TLS or Unix alike) and costs nothing while nothing is written.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::feed::{Replica, ReplicaPhase};
use crate::client::ClientState;
use crate::server::Server;

/// Bytes of the stream written to a replica at a time.
const SEND_BYTES: usize = 1 << 16;
/// Largest request a replica may send on its link (REPLCONF ACK and the like).
const MAX_REPLICA_QUERY_BYTES: usize = 1 << 20;

/// A SYNC (`psync: None`) or PSYNC the connection sent.
pub struct SyncRequest {
    pub psync: Option<(String, i64)>,
}

/// A WAIT that blocks: `replicas` acknowledging `offset`, until `deadline`.
pub struct WaitAcks {
    pub replicas: usize,
    pub offset: i64,
    pub deadline: Option<Instant>,
}

/// Serve a replica on this connection until it goes away, is killed or the server stops.
pub async fn serve_replica<S>(
    srv: &Arc<Server>,
    stream: &mut S,
    rbuf: &mut BytesMut,
    client: &mut ClientState,
    mut ended: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(request) = client.repl.sync.take() else {
        return;
    };
    let ip = client
        .repl
        .ip_address
        .clone()
        .unwrap_or_else(|| peer_ip(&client.shared.addr));
    let port = client.repl.listening_port;
    let replica = Arc::new(Replica::new(client.id, ip, port));
    client
        .shared
        .role
        .store(crate::client::ROLE_REPLICA, Relaxed);
    let name = format!("{}:{}", replica.ip, port);
    replica
        .acks_expected
        .store(request.psync.is_some(), Relaxed);
    let continued = match &request.psync {
        Some((id, from)) => try_continue(srv, &replica, id, *from, client.repl.capa_psync2),
        None => None,
    };
    let mut started_as = Started::Continued;
    let started = match continued {
        Some(reply) => {
            srv.repl.syncs[1].fetch_add(1, Relaxed);
            stream.write_all(&reply).await.is_ok()
        }
        None => {
            srv.repl.syncs[0].fetch_add(1, Relaxed);
            if let Some((id, _)) = &request.psync {
                if id != "?" {
                    srv.repl.syncs[2].fetch_add(1, Relaxed);
                    crate::log_notice!("Partial resynchronization not accepted for replica {name}: a full resync follows");
                }
            }
            // A filtered payload is always made over the socket, as Redis forces it.
            let filter = client.repl.filter;
            let diskless = client.repl.capa_eof
                && (filter.any() || srv.config.read().get_bool("repl-diskless-sync"));
            let psync = request.psync.is_some();
            started_as = if diskless {
                Started::Diskless
            } else {
                Started::Disk
            };
            full_sync(
                srv,
                stream,
                &replica,
                diskless,
                filter,
                psync,
                ended.as_mut(),
            )
            .await
        }
    };
    if started && client.repl.rdb_only {
        // It asked for the payload only (`redis-cli --rdb`): no stream follows.
        crate::log_notice!(
            "RDB transfer completed, rdb only replica ({name}) should be disconnected asap"
        );
    } else if started {
        replica.set_phase(ReplicaPhase::Online);
        // After an EOF-marked payload the stream waits for the replica's first ACK: glued
        // to the payload, its bytes would hide the end mark (Redis's
        // `repl_start_cmd_stream_on_ack`).
        let hold = matches!(started_as, Started::Diskless);
        if hold {
            crate::log_notice!("Streamed RDB transfer with replica {name} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming");
        } else {
            crate::log_notice!("Synchronization with replica {name} succeeded");
        }
        stream_to(srv, stream, rbuf, &replica, hold, ended).await;
    }
    srv.repl.feed.detach(&replica);
    crate::log_notice!("Connection with replica {name} lost.");
}

/// How a replica's stream began.
enum Started {
    Continued,
    Disk,
    Diskless,
}

/// `+CONTINUE` if the history asked for is held (the current ID, or the previous one up to
/// where it ended, and the offset still in the backlog): the replica is attached there.
fn try_continue(
    srv: &Server,
    replica: &Arc<Replica>,
    id: &str,
    from: i64,
    psync2: bool,
) -> Option<Vec<u8>> {
    let (my_id, my_id2) = srv.repl.ids();
    let known = id.eq_ignore_ascii_case(&my_id)
        || (id.eq_ignore_ascii_case(&my_id2) && from <= srv.repl.second_offset());
    if !known || !srv.repl.feed.attach_from(replica, from) {
        return None;
    }
    crate::log_notice!(
        "Partial resynchronization request from {}:{} accepted. Sending {} bytes of backlog starting from offset {from}.",
        replica.ip,
        replica.port,
        srv.repl.feed.offset() + 1 - from
    );
    Some(if psync2 {
        format!("+CONTINUE {my_id}\r\n").into_bytes()
    } else {
        b"+CONTINUE\r\n".to_vec()
    })
}

/// Wait for a snapshot (sending the `\n` keep-alives Redis sends meanwhile), answer
/// `+FULLRESYNC` and send the payload. Whether it was all sent.
async fn full_sync<S>(
    srv: &Arc<Server>,
    stream: &mut S,
    replica: &Arc<Replica>,
    diskless: bool,
    filter: super::fullsync::Filter,
    psync: bool,
    mut ended: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> bool
where
    S: AsyncWrite + AsyncRead + Unpin,
{
    if srv.repl.ensure_backlog(srv) {
        let (id, id2) = srv.repl.ids();
        crate::log_notice!(
            "Replication backlog created, my new replication IDs are '{id}' and '{id2}'"
        );
    }
    let (delay, max_replicas) = {
        let c = srv.config.read();
        let n = |k: &str| c.get(k).parse::<u64>().unwrap_or(0);
        (
            Duration::from_secs(n("repl-diskless-sync-delay")),
            n("repl-diskless-sync-max-replicas") as usize,
        )
    };
    // A diskless sync waits in the queue to share a transfer with replicas arriving within
    // the delay; it leaves the queue however this ends.
    // (A filtered payload is made for its replica alone.)
    let shared = diskless && !filter.any();
    let slot = shared.then(|| srv.repl.sync_queue.join(replica));
    let _queued = scopeguard(|| {
        if shared {
            srv.repl.sync_queue.leave(replica);
        }
    });
    let mut last_newline = Instant::now();
    let (offset, mut chunks) = loop {
        if let Some(slot) = &slot {
            srv.repl.sync_queue.start_if_due(srv, delay, max_replicas);
            if let Some(begun) = slot.lock().take() {
                break begun;
            }
        } else if let Ok((offset, mut rxs)) =
            super::fullsync::begin(srv, std::slice::from_ref(replica), diskless, filter)
        {
            if let Some(rx) = rxs.pop() {
                break (offset, rx);
            }
        }
        if last_newline.elapsed() >= Duration::from_secs(1) {
            last_newline = Instant::now();
            if stream.write_all(b"\n").await.is_err() {
                return false;
            }
        }
        tokio::select! {
            biased;
            _ = ended.as_mut() => return false,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    };
    crate::log_notice!(
        "Starting {} full sync for replica {}:{} at offset {offset}",
        if diskless { "diskless" } else { "disk-backed" },
        replica.ip,
        replica.port
    );
    replica.set_phase(ReplicaPhase::SendBulk);
    if psync {
        let id = srv.repl.ids().0;
        let line = format!("+FULLRESYNC {id} {offset}\r\n");
        if stream.write_all(line.as_bytes()).await.is_err() {
            return false;
        }
    }
    loop {
        let chunk = tokio::select! {
            biased;
            _ = ended.as_mut() => return false,
            c = chunks.recv() => c,
        };
        match chunk {
            None => return false,
            Some(c) if c.is_empty() => return stream.flush().await.is_ok(),
            Some(c) => {
                if stream.write_all(&c).await.is_err() {
                    return false;
                }
            }
        }
    }
}

/// Send the stream from the replica's offset on, and read its ACKs, until it goes: it closes,
/// is dropped over its output-buffer limit (even while a write to it is stuck), or sends no
/// ACK for `repl-timeout` seconds.
async fn stream_to<S>(
    srv: &Server,
    stream: &mut S,
    rbuf: &mut BytesMut,
    replica: &Replica,
    mut hold_until_ack: bool,
    mut ended: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let feed = &srv.repl.feed;
    loop {
        let notified = feed.data.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Held: nothing is written until the first ACK, read below.
        if !hold_until_ack && !send_pending(feed, stream, replica, ended.as_mut()).await {
            return;
        }
        if timed_out(srv, replica) {
            crate::log_warning!(
                "Disconnecting timedout replica (streaming sync): {}:{}",
                replica.ip,
                replica.port
            );
            return;
        }
        if rbuf.capacity() - rbuf.len() < 1024 {
            rbuf.reserve(4096);
        }
        tokio::select! {
            biased;
            _ = ended.as_mut() => return,
            _ = &mut notified => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            r = stream.read_buf(rbuf) => match r {
                Ok(n) if n > 0 && rbuf.len() <= MAX_REPLICA_QUERY_BYTES => {
                    match read_acks(srv, rbuf, replica) {
                        None => return,
                        Some(acked) => hold_until_ack &= !acked,
                    }
                }
                _ => return,
            },
        }
    }
}

/// Write what the stream holds for the replica; `false` when it was dropped over its
/// output-buffer limit.
async fn send_pending<S: AsyncWrite + Unpin>(
    feed: &super::feed::Feed,
    stream: &mut S,
    replica: &Replica,
    mut ended: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> bool {
    loop {
        let bytes = match feed.read_for(replica, SEND_BYTES) {
            Err(_) => {
                crate::log_warning!(
                    "Client id={} (replica {}:{}) scheduled to be closed ASAP for overcoming of output buffer limits.",
                    replica.client_id,
                    replica.ip,
                    replica.port
                );
                return false;
            }
            Ok(bytes) if bytes.is_empty() => return true,
            Ok(bytes) => bytes,
        };
        if !write_unless_dropped(feed, stream, &bytes, replica, ended.as_mut()).await {
            continue;
        }
        replica.next.fetch_add(bytes.len() as i64, Relaxed);
    }
}

/// Write `bytes`, giving up when the replica is dropped (or the connection ends) meanwhile;
/// whether they were written. After `false`, `read_for` reports the drop.
async fn write_unless_dropped<S: AsyncWrite + Unpin>(
    feed: &super::feed::Feed,
    stream: &mut S,
    bytes: &[u8],
    replica: &Replica,
    mut ended: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> bool {
    let write = stream.write_all(bytes);
    tokio::pin!(write);
    loop {
        let notified = feed.data.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if replica.dropped.load(Relaxed) {
            return false;
        }
        tokio::select! {
            biased;
            _ = ended.as_mut() => {
                replica.dropped.store(true, Relaxed);
                return false;
            }
            r = &mut write => {
                if r.is_err() {
                    replica.dropped.store(true, Relaxed);
                }
                return r.is_ok();
            }
            _ = &mut notified => {}
        }
    }
}

/// No ACK for `repl-timeout` seconds (Redis's check on replicas that send them).
fn timed_out(srv: &Server, replica: &Replica) -> bool {
    if !replica.acks_expected.load(Relaxed) {
        return false;
    }
    let timeout_secs = srv
        .config
        .read()
        .get("repl-timeout")
        .parse::<u64>()
        .unwrap_or(60);
    let since_ms = crate::util::now_ms().saturating_sub(replica.ack_ms.load(Relaxed));
    since_ms / 1000 > timeout_secs
}

/// Take the replica's requests from `rbuf`: `REPLCONF ACK <offset>` updates its offset; the
/// rest needs no answer on this link. False on a protocol error.
/// Take the replica's `REPLCONF ACK`s from `rbuf`: whether one came (`None`: a protocol
/// error, the replica is dropped).
fn read_acks(srv: &Server, rbuf: &mut BytesMut, replica: &Replica) -> Option<bool> {
    let limits = resp::Limits {
        max_bulk_bytes: MAX_REPLICA_QUERY_BYTES as i64,
        auth_required: false,
    };
    let mut parser = resp::RequestParser::new();
    let mut pos = 0;
    let mut acked = false;
    while pos < rbuf.len() {
        match parser.parse(&rbuf[pos..], limits) {
            Ok(resp::Parsed::Command { consumed }) => {
                let argv = parser.argv(&rbuf[pos..]);
                if argv.len() >= 3
                    && argv.get(0).eq_ignore_ascii_case(b"replconf")
                    && argv.get(1).eq_ignore_ascii_case(b"ack")
                {
                    if let Some(offset) = resp::parse_i64(argv.get(2)) {
                        if offset > replica.ack.load(Relaxed) {
                            replica.ack.store(offset, Relaxed);
                        }
                        replica.ack_ms.store(crate::util::now_ms(), Relaxed);
                        srv.repl.feed.acks.notify_waiters();
                        acked = true;
                    }
                }
                parser.reset();
                pos += consumed;
            }
            Ok(resp::Parsed::Empty { consumed }) => pos += consumed,
            Ok(resp::Parsed::Incomplete { .. }) => break,
            Err(e) => {
                crate::log_warning!(
                    "Protocol error from replica {}:{}: {e}",
                    replica.ip,
                    replica.port
                );
                return None;
            }
        }
    }
    rbuf.advance(pos);
    Some(acked)
}

/// The IP part of a peer address (`ip:port` or `[ipv6]:port`).
fn peer_ip(addr: &str) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// Wait until `wait.replicas` replicas acknowledged `wait.offset` or the deadline passes;
/// the number that did (Redis replies with it either way). Like a blocked client, the
/// connection keeps reading meanwhile; `None` when it closes or is killed.
pub async fn wait_acks<S>(
    srv: &Server,
    wait: &WaitAcks,
    stream: &mut S,
    rbuf: &mut BytesMut,
    query_buffer_limit: usize,
    mut ended: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Option<usize>
where
    S: AsyncRead + Unpin,
{
    let feed = &srv.repl.feed;
    let timeout = async {
        match wait.deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    loop {
        let notified = feed.acks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let acked = feed.acked(wait.offset);
        if acked >= wait.replicas {
            return Some(acked);
        }
        if rbuf.capacity() - rbuf.len() < 1024 {
            rbuf.reserve(4096);
        }
        tokio::select! {
            biased;
            _ = ended.as_mut() => return None,
            _ = &mut notified => {}
            _ = &mut timeout => return Some(feed.acked(wait.offset)),
            r = stream.read_buf(rbuf) => match r {
                Ok(n) if n > 0 && rbuf.len() <= query_buffer_limit => {}
                _ => return None,
            },
        }
    }
}

/// Runs `f` when dropped.
struct Guard<F: FnMut()>(F);

impl<F: FnMut()> Drop for Guard<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

fn scopeguard<F: FnMut()>(f: F) -> Guard<F> {
    Guard(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ip_of_v4_and_v6_addresses() {
        assert_eq!(peer_ip("127.0.0.1:6380"), "127.0.0.1");
        assert_eq!(peer_ip("[::1]:6380"), "::1");
    }
}
