//! Loading an RDB file into the store: `dump.rdb` at start-up when the log is off (as Redis
//! does), and the RDB-format base of an append-only log (`aof-use-rdb-preamble yes`, Redis's
//! default), after which the incr files replay on top.
//!
//! Values take Basalt's encodings by the configured thresholds, whatever the file used. As in
//! Redis, a plain RDB skips keys whose expiry has passed, while a log's base keeps them (the
//! commands after it were logged against them); empty collections are skipped with a warning.

use std::io::BufReader;
use std::path::Path;

use persist::rdb::{Item, KeyEntry, RdbError, RdbReader, RdbValue};
use store::{Hash, QuickList, Set, Str, Value, ZSet};

use crate::server::Server;

/// What a load found.
#[derive(Debug, Default, Clone, Copy)]
pub struct RdbReport {
    pub keys: u64,
    pub expired_skipped: u64,
    pub empty_skipped: u64,
}

/// Why an RDB file did not load.
#[derive(Debug, thiserror::Error)]
pub enum RdbLoadError {
    #[error("Can't open the RDB file {path}: {error}")]
    Open { path: String, error: std::io::Error },
    #[error("{path}: {error}")]
    Read { path: String, error: RdbError },
    #[error("FATAL: Data file was created with a Redis server configured to handle more than {0} databases. Exiting")]
    TooManyDatabases(usize),
    #[error("Failed loading library, {0}")]
    Function(String),
}

/// Keys handed from the reading thread to the inserting one at a time.
const BATCH_KEYS: usize = 1024;

/// Load the RDB file at `path` into the store. `log_base`: the file is a log's base (expired
/// keys are kept for the commands after it). Its function libraries are added too; one that
/// exists already fails the load unless `replace_functions` (DEBUG RELOAD MERGE).
///
/// Two threads: this one reads and decodes the file, a second converts the values and
/// inserts them (each about half the work), handed over in batches.
pub fn load_file(
    srv: &Server,
    path: &Path,
    log_base: bool,
    replace_functions: bool,
) -> Result<RdbReport, RdbLoadError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| RdbLoadError::Open {
        path: shown.clone(),
        error,
    })?;
    let file_len = file.metadata().map_or(0, |m| m.len());
    let input = BufReader::with_capacity(1 << 16, file);
    load_from(srv, input, file_len, &shown, log_base, replace_functions)
}

/// [`load_file`] from any input (a replica loads its master's payload from the socket):
/// `len` bounds the size hints trusted (0 when unknown: none trusted). Reads exactly the
/// RDB's bytes, so what follows it in `input` stays unread.
pub fn load_from<R: std::io::Read>(
    srv: &Server,
    input: R,
    len: u64,
    shown: &str,
    log_base: bool,
    replace_functions: bool,
) -> Result<RdbReport, RdbLoadError> {
    let reader = RdbReader::new(input).map_err(|error| RdbLoadError::Read {
        path: shown.to_string(),
        error,
    })?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(usize, KeyEntry)>>(8);
    std::thread::scope(|scope| {
        let inserter = scope.spawn(move || insert_all(srv, rx, log_base));
        let read = read_all(srv, reader, len, tx, replace_functions);
        // The inserter ends when the reader drops its end of the channel.
        let report = inserter
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read.map_err(|e| match e {
            ReadFailure::Rdb(error) => RdbLoadError::Read {
                path: shown.to_string(),
                error,
            },
            ReadFailure::Databases(n) => RdbLoadError::TooManyDatabases(n),
            ReadFailure::Function(e) => RdbLoadError::Function(e),
        })?;
        Ok(report)
    })
}

enum ReadFailure {
    Rdb(RdbError),
    Databases(usize),
    Function(String),
}

