//! EVAL and its family: the script cache shared by all threads, one Lua interpreter per I/O
//! thread (`basalt-scripting`), and running a script atomically under shard locks.
//!
//! **Atomicity.** A script runs under the locks of its command: the shards of its declared
//! keys (KEYS), taken by the dispatcher like any command's. Each command the script calls
//! must have its keys' shards held ([`crate::cmd::script_call`]):
//! - A read of an undeclared key grows the locks without ever waiting out of order (a shard
//!   above every held one is waited for, one below only tried); if that fails, the script
//!   starts over from the beginning holding every shard (it has written nothing; its reads
//!   are simply made again).
//! - Its first write must fall under held locks, and must not come after it reached beyond
//!   its declared keys, or the script starts over holding every shard (a script that reaches
//!   beyond its keys may reach further after writing, when it could no longer start over).
//! - A script that ever reached beyond its declared keys locks every shard from the start on
//!   its later runs (the cache remembers).
//! - The one case left: a script that wrote its declared keys before it reached any other
//!   and then reads an undeclared key whose shard another command holds (and would wait for
//!   one of the script's) keeps trying for a while, then that call fails with an error —
//!   only on the script's first run, since it then locks every shard.
//!
//! Held locks are released only when the script ends (two-phase locking), so every script
//! is serializable with every other command, transaction, snapshot and rewrite.
//!
//! **Effects.** The commands a script runs are logged, not the script (Redis 7.0's effects
//! replication), as one `MULTI … EXEC` record when there is more than one, through the same
//! path as a transaction's.

pub mod busy;
pub mod debugger;
pub mod functions;
mod host;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::RwLock;
use scripting::{Engine, Shebang};

pub use host::ScriptRun;

/// A script body the server knows (EVAL or SCRIPT LOAD), by SHA-1.
pub struct Script {
    pub body: Vec<u8>,
    pub shebang: Shebang,
    /// It touched keys in shards it could not take while holding its declared ones: later
    /// runs lock every shard from the start.
    pub needs_every_shard: AtomicBool,
}

impl Default for Scripts {
    fn default() -> Scripts {
        Scripts {
            map: RwLock::default(),
            generation: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            busy_after_ms: AtomicU64::new(5000),
        }
    }
}

/// Every script loaded, shared by the threads' interpreters.
pub struct Scripts {
    map: RwLock<HashMap<String, Arc<Script>, foldhash::fast::FixedState>>,
    /// Bumped by SCRIPT FLUSH: an interpreter that compiled under an older generation drops
    /// its compiled scripts before running anything.
    generation: AtomicU64,
    bytes: AtomicU64,
    /// `busy-reply-threshold` (ms), kept here so a run reads no config.
    pub busy_after_ms: AtomicU64,
}

impl Scripts {
    /// Take the settings scripts read (call after the config changed).
    pub fn load_config(&self, config: &crate::config::Config) {
        let ms = config.get("busy-reply-threshold").parse().unwrap_or(5000);
        self.busy_after_ms.store(ms, Relaxed);
    }

    pub fn get(&self, sha: &str) -> Option<Arc<Script>> {
        self.map.read().get(sha).cloned()
    }

    /// [`Scripts::get`] through this thread's copy of the entries it used: the shared map's
    /// lock and the script's reference count are cache lines every thread writes, which
    /// EVALSHA on every core would pass back and forth on each call.
    pub fn get_local(&self, sha: &str) -> Option<Rc<Arc<Script>>> {
        let generation = self.generation.load(Relaxed);
        LOCAL_SCRIPTS.with(|cell| {
            let mut local = cell.borrow_mut();
            if local.0 != generation {
                local.1.clear();
                local.0 = generation;
            }
            if let Some(s) = local.1.get(sha) {
                return Some(s.clone());
            }
            let script = Rc::new(self.get(sha)?);
            local.1.insert(sha.to_string(), script.clone());
            Some(script)
        })
    }

    pub fn contains(&self, sha: &str) -> bool {
        self.map.read().contains_key(sha)
    }

