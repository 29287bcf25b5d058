//! The cluster bus: a listener on the bus port (`cluster-port`, or port + 10000), one
//! outbound link per known node, and the cron (every 100 ms, as Redis's `clusterCron`)
//! that connects links, pings, detects failures (PFAIL, then FAIL once a majority of
//! masters agree), expires handshakes and keeps `cluster_state` current. Tasks run on the
//! acceptor's runtime: the bus is light, and never touches a shard but to drop the keys of
//! slots another node took over.
//!
//! Inbound links only answer (PONG); this node's own PINGs, FAILs and UPDATEs go out on its
//! outbound links, as in Redis.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::build::{self, Me};
use super::handle::{self, Effects, Via};
use super::msg::{flag, kind, Message, MsgError, HEADER_LEN};
use super::node::{self, Link, NodeId};
use super::State;
use crate::server::Server;

const CRON_MS: u64 = 100;
/// Links and handshakes are given at least this long.
const MIN_TIMEOUT_MS: u64 = 1000;

static LINK_SERIAL: AtomicU64 = AtomicU64::new(1);

/// Bind the bus port and start the cron (cluster mode only; called on the acceptor's
/// runtime once the server listens).
pub fn start(srv: &Arc<Server>) -> anyhow::Result<()> {
    if !srv.cluster.enabled {
        return Ok(());
    }
    let binds = srv.config.read().bind();
    let listeners = crate::net::bind_addrs(srv, &binds, srv.cluster.cport)?;
    for l in listeners {
        let listener = tokio::net::TcpListener::from_std(l)?;
        let srv = srv.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((sock, peer)) => {
                        tokio::spawn(inbound(srv.clone(), sock, peer));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
    }
    let srv = srv.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(CRON_MS));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            n += 1;
            cron(&srv, n);
        }
    });
    Ok(())
}

/// What this node's headers say of it.
pub fn me(srv: &Server) -> Me {
    let c = srv.config.read();
    let announced = |name: &str, own: u16| match c.get_i64(name) {
        0 => own,
        p => p as u16,
    };
    Me {
        port: announced("cluster-announce-port", srv.cluster.port),
        cport: announced("cluster-announce-bus-port", srv.cluster.cport),
        announce_ip: c.get("cluster-announce-ip").to_string(),
        repl_offset: srv.repl.feed.offset().max(0) as u64,
        node_timeout_ms: c.get_i64("cluster-node-timeout").max(0) as u64,
    }
}

fn node_timeout_ms(srv: &Server) -> u64 {
    srv.config.read().get_i64("cluster-node-timeout").max(0) as u64
}

/// Plain text of an address (IPv4-mapped IPv6 as IPv4, as Redis shows peers).
fn ip_text(a: &SocketAddr) -> String {
    match a.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        ip => ip.to_string(),
    }
}

/// Read one message: its first 8 bytes say how long it is.
async fn read_message<R: AsyncReadExt + Unpin>(r: &mut R) -> Result<Message, String> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head).await.map_err(|e| e.to_string())?;
    let len = Message::announced_len(&head)
        .map_err(|e: MsgError| e.to_string())?
        .unwrap_or(HEADER_LEN);
    let mut buf = vec![0u8; len];
    buf[..8].copy_from_slice(&head);
    r.read_exact(&mut buf[8..])
        .await
        .map_err(|e| e.to_string())?;
    Message::decode(&buf).map_err(|e| e.to_string())
}

/// A connection another node opened: each message is processed, PINGs and MEETs answered.
async fn inbound(srv: Arc<Server>, mut sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let via = Via::Inbound {
        peer_ip: ip_text(&peer),
        local_ip: sock.local_addr().map(|a| ip_text(&a)).unwrap_or_default(),
    };
    loop {
        let msg = match read_message(&mut sock).await {
            Ok(m) => m,
            Err(e) => {
                crate::log_verbose!("Cluster bus link from {peer} closed: {e}");
                return;
            }
        };
        let fx = receive(&srv, &msg, &via);
        if let Some(reply) = &fx.reply {
            if sock.write_all(&reply.encode()).await.is_err() {
                return;
            }
        }
        let close = fx.close;
        apply(&srv, fx);
        if close {
            return;
        }
    }
}

