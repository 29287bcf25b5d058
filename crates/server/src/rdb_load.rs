//! Loading an RDB file into the store: `dump.rdb` at start-up when the log is off (as Redis
//! does), and the RDB-format base of an append-only log (`aof-use-rdb-preamble yes`, Redis's
//! default), after which the incr files replay on top.
//!
//! Values take Basalt's encodings by the configured thresholds, whatever the file used. As in
//! Redis, a plain RDB skips keys whose expiry has passed, while a log's base keeps them (the
//! commands after it were logged against them); empty collections are skipped with a warning.

use std::io::BufReader;
use std::path::Path;

use persist::rdb::{Item, RdbError, RdbReader, RdbValue};
use store::{Hash, QuickList, Set, Str, Value, ZSet};

use crate::server::Server;

/// What a load found.
#[derive(Debug, Default)]
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
}

/// Load the RDB file at `path` into the store. `log_base`: the file is a log's base (expired
/// keys are kept for the commands after it).
pub fn load_file(srv: &Server, path: &Path, log_base: bool) -> Result<RdbReport, RdbLoadError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| RdbLoadError::Open {
        path: shown.clone(),
        error,
    })?;
    let read_err = |error| RdbLoadError::Read {
        path: shown.clone(),
        error,
    };
    let mut reader = RdbReader::new(BufReader::with_capacity(1 << 16, file)).map_err(read_err)?;
    let databases = srv.store.databases();
    let now = crate::util::now_ms();
    let mut db = 0usize;
    let mut report = RdbReport::default();
    loop {
        match reader.next_item().map_err(read_err)? {
            Item::End => return Ok(report),
            Item::SelectDb(n) => {
                db = usize::try_from(n)
                    .ok()
                    .filter(|&n| n < databases)
                    .ok_or(RdbLoadError::TooManyDatabases(databases))?;
            }
            Item::Function(_) => {
                crate::log_warning!(
                    "The RDB file holds a function library; functions are not supported yet, it is not loaded"
                );
            }
            Item::Aux(..) | Item::ResizeDb { .. } => {}
            Item::Key(k) => {
                let expire = k.expire_ms.map(|e| e.max(0) as u64);
                if !log_base && expire.is_some_and(|e| e < now) {
                    report.expired_skipped += 1;
                    continue;
                }
                let Some(value) = to_value(srv, k.value) else {
                    report.empty_skipped += 1;
                    crate::log_warning!(
                        "rdbLoadObject skipping empty key: {}",
                        String::from_utf8_lossy(&k.key)
                    );
                    continue;
                };
                let mut locked = srv.store.lock_keys([k.key.as_slice()]);
                let d = locked.db(&k.key, db);
                d.set(&k.key, value, false, now);
                if let Some(at) = expire {
                    d.set_expire(&k.key, at);
                }
                report.keys += 1;
            }
        }
    }
}

/// A file's value in Basalt's encodings (by the current thresholds); `None` for an empty
/// collection.
pub(crate) fn to_value(srv: &Server, v: RdbValue) -> Option<Value> {
    let limits = &srv.limits;
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
            for (f, v) in &pairs {
                h.set(f, v, limits.hash());
            }
            Value::Hash(Box::new(h))
        }
        RdbValue::ZSet(entries) if entries.is_empty() => return None,
        RdbValue::ZSet(entries) => {
            let mut z = ZSet::default();
            for (score, m) in &entries {
                z.set(m, *score, limits.zset());
            }
            Value::ZSet(Box::new(z))
        }
    })
}
