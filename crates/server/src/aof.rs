//! The append-only log as the server uses it: the Redis 7 directory (`appenddirname`, its
//! manifest, base and incr files), loading it at start-up, and logging the effects of every
//! write that changed something, in the order of the shard locks (see `persist::log` for the
//! group commit).
//!
//! What is logged is a command's *effect*, never a relative time: `cmd::Ctx::effects` holds
//! the rewritten commands (SET … PXAT, PEXPIREAT, SREM for SPOP …) when the handler set them,
//! else the command as it was sent. A `SELECT` goes in first whenever the database changes.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use persist::{AofFile, Fsync, Log, LogError, Manifest};

use crate::config::Config;

/// The directory and what its manifest lists; changed only by a rewrite (under this lock).
pub struct Files {
    pub dir: PathBuf,
    pub appendfilename: String,
    pub manifest: Manifest,
}

impl Files {
    fn manifest_name(&self) -> String {
        format!(
            "{}{}",
            self.appendfilename,
            persist::manifest::MANIFEST_SUFFIX
        )
    }

    /// Write the manifest (atomically: temp file, fsync, rename, fsync the directory).
    pub fn persist(&self) -> std::io::Result<()> {
        write_atomic(
            &self.dir,
            &self.manifest_name(),
            self.manifest.to_text().as_bytes(),
        )
    }

    /// Create the next incr file (empty, synced, directory synced), not yet in the manifest.
    pub fn create_incr(&self) -> std::io::Result<(AofFile, File)> {
        let incr = AofFile::incr(&self.appendfilename, self.manifest.last_incr_seq() + 1);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(&incr.name))?;
        file.sync_all()?;
        File::open(&self.dir)?.sync_all()?;
        Ok((incr, file))
    }

    /// Bytes in the base and incr files (INFO aof_current_size, the automatic rewrite).
    pub fn current_size(&self) -> u64 {
        let size = |f: &AofFile| std::fs::metadata(self.dir.join(&f.name)).map_or(0, |m| m.len());
        self.manifest.base.iter().map(size).sum::<u64>()
            + self.manifest.incr.iter().map(size).sum::<u64>()
    }
}

/// Encode commands, each with its database, as one record: a `SELECT` before any command
/// whose database differs from `selected` (updated), between `MULTI` and `EXEC` when `wrap`
/// (the `SELECT` of the first command goes before the `MULTI`, as Redis writes it). The AOF
/// and the replication stream encode their records alike, each with its own `selected`.
pub fn encode_ops(
    record: &mut Vec<u8>,
    selected: &mut Option<usize>,
    ops: &[(usize, &[Vec<u8>])],
    wrap: bool,
) {
    let mut select = |record: &mut Vec<u8>, db: usize| {
        if *selected != Some(db) {
            let n = db.to_string();
            persist::encode_command(record, &[b"SELECT", n.as_bytes()]);
            *selected = Some(db);
        }
    };
    if let Some(&(first, _)) = ops.first() {
        select(record, first);
    }
    if wrap {
        persist::encode_command(record, &[b"MULTI"]);
    }
    for (db, cmd) in ops {
        select(record, *db);
        let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        persist::encode_command(record, &args);
    }
    if wrap {
        persist::encode_command(record, &[b"EXEC"]);
    }
}

/// The open log.
pub struct Aof {
    log: Log,
    /// Database of the last logged command (`None`: nothing logged yet in this file), and
    /// the second of the last `#TS:` annotation.
    db: Mutex<(Option<usize>, u64)>,
    /// `aof-timestamp-enabled`: a `#TS:<unix time>` line before the first record of every
    /// second (what `redis-check-aof --truncate-to-timestamp` cuts at).
    timestamps: AtomicBool,
    /// Woken whenever more of the log is durable.
    pub durable: Arc<tokio::sync::Notify>,
    durable_seq: Arc<AtomicU64>,
    /// `appendonly`: off after `CONFIG SET appendonly no` (the log stays open, unused, until
    /// it is turned on again, which starts a rewrite onto a new incr file).
    enabled: AtomicBool,
    pub files: parking_lot::Mutex<Files>,
    /// aof_current_size after the last rewrite (or the load): the automatic rewrite's base.
    pub base_size: AtomicU64,
}

fn fsync_of(config: &Config) -> Fsync {
    match config.get("appendfsync") {
        "always" => Fsync::Always,
        "no" => Fsync::No,
        _ => Fsync::EverySec,
    }
}

