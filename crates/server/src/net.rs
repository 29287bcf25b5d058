//! Listening sockets, the I/O threads, and the shutdown sequence.
//!
//! One acceptor hands each new connection to an I/O thread, round robin. Every I/O thread runs
//! its own single-threaded event loop and owns its connections for their whole life; nothing on
//! the command path crosses threads except the shard locks.

use std::io::Write;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use socket2::{Domain, Socket, TcpKeepalive, Type};
use tokio::sync::mpsc;

use crate::server::{Server, StopReason};
use crate::{log_notice, log_warning};

/// A connection on its way from the acceptor to an I/O thread.
enum NewConn {
    Tcp(std::net::TcpStream, Arc<crate::client::ClientShared>),
    /// Accepted on `tls-port`: the handshake is still to be done.
    Tls(std::net::TcpStream, Arc<crate::client::ClientShared>),
    Unix(
        std::os::unix::net::UnixStream,
        Arc<crate::client::ClientShared>,
    ),
}

/// What opening listeners later needs (CONFIG SET port, tls-port, bind): the acceptor's
/// runtime, the I/O threads, and the listeners' tasks (aborting one closes its socket).
pub struct Listeners {
    handle: tokio::runtime::Handle,
    workers: Vec<mpsc::UnboundedSender<NewConn>>,
    next: Arc<std::sync::atomic::AtomicUsize>,
    tcp_tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    tls_tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Spawn the accept loop of one listener on the acceptor's runtime.
fn spawn_accept_loop(
    srv: &Arc<Server>,
    l: &Listeners,
    listener: StdTcpListener,
    is_tls: bool,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let _entered = l.handle.enter();
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let (srv, workers, next) = (srv.clone(), l.workers.clone(), l.next.clone());
    Ok(l.handle.spawn(async move {
        loop {
            let Ok((s, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let Ok(s) = s.into_std() else { continue };
            accept_tcp(&srv, &workers, &next, s, peer, is_tls);
        }
    }))
}

const CANNOT_LISTEN: &str = "Unable to listen on this port. Check server logs.";

/// Bind `port` (plain or TLS) on the configured addresses, ready to replace the listeners
/// of that kind; nothing is bound for port 0.
fn bind_kind(
    srv: &Arc<Server>,
    is_tls: bool,
    port: u16,
) -> Result<Vec<StdTcpListener>, &'static str> {
    if port == 0 {
        return Ok(Vec::new());
    }
    if is_tls {
        if let Err(e) = srv.tls.configure(&srv.config.read()) {
            log_warning!("{e}");
            return Err("Unable to update TLS configuration. Check server logs.");
        }
    }
    bind_tcp(srv, port).map_err(|e| {
        log_warning!("{e:#}");
        CANNOT_LISTEN
    })
}

/// Put `bound` in service for one kind of listener and close the ones it replaces.
fn swap_listeners(
    srv: &Arc<Server>,
    l: &Listeners,
    is_tls: bool,
    bound: Vec<StdTcpListener>,
) -> Result<(), &'static str> {
    let mut fresh = Vec::new();
    for listener in bound {
        fresh.push(spawn_accept_loop(srv, l, listener, is_tls).map_err(|e| {
            log_warning!("{e}");
            CANNOT_LISTEN
        })?);
    }
    let tasks = if is_tls { &l.tls_tasks } else { &l.tcp_tasks };
    close_all(std::mem::replace(&mut *tasks.lock(), fresh));
    Ok(())
}

/// Stop accept loops and wait (briefly: the acceptor's thread drops them at once) until their
/// sockets are closed, so the port is free and refuses connections when this returns.
fn close_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in &tasks {
        task.abort();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while tasks.iter().any(|t| !t.is_finished()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// CONFIG SET port / tls-port: listen on the new port (TLS configured first), then close
/// the old listeners; 0 closes them. The error is Redis's reply text.
pub fn change_port(srv: &Arc<Server>, is_tls: bool, port: u16) -> Result<(), &'static str> {
    let Some(l) = srv.listeners.get() else {
        return Err(CANNOT_LISTEN);
    };
    let bound = bind_kind(srv, is_tls, port)?;
    swap_listeners(srv, l, is_tls, bound)?;
    if !is_tls {
        srv.tcp_port.store(u64::from(port), Relaxed);
    }
    Ok(())
}

/// CONFIG SET bind: both ports on the new addresses. As Redis's `changeBindAddr`, the old
/// listeners close first (the addresses may overlap); when the new ones cannot all be
/// opened, the old addresses (`old_bind`) are opened again and nothing changes.
pub fn change_bind(srv: &Arc<Server>, old_bind: &str) -> Result<(), &'static str> {
    const FAILED: &str = "Failed to bind to specified addresses.";
    let Some(l) = srv.listeners.get() else {
        return Err(FAILED);
    };
    let (binds, port, tls_port) = {
        let c = srv.config.read();
        (c.bind(), c.port(), c.get_i64("tls-port") as u16)
    };
    close_all(std::mem::take(&mut *l.tcp_tasks.lock()));
    close_all(std::mem::take(&mut *l.tls_tasks.lock()));
    let open = |binds: &[String]| -> anyhow::Result<(Vec<StdTcpListener>, Vec<StdTcpListener>)> {
        Ok((
            bind_addrs(srv, binds, port)?,
            bind_addrs(srv, binds, tls_port)?,
        ))
    };
    let (result, (tcp, tls)) = match open(&binds) {
        Ok(both) => (Ok(()), both),
        Err(e) => {
            log_warning!("{e:#}");
            let old: Vec<String> = old_bind.split_whitespace().map(str::to_string).collect();
            let restored = open(&old).unwrap_or_else(|e| {
                log_warning!("Failed to restore the old listeners: {e:#}");
                (Vec::new(), Vec::new())
            });
            (Err(FAILED), restored)
        }
    };
    swap_listeners(srv, l, false, tcp)?;
    swap_listeners(srv, l, true, tls)?;
    result
}

/// Bind every configured address on `port`. A `-` before an address means "skip it if
/// unavailable".
pub fn bind_tcp(srv: &Server, port: u16) -> anyhow::Result<Vec<StdTcpListener>> {
    let binds = srv.config.read().bind();
    bind_addrs(srv, &binds, port)
}

/// Bind `binds` (as the `bind` directive lists them) on `port`.
pub(crate) fn bind_addrs(
    srv: &Server,
    binds: &[String],
    port: u16,
) -> anyhow::Result<Vec<StdTcpListener>> {
    let (backlog, mark) = {
        let c = srv.config.read();
        let backlog = c.get("tcp-backlog").parse::<i32>().unwrap_or(511);
        (backlog, c.get("socket-mark-id").parse::<u32>().unwrap_or(0))
    };
    if port == 0 {
        return Ok(Vec::new());
    }
    let mut listeners = Vec::new();
    for b in binds.iter().cloned() {
        let (optional, addr) = match b.strip_prefix('-') {
            Some(a) => (true, a.to_string()),
            None => (false, b),
        };
        let host = match addr.as_str() {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let sock_addr: SocketAddr = match format!("{host}:{port}").parse() {
            Ok(a) => a,
            Err(_) => format!("[{host}]:{port}")
                .parse()
                .with_context(|| format!("invalid bind address '{addr}'"))?,
        };
        match listen(sock_addr, backlog, mark) {
            Ok(l) => listeners.push(l),
            Err(e) if optional => {
                log_warning!(
                    "Warning: Could not create server TCP listening socket {addr}:{port}: {e}"
                )
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("Could not create server TCP listening socket {addr}:{port}")
                })
            }
        }
    }
    Ok(listeners)
}

