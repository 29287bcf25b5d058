//! REPLICAOF / SLAVEOF, ROLE, and the master side's SYNC, PSYNC, REPLCONF and WAIT
//! (`crate::replication` holds the state, the link and the stream).

use resp::Argv;

use super::is;
use crate::cmd::{CmdError, CmdResult, Ctx};

pub fn replicaof(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    if srv.cluster.enabled {
        return Err("ERR REPLICAOF not allowed in cluster mode.".into());
    }
    if srv.repl.failover_state().is_some() {
        return Err("ERR REPLICAOF not allowed while failing over.".into());
    }
    // Logged as Redis does: who asked (the client's CLIENT LIST line).
    let who = ctx.client.shared.describe(ctx.now_ms, None);
    if is(argv.get(1), "no") && is(argv.get(2), "one") {
        srv.repl
            .unfollow(srv, Some(&format!("user request from '{who}'")));
        ctx.out.ok();
        return Ok(());
    }
    let port = resp::parse_i64(argv.get(2))
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| CmdError::from("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(argv.get(1)).into_owned();
    if srv
        .repl
        .master()
        .is_some_and(|m| m.host.eq_ignore_ascii_case(&host) && m.port == port)
    {
        ctx.out.simple("OK Already connected to specified master");
        return Ok(());
    }
    let Some(me) = srv.me.upgrade() else {
        return Err("ERR the server is shutting down".into());
    };
    srv.repl.follow(&me, &host, port, &who);
    ctx.out.ok();
    Ok(())
}

pub fn slaveof(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    replicaof(ctx, argv)
}

pub fn role(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.srv.repl.reply_role(ctx.out);
    Ok(())
}

/// SYNC: the pre-PSYNC full sync (the payload follows at once, no `+FULLRESYNC` line).
pub fn sync(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    request_sync(ctx, None)
}

/// PSYNC replicationid offset [FAILOVER]: continue that history from that offset, or sync in
/// full. With FAILOVER (sent by a master handing over to this replica, `failover.rs`), this
/// server first turns master, keeping the ID as its previous one, so the sender continues.
pub fn psync(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let offset = super::parse_int(argv.get(2))?;
    let id = String::from_utf8_lossy(argv.get(1)).into_owned();
    let srv = ctx.srv;
    if argv.len() > 3 && is(argv.get(3), "failover") {
        if id != srv.repl.ids().0 {
            return Err("ERR PSYNC FAILOVER replid must match my replid.".into());
        }
        let who = ctx.client.shared.describe(ctx.now_ms, None);
        srv.repl
            .unfollow(srv, Some(&format!("failover request from '{who}'")));
    }
    request_sync(ctx, Some((id, offset)))
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: hand the master role to a replica
/// without losing a write (`replication::failover`). Arguments and errors as Redis 7.0.
pub fn failover(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    if srv.cluster.enabled {
        return Err(
            "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead."
                .into(),
        );
    }
    if argv.len() == 2 && is(argv.get(1), "abort") {
        if srv.repl.failover_state().is_none() {
            return Err("ERR No failover in progress.".into());
        }
        srv.repl.abort_failover(srv, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    let (mut timeout_ms, mut force, mut target) = (0i64, false, None);
    let mut j = 1;
    while j < argv.len() {
        if is(argv.get(j), "timeout") && j + 1 < argv.len() && timeout_ms == 0 {
            timeout_ms = super::parse_int(argv.get(j + 1))?;
            if timeout_ms <= 0 {
                return Err("ERR FAILOVER timeout must be greater than 0".into());
            }
            j += 2;
        } else if is(argv.get(j), "to") && j + 2 < argv.len() && target.is_none() {
            let port = super::parse_int(argv.get(j + 2))?;
            target = Some((String::from_utf8_lossy(argv.get(j + 1)).into_owned(), port));
            j += 3;
        } else if is(argv.get(j), "force") && !force {
            force = true;
            j += 1;
        } else {
            return Err("ERR syntax error".into());
        }
    }
    if srv.repl.failover_state().is_some() {
        return Err("ERR FAILOVER already in progress.".into());
    }
    if srv.repl.is_replica() {
        return Err("ERR FAILOVER is not valid when server is a replica.".into());
    }
    let replicas = srv.repl.feed.replicas();
    if replicas.is_empty() {
        return Err("ERR FAILOVER requires connected replicas.".into());
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.".into(),
        );
    }
    let target = match target {
        None => None,
        Some((host, port)) => {
            let found = replicas
                .iter()
                .find(|r| r.ip.eq_ignore_ascii_case(&host) && i64::from(r.port) == port);
            let Some(replica) = found else {
                return Err("ERR FAILOVER target HOST and PORT is not a replica.".into());
            };
            if replica.phase() != crate::replication::feed::ReplicaPhase::Online {
                return Err("ERR FAILOVER target replica is not online.".into());
            }
            Some((host, replica.port))
        }
    };
    let Some(me) = srv.me.upgrade() else {
        return Err("ERR the server is shutting down".into());
    };
    let end_ms = (timeout_ms > 0).then(|| ctx.now_ms + timeout_ms as u64);
    srv.repl.start_failover(
        &me,
        crate::replication::Failover {
            phase: crate::replication::FailoverPhase::WaitForSync,
            target,
            end_ms,
            force,
        },
    );
    ctx.out.ok();
    Ok(())
}

/// The reply comes from the connection, which serves the replica once this batch ends
/// (`replication::master::serve_replica`).
fn request_sync(ctx: &mut Ctx<'_, '_>, psync: Option<(String, i64)>) -> CmdResult {
    let srv = ctx.srv;
    if ctx.client.repl.sync.is_some() {
        return Ok(());
    }
    if srv.repl.failover_state().is_some() {
        return Err("NOMASTERLINK Can't SYNC while failing over".into());
    }
    if let Some(m) = srv.repl.master() {
        if m.link != crate::replication::Link::Connected {
            return Err("NOMASTERLINK Can't SYNC while not connected with my master".into());
        }
    }
    if ctx.client.repl.filter.any() && !ctx.client.repl.capa_eof {
        return Err("ERR Filtered replica requires EOF capability".into());
    }
    ctx.client.repl.sync = Some(crate::replication::master::SyncRequest { psync });
    Ok(())
}

/// REPLCONF option value ...: what a replica tells its master before PSYNC, and its ACKs.
pub fn replconf(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err("ERR syntax error".into());
    }
    let repl = &mut ctx.client.repl;
    for i in (1..argv.len()).step_by(2) {
        let (option, value) = (argv.get(i), argv.get(i + 1));
        if is(option, "listening-port") {
            let port = super::parse_int(value)?;
            repl.listening_port = u16::try_from(port).unwrap_or(0);
        } else if is(option, "ip-address") {
            if value.len() >= 256 {
                return Err(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    value.len()
                )
                .into());
            }
            repl.ip_address = Some(String::from_utf8_lossy(value).into_owned());
        } else if is(option, "capa") {
            repl.capa_eof |= is(value, "eof");
            repl.capa_psync2 |= is(value, "psync2");
        } else if is(option, "ack") || is(option, "getack") {
            // Meaningful only on a replica's link (read there), or from a master (the
            // replica's link answers GETACK itself): no reply here, as Redis sends none.
            return Ok(());
        } else if is(option, "rdb-only") {
            let v = super::parse_int(value)?;
            if !(0..=1).contains(&v) {
                return Err("ERR value is out of range, value must between 0 and 1".into());
            }
            repl.rdb_only = v == 1;
        } else if is(option, "rdb-filter-only") {
            // Filters say what to keep: everything is left out but what they name (only
            // `functions` exists), so the empty filter keeps nothing.
            let mut filter = crate::replication::fullsync::Filter {
                exclude_data: true,
                exclude_functions: true,
            };
            for word in value
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
            {
                if !word.eq_ignore_ascii_case(b"functions") {
                    return Err(format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(word)
                    )
                    .into());
                }
                filter.exclude_functions = false;
            }
            repl.filter = filter;
        } else {
            return Err(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(option)
            )
            .into());
        }
    }
    ctx.out.ok();
    Ok(())
}

/// WAIT numreplicas timeout: the number of replicas that acknowledged this client's last
/// write, once there are `numreplicas` of them or the timeout (ms, 0 = none) passed; the
/// connection does the waiting (`replication::master::wait_acks`).
pub fn wait(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    if srv.repl.is_replica() {
        return Err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.".into());
    }
    let replicas = super::parse_int(argv.get(1))?;
    let timeout_ms = super::parse_int(argv.get(2))
        .map_err(|_| CmdError::from("ERR timeout is not an integer or out of range"))?;
    if timeout_ms < 0 {
        return Err("ERR timeout is negative".into());
    }
    let offset = ctx.client.repl_offset;
    let acked = srv.repl.feed.acked(offset);
    if acked as i64 >= replicas || ctx.client.deny_blocking {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    let deadline = (timeout_ms > 0)
        .then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms as u64));
    ctx.client.repl.wait = Some(crate::replication::master::WaitAcks {
        replicas: usize::try_from(replicas).unwrap_or(usize::MAX),
        offset,
        deadline,
    });
    srv.repl.feed.request_acks();
    Ok(())
}
