//! The server's shared state and its background cron.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use store::Store;
use tokio::sync::Notify;

use crate::client::Clients;
use crate::config::Config;
use crate::stats::Stats;

/// How the server was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Signal(&'static str),
    Command,
}

/// Encoding thresholds read on every collection write, cached from the config so a write
/// does not search the parameter table (refreshed by `config_changed`).
#[derive(Default)]
pub struct EncodingLimits {
    pub list_max_listpack_size: std::sync::atomic::AtomicI64,
    pub list_compress_depth: AtomicUsize,
    pub hash_max_listpack_entries: AtomicUsize,
    pub hash_max_listpack_value: AtomicUsize,
    pub set_max_intset_entries: AtomicUsize,
    pub zset_max_listpack_entries: AtomicUsize,
    pub zset_max_listpack_value: AtomicUsize,
    pub hll_sparse_max_bytes: AtomicUsize,
    pub stream_node_max_bytes: AtomicU64,
    pub stream_node_max_entries: AtomicU64,
}

impl EncodingLimits {
    /// The list node shape from `list-max-listpack-size` and `list-compress-depth`.
    pub fn fill(&self) -> store::Fill {
        store::Fill::from_config(self.list_max_listpack_size.load(Relaxed))
            .with_compress_depth(self.list_compress_depth.load(Relaxed))
    }

    pub fn hash(&self) -> store::HashLimits {
        store::HashLimits {
            max_entries: self.hash_max_listpack_entries.load(Relaxed),
            max_value_bytes: self.hash_max_listpack_value.load(Relaxed),
        }
    }

    pub fn zset(&self) -> store::ZLimits {
        store::ZLimits {
            max_entries: self.zset_max_listpack_entries.load(Relaxed),
            max_value_bytes: self.zset_max_listpack_value.load(Relaxed),
        }
    }

    pub fn max_intset(&self) -> usize {
        self.set_max_intset_entries.load(Relaxed)
    }

    /// `hll-sparse-max-bytes`: a sparse HyperLogLog that would grow past it turns dense.
    pub fn hll_sparse_max_bytes(&self) -> usize {
        self.hll_sparse_max_bytes.load(Relaxed)
    }

    /// `stream-node-max-bytes` and `stream-node-max-entries`: when a stream's tail node is full.
    pub fn stream_nodes(&self) -> store::stream::NodeLimits {
        store::stream::NodeLimits {
            max_bytes: self.stream_node_max_bytes.load(Relaxed),
            max_entries: self.stream_node_max_entries.load(Relaxed),
        }
    }

    fn load(&self, c: &Config) {
        let n = |name: &str| c.get(name).parse::<i64>().unwrap_or(0);
        self.list_max_listpack_size
            .store(n("list-max-listpack-size"), Relaxed);
        self.list_compress_depth
            .store(n("list-compress-depth").max(0) as usize, Relaxed);
        self.hash_max_listpack_entries
            .store(n("hash-max-listpack-entries") as usize, Relaxed);
        self.hash_max_listpack_value
            .store(n("hash-max-listpack-value") as usize, Relaxed);
        self.set_max_intset_entries
            .store(n("set-max-intset-entries") as usize, Relaxed);
        self.zset_max_listpack_entries
            .store(n("zset-max-listpack-entries") as usize, Relaxed);
        self.zset_max_listpack_value
            .store(n("zset-max-listpack-value") as usize, Relaxed);
        self.hll_sparse_max_bytes
            .store(n("hll-sparse-max-bytes") as usize, Relaxed);
        self.stream_node_max_bytes
            .store(n("stream-node-max-bytes").max(0) as u64, Relaxed);
        self.stream_node_max_entries
            .store(n("stream-node-max-entries").max(0) as u64, Relaxed);
    }
}

