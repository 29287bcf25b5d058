//! A full sync's payload, from the forkless snapshot (`crate::snapshot`) rather than a fork.
//!
//! The snapshot's instant is taken under every shard lock, and the replica is attached to the
//! stream in the same critical section: every write before the instant is in the payload,
//! every write after it is in the stream the replica receives next, none in both (the offset
//! in `+FULLRESYNC` is the stream's at the instant). The stream's `SELECT` state is forgotten
//! there, so the first command after the payload selects its database, as Redis's
//! `slaveseldb = -1` ensures.
//!
//! A thread walks the snapshot and hands the payload in chunks to the replica's connection:
//! - disk-backed (`repl-diskless-sync no`): the RDB goes to `dbfilename` as a BGSAVE's does
//!   (Redis's disk-backed sync is a BGSAVE), then that file is sent as `$<len>\r\n<bytes>`;
//! - diskless: the RDB is sent as it is made, between `$EOF:<40 random bytes>\r\n` and the
//!   same 40 bytes (Redis's EOF-marked format, for replicas that announced `capa eof`).
//!
//! Diskless transfers are shared (Redis's `repl-diskless-sync-delay` and
//! `repl-diskless-sync-max-replicas`): replicas asking within the delay wait in [`SyncQueue`]
//! and are attached together at one instant; one walk writes one payload, each chunk handed
//! to every replica still there (a replica that goes away drops out, the others go on).
//!
//! Like BGSAVE and the AOF rewrite, one snapshot runs at a time (`save_state.job_lock` and
//! `bgsave_in_progress`): a replica arriving meanwhile waits its turn, and BGSAVE answers
//! "already in progress" while a sync's snapshot runs, as Redis's does.

use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use persist::rdb::RdbWriter;
use tokio::sync::mpsc;

use super::feed::Replica;
use crate::server::Server;
use crate::snapshot::Serializer;

/// Chunks of payload in flight between the snapshot's thread and the connection.
const CHANNEL_CHUNKS: usize = 16;
const CHUNK_BYTES: usize = 1 << 16;
/// Sent after the payload's last byte: a channel closed without it means the payload failed
/// and the replica must be disconnected rather than left waiting for the rest.
pub const DONE: Vec<u8> = Vec::new();

/// What a payload leaves out (`REPLCONF rdb-filter-only`): a filtered payload is always
/// made for one replica, diskless.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    pub exclude_data: bool,
    pub exclude_functions: bool,
}

impl Filter {
    pub fn any(self) -> bool {
        self.exclude_data || self.exclude_functions
    }
}

/// One replica's chunks of a payload.
pub type Chunks = mpsc::Receiver<Vec<u8>>;

/// A snapshot (a BGSAVE, a rewrite, another sync) is running: try again shortly.
#[derive(Debug)]
pub struct Busy;

/// Take the snapshot's instant with `replicas` attached to the stream at it, and start the
/// thread that makes the payload (a disk-backed one is for one replica). Returns the
/// stream's offset at the instant and each replica's chunks of the payload (the header line
/// first).
pub fn begin(
    srv: &Arc<Server>,
    replicas: &[Arc<Replica>],
    diskless: bool,
    filter: Filter,
) -> Result<(i64, Vec<Chunks>), Busy> {
    let st = &srv.save_state;
    let _job = st.job_lock.lock();
    if st.bgsave_in_progress.load(Relaxed) || srv.rewrite.in_progress() {
        return Err(Busy);
    }
    st.bgsave_in_progress.store(true, Relaxed);
    st.bgsave_cancelled.store(false, Relaxed);
    st.keys_processed.store(0, Relaxed);
    // A replica's payload must agree with the stream it proxies: no command of its master
    // is half applied (applied, not yet fed) at the instant.
    let replica_of_master = srv.repl.is_replica();
    let applying = replica_of_master.then(|| srv.repl.apply.lock());
    let (walk, offset, functions, dirty_before) = {
        let mut all = srv.store.lock_all();
        let now = crate::util::now_ms();
        st.bgsave_started_ms.store(now, Relaxed);
        let walk = all.begin_snapshot(now);
        let keys: usize = walk.db_sizes().iter().map(|&(k, _)| k).sum();
        st.keys_total.store(keys as u64, Relaxed);
        let mut offset = 0;
        for replica in replicas {
            offset = srv
                .repl
                .feed
                .attach_at_snapshot(replica, !replica_of_master);
        }
        (
            walk,
            offset,
            srv.functions.libraries(),
            srv.stats.dirty_total(),
        )
    };
    let stream_db = if replica_of_master {
        srv.repl.stream_db.load(Relaxed)
    } else {
        0
    };
    drop(applying);
    let (txs, rxs): (Vec<_>, Vec<_>) = replicas
        .iter()
        .map(|_| mpsc::channel(CHANNEL_CHUNKS))
        .unzip();
    let me = srv.clone();
    let walk_here = walk.clone();
    let job = Job {
        offset,
        stream_db,
        functions: if filter.exclude_functions {
            Vec::new()
        } else {
            functions
        },
        dirty_before,
        exclude_data: filter.exclude_data,
    };
    let spawned = std::thread::Builder::new()
        .name("basalt-repl-sync".into())
        .spawn(move || {
            crate::snapshot::stay_on_cpu();
            if diskless {
                diskless_payload(&me, walk, &job, txs);
            } else if let Some(tx) = txs.into_iter().next() {
                disk_payload(&me, walk, &job, tx);
            }
        });
    if let Err(e) = spawned {
        crate::log_warning!("Can't start the full sync's thread: {e}");
        crate::snapshot::walk_discarding(srv, walk_here);
        end_snapshot(srv);
    }
    Ok((offset, rxs))
}

