//! Where a write's effects go: the append-only log (while `appendonly` is on) and the
//! replication stream (while it is kept, `replication::feed`). Both receive the same commands
//! in the same order — appended under the writer's shard locks — each encoded with its own
//! `SELECT` state, as Redis's `propagate` feeds its AOF buffer and its replicas.
//!
//! Commands applied from this server's master are not fed again: the stream as received is
//! (`replication::replica`), so replicas of this replica keep the master's offsets.

use crate::client::ClientState;
use crate::server::Server;

/// Whether anything records the effects of `client`'s writes.
pub fn wanted(srv: &Server, client: &ClientState) -> bool {
    srv.aof().is_some() || (srv.repl.feeds_writes() && !client.replaying)
}

/// Whether anything records writes the server makes itself (expiry and eviction DELs).
pub fn wanted_by_server(srv: &Server) -> bool {
    srv.aof().is_some() || srv.repl.feeds_writes()
}

/// Record `effects`, whole commands run in database `db`, or inside EXEC and scripts add them
/// to the transaction's record.
pub fn commands(srv: &Server, client: &mut ClientState, db: usize, effects: Vec<Vec<Vec<u8>>>) {
    if let Some(ops) = client.exec_log.as_mut() {
        ops.extend(effects.into_iter().map(|c| (db, c)));
        return;
    }
    let ops: Vec<(usize, &[Vec<u8>])> = effects.iter().map(|c| (db, c.as_slice())).collect();
    record(srv, client, &ops, false);
}

/// Record a transaction's (or a script's) commands as one record: wrapped in `MULTI … EXEC`
/// when there is more than one (a single command is atomic by itself, as Redis 7.0 does).
pub fn transaction(srv: &Server, client: &mut ClientState, ops: &[(usize, Vec<Vec<u8>>)]) {
    if ops.is_empty() {
        return;
    }
    let ops: Vec<(usize, &[Vec<u8>])> = ops.iter().map(|(d, c)| (*d, c.as_slice())).collect();
    record(srv, client, &ops, ops.len() > 1);
}

fn record(srv: &Server, client: &mut ClientState, ops: &[(usize, &[Vec<u8>])], wrap: bool) {
    if let Some(aof) = srv.aof() {
        match aof.append_ops(ops, wrap) {
            Ok(seq) => client.pending_durable = client.pending_durable.max(seq),
            // Writes are refused from now on (MISCONF) until the log works again.
            Err(e) => crate::log_warning!("Error appending to the AOF: {e}"),
        }
    }
    if srv.repl.feeds_writes() && !client.replaying {
        // What WAIT waits for the replicas to acknowledge.
        client.repl_offset = srv.repl.feed.append_ops(ops, wrap);
    }
}

/// Feed a command to the replicas only, not the log: PUBLISH, as Redis does, so that a
/// replica's subscribers hear what is published on its master (and offsets match Redis's).
/// Inside MULTI or a script it is not fed (the transaction's record goes to the log too).
pub fn replicas_only(srv: &Server, client: &mut ClientState, args: &[&[u8]]) {
    if client.exec_log.is_some() || client.replaying || !srv.repl.feeds_writes() {
        return;
    }
    let cmd: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    let ops: [(usize, &[Vec<u8>]); 1] = [(client.db, &cmd)];
    client.repl_offset = srv.repl.feed.append_ops(&ops, false);
}

/// Record the `DEL` of a key the server removed itself (expired, evicted).
pub fn server_del(srv: &Server, db: usize, key: Vec<u8>) {
    let del = [b"DEL".to_vec(), key];
    let ops: [(usize, &[Vec<u8>]); 1] = [(db, &del)];
    if let Some(aof) = srv.aof() {
        if let Err(e) = aof.append_ops(&ops, false) {
            crate::log_warning!("Error appending to the AOF: {e}");
        }
    }
    if srv.repl.feeds_writes() {
        srv.repl.feed.append_ops(&ops, false);
    }
}

/// Keep collecting expiry deletions while anything records them.
pub fn refresh_log_expired(srv: &Server) {
    store::set_log_expired(wanted_by_server(srv));
}