/// Everything the I/O threads share.
pub struct Server {
    pub store: Store,
    pub config: RwLock<Config>,
    /// Bumped on every CONFIG SET, so connections can cache what they read from the config.
    pub config_version: AtomicU64,
    /// The cron's active expiry runs (`DEBUG SET-ACTIVE-EXPIRE 0` stops it, for tests that
    /// need a key to stay logically expired but present).
    pub active_expire: std::sync::atomic::AtomicBool,
    pub clients: Clients,
    /// Pub/sub channels, patterns and their subscribers.
    pub pubsub: crate::pubsub::PubSub,
    /// Which keyspace events are published (`notify-keyspace-events`).
    pub notify: crate::pubsub::notify::Notifier,
    /// Client-side caching: tracked keys and BCAST prefixes.
    pub tracking: crate::tracking::Tracking,
    /// SLOWLOG entries.
    pub slowlog: crate::slowlog::SlowLog,
    /// Clients in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// CLIENT PAUSE.
    pub pause: crate::pause::Pause,
    /// The latency monitor.
    pub latency: crate::latency::Latency,
    /// Scripts loaded by EVAL and SCRIPT LOAD.
    pub scripts: crate::scripting::Scripts,
    /// Function libraries (FUNCTION LOAD).
    pub functions: crate::scripting::functions::Functions,
    /// `maxmemory` and eviction.
    pub evict: crate::evict::Eviction,
    /// ACL users and the ACL log.
    pub acl: crate::acl::Acl,
    /// The TLS acceptor of `tls-port`.
    pub tls: crate::tls::Tls,
    /// Scripts running past `busy-reply-threshold`.
    pub busy: crate::scripting::busy::Busy,
    pub stats: Stats,
    pub started: Instant,
    /// 40 random hex characters, as Redis's `run_id`.
    pub run_id: String,
    pub io_threads: usize,
    /// The TCP port actually bound (differs from config when `port 0`... never used by Redis,
    /// but reported by INFO).
    pub tcp_port: AtomicU64,
    pub executable: String,
    stop_requested: Mutex<Option<StopReason>>,
    stop: Notify,
    /// Cron cycles run so far.
    pub cron_runs: AtomicU64,
    /// Clients waiting in a blocking command (INFO's blocked_clients and
    /// clients_in_timeout_table).
    pub blocked: crate::blocking::Counts,
    pub limits: EncodingLimits,
    /// The append-only log, once `appendonly` was turned on (set once; turning it off keeps
    /// it, disabled). Use [`Server::aof`] for "the log to append to".
    pub aof_log: std::sync::OnceLock<crate::aof::Aof>,
    /// AOF rewrite state (INFO's aof_rewrite* fields).
    pub rewrite: crate::rewrite::RewriteState,
    /// RDB saves and loads (INFO's rdb_* fields, LASTSAVE).
    pub save_state: crate::save::SaveState,
    /// The server itself, for background work started by a command (the AOF rewrite).
    pub me: std::sync::Weak<Server>,
    /// Replication: the master followed, the link's state, IDs and offsets.
    pub repl: crate::replication::Replication,
    /// The acceptor's runtime and I/O threads, once listening (for listeners opened later:
    /// CONFIG SET tls-port).
    pub listeners: std::sync::OnceLock<crate::net::Listeners>,
    /// Redis Cluster: this node's ID, epochs and slots (`cluster-enabled`).
    pub cluster: crate::cluster::Cluster,
}

impl Server {
    pub fn new(config: Config, io_threads: usize, shards: usize) -> Arc<Server> {
        Server::with_cluster(
            config,
            io_threads,
            shards,
            crate::cluster::Cluster::disabled(),
        )
    }

    /// A server in cluster mode when `cluster` is enabled (its shards then hold whole hash
    /// slots).
    pub fn with_cluster(
        config: Config,
        io_threads: usize,
        shards: usize,
        cluster: crate::cluster::Cluster,
    ) -> Arc<Server> {
        let databases = config.databases();
        let acl = crate::acl::Acl::default();
        acl.load_config(&config);
        let limits = EncodingLimits::default();
        limits.load(&config);
        access_tracking(&config);
        apply_allocator_config(&config);
        let pubsub = crate::pubsub::PubSub::default();
        pubsub.load_limits(&config);
        let notify = crate::pubsub::notify::Notifier::default();
        notify.load(&config);
        let slowlog = crate::slowlog::SlowLog::default();
        slowlog.load(&config);
        let latency = crate::latency::Latency::default();
        latency.load(&config);
        let tracking = crate::tracking::Tracking::default();
        tracking.load(&config);
        let scripts = crate::scripting::Scripts::default();
        scripts.load_config(&config);
        let evict = crate::evict::Eviction::default();
        evict.load(&config);
        let repl = crate::replication::Replication::default();
        repl.load_config(&config);
        crate::stats::set_latency_tracking(config.get("latency-tracking") == "yes");
        let store = if cluster.enabled {
            Store::by_slot(shards, databases)
        } else {
            Store::new(shards, databases)
        };
        Arc::new_cyclic(|me| Server {
            store,
            cluster,
            config: RwLock::new(config),
            config_version: AtomicU64::new(0),
            active_expire: std::sync::atomic::AtomicBool::new(true),
            clients: Clients::default(),
            pubsub,
            notify,
            tracking,
            slowlog,
            monitors: crate::monitor::Monitors::default(),
            pause: crate::pause::Pause::default(),
            latency,
            scripts,
            functions: Default::default(),
            evict,
            acl,
            tls: crate::tls::Tls::default(),
            busy: crate::scripting::busy::Busy::default(),
            stats: Stats::default(),
            started: Instant::now(),
            run_id: random_hex(40),
            io_threads,
            tcp_port: AtomicU64::new(0),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            stop_requested: Mutex::new(None),
            stop: Notify::new(),
            cron_runs: AtomicU64::new(0),
            blocked: crate::blocking::Counts::default(),
            limits,
            aof_log: std::sync::OnceLock::new(),
            rewrite: crate::rewrite::RewriteState::default(),
            save_state: crate::save::SaveState::default(),
            me: me.clone(),
            repl,
            listeners: std::sync::OnceLock::new(),
        })
    }