/// Process a message under the view's lock.
fn receive(srv: &Server, msg: &Message, via: &Via) -> Effects {
    let me = me(srv);
    let mut st = srv.cluster.lock();
    let fx = handle::process(&mut st, &me, msg, via, crate::util::now_ms());
    if fx.slots_changed {
        srv.cluster.sync_mine(&st);
    }
    fx
}

/// Carry out what processing a message left to do outside the lock.
fn apply(srv: &Arc<Server>, fx: Effects) {
    {
        let mut st = srv.cluster.lock();
        for (to, m) in &fx.send {
            send(&mut st, to, m);
        }
        for m in &fx.broadcast {
            broadcast(&mut st, m);
        }
    }
    if let Some((shard, channel, message)) = fx.publish {
        let k = if shard {
            crate::pubsub::Kind::Shard
        } else {
            crate::pubsub::Kind::Channel
        };
        srv.pubsub.publish(k, &channel, &message, None);
    }
    for slot in &fx.dirty_slots {
        delete_keys_in_slot(srv, *slot);
    }
    if let Some((ip, port)) = fx.follow {
        srv.repl.follow(srv, &ip, port, "");
    }
    if fx.promote {
        srv.repl.unfollow(srv, Some("cluster failover"));
    }
    if let Some(on) = fx.hold_writes {
        srv.pause.hold_writes_for_failover(on);
    }
    if fx.pong_all {
        broadcast_pong(srv);
    }
    save_if_dirty(srv);
}

/// Carry out effects decided outside the bus (CLUSTER FAILOVER TAKEOVER).
pub fn carry_out(srv: &Server, fx: Effects) {
    if let Some(me) = srv.me.upgrade() {
        apply(&me, fx);
    }
}

/// Ask our master to hold writes for a manual failover.
pub fn send_mfstart(st: &mut State, me: &Me, master: &NodeId) {
    let m = Message {
        header: build::header(st, me, kind::MFSTART),
        data: Vec::new(),
    };
    send(st, master, &m);
}

/// Write `nodes.conf` if the view changed.
pub fn save_if_dirty(srv: &Server) {
    if !srv.cluster.lock().dirty {
        return;
    }
    let path = srv.config.read().get("cluster-config-file").to_string();
    if let Err(e) = srv.cluster.save(&path) {
        crate::log_warning!("Could not save the cluster configuration: {e}");
    }
}

/// Send `m` on our link to `to`, if there is one.
fn send(st: &mut State, to: &NodeId, m: &Message) {
    let sent = st
        .nodes
        .get(to)
        .and_then(|n| n.link.as_ref())
        .is_some_and(|l| l.tx.send(m.encode()).is_ok());
    if sent {
        st.sent[m.header.kind as usize % 11] += 1;
    }
}

/// Send `m` to every node we have a link to (not to nodes in handshake).
fn broadcast(st: &mut State, m: &Message) {
    let targets: Vec<NodeId> = st
        .nodes
        .values()
        .filter(|n| n.link.is_some() && !n.has(flag::HANDSHAKE))
        .map(|n| n.id)
        .collect();
    for id in targets {
        send(st, &id, m);
    }
}

/// PUBLISH in cluster mode reaches every node's subscribers; SPUBLISH only the nodes of
/// this shard (its master and replicas).
pub fn propagate_publish(srv: &Server, shard: bool, channel: &[u8], message: &[u8]) {
    let me = me(srv);
    let mut st = srv.cluster.lock();
    let m = build::publish(&st, &me, shard, channel, message);
    if !shard {
        broadcast(&mut st, &m);
        return;
    }
    let master = st.shard_master();
    let targets: Vec<NodeId> = st
        .nodes
        .values()
        .filter(|n| n.id == master || n.master == Some(master))
        .map(|n| n.id)
        .collect();
    for id in targets {
        send(&mut st, &id, &m);
    }
}

/// Delete the keys of a slot this node no longer serves (logged as DELs, as Redis's
/// `delKeysInSlot` propagates them).
pub fn delete_keys_in_slot(srv: &Server, slot: u16) {
    let store = &srv.store;
    let mut shard = store.lock_shard(store.slot_shard(slot));
    let keys: Vec<Vec<u8>> = shard
        .db_ref(0)
        .keys()
        .iter()
        .filter(|(k, _)| super::slot::key_slot(k) == slot)
        .map(|(k, _)| k.to_vec())
        .collect();
    for k in keys {
        if shard.db(0).delete(&k, store::lazyfree::Reason::ServerDel) {
            crate::propagate::server_del(srv, 0, k);
        }
    }
}

