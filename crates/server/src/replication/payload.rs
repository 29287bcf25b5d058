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
use std::sync::atomic::Ordering::Relaxed;
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

/// How the payload is announced: `$<len>` or the diskless `$EOF:<40-byte mark>`.
enum Format {
    Len(u64),
    Eof(Vec<u8>),
}

/// Receive the payload and load it in place of the dataset, as `repl-diskless-load` says:
/// `disabled` through a temporary file; `swapdb` through memory (the old data stays served
/// until the payload is whole, no disk touched); `on-empty-db` straight from the socket into
/// the store when it holds no key (nothing to lose if the transfer fails), else as `disabled`.
pub(super) fn full_sync(
    srv: &Server,
    r: &mut BufReader<TcpStream>,
    generation: u64,
    timeout: Duration,
) -> Result<(), LinkError> {
    // Until the header says otherwise the size is unknown (-1, as Redis shows it).
    srv.repl.transfer_size.store(-1, Relaxed);
    srv.repl.transfer_read.store(0, Relaxed);
    srv.repl
        .last_io_secs
        .store(crate::util::now_ms() / 1000, Relaxed);
    let header = read_line(srv, r, generation, timeout)?;
    let header = String::from_utf8_lossy(&header).into_owned();
    let Some(size) = header.strip_prefix('$') else {
        return Err(LinkError::Protocol(format!(
            "Bad protocol from MASTER, the first byte is not '$': {header}"
        )));
    };
    let format = if let Some(mark) = size.strip_prefix("EOF:") {
        if mark.len() != 40 {
            return Err(LinkError::Protocol("bad EOF mark from the master".into()));
        }
        Format::Eof(mark.as_bytes().to_vec())
    } else {
        Format::Len(
            size.parse()
                .map_err(|_| LinkError::Protocol(format!("bad payload length: {size}")))?,
        )
    };
    srv.repl.transfer_size.store(
        match format {
            Format::Len(len) => len as i64,
            Format::Eof(_) => -1,
        },
        Relaxed,
    );
    srv.repl.transfer_read.store(0, Relaxed);
    let mode = srv.config.read().get("repl-diskless-load").to_string();
    let mut from = Source {
        srv,
        r,
        generation,
        timeout,
        last: Instant::now(),
        failure: None,
    };
    match mode.as_str() {
        "on-empty-db" if store_is_empty(srv) => {
            replace_data(srv, generation, "socket", |srv| from.load(srv, &format))
        }
        "swapdb" => {
            let mut payload = Vec::new();
            let received = from.receive(&format, &mut payload)?;
            crate::log_notice!("MASTER <-> REPLICA sync: received {received} bytes of bulk data");
            let len = payload.len() as u64;
            replace_data(srv, generation, "memory", |srv| {
                let shown = "the payload in memory";
                crate::rdb_load::load_from(srv, payload.as_slice(), len, shown, true, true)
                    .map_err(|e| e.to_string())
            })
        }
        _ => {
            // The working directory is `dir` (the server changes into it at start, as Redis).
            let temp = TempFile(PathBuf::from(format!(
                "temp-{}.{}.rdb",
                std::process::id(),
                generation
            )));
            let mut file = std::fs::File::create(&temp.0)?;
            let received = from.receive(&format, &mut file)?;
            file.sync_all()?;
            drop(file);
            crate::log_notice!("MASTER <-> REPLICA sync: received {received} bytes of bulk data");
            replace_data(srv, generation, "disk", |srv| {
                crate::rdb_load::load_file(srv, &temp.0, true, true).map_err(|e| e.to_string())
            })
        }
    }
}

/// Empty the databases and load the new data with `load`, clients answered `-LOADING`
/// meanwhile and the replica's own log stopped; a failed load leaves them empty (never half
/// loaded), as Redis does, and the link retries.
fn replace_data(
    srv: &Server,
    generation: u64,
    from: &str,
    load: impl FnOnce(&Server) -> Result<crate::rdb_load::RdbReport, String>,
) -> Result<(), LinkError> {
    let _loading = srv.repl.loading_guard();
    let own_log = stop_own_log(srv, generation)?;
    crate::log_notice!("MASTER <-> REPLICA sync: Flushing old data");
    flush_everything(srv);
    crate::log_notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    // A replica keeps keys the master has not expired yet (its DELs come in the stream).
    let loaded = load(srv);
    if loaded.is_err() {
        flush_everything(srv);
    }
    if own_log {
        restart_own_log(srv);
    }
    let report = loaded.map_err(|e| {
        LinkError::Protocol(format!(
            "Failed trying to load the MASTER synchronization DB from {from}: {e}"
        ))
    })?;
    crate::log_notice!("MASTER <-> REPLICA sync: {} keys loaded", report.keys);
    Ok(())
}