/// A diskless sync waiting for its shared transfer: the instant's offset and its chunks are
/// put in `slot` when the transfer begins.
pub type Slot = Arc<parking_lot::Mutex<Option<(i64, Chunks)>>>;

struct Waiting {
    replica: Arc<Replica>,
    since: std::time::Instant,
    slot: Slot,
}

/// Replicas waiting for a diskless transfer to begin.
#[derive(Default)]
pub struct SyncQueue {
    waiting: parking_lot::Mutex<Vec<Waiting>>,
}

impl SyncQueue {
    pub fn join(&self, replica: &Arc<Replica>) -> Slot {
        let slot = Slot::default();
        self.waiting.lock().push(Waiting {
            replica: replica.clone(),
            since: std::time::Instant::now(),
            slot: slot.clone(),
        });
        slot
    }

    /// A waiting replica went away before its transfer began.
    pub fn leave(&self, replica: &Arc<Replica>) {
        self.waiting
            .lock()
            .retain(|w| !Arc::ptr_eq(&w.replica, replica));
    }

    /// Begin the transfer for every waiting replica once the first has waited `delay`, or
    /// `max_replicas` (when not 0) are waiting; while another snapshot runs, later.
    pub fn start_if_due(&self, srv: &Arc<Server>, delay: std::time::Duration, max_replicas: usize) {
        let mut waiting = self.waiting.lock();
        let Some(first) = waiting.iter().map(|w| w.since).min() else {
            return;
        };
        let full = max_replicas > 0 && waiting.len() >= max_replicas;
        if first.elapsed() < delay && !full {
            return;
        }
        let replicas: Vec<_> = waiting.iter().map(|w| w.replica.clone()).collect();
        if let Ok((offset, chunks)) = begin(srv, &replicas, true, Filter::default()) {
            for (w, rx) in waiting.drain(..).zip(chunks) {
                *w.slot.lock() = Some((offset, rx));
            }
        }
    }
}

/// What the payload's thread needs from the instant.
struct Job {
    offset: i64,
    /// `repl-stream-db`: the database the stream after the payload has selected.
    stream_db: usize,
    functions: Vec<Arc<crate::scripting::functions::Library>>,
    dirty_before: u64,
    /// The keys are left out (`rdb-filter-only`): the walk only ends the snapshot.
    exclude_data: bool,
}

/// The RDB header and aux fields of a replication payload: Redis's set, with the stream's
/// database, ID and offset at the instant (`repl-stream-db`, `repl-id`, `repl-offset`).
fn start_rdb<W: Write>(srv: &Server, out: W, job: &Job) -> std::io::Result<RdbWriter<W>> {
    let (compress, checksum) = {
        let c = srv.config.read();
        (
            c.get("rdbcompression") != "no",
            c.get("rdbchecksum") != "no",
        )
    };
    let mut w = RdbWriter::new(out, compress)?;
    if !checksum {
        w = w.without_checksum();
    }
    let (id, _) = srv.repl.ids();
    let now = crate::util::now_ms();
    w.aux("redis-ver", crate::config::REDIS_VERSION.as_bytes())?;
    w.aux("redis-bits", b"64")?;
    w.aux("ctime", (now / 1000).to_string().as_bytes())?;
    let used = crate::commands::info::used_memory().to_string();
    w.aux("used-mem", used.as_bytes())?;
    w.aux("repl-stream-db", job.stream_db.to_string().as_bytes())?;
    w.aux("repl-id", id.as_bytes())?;
    w.aux("repl-offset", job.offset.to_string().as_bytes())?;
    w.aux("aof-base", b"0")?;
    for lib in &job.functions {
        w.function(&lib.code)?;
    }
    Ok(w)
}

