//! The text of INFO: Redis's section and field names, Basalt's real values.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use crate::config::REDIS_VERSION;
use crate::server::Server;

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections `INFO <args>` asks for, in Redis's order.
fn wanted(args: &[String]) -> Vec<&'static str> {
    let mut order: Vec<&'static str> = DEFAULT.to_vec();
    order.insert(8, "commandstats");
    // After errorstats, as Redis orders them.
    order.insert(10, "latencystats");
    if args.is_empty() || args.iter().any(|a| a == "default") {
        return DEFAULT.to_vec();
    }
    if args.iter().any(|a| a == "all" || a == "everything") {
        return order;
    }
    order
        .into_iter()
        .filter(|s| {
            args.iter()
                .any(|a| a == s || (a == "modules" && *s == "module_list"))
        })
        .collect()
}

fn section(out: &mut String, title: &str, body: &str) {
    if !out.is_empty() {
        out.push_str("\r\n");
    }
    let _ = write!(out, "# {title}\r\n{body}");
}

/// Bytes allocated by jemalloc right now.
/// Bytes allocated: the binary's counting allocator (see `crate::memory`), or jemalloc's
/// statistics where it is not installed (unit tests).
///
/// The Lua interpreters' heaps are left out, as Redis leaves them out (its Lua allocates
/// outside zmalloc; INFO reports them apart as `used_memory_vm_*`): scripts' memory neither
/// shows in `used_memory` nor makes keys be evicted.
pub fn used_memory() -> u64 {
    let counted = crate::memory::used();
    if counted > 0 {
        let lua = crate::scripting::lua_memory() + crate::scripting::functions::lua_memory();
        return counted.saturating_sub(lua);
    }
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
}

fn rusage(who: i32) -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we pass and nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

/// CPU seconds (system, user) of the process's main thread, from
/// `/proc/self/task/<pid>/stat` (Redis reads its own with `RUSAGE_THREAD`; INFO runs on an I/O
/// thread here, so the main thread's figures come from procfs, in clock ticks).
fn main_thread_cpu() -> (f64, f64) {
    let path = format!("/proc/self/task/{}/stat", std::process::id());
    let Ok(stat) = std::fs::read_to_string(path) else {
        return (0.0, 0.0);
    };
    // The command name (field 2) may hold spaces; the fields after it follow its `)`.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |n: usize| -> f64 {
        rest.split_whitespace()
            .nth(n)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // After `)`: state is field 3 of the file, utime 14 and stime 15.
    (field(12) / ticks, field(11) / ticks)
}

/// `uname -srm`, Redis's `os` field (`Linux 6.1.0 x86_64`).
fn os_name() -> String {
    // SAFETY: uname fills the zeroed struct we pass with NUL-terminated strings.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    }
    let text = |f: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        text(&u.sysname),
        text(&u.release),
        text(&u.machine)
    )
}

pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Render the requested sections (lowercase names).
/// `shards` reads the keyspace (the locks EXEC holds, or each shard in turn).
pub fn render(srv: &Server, shards: &mut store::AllShards<'_, '_>, args: &[String]) -> String {
    let mut out = String::new();
    for name in wanted(args) {
        let mut b = String::new();
        let title = match name {
            "server" => {
                server_section(srv, &mut b);
                "Server"
            }
            "clients" => {
                let _ = write!(b, "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
                    srv.clients.len(), srv.config.read().maxclients(),
                    srv.blocked.clients.load(Relaxed), srv.tracking.clients.load(Relaxed), srv.blocked.in_timeout_table.load(Relaxed));
                "Clients"
            }
            "memory" => {
                b.push_str(&super::memory::info_section(srv, shards));
                "Memory"
            }
            "persistence" => {
                persistence_section(srv, &mut b);
                "Persistence"
            }
            "stats" => {
                stats_section(srv, shards, &mut b);
                "Stats"
            }
            "replication" => {
                srv.repl.info(srv, &mut b);
                "Replication"
            }
            "cpu" => {
                let (sys, user) = rusage(libc::RUSAGE_SELF);
                let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
                let (msys, muser) = main_thread_cpu();
                let _ = write!(b, "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\nused_cpu_user_children:{cuser:.6}\r\nused_cpu_sys_main_thread:{msys:.6}\r\nused_cpu_user_main_thread:{muser:.6}\r\n");
                "CPU"
            }
            "module_list" => "Modules",
            "errorstats" => {
                for (code, n) in srv.stats.errors() {
                    let _ = write!(b, "errorstat_{code}:count={n}\r\n");
                }
                "Errorstats"
            }
            "commandstats" => {
                for (name, s) in srv.stats.commands() {
                    let per = if s.calls > 0 {
                        s.usec as f64 / s.calls as f64
                    } else {
                        0.0
                    };
                    let _ = write!(b, "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n", s.calls, s.usec, s.rejected, s.failed);
                }
                "Commandstats"
            }
            "latencystats" => {
                if crate::stats::latency_tracking() {
                    latency_section(srv, &mut b);
                }
                "Latencystats"
            }
            "cluster" => {
                b.push_str(if srv.cluster.enabled {
                    "cluster_enabled:1\r\n"
                } else {
                    "cluster_enabled:0\r\n"
                });
                "Cluster"
            }
            "keyspace" => {
                for (i, (keys, expires)) in shards.db_sizes().iter().enumerate() {
                    if *keys > 0 {
                        let _ = write!(b, "db{i}:keys={keys},expires={expires},avg_ttl=0\r\n");
                    }
                }
                "Keyspace"
            }
            _ => continue,
        };
        section(&mut out, title, &b);
    }
    out
}

