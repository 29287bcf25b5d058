//! Connected clients: the state a connection's commands use (`ClientState`, owned by the
//! connection's task) and the part other connections may read or act on (`ClientShared`, in
//! the registry, for CLIENT LIST / KILL and INFO clients).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::cmd::Flow;
use crate::stats::ThreadStats;

/// What CLIENT REPLY chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command (set by CLIENT REPLY SKIP).
    SkipNext,
    /// Skipping the reply of the current command.
    Skipping,
}

/// State of one connection, used by its commands.
pub struct ClientState {
    pub id: u64,
    /// When this connection's pending replies first went over the soft output-buffer limit
    /// (ms since the epoch; 0 = not over).
    pub obuf_soft_since_ms: u64,
    /// A script is running for this client: the commands it calls are its (MONITOR shows
    /// them as `lua`'s).
    pub in_script: bool,
    /// The client replaying the append-only log at start-up (Redis's `mustObeyClient`).
    pub replaying: bool,
    /// SCRIPT DEBUG SYNC: its next EVAL runs in the Lua debugger.
    pub lua_debug: bool,
    /// The memory was over `maxmemory`, with nothing to evict, when this command began
    /// (Redis's `pre_command_oom_state`, which scripts check).
    pub oom_before_script: bool,
    pub db: usize,
    pub authenticated: bool,
    /// The ACL user the connection runs as (`None`: an internal client, allowed everything),
    /// and the ACL generation it was looked up at (see `crate::acl`).
    pub user: Option<Arc<crate::acl::User>>,
    pub acl_generation: u64,
    /// The command answered with an error counted elsewhere (a script passing on a called
    /// command's error): it counts as failed without counting the error again.
    pub reply_failed: bool,
    /// Bytes at the front of the read buffer that are a command CLIENT PAUSE holds.
    pub held_bytes: usize,
    pub reply_mode: ReplyMode,
    /// Set by a handler that wants the connection closed after its reply.
    pub flow: Flow,
    pub last_command: &'static str,
    pub no_evict: bool,
    /// ASKING: the next command (or the next transaction) may use a slot being imported.
    pub cluster_asking: bool,
    /// READONLY: a replica in cluster mode serves this client reads of its master's slots.
    pub cluster_readonly: bool,
    pub shared: Arc<ClientShared>,
    pub stats: Arc<ThreadStats>,
    /// Set while a blocking command waits for data.
    pub block: Option<Block>,
    /// Blocking commands must not wait (Redis's `CLIENT_DENY_BLOCKING`): inside MULTI/EXEC
    /// and scripts, which set this while they run, BLPOP and friends act as their
    /// non-blocking forms and answer as on a timeout when there is no data.
    pub deny_blocking: bool,
    /// Log sequence of this client's last logged write: under `appendfsync always` its
    /// replies are sent only once the log is durable up to here (0: nothing to wait for).
    pub pending_durable: u64,
    /// Commands queued since MULTI; `None` outside a transaction.
    pub multi: Option<crate::cmd::Multi>,
    /// The keys this client WATCHes.
    pub watching: crate::cmd::Watching,
    /// Invalidations caused by this client's own command, sent after its reply.
    pub pending_invalidations: Vec<u8>,
    /// Channels, patterns and shard channels this client is subscribed to.
    pub subs: crate::pubsub::Subscriptions,
    /// While EXEC runs: its commands' effects with their database, logged as one record when
    /// it ends.
    pub exec_log: Option<Vec<(usize, Vec<Vec<u8>>)>>,
    /// Offset of the replication stream after this client's last write (what WAIT waits
    /// for the replicas to acknowledge).
    pub repl_offset: i64,
    /// What the connection told this server as a replica-to-be (REPLCONF), and a SYNC, PSYNC
    /// or WAIT it is waiting on.
    pub repl: crate::replication::ClientRepl,
}