/// The reading half: items of the file, keys in batches to `tx`.
fn read_all<R: std::io::Read>(
    srv: &Server,
    mut reader: RdbReader<R>,
    file_len: u64,
    tx: std::sync::mpsc::SyncSender<Vec<(usize, KeyEntry)>>,
    replace_functions: bool,
) -> Result<(), ReadFailure> {
    let databases = srv.store.databases();
    let mut db = 0usize;
    let mut batch = Vec::with_capacity(BATCH_KEYS);
    loop {
        match reader.next_item().map_err(ReadFailure::Rdb)? {
            Item::End => {
                let _ = tx.send(batch);
                // Only `yes` sanitizes files being loaded (`clients` skips them, as Redis).
                if srv.config.read().get("sanitize-dump-payload") == "yes" {
                    srv.stats
                        .dump_payload_sanitizations
                        .fetch_add(reader.deep_checked, std::sync::atomic::Ordering::Relaxed);
                }
                return Ok(());
            }
            Item::SelectDb(n) => {
                db = usize::try_from(n)
                    .ok()
                    .filter(|&n| n < databases)
                    .ok_or(ReadFailure::Databases(databases))?;
            }
            Item::Function(code) => {
                // No time limit when loading from disk, as Redis.
                srv.functions
                    .load(&code, replace_functions, None)
                    .map_err(ReadFailure::Function)?;
            }
            Item::ResizeDb { keys, expires } => {
                // A hint, trusted only as far as the file could hold that many keys (each
                // takes at least 3 bytes), so a corrupt one cannot make us allocate much.
                let bound = |n: u64| n.min(file_len / 3) as usize;
                srv.store.reserve(db, bound(keys), bound(expires));
            }
            Item::Aux(key, value) if key == b"repl-stream-db" => {
                // A replication payload: the database its master's stream has selected (a
                // replica's link starts applying the stream there).
                let n = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|v| v.parse().ok());
                srv.repl.loaded_stream_db.store(
                    n.filter(|&n: &usize| n < databases).unwrap_or(0),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            Item::Aux(key, value) if key == b"repl-id" || key == b"repl-offset" => {
                // The replication history the data is a point of (a restarted server tries
                // to continue it: `replication::restore_history`).
                let value = String::from_utf8_lossy(&value).into_owned();
                let mut loaded = srv.repl.loaded_history.lock();
                if key == b"repl-id" {
                    loaded.0 = Some(value);
                } else {
                    loaded.1 = value.parse().ok();
                }
            }
            Item::Aux(..) => {}
            Item::Key(k) => {
                batch.push((db, k));
                if batch.len() == BATCH_KEYS {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_KEYS));
                    if tx.send(full).is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// The inserting half.
fn insert_all(
    srv: &Server,
    rx: std::sync::mpsc::Receiver<Vec<(usize, KeyEntry)>>,
    log_base: bool,
) -> RdbReport {
    let now = crate::util::now_ms();
    let mut report = RdbReport::default();
    for batch in rx {
        for (db, k) in batch {
            let expire = k.expire_ms.map(|e| e.max(0) as u64);
            if !log_base && expire.is_some_and(|e| e < now) {
                report.expired_skipped += 1;
                continue;
            }
            let Some(value) = to_value(srv, k.value, k.packed) else {
                report.empty_skipped += 1;
                crate::log_warning!(
                    "rdbLoadObject skipping empty key: {}",
                    String::from_utf8_lossy(&k.key)
                );
                continue;
            };
            let mut shard = srv.store.lock_shard(srv.store.shard_index(&k.key));
            let d = shard.db(db);
            d.set_loaded(&k.key, value, now);
            if let Some(at) = expire {
                d.set_expire(&k.key, at);
            }
            if k.idle_secs.is_some() || k.freq.is_some() {
                if let Some(obj) = d.get_mut(&k.key) {
                    obj.set_access(k.freq, k.idle_secs, now);
                }
            }
            report.keys += 1;
        }
    }
    report
}

/// A file's value in Basalt's encodings (by the current thresholds); `None` for an empty
/// collection other than a stream. A hash or sorted set that came `packed` stays packed whatever its elements'
/// lengths, as Redis checks only its entry count on load.
pub(crate) fn to_value(srv: &Server, v: RdbValue, packed: bool) -> Option<Value> {
    let limits = &srv.limits;
    let unbounded_if_packed = |max: usize| if packed { usize::MAX } else { max };
    Some(match v {
        RdbValue::Str(s) => Value::Str(Str::from_bytes(&s)),
        RdbValue::List(items) if items.is_empty() => return None,
        RdbValue::List(items) => Value::List(Box::new(QuickList::from_elems(
            items.iter().map(Vec::as_slice),
            limits.fill(),
        ))),
        RdbValue::Set(items) if items.is_empty() => return None,
        RdbValue::Set(items) => {
            let mut set = Set::default();
            for m in &items {
                set.add(m, limits.max_intset());
            }
            Value::Set(set)
        }
        RdbValue::Hash(pairs) if pairs.is_empty() => return None,
        RdbValue::Hash(pairs) => {
            let mut h = Hash::default();
            let mut bounds = limits.hash();
            bounds.max_value_bytes = unbounded_if_packed(bounds.max_value_bytes);
            for (f, v) in &pairs {
                h.set(f, v, bounds);
            }
            Value::Hash(Box::new(h))
        }
        RdbValue::ZSet(entries) if entries.is_empty() => return None,
        RdbValue::ZSet(entries) => {
            let mut z = ZSet::default();
            let mut bounds = limits.zset();
            bounds.max_value_bytes = unbounded_if_packed(bounds.max_value_bytes);
            for (score, m) in &entries {
                z.set(m, *score, bounds);
            }
            Value::ZSet(Box::new(z))
        }
        // An empty stream is a value (it keeps its last ID and groups).
        RdbValue::Stream(s) => Value::Stream(s),
    })
}