/// CLUSTER MEET: start a handshake with the node at this address (`false`: not an IP).
pub fn start_handshake(st: &mut State, ip: &str, port: u16, cport: u16) -> bool {
    handle::start_handshake(st, ip, port, cport, crate::util::now_ms())
}

/// A PONG to every node now (after a change the cluster should learn at once).
pub fn broadcast_pong(srv: &Server) {
    let me = me(srv);
    let mut st = srv.cluster.lock();
    let ids: Vec<NodeId> = st
        .nodes
        .values()
        .filter(|n| n.link.is_some() && !n.in_handshake())
        .map(|n| n.id)
        .collect();
    for id in ids {
        let m = build::ping(&st, &me, kind::PONG, Some(&id));
        send(&mut st, &id, &m);
    }
}

/// Open our link to `id` (its task connects, sends MEET or PING, then reads and writes).
fn connect(srv: &Arc<Server>, st: &mut State, id: NodeId, now: u64, timeout_ms: u64) {
    let Some(n) = st.nodes.get_mut(&id) else {
        return;
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let serial = LINK_SERIAL.fetch_add(1, Relaxed);
    n.link = Some(Link {
        serial,
        tx,
        created_ms: now,
        connected: false,
    });
    let addr = format!("{}:{}", n.ip, n.cport);
    let timeout = Duration::from_millis(timeout_ms.max(MIN_TIMEOUT_MS));
    let srv = srv.clone();
    tokio::spawn(async move {
        let sock = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            _ => {
                // Failure detection must go on: count as a PING sent now (the link's first
                // PING will go when a connection succeeds), as Redis does.
                let mut st = srv.cluster.lock();
                if let Some(id) = linked_node(&st, serial) {
                    if let Some(n) = st.nodes.get_mut(&id) {
                        if n.ping_sent_ms == 0 {
                            n.ping_sent_ms = crate::util::now_ms();
                        }
                    }
                }
                drop(st);
                drop_link(&srv, serial);
                return;
            }
        };
        let _ = sock.set_nodelay(true);
        run_link(&srv, sock, serial, rx).await;
        drop_link(&srv, serial);
    });
}

/// An outbound link, connected: the first PING (or MEET), then messages both ways.
async fn run_link(
    srv: &Arc<Server>,
    sock: TcpStream,
    serial: u64,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let first = {
        let me = me(srv);
        let mut st = srv.cluster.lock();
        let Some(id) = linked_node(&st, serial) else {
            return;
        };
        let meet = st.nodes.get(&id).is_some_and(|n| n.has(flag::MEET));
        let k = if meet { kind::MEET } else { kind::PING };
        let m = build::ping(&st, &me, k, Some(&id));
        st.sent[k as usize] += 1;
        let now = crate::util::now_ms();
        if let Some(n) = st.nodes.get_mut(&id) {
            n.flags &= !flag::MEET;
            if n.ping_sent_ms == 0 {
                n.ping_sent_ms = now;
            }
            if let Some(l) = n.link.as_mut() {
                l.connected = true;
            }
        }
        m.encode()
    };
    let (mut r, mut w) = sock.into_split();
    if w.write_all(&first).await.is_err() {
        return;
    }
    let via = Via::Outbound { serial };
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(bytes) = out else { return };
                if w.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            msg = read_message(&mut r) => {
                let Ok(msg) = msg else { return };
                let fx = receive(srv, &msg, &via);
                let close = fx.close;
                apply(srv, fx);
                if close {
                    return;
                }
            }
        }
    }
}

fn linked_node(st: &State, serial: u64) -> Option<NodeId> {
    st.nodes
        .values()
        .find(|n| n.link.as_ref().is_some_and(|l| l.serial == serial))
        .map(|n| n.id)
}

/// Forget a link that ended (the cron opens a new one).
fn drop_link(srv: &Server, serial: u64) {
    let mut st = srv.cluster.lock();
    if let Some(id) = linked_node(&st, serial) {
        if let Some(n) = st.nodes.get_mut(&id) {
            n.link = None;
        }
    }
}

/// Ping `id` on its link.
fn ping(st: &mut State, me: &Me, id: &NodeId, now: u64) {
    let m = build::ping(st, me, kind::PING, Some(id));
    send(st, id, &m);
    if let Some(n) = st.nodes.get_mut(id) {
        if n.ping_sent_ms == 0 {
            n.ping_sent_ms = now;
        }
    }
}

