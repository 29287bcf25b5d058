//! BGSAVE without a fork: a snapshot of one instant (`store::snapshot`), walked by a thread in
//! short steps, each under one shard's lock, while clients go on reading and writing
//! (`crate::snapshot`). The temp file is fsynced every 4 MB (`rdb-save-incremental-fsync`),
//! then installed as SAVE's is.
//!
//! Like Redis's forked children, a BGSAVE and an AOF rewrite run one at a time: BGSAVE during
//! a rewrite is refused or, with SCHEDULE, started by the cron when the rewrite ends.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use store::SnapshotWalk;

use crate::save::Target;
use crate::server::Server;
use crate::snapshot::Serializer;

/// Redis's `CONFIG_BGSAVE_RETRY_DELAY`: after a failed BGSAVE, save points wait this long.
const RETRY_DELAY_SEC: u64 = 5;
/// Bytes written between fsyncs with `rdb-save-incremental-fsync` (Redis's 4 MB).
const INCREMENTAL_FSYNC_BYTES: u64 = 4 << 20;

/// Why BGSAVE did not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    #[error("Background save already in progress")]
    InProgress,
    #[error("Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.")]
    RewriteActive,
}

/// How BGSAVE answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    Now,
    Scheduled,
}

/// BGSAVE inside EXEC: scheduled for the cron, as Redis 7.0 never forks inside a
/// transaction (here: its instant would need the locks the transaction holds).
pub fn schedule(srv: &Server) -> Result<Started, StartError> {
    let st = &srv.save_state;
    let _job = st.job_lock.lock();
    if st.bgsave_in_progress.load(Relaxed) {
        return Err(StartError::InProgress);
    }
    st.bgsave_scheduled.store(true, Relaxed);
    Ok(Started::Scheduled)
}

/// BGSAVE [SCHEDULE].
pub fn start(srv: &Server, schedule: bool) -> Result<Started, StartError> {
    let st = &srv.save_state;
    let _job = st.job_lock.lock();
    if st.bgsave_in_progress.load(Relaxed) {
        return Err(StartError::InProgress);
    }
    if srv.rewrite.in_progress() {
        if schedule {
            st.bgsave_scheduled.store(true, Relaxed);
            return Ok(Started::Scheduled);
        }
        return Err(StartError::RewriteActive);
    }
    launch(srv);
    Ok(Started::Now)
}

/// Begin the snapshot (every shard locked for a moment) and hand it to a thread. Called with
/// `job_lock` held and no BGSAVE running.
fn launch(srv: &Server) {
    let st = &srv.save_state;
    let Some(me) = srv.me.upgrade() else { return };
    let target = Target::of(srv, &format!("temp-bg-{}.rdb", std::process::id()));
    st.bgsave_in_progress.store(true, Relaxed);
    st.bgsave_cancelled.store(false, Relaxed);
    st.bgsave_scheduled.store(false, Relaxed);
    st.keys_processed.store(0, Relaxed);
    let instant = std::time::Instant::now();
    let applying = srv.repl.hold_for_save();
    let (walk, dirty_before, functions, history) = {
        let mut all = srv.store.lock_all();
        // The instant's time, read under the locks: what had expired by then is left out.
        let now = crate::util::now_ms();
        st.bgsave_started_ms.store(now, Relaxed);
        st.last_bgsave_try_unix.store(now / 1000, Relaxed);
        let walk = all.begin_snapshot(now);
        let keys: usize = walk.db_sizes().iter().map(|&(k, _)| k).sum();
        st.keys_total.store(keys as u64, Relaxed);
        let history = srv
            .repl
            .save_info()
            .filter(|_| applying.is_some() || !srv.repl.is_replica());
        (
            walk,
            srv.stats.dirty_total(),
            srv.functions.libraries(),
            history,
        )
    };
    drop(applying);
    crate::log_notice!(
        "Background saving started (every shard locked for {} us)",
        instant.elapsed().as_micros()
    );
    let walk_here = walk.clone();
    let spawned = std::thread::Builder::new()
        .name("basalt-bgsave".into())
        .spawn(move || {
            crate::affinity::bind(crate::affinity::Role::Bgsave);
            run(
                &me,
                walk,
                &target,
                dirty_before,
                &functions,
                history.as_ref(),
            )
        });
    if let Err(e) = spawned {
        // The snapshot's marks must still be set: walk it here, discarding the output.
        crate::log_warning!("Can't save in background: {e}");
        crate::snapshot::walk_discarding(srv, walk_here);
        finish(srv, Outcome::Failed(e), dirty_before);
    }
}

/// How a BGSAVE ended.
enum Outcome {
    Saved(u64),
    Failed(std::io::Error),
    /// A foreground save (SHUTDOWN, DEBUG RELOAD) wrote a newer file meanwhile.
    Cancelled,
}