/// `latency_percentiles_usec_<command>:p50=…,p99=…` for every command with data, at the
/// percentiles of `latency-tracking-info-percentiles` (as Redis prints them).
fn latency_section(srv: &Server, b: &mut String) {
    let wanted: Vec<(String, f64)> = srv
        .config
        .read()
        .get("latency-tracking-info-percentiles")
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok().map(|p| (w.to_string(), p)))
        .collect();
    for (name, snap) in srv.stats.histograms() {
        let parts: Vec<String> = wanted
            .iter()
            .map(|(label, p)| {
                format!(
                    "p{label}={:.3}",
                    snap.value_at_percentile(*p) as f64 / 1000.0
                )
            })
            .collect();
        let _ = write!(b, "latency_percentiles_usec_{name}:{}\r\n", parts.join(","));
    }
}

fn server_section(srv: &Server, b: &mut String) {
    let c = srv.config.read();
    let uptime = srv.uptime_secs();
    let _ = write!(
        b,
        "redis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:{}\r\nbasalt_version:{}\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:1\r\nio_threads:{}\r\nshards:{}\r\n",
        if srv.cluster.enabled { "cluster" } else { "standalone" },
        env!("CARGO_PKG_VERSION"),
        os_name(),
        std::process::id(),
        crate::supervise::current().name(),
        srv.run_id,
        srv.tcp_port.load(Relaxed),
        crate::util::now_us(),
        uptime / 86400,
        c.hz(),
        c.hz(),
        store::lru_clock(crate::util::now_ms()),
        srv.executable,
        c.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        srv.io_threads,
        srv.store.shard_count(),
    );
}

fn stats_section(srv: &Server, shards: &mut store::AllShards<'_, '_>, b: &mut String) {
    let st = &srv.stats;
    let db = shards.stats();
    let (net_in, net_out) = st.net_bytes();
    let (ops, in_bps, out_bps) = st.instantaneous();
    let ops = ops as i64;
    let (in_kbps, out_kbps) = (in_bps / 1024.0, out_bps / 1024.0);
    let (reads, writes) = st.reads_writes();
    let (exceeded_total_ms, exceeded_current_ms) = srv.evict.exceeded_ms();
    let (shrinks, expands) = st.reply_buffer_resizes();
    // Basalt never forks, has no replicas (their counters are 0 in truth) and no active
    // defragmentation. Every read and write is an I/O thread's, so the `io_threaded_` counts
    // are the totals.
    let _ = write!(
        b,
        "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{ops}\r\ntotal_net_input_bytes:{net_in}\r\ntotal_net_output_bytes:{net_out}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{in_kbps:.2}\r\ninstantaneous_output_kbps:{out_kbps:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\ntotal_eviction_exceeded_time:{exceeded_total_ms}\r\ncurrent_eviction_exceeded_time:{exceeded_current_ms}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:{}\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:{}\r\ntotal_reads_processed:{reads}\r\ntotal_writes_processed:{writes}\r\nio_threaded_reads_processed:{reads}\r\nio_threaded_writes_processed:{writes}\r\nreply_buffer_shrinks:{}\r\nreply_buffer_expands:{}\r\n",
        st.total_connections_received.load(Relaxed),
        st.total_commands(),
        st.rejected_connections.load(Relaxed),
        srv.repl.syncs[0].load(Relaxed),
        srv.repl.syncs[1].load(Relaxed),
        srv.repl.syncs[2].load(Relaxed),
        db.expired_keys,
        st.expired_time_cap_reached.load(Relaxed),
        st.expire_cycle_cpu_ms.load(Relaxed),
        db.evicted_keys,
        st.evicted_clients.load(Relaxed),
        db.keyspace_hits,
        db.keyspace_misses,
        srv.pubsub.channel_count(crate::pubsub::Kind::Channel),
        srv.pubsub.numpat(),
        srv.pubsub.channel_count(crate::pubsub::Kind::Shard),
        srv.tracking.total_keys(),
        srv.tracking.total_items(),
        srv.tracking.total_prefixes(),
        st.unexpected_error_replies.load(Relaxed),
        st.total_error_replies(),
        st.dump_payload_sanitizations.load(Relaxed),
        shrinks,
        expands,
    );
}