/// Every 100 ms: links, pings, failure detection, the state.
fn cron(srv: &Arc<Server>, tick: u64) {
    let now = crate::util::now_ms();
    let timeout = node_timeout_ms(srv);
    let handshake_timeout = timeout.max(MIN_TIMEOUT_MS);
    let me = me(srv);
    let migration = {
        let c = srv.config.read();
        (c.get("cluster-allow-replica-migration") != "no")
            .then(|| c.get_i64("cluster-migration-barrier").max(0) as usize)
    };
    let mut fail_broadcast = Vec::new();
    let mut fx = Effects::default();
    {
        let mut st = srv.cluster.lock();
        st.blacklist.retain(|_, until| *until > now);
        // Handshakes that never completed are dropped.
        let expired: Vec<NodeId> = st
            .nodes
            .values()
            .filter(|n| n.in_handshake() && now.saturating_sub(n.created_ms) > handshake_timeout)
            .map(|n| n.id)
            .collect();
        for id in expired {
            st.nodes.remove(&id);
        }
        let unlinked: Vec<NodeId> = st
            .nodes
            .values()
            .filter(|n| n.link.is_none() && !n.has(flag::NOADDR))
            .map(|n| n.id)
            .collect();
        for id in unlinked {
            connect(srv, &mut st, id, now, timeout);
        }
        // Once a second, ping the node heard from longest ago among five random ones.
        if tick.is_multiple_of(10) {
            let mut candidates: Vec<(u64, NodeId)> = st
                .nodes
                .values()
                .filter(|n| n.link_connected() && n.ping_sent_ms == 0 && !n.in_handshake())
                .map(|n| (n.pong_received_ms, n.id))
                .collect();
            build::shuffle(&mut candidates);
            if let Some(&(_, id)) = candidates.iter().take(5).min() {
                ping(&mut st, &me, &id, now);
            }
        }
        let ids: Vec<NodeId> = st.nodes.keys().copied().collect();
        for id in ids {
            check_node(&mut st, &me, &id, now, timeout, &mut fail_broadcast);
        }
        manual_failover_cron(&mut st, &me, now, &mut fx);
        if !st.i_am_master() {
            super::failover::replica_cron(&mut st, &me, &replica_facts(srv), now, &mut fx);
            if let Some(barrier) = migration {
                if let Some(target) = super::failover::replica_migration(&mut st, barrier, now) {
                    fx.follow = st.nodes.get(&target).map(|n| (n.ip.clone(), n.port));
                }
            }
            if fx.slots_changed {
                srv.cluster.sync_mine(&st);
            }
        }
    }
    fx.broadcast.extend(fail_broadcast);
    apply(srv, fx);
    let config = srv.config.read();
    srv.cluster.state_and_size(&config);
    drop(config);
    redirect_blocked(srv);
    save_if_dirty(srv);
}

/// Clients blocked on keys of a slot this node no longer serves get a `-MOVED` (or
/// `-CLUSTERDOWN`) instead of waiting forever (Redis's
/// `clusterRedirectBlockedClientIfNeeded`, run here every 100 ms).
fn redirect_blocked(srv: &Server) {
    if srv.blocked.clients.load(Relaxed) == 0 {
        return;
    }
    let down = !srv.cluster.is_ok();
    for c in srv.clients.all() {
        let Some((slot, writes)) = c
            .wait
            .job()
            .and_then(|j| Some((j.slot?, j.spec.has(crate::cmd::flags::WRITE))))
        else {
            continue;
        };
        if !c.wait.is_waiting() || (!down && srv.cluster.serves(slot)) {
            continue;
        }
        let error = {
            let st = srv.cluster.lock();
            match st.owners[slot as usize] {
                _ if down => super::Redirect::Down.error(),
                None => super::Redirect::Unbound.error(),
                // Importing here (after ASKING) is served here.
                Some(_) if st.importing.contains_key(&slot) => continue,
                Some(o) if o == st.id => continue,
                // A read blocked on a replica (READONLY) of the slot's master stays.
                Some(o) if !writes && st.my_master == Some(o) => continue,
                Some(o) => super::Redirect::Moved(slot, st.endpoint(&o, srv.cluster.port)).error(),
            }
        };
        c.wait.redirect(error, &srv.blocked);
    }
}