fn run(
    srv: &Arc<Server>,
    walk: SnapshotWalk,
    target: &Target,
    dirty_before: u64,
    functions: &[Arc<crate::scripting::functions::Library>],
    history: Option<&crate::replication::SaveInfo>,
) {
    crate::snapshot::stay_on_cpu();
    let st = &srv.save_state;
    let incremental = srv.config.read().get_bool("rdb-save-incremental-fsync");
    let mut file = target.create(functions, history);
    let mut ser = Serializer::rdb(target.compress, &walk);
    let mut unsynced = 0u64;
    let (walked, longest_hold) =
        crate::snapshot::write_all(srv, walk, &mut ser, &st.keys_processed, |part| {
            let w = file
                .as_mut()
                .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
            w.raw_part(part)?;
            unsynced += part.len() as u64;
            if incremental && unsynced >= INCREMENTAL_FSYNC_BYTES {
                unsynced = 0;
                w.get_ref().sync_data()?;
            }
            Ok(())
        });
    let outcome = match walked.and(file) {
        Err(e) => Outcome::Failed(e),
        Ok(w) => {
            let _job = st.job_lock.lock();
            if st.bgsave_cancelled.load(Relaxed) {
                Outcome::Cancelled
            } else {
                match target.install(w) {
                    Ok(()) => Outcome::Saved(ser.keys()),
                    Err(e) => Outcome::Failed(e),
                }
            }
        }
    };
    if !matches!(outcome, Outcome::Saved(_)) {
        let _ = std::fs::remove_file(&target.tmp);
    }
    crate::log_notice!(
        "Snapshot written without fork: {} keys, longest shard lock hold {} us ({} us of CPU)",
        ser.keys(),
        longest_hold.0.as_micros(),
        longest_hold.1.as_micros()
    );
    finish(srv, outcome, dirty_before);
}

fn finish(srv: &Server, outcome: Outcome, dirty_before: u64) {
    let st = &srv.save_state;
    let started = st.bgsave_started_ms.swap(0, Relaxed);
    st.last_bgsave_time_sec.store(
        (crate::util::now_ms().saturating_sub(started) / 1000) as i64,
        Relaxed,
    );
    match outcome {
        Outcome::Saved(keys) => {
            st.saved(srv, dirty_before);
            st.last_bgsave_ok.store(true, Relaxed);
            crate::log_notice!("DB saved on disk ({keys} keys)");
            crate::log_notice!("Background saving terminated with success");
        }
        Outcome::Failed(e) => {
            st.last_bgsave_ok.store(false, Relaxed);
            crate::log_warning!("Background saving error: {e}");
        }
        Outcome::Cancelled => {
            crate::log_warning!("Background saving stopped: a foreground save wrote a newer file");
        }
    }
    st.refresh_writes_denied(&srv.config.read());
    // Redis reports the progress fields of a running save only.
    st.keys_processed.store(0, Relaxed);
    st.keys_total.store(0, Relaxed);
    st.bgsave_in_progress.store(false, Relaxed);
}

/// The cron's part: a scheduled BGSAVE once no rewrite runs, and the save points (`save
/// <seconds> <changes>`: at least that many changes and that many seconds since the last
/// save; after a failure, not before the retry delay), as Redis's `serverCron`.
pub fn cron(srv: &Server) {
    let st = &srv.save_state;
    if st.bgsave_in_progress.load(Relaxed) || srv.rewrite.in_progress() {
        return;
    }
    let now_sec = crate::util::now_ms() / 1000;
    let retry_ok = st.last_bgsave_ok.load(Relaxed)
        || now_sec.saturating_sub(st.last_bgsave_try_unix.load(Relaxed)) > RETRY_DELAY_SEC;
    if st.bgsave_scheduled.load(Relaxed) && retry_ok {
        let _ = start(srv, false);
        return;
    }
    let points = save_points(srv.config.read().get("save"));
    let dirty = srv.stats.dirty();
    let since_save = now_sec.saturating_sub(st.last_save_unix.load(Relaxed));
    let due = points
        .iter()
        .find(|&&(seconds, changes)| dirty >= changes && since_save > seconds && retry_ok);
    if let Some(&(seconds, changes)) = due {
        crate::log_notice!("{changes} changes in {seconds} seconds. Saving...");
        let _ = start(srv, false);
    }
}

/// `(seconds, changes)` pairs of the `save` parameter (already validated by the config).
pub fn save_points(value: &str) -> Vec<(u64, u64)> {
    let nums: Vec<u64> = value
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_points_parse_in_pairs() {
        assert_eq!(
            save_points("3600 1 300 100 60 10000"),
            vec![(3600, 1), (300, 100), (60, 10000)]
        );
        assert!(save_points("").is_empty());
    }
}