/// A blocking command waiting for data (what its connection needs; what a serving writer
/// needs is in `ClientShared::wait`).
pub struct Block {
    /// The keys it waits on (in `db`).
    pub keys: Vec<Vec<u8>>,
    pub db: usize,
    /// When to give up; `None` for no timeout, or one too far away to represent (Redis keeps
    /// such a client in its timeout table, where it never fires).
    pub deadline: Option<std::time::Instant>,
    /// The command, for its statistics when the wait ends.
    pub spec: &'static crate::cmd::Spec,
    /// CLIENT REPLY OFF or SKIP was in force when the command ran: its reply, whenever it
    /// comes, is not sent.
    pub drop_reply: bool,
    /// The command's arguments and how long its call took (µs): as in Redis 7.0, a command
    /// that blocks reaches the slow log and its latency histogram only once it is served.
    pub argv: Vec<Vec<u8>>,
    pub call_us: u64,
}

impl ClientState {
    /// Whether this command runs inside EXEC (Redis's `server.in_exec`).
    pub fn in_exec(&self) -> bool {
        self.exec_log.is_some()
    }

    pub fn new(shared: Arc<ClientShared>, stats: Arc<ThreadStats>, authenticated: bool) -> Self {
        ClientState {
            id: shared.id,
            obuf_soft_since_ms: 0,
            in_script: false,
            replaying: false,
            lua_debug: false,
            oom_before_script: false,
            db: 0,
            authenticated,
            user: None,
            acl_generation: 0,
            reply_failed: false,
            held_bytes: 0,
            reply_mode: ReplyMode::On,
            flow: Flow::Continue,
            last_command: "NULL",
            no_evict: false,
            cluster_asking: false,
            cluster_readonly: false,
            shared,
            stats,
            block: None,
            deny_blocking: false,
            pending_durable: 0,
            multi: None,
            watching: crate::cmd::Watching::default(),
            exec_log: None,
            repl_offset: 0,
            repl: crate::replication::ClientRepl::default(),
            subs: crate::pubsub::Subscriptions::default(),
            pending_invalidations: Vec::new(),
        }
    }
}

/// What the registry knows of a connection.
/// [`ClientShared::role`] of a replica's link.
pub const ROLE_REPLICA: u8 = 1;
/// [`ClientShared::role`] of the link to this server's master.
pub const ROLE_MASTER: u8 = 2;

pub struct ClientShared {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created: Instant,
    pub unix: bool,
    pub name: Mutex<Option<Vec<u8>>>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    pub last_interaction_ms: AtomicU64,
    /// The read buffer: bytes waiting in it and room left (CLIENT LIST `qbuf`, `qbuf-free`,
    /// `rbs`), stored by the connection around each batch.
    pub query_buf_bytes: AtomicUsize,
    pub query_buf_free: AtomicUsize,
    /// Bytes of the arguments of the command the client is blocked in (0 when not blocked).
    pub blocked_argv_bytes: AtomicUsize,
    /// Index (in the command table's `all_specs`) + 1 of the last command run; 0 = none yet.
    pub last_command: AtomicUsize,
    pub no_evict: AtomicBool,
    killed: AtomicBool,
    kill: Notify,
    /// The wait of a blocked command, decided by whoever serves, unblocks or ends it.
    pub wait: crate::blocking::WaitSlot,
    /// Set when a key this client WATCHes changes (Redis's `CLIENT_DIRTY_CAS`), by whichever
    /// thread changes it; cleared when the client stops watching.
    pub watch_flag: Arc<store::WatchFlag>,
    /// Commands queued since MULTI, -1 outside a transaction (CLIENT LIST's `multi`).
    pub multi_count: std::sync::atomic::AtomicI64,
    /// A command of this client is held by CLIENT PAUSE (CLIENT LIST's `b` flag, as Redis
    /// blocks a postponed client).
    pub paused: std::sync::atomic::AtomicBool,
    /// Memory of the queued transaction (CLIENT LIST's `multi-mem`).
    pub multi_mem: AtomicUsize,
    /// Bookkeeping of the watched keys: counted in `tot-mem` and by client eviction, not in
    /// `multi-mem` (as Redis's `multiStateMemOverhead` and CLIENT LIST split them).
    pub watch_mem: AtomicUsize,
    /// Messages other clients' commands deliver to this one (pub/sub).
    pub outbox: crate::pubsub::Outbox,
    /// Subscriptions: channels, patterns, shard channels (CLIENT LIST's `sub`, `psub`, `ssub`).
    pub sub_counts: [AtomicUsize; 3],
    /// CLIENT TRACKING settings.
    pub tracking: Mutex<crate::tracking::Mode>,
    /// In MONITOR mode (CLIENT LIST's flag `O`).
    pub monitoring: AtomicBool,
    /// A replica's link (`ROLE_REPLICA`, flag `S`) or this server's master's (`ROLE_MASTER`,
    /// flag `M`); 0 for other clients.
    pub role: AtomicU8,
    /// The name of the ACL user it runs as (CLIENT LIST's `user`, CLIENT KILL USER).
    pub user_name: Mutex<Vec<u8>>,
}