fn store_is_empty(srv: &Server) -> bool {
    let mut all = srv.store.lock_all();
    let empty = all
        .shards_mut()
        .all(|shard| (0..shard.database_count()).all(|i| shard.db_ref(i).is_empty()));
    empty
}

/// The link's socket while a payload arrives: reads wait through the poll timeouts (the
/// generation and `repl-timeout` checked at each).
struct Source<'a> {
    srv: &'a Server,
    r: &'a mut BufReader<TcpStream>,
    generation: u64,
    timeout: Duration,
    last: Instant,
    /// Why a read failed, kept for the link's error (the RDB parser sees an I/O error).
    failure: Option<String>,
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.r.read(buf) {
                Ok(n) => {
                    self.last = Instant::now();
                    self.srv.repl.transfer_read.fetch_add(n as i64, Relaxed);
                    self.srv
                        .repl
                        .last_io_secs
                        .store(crate::util::now_ms() / 1000, Relaxed);
                    return Ok(n);
                }
                Err(e) if is_timeout(&e) => {
                    if let Err(e) =
                        check_waiting(self.srv, self.generation, self.last, self.timeout)
                    {
                        self.failure = Some(e.to_string());
                        return Err(std::io::Error::other(e.to_string()));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Source<'_> {
    /// A read or write error as the link's: REPLICAOF moving on is not one.
    fn failed(&self, e: std::io::Error) -> LinkError {
        if self.srv.repl.current(self.generation) {
            e.into()
        } else {
            LinkError::Superseded
        }
    }

    /// Copy the whole payload to `out`; its size.
    fn receive(&mut self, format: &Format, out: &mut impl Write) -> Result<u64, LinkError> {
        match format {
            Format::Len(len) => {
                let copied = std::io::copy(&mut self.by_ref().take(*len), out)
                    .map_err(|e| self.failed(e))?;
                if copied < *len {
                    return Err(closed());
                }
                Ok(copied)
            }
            Format::Eof(mark) => copy_until_mark(self, out, mark),
        }
    }

    /// Parse the payload straight into the store, then check its end (the mark, or its
    /// announced length).
    fn load(
        &mut self,
        srv: &Server,
        format: &Format,
    ) -> Result<crate::rdb_load::RdbReport, String> {
        let shown = "the socket";
        let report = match format {
            Format::Len(len) => {
                let mut limited = self.by_ref().take(*len);
                let report = crate::rdb_load::load_from(srv, &mut limited, *len, shown, true, true);
                if report.is_ok() && limited.limit() != 0 {
                    return Err("the payload is longer than its RDB".into());
                }
                report
            }
            Format::Eof(mark) => {
                let report = crate::rdb_load::load_from(srv, &mut *self, 0, shown, true, true);
                let mut end = vec![0u8; mark.len()];
                if report.is_ok() && (self.read_exact(&mut end).is_err() || end != *mark) {
                    return Err("Replication stream EOF marker is broken".into());
                }
                report
            }
        };
        report.map_err(|e| self.failure.take().unwrap_or_else(|| e.to_string()))
    }
}

fn closed() -> LinkError {
    LinkError::Protocol("the master closed the connection during the transfer".into())
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

/// Copy a diskless payload, which ends with the 40-byte mark announced in its header.
fn copy_until_mark(
    from: &mut Source<'_>,
    out: &mut impl Write,
    mark: &[u8],
) -> Result<u64, LinkError> {
    // The last 40 bytes seen are held back until more arrive: they may be the mark.
    let mut tail: Vec<u8> = Vec::with_capacity(mark.len() * 2);
    let mut buf = vec![0u8; 1 << 16];
    let mut written = 0u64;
    loop {
        let n = from.read(&mut buf).map_err(|e| from.failed(e))?;
        if n == 0 {
            return Err(closed());
        }
        tail.extend_from_slice(&buf[..n]);
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