/// Write `bytes` to `path` through a temp file, fsync, rename, fsync the directory: the file
/// is either the old one or the whole new one after a crash.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{}{name}", persist::manifest::TEMP_PREFIX));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// Remove what a crash during a rewrite or a manifest update left behind: temp files are
/// never in a manifest (the rename that would have made them count did not happen).
fn remove_temp_files(files: &Files) {
    let Ok(entries) = std::fs::read_dir(&files.dir) else {
        return;
    };
    let m = &files.manifest;
    let listed = |name: &str| {
        m.base
            .iter()
            .chain(&m.incr)
            .chain(&m.history)
            .any(|f| f.name == name)
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str.starts_with(persist::manifest::TEMP_PREFIX) && !listed(&name_str) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    crate::log_notice!("Removed the leftover temp file {}", name.to_string_lossy())
                }
                Err(e) => crate::log_warning!(
                    "Can't remove the leftover temp file {}: {e}",
                    name.to_string_lossy()
                ),
            }
        }
    }
}

/// Where the log lives and what it holds, before it is opened for appending.
pub struct Plan {
    pub files: Files,
    /// Whether the directory held a log to load.
    pub existing: bool,
}

/// The directory's manifest, or an empty one (no files yet) if it has none.
pub fn read_files(config: &Config) -> anyhow::Result<(Files, bool)> {
    let dir = PathBuf::from(config.get("appenddirname"));
    let appendfilename = config.get("appendfilename").to_string();
    let found = persist::read_manifest(&dir, &appendfilename)?;
    let existing = found.is_some();
    let manifest = found.unwrap_or(Manifest {
        base: None,
        history: Vec::new(),
        incr: Vec::new(),
    });
    Ok((
        Files {
            dir,
            appendfilename,
            manifest,
        },
        existing,
    ))
}

/// Read the manifest, or make a fresh directory (an empty base and a first incr file), as
/// Redis does when `appendonly yes` starts without a log.
pub fn prepare(config: &Config) -> anyhow::Result<Plan> {
    let (mut files, existing) = read_files(config)?;
    remove_temp_files(&files);
    if existing {
        return Ok(Plan { files, existing });
    }
    std::fs::create_dir_all(&files.dir)?;
    // Redis starts a fresh log with a rewrite of the empty dataset: with the RDB preamble
    // (its default) the first base is an empty RDB file, else an empty AOF.
    let rdb = config.get("aof-use-rdb-preamble") == "yes";
    let base = AofFile::base(&files.appendfilename, 1, rdb);
    let file = File::create(files.dir.join(&base.name))?;
    let file = if rdb {
        let compress = config.get("rdbcompression") == "yes";
        persist::rdb::write::RdbWriter::new(std::io::BufWriter::new(file), compress)?
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
    } else {
        file
    };
    file.sync_all()?;
    files.manifest.base = Some(base);
    let (incr, _) = files.create_incr()?;
    files.manifest.incr.push(incr);
    files.persist()?;
    Ok(Plan { files, existing })
}

impl Aof {
    /// Open the last incr file of `plan` for appending (a new one if the manifest has none).
    pub fn open(plan: Plan, config: &Config) -> anyhow::Result<Aof> {
        let mut files = plan.files;
        let (file, sum) = match files.manifest.incr.last() {
            Some(last) => {
                let path = files.dir.join(&last.name);
                // Commands after the file's last annotation (a torn batch's survivors, or a
                // file Redis wrote) must be covered by the next annotation.
                let max_bulk = usize::try_from(config.proto_max_bulk_len()).unwrap_or(usize::MAX);
                let sum = persist::resume_checksum(&path, max_bulk)?;
                (OpenOptions::new().append(true).open(path)?, sum)
            }
            None => {
                let (incr, file) = files.create_incr()?;
                files.manifest.incr.push(incr);
                files.persist()?;
                (file, persist::Checksummer::default())
            }
        };
        Self::start_with(files, file, sum, config, true)
    }

    /// Start appending to `file`, the last (empty) incr file of `files`.
    pub fn start(files: Files, file: File, config: &Config, enabled: bool) -> anyhow::Result<Aof> {
        Self::start_with(
            files,
            file,
            persist::Checksummer::default(),
            config,
            enabled,
        )
    }

    fn start_with(
        files: Files,
        file: File,
        sum: persist::Checksummer,
        config: &Config,
        enabled: bool,
    ) -> anyhow::Result<Aof> {
        let durable = Arc::new(tokio::sync::Notify::new());
        let durable_seq = Arc::new(AtomicU64::new(0));
        let (n, d) = (durable.clone(), durable_seq.clone());
        let fsync = fsync_of(config);
        let log = Log::resume(file, fsync, sum, move |seq| {
            d.store(seq, Ordering::Release);
            n.notify_waiters();
        })?;
        let base_size = files.current_size();
        Ok(Aof {
            log,
            db: Mutex::new((None, 0)),
            timestamps: AtomicBool::new(config.get("aof-timestamp-enabled") == "yes"),
            durable,
            durable_seq,
            enabled: AtomicBool::new(enabled),
            files: parking_lot::Mutex::new(files),
            base_size: AtomicU64::new(base_size),
        })
    }