/// Hands what is written to the replicas' connections in chunks; a replica that went away
/// drops out, and writing fails once none is left.
struct ChannelWriter {
    txs: Vec<mpsc::Sender<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.send_to_all(chunk)
    }

    fn send_to_all(&mut self, chunk: Vec<u8>) -> std::io::Result<()> {
        // Each replica's connection takes its chunks at its pace (a bounded channel each).
        self.txs
            .retain(|tx| tx.blocking_send(chunk.clone()).is_ok());
        if self.txs.is_empty() {
            return Err(std::io::Error::other("the replicas went away"));
        }
        Ok(())
    }

    /// The payload is complete (see [`DONE`]).
    fn done(&mut self) -> std::io::Result<()> {
        self.send_to_all(DONE)
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

fn diskless_payload(
    srv: &Server,
    walk: store::SnapshotWalk,
    job: &Job,
    txs: Vec<mpsc::Sender<Vec<u8>>>,
) {
    let mark = crate::server::random_hex(40);
    let replicas = txs.len();
    let mut out = ChannelWriter {
        txs,
        buf: format!("$EOF:{mark}\r\n").into_bytes(),
    };
    let started = start_rdb(srv, &mut out, job);
    let mut ser = Serializer::rdb(true, &walk);
    let mut w = started.map_err(|e| std::io::Error::new(e.kind(), e.to_string()));
    let (walked, _) = if job.exclude_data {
        crate::snapshot::walk_discarding(srv, walk);
        (Ok(()), Default::default())
    } else {
        crate::snapshot::write_all(
            srv,
            walk,
            &mut ser,
            &srv.save_state.keys_processed,
            |part| match &mut w {
                Ok(w) => w.raw_part(part),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            },
        )
    };
    let sent = walked.and(w).and_then(RdbWriter::finish).and_then(|out| {
        out.write_all(mark.as_bytes())?;
        out.flush()?;
        out.done()
    });
    match sent {
        Ok(()) => crate::log_notice!(
            "Diskless full sync: {} keys streamed to {replicas} replica(s)",
            ser.keys()
        ),
        Err(e) => crate::log_warning!("Diskless full sync ended early: {e}"),
    }
    end_snapshot(srv);
}

fn disk_payload(srv: &Server, walk: store::SnapshotWalk, job: &Job, tx: mpsc::Sender<Vec<u8>>) {
    let target = crate::save::Target::of(srv, &format!("temp-repl-{}.rdb", std::process::id()));
    let file = std::fs::File::create(&target.tmp).and_then(|f| start_rdb(srv, f, job));
    let mut ser = Serializer::rdb(target.compress, &walk);
    let mut file = file.map_err(|e| std::io::Error::new(e.kind(), e.to_string()));
    let (walked, _) = crate::snapshot::write_all(
        srv,
        walk,
        &mut ser,
        &srv.save_state.keys_processed,
        |part| match &mut file {
            Ok(w) => w.raw_part(part),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        },
    );
    // The file is installed as the server's dump (as Redis's disk-backed sync is a BGSAVE),
    // unless a foreground save wrote a newer one meanwhile; it is sent either way.
    let written = walked.and(file).and_then(|w| {
        let mut f = w.finish()?;
        f.flush()?;
        f.sync_all()
    });
    let sent_path = match written {
        Err(e) => {
            crate::log_warning!("Full sync's snapshot failed: {e}");
            let _ = std::fs::remove_file(&target.tmp);
            end_snapshot(srv);
            return;
        }
        Ok(()) => {
            let _job = srv.save_state.job_lock.lock();
            if srv.save_state.bgsave_cancelled.load(Relaxed) {
                target.tmp.clone()
            } else {
                match std::fs::rename(&target.tmp, &target.name) {
                    Ok(()) => {
                        srv.save_state.saved(srv, job.dirty_before);
                        target.name.clone()
                    }
                    Err(_) => target.tmp.clone(),
                }
            }
        }
    };
    // Opened before the snapshot ends, so a later save replacing the file does not matter.
    let opened = std::fs::File::open(&sent_path);
    if sent_path == target.tmp {
        let _ = std::fs::remove_file(&target.tmp);
    }
    end_snapshot(srv);
    crate::log_notice!(
        "Full sync: {} keys written to disk, sending them",
        ser.keys()
    );
    if let Ok(f) = opened {
        send_file(f, &tx);
    }
}

/// `$<len>\r\n` and the file, in chunks.
fn send_file(mut f: std::fs::File, tx: &mpsc::Sender<Vec<u8>>) {
    use std::io::Read;
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return;
    };
    if tx
        .blocking_send(format!("${len}\r\n").into_bytes())
        .is_err()
    {
        return;
    }
    loop {
        let mut chunk = vec![0u8; CHUNK_BYTES];
        match f.read(&mut chunk) {
            Err(_) => return,
            Ok(0) => {
                let _ = tx.blocking_send(DONE);
                return;
            }
            Ok(n) => {
                chunk.truncate(n);
                if tx.blocking_send(chunk).is_err() {
                    return;
                }
            }
        }
    }
}

/// The snapshot is over: the next BGSAVE, rewrite or sync may start.
fn end_snapshot(srv: &Server) {
    let st = &srv.save_state;
    st.keys_processed.store(0, Relaxed);
    st.keys_total.store(0, Relaxed);
    st.bgsave_started_ms.store(0, Relaxed);
    st.bgsave_in_progress.store(false, Relaxed);
}
