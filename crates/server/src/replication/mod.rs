//! Redis's replication protocol (PSYNC2). This first part is the replica side: REPLICAOF makes
//! Basalt follow a master (a redis-server or another Basalt that speaks the protocol), load its
//! full sync, apply its command stream and acknowledge its offset (`replica.rs`).
//!
//! State shared with INFO, ROLE and the command checks lives in [`Replication`]. The link
//! itself runs on its own thread (blocking socket I/O: it is one connection, and the commands
//! it applies run through the same `cmd::execute` as clients', under the same shard locks).
//! A REPLICAOF bumps the generation; a link thread whose generation is no longer current stops
//! at its next read.

mod failover;
pub mod feed;
pub mod fullsync;
pub mod master;
mod payload;
mod replica;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::server::Server;

pub use failover::{Failover, Phase as FailoverPhase};

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
    /// When the link last went down (`master_link_down_since_seconds`; `None`, shown as -1,
    /// when it never was up since REPLICAOF, as Redis).
    pub down_since: Option<std::time::Instant>,
}

/// Clears the loading flag when a full sync's load ends, however it ends.
struct LoadingGuard<'a>(&'a AtomicBool);

impl Drop for LoadingGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Relaxed);
    }
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
    /// `repl-stream-db` of the last RDB loaded: where the master's stream continues after a
    /// full sync.
    pub loaded_stream_db: std::sync::atomic::AtomicUsize,
    /// On a replica, the database the master's stream has selected, as of the last byte fed
    /// (the `repl-stream-db` of the payloads it serves its own replicas).
    pub stream_db: std::sync::atomic::AtomicUsize,
    /// Whether the link streams (`Link::Connected`), `replica-serve-stale-data`, and whether a
    /// full sync is loading: read on every command.
    link_up: AtomicBool,
    serve_stale: AtomicBool,
    loading: AtomicBool,
    /// `min-replicas-to-write` and `min-replicas-max-lag` (read on every write).
    min_replicas: AtomicU64,
    max_lag_secs: AtomicU64,
    /// INFO's `sync_full`, `sync_partial_ok`, `sync_partial_err`: the syncs served.
    pub syncs: [AtomicU64; 3],
    /// The replication stream, its backlog and the replicas fed (its offset is
    /// `master_repl_offset`: on a replica, the offset of the master's stream applied).
    pub feed: feed::Feed,
    /// Offset where the previous ID's history ends (`second_repl_offset`), -1 for none.
    second_offset: AtomicI64,
    /// Unix seconds of the last byte from the master.
    pub last_io_secs: AtomicU64,
    /// The payload being received: its announced size (-1 for an EOF-marked one, as Redis
    /// shows it) and the bytes read so far (INFO's `master_sync_*`).
    pub transfer_size: AtomicI64,
    pub transfer_read: AtomicI64,
    /// Held by the link while it applies one command (after checking its generation) and by
    /// REPLICAOF while it changes the generation: once REPLICAOF returns, nothing more of the
    /// old master is applied.
    apply: Mutex<()>,
    /// `repl-id` and `repl-offset` of the last RDB loaded.
    pub loaded_history: Mutex<(Option<String>, Option<i64>)>,
    /// Diskless syncs waiting to share a transfer (`fullsync.rs`).
    pub sync_queue: fullsync::SyncQueue,
    /// FAILOVER under way (`failover.rs`).
    failover: Mutex<Option<failover::Failover>>,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            master: Mutex::new(None),
            is_replica: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            ids: Mutex::new((crate::server::random_hex(40), "0".repeat(40))),
            syncs: Default::default(),
            loaded_stream_db: Default::default(),
            stream_db: Default::default(),
            link_up: AtomicBool::new(false),
            serve_stale: AtomicBool::new(true),
            loading: AtomicBool::new(false),
            min_replicas: AtomicU64::new(0),
            max_lag_secs: AtomicU64::new(10),
            feed: feed::Feed::default(),
            second_offset: AtomicI64::new(-1),
            last_io_secs: AtomicU64::new(0),
            transfer_size: AtomicI64::new(0),
            transfer_read: AtomicI64::new(0),
            apply: Mutex::new(()),
            failover: Mutex::new(None),
            sync_queue: Default::default(),
            loaded_history: Mutex::new((None, None)),
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
                m.down_since = Some(std::time::Instant::now());
            }
            m.link = link;
        }
        self.link_up.store(link == Link::Connected, Relaxed);
    }

    /// Whether commands without the `stale` flag are refused (`-MASTERDOWN`): a replica whose
    /// link is not streaming, with `replica-serve-stale-data no`.
    pub fn master_down(&self) -> bool {
        self.is_replica() && !self.link_up.load(Relaxed) && !self.serve_stale.load(Relaxed)
    }

    /// Whether a full sync is replacing the dataset (`-LOADING`, INFO's `loading:1`).
    pub fn loading(&self) -> bool {
        self.loading.load(Relaxed)
    }

    /// Mark the dataset as being replaced until the guard drops.
    fn loading_guard(&self) -> LoadingGuard<'_> {
        self.loading.store(true, Relaxed);
        LoadingGuard(&self.loading)
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
        (id, self.feed.offset() + 1)
    }

    /// Adopt the master's history after a full sync.
    fn adopt(&self, srv: &Server, replid: &str, offset: i64) {
        *self.ids.lock() = (replid.to_string(), "0".repeat(40));
        self.feed.reset(offset, backlog_bytes(srv));
        self.second_offset.store(-1, Relaxed);
        crate::propagate::refresh_log_expired(srv);
    }

    /// Take the settings read on the hot path.
    pub fn load_config(&self, c: &crate::config::Config) {
        let n = |k: &str| c.get(k).parse::<u64>().unwrap_or(0);
        self.min_replicas.store(n("min-replicas-to-write"), Relaxed);
        self.max_lag_secs.store(n("min-replicas-max-lag"), Relaxed);
        self.serve_stale
            .store(c.get("replica-serve-stale-data") == "yes", Relaxed);
    }

    /// Whether writes are refused for want of good replicas (`min-replicas-to-write` with
    /// `min-replicas-max-lag`: Redis's `-NOREPLICAS`). A replica never refuses its
    /// master's writes this way.
    pub fn too_few_replicas(&self) -> bool {
        let min = self.min_replicas.load(Relaxed);
        let lag = self.max_lag_secs.load(Relaxed);
        if min == 0 || lag == 0 || self.is_replica() {
            return false;
        }
        (self.feed.good_replicas(lag) as u64) < min
    }

    /// Keep the stream from now on if it is not kept yet (the first replica): under every
    /// shard lock, so each write is either before it (and in the replica's snapshot) or fed.
    /// A master starts a new history then (Redis's `changeReplicationId`): nothing before
    /// was kept for a replica to continue from. Whether the backlog is new.
    pub fn ensure_backlog(&self, srv: &Server) -> bool {
        if self.feed.active() {
            return false;
        }
        let _all = srv.store.lock_all();
        if !self.feed.activate(backlog_bytes(srv)) {
            return false;
        }
        if !self.is_replica() {
            self.new_history();
        }
        crate::propagate::refresh_log_expired(srv);
        true
    }

    /// Whether this server feeds its own writes to the stream (a master keeping one).
    pub fn feeds_writes(&self) -> bool {
        self.feed.active() && !self.is_replica()
    }

    /// This server's replication ID and the previous one.
    pub fn ids(&self) -> (String, String) {
        self.ids.lock().clone()
    }

    /// `second_repl_offset`.
    pub fn second_offset(&self) -> i64 {
        self.second_offset.load(Relaxed)
    }

    /// A new history (Redis's `changeReplicationId` and `clearReplicationId2`): a master
    /// creating its backlog has kept no history that a replica could continue.
    fn new_history(&self) {
        *self.ids.lock() = (crate::server::random_hex(40), "0".repeat(40));
        self.second_offset.store(-1, Relaxed);
    }

    /// A `+CONTINUE <id>`: the master's history goes on under a new ID (PSYNC2 after a
    /// failover); the old one stays valid up to here.
    fn switch_id(&self, new_id: &str) {
        let mut ids = self.ids.lock();
        if ids.0 != new_id {
            ids.1 = std::mem::replace(&mut ids.0, new_id.to_string());
            self.second_offset.store(self.feed.offset() + 1, Relaxed);
        }
    }

    /// REPLICAOF host port: follow that master (a link thread starts; the data stays until
    /// the full sync replaces it).
    pub fn follow(&self, srv: &Arc<Server>, host: &str, port: u16, who: &str) {
        let generation = {
            let _applying = self.apply.lock();
            self.generation.fetch_add(1, Relaxed) + 1
        };
        *self.master.lock() = Some(Master {
            host: host.to_string(),
            port,
            link: Link::Connect,
            down_since: None,
        });
        self.link_up.store(false, Relaxed);
        self.is_replica.store(true, Relaxed);
        crate::util::set_log_role(true);
        if !who.is_empty() {
            crate::log_notice!("REPLICAOF {host}:{port} enabled (user request from '{who}')");
        }
        // Our own replicas resync with us (they may continue: our history goes on).
        self.feed.drop_all();
        HOLDS_EXPIRY.store(true, Relaxed);
        // A replica does not expire keys itself: it waits for the master's DELs, and shows
        // logically expired keys as missing meanwhile (as Redis's replicas do).
        store::set_expiry_paused(true);
        crate::log_notice!("Connecting to MASTER {host}:{port}");
        replica::start(srv.clone(), host.to_string(), port, generation);
    }

    /// REPLICAOF NO ONE: stop following; this server's history goes on under a new ID, the
    /// old one valid up to the current offset (so its own replicas could continue: PSYNC2).
    pub fn unfollow(&self, srv: &Server, why: Option<&str>) {
        {
            let _applying = self.apply.lock();
            self.generation.fetch_add(1, Relaxed);
        }
        if self.master.lock().take().is_none() {
            return;
        }
        self.is_replica.store(false, Relaxed);
        crate::util::set_log_role(false);
        HOLDS_EXPIRY.store(false, Relaxed);
        if srv.pause.current().is_none() {
            store::set_expiry_paused(false);
        }
        self.switch_id(&crate::server::random_hex(40));
        // Our replicas learn the new ID by reconnecting (and continue: PSYNC2).
        self.feed.drop_all();
        self.feed.forget_select();
        if let Some(why) = why {
            crate::log_notice!("MASTER MODE enabled ({why})");
        }
    }

    /// ROLE's reply.
    pub fn reply_role(&self, out: &mut resp::Reply) {
        match self.master() {
            None => {
                out.array(3);
                out.bulk(b"master");
                out.int(self.feed.offset());
                let online: Vec<_> = self
                    .feed
                    .replicas()
                    .into_iter()
                    .filter(|r| r.phase() == feed::ReplicaPhase::Online)
                    .collect();
                out.array(online.len());
                for r in online {
                    out.array(3);
                    out.bulk(r.ip.as_bytes());
                    out.bulk(r.port.to_string().as_bytes());
                    out.bulk(r.ack.load(Relaxed).to_string().as_bytes());
                }
            }
            Some(m) => {
                out.array(5);
                out.bulk(b"slave");
                out.bulk(m.host.as_bytes());
                out.int(i64::from(m.port));
                out.bulk(m.link.role_name().as_bytes());
                let offset = if m.link == Link::Connected {
                    self.feed.offset()
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
        let offset = self.feed.offset();
        match self.master() {
            None => b.push_str("role:master\r\n"),
            Some(m) => {
                let up = m.link == Link::Connected;
                let now = crate::util::now_ms() / 1000;
                let last_io = now.saturating_sub(self.last_io_secs.load(Relaxed));
                let (read_only, priority, announced) = {
                    let c = srv.config.read();
                    (
                        c.get("replica-read-only") == "yes",
                        c.get("replica-priority").to_string(),
                        c.get("replica-announced") == "yes",
                    )
                };
                let _ = write!(
                    b,
                    "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n",
                    m.host,
                    m.port,
                    if up { "up" } else { "down" },
                    if up { last_io as i64 } else { -1 },
                    i32::from(m.link == Link::Sync),
                );
                if m.link == Link::Sync {
                    // Redis's arithmetic, -1 size of an EOF-marked payload included.
                    let size = self.transfer_size.load(Relaxed);
                    let read = self.transfer_read.load(Relaxed);
                    let perc = if size != 0 {
                        read as f64 / size as f64 * 100.0
                    } else {
                        0.0
                    };
                    let _ = write!(
                        b,
                        "master_sync_total_bytes:{size}\r\nmaster_sync_read_bytes:{read}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{last_io}\r\n",
                        size - read
                    );
                }
                if !up {
                    let _ = write!(
                        b,
                        "master_link_down_since_seconds:{}\r\n",
                        m.down_since.map_or(-1, |t| t.elapsed().as_secs() as i64)
                    );
                }
                let _ = write!(
                    b,
                    "slave_priority:{priority}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
                    i32::from(read_only),
                    i32::from(announced)
                );
            }
        }
        let replicas = self.feed.replicas();
        let _ = write!(b, "connected_slaves:{}\r\n", replicas.len());
        let min = self.min_replicas.load(Relaxed);
        if min > 0 && self.max_lag_secs.load(Relaxed) > 0 {
            let _ = write!(
                b,
                "min_slaves_good_slaves:{}\r\n",
                self.feed.good_replicas(self.max_lag_secs.load(Relaxed))
            );
        }
        let now_ms = crate::util::now_ms();
        for (i, r) in replicas.iter().enumerate() {
            let _ = write!(
                b,
                "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
                r.ip,
                r.port,
                r.phase().name(),
                r.ack.load(Relaxed),
                now_ms.saturating_sub(r.ack_ms.load(Relaxed)) / 1000
            );
        }
        let (id, id2) = self.ids();
        let (first, histlen) = self.feed.history();
        let active = self.feed.active();
        let _ = write!(
            b,
            "master_failover_state:{}\r\nmaster_replid:{id}\r\nmaster_replid2:{id2}\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
            failover::state_name(self.failover.lock().as_ref()),
            self.second_offset.load(Relaxed),
            i32::from(active),
            backlog_bytes(srv),
            if active { first } else { 0 },
            if active { histlen } else { 0 },
        );
    }

    /// Once a second (the server's cron): PING the replicas every `repl-ping-replica-period`
    /// (through the stream, as Redis does, so the PINGs count in the offsets), apply the
    /// output-buffer limits that need time, and let the backlog go after `repl-backlog-ttl`
    /// without replicas.
    pub fn cron(&self, srv: &Server, ticks: &mut CronTicks) {
        let (period_secs, ttl_secs) = {
            let c = srv.config.read();
            let n = |k: &str| c.get(k).parse::<u64>().unwrap_or(0);
            (n("repl-ping-replica-period").max(1), n("repl-backlog-ttl"))
        };
        self.feed.set_limits(backlog_bytes(srv), output_limit(srv));
        self.feed.check_limits();
        let replicas = self.feed.replicas();
        ticks.secs += 1;
        // No PINGs while a failover waits for a replica to acknowledge the whole stream.
        if !self.is_replica()
            && !replicas.is_empty()
            && ticks.secs.is_multiple_of(period_secs)
            && self.failover.lock().is_none()
        {
            let mut ping = Vec::new();
            persist::encode_command(&mut ping, &[b"PING"]);
            self.feed.append_raw(&ping);
        }
        if replicas.is_empty() && self.feed.active() && !self.is_replica() {
            ticks.idle_secs += 1;
            if ttl_secs > 0 && ticks.idle_secs >= ttl_secs {
                // Under every shard lock, so no write is being fed meanwhile.
                let _all = srv.store.lock_all();
                self.feed.deactivate();
                crate::propagate::refresh_log_expired(srv);
                crate::log_notice!(
                    "Replication backlog freed after {ttl_secs} seconds without connected replicas."
                );
            }
        } else {
            ticks.idle_secs = 0;
        }
    }
}

/// The cron's counters for [`Replication::cron`].
#[derive(Default)]
pub struct CronTicks {
    secs: u64,
    idle_secs: u64,
}

/// `repl-backlog-size` in bytes.
pub fn backlog_bytes(srv: &Server) -> usize {
    crate::config::params::parse_memory(srv.config.read().get("repl-backlog-size"))
        .map_or(1 << 20, |b| b as usize)
}

/// `client-output-buffer-limit`'s `replica` class.
fn output_limit(srv: &Server) -> feed::OutputLimit {
    let c = srv.config.read();
    let words: Vec<&str> = c
        .get("client-output-buffer-limit")
        .split_whitespace()
        .collect();
    let mut limit = feed::OutputLimit {
        hard_bytes: 256 << 20,
        soft_bytes: 64 << 20,
        soft_secs: 60,
    };
    for w in words.chunks_exact(4) {
        if w[0] == "replica" || w[0] == "slave" {
            let n = |s: &str| crate::config::params::parse_memory(s).unwrap_or(0);
            limit = feed::OutputLimit {
                hard_bytes: n(w[1]),
                soft_bytes: n(w[2]),
                soft_secs: w[3].parse().unwrap_or(0),
            };
        }
    }
    limit
}

/// What a connection told this server as a replica-to-be (REPLCONF) and what it waits on.
#[derive(Default)]
pub struct ClientRepl {
    /// `REPLCONF listening-port`.
    pub listening_port: u16,
    /// `REPLCONF ip-address`.
    pub ip_address: Option<String>,
    /// `REPLCONF capa eof`: it reads a diskless payload.
    pub capa_eof: bool,
    /// `REPLCONF capa psync2`: it understands `+CONTINUE <new id>`.
    pub capa_psync2: bool,
    /// `REPLCONF rdb-only 1`: it wants the snapshot only, not the stream after it
    /// (`redis-cli --rdb`).
    pub rdb_only: bool,
    /// `REPLCONF rdb-filter-only <filters>`: what the payload leaves out (the empty filter
    /// leaves out everything; `functions` keeps the function libraries:
    /// `redis-cli --functions-rdb`).
    pub filter: fullsync::Filter,
    /// SYNC or PSYNC was accepted: the connection becomes a replica after this batch.
    pub sync: Option<master::SyncRequest>,
    /// WAIT is waiting for acknowledgements.
    pub wait: Option<master::WaitAcks>,
}

/// What a save records of the replication history (Redis's `rdbSaveInfo`): the ID, the
/// offset the data is at, and the database the stream has selected.
pub struct SaveInfo {
    pub id: String,
    pub offset: i64,
    pub stream_db: usize,
}

impl Replication {
    /// The history to record in a save taken now (under every shard lock, and on a replica
    /// its apply lock, so the data is exactly at the offset): a replica synced, or a master
    /// keeping a stream. `None` otherwise, as Redis's.
    pub fn save_info(&self) -> Option<SaveInfo> {
        if !self.feed.active() {
            return None;
        }
        let stream_db = if self.is_replica() {
            self.stream_db.load(Relaxed)
        } else {
            0
        };
        Some(SaveInfo {
            id: self.ids.lock().0.clone(),
            offset: self.feed.offset(),
            stream_db,
        })
    }

    /// The apply lock for a save's instant, if it can be had soon (a caller already holding
    /// shard locks, such as EXEC, must not wait on a link that waits on them): `None` and
    /// the save records no history.
    pub fn hold_for_save(&self) -> Option<parking_lot::MutexGuard<'_, ()>> {
        if !self.is_replica() {
            return None;
        }
        self.apply
            .try_lock_for(std::time::Duration::from_millis(50))
    }
}

/// At start-up, after an RDB (not the log) was loaded: continue the history it records, as
/// Redis does. A replica asks its master to continue from there (PSYNC id offset+1); a
/// master keeps it as its previous history, so its replicas can continue (PSYNC2).
pub fn restore_history(srv: &Server) {
    let (id, offset) = {
        let loaded = srv.repl.loaded_history.lock();
        match (&loaded.0, loaded.1) {
            (Some(id), Some(offset)) if id.len() == 40 && offset >= 0 => (id.clone(), offset),
            _ => return,
        }
    };
    let repl = &srv.repl;
    if repl.is_replica() || !srv.config.read().get("replicaof").is_empty() {
        repl.adopt(srv, &id, offset);
        repl.stream_db
            .store(repl.loaded_stream_db.load(Relaxed), Relaxed);
        crate::log_notice!("Continuing the replication history {id}:{offset} from the RDB file");
    } else {
        *repl.ids.lock() = (crate::server::random_hex(40), id);
        repl.second_offset.store(offset + 1, Relaxed);
        repl.feed.reset(offset, backlog_bytes(srv));
        crate::propagate::refresh_log_expired(srv);
    }
}

/// Follow the master `replicaof` names in the config, if any (at start).
pub fn start_from_config(srv: &Arc<Server>) {
    let words = srv.config.read().get("replicaof").to_string();
    let mut parts = words.split_whitespace();
    if let (Some(host), Some(port)) = (parts.next(), parts.next()) {
        if let Ok(port) = port.parse::<u16>() {
            srv.repl.follow(srv, host, port, "");
        }
    }
}