    fn db_lock(&self) -> std::sync::MutexGuard<'_, (Option<usize>, u64)> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Log `effects` (whole commands) of a command run in database `db`; returns the
    /// sequence to wait for before replying under `appendfsync always`.
    pub fn append(&self, db: usize, effects: &[Vec<Vec<u8>>]) -> Result<u64, LogError> {
        let ops: Vec<(usize, &[Vec<u8>])> = effects.iter().map(|c| (db, c.as_slice())).collect();
        self.append_ops(&ops, false)
    }

    /// Log a transaction's commands, each with its database, as one record: between `MULTI`
    /// and `EXEC` when there are several (the `SELECT` of the first goes before the `MULTI`,
    /// as Redis writes it), so a load applies all of them or, from a torn tail, none.
    pub fn append_transaction(&self, ops: &[(usize, Vec<Vec<u8>>)]) -> Result<u64, LogError> {
        let ops: Vec<(usize, &[Vec<u8>])> = ops.iter().map(|(d, c)| (*d, c.as_slice())).collect();
        self.append_ops(&ops, ops.len() > 1)
    }

    pub fn append_ops(&self, ops: &[(usize, &[Vec<u8>])], wrap: bool) -> Result<u64, LogError> {
        let mut record = Vec::new();
        let mut current = self.db_lock();
        let mut selected = current.0;
        encode_ops(&mut record, &mut selected, ops, wrap);
        let mut ts = Vec::new();
        if self.timestamps.load(Ordering::Relaxed) {
            let now = crate::util::now_ms() / 1000;
            if now > current.1 {
                ts = timestamp_annotation(now);
                current.1 = now;
            }
        }
        let seq = self.log.append_annotated(&ts, &record)?;
        current.0 = selected;
        Ok(seq)
    }

    /// Append from now on to `file` (a new incr file): see [`Log::rotate`]. The new file
    /// starts with a `SELECT`, as every incr file does.
    pub fn rotate(&self, file: File) -> Result<u64, LogError> {
        let mut current = self.db_lock();
        let last = self.log.rotate(file)?;
        *current = (None, 0);
        Ok(last)
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
    }

    /// Make record `seq` durable here and now if the policy allows (see
    /// [`Log::write_through`]); false: wait for `durable`.
    pub fn write_through(&self, seq: u64) -> bool {
        self.log.write_through(seq)
    }

    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// Wait until everything logged so far is written (and synced under `always`), at most
    /// `timeout` (turning the log off, shutting down).
    pub fn flush(&self, timeout: std::time::Duration) -> Result<(), LogError> {
        self.log.wait_durable(self.log.last_seq(), timeout)
    }

    /// Write and fsync everything logged (a clean shutdown, as Redis fsyncs its AOF).
    pub fn sync_all(&self) -> std::io::Result<()> {
        self.log.sync_all()
    }

    /// The last write error, if writes are failing (writes are refused meanwhile).
    pub fn last_error(&self) -> Option<String> {
        self.log.last_error()
    }

    /// The configuration changed (CONFIG SET): `appendfsync` from the writer's next batch,
    /// `aof-timestamp-enabled` from the next record.
    pub fn config_changed(&self, config: &Config) {
        if config.get("aof-disable-auto-gc") == "no" {
            self.delete_history();
        }
        self.log.set_fsync(fsync_of(config));
        self.timestamps.store(
            config.get("aof-timestamp-enabled") == "yes",
            Ordering::Relaxed,
        );
    }

    /// Drop the history files from the manifest, then delete them (Redis's
    /// `aofDelHistoryFiles`, when `aof-disable-auto-gc` goes back to `no`).
    fn delete_history(&self) {
        let mut files = self.files.lock();
        if files.manifest.history.is_empty() {
            return;
        }
        let history = std::mem::take(&mut files.manifest.history);
        if let Err(e) = files.persist() {
            crate::log_warning!("Can't persist the AOF manifest: {e}");
            files.manifest.history = history;
            return;
        }
        for f in history {
            crate::log_notice!("Removing the history file {} in the background", f.name);
            if let Err(e) = std::fs::remove_file(files.dir.join(&f.name)) {
                crate::log_warning!("Can't remove the AOF history file {}: {e}", f.name);
            }
        }
    }

