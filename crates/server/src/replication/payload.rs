//! A replica's full sync, after `+FULLRESYNC` (Redis's `readSyncBulkPayload`): the payload
//! (`$<len>` or the diskless `$EOF:<mark>` form) is received whole into a temporary file in
//! `dir` while the old data is still served; only then are the databases emptied and the
//! file loaded, clients answered `-LOADING` meanwhile. A transfer cut short (the master dies,
//! the link times out) leaves the old data as it was and no temporary file behind.
//!
//! With `appendonly yes` the replica's own log stops taking records before the old data is
//! emptied and starts again by a rewrite once the new data is loaded (Redis's
//! `stopAppendOnly` and `restartAOFAfterSYNC`): the manifest on disk lists the old files
//! until the new base is written, so a crash at any point restarts with either the old
//! dataset or the new one, never a mix.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::replica::{is_timeout, read_line, LinkError};
use crate::server::Server;

/// The payload's temporary file, removed however the sync ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Receive the payload into a temporary file in `dir`, then load it in place of the dataset.
pub(super) fn full_sync(
    srv: &Server,
    r: &mut BufReader<TcpStream>,
    generation: u64,
    timeout: Duration,
) -> Result<(), LinkError> {
    let header = read_line(srv, r, generation, timeout)?;
    let header = String::from_utf8_lossy(&header).into_owned();
    let Some(size) = header.strip_prefix('$') else {
        return Err(LinkError::Protocol(format!(
            "Bad protocol from MASTER, the first byte is not '$': {header}"
        )));
    };
    // The working directory is `dir` (the server changes into it at start, as Redis).
    let temp = TempFile(PathBuf::from(format!(
        "temp-{}.{}.rdb",
        std::process::id(),
        generation
    )));
    let path = &temp.0;
    let mut file = std::fs::File::create(path)?;
    let received = if let Some(mark) = size.strip_prefix("EOF:") {
        if mark.len() != 40 {
            return Err(LinkError::Protocol("bad EOF mark from the master".into()));
        }
        copy_until_mark(srv, r, &mut file, mark.as_bytes(), generation, timeout)?
    } else {
        let len: u64 = size
            .parse()
            .map_err(|_| LinkError::Protocol(format!("bad payload length: {size}")))?;
        copy_exact(srv, r, &mut file, len, generation, timeout)?
    };
    file.sync_all()?;
    drop(file);
    crate::log_notice!("MASTER <-> REPLICA sync: received {received} bytes of bulk data");
    // Clients get `-LOADING` from here until the new dataset is whole (or empty again).
    let _loading = srv.repl.loading_guard();
    let own_log = stop_own_log(srv, generation)?;
    crate::log_notice!("MASTER <-> REPLICA sync: Flushing old data");
    flush_everything(srv);
    crate::log_notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    // A replica keeps keys the master has not expired yet (its DELs come in the stream).
    let loaded = crate::rdb_load::load_file(srv, path, true, true);
    drop(temp);
    if loaded.is_err() {
        // Never a half-loaded dataset: empty again, as Redis does, and retry.
        flush_everything(srv);
    }
    if own_log {
        restart_own_log(srv);
    }
    let report = loaded.map_err(|e| {
        LinkError::Protocol(format!(
            "Failed trying to load the MASTER synchronization DB from disk: {e}"
        ))
    })?;
    crate::log_notice!("MASTER <-> REPLICA sync: {} keys loaded", report.keys);
    Ok(())
}

/// Empty every database (the full sync replaces the data).
fn flush_everything(srv: &Server) {
    let mut all = srv.store.lock_all();
    let mut garbage = Vec::new();
    for shard in all.shards_mut() {
        for i in 0..shard.database_count() {
            garbage.push(shard.flush_db(i));
        }
    }
    drop(all);
    drop(garbage);
}

/// Copy exactly `len` payload bytes.
fn copy_exact(
    srv: &Server,
    r: &mut BufReader<TcpStream>,
    out: &mut std::fs::File,
    len: u64,
    generation: u64,
    timeout: Duration,
) -> Result<u64, LinkError> {
    let mut left = len;
    let mut buf = vec![0u8; 1 << 16];
    let mut last = Instant::now();
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match r.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(LinkError::Protocol(
                    "the master closed the connection during the transfer".into(),
                ))
            }
            Ok(n) => {
                out.write_all(&buf[..n])?;
                left -= n as u64;
                last = Instant::now();
            }
            Err(e) if is_timeout(&e) => check_waiting(srv, generation, last, timeout)?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(len)
}

/// Copy a diskless payload, which ends with the 40-byte mark announced in its header.
fn copy_until_mark(
    srv: &Server,
    r: &mut BufReader<TcpStream>,
    out: &mut std::fs::File,
    mark: &[u8],
    generation: u64,
    timeout: Duration,
) -> Result<u64, LinkError> {
    // The last 40 bytes seen are held back until more arrive: they may be the mark.
    let mut tail: Vec<u8> = Vec::with_capacity(mark.len() * 2);
    let mut buf = vec![0u8; 1 << 16];
    let mut written = 0u64;
    let mut last = Instant::now();
    loop {
        match r.read(&mut buf) {
            Ok(0) => {
                return Err(LinkError::Protocol(
                    "the master closed the connection during the transfer".into(),
                ))
            }
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                last = Instant::now();
                if tail.ends_with(mark) {
                    let body = tail.len() - mark.len();
                    out.write_all(&tail[..body])?;
                    return Ok(written + body as u64);
                }
                if tail.len() > mark.len() {
                    let keep_from = tail.len() - mark.len();
                    out.write_all(&tail[..keep_from])?;
                    written += keep_from as u64;
                    tail.drain(..keep_from);
                }
            }
            Err(e) if is_timeout(&e) => check_waiting(srv, generation, last, timeout)?,
            Err(e) => return Err(e.into()),
        }
    }
}

pub(super) fn check_waiting(
    srv: &Server,
    generation: u64,
    last: Instant,
    timeout: Duration,
) -> Result<(), LinkError> {
    if !srv.repl.current(generation) {
        return Err(LinkError::Superseded);
    }
    if last.elapsed() > timeout {
        return Err(LinkError::Protocol(
            "Timeout receiving bulk data from MASTER".into(),
        ));
    }
    Ok(())
}

/// Stop the replica's own log before its data is replaced (after any rewrite under way, so
/// the rewrite's switch cannot install a base of the old data later). Whether it was on.
fn stop_own_log(srv: &Server, generation: u64) -> Result<bool, LinkError> {
    while srv.rewrite.in_progress() {
        if !srv.repl.current(generation) {
            return Err(LinkError::Superseded);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let Some(aof) = srv.aof() else {
        return Ok(false);
    };
    {
        let _all = srv.store.lock_all();
        aof.set_enabled(false);
    }
    if let Err(e) = aof.flush(Duration::from_secs(5)) {
        crate::log_warning!("Writing the AOF before the full sync failed: {e}");
    }
    Ok(true)
}

/// Start the log again from the new data: a rewrite writes its base; until then the
/// manifest on disk still names the old files.
fn restart_own_log(srv: &Server) {
    match crate::rewrite::enable(srv) {
        Ok(()) => {
            crate::log_notice!("Background append only file rewriting started after the full sync")
        }
        Err(e) => crate::log_warning!(
            "The AOF could not be restarted after the full sync (it stays off): {e}"
        ),
    }
}
