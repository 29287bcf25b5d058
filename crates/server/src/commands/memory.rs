//! MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE and HELP, and the memory overhead figures
//! INFO's memory section shares with them (Redis's `getMemoryOverheadData`).

use resp::Argv;

use super::{is, reply_help};
use crate::cmd::{CmdResult, Ctx};
use crate::server::Server;

/// Where the memory goes (Redis's `redisMemOverhead`), in bytes.
pub struct Overhead {
    pub total: u64,
    pub peak: u64,
    pub startup: u64,
    pub clients_normal: u64,
    pub aof_buffer: u64,
    pub lua_caches: u64,
    pub functions_caches: u64,
    /// (db, keyspace table, expires table) for the databases with keys.
    pub dbs: Vec<(usize, u64, u64)>,
    pub overhead_total: u64,
    pub keys: u64,
    pub dataset: u64,
    pub rss: u64,
    pub allocator_allocated: u64,
    pub allocator_active: u64,
    pub allocator_resident: u64,
}

impl Overhead {
    pub fn bytes_per_key(&self) -> u64 {
        self.total
            .saturating_sub(self.startup)
            .checked_div(self.keys)
            .unwrap_or(0)
    }

    pub fn dataset_percentage(&self) -> f64 {
        let net = self.total.saturating_sub(self.startup);
        if net == 0 {
            0.0
        } else {
            self.dataset as f64 * 100.0 / net as f64
        }
    }