impl store::Waiter for ClientShared {
    fn id(&self) -> u64 {
        self.id
    }

    fn is_waiting(&self) -> bool {
        self.wait.is_waiting()
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

impl ClientShared {
    /// Ask the connection to close (CLIENT KILL, shutdown).
    pub fn kill(&self) {
        // SeqCst with the wait's state: a client blocking while it is killed either sees the
        // kill or is seen blocked by the killer (see `commands::blocking`).
        self.killed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.kill.notify_one();
    }

    /// Bytes of this client's buffers between commands: its read buffer, a blocked command's
    /// arguments, its queued transaction and its pending output (what `maxmemory-clients`
    /// counts, as CLIENT LIST's `tot-mem` without a running command's share).
    pub fn memory_usage(&self) -> u64 {
        (self.query_buf_bytes.load(Relaxed)
            + self.query_buf_free.load(Relaxed)
            + self.blocked_argv_bytes.load(Relaxed)
            + self.multi_mem.load(Relaxed)
            + self.watch_mem.load(Relaxed)
            + self.outbox.pending_bytes()) as u64
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves when [`kill`](Self::kill) was called.
    pub async fn killed(&self) {
        if self.is_killed() {
            return;
        }
        self.kill.notified().await;
    }

    /// Name of the last command run (`NULL` before the first), as CLIENT LIST shows it.
    pub fn last_command_name(&self) -> &'static str {
        match self.last_command.load(Relaxed) {
            0 => "NULL",
            i => crate::cmd::table::all_specs()
                .get(i - 1)
                .map_or("NULL", |s| s.name),
        }
    }

    /// Redis's client type for CLIENT LIST/KILL TYPE: `replica` or `master` for replication
    /// links, `pubsub` while subscribed to anything, otherwise `normal` (monitors too, as in
    /// Redis).
    pub fn client_type(&self) -> &'static str {
        match self.role.load(Relaxed) {
            ROLE_REPLICA => return "replica",
            ROLE_MASTER => return "master",
            _ => {}
        }
        if self.sub_counts.iter().any(|c| c.load(Relaxed) > 0) {
            "pubsub"
        } else {
            "normal"
        }
    }

    /// One CLIENT LIST line (without the trailing newline). `running` describes the command
    /// the client is running now when it lists itself: Redis shows that command, its
    /// arguments' bytes (`argv-mem`) and the replies already buffered before it (`obl`).
    pub fn describe(&self, now_ms: u64, running: Option<Running>) -> String {
        let name = self.name.lock().clone().unwrap_or_default();
        let age = self.created.elapsed().as_secs();
        let idle = now_ms.saturating_sub(self.last_interaction_ms.load(Relaxed)) / 1000;
        let qbuf = self.query_buf_bytes.load(Relaxed);
        let qbuf_free = self.query_buf_free.load(Relaxed);
        // Basalt's read buffer is the query buffer: its whole capacity is what Redis calls the
        // read buffer size.
        let rbs = qbuf + qbuf_free;
        let (cmd, argv_mem, obl) = match running {
            Some(r) => (r.cmd, r.argv_bytes, r.out_bytes),
            None => (
                self.last_command_name(),
                self.blocked_argv_bytes.load(Relaxed),
                0,
            ),
        };
        let multi_mem = self.multi_mem.load(Relaxed);
        let omem = self.outbox.pending_bytes();
        // (`memory_usage` sums the same buffers, without the running command's.)
        let redir = {
            let t = self.tracking.lock();
            if t.on {
                t.redirect as i64
            } else {
                -1
            }
        };
        // In Redis's order (only the flags Basalt has): pubsub, multi, blocked, dirty CAS, unix
        // socket, no-evict.
        let mut flags = String::new();
        if self.monitoring.load(Relaxed) {
            // A monitor is a replica to Redis.
            flags.push('O');
        }
        match self.role.load(Relaxed) {
            ROLE_REPLICA => flags.push('S'),
            ROLE_MASTER => flags.push('M'),
            _ => {}
        }
        let [sub, psub, ssub] = [0, 1, 2].map(|i| self.sub_counts[i].load(Relaxed));
        if sub + psub + ssub > 0 {
            flags.push('P');
        }
        let multi = self.multi_count.load(Relaxed);
        if multi >= 0 {
            flags.push('x');
        }
        if self.wait.is_blocked() || self.paused.load(Relaxed) {
            flags.push('b');
        }
        let tracking = self.tracking.lock().clone();
        if tracking.on {
            flags.push('t');
        }
        if tracking.broken_redirect {
            flags.push('R');
        }
        if tracking.bcast {
            flags.push('B');
        }
        if self.watch_flag.is_dirty() {
            flags.push('d');
        }
        if self.unix {
            flags.push('U');
        }
        if self.no_evict.load(Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd={} name={} age={age} idle={idle} flags={flags} db={} sub={sub} psub={psub} ssub={ssub} multi={multi} qbuf={qbuf} qbuf-free={qbuf_free} argv-mem={argv_mem} multi-mem={multi_mem} rbs={rbs} rbp=0 obl={obl} oll=0 omem={omem} tot-mem={} events=r cmd={cmd} user={} redir={redir} resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&name),
            self.db.load(Relaxed),
            rbs + argv_mem + multi_mem + self.watch_mem.load(Relaxed) + obl + omem,
            String::from_utf8_lossy(&self.user_name.lock()),
            self.resp.load(Relaxed),
        )
    }
}