/// A listening socket. `mark` (`socket-mark-id`, 0 for none) is set as SO_MARK for routing
/// and firewall rules; as in Redis it is best effort (it needs CAP_NET_ADMIN), its failure
/// ignored.
fn listen(addr: SocketAddr, backlog: i32, mark: u32) -> std::io::Result<StdTcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if mark > 0 {
        let _ = socket.set_mark(mark);
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn bind_unix(srv: &Server) -> anyhow::Result<Option<std::os::unix::net::UnixListener>> {
    let (path, perm) = {
        let c = srv.config.read();
        (
            c.get("unixsocket").to_string(),
            c.get("unixsocketperm").to_string(),
        )
    };
    if path.is_empty() {
        return Ok(None);
    }
    let _ = std::fs::remove_file(&path);
    let l = std::os::unix::net::UnixListener::bind(&path)
        .with_context(|| format!("Failed opening Unix socket {path}"))?;
    let mode = u32::from_str_radix(&perm, 8).unwrap_or(0);
    if mode != 0 {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    l.set_nonblocking(true)?;
    Ok(Some(l))
}

/// Start the I/O threads; returns one sender per thread.
fn start_io_threads(srv: &Arc<Server>) -> anyhow::Result<Vec<mpsc::UnboundedSender<NewConn>>> {
    let mut senders = Vec::new();
    for i in 0..srv.io_threads {
        let (tx, mut rx) = mpsc::unbounded_channel::<NewConn>();
        let srv = srv.clone();
        let stats = srv.stats.register_thread();
        std::thread::Builder::new()
            .name(format!("basalt-io-{i}"))
            .spawn(move || {
                crate::affinity::bind(crate::affinity::Role::Server);
                crate::scripting::busy::set_io_thread(i);
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        log_warning!("Failed to start I/O thread {i}: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    while let Some(conn) = rx.recv().await {
                        let (srv, stats) = (srv.clone(), stats.clone());
                        match conn {
                            NewConn::Tcp(s, shared) => {
                                if let Ok(s) = tokio::net::TcpStream::from_std(s) {
                                    tokio::spawn(crate::conn::serve(srv, s, shared, stats));
                                } else {
                                    srv.clients.unregister(shared.id);
                                }
                            }
                            NewConn::Tls(s, shared) => {
                                if let Ok(s) = tokio::net::TcpStream::from_std(s) {
                                    tokio::spawn(crate::tls::serve(srv, s, shared, stats));
                                } else {
                                    srv.clients.unregister(shared.id);
                                }
                            }
                            NewConn::Unix(s, shared) => {
                                if let Ok(s) = tokio::net::UnixStream::from_std(s) {
                                    tokio::spawn(crate::conn::serve(srv, s, shared, stats));
                                } else {
                                    srv.clients.unregister(shared.id);
                                }
                            }
                        }
                    }
                });
            })
            .context("spawning an I/O thread")?;
        senders.push(tx);
    }
    Ok(senders)
}

