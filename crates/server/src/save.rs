//! Writing `dump.rdb`. SAVE writes with every shard locked for the whole write (as Redis's SAVE
//! blocks its server); BGSAVE (`bgsave.rs`) writes a forkless snapshot while clients go on.
//! Both write a temp file, fsync it, rename it over `dbfilename` and fsync the directory, so
//! the file is always either the old one or the whole new one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;
use persist::rdb::RdbWriter;

use crate::server::Server;

/// INFO's rdb_* fields, LASTSAVE, and the state of BGSAVE.
pub struct SaveState {
    /// Unix seconds of the last successful save (start-up time before the first).
    pub last_save_unix: AtomicU64,
    pub saves: AtomicU64,
    pub last_load_keys_loaded: AtomicU64,
    pub last_load_keys_expired: AtomicU64,
    /// A BGSAVE is writing.
    pub bgsave_in_progress: AtomicBool,
    /// Unix ms when the running BGSAVE began (0 when none runs).
    pub bgsave_started_ms: AtomicU64,
    /// BGSAVE SCHEDULE while a rewrite runs: the cron starts it afterwards.
    pub bgsave_scheduled: AtomicBool,
    pub last_bgsave_ok: AtomicBool,
    /// Unix seconds of the last BGSAVE attempt (Redis's `lastbgsave_try`, for the retry delay).
    pub last_bgsave_try_unix: AtomicU64,
    /// Seconds the last BGSAVE took, -1 before the first.
    pub last_bgsave_time_sec: AtomicI64,
    /// Keys the running BGSAVE has written so far.
    pub keys_processed: AtomicU64,
    /// Keys in the dataset when the running BGSAVE began.
    pub keys_total: AtomicU64,
    /// Writes are refused (MISCONF) because the last BGSAVE failed, save points are set and
    /// `stop-writes-on-bgsave-error` is on. Kept up to date so writes test one flag.
    pub writes_denied: AtomicBool,
    /// Held while starting a background job (BGSAVE, BGREWRITEAOF), which run one at a time as
    /// Redis's forked children do, and while a BGSAVE installs its file: a SAVE at shutdown
    /// cancels a running BGSAVE under it, so an older snapshot never replaces a newer file.
    pub job_lock: Mutex<()>,
    /// Set under `job_lock` to make the running BGSAVE discard its file.
    pub bgsave_cancelled: AtomicBool,
}

impl Default for SaveState {
    fn default() -> Self {
        SaveState {
            last_save_unix: AtomicU64::new(crate::util::now_ms() / 1000),
            saves: AtomicU64::new(0),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
            bgsave_in_progress: AtomicBool::new(false),
            bgsave_started_ms: AtomicU64::new(0),
            bgsave_scheduled: AtomicBool::new(false),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_try_unix: AtomicU64::new(0),
            last_bgsave_time_sec: AtomicI64::new(-1),
            keys_processed: AtomicU64::new(0),
            keys_total: AtomicU64::new(0),
            writes_denied: AtomicBool::new(false),
            job_lock: Mutex::new(()),
            bgsave_cancelled: AtomicBool::new(false),
        }
    }
}

impl SaveState {
    /// Seconds the running BGSAVE has taken so far, -1 if none runs.
    pub fn current_bgsave_time_sec(&self) -> i64 {
        match self.bgsave_started_ms.load(Relaxed) {
            0 => -1,
            t => (crate::util::now_ms().saturating_sub(t) / 1000) as i64,
        }
    }

    /// Recompute `writes_denied` (after a BGSAVE ends or the config changes).
    pub fn refresh_writes_denied(&self, config: &crate::config::Config) {
        let deny = !self.last_bgsave_ok.load(Relaxed)
            && config.get_bool("stop-writes-on-bgsave-error")
            && !config.get("save").is_empty();
        self.writes_denied.store(deny, Relaxed);
    }

    /// A successful save of the data as of `dirty_before` (the change count
    /// [`crate::stats::Stats::dirty_total`] when it began).
    pub(crate) fn saved(&self, srv: &Server, dirty_before: u64) {
        // Changes made while a background save was writing stay counted.
        srv.stats.dirty_saved_at(dirty_before);
        self.last_save_unix
            .store(crate::util::now_ms() / 1000, Relaxed);
        self.saves.fetch_add(1, Relaxed);
    }
}

/// Redis's reply to writes while the last BGSAVE failed (`stop-writes-on-bgsave-error`).
pub const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// What a save writes: `dbfilename` in the working directory (`dir`), `rdbcompression`,
/// `rdbchecksum`. The paths are made absolute when the save starts, so a `CONFIG SET dir`
/// meanwhile does not move a BGSAVE's file (Redis's forked child keeps its directory too).
pub(crate) struct Target {
    pub name: PathBuf,
    pub tmp: PathBuf,
    pub compress: bool,
    pub checksum: bool,
}