/// The command a client is running while it describes itself (CLIENT LIST, CLIENT INFO).
#[derive(Debug, Clone, Copy)]
pub struct Running {
    /// Its name as CLIENT LIST shows it (`client|list`).
    pub cmd: &'static str,
    /// Total bytes of its arguments.
    pub argv_bytes: usize,
    /// Bytes of replies already waiting in the output buffer before this one.
    pub out_bytes: usize,
}

/// All connected clients.
#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientShared>>>,
    next_id: AtomicU64,
}

impl Clients {
    /// Register a new connection; ids start at 1 and are never reused.
    pub fn register(&self, addr: String, laddr: String, fd: i32, unix: bool) -> Arc<ClientShared> {
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let shared = Arc::new(ClientShared {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            unix,
            name: Mutex::new(None),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_interaction_ms: AtomicU64::new(crate::util::now_ms()),
            query_buf_bytes: AtomicUsize::new(0),
            query_buf_free: AtomicUsize::new(0),
            blocked_argv_bytes: AtomicUsize::new(0),
            last_command: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            wait: crate::blocking::WaitSlot::default(),
            watch_flag: Arc::default(),
            multi_count: std::sync::atomic::AtomicI64::new(-1),
            multi_mem: AtomicUsize::new(0),
            watch_mem: AtomicUsize::new(0),
            paused: std::sync::atomic::AtomicBool::new(false),
            outbox: crate::pubsub::Outbox::default(),
            sub_counts: Default::default(),
            tracking: Mutex::default(),
            monitoring: AtomicBool::new(false),
            role: AtomicU8::new(0),
            user_name: Mutex::new(b"default".to_vec()),
        });
        self.map.lock().insert(id, shared.clone());
        shared
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of every client, in id order.
    pub fn all(&self) -> Vec<Arc<ClientShared>> {
        self.map.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientShared>> {
        self.map.lock().get(&id).cloned()
    }
}
