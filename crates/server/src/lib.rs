//! Basalt's server: configuration, networking, connections, the command table and handlers.
//! The binary (`main.rs`) is a thin wrapper around [`run`].

pub mod acl;
pub mod affinity;
pub mod aof;
pub mod bgsave;
pub mod blocking;
pub mod client;
pub mod cluster;
pub mod cmd;
pub mod commands;
pub mod config;
pub mod conn;
pub mod crash;
pub mod evict;
pub mod histogram;
pub mod latency;
pub mod lolwut;
pub mod memory;
pub mod monitor;
pub mod net;
pub mod oom;
pub mod pause;
pub mod proctitle;
pub mod propagate;
pub mod pubsub;
pub mod rdb_load;
pub mod replication;
pub mod rewrite;
pub mod save;
pub mod scripting;
pub mod server;
pub mod slowlog;
pub mod snapshot;
pub mod sparkline;
pub mod stats;
pub mod supervise;
pub mod tls;
pub mod tracking;
#[macro_use]
pub mod util;

use std::sync::Arc;

use config::Config;
use server::Server;

/// Shards per I/O thread when `shards` is not set: enough that two threads rarely want the same
/// lock, and small shards, because a snapshot (AOF rewrite) makes the first client that locks a
/// shard after its instant wait while that shard is serialized (about 0.4 µs per key): at a
/// million keys a shard of 256 is ~4,000 keys, ~1.5 ms. Few enough that keyless commands that
/// visit every shard stay cheap.
const SHARDS_PER_THREAD: usize = 128;

/// Load the append-only log (or create it) and start appending to it.
fn start_log(srv: &Server) -> anyhow::Result<()> {
    let config = srv.config.read().clone();
    let plan = aof::prepare(&config)?;
    if plan.existing {
        let started = std::time::Instant::now();
        store::set_loading(true);
        let loaded = aof::load(srv, &plan, config.get("aof-load-truncated") == "yes");
        store::set_loading(false);
        let report = loaded.map_err(|e| anyhow::anyhow!("{e}"))?;
        if report.truncated_bytes > 0 {
            log_warning!(
                "!!! Warning: short read while loading the AOF file {}: {} bytes cut, loaded anyway because aof-load-truncated is enabled",
                report.files.last().map_or("", String::as_str),
                report.truncated_bytes
            );
        }
        log_notice!(
            "DB loaded from append only file: {:.3} seconds ({} commands)",
            started.elapsed().as_secs_f64(),
            report.commands
        );
    }
    let log = aof::Aof::open(plan, &config)?;
    store::set_log_expired(true);
    let _ = srv.aof_log.set(log);
    Ok(())
}

/// Load `dbfilename` from `dir` (the working directory by now) when the log is off, as Redis
/// does at start-up; no file is a fresh start.
fn load_dump(srv: &Server) -> anyhow::Result<()> {
    let name = srv.config.read().get("dbfilename").to_string();
    let path = std::path::Path::new(&name);
    if !path.exists() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    // A replica keeps keys its master has not expired yet (the master's DELs come later).
    let replica = !srv.config.read().get("replicaof").is_empty();
    let report = rdb_load::load_file(srv, path, replica, false)?;
    let st = &srv.save_state;
    st.last_load_keys_loaded
        .store(report.keys, std::sync::atomic::Ordering::Relaxed);
    st.last_load_keys_expired
        .store(report.expired_skipped, std::sync::atomic::Ordering::Relaxed);
    log_notice!(
        "DB loaded from disk: {:.3} seconds ({} keys, {} expired keys skipped)",
        started.elapsed().as_secs_f64(),
        report.keys,
        report.expired_skipped
    );
    replication::restore_history(srv);
    Ok(())
}