/// Refuse a connection over `maxclients`, as Redis does: an error, then close.
fn over_maxclients(srv: &Server) -> bool {
    let max = srv.config.read().maxclients();
    srv.clients.len() as u64 >= max
}

fn refuse<W: Write>(srv: &Server, mut w: W) {
    srv.stats.rejected_connections.fetch_add(1, Relaxed);
    let _ = w.write_all(b"-ERR max number of clients reached\r\n");
}

/// Run the server until it is asked to stop. Blocks the calling thread.
pub fn run(srv: Arc<Server>) -> anyhow::Result<()> {
    let (port, tls_port) = {
        let c = srv.config.read();
        (c.port(), c.get_i64("tls-port") as u16)
    };
    let tcp = bind_tcp(&srv, port)?;
    let tls = if tls_port == 0 {
        Vec::new()
    } else {
        if let Err(e) = srv.tls.configure(&srv.config.read()) {
            log_warning!("{e}");
            anyhow::bail!("Failed to configure TLS. Check logs for more info.");
        }
        bind_tcp(&srv, tls_port)
            .with_context(|| format!("Failed listening on port {tls_port} (TLS), aborting."))?
    };
    let unix = bind_unix(&srv)?;
    if tcp.is_empty() && tls.is_empty() && unix.is_none() {
        anyhow::bail!("Configured to not listen anywhere, exiting.");
    }
    if let Some(l) = tcp.first() {
        srv.tcp_port
            .store(u64::from(l.local_addr()?.port()), Relaxed);
    }
    let workers = start_io_threads(&srv)?;
    let _cron = crate::server::spawn_cron(srv.clone()).context("spawning the cron thread")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the acceptor runtime")?;
    rt.block_on(async {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handle = tokio::runtime::Handle::current();
        let l = srv.listeners.get_or_init(|| Listeners {
            handle,
            workers: workers.clone(),
            next: next.clone(),
            tcp_tasks: parking_lot::Mutex::new(Vec::new()),
            tls_tasks: parking_lot::Mutex::new(Vec::new()),
        });
        for listener in tcp {
            let task = spawn_accept_loop(&srv, l, listener, false)?;
            l.tcp_tasks.lock().push(task);
        }
        for listener in tls {
            let task = spawn_accept_loop(&srv, l, listener, true)?;
            l.tls_tasks.lock().push(task);
        }
        if let Some(l) = unix {
            let listener = tokio::net::UnixListener::from_std(l)?;
            let (srv, workers, next) = (srv.clone(), workers.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((s, _)) = listener.accept().await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let Ok(s) = s.into_std() else { continue };
                    srv.stats.total_connections_received.fetch_add(1, Relaxed);
                    if over_maxclients(&srv) {
                        refuse(&srv, &s);
                        continue;
                    }
                    let path = srv.config.read().get("unixsocket").to_string();
                    let shared = srv.clients.register(
                        format!("{path}:0"),
                        format!("{path}:0"),
                        s.as_raw_fd(),
                        true,
                    );
                    send_to_worker(&srv, &workers, &next, NewConn::Unix(s, shared));
                }
            });
        }
        crate::cluster::bus::start(&srv)?;
        log_notice!("Ready to accept connections");
        crate::replication::start_from_config(&srv);
        crate::supervise::ready();
        wait_for_stop(&srv).await;
        anyhow::Ok(())
    })?;
    for c in srv.clients.all() {
        c.kill();
    }
    Ok(())
}