/// Redis's human-readable sizes: `1.50M`, `12.00K`, `100B`.
pub(crate) fn human(n: u64) -> String {
    let f = n as f64;
    if f < 1024.0 {
        format!("{n}B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.2}K", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", f / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", f / 1024.0 / 1024.0 / 1024.0)
    }
}

/// INFO persistence, Redis 7.0's fields in its order. The copy-on-write fields are 0 (no
/// fork); `current_save_keys_total` is the key count when the BGSAVE began, as in Redis.
fn persistence_section(srv: &Server, b: &mut String) {
    let rw = &srv.rewrite;
    let st = &srv.save_state;
    let _ = write!(b, "loading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:{}\r\ncurrent_save_keys_total:{}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
        u8::from(srv.repl.loading()),
        st.keys_processed.load(Relaxed),
        st.keys_total.load(Relaxed),
        srv.stats.dirty(),
        u8::from(st.bgsave_in_progress.load(Relaxed)),
        st.last_save_unix.load(Relaxed),
        if st.last_bgsave_ok.load(Relaxed) { "ok" } else { "err" },
        st.last_bgsave_time_sec.load(Relaxed),
        st.current_bgsave_time_sec(),
        st.saves.load(Relaxed),
        srv.save_state.last_load_keys_expired.load(Relaxed),
        srv.save_state.last_load_keys_loaded.load(Relaxed));
    let aof = srv.aof();
    let _ = write!(b, "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        u8::from(aof.is_some()),
        u8::from(rw.in_progress()),
        u8::from(rw.scheduled.load(Relaxed)),
        rw.last_time_sec.load(Relaxed),
        rw.current_time_sec(),
        if rw.last_ok.load(Relaxed) { "ok" } else { "err" },
        rw.rewrites.load(Relaxed),
        rw.consecutive_failures.load(Relaxed),
        if aof.and_then(crate::aof::Aof::last_error).is_some() { "err" } else { "ok" });
    if let Some(aof) = aof {
        let _ = write!(b, "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:{}\r\n",
            aof.files.lock().current_size(),
            aof.base_size.load(Relaxed),
            aof.buffered_bytes(),
            aof.delayed_fsyncs());
    }
}

/// INFO memory's script fields: the interpreters' memory (every I/O thread's, those for EVAL
/// and those for functions apart), the cached bodies, and the function libraries.
pub(crate) fn scripts_memory(srv: &crate::server::Server) -> String {
    let lua = crate::scripting::lua_memory();
    let vm_functions = crate::scripting::functions::lua_memory();
    let vm_total = lua + vm_functions;
    let bodies = srv.scripts.body_bytes();
    let functions = srv.functions.overhead_bytes() as u64;
    let (libraries, function_count) = srv.functions.counts();
    format!(
        "used_memory_lua:{lua}\r\nused_memory_vm_eval:{lua}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{bodies}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{function_count}\r\nnumber_of_libraries:{libraries}\r\nused_memory_vm_functions:{vm_functions}\r\nused_memory_vm_total:{vm_total}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{functions}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\n",
        human(lua),
        srv.scripts.len(),
        human(vm_total),
        bodies + functions,
        human(bodies + functions),
    )
}