    /// Compile `body` (in this thread's interpreter, to report errors as Redis does) and keep
    /// it; returns its SHA-1 or the error reply's text.
    pub fn load(&self, body: &[u8]) -> Result<(String, Arc<Script>), String> {
        let sha = scripting::sha1_hex(body);
        if let Some(s) = self.get(&sha) {
            return Ok((sha, s));
        }
        let shebang = scripting::shebang::parse(body).map_err(|e| format!("ERR {e}"))?;
        with_engine(self, |engine| engine.load(&sha, body))??;
        let script = Arc::new(Script {
            body: body.to_vec(),
            shebang,
            needs_every_shard: AtomicBool::new(false),
        });
        let mut map = self.map.write();
        let entry = map.entry(sha.clone()).or_insert_with(|| {
            self.bytes
                .fetch_add((body.len() + sha.len()) as u64, Relaxed);
            script
        });
        Ok((sha, entry.clone()))
    }

    /// SCRIPT FLUSH: forget every script; interpreters drop theirs before their next run.
    pub fn flush(&self) {
        self.map.write().clear();
        // Redis's new Lua state has the libraries' defaults again (cjson's settings).
        scripting::reset_libraries();
        self.bytes.store(0, Relaxed);
        self.generation.fetch_add(1, Relaxed);
    }

    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the cached bodies (INFO `used_memory_scripts_eval`).
    pub fn body_bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }
}

/// A thread's copy of the script cache's entries it used (see [`Scripts::get_local`]), and
/// the cache generation they belong to.
type LocalScripts = (
    u64,
    HashMap<String, Rc<Arc<Script>>, foldhash::fast::FixedState>,
);

thread_local! {
    static LOCAL_SCRIPTS: std::cell::RefCell<LocalScripts> = std::cell::RefCell::default();
    /// This thread's interpreter and the cache generation it compiled under.
    static ENGINE: EngineSlot = const { std::cell::RefCell::new(None) };
    /// Bytes of this thread's interpreter, for INFO (read by other threads).
    static LUA_BYTES: Arc<AtomicU64> = Arc::new(AtomicU64::new(0));
}

/// Every interpreter's memory counter, summed by INFO `used_memory_lua`.
static LUA_COUNTERS: RwLock<Vec<Arc<AtomicU64>>> = RwLock::new(Vec::new());

/// Bytes all interpreters hold.
pub fn lua_memory() -> u64 {
    LUA_COUNTERS.read().iter().map(|c| c.load(Relaxed)).sum()
}

/// The error reply when an interpreter cannot be created.
pub(crate) const NO_ENGINE: &str = "ERR Lua interpreter could not be created";

/// A new interpreter reporting Redis 7.0.15's version.
fn new_engine() -> Result<Engine, String> {
    Engine::new(crate::config::REDIS_VERSION, REDIS_VERSION_NUM).map_err(|_| NO_ENGINE.to_string())
}

/// Run `f` with this thread's interpreter (created on first use; emptied when SCRIPT FLUSH
/// happened since it last ran).
pub fn with_engine<R>(scripts: &Scripts, f: impl FnOnce(&mut Engine) -> R) -> Result<R, String> {
    let generation = scripts.generation.load(Relaxed);
    with_thread_engine(
        &ENGINE,
        &LUA_BYTES,
        &LUA_COUNTERS,
        generation,
        Engine::flush,
        f,
    )
}

/// A thread's interpreter and the generation it compiled under.
pub(crate) type EngineSlot = std::cell::RefCell<Option<(u64, Engine)>>;

/// Run `f` with the interpreter in `slot` (made on first use, its memory counter `bytes`
/// registered in `counters`); `reset` drops what it compiled when `generation` moved since.
pub(crate) fn with_thread_engine<R>(
    slot: &'static std::thread::LocalKey<EngineSlot>,
    bytes: &'static std::thread::LocalKey<Arc<AtomicU64>>,
    counters: &RwLock<Vec<Arc<AtomicU64>>>,
    generation: u64,
    reset: impl FnOnce(&mut Engine),
    f: impl FnOnce(&mut Engine) -> R,
) -> Result<R, String> {
    slot.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let engine = new_engine()?;
            bytes.with(|b| counters.write().push(b.clone()));
            *slot = Some((generation, engine));
        }
        let Some((seen, engine)) = slot.as_mut() else {
            return Err(NO_ENGINE.to_string());
        };
        if *seen != generation {
            reset(engine);
            *seen = generation;
        }
        let r = f(engine);
        bytes.with(|b| b.store(engine.used_memory() as u64, Relaxed));
        Ok(r)
    })
}

/// `redis.REDIS_VERSION_NUM` for 7.0.15.
const REDIS_VERSION_NUM: i64 = 0x0007_000f;