    /// Does a new connection need AUTH before other commands?
    pub fn auth_required(&self) -> bool {
        self.acl.auth_required()
    }

    /// Call after the config changed.
    pub fn config_changed(&self) {
        let config = self.config.read();
        self.acl.load_config(&config);
        crate::util::set_log_level(crate::util::Level::from_name(config.get("loglevel")));
        crate::crash::set_enabled(config.get("crash-log-enabled") == "yes");
        self.limits.load(&config);
        access_tracking(&config);
        self.save_state.refresh_writes_denied(&config);
        self.pubsub.load_limits(&config);
        self.scripts.load_config(&config);
        self.evict.load(&config);
        self.notify.load(&config);
        self.slowlog.load(&config);
        self.latency.load(&config);
        self.tracking.load(&config);
        crate::stats::set_latency_tracking(config.get("latency-tracking") == "yes");
        crate::proctitle::apply(&config);
        self.repl.load_config(&config);
        if let Some(aof) = self.aof_log.get() {
            aof.config_changed(&config);
        }
        // Like Redis's jemalloc-bg-thread: a background thread returns freed pages to the OS,
        // so RSS follows used memory instead of keeping dirty pages until the next allocation.
        let _ =
            tikv_jemalloc_ctl::background_thread::write(config.get("jemalloc-bg-thread") == "yes");
        self.config_version.fetch_add(1, Relaxed);
    }