    pub fn peak_percentage(&self) -> f64 {
        if self.peak == 0 {
            0.0
        } else {
            self.total as f64 * 100.0 / self.peak as f64
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The figures, every shard locked for a moment to read the tables' sizes.
pub fn overhead(srv: &Server, shards: &mut store::AllShards<'_, '_>) -> Overhead {
    let total = super::info::used_memory();
    let startup = crate::memory::startup();
    let clients_normal: u64 = srv
        .clients
        .all()
        .iter()
        .map(|c| {
            c.query_buf_bytes.load(std::sync::atomic::Ordering::Relaxed) as u64
                + c.outbox.pending_bytes() as u64
        })
        .sum();
    let aof_buffer = crate::evict::not_counted(srv);
    let lua_caches = srv.scripts.body_bytes();
    let functions_caches = srv.functions.overhead_bytes() as u64;
    let databases = srv.store.databases();
    let mut dbs: Vec<(usize, u64, u64)> = (0..databases).map(|i| (i, 0, 0)).collect();
    let mut keys = 0u64;
    shards.for_each(|_, s| {
        for (i, db) in s.dbs() {
            if db.is_empty() {
                continue;
            }
            let (main, expires) = db.table_overhead();
            dbs[i].1 += main as u64;
            dbs[i].2 += expires as u64;
            keys += db.len() as u64;
        }
    });
    dbs.retain(|d| d.1 > 0);
    let overhead_total = startup
        + clients_normal
        + aof_buffer
        + lua_caches
        + functions_caches
        + dbs.iter().map(|d| d.1 + d.2).sum::<u64>();
    let (active, resident) = (
        tikv_jemalloc_ctl::stats::active::read().unwrap_or(0) as u64,
        tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as u64,
    );
    let _ = tikv_jemalloc_ctl::epoch::advance();
    Overhead {
        total,
        peak: crate::memory::peak().max(total),
        startup,
        clients_normal,
        aof_buffer,
        lua_caches,
        functions_caches,
        dbs,
        overhead_total,
        keys,
        dataset: total.saturating_sub(overhead_total),
        rss: super::info::rss_bytes(),
        allocator_allocated: tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64,
        allocator_active: active,
        allocator_resident: resident,
    }
}

/// MEMORY USAGE key [SAMPLES count]: the key, its value and its table entries, in bytes.
/// Basalt measures every element, so SAMPLES is checked but changes nothing.
pub fn memory_usage(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut j = 3;
    while j < argv.len() {
        if is(argv.get(j), "samples") && j + 1 < argv.len() {
            if super::parse_int(argv.get(j + 1))? < 0 {
                return Err(super::err::SYNTAX.into());
            }
            j += 2;
        } else {
            return Err(super::err::SYNTAX.into());
        }
    }
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let key = argv.get(2);
    let bytes = ctx.keys.db(key, db).key_memory(key, now);
    match bytes {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// MEMORY STATS: Redis's fields, in Redis's order.
pub fn memory_stats(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    let mh = {
        let mut shards = ctx.all_shards();
        overhead(srv, &mut shards)
    };
    let out = &mut *ctx.out;
    out.map(27 + mh.dbs.len());
    let int = |out: &mut resp::Reply, name: &str, v: u64| {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    };
    let dbl = |out: &mut resp::Reply, name: &str, v: f64| {
        out.bulk(name.as_bytes());
        out.double(v);
    };
    int(out, "peak.allocated", mh.peak);
    int(out, "total.allocated", mh.total);
    int(out, "startup.allocated", mh.startup);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", mh.clients_normal);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", mh.aof_buffer);
    int(out, "lua.caches", mh.lua_caches);
    int(out, "functions.caches", mh.functions_caches);
    for &(db, main, expires) in &mh.dbs {
        out.bulk(format!("db.{db}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", main);
        int(out, "overhead.hashtable.expires", expires);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", mh.overhead_total);
    int(out, "keys.count", mh.keys);
    int(out, "keys.bytes-per-key", mh.bytes_per_key());
    int(out, "dataset.bytes", mh.dataset);
    dbl(out, "dataset.percentage", mh.dataset_percentage());
    dbl(out, "peak.percentage", mh.peak_percentage());
    int(out, "allocator.allocated", mh.allocator_allocated);
    int(out, "allocator.active", mh.allocator_active);
    int(out, "allocator.resident", mh.allocator_resident);
    let (alloc, active, resident) = (
        mh.allocator_allocated,
        mh.allocator_active,
        mh.allocator_resident,
    );
    dbl(out, "allocator-fragmentation.ratio", ratio(active, alloc));
    int(
        out,
        "allocator-fragmentation.bytes",
        active.saturating_sub(alloc),
    );
    dbl(out, "allocator-rss.ratio", ratio(resident, active));
    int(out, "allocator-rss.bytes", resident.saturating_sub(active));
    dbl(out, "rss-overhead.ratio", ratio(mh.rss, resident));
    int(out, "rss-overhead.bytes", mh.rss.saturating_sub(resident));
    dbl(out, "fragmentation", ratio(mh.rss, mh.total));
    int(out, "fragmentation.bytes", mh.rss.saturating_sub(mh.total));
    Ok(())
}

/// MEMORY DOCTOR: Redis's checks. The two replies tools look for (an instance too empty to
/// judge, nothing found) are Redis's words; the findings are Basalt's.
pub fn memory_doctor(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    let mh = {
        let mut shards = ctx.all_shards();
        overhead(srv, &mut shards)
    };
    let report = doctor_report(srv, &mh);
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(())
}

fn doctor_report(srv: &Server, mh: &Overhead) -> String {
    if mh.total < 5 << 20 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let mb10 = 10u64 << 20;
    let mut found: Vec<&str> = Vec::new();
    if ratio(mh.peak, mh.total) > 1.5 {
        found.push(" * Peak memory: the peak was more than 1.5 times what is used now. The allocator keeps most pages it once used, so RSS stays near the peak until the data grows back; MEMORY PURGE returns what it can.");
    }
    if ratio(mh.rss, mh.total) > 1.4 && mh.rss.saturating_sub(mh.total) > mb10 {
        found.push(" * High total RSS: the process holds more than 1.4 times the memory it allocated. After a peak this is expected; otherwise the workload fragments memory.");
    }
    let (alloc, active, resident) = (
        mh.allocator_allocated,
        mh.allocator_active,
        mh.allocator_resident,
    );
    if ratio(active, alloc) > 1.1 && active.saturating_sub(alloc) > mb10 {
        found.push(" * High allocator fragmentation: the allocator's active pages exceed what is allocated by more than 10%.");
    }
    if ratio(resident, active) > 1.1 && resident.saturating_sub(active) > mb10 {
        found.push(" * High allocator RSS overhead: the allocator holds resident pages it no longer uses; MEMORY PURGE returns them.");
    }
    if ratio(mh.rss, resident) > 1.1 && mh.rss.saturating_sub(resident) > mb10 {
        found.push(" * High process RSS overhead: memory outside the allocator (thread stacks, the executable) is large next to the data.");
    }
    let clients = srv.clients.len().max(1) as u64;
    if mh.clients_normal / clients > 200 * 1024 {
        found.push(" * Big client buffers: clients hold more than 200 KB of buffers each on average (slow readers of big replies or of Pub/Sub, or long pipelines); CLIENT LIST shows which.");
    }
    if srv.scripts.len() > 1000 {
        found.push(" * Many scripts: more than 1,000 scripts are cached, which happens when scripts are generated rather than given their data through KEYS and ARGV; SCRIPT FLUSH empties the cache.");
    }
    if found.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut s = String::from("Sam, I detected a few issues in this Basalt instance's memory:\n\n");
    for f in found {
        s.push_str(f);
        s.push_str("\n\n");
    }
    s
}

/// MEMORY MALLOC-STATS: jemalloc's own report.
pub fn memory_malloc_stats(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    unsafe extern "C" fn write_cb(out: *mut std::ffi::c_void, text: *const std::ffi::c_char) {
        // SAFETY: `out` is the String passed below; jemalloc passes a NUL-terminated text.
        let s = unsafe { &mut *out.cast::<String>() };
        let text = unsafe { std::ffi::CStr::from_ptr(text) };
        s.push_str(&text.to_string_lossy());
    }
    let mut report = String::new();
    // SAFETY: the callback only appends to `report`, which outlives the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(write_cb),
            (&mut report as *mut String).cast(),
            std::ptr::null(),
        );
    }
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(())
}

/// MEMORY PURGE: jemalloc returns dirty pages of every arena.
pub fn memory_purge(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    // SAFETY: a mallctl with no input or output.
    unsafe {
        let _ = tikv_jemalloc_ctl::raw::write(b"arena.4096.purge\0", ());
    }
    ctx.out.ok();
    Ok(())
}

pub fn memory_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

/// INFO's memory section: every field of Redis 7.0, in its order.
pub fn info_section(srv: &Server, shards: &mut store::AllShards<'_, '_>) -> String {
    use super::info::human;
    let mh = overhead(srv, shards);
    let (used, rss) = (mh.total, mh.rss);
    let (alloc, active, resident) = (
        mh.allocator_allocated,
        mh.allocator_active,
        mh.allocator_resident,
    );
    let system = total_system_memory();
    let maxmemory = srv.evict.maxmemory();
    let policy = srv.config.read().get("maxmemory-policy").to_string();
    let scripts = super::info::scripts_memory(srv);
    let net = used.saturating_sub(mh.startup);
    format!(
        "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:{}\r\nused_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{alloc}\r\nallocator_active:{active}\r\nallocator_resident:{resident}\r\ntotal_system_memory:{system}\r\ntotal_system_memory_human:{}\r\n{scripts}maxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{policy}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{}\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:{}\r\nmem_cluster_links:0\r\nmem_aof_buffer:{}\r\nmem_allocator:jemalloc-5.3.0\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
        human(used),
        human(rss),
        mh.peak,
        human(mh.peak),
        mh.peak_percentage(),
        mh.overhead_total,
        mh.startup,
        mh.dataset,
        if net == 0 { 0.0 } else { mh.dataset as f64 * 100.0 / net as f64 },
        human(system),
        human(maxmemory),
        ratio(active, alloc),
        active.saturating_sub(alloc),
        ratio(resident, active),
        resident.saturating_sub(active),
        ratio(rss, resident),
        rss.saturating_sub(resident),
        ratio(rss, used),
        rss.saturating_sub(used),
        mh.aof_buffer,
        mh.clients_normal,
        mh.aof_buffer,
        store::lazyfree::pending_objects(),
        store::lazyfree::freed_objects(),
    )
}

/// The machine's memory, from /proc/meminfo.
fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
