//! The replica's link to its master, on its own thread (Redis's `syncWithMaster` and
//! `readSyncBulkPayload`, then the master client): connect, handshake (PING, AUTH, REPLCONF
//! listening-port and capa eof psync2), PSYNC with the history held (`? -1` the first time),
//! then either `+FULLRESYNC <id> <offset>` and the RDB payload (`$<len>` or the diskless
//! `$EOF:<40-byte mark>` form), loaded in place of the dataset, or `+CONTINUE` and nothing to
//! load; then the command stream, applied as the master's client (`cmd::execute`, so each
//! write is also logged to this server's AOF), its offset acknowledged every second and on
//! `REPLCONF GETACK`. Any failure drops the link; the thread retries after a second with
//! PSYNC from the offset reached, until REPLICAOF changes the master.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Link;
use crate::server::Server;

/// How long a read waits before the thread looks at its generation and its ACK timer.
pub(super) const POLL: Duration = Duration::from_millis(100);
/// Largest line of the handshake (a reply, or the payload's header).
const MAX_LINE: usize = 1 << 16;

/// Why the link ended.
#[derive(Debug, thiserror::Error)]
pub(super) enum LinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
    /// REPLICAOF moved on: not an error, the thread ends.
    #[error("the master changed")]
    Superseded,
}

pub(super) fn start(srv: Arc<Server>, host: String, port: u16, generation: u64) {
    let spawned = std::thread::Builder::new()
        .name("basalt-replica".into())
        .spawn(move || run(&srv, &host, port, generation));
    if let Err(e) = spawned {
        crate::log_warning!("Can't start the replication link thread: {e}");
    }
}

