//! Redis's replication protocol (PSYNC2). This first part is the replica side: REPLICAOF makes
//! Basalt follow a master (a redis-server or another Basalt that speaks the protocol), load its
//! full sync, apply its command stream and acknowledge its offset (`replica.rs`).
//!
//! State shared with INFO, ROLE and the command checks lives in [`Replication`]. The link
//! itself runs on its own thread (blocking socket I/O: it is one connection, and the commands
//! it applies run through the same `cmd::execute` as clients', under the same shard locks).
//! A REPLICAOF bumps the generation; a link thread whose generation is no longer current stops
//! at its next read.

mod replica;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::server::Server;

/// Set while this server is a replica: keys do not expire on their own then, so the end of a
/// CLIENT PAUSE (which also holds expiry) leaves expiry held (`pause.rs`).
pub static HOLDS_EXPIRY: AtomicBool = AtomicBool::new(false);

/// Where the link to the master is (Redis's `repl_state`, as ROLE names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Waiting to (re)connect.
    Connect,
    /// Connected, in the handshake.
    Connecting,
    /// Receiving the full sync.
    Sync,
    /// Streaming.
    Connected,
}

impl Link {
    fn role_name(self) -> &'static str {
        match self {
            Link::Connect => "connect",
            Link::Connecting => "connecting",
            Link::Sync => "sync",
            Link::Connected => "connected",
        }
    }
}

/// The master this server follows.
#[derive(Debug, Clone)]
pub struct Master {
    pub host: String,
    pub port: u16,
    pub link: Link,
    /// When the link last went down (for `master_link_down_since_seconds`).
    pub down_since: std::time::Instant,
}

/// Replication state.
pub struct Replication {
    /// The master followed, if any.
    master: Mutex<Option<Master>>,
    /// Whether a master is set (one relaxed load on every write's check).
    is_replica: AtomicBool,
    /// Bumped by every REPLICAOF: a link thread of an older generation stops.
    generation: AtomicU64,
    /// This server's replication ID (its master's, once synced) and the previous one.
    ids: Mutex<(String, String)>,
    /// Offset of the replication stream applied (`master_repl_offset`).
    pub offset: AtomicI64,
    /// Offset where the previous ID's history ends (`second_repl_offset`), -1 for none.
    second_offset: AtomicI64,
    /// Unix seconds of the last byte from the master.
    pub last_io_secs: AtomicU64,
    /// Held by the link while it applies one command (after checking its generation) and by
    /// REPLICAOF while it changes the generation: once REPLICAOF returns, nothing more of the
    /// old master is applied.
    apply: Mutex<()>,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            master: Mutex::new(None),
            is_replica: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            ids: Mutex::new((crate::server::random_hex(40), "0".repeat(40))),
            offset: AtomicI64::new(0),
            second_offset: AtomicI64::new(-1),
            last_io_secs: AtomicU64::new(0),
            apply: Mutex::new(()),
        }
    }
}

impl Replication {
    /// Whether this server follows a master (writes from clients are refused while
    /// `replica-read-only` is on).
    pub fn is_replica(&self) -> bool {
        self.is_replica.load(Relaxed)
    }

    /// The master followed, if any.
    pub fn master(&self) -> Option<Master> {
        self.master.lock().clone()
    }

    fn set_link(&self, generation: u64, link: Link) {
        if self.generation.load(Relaxed) != generation {
            return;
        }
        if let Some(m) = self.master.lock().as_mut() {
            if m.link == Link::Connected && link != Link::Connected {
                m.down_since = std::time::Instant::now();
            }
            m.link = link;
        }
    }

    /// Run `f` (applying one command of the master's stream) unless REPLICAOF moved on.
    fn apply_if_current<R>(&self, generation: u64, f: impl FnOnce() -> R) -> Option<R> {
        let _applying = self.apply.lock();
        self.current(generation).then(f)
    }

    fn current(&self, generation: u64) -> bool {
        self.generation.load(Relaxed) == generation
    }

    /// The replication ID and offset a PSYNC asks to continue from (`None` before any sync).
    fn psync_from(&self) -> (String, i64) {
        let id = self.ids.lock().0.clone();
        (id, self.offset.load(Relaxed) + 1)
    }

    /// Adopt the master's history after a full sync.
    fn adopt(&self, replid: &str, offset: i64) {
        *self.ids.lock() = (replid.to_string(), "0".repeat(40));
        self.offset.store(offset, Relaxed);
        self.second_offset.store(-1, Relaxed);
    }