/// Start the server with `config` and serve until it is asked to stop.
pub fn run(config: Config) -> anyhow::Result<()> {
    util::set_log_file(config.get("logfile"))?;
    util::set_log_level(util::Level::from_name(config.get("loglevel")));
    if config.get("syslog-enabled") == "yes" {
        util::open_syslog(config.get("syslog-ident"), config.get("syslog-facility"));
    }
    let title = config.get("proc-title-template");
    if let Err(why) = commands::server::check_supported("proc-title-template", title) {
        anyhow::bail!("'proc-title-template {title}' cannot be used: {why}");
    }
    crash::install();
    crash::set_enabled(config.get("crash-log-enabled") == "yes");
    let supervisor = supervise::start(config.get("supervised"));
    // As Redis: a supervised process stays in the foreground whatever `daemonize` says.
    let background = config.get("daemonize") == "yes" && supervisor == supervise::Supervisor::No;
    if background {
        daemonize()?;
    }
    affinity::init(&config);
    proctitle::apply(&config);
    if config.get("disable-thp") == "yes" {
        disable_thp();
    }
    if let Err(e) = oom::apply(
        config.get("oom-score-adj"),
        config.get("oom-score-adj-values"),
    ) {
        log_warning!("{e}");
    }
    let dir = config.get("dir").to_string();
    if !dir.is_empty() {
        std::env::set_current_dir(&dir)
            .map_err(|e| anyhow::anyhow!("Can't chdir to '{dir}': {e}"))?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let io_threads = match config.get("io-threads").parse::<usize>().unwrap_or(0) {
        0 => cores,
        n => n,
    };
    let shards = match config.get("shards").parse::<usize>().unwrap_or(0) {
        0 => (io_threads * SHARDS_PER_THREAD).next_power_of_two(),
        n => n.next_power_of_two(),
    };
    let mut pidfile = config.get("pidfile").to_string();
    if pidfile.is_empty() && background {
        // Redis's default for a daemon.
        pidfile = "/var/run/redis.pid".to_string();
    }
    let unixsocket = config.get("unixsocket").to_string();
    log_notice!("oO0OoO0OoO0Oo Basalt is starting oO0OoO0OoO0Oo");
    log_notice!(
        "Basalt version={} (Redis {} compatible), bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        config::REDIS_VERSION,
        std::process::id()
    );
    let appendonly = config.get("appendonly") == "yes";
    cmd::table::set_renames(&config.renames);
    let cluster = if config.get("cluster-enabled") == "yes" {
        let port = config.get("port").parse::<u16>().unwrap_or(0);
        cluster::Cluster::start(&config, port)?
    } else {
        cluster::Cluster::disabled()
    };
    let srv = Server::with_cluster(config, io_threads, shards, cluster);
    if let Err(e) = acl::file::load_at_startup(&srv.acl, &srv.config.read()) {
        log_warning!("{e}");
        anyhow::bail!("Critical error while loading ACLs. Exiting.");
    }
    memory::mark_startup(commands::info::used_memory());
    if appendonly {
        start_log(&srv)?;
    } else {
        load_dump(&srv)?;
    }
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            log_warning!("Failed to write PID file: {e}");
        }
    }
    log_notice!(
        "Running mode={}, port={}, io-threads={io_threads}, shards={shards}.",
        if srv.cluster.enabled {
            "cluster"
        } else {
            "standalone"
        },
        srv.config.read().port()
    );
    let result = net::run(Arc::clone(&srv));
    if let Some(aof) = srv.aof() {
        log_notice!("Calling fsync() on the AOF file.");
        if let Err(e) = aof.sync_all() {
            log_warning!("Error writing the AOF file at shutdown: {e}");
        }
    }
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    if !unixsocket.is_empty() {
        let _ = std::fs::remove_file(&unixsocket);
    }
    result?;
    log_warning!("Basalt is now ready to exit, bye bye...");
    Ok(())
}

/// `daemonize yes`: go to the background as Redis does — fork (the parent exits at once),
/// start a new session, and point standard input, output and error at /dev/null (so with
/// `logfile ""` the log goes nowhere, as in Redis). Runs before any thread is started: a
/// fork copies only the calling thread.
fn daemonize() -> anyhow::Result<()> {
    // SAFETY: no other thread exists yet (the runtime, the I/O threads and jemalloc's
    // background thread start later), so the child is a complete copy.
    match unsafe { libc::fork() } {
        -1 => anyhow::bail!("fork failed: {}", std::io::Error::last_os_error()),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: setsid, open and dup2 take plain values and a NUL-terminated path.
    unsafe {
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd != -1 {
            libc::dup2(fd, libc::STDIN_FILENO);
            libc::dup2(fd, libc::STDOUT_FILENO);
            libc::dup2(fd, libc::STDERR_FILENO);
            if fd > libc::STDERR_FILENO {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

/// `disable-thp yes` (the default), as Redis 7.0 does it: when the kernel gives every process
/// transparent huge pages (`[always]`), turn them off for this one, since copy-on-write and
/// latency suffer from them; warn if that fails. Under `madvise` or `never` nothing is needed.
fn disable_thp() {
    let Ok(mode) = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled") else {
        return;
    };
    if !thp_always(&mode) {
        return;
    }
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let ret = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if ret != 0 {
        log_warning!(
            "WARNING you have Transparent Huge Pages (THP) support enabled in your kernel, and \
             they could not be disabled for this process"
        );
    }
}

/// Whether the kernel's THP mode line selects `always`.
fn thp_always(mode: &str) -> bool {
    mode.contains("[always]")
}

#[cfg(test)]
mod thp_tests {
    #[test]
    fn thp_mode_lines() {
        assert!(super::thp_always("[always] madvise never\n"));
        assert!(!super::thp_always("always [madvise] never\n"));
        assert!(!super::thp_always("always madvise [never]\n"));
    }
}
