//! Eviction under `maxmemory` (Redis's `performEvictions`): before a command runs, while the
//! memory counted for eviction is above the limit, keys are evicted by `maxmemory-policy`.
//!
//! Sampling: each round locks one random shard for a moment, samples `maxmemory-samples`
//! keys of each of its non-empty databases, and merges them into a pool of the best
//! candidates kept across rounds and commands (Redis's eviction pool: idle time for LRU,
//! 255 minus the decayed counter for LFU, nearness of expiry for TTL); the best one is
//! evicted, its shard locked again on its own. A shard picked at random is as good as a key
//! picked at random when keys spread evenly over shards, and no writer waits for more than
//! one shard's short hold. Random policies evict a random key of a random shard.
//!
//! A command that needs memory (`denyoom`) is refused with `-OOM` when nothing could be
//! evicted; a round that runs out of its time budget (`maxmemory-eviction-tenacity`) lets
//! the command through and the next command goes on evicting, as Redis's timer does.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use store::EvictionPolicy as Policy;

use crate::server::Server;

/// The reply to a command refused for memory.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Candidates kept between rounds (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// Random shards tried for a non-empty one before walking them all.
const SHARD_TRIES: usize = 16;

/// One candidate: higher scores go first.
struct Candidate {
    score: u64,
    shard: usize,
    db: usize,
    key: Vec<u8>,
}

/// The settings eviction reads on every command, and the pool.
#[derive(Default)]
pub struct Eviction {
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    tenacity: AtomicU32,
    pool: Mutex<Vec<Candidate>>,
    seed: AtomicU64,
    /// Start (µs on [`monotonic_us`]'s clock, 0 for none) of the period the memory has been
    /// over `maxmemory` without eviction bringing it back under; the total of the periods
    /// that ended. INFO's `current_`/`total_eviction_exceeded_time`.
    exceeded_since_us: AtomicU64,
    exceeded_total_us: AtomicU64,
    /// `replica-ignore-maxmemory`: a replica leaves eviction to its master (whose DELs
    /// arrive in the stream), so both hold the same keys.
    replica_ignores: std::sync::atomic::AtomicBool,
}

const POLICIES: [Policy; 8] = [
    Policy::NoEviction,
    Policy::AllKeysLru,
    Policy::AllKeysLfu,
    Policy::AllKeysRandom,
    Policy::VolatileLru,
    Policy::VolatileLfu,
    Policy::VolatileRandom,
    Policy::VolatileTtl,
];

impl Eviction {
    /// Take the settings (call after the config changed).
    pub fn load(&self, config: &crate::config::Config) {
        self.maxmemory.store(config.maxmemory(), Relaxed);
        let policy = Policy::parse(config.get("maxmemory-policy"));
        let idx = POLICIES.iter().position(|p| *p == policy).unwrap_or(0);
        if self.policy.swap(idx as u8, Relaxed) != idx as u8 {
            // Scores of another policy mean nothing now.
            self.pool.lock().clear();
        }
        self.samples.store(
            config.get_i64("maxmemory-samples").clamp(1, 64) as u32,
            Relaxed,
        );
        self.tenacity.store(
            config.get_i64("maxmemory-eviction-tenacity").clamp(0, 100) as u32,
            Relaxed,
        );
        self.replica_ignores
            .store(config.get("replica-ignore-maxmemory") == "yes", Relaxed);
        if self.seed.load(Relaxed) == 0 {
            self.seed.store(crate::util::now_us() | 1, Relaxed);
        }
    }

    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Relaxed)
    }

    fn policy(&self) -> Policy {
        POLICIES[usize::from(self.policy.load(Relaxed)).min(POLICIES.len() - 1)]
    }

    /// Redis's `evictionTimeLimitUs`.
    fn time_limit(&self) -> Duration {
        let t = self.tenacity.load(Relaxed);
        let us = if t <= 10 {
            50 * u64::from(t)
        } else if t < 100 {
            (500.0 * 1.15f64.powi(t as i32 - 10)) as u64
        } else {
            u64::MAX
        };
        Duration::from_micros(us)
    }

    /// Eviction could not bring the memory under the limit (yet): a period over it starts,
    /// unless one is running.
    fn exceeded(&self) {
        let _ = self
            .exceeded_since_us
            .compare_exchange(0, monotonic_us(), Relaxed, Relaxed);
    }

    /// The memory is under the limit: a running period over it ends. One load when none runs
    /// (the common case, on every command).
    pub fn within(&self) {
        if self.exceeded_since_us.load(Relaxed) != 0 {
            let since = self.exceeded_since_us.swap(0, Relaxed);
            if since != 0 {
                let spent = monotonic_us().saturating_sub(since);
                self.exceeded_total_us.fetch_add(spent, Relaxed);
            }
        }
    }

    /// INFO's `total_eviction_exceeded_time` and `current_eviction_exceeded_time`, ms: all
    /// the time over the limit (the running period included), and the running period.
    pub fn exceeded_ms(&self) -> (u64, u64) {
        let since = self.exceeded_since_us.load(Relaxed);
        let current = if since == 0 {
            0
        } else {
            monotonic_us().saturating_sub(since)
        };
        let total = self.exceeded_total_us.load(Relaxed) + current;
        (total / 1000, current / 1000)
    }

    /// CONFIG RESETSTAT: the totals restart, and so does a running period.
    pub fn reset_stats(&self) {
        self.exceeded_total_us.store(0, Relaxed);
        self.exceeded_since_us.store(0, Relaxed);
    }

    /// A random number (xorshift over a shared seed; quality matters little here).
    fn rand(&self) -> u64 {
        let mut x = self.seed.load(Relaxed) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Relaxed);
        x
    }
}