    /// The log's failpoints (DEBUG AOF-FAILPOINT, tests).
    pub fn failpoints(&self) -> &persist::FailPoints {
        self.log.failpoints()
    }

    /// Syncs that ran late (INFO aof_delayed_fsync).
    pub fn delayed_fsyncs(&self) -> u64 {
        self.log.delayed_fsyncs()
    }

    /// Bytes buffered, not yet written (INFO aof_buffer_length).
    pub fn buffered_bytes(&self) -> usize {
        self.log.pending_bytes()
    }
}

/// A command replayed from the log answered an error (Redis's `afterErrorReply` for its AOF
/// client): logged as critical and counted in INFO's `unexpected_error_replies`; the load
/// goes on, or the process ends under `propagation-error-behavior panic`.
pub fn error_while_loading(srv: &crate::server::Server, command: &str, message: &[u8]) {
    let shown = String::from_utf8_lossy(&message[..message.len().min(4096)]);
    crate::log_warning!(
        "== CRITICAL == This server is sending an error to its AOF-loading-client: '{shown}' after processing the command '{command}'"
    );
    srv.stats
        .unexpected_error_replies
        .fetch_add(1, Ordering::Relaxed);
    if srv.config.read().get("propagation-error-behavior") == "panic" {
        crate::crash::panic_now(&format!(
            "This server panicked sending an error to its AOF-loading-client after processing the command '{command}'"
        ));
    }
}

/// Redis's timestamp annotation: `#TS:<unix seconds>`.
pub fn timestamp_annotation(unix_secs: u64) -> Vec<u8> {
    format!("#TS:{unix_secs}\r\n").into_bytes()
}

/// Replay the log of `plan` into the store, each command run as a client would run it (error
/// replies to individual commands are ignored, as Redis's loader does; an unknown command
/// stops the load).
pub fn load(
    srv: &crate::server::Server,
    plan: &Plan,
    truncated_ok: bool,
) -> anyhow::Result<persist::LoadReport> {
    // An RDB-format base (Redis's default `aof-use-rdb-preamble yes`) loads first; the incr
    // files then replay as commands.
    let mut manifest = plan.files.manifest.clone();
    let mut rdb_base = None;
    if let Some(base) = manifest.base.take_if(|b| b.name.ends_with(".rdb")) {
        let report =
            crate::rdb_load::load_file(srv, &plan.files.dir.join(&base.name), true, false)?;
        crate::log_notice!(
            "Loading RDB base {} of the append only file: {} keys",
            base.name,
            report.keys
        );
        rdb_base = Some(base.name);
    }
    let mut report = replay(srv, &plan.files.dir, &manifest, truncated_ok)?;
    if let Some(name) = rdb_base {
        report.files.insert(0, name);
    }
    Ok(report)
}

/// Replay the command files of `manifest`.
fn replay(
    srv: &crate::server::Server,
    dir: &Path,
    manifest: &Manifest,
    truncated_ok: bool,
) -> Result<persist::LoadReport, persist::LoadError> {
    let shared = srv
        .clients
        .register("aof-loader".into(), String::new(), -1, false);
    let id = shared.id;
    let mut client = crate::client::ClientState::new(shared, srv.stats.register_thread(), true);
    client.replaying = true;
    let mut out = resp::Reply::new();
    let max_bulk = usize::try_from(srv.config.read().proto_max_bulk_len()).unwrap_or(usize::MAX);
    let result = persist::load_reporting(
        dir,
        manifest,
        truncated_ok,
        max_bulk,
        |unit| {
            for cmd in unit {
                let Some(name) = cmd.first() else { continue };
                if crate::cmd::table::lookup(name).is_none() {
                    return Err(format!(
                        "Unknown command '{}' reading the append only file",
                        String::from_utf8_lossy(name)
                    ));
                }
                let mut buf = Vec::new();
                let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                persist::encode_command(&mut buf, &args);
                let mut parser = resp::RequestParser::new();
                if parser.parse(&buf, resp::Limits::default()).is_err() {
                    return Err("a logged command does not parse".into());
                }
                crate::cmd::execute(srv, &mut client, &mut out, parser.argv(&buf));
                out.clear();
            }
            Ok(())
        },
        |p| {
            crate::log_notice!(
                "Loading {}: {}% ({} of {} bytes)",
                p.file,
                p.offset * 100 / p.size.max(1),
                p.offset,
                p.size
            );
        },
    );
    srv.clients.unregister(id);
    result
}
