//! AOF rewrite (BGREWRITEAOF, the automatic trigger, `CONFIG SET appendonly yes`) without
//! fork.
//!
//! 1. A new incr file is created and added to the manifest (so a crash from here on still
//!    loads old base + old incrs + new incr).
//! 2. The instant: with every shard locked, the log rotates to the new incr file and a
//!    snapshot begins (`store::snapshot`). Held for microseconds: nothing is copied.
//! 3. A thread walks the snapshot in short steps (`crate::snapshot`), as BGSAVE does. With
//!    `aof-use-rdb-preamble yes` (Redis's default) the base is an RDB file (`.base.rdb`);
//!    otherwise commands (`persist::rewrite`) with `#CRC:` annotations (`.base.aof`). The
//!    temp file is synced.
//! 4. The switch: the temp file is renamed to the next base name, the manifest becomes
//!    {new base, new incr} (temp, fsync, rename, fsync dir), and the old base and incr files
//!    are deleted.
//!
//! Records before the instant are in the old files and in the new base; records after it are
//! only in the new incr file, so nothing is lost or applied twice whichever manifest a crash
//! leaves.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use parking_lot::Mutex;
use persist::{AofFile, Checksummer};
use store::SnapshotWalk;

use crate::aof::{Aof, Files};
use crate::server::Server;
use crate::snapshot::{write_all, Serializer};

/// INFO persistence's aof_rewrite* fields and the one-at-a-time guard.
pub struct RewriteState {
    in_progress: AtomicBool,
    /// BGREWRITEAOF during a BGSAVE: the cron starts the rewrite when the BGSAVE ends.
    pub scheduled: AtomicBool,
    /// `CONFIG SET appendonly yes` during a BGSAVE: the cron turns the log on afterwards.
    pub enable_scheduled: AtomicBool,
    started: Mutex<Option<Instant>>,
    pub rewrites: AtomicU64,
    pub consecutive_failures: AtomicU64,
    pub last_ok: AtomicBool,
    /// Seconds the last rewrite took, -1 before the first.
    pub last_time_sec: AtomicI64,
    /// Automatic rewrites held back after repeated failures: (minutes of the last delay, when
    /// the next attempt may start).
    limit: Mutex<(u64, Option<Instant>)>,
}

impl Default for RewriteState {
    fn default() -> Self {
        RewriteState {
            in_progress: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            enable_scheduled: AtomicBool::new(false),
            started: Mutex::new(None),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            last_ok: AtomicBool::new(true),
            last_time_sec: AtomicI64::new(-1),
            limit: Mutex::new((0, None)),
        }
    }
}

/// Failures in a row after which automatic rewrites are spaced out (Redis's threshold).
const LIMIT_AFTER_FAILURES: u64 = 3;
/// Longest spacing of automatic rewrites after failures, in minutes (Redis's).
const LIMIT_MAX_MINUTES: u64 = 60;

impl RewriteState {
    /// Redis's `aofRewriteLimited`: after repeated failures an automatic rewrite waits 1, 2,
    /// 4 … up to 60 minutes, so a full disk is not hammered ten times a second. BGREWRITEAOF is
    /// not limited.
    fn limited(&self) -> bool {
        let mut limit = self.limit.lock();
        if self.consecutive_failures.load(Relaxed) < LIMIT_AFTER_FAILURES {
            *limit = (0, None);
            return false;
        }
        if let Some(at) = limit.1 {
            if Instant::now() < at {
                return true;
            }
            limit.1 = None;
            return false;
        }
        let minutes = (limit.0 * 2).clamp(1, LIMIT_MAX_MINUTES);
        *limit = (
            minutes,
            Some(Instant::now() + std::time::Duration::from_secs(minutes * 60)),
        );
        crate::log_warning!(
            "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {minutes} minutes"
        );
        true
    }

    pub fn in_progress(&self) -> bool {
        self.in_progress.load(Relaxed)
    }

    /// Seconds the running rewrite has taken so far, -1 if none runs.
    pub fn current_time_sec(&self) -> i64 {
        self.started
            .lock()
            .map_or(-1, |t| t.elapsed().as_secs() as i64)
    }
}