/// Microseconds on a monotonic clock that starts above 0 (0 means "no period" above).
fn monotonic_us() -> u64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    base.elapsed().as_micros() as u64 + 1
}

/// The memory eviction compares with `maxmemory`: everything allocated but the log's
/// pending buffer (Redis's `mem_not_counted_for_evict`).
pub fn used_for_eviction(srv: &Server) -> u64 {
    let used = crate::commands::info::used_memory();
    used.saturating_sub(not_counted(srv))
}

/// INFO's `mem_not_counted_for_evict`.
pub fn not_counted(srv: &Server) -> u64 {
    srv.aof().map_or(0, |a| a.buffered_bytes() as u64)
}

/// Whether the memory is over `maxmemory` now (scripts' and MULTI's checks use it too).
pub fn over_limit(srv: &Server) -> bool {
    let max = srv.evict.maxmemory();
    max > 0 && used_for_eviction(srv) > max
}

/// Evict until under `maxmemory`. `false` when over it and nothing could be evicted (a
/// `denyoom` command is then refused).
pub fn perform(srv: &Server, now_ms: u64) -> bool {
    let ev = &srv.evict;
    if srv.repl.is_replica() && ev.replica_ignores.load(Relaxed) {
        return true;
    }
    if !over_limit(srv) {
        ev.within();
        return true;
    }
    let policy = ev.policy();
    if policy == Policy::NoEviction {
        ev.exceeded();
        return false;
    }
    let started = Instant::now();
    let budget = ev.time_limit();
    loop {
        let Some(c) = next_victim(srv, policy, now_ms) else {
            ev.exceeded();
            return false;
        };
        let mut shard = srv.store.lock_shard(c.shard);
        let evicted = shard.db(c.db).evict(&c.key, policy.volatile());
        if evicted {
            after_evictions(srv, &mut shard);
        }
        drop(shard);
        if !over_limit(srv) {
            ev.within();
            return true;
        }
        if evicted && started.elapsed() > budget {
            // The next command goes on (Redis's eviction time proc).
            ev.exceeded();
            return true;
        }
    }
}

/// The log, client-side caches and keyspace events owed by the evictions in `shard`.
fn after_evictions(srv: &Server, shard: &mut store::Shard) {
    if crate::propagate::wanted_by_server(srv) {
        for (db, key) in shard.drain_expired() {
            crate::propagate::server_del(srv, db, key);
        }
    } else {
        drop(shard.drain_expired());
    }
    if store::modified_pending() {
        let keys: Vec<Vec<u8>> = shard.take_modified().into_iter().map(|(_, k)| k).collect();
        crate::tracking::invalidate(srv, &keys, 0, &mut Vec::new());
    }
    if store::store_events_pending() {
        crate::pubsub::notify::emit_store_events(srv, std::iter::once(shard), None);
    }
}