    /// A `+CONTINUE <id>`: the master's history goes on under a new ID (PSYNC2 after a
    /// failover); the old one stays valid up to here.
    fn switch_id(&self, new_id: &str) {
        let mut ids = self.ids.lock();
        if ids.0 != new_id {
            ids.1 = std::mem::replace(&mut ids.0, new_id.to_string());
            self.second_offset
                .store(self.offset.load(Relaxed) + 1, Relaxed);
        }
    }

    /// REPLICAOF host port: follow that master (a link thread starts; the data stays until
    /// the full sync replaces it).
    pub fn follow(&self, srv: &Arc<Server>, host: &str, port: u16) {
        let generation = {
            let _applying = self.apply.lock();
            self.generation.fetch_add(1, Relaxed) + 1
        };
        *self.master.lock() = Some(Master {
            host: host.to_string(),
            port,
            link: Link::Connect,
            down_since: std::time::Instant::now(),
        });
        self.is_replica.store(true, Relaxed);
        HOLDS_EXPIRY.store(true, Relaxed);
        // A replica does not expire keys itself: it waits for the master's DELs, and shows
        // logically expired keys as missing meanwhile (as Redis's replicas do).
        store::set_expiry_paused(true);
        crate::log_notice!("Connecting to MASTER {host}:{port}");
        replica::start(srv.clone(), host.to_string(), port, generation);
    }

    /// REPLICAOF NO ONE: stop following; this server's history goes on under a new ID, the
    /// old one valid up to the current offset (so its own replicas could continue: PSYNC2).
    pub fn unfollow(&self, srv: &Server) {
        {
            let _applying = self.apply.lock();
            self.generation.fetch_add(1, Relaxed);
        }
        if self.master.lock().take().is_none() {
            return;
        }
        self.is_replica.store(false, Relaxed);
        HOLDS_EXPIRY.store(false, Relaxed);
        if srv.pause.current().is_none() {
            store::set_expiry_paused(false);
        }
        self.switch_id(&crate::server::random_hex(40));
        crate::log_notice!("MASTER MODE enabled (user request from 'id={}')", 0);
    }

    /// ROLE's reply.
    pub fn reply_role(&self, out: &mut resp::Reply) {
        match self.master() {
            None => {
                out.array(3);
                out.bulk(b"master");
                out.int(self.offset.load(Relaxed));
                out.array(0);
            }
            Some(m) => {
                out.array(5);
                out.bulk(b"slave");
                out.bulk(m.host.as_bytes());
                out.int(i64::from(m.port));
                out.bulk(m.link.role_name().as_bytes());
                let offset = if m.link == Link::Connected {
                    self.offset.load(Relaxed)
                } else {
                    -1
                };
                out.int(offset);
            }
        }
    }

    /// INFO's replication section.
    pub fn info(&self, srv: &Server, b: &mut String) {
        use std::fmt::Write;
        let offset = self.offset.load(Relaxed);
        match self.master() {
            None => b.push_str("role:master\r\n"),
            Some(m) => {
                let up = m.link == Link::Connected;
                let now = crate::util::now_ms() / 1000;
                let last_io = now.saturating_sub(self.last_io_secs.load(Relaxed));
                let read_only = srv.config.read().get("replica-read-only") == "yes";
                let _ = write!(
                    b,
                    "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n",
                    m.host,
                    m.port,
                    if up { "up" } else { "down" },
                    if up { last_io as i64 } else { -1 },
                    i32::from(m.link == Link::Sync),
                );
                if !up {
                    let _ = write!(
                        b,
                        "master_link_down_since_seconds:{}\r\n",
                        m.down_since.elapsed().as_secs()
                    );
                }
                let _ = write!(
                    b,
                    "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
                    srv.config.read().get("replica-priority"),
                    i32::from(read_only)
                );
            }
        }
        let (id, id2) = self.ids.lock().clone();
        let _ = write!(
            b,
            "connected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{id}\r\nmaster_replid2:{id2}\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:0\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
            self.second_offset.load(Relaxed),
            srv.config.read().get("repl-backlog-size"),
        );
    }
}

/// Follow the master `replicaof` names in the config, if any (at start).
pub fn start_from_config(srv: &Arc<Server>) {
    let words = srv.config.read().get("replicaof").to_string();
    let mut parts = words.split_whitespace();
    if let (Some(host), Some(port)) = (parts.next(), parts.next()) {
        if let Ok(port) = port.parse::<u16>() {
            srv.repl.follow(srv, host, port);
        }
    }
}