/// Why a rewrite did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("Background append only file rewriting already in progress")]
    InProgress,
    /// A BGSAVE runs; rewrites run one at a time with it, as Redis's children do.
    #[error("Background append only file rewriting scheduled")]
    BgsaveActive,
    #[error("Can't execute an AOF background rewriting. Please check the server logs for more information.")]
    Failed,
}

/// A snapshot begun for the rewrite, and how its base is written.
struct Prepared {
    walk: SnapshotWalk,
    now_ms: u64,
    /// `aof-use-rdb-preamble yes` (Redis's default): the base is an RDB file, with
    /// `rdbcompression` as given; otherwise it holds commands.
    rdb: Option<bool>,
    /// The function libraries at the instant (changing them locks every shard).
    functions: Vec<std::sync::Arc<crate::scripting::functions::Library>>,
}

/// What the rewrite switches to at the end.
enum Mode {
    /// The log is on: it rotated to `incr`, which the final manifest keeps.
    Rotated,
    /// The log is off: the result is a base alone (Redis does the same).
    BaseOnly(Files),
}

/// Start a rewrite in the background (BGREWRITEAOF, the automatic trigger).
pub fn start(srv: &Server) -> Result<(), StartError> {
    begin(srv, true)?;
    let prepared = match srv.aof() {
        Some(aof) => rotate_at_instant(srv, aof, true).map(|p| (p, Mode::Rotated)),
        None => crate::aof::read_files(&srv.config.read()).map(|(files, _)| {
            let mut all = srv.store.lock_all();
            (prepare(srv, &mut all), Mode::BaseOnly(files))
        }),
    };
    launch(srv, prepared, false)
}

/// Turn the log on at run time (`CONFIG SET appendonly yes`): a new incr file receives every
/// write from the instant on, and the rewrite writes the base holding the data before it.
/// Until the base is written the manifest on disk does not list the new incr file (as in
/// Redis, the log counts only once its rewrite is done).
///
/// During a BGSAVE the log is turned on by the cron once the BGSAVE is done (one snapshot at
/// a time, as Redis waits for its child); the reply is OK meanwhile, as Redis's.
pub fn enable(srv: &Server) -> Result<(), StartError> {
    if let Err(StartError::BgsaveActive | StartError::InProgress) = begin(srv, true) {
        // Redis waits for its BGSAVE child too (and a rewrite of a log that is off is of no
        // use to the new log): the cron turns the log on once the slot is free.
        srv.rewrite.enable_scheduled.store(true, Relaxed);
        return Ok(());
    }
    srv.rewrite.enable_scheduled.store(false, Relaxed);
    let prepared = (|| -> anyhow::Result<Prepared> {
        if let Some(aof) = srv.aof_log.get() {
            return rotate_at_instant(srv, aof, false);
        }
        let config = srv.config.read().clone();
        let (files, _) = crate::aof::read_files(&config)?;
        std::fs::create_dir_all(&files.dir)?;
        let (incr, file) = files.create_incr()?;
        let mut all = srv.store.lock_all();
        let aof = Aof::start(files, file, &config, true)?;
        aof.files.lock().manifest.incr.push(incr);
        let _ = srv.aof_log.set(aof);
        store::set_log_expired(true);
        Ok(prepare(srv, &mut all))
    })();
    launch(srv, prepared.map(|p| (p, Mode::Rotated)), true)
}

/// Claim the one rewrite slot; `exclusive` also waits for no BGSAVE (Redis's one child).
fn begin(srv: &Server, exclusive: bool) -> Result<(), StartError> {
    let _job = srv.save_state.job_lock.lock();
    if srv.rewrite.in_progress.load(Relaxed) {
        return Err(StartError::InProgress);
    }
    if exclusive && srv.save_state.bgsave_in_progress.load(Relaxed) {
        return Err(StartError::BgsaveActive);
    }
    srv.rewrite.in_progress.store(true, Relaxed);
    srv.rewrite.scheduled.store(false, Relaxed);
    *srv.rewrite.started.lock() = Some(Instant::now());
    Ok(())
}