/// The next key to evict, `None` when no key can be.
fn next_victim(srv: &Server, policy: Policy, now_ms: u64) -> Option<Candidate> {
    let ev = &srv.evict;
    if policy.random() {
        let shard = nonempty_shard(srv, policy)?;
        let mut s = srv.store.lock_shard(shard);
        for db in 0..s.database_count() {
            let Some(d) = s.existing_db_mut(db) else {
                continue;
            };
            if let Some((key, _)) = d.eviction_candidate(policy, now_ms, || ev.rand()) {
                return Some(Candidate {
                    score: 0,
                    shard,
                    db,
                    key,
                });
            }
        }
        return None;
    }
    // Fill the pool from one shard, then take its best candidate.
    let shard = nonempty_shard(srv, policy)?;
    let samples = ev.samples.load(Relaxed) as usize;
    let mut found = Vec::new();
    {
        let mut s = srv.store.lock_shard(shard);
        for db in 0..s.database_count() {
            let Some(d) = s.existing_db_mut(db) else {
                continue;
            };
            let len = if policy.volatile() {
                d.volatile_len()
            } else {
                d.len()
            };
            if len == 0 {
                continue;
            }
            for _ in 0..samples.min(len) {
                if let Some((key, score)) = d.eviction_candidate(policy, now_ms, || ev.rand()) {
                    found.push(Candidate {
                        score,
                        shard,
                        db,
                        key,
                    });
                }
            }
        }
    }
    let mut pool = ev.pool.lock();
    for c in found {
        if pool
            .iter()
            .any(|p| p.shard == c.shard && p.db == c.db && p.key == c.key)
        {
            continue;
        }
        pool.push(c);
    }
    pool.sort_by_key(|c| std::cmp::Reverse(c.score));
    pool.truncate(POOL_SIZE);
    if pool.is_empty() {
        return None;
    }
    Some(pool.remove(0))
}

/// A shard with a key the policy may evict: random ones first, then every shard in turn.
fn nonempty_shard(srv: &Server, policy: Policy) -> Option<usize> {
    let n = srv.store.shard_count();
    let has = |i: usize| {
        let s = srv.store.lock_shard(i);
        let found = s.dbs().any(|(_, d)| {
            if policy.volatile() {
                d.volatile_len() > 0
            } else {
                !d.is_empty()
            }
        });
        found
    };
    for _ in 0..SHARD_TRIES {
        let i = (srv.evict.rand() % n as u64) as usize;
        if has(i) {
            return Some(i);
        }
    }
    (0..n).find(|&i| has(i))
}

/// Client eviction (`maxmemory-clients`, Redis 7.0): while the clients' buffers together
/// exceed the limit (bytes, or a percentage of `maxmemory`), the client using the most is
/// disconnected — never one with CLIENT NO-EVICT on. Checked by the cron, ten times a second.
pub fn evict_clients(srv: &Server) {
    let limit = client_limit(srv);
    if limit == 0 {
        return;
    }
    let mut clients: Vec<(u64, std::sync::Arc<crate::client::ClientShared>)> = srv
        .clients
        .all()
        .into_iter()
        .filter(|c| !c.is_killed())
        .map(|c| (c.memory_usage(), c))
        .collect();
    let mut total: u64 = clients.iter().map(|(m, _)| *m).sum();
    if total <= limit {
        return;
    }
    clients.sort_by_key(|(m, _)| std::cmp::Reverse(*m));
    for (mem, c) in clients {
        if total <= limit {
            break;
        }
        if c.no_evict.load(Relaxed) {
            continue;
        }
        crate::log_verbose!("Evicting client: id={} addr={} tot-mem={mem}", c.id, c.addr);
        // Counted before the kill: whoever sees the connection close sees the count too.
        srv.stats.evicted_clients.fetch_add(1, Relaxed);
        c.kill();
        c.wait.cancel(&srv.blocked);
        total = total.saturating_sub(mem);
    }
}

/// `maxmemory-clients` in bytes: as given, or its percentage of `maxmemory` ("10%").
fn client_limit(srv: &Server) -> u64 {
    let config = srv.config.read();
    let value = config.get("maxmemory-clients");
    match value.strip_suffix('%') {
        Some(pct) => {
            let pct: u64 = pct.trim().parse().unwrap_or(0);
            srv.evict.maxmemory().saturating_mul(pct) / 100
        }
        None => config.get_i64("maxmemory-clients").max(0) as u64,
    }
}
