//! Writing `dump.rdb`: SAVE (synchronous, every shard locked for the whole write, as Redis's
//! SAVE blocks its server) through a temp file, fsync, rename and directory fsync, so the file
//! is always either the old one or the whole new one. BGSAVE comes with the forkless snapshot
//! of issue 5.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use persist::rdb::RdbWriter;

use crate::server::Server;

/// INFO's rdb_* fields and LASTSAVE.
pub struct SaveState {
    /// Unix seconds of the last successful save (start-up time before the first).
    pub last_save_unix: AtomicU64,
    pub saves: AtomicU64,
    pub last_load_keys_loaded: AtomicU64,
    pub last_load_keys_expired: AtomicU64,
}

impl Default for SaveState {
    fn default() -> Self {
        SaveState {
            last_save_unix: AtomicU64::new(crate::util::now_ms() / 1000),
            saves: AtomicU64::new(0),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
        }
    }
}

/// Write the whole dataset to `dbfilename` in the working directory (`dir`). Returns the
/// number of keys written.
pub fn save(srv: &Server) -> std::io::Result<u64> {
    let (name, compress, checksum) = {
        let c = srv.config.read();
        (
            c.get("dbfilename").to_string(),
            c.get("rdbcompression") != "no",
            c.get("rdbchecksum") != "no",
        )
    };
    let tmp = format!("temp-{}.rdb", std::process::id());
    let dirty_before = srv.stats.dirty.load(Relaxed);
    let written = write_file(srv, Path::new(&tmp), compress, checksum).and_then(|keys| {
        std::fs::rename(&tmp, &name)?;
        File::open(".")?.sync_all()?;
        Ok(keys)
    });
    match &written {
        Ok(keys) => {
            // Changes made during the save (none: every shard was locked) stay counted.
            srv.stats.dirty.fetch_sub(dirty_before, Relaxed);
            srv.save_state
                .last_save_unix
                .store(crate::util::now_ms() / 1000, Relaxed);
            srv.save_state.saves.fetch_add(1, Relaxed);
            crate::log_notice!("DB saved on disk ({keys} keys)");
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            crate::log_warning!("Failed saving the DB: {e}");
        }
    }
    written
}

/// The RDB file at `path`, synced: header, aux fields, then each database's keys (live ones:
/// keys whose expiry has passed are left out) with RESIZEDB hints.
fn write_file(srv: &Server, path: &Path, compress: bool, checksum: bool) -> std::io::Result<u64> {
    let file = File::create(path)?;
    let mut w = RdbWriter::new(BufWriter::with_capacity(1 << 16, file), compress)?;
    if !checksum {
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
    w.aux("aof-base", b"0")?;
    let mut all = srv.store.lock_all();
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
    let mut out = w.finish()?;
    out.flush()?;
    out.get_ref().sync_all()?;
    Ok(keys)
}