/// The instant: the snapshot begins (every shard locked by the caller).
fn prepare(srv: &Server, all: &mut store::Locked<'_>) -> Prepared {
    let rdb = {
        let c = srv.config.read();
        (c.get("aof-use-rdb-preamble") == "yes").then(|| c.get("rdbcompression") != "no")
    };
    let now_ms = crate::util::now_ms();
    Prepared {
        walk: all.begin_snapshot(now_ms),
        now_ms,
        rdb,
        functions: srv.functions.libraries(),
    }
}

/// Steps 1 and 2 with a log: a new incr file (in the manifest on disk when `persist`), then
/// the instant, at which the log is (or stays) on.
fn rotate_at_instant(srv: &Server, aof: &Aof, persist: bool) -> anyhow::Result<Prepared> {
    let mut files = aof.files.lock();
    let (incr, file) = files.create_incr()?;
    files.manifest.incr.push(incr);
    if persist {
        if let Err(e) = files.persist() {
            files.manifest.incr.pop();
            return Err(e.into());
        }
    }
    let mut all = srv.store.lock_all();
    aof.rotate(file)?;
    aof.set_enabled(true);
    Ok(prepare(srv, &mut all))
}

fn launch(
    srv: &Server,
    prepared: anyhow::Result<(Prepared, Mode)>,
    enabling: bool,
) -> Result<(), StartError> {
    let fail = |why: String| {
        crate::log_warning!("Can't rewrite the append only file: {why}");
        finished(srv, false, enabling);
        Err(StartError::Failed)
    };
    let (prepared, mode) = match prepared {
        Ok(m) => m,
        Err(e) => return fail(e.to_string()),
    };
    let walk_here = prepared.walk.clone();
    let Some(me) = srv.me.upgrade() else {
        // The snapshot began: it must still be walked to its end (its marks set).
        crate::snapshot::walk_discarding(srv, walk_here);
        return fail("the server is stopping".into());
    };
    let spawned = std::thread::Builder::new()
        .name("basalt-aofrw".into())
        .spawn(move || {
            crate::affinity::bind(crate::affinity::Role::AofRewrite);
            run(&me, prepared, mode, enabling)
        });
    match spawned {
        Ok(_) => {
            crate::log_notice!("Background append only file rewriting started");
            Ok(())
        }
        Err(e) => {
            // The snapshot's marks must still be set: walk it here, discarding the output.
            crate::snapshot::walk_discarding(srv, walk_here);
            fail(e.to_string())
        }
    }
}

/// Steps 3 and 4, on the rewrite's thread.
fn run(srv: &Server, prepared: Prepared, mode: Mode, enabling: bool) {
    crate::snapshot::stay_on_cpu();
    let dir = match &mode {
        Mode::Rotated => srv.aof_log.get().map(|a| a.files.lock().dir.clone()),
        Mode::BaseOnly(files) => Some(files.dir.clone()),
    }
    .unwrap_or_default();
    let tmp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let rdb = prepared.rdb.is_some();
    let written = write_base(srv, prepared, &dir, &tmp);
    let result = written.and_then(|keys| Ok((keys, switch(srv, mode, &tmp, rdb)?)));
    match result {
        Ok((keys, size)) => {
            crate::log_notice!(
                "Background AOF rewrite finished successfully ({keys} keys, {size} bytes)"
            );
            finished(srv, true, enabling);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            crate::log_warning!("Background AOF rewrite failed: {e}");
            finished(srv, false, enabling);
        }
    }
}

