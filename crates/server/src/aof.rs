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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use persist::{AofFile, Fsync, Log, LogError, Manifest};

use crate::config::Config;

/// The open log.
pub struct Aof {
    log: Log,
    /// Database of the last logged command (`None`: nothing logged yet in this file).
    db: Mutex<Option<usize>>,
    /// Woken whenever more of the log is durable.
    pub durable: Arc<tokio::sync::Notify>,
    durable_seq: Arc<AtomicU64>,
    /// `appendfsync always` (replies wait for the fsync); follows CONFIG SET.
    always: std::sync::atomic::AtomicBool,
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
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{}{name}", persist::manifest::TEMP_PREFIX));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// Where the log lives and what it holds, before it is opened for appending.
pub struct Plan {
    pub dir: PathBuf,
    pub appendfilename: String,
    pub manifest: Manifest,
    /// Whether the directory held a log to load.
    pub existing: bool,
}

/// Read the manifest, or make a fresh directory (an empty base and a first incr file), as
/// Redis does when `appendonly yes` starts without a log.
pub fn prepare(config: &Config) -> anyhow::Result<Plan> {
    let dir = PathBuf::from(config.get("appenddirname"));
    let appendfilename = config.get("appendfilename").to_string();
    if let Some(manifest) = persist::read_manifest(&dir, &appendfilename)? {
        return Ok(Plan {
            dir,
            appendfilename,
            manifest,
            existing: true,
        });
    }
    std::fs::create_dir_all(&dir)?;
    let base = AofFile::base(&appendfilename, 1, false);
    let incr = AofFile::incr(&appendfilename, 1);
    File::create(dir.join(&base.name))?.sync_all()?;
    File::create(dir.join(&incr.name))?.sync_all()?;
    let manifest = Manifest {
        base: Some(base),
        history: Vec::new(),
        incr: vec![incr],
    };
    let name = format!("{appendfilename}{}", persist::manifest::MANIFEST_SUFFIX);
    write_atomic(&dir, &name, manifest.to_text().as_bytes())?;
    Ok(Plan {
        dir,
        appendfilename,
        manifest,
        existing: false,
    })
}

impl Aof {
    /// Open the last incr file of `plan` for appending (a new one if the manifest has none).
    pub fn open(plan: &mut Plan, config: &Config) -> anyhow::Result<Aof> {
        if plan.manifest.incr.is_empty() {
            let seq = plan.manifest.last_incr_seq() + 1;
            let incr = AofFile::incr(&plan.appendfilename, seq);
            File::create(plan.dir.join(&incr.name))?.sync_all()?;
            plan.manifest.incr.push(incr);
            let name = format!(
                "{}{}",
                plan.appendfilename,
                persist::manifest::MANIFEST_SUFFIX
            );
            write_atomic(&plan.dir, &name, plan.manifest.to_text().as_bytes())?;
        }
        let last = plan
            .manifest
            .incr
            .last()
            .map(|f| f.name.clone())
            .ok_or_else(|| anyhow::anyhow!("no incr file"))?;
        let file = OpenOptions::new().append(true).open(plan.dir.join(&last))?;
        let durable = Arc::new(tokio::sync::Notify::new());
        let durable_seq = Arc::new(AtomicU64::new(0));
        let (n, d) = (durable.clone(), durable_seq.clone());
        let fsync = fsync_of(config);
        let log = Log::start(file, fsync, move |seq| {
            d.store(seq, Ordering::Release);
            n.notify_waiters();
        })?;
        Ok(Aof {
            log,
            db: Mutex::new(None),
            durable,
            durable_seq,
            always: std::sync::atomic::AtomicBool::new(fsync == Fsync::Always),
        })
    }

    /// Log `effects` (whole commands) of a command run in database `db`; returns the
    /// sequence to wait for before replying under `appendfsync always`.
    pub fn append(&self, db: usize, effects: &[Vec<Vec<u8>>]) -> Result<u64, LogError> {
        let mut record = Vec::new();
        let mut current = self
            .db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *current != Some(db) {
            let n = db.to_string();
            persist::encode_command(&mut record, &[b"SELECT", n.as_bytes()]);
        }
        for cmd in effects {
            let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
            persist::encode_command(&mut record, &args);
        }
        let seq = self.log.append(&record)?;
        *current = Some(db);
        Ok(seq)
    }

    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// The last write error, if writes are failing (writes are refused meanwhile).
    pub fn last_error(&self) -> Option<String> {
        self.log.last_error()
    }

    pub fn set_fsync(&self, config: &Config) {
        let fsync = fsync_of(config);
        self.always.store(fsync == Fsync::Always, Ordering::Relaxed);
        self.log.set_fsync(fsync);
    }

    /// Whether replies to writes wait for the fsync (`appendfsync always`).
    pub fn always(&self) -> bool {
        self.always.load(Ordering::Relaxed)
    }
}

/// Replay the log of `plan` into the store, each command run as a client would run it (error
/// replies to individual commands are ignored, as Redis's loader does; an unknown command
/// stops the load).
pub fn load(
    srv: &crate::server::Server,
    plan: &Plan,
    truncated_ok: bool,
) -> Result<persist::LoadReport, persist::LoadError> {
    let shared = srv
        .clients
        .register("aof-loader".into(), String::new(), -1, false);
    let id = shared.id;
    let mut client = crate::client::ClientState::new(shared, srv.stats.register_thread(), true);
    let mut out = resp::Reply::new();
    let max_bulk = usize::try_from(srv.config.read().proto_max_bulk_len()).unwrap_or(usize::MAX);
    let result = persist::load(&plan.dir, &plan.manifest, truncated_ok, max_bulk, |unit| {
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
    });
    srv.clients.unregister(id);
    result
}