fn accept_tcp(
    srv: &Server,
    workers: &[mpsc::UnboundedSender<NewConn>],
    next: &std::sync::atomic::AtomicUsize,
    s: std::net::TcpStream,
    peer: SocketAddr,
    is_tls: bool,
) {
    srv.stats.total_connections_received.fetch_add(1, Relaxed);
    if over_maxclients(srv) {
        refuse(srv, &s);
        return;
    }
    if protected_refusal(srv, &peer) {
        srv.stats.rejected_connections.fetch_add(1, Relaxed);
        let _ = (&s).write_all(DENIED);
        return;
    }
    let _ = s.set_nodelay(true);
    let keepalive = srv.config.read().tcp_keepalive_secs();
    if keepalive > 0 {
        let sock = socket2::SockRef::from(&s);
        let _ =
            sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(keepalive)));
    }
    let laddr = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let shared = srv
        .clients
        .register(peer.to_string(), laddr, s.as_raw_fd(), false);
    let conn = if is_tls {
        NewConn::Tls(s, shared)
    } else {
        NewConn::Tcp(s, shared)
    };
    send_to_worker(srv, workers, next, conn);
}

/// Hand a new connection to the next I/O thread that is not running a busy script (such a
/// thread serves nothing else until the script ends). When every one is, the connection
/// gets a thread of its own, so SCRIPT KILL and SHUTDOWN NOSAVE always reach the server.
fn send_to_worker(
    srv: &Server,
    workers: &[mpsc::UnboundedSender<NewConn>],
    next: &std::sync::atomic::AtomicUsize,
    conn: NewConn,
) {
    for _ in 0..workers.len() {
        let i = next.fetch_add(1, Relaxed) % workers.len();
        if !srv.busy.thread_busy(i) {
            let _ = workers[i].send(conn);
            return;
        }
    }
    if let Some(me) = srv.me.upgrade() {
        serve_on_own_thread(me, conn);
    }
}