    pub fn request_stop(&self, reason: StopReason) {
        let mut r = self.stop_requested.lock();
        if r.is_none() {
            *r = Some(reason);
        }
        self.stop.notify_waiters();
        self.stop.notify_one();
    }

    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.stop_requested.lock()
    }

    /// Resolves once a stop was requested.
    pub async fn stopped(&self) {
        loop {
            let notified = self.stop.notified();
            if self.stop_reason().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// The append-only log, while `appendonly` is on.
    pub fn aof(&self) -> Option<&crate::aof::Aof> {
        self.aof_log.get().filter(|a| a.enabled())
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// Objects track their accesses as `maxmemory-policy` says: an LFU counter under an LFU
/// policy, the LRU clock otherwise (read by OBJECT FREQ/IDLETIME, RESTORE, the RDB loader).
/// And the store frees values as the `lazyfree-lazy-*` settings say.
fn access_tracking(c: &Config) {
    let n = |name: &str| c.get(name).parse::<u32>().unwrap_or(0);
    store::set_lfu(
        c.get("maxmemory-policy").contains("lfu"),
        n("lfu-log-factor"),
        n("lfu-decay-time"),
    );
    let on = |name: &str| c.get(name) == "yes";
    store::lazyfree::set_policy(
        on("lazyfree-lazy-user-del"),
        on("lazyfree-lazy-server-del"),
        on("lazyfree-lazy-expire"),
        on("lazyfree-lazy-eviction"),
    );
}

/// Random hex digits from the OS's entropy (falls back to time and pid).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !ok {
        let mut x = crate::util::now_us() ^ u64::from(std::process::id()) << 32;
        for b in &mut bytes {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}

/// The background cron: active expiry and incremental rehashing, `hz` times a second, using
/// at most a quarter of each period (Redis's slow expire cycle budget) — more, and bigger
/// batches, as `active-expire-effort` rises.
pub fn spawn_cron(srv: Arc<Server>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("basalt-cron".into())
        .spawn(move || {
            let cron_stats = srv.stats.register_thread();
            let mut repl_ticks = crate::replication::CronTicks::default();
            let mut repl_cron_at = Instant::now();
            loop {
                let (hz, effort) = {
                    let config = srv.config.read();
                    let effort = config.get("active-expire-effort").parse().unwrap_or(1);
                    (config.hz(), store::ExpireEffort::new(effort))
                };
                let period = Duration::from_millis(1000 / hz);
                let started = Instant::now();
                let report = if srv.active_expire.load(Relaxed) {
                    srv.store
                        .active_expire_cycle(period, effort, crate::util::now_ms)
                } else {
                    store::CycleReport::default()
                };
                if report.time_limit_reached {
                    srv.stats.expired_time_cap_reached.fetch_add(1, Relaxed);
                }
                srv.stats.sample_instantaneous();
                let cycle_ms = started.elapsed().as_millis() as u64;
                srv.stats.expire_cycle_cpu_ms.fetch_add(cycle_ms, Relaxed);
                srv.latency.add_if_needed("expire-cycle", cycle_ms);
                if report.expired > 0 {
                    if crate::propagate::wanted_by_server(&srv) {
                        log_expired_everywhere(&srv);
                    }
                    if store::keys_ready() {
                        serve_after_expiry(&srv, &cron_stats);
                    }
                }
                if store::modified_pending() {
                    // Keys the active cycle expired: invalidated for client-side caches.
                    let mut keys = Vec::new();
                    for i in 0..srv.store.shard_count() {
                        keys.extend(srv.store.lock_shard(i).take_modified());
                    }
                    keys.sort_unstable_by_key(|(seq, _)| *seq);
                    let keys: Vec<Vec<u8>> = keys.into_iter().map(|(_, k)| k).collect();
                    crate::tracking::invalidate(&srv, &keys, 0, &mut Vec::new());
                }
                if store::store_events_pending() {
                    for i in 0..srv.store.shard_count() {
                        let mut shard = srv.store.lock_shard(i);
                        crate::pubsub::notify::emit_store_events(
                            &srv,
                            std::iter::once(&mut *shard),
                            None,
                        );
                    }
                }
                // The peak moves with every reading; keys go on being evicted between commands
                // while over `maxmemory` (Redis's eviction time proc).
                let _ = crate::memory::used();
                if crate::evict::over_limit(&srv) {
                    crate::evict::perform(&srv, crate::util::now_ms());
                }
                crate::evict::evict_clients(&srv);
                // Ends a CLIENT PAUSE whose time is up (keys expire again).
                srv.pause.current();
                crate::rewrite::auto_check(&srv);
                crate::bgsave::cron(&srv);
                if repl_cron_at.elapsed() >= Duration::from_secs(1) {
                    repl_cron_at = Instant::now();
                    srv.repl.cron(&srv, &mut repl_ticks);
                }
                srv.cron_runs.fetch_add(1, Relaxed);
                if srv.stop_reason().is_some() {
                    return;
                }
                std::thread::sleep(period.saturating_sub(started.elapsed()));
            }
        })
}

/// Serve the waiters of keys the active expiry made ready (an expired stream ends its
/// XREADGROUP waits with Redis's error at once, as Redis's `beforeSleep` does), one shard at a
/// time under its lock, after the expiries were logged.
fn serve_after_expiry(srv: &Server, stats: &Arc<crate::stats::ThreadStats>) {
    for i in 0..srv.store.shard_count() {
        let keys = srv.store.lock_indices(&[i]);
        drop(crate::blocking::serve_ready(
            srv,
            stats,
            keys,
            crate::util::now_ms(),
        ));
    }
}

/// Like Redis's `jemalloc-bg-thread`: jemalloc's background threads return freed pages to the
/// OS on their own, so RSS follows used memory even while the server is idle (otherwise dirty
/// pages wait for later allocations to be purged).
fn apply_allocator_config(config: &Config) {
    let on = config.get("jemalloc-bg-thread") == "yes";
    if tikv_jemalloc_ctl::background_thread::write(on).is_err() {
        crate::util::log(
            crate::util::Level::Warning,
            "jemalloc background threads could not be switched (jemalloc-bg-thread ignored)",
        );
    }
}

/// Log the `DEL`s of keys the active cycle expired, shard by shard under each shard's lock
/// (a command on the shard would have logged them first).
fn log_expired_everywhere(srv: &Server) {
    for i in 0..srv.store.shard_count() {
        let mut shard = srv.store.lock_shard(i);
        for (db, key) in shard.drain_expired() {
            crate::propagate::server_del(srv, db, key);
        }
    }
}