fn run(srv: &Arc<Server>, host: &str, port: u16, generation: u64) {
    while srv.repl.current(generation) && srv.stop_reason().is_none() {
        srv.repl.set_link(generation, Link::Connecting);
        match link(srv, host, port, generation) {
            Err(LinkError::Superseded) => return,
            Err(e) => {
                crate::log_warning!("Connection with master lost: {e}");
                // A failover's target that cannot be reached: a master again.
                if srv.repl.failover_psync() {
                    srv.repl.abort_failover(srv, &e.to_string());
                }
            }
            Ok(()) => {}
        }
        srv.repl.set_link(generation, Link::Connect);
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One connection to the master, from the handshake to the end of the stream.
fn link(srv: &Arc<Server>, host: &str, port: u16, generation: u64) -> Result<(), LinkError> {
    let timeout = Duration::from_secs(
        srv.config
            .read()
            .get("repl-timeout")
            .parse::<u64>()
            .unwrap_or(60)
            .max(1),
    );
    let stream = TcpStream::connect((host, port))?;
    crate::log_notice!("MASTER <-> REPLICA sync started");
    stream.set_read_timeout(Some(POLL))?;
    stream.set_nodelay(true)?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::with_capacity(1 << 16, stream);
    let mut ask = |args: &[&[u8]]| -> Result<Vec<u8>, LinkError> {
        let mut buf = Vec::new();
        persist::encode_command(&mut buf, args);
        w.write_all(&buf)?;
        read_line(srv, &mut r, generation, timeout)
    };
    let pong = ask(&[b"PING"])?;
    if pong.starts_with(b"-NOAUTH")
        || pong.starts_with(b"-NOPERM")
        || pong.starts_with(b"-ERR operation not permitted")
    {
        // Authentication comes next; an error other than these means the master is not ready.
    } else if pong.starts_with(b"-") {
        return Err(LinkError::Protocol(format!(
            "Error reply to PING from master: '{}'",
            String::from_utf8_lossy(&pong)
        )));
    }
    let (user, pass) = {
        let c = srv.config.read();
        (
            c.get("masteruser").to_string(),
            c.get("masterauth").to_string(),
        )
    };
    if !pass.is_empty() {
        let reply = if user.is_empty() {
            ask(&[b"AUTH", pass.as_bytes()])?
        } else {
            ask(&[b"AUTH", user.as_bytes(), pass.as_bytes()])?
        };
        if reply.starts_with(b"-") {
            return Err(LinkError::Protocol(format!(
                "Unable to AUTH to MASTER: {}",
                String::from_utf8_lossy(&reply)
            )));
        }
    }
    // What the master (and Sentinel, through its INFO) is told: `replica-announce-port` and
    // `replica-announce-ip` when set (behind NAT), the listening port otherwise.
    let (announce_port, announce_ip) = {
        let c = srv.config.read();
        (
            c.get("replica-announce-port").parse::<u16>().unwrap_or(0),
            c.get("replica-announce-ip").to_string(),
        )
    };
    let my_port = match announce_port {
        0 => srv.tcp_port.load(Relaxed).to_string(),
        p => p.to_string(),
    };
    // Errors here are not fatal (an old master may not know them), as in Redis.
    ask(&[b"REPLCONF", b"listening-port", my_port.as_bytes()])?;
    if !announce_ip.is_empty() {
        ask(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])?;
    }
    ask(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
    let (id, from) = srv.repl.psync_from();
    let synced_before = srv.repl.feed.active();
    let from_text = from.to_string();
    let mut psync: Vec<&[u8]> = if synced_before {
        vec![b"PSYNC", id.as_bytes(), from_text.as_bytes()]
    } else {
        vec![b"PSYNC", b"?", b"-1"]
    };
    // A FAILOVER hands over to this master: it turns master on seeing its own ID here.
    let failing_over = srv.repl.failover_psync();
    if failing_over {
        psync.push(b"FAILOVER");
    }
    let reply = ask(&psync)?;
    if failing_over {
        let accepted = reply.starts_with(b"+FULLRESYNC") || reply.starts_with(b"+CONTINUE");
        srv.repl.failover_psync_answered(srv, accepted);
    }
    let text = String::from_utf8_lossy(&reply).into_owned();
    let mut words = text.split_whitespace();
    match words.next() {
        Some("+FULLRESYNC") => {
            let replid = words.next().unwrap_or("").to_string();
            let offset: i64 = words.next().and_then(|o| o.parse().ok()).unwrap_or(-1);
            if replid.len() != 40 || offset < 0 {
                return Err(LinkError::Protocol(format!("bad FULLRESYNC reply: {text}")));
            }
            crate::log_notice!("Full resync from master: {replid}:{offset}");
            srv.repl.set_link(generation, Link::Sync);
            // This server's own replicas must sync again too: its data is being replaced.
            srv.repl.feed.drop_all();
            srv.repl.loaded_stream_db.store(0, Relaxed);
            super::payload::full_sync(srv, &mut r, generation, timeout)?;
            srv.repl.adopt(srv, &replid, offset);
            srv.repl
                .stream_db
                .store(srv.repl.loaded_stream_db.load(Relaxed), Relaxed);
        }
        Some("+CONTINUE") => {
            if let Some(new_id) = words.next() {
                srv.repl.switch_id(new_id);
            }
            crate::log_notice!("Successful partial resynchronization with master.");
        }
        _ => {
            return Err(LinkError::Protocol(format!(
                "Unexpected reply to PSYNC from master: {text}"
            )))
        }
    }
    crate::log_notice!("MASTER <-> REPLICA sync: Finished with success");
    srv.repl.set_link(generation, Link::Connected);
    let mut w = r.get_ref().try_clone()?;
    stream_commands(srv, &mut r, &mut w, generation, timeout)
}

/// One line of the handshake (`\n` keep-alives the master sends while it prepares the
/// payload are skipped), without its CRLF.
pub(super) fn read_line(
    srv: &Server,
    r: &mut BufReader<TcpStream>,
    generation: u64,
    timeout: Duration,
) -> Result<Vec<u8>, LinkError> {
    let mut line = Vec::new();
    let mut last = Instant::now();
    loop {
        match r.read_until(b'\n', &mut line) {
            Ok(0) => {
                return Err(LinkError::Protocol(
                    "the master closed the connection".into(),
                ))
            }
            Ok(_) if line == b"\n" => {
                line.clear();
                last = Instant::now();
            }
            Ok(_) if line.ends_with(b"\n") => {
                while line.last().is_some_and(|&c| c == b'\n' || c == b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                if !srv.repl.current(generation) {
                    return Err(LinkError::Superseded);
                }
                if last.elapsed() > timeout {
                    return Err(LinkError::Protocol("timeout waiting for the master".into()));
                }
            }
            Err(e) => return Err(e.into()),
        }
        if line.len() > MAX_LINE {
            return Err(LinkError::Protocol("line too long from the master".into()));
        }
    }
}

pub(super) fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Apply the master's command stream until the link drops.
fn stream_commands(
    srv: &Arc<Server>,
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    generation: u64,
    timeout: Duration,
) -> Result<(), LinkError> {
    let shared = srv
        .clients
        .register(String::new(), String::new(), -1, false);
    let id = shared.id;
    shared.role.store(crate::client::ROLE_MASTER, Relaxed);
    let mut client = crate::client::ClientState::new(shared, srv.stats.register_thread(), true);
    // The master's writes must apply whatever this server's own checks say (read-only,
    // trimming limits), as Redis's `mustObeyClient`.
    client.replaying = true;
    // The stream goes on in the database it had selected: as of the last command applied
    // (after `+CONTINUE`), or the payload's `repl-stream-db` (after a full sync).
    client.db = srv.repl.stream_db.load(Relaxed);
    let result = apply_loop(srv, &mut client, r, w, generation, timeout);
    srv.clients.unregister(id);
    result
}

fn apply_loop(
    srv: &Arc<Server>,
    client: &mut crate::client::ClientState,
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
    generation: u64,
    timeout: Duration,
) -> Result<(), LinkError> {
    let limits = resp::Limits {
        max_bulk_bytes: srv.config.read().proto_max_bulk_len(),
        auth_required: false,
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut out = resp::Reply::new();
    let mut last_io = Instant::now();
    let mut last_ack = Instant::now();
    // What was already buffered by the handshake's reader comes first.
    pending.extend_from_slice(r.buffer());
    r.consume(r.buffer().len());
    // The first ACK at once: after a diskless payload the master sends nothing more until
    // it (so the payload's end mark is the last thing read), as Redis's replicas do.
    send_ack(srv, w)?;
    loop {
        if client.shared.is_killed() {
            // CLIENT KILL TYPE master: the link drops and reconnects (a partial resync).
            return Err(LinkError::Protocol("the master's client was killed".into()));
        }
        let mut parser = resp::RequestParser::new();
        loop {
            match parser.parse(&pending, limits) {
                Ok(resp::Parsed::Command { consumed }) => {
                    let argv = parser.argv(&pending);
                    if argv.len() >= 2
                        && argv.get(0).eq_ignore_ascii_case(b"replconf")
                        && argv.get(1).eq_ignore_ascii_case(b"getack")
                    {
                        send_ack(srv, w)?;
                        srv.repl.feed.append_raw(&pending[..consumed]);
                    } else {
                        // Applied and fed on as received in one step under the apply lock,
                        // which a snapshot for this server's own replicas also takes: its
                        // payload, offset and stream database agree. (Fed as received, so
                        // this server's replicas share the master's offsets.)
                        let bytes = &pending[..consumed];
                        let applied = srv.repl.apply_if_current(generation, || {
                            crate::cmd::execute(srv, client, &mut out, argv);
                            srv.repl.feed.append_raw(bytes);
                            srv.repl.stream_db.store(client.db, Relaxed);
                        });
                        if applied.is_none() {
                            return Err(LinkError::Superseded);
                        }
                        out.clear();
                    }
                    pending.drain(..consumed);
                    parser.reset();
                }
                Ok(resp::Parsed::Empty { consumed }) => {
                    srv.repl.feed.append_raw(&pending[..consumed]);
                    pending.drain(..consumed);
                    parser.reset();
                }
                Ok(resp::Parsed::Incomplete { .. }) => break,
                Err(e) => {
                    return Err(LinkError::Protocol(format!(
                        "Protocol error from the master: {e:?}"
                    )))
                }
            }
        }
        if last_ack.elapsed() >= Duration::from_secs(1) {
            send_ack(srv, w)?;
            last_ack = Instant::now();
        }
        match r.get_mut().read(&mut buf) {
            Ok(0) => {
                return Err(LinkError::Protocol(
                    "the master closed the connection".into(),
                ))
            }
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                last_io = Instant::now();
                srv.repl
                    .last_io_secs
                    .store(crate::util::now_ms() / 1000, Relaxed);
            }
            Err(e) if is_timeout(&e) => {
                super::payload::check_waiting(srv, generation, last_io, timeout)?
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn send_ack(srv: &Server, w: &mut TcpStream) -> Result<(), LinkError> {
    let offset = srv.repl.feed.offset().to_string();
    let mut buf = Vec::new();
    persist::encode_command(&mut buf, &[b"REPLCONF", b"ACK", offset.as_bytes()]);
    w.write_all(&buf)?;
    Ok(())
}