/// Serve one connection on a thread of its own (while every I/O thread runs a busy script).
fn serve_on_own_thread(srv: Arc<Server>, conn: NewConn) {
    let stats = srv.stats.register_thread();
    let spawned = std::thread::Builder::new()
        .name("basalt-io-extra".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                match conn {
                    NewConn::Tcp(s, shared) => match tokio::net::TcpStream::from_std(s) {
                        Ok(s) => crate::conn::serve(srv, s, shared, stats).await,
                        Err(_) => srv.clients.unregister(shared.id),
                    },
                    NewConn::Tls(s, shared) => match tokio::net::TcpStream::from_std(s) {
                        Ok(s) => crate::tls::serve(srv, s, shared, stats).await,
                        Err(_) => srv.clients.unregister(shared.id),
                    },
                    NewConn::Unix(s, shared) => match tokio::net::UnixStream::from_std(s) {
                        Ok(s) => crate::conn::serve(srv, s, shared, stats).await,
                        Err(_) => srv.clients.unregister(shared.id),
                    },
                }
            });
        });
    if let Err(e) = spawned {
        log_warning!("Failed to start a thread for a new connection: {e}");
    }
}

/// Sent to remote clients refused by protected mode: Redis's reply, word for word (clients
/// and operators search for it).
const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode: while the default user has no password, only clients from 127.0.0.1 or
/// ::1 may connect — exactly those two addresses, as Redis's `islocalClient` compares them
/// (127.0.0.2 is remote to it; Unix sockets never reach this check).
fn protected_refusal(srv: &Server, peer: &SocketAddr) -> bool {
    let local = match peer.ip() {
        std::net::IpAddr::V4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
        std::net::IpAddr::V6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
    };
    srv.config.read().get_bool("protected-mode") && srv.acl.default_user().flags.nopass && !local
}

async fn wait_for_stop(srv: &Arc<Server>) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    loop {
        let sig = async {
            tokio::select! {
                _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => "SIGTERM",
                _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => "SIGINT",
            }
        };
        tokio::select! {
            name = sig => {
                log_warning!("Received {name} scheduling shutdown...");
                log_warning!("User requested shutdown...");
                // `shutdown-on-sigterm`/`-sigint`: SAVE, NOSAVE and FORCE as for SHUTDOWN
                // (NOW only skips waiting for replicas, which Basalt does not have yet).
                let flags = {
                    let key = if name == "SIGTERM" { "shutdown-on-sigterm" } else { "shutdown-on-sigint" };
                    srv.config.read().get(key).to_string()
                };
                let has = |f: &str| flags.split(' ').any(|w| w == f);
                let (save, nosave, force) = (has("save"), has("nosave"), has("force"));
                let saver = Arc::clone(srv);
                let saved = tokio::task::spawn_blocking(move || {
                    crate::save::save_before_exit(&saver, save, nosave)
                })
                .await
                .unwrap_or(false);
                if saved || force {
                    srv.request_stop(StopReason::Signal(name));
                    return;
                }
                log_warning!("{name} received but errors trying to shut down the server, check the logs for more information");
            }
            _ = srv.stopped() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn protected_mode_refuses_only_remote_clients_without_password() {
        let remote: SocketAddr = "192.0.2.7:5000".parse().expect("addr");
        let local: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let local6: SocketAddr = "[::1]:5000".parse().expect("addr");
        let other_loopback: SocketAddr = "127.0.0.2:5000".parse().expect("addr");
        let srv = Server::new(Config::default(), 1, 1);
        assert!(protected_refusal(&srv, &remote));
        assert!(protected_refusal(&srv, &other_loopback));
        assert!(!protected_refusal(&srv, &local));
        assert!(!protected_refusal(&srv, &local6));
        let mut with_pass = Config::default();
        with_pass
            .apply_text("requirepass secret\n")
            .expect("config");
        assert!(!protected_refusal(&Server::new(with_pass, 1, 1), &remote));
        let mut off = Config::default();
        off.apply_text("protected-mode no\n").expect("config");
        assert!(!protected_refusal(&Server::new(off, 1, 1), &remote));
    }
}