impl Target {
    /// The target of a save whose temp file is `temp_name`.
    pub fn of(srv: &Server, temp_name: &str) -> Self {
        let c = srv.config.read();
        let dir = std::env::current_dir().unwrap_or_default();
        Target {
            name: dir.join(c.get("dbfilename")),
            tmp: dir.join(temp_name),
            compress: c.get("rdbcompression") != "no",
            checksum: c.get("rdbchecksum") != "no",
        }
    }

    /// The temp file, its header, aux fields (Redis's set, `aof-base` 0) and the function
    /// libraries written.
    pub fn create(
        &self,
        functions: &[std::sync::Arc<crate::scripting::functions::Library>],
        history: Option<&crate::replication::SaveInfo>,
    ) -> std::io::Result<RdbWriter<File>> {
        let mut w = RdbWriter::new(File::create(&self.tmp)?, self.compress)?;
        if !self.checksum {
            w = w.without_checksum();
        }
        let now = crate::util::now_ms();
        w.aux("redis-ver", crate::config::REDIS_VERSION.as_bytes())?;
        w.aux("redis-bits", b"64")?;
        w.aux("ctime", (now / 1000).to_string().as_bytes())?;
        w.aux(
            "used-mem",
            crate::commands::info::used_memory().to_string().as_bytes(),
        )?;
        if let Some(h) = history {
            w.aux("repl-stream-db", h.stream_db.to_string().as_bytes())?;
            w.aux("repl-id", h.id.as_bytes())?;
            w.aux("repl-offset", h.offset.to_string().as_bytes())?;
        }
        w.aux("aof-base", b"0")?;
        for lib in functions {
            w.function(&lib.code)?;
        }
        Ok(w)
    }

    /// End the file (EOF, checksum), fsync it, rename it over the target and fsync the
    /// directory.
    pub fn install(&self, w: RdbWriter<File>) -> std::io::Result<()> {
        let mut file = w.finish()?;
        file.flush()?;
        file.sync_all()?;
        std::fs::rename(&self.tmp, &self.name)?;
        let dir = self.name.parent().unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }
}

/// Write the whole dataset to `dbfilename` in the working directory (`dir`), every shard
/// locked. Returns the number of keys written. A BGSAVE still running when this save has
/// succeeded is cancelled (its snapshot is older): it does not install its file and does not
/// count as failed, as Redis treats a child it stops.
pub fn save(srv: &Server) -> std::io::Result<u64> {
    let target = Target::of(srv, &format!("temp-{}.rdb", std::process::id()));
    let _job = srv.save_state.job_lock.lock();
    let dirty_before = srv.stats.dirty_total();
    let written = write_locked(srv, &target);
    match &written {
        Ok(keys) => {
            // Under `job_lock`: a BGSAVE installs its file under it too, so it cannot slip
            // in between this rename and the flag.
            if srv.save_state.bgsave_in_progress.load(Relaxed) {
                srv.save_state.bgsave_cancelled.store(true, Relaxed);
            }
            srv.save_state.saved(srv, dirty_before);
            crate::log_notice!("DB saved on disk ({keys} keys)");
        }
        Err(e) => {
            let _ = std::fs::remove_file(&target.tmp);
            crate::log_warning!("Failed saving the DB: {e}");
        }
    }
    written
}

/// Every database's live keys (keys whose expiry has passed are left out), with RESIZEDB
/// hints, while every shard is locked.
fn write_locked(srv: &Server, target: &Target) -> std::io::Result<u64> {
    let applying = srv.repl.hold_for_save();
    let mut all = srv.store.lock_all();
    let history = srv
        .repl
        .save_info()
        .filter(|_| applying.is_some() || !srv.repl.is_replica());
    let mut w = target.create(&srv.functions.libraries(), history.as_ref())?;
    let now = crate::util::now_ms();
    let mut keys = 0u64;
    for db in 0..srv.store.databases() {
        let (len, expires) = all.shards_mut().fold((0, 0), |(l, e), s| {
            (l + s.db_ref(db).len(), e + s.db_ref(db).volatile_len())
        });
        if len == 0 {
            continue;
        }
        w.select_db(db)?;
        w.resize_db(len, expires)?;
        for shard in all.shards_mut() {
            for (key, obj, expire_ms) in shard.db_ref(db).live_entries(now) {
                w.key(key, &obj.value, expire_ms)?;
                keys += 1;
            }
        }
    }
    drop(all);
    drop(applying);
    target.install(w)?;
    Ok(keys)
}

/// The save before the server exits (SHUTDOWN, SIGTERM, SIGINT): with save points configured
/// or SAVE asked for, and NOSAVE not, as Redis's `prepareForShutdown`. A running BGSAVE is
/// cancelled in favour of this newer one. Returns false when the save failed.
pub fn save_before_exit(srv: &Server, save: bool, nosave: bool) -> bool {
    crate::supervise::stopping();
    let points = !srv.config.read().get("save").is_empty();
    if nosave || !(save || points) {
        return true;
    }
    crate::log_notice!("Saving the final RDB snapshot before exiting.");
    match crate::save::save(srv) {
        Ok(_) => true,
        Err(_) => {
            crate::log_warning!("Error trying to save the DB, can't exit.");
            false
        }
    }
}