/// Walk the snapshot and write the base to `tmp`, synced; returns the number of keys. The
/// walk always completes, even after a write error.
fn write_base(
    srv: &Server,
    p: Prepared,
    dir: &std::path::Path,
    tmp: &std::path::Path,
) -> std::io::Result<u64> {
    let progress = AtomicU64::new(0);
    if let Some(compress) = p.rdb {
        return write_rdb_base(srv, p, dir, tmp, compress);
    }
    let mut file = std::fs::create_dir_all(dir).and_then(|()| File::create(tmp));
    if srv.config.read().get("aof-timestamp-enabled") == "yes" {
        // Like Redis: the base starts with the time of the rewrite.
        let ts = crate::aof::timestamp_annotation(p.now_ms / 1000);
        if let Ok(f) = &mut file {
            if let Err(e) = f.write_all(&ts) {
                file = Err(e);
            }
        }
    }
    let mut sum = Checksummer::default();
    // The libraries first, as Redis's rewrite does: `FUNCTION LOAD` with each one's code.
    for lib in &p.functions {
        let mut record = Vec::with_capacity(lib.code.len() + 48);
        record.extend_from_slice(b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n");
        record.extend_from_slice(format!("${}\r\n", lib.code.len()).as_bytes());
        record.extend_from_slice(&lib.code);
        record.extend_from_slice(b"\r\n");
        if let Ok(f) = &mut file {
            sum.update(&record);
            let written = f
                .write_all(&record)
                .and_then(|()| f.write_all(&sum.annotation()));
            if let Err(e) = written {
                file = Err(e);
            }
        }
    }
    let mut ser = Serializer::commands();
    let (walked, _) = write_all(srv, p.walk, &mut ser, &progress, |part| {
        let f = file
            .as_mut()
            .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
        sum.update(part);
        f.write_all(part)?;
        f.write_all(&sum.annotation())
    });
    walked?;
    file?.sync_all()?;
    Ok(ser.keys())
}

/// [`write_base`] for an RDB base: header and aux fields (`aof-base 1`, as Redis marks a
/// preamble), the snapshot's items, the end and its checksum.
fn write_rdb_base(
    srv: &Server,
    p: Prepared,
    dir: &std::path::Path,
    tmp: &std::path::Path,
    compress: bool,
) -> std::io::Result<u64> {
    let start = || -> std::io::Result<persist::rdb::RdbWriter<File>> {
        std::fs::create_dir_all(dir)?;
        let mut w = persist::rdb::RdbWriter::new(File::create(tmp)?, compress)?;
        w.aux("redis-ver", crate::config::REDIS_VERSION.as_bytes())?;
        w.aux("redis-bits", b"64")?;
        w.aux("ctime", (p.now_ms / 1000).to_string().as_bytes())?;
        w.aux("aof-base", b"1")?;
        for lib in &p.functions {
            w.function(&lib.code)?;
        }
        Ok(w)
    };
    let mut writer = start();
    let mut ser = Serializer::rdb(compress, &p.walk);
    let (walked, _) = write_all(srv, p.walk, &mut ser, &AtomicU64::new(0), |part| {
        let w = writer
            .as_mut()
            .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
        w.raw_part(part)
    });
    walked?;
    let mut out = writer?.finish()?;
    out.flush()?;
    out.sync_all()?;
    Ok(ser.keys())
}

/// Step 4: the new base in place, the manifest switched, old files deleted (or kept as
/// history under `aof-disable-auto-gc yes`). Returns the size of the new base.
fn switch(srv: &Server, mode: Mode, tmp: &std::path::Path, rdb: bool) -> std::io::Result<u64> {
    let keep_history = srv.config.read().get("aof-disable-auto-gc") == "yes";
    let install = |files: &mut Files, keep_incr: Vec<AofFile>| -> std::io::Result<Vec<AofFile>> {
        let seq = files.manifest.base.as_ref().map_or(0, |b| b.seq) + 1;
        let base = AofFile::base(&files.appendfilename, seq, rdb);
        std::fs::rename(tmp, files.dir.join(&base.name))?;
        File::open(&files.dir)?.sync_all()?;
        let mut old: Vec<AofFile> = std::mem::take(&mut files.manifest.history);
        let previous_history = old.len();
        old.extend(files.manifest.base.take());
        old.append(&mut files.manifest.incr);
        old.retain(|f| !keep_incr.iter().any(|k| k.name == f.name));
        files.manifest.base = Some(base);
        files.manifest.incr = keep_incr;
        if keep_history {
            // `aof-disable-auto-gc yes`: the old files stay, listed as history (never loaded),
            // newest first as Redis lists them: this rewrite's incr files (last first) and
            // base, then the history before.
            let before = old.len() - previous_history;
            let mut history: Vec<AofFile> = old.drain(previous_history..).rev().collect();
            debug_assert_eq!(history.len(), before);
            history.append(&mut old);
            for f in &mut history {
                f.kind = persist::manifest::FileKind::History;
            }
            files.manifest.history = history;
        }
        files.persist()?;
        Ok(old)
    };
    let (dir, old, size) = match mode {
        Mode::Rotated => {
            let Some(aof) = srv.aof_log.get() else {
                return Err(std::io::Error::other("the log is gone"));
            };
            let mut files = aof.files.lock();
            // The incr file the log rotated to is the last one; it stays.
            let keep: Vec<AofFile> = files.manifest.incr.last().cloned().into_iter().collect();
            let old = install(&mut files, keep)?;
            let size = files.current_size();
            aof.base_size.store(size, Relaxed);
            (files.dir.clone(), old, size)
        }
        Mode::BaseOnly(mut files) => {
            let old = install(&mut files, Vec::new())?;
            // A log that was turned off keeps its view of the directory in step.
            if let Some(aof) = srv.aof_log.get() {
                aof.files.lock().manifest = files.manifest.clone();
            }
            (files.dir.clone(), old, files.current_size())
        }
    };
    for f in old {
        if let Err(e) = std::fs::remove_file(dir.join(&f.name)) {
            crate::log_warning!("Can't remove the old AOF file {}: {e}", f.name);
        }
    }
    Ok(size)
}

/// Record the outcome. A failed rewrite that was turning the log on turns it off again
/// (`appendonly` back to `no`): without its base the new incr file would not load alone.
fn finished(srv: &Server, ok: bool, enabling: bool) {
    if enabling && !ok {
        if let Some(aof) = srv.aof_log.get() {
            aof.set_enabled(false);
        }
        srv.config.write().set("appendonly", "no");
        crate::log_warning!("AOF was not turned on: its first rewrite failed");
    }
    let st = &srv.rewrite;
    if let Some(t) = st.started.lock().take() {
        st.last_time_sec
            .store(t.elapsed().as_secs() as i64, Relaxed);
    }
    st.last_ok.store(ok, Relaxed);
    if ok {
        st.rewrites.fetch_add(1, Relaxed);
        st.consecutive_failures.store(0, Relaxed);
    } else {
        st.consecutive_failures.fetch_add(1, Relaxed);
    }
    st.in_progress.store(false, Relaxed);
}

/// The cron's check: rewrite when the log grew by `auto-aof-rewrite-percentage` over its size
/// after the last rewrite and is bigger than `auto-aof-rewrite-min-size` (Redis's rule).
pub fn auto_check(srv: &Server) {
    if srv.rewrite.in_progress() || srv.save_state.bgsave_in_progress.load(Relaxed) {
        return;
    }
    if srv.rewrite.enable_scheduled.load(Relaxed) {
        if let Err(e) = enable(srv) {
            crate::log_warning!("AOF was not turned on: {e}");
        }
        return;
    }
    if srv.rewrite.scheduled.load(Relaxed) && !srv.rewrite.limited() {
        let _ = start(srv);
        return;
    }
    let Some(aof) = srv.aof() else { return };
    if aof.last_error().is_some() {
        return;
    }
    let (percentage, min_size) = {
        let c = srv.config.read();
        (
            c.get("auto-aof-rewrite-percentage")
                .parse::<u64>()
                .unwrap_or(0),
            crate::config::params::parse_memory(c.get("auto-aof-rewrite-min-size"))
                .unwrap_or(u64::MAX),
        )
    };
    if percentage == 0 {
        return;
    }
    let current = aof.files.lock().current_size();
    let base = aof.base_size.load(Relaxed).max(1);
    let growth = (current * 100 / base).saturating_sub(100);
    if current > min_size && growth >= percentage && !srv.rewrite.limited() {
        crate::log_notice!("Starting automatic rewriting of AOF on {growth}% growth");
        let _ = start(srv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_rewrites_are_spaced_out_after_three_failures_in_a_row() {
        let st = RewriteState::default();
        st.consecutive_failures.store(2, Relaxed);
        assert!(!st.limited());
        st.consecutive_failures.store(3, Relaxed);
        assert!(st.limited(), "the third failure starts a 1-minute wait");
        assert!(st.limited(), "still waiting");
        assert_eq!(st.limit.lock().0, 1);
        st.consecutive_failures.store(0, Relaxed);
        assert!(!st.limited(), "a success lifts the limit");
        assert_eq!(*st.limit.lock(), (0, None));
    }
}