/// The master's side of a manual failover: its replica is pinged every tick (each header
/// says writes are held, and at which offset); after the timeout writes are released.
fn manual_failover_cron(st: &mut State, me: &Me, now: u64, fx: &mut Effects) {
    if !st.i_am_master() || st.election.mf_end_ms == 0 {
        return;
    }
    if now > st.election.mf_end_ms {
        crate::log_warning!("Manual failover timed out.");
        st.election.reset_manual();
        fx.hold_writes = Some(false);
        return;
    }
    if let Some(r) = st.election.mf_replica {
        let m = build::ping(st, me, kind::PING, Some(&r));
        fx.send.push((r, m));
    }
}

/// What a replica's election needs from replication and the configuration.
fn replica_facts(srv: &Server) -> super::failover::ReplicaFacts {
    let c = srv.config.read();
    let data_age_ms = match srv.repl.master() {
        Some(m) if m.link == crate::replication::Link::Connected => 0,
        Some(m) => m
            .down_since
            .map_or(u64::MAX / 4, |t| t.elapsed().as_millis() as u64),
        None => u64::MAX / 4,
    };
    super::failover::ReplicaFacts {
        offset: srv.repl.feed.offset().max(0) as u64,
        data_age_ms,
        validity_factor: c.get_i64("cluster-replica-validity-factor").max(0) as u64,
        ping_period_ms: c.get_i64("repl-ping-replica-period").max(1) as u64 * 1000,
        no_failover: c.get("cluster-replica-no-failover") == "yes",
    }
}

/// One node's link and liveness (Redis's per-node part of `clusterCron`).
fn check_node(
    st: &mut State,
    me: &Me,
    id: &NodeId,
    now: u64,
    timeout: u64,
    fails: &mut Vec<Message>,
) {
    let Some(n) = st.nodes.get(id) else { return };
    if n.in_handshake() {
        return;
    }
    let connected = n.link_connected();
    let half = timeout / 2;
    let ping_age = if n.ping_sent_ms == 0 {
        0
    } else {
        now.saturating_sub(n.ping_sent_ms)
    };
    let link_age = n
        .link
        .as_ref()
        .map_or(0, |l| now.saturating_sub(l.created_ms));
    // A link that stays silent for half the timeout is reconnected (the node may only be
    // unreachable on this one connection).
    if connected
        && link_age > timeout
        && ping_age > half
        && now.saturating_sub(n.data_received_ms) > half
    {
        if let Some(n) = st.nodes.get_mut(id) {
            n.link = None;
        }
        return;
    }
    if connected && n.ping_sent_ms == 0 && now.saturating_sub(n.pong_received_ms) > half {
        ping(st, me, id, now);
        return;
    }
    if ping_age > timeout && now.saturating_sub(n.data_received_ms) > timeout {
        if let Some(n) = st.nodes.get_mut(id) {
            if !n.failing() {
                crate::log_notice!("*** NODE {} possibly failing", node::id_text(id));
                n.flags |= flag::PFAIL;
            }
        }
    }
    if let Some(m) = mark_failing_if_needed(st, me, id, now, timeout) {
        fails.push(m);
    }
}

/// PFAIL becomes FAIL once a majority of the masters serving slots (this one included, if
/// it is such a master) reported the node recently (within twice the node timeout); the
/// FAIL is then broadcast (Redis's `markNodeAsFailingIfNeeded`).
fn mark_failing_if_needed(
    st: &mut State,
    me: &Me,
    id: &NodeId,
    now: u64,
    timeout: u64,
) -> Option<Message> {
    let (size, _) = super::masters_with_slots(st);
    let quorum = size / 2 + 1;
    let i_count = st.i_am_master() && st.slot_count(&st.id) > 0;
    let n = st.nodes.get_mut(id)?;
    n.fail_reports
        .retain(|(_, at)| now.saturating_sub(*at) <= timeout.saturating_mul(2));
    if !n.has(flag::PFAIL) || n.has(flag::FAIL) {
        return None;
    }
    let reports = n.fail_reports.len() + usize::from(i_count);
    if reports < quorum {
        return None;
    }
    crate::log_notice!(
        "Marking node {} as failing (quorum reached).",
        node::id_text(id)
    );
    n.flags = (n.flags | flag::FAIL) & !flag::PFAIL;
    n.fail_time_ms = now;
    st.dirty = true;
    Some(build::fail(st, me, id))
}
