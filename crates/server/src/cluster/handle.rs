//! What a message received on the bus changes in this node's view (Redis's
//! `clusterProcessPacket`): handshakes completing, roles, epochs, slot ownership (the
//! greater config epoch wins), gossip about other nodes (new nodes, failure reports), FAIL
//! and UPDATE. Runs under the view's lock and does no I/O: what must happen outside it —
//! a reply, a message to another node, a PUBLISH to deliver, a master to follow, keys of
//! lost slots to delete — is returned as `Effects` for the bus to carry out.

use super::build::{self, Me};
use super::msg::{field_text, flag, kind, Message, NAME_LEN};
use super::node::{self, Node, NodeId};
use super::{State, SLOTS};

/// The link a message came in on.
pub enum Via {
    /// A connection another node opened; `peer_ip` is its address, `local_ip` ours.
    Inbound { peer_ip: String, local_ip: String },
    /// Our link to a node (found by its serial: a handshake renames the node).
    Outbound { serial: u64 },
}

#[derive(Default)]
pub struct Effects {
    /// Sent back on the same link (a PONG).
    pub reply: Option<Message>,
    /// Sent on our links to these nodes.
    pub send: Vec<(NodeId, Message)>,
    /// Sent to every node we have a link to.
    pub broadcast: Vec<Message>,
    /// A PUBLISH (shard or not) to deliver to this node's subscribers.
    pub publish: Option<(bool, Vec<u8>, Vec<u8>)>,
    /// Replicate this master (`ip`, `port`): this node lost its last slots to it, or its
    /// master lost them to it.
    pub follow: Option<(String, u16)>,
    /// Slots whose keys must be deleted: another node took them over.
    pub dirty_slots: Vec<u16>,
    /// The link must close (a node answered under another name).
    pub close: bool,
    /// The hot-path bitmap of served slots needs refreshing.
    pub slots_changed: bool,
    /// This replica won an election (or took over): it stops replicating.
    pub promote: bool,
    /// A PONG to every node (after a change everyone must learn at once).
    pub pong_all: bool,
    /// Hold (or release) writes for a manual failover.
    pub hold_writes: Option<bool>,
}

fn sender_ip(msg: &Message, via: &Via) -> Option<String> {
    let announced = field_text(&msg.header.ip);
    if !announced.is_empty() {
        return Some(announced);
    }
    match via {
        Via::Inbound { peer_ip, .. } => Some(peer_ip.clone()),
        Via::Outbound { .. } => None,
    }
}

pub fn process(st: &mut State, me: &Me, msg: &Message, via: &Via, now: u64) -> Effects {
    let mut fx = Effects::default();
    let h = &msg.header;
    if let Some(n) = st.received.get_mut(h.kind as usize) {
        *n += 1;
    }
    let known = st.nodes.get(&h.sender).is_some_and(|n| !n.in_handshake());
    if let Some(n) = st.nodes.get_mut(&h.sender) {
        n.data_received_ms = now;
    }
    if known {
        if h.current_epoch > st.current_epoch {
            st.current_epoch = h.current_epoch;
            st.dirty = true;
        }
        if let Some(n) = st.nodes.get_mut(&h.sender) {
            if h.config_epoch > n.config_epoch && h.slaveof == [0; NAME_LEN] {
                n.config_epoch = h.config_epoch;
                st.dirty = true;
            }
            n.repl_offset = h.offset;
        }
    }
    match h.kind {
        kind::PING | kind::MEET | kind::PONG => {
            ping_like(st, me, msg, via, known, now, &mut fx);
        }
        kind::FAIL if known => {
            if let Some(failing) = node::parse_id(&msg.data[..NAME_LEN.min(msg.data.len())]) {
                if let Some(n) = st.nodes.get_mut(&failing) {
                    if !n.has(flag::FAIL) {
                        crate::log_notice!(
                            "FAIL message received from {} about {}",
                            node::id_text(&h.sender),
                            node::id_text(&failing)
                        );
                        n.flags = (n.flags | flag::FAIL) & !flag::PFAIL;
                        n.fail_time_ms = now;
                        st.dirty = true;
                    }
                }
            }
        }
        kind::UPDATE if known => {
            let d = &msg.data;
            let epoch = u64::from_be_bytes(d[..8].try_into().unwrap_or([0; 8]));
            if let Some(owner) = node::parse_id(&d[8..8 + NAME_LEN]) {
                let cur = st.nodes.get(&owner).map(|n| n.config_epoch);
                if cur.is_some_and(|c| c < epoch) {
                    if let Some(n) = st.nodes.get_mut(&owner) {
                        n.config_epoch = epoch;
                        if !n.is_master() {
                            n.flags = (n.flags | flag::MASTER) & !flag::SLAVE;
                            n.master = None;
                        }
                    }
                    let bitmap = &d[8 + NAME_LEN..8 + NAME_LEN + SLOTS / 8];
                    update_slots(st, &owner, epoch, bitmap, &mut fx);
                }
            }
        }
        kind::FAILOVER_AUTH_REQUEST if known => {
            if let Some(ack) = super::failover::vote(st, me, msg, now) {
                fx.send.push((h.sender, ack));
            }
        }
        kind::FAILOVER_AUTH_ACK if known => {
            let counts = st.nodes.get(&h.sender).is_some_and(|n| n.is_master())
                && st.slot_count(&h.sender) > 0;
            if counts && h.current_epoch >= st.election.auth_epoch {
                st.election.auth_count += 1;
                crate::log_notice!("Failover auth granted by {}", node::id_text(&h.sender));
            }
        }
        kind::MFSTART if known => {
            let mine = st.nodes.get(&h.sender).and_then(|n| n.master) == Some(st.id);
            if mine && st.i_am_master() {
                crate::log_notice!(
                    "Manual failover requested by replica {}.",
                    node::id_text(&h.sender)
                );
                st.election.reset_manual();
                st.election.mf_end_ms = now + super::failover::MF_TIMEOUT_MS;
                st.election.mf_replica = Some(h.sender);
                fx.hold_writes = Some(true);
                let ping = build::ping(st, me, kind::PING, Some(&h.sender));
                fx.send.push((h.sender, ping));
            }
        }
        kind::PUBLISH | kind::PUBLISHSHARD if known => {
            let d = &msg.data;
            let clen = u32::from_be_bytes(d[..4].try_into().unwrap_or([0; 4])) as usize;
            let mlen = u32::from_be_bytes(d[4..8].try_into().unwrap_or([0; 4])) as usize;
            if let Some(body) = d.get(8..8 + clen + mlen) {
                fx.publish = Some((
                    h.kind == kind::PUBLISHSHARD,
                    body[..clen].to_vec(),
                    body[clen..].to_vec(),
                ));
            }
        }
        _ => {}
    }
    fx
}

/// PING, PONG and MEET: the handshake, roles, slots and gossip.
fn ping_like(
    st: &mut State,
    me: &Me,
    msg: &Message,
    via: &Via,
    known: bool,
    now: u64,
    fx: &mut Effects,
) {
    let h = &msg.header;
    if let Via::Inbound { peer_ip, local_ip } = via {
        if h.kind != kind::PONG {
            // Learn our own address from the first node that talks to us.
            if st.my_ip.is_empty() && me.announce_ip.is_empty() {
                st.my_ip = local_ip.clone();
                st.dirty = true;
            }
            if !known && h.kind == kind::MEET && !st.nodes.contains_key(&h.sender) {
                let ip = sender_ip(msg, via).unwrap_or_else(|| peer_ip.clone());
                let mut n = Node::new(
                    node::random_id(),
                    &ip,
                    h.port,
                    h.cport,
                    flag::HANDSHAKE,
                    now,
                );
                n.pport = h.pport;
                st.nodes.insert(n.id, n);
                gossip(st, msg, now);
            }
            fx.reply = Some(build::ping(st, me, kind::PONG, Some(&h.sender)));
            st.sent[kind::PONG as usize] += 1;
        }
    }
    if let Via::Outbound { serial } = via {
        let Some(linked) = st
            .nodes
            .values()
            .find(|n| n.link.as_ref().is_some_and(|l| l.serial == *serial))
            .map(|n| n.id)
        else {
            return;
        };
        let in_handshake = st.nodes.get(&linked).is_some_and(|n| n.in_handshake());
        if in_handshake && h.kind == kind::PONG {
            if known || h.sender == st.id {
                // Already known under its real name (or it is us): the handshake node goes.
                st.nodes.remove(&linked);
                fx.close = true;
                return;
            }
            if let Some(mut n) = st.nodes.remove(&linked) {
                crate::log_notice!(
                    "Handshake with node {} completed.",
                    node::id_text(&h.sender)
                );
                n.id = h.sender;
                n.flags &= !(flag::HANDSHAKE | flag::MEET);
                n.flags |= if h.slaveof == [0; NAME_LEN] {
                    flag::MASTER
                } else {
                    flag::SLAVE
                };
                n.config_epoch = h.config_epoch;
                st.nodes.insert(h.sender, n);
                st.dirty = true;
            }
        } else if !in_handshake && linked != h.sender {
            // The address now belongs to another node: this link is wrong.
            if let Some(n) = st.nodes.get_mut(&linked) {
                n.flags |= flag::NOADDR;
                n.ip.clear();
                n.port = 0;
                n.cport = 0;
            }
            fx.close = true;
            st.dirty = true;
            return;
        }
        if h.kind == kind::PONG {
            pong_received(st, me, &h.sender, now);
        }
    }
    let known = st.nodes.get(&h.sender).is_some_and(|n| !n.in_handshake());
    if !known {
        return;
    }
    // A manual failover: the master holds writes and says at which offset.
    if st.election.mf_end_ms != 0
        && st.my_master == Some(h.sender)
        && h.mflags[0] & super::failover::MF_PAUSED != 0
        && st.election.mf_master_offset.is_none()
    {
        st.election.mf_master_offset = Some(h.offset);
        crate::log_notice!(
            "Received replication offset for paused master manual failover: {}",
            h.offset
        );
    }
    roles(st, msg, fx);
    if h.slaveof == [0; NAME_LEN] {
        let bitmap: Vec<u8> = h.slots.to_vec();
        let sender = h.sender;
        update_slots(st, &sender, h.config_epoch, &bitmap, fx);
        stale_claims(st, me, msg, fx);
        epoch_collision(st, &sender, h.config_epoch);
    }
    gossip(st, msg, now);
}

/// A PONG on our link: the node is alive. PFAIL goes at once; FAIL goes for a replica or a
/// master without slots, and for a master with slots only once twice the node timeout has
/// passed since it failed (nobody took its slots over meanwhile), as Redis's
/// `clearNodeFailureIfNeeded`.
fn pong_received(st: &mut State, me: &Me, id: &NodeId, now: u64) {
    let slots = st.slot_count(id);
    let Some(n) = st.nodes.get_mut(id) else {
        return;
    };
    n.pong_received_ms = now;
    n.ping_sent_ms = 0;
    if n.has(flag::PFAIL) {
        n.flags &= !flag::PFAIL;
        return;
    }
    if !n.has(flag::FAIL) {
        return;
    }
    let unserved = !n.is_master() || slots == 0;
    let long_ago = now.saturating_sub(n.fail_time_ms) > me.node_timeout_ms.saturating_mul(2);
    if unserved || long_ago {
        crate::log_notice!(
            "Clear FAIL state for node {}: {}",
            node::id_text(id),
            if unserved {
                "is reachable again."
            } else {
                "is reachable again and nobody is serving its slots after some time."
            }
        );
        n.flags &= !flag::FAIL;
        st.dirty = true;
    }
}

/// The sender's role as its header says: a master, or a replica of `slaveof`.
fn roles(st: &mut State, msg: &Message, fx: &mut Effects) {
    let h = &msg.header;
    let Some(n) = st.nodes.get_mut(&h.sender) else {
        return;
    };
    if h.slaveof == [0; NAME_LEN] {
        if !n.is_master() {
            n.flags = (n.flags | flag::MASTER) & !flag::SLAVE;
            n.master = None;
            st.dirty = true;
        }
        return;
    }
    let was_master = n.is_master();
    if was_master || n.master != Some(h.slaveof) {
        n.flags = (n.flags | flag::SLAVE) & !(flag::MASTER | flag::MIGRATE_TO);
        n.master = Some(h.slaveof);
        st.dirty = true;
    }
    if was_master {
        let sender = h.sender;
        if st.owners.count(&sender) > 0 {
            st.owners.reassign(&sender, None);
            fx.slots_changed = true;
        }
    }
}

/// A master's claim on slots (Redis's `clusterUpdateSlotsConfigWith`): each slot it claims
/// that is unowned, or owned at a smaller config epoch, becomes its — unless this node is
/// importing that slot. If this node (or its master) loses its last slot to it, this node
/// follows it; keys of slots taken from this node are deleted.
fn update_slots(st: &mut State, sender: &NodeId, epoch: u64, bitmap: &[u8], fx: &mut Effects) {
    if *sender == st.id {
        return;
    }
    let shard = st.shard_master();
    let mut took_ours = false;
    for s in 0..SLOTS {
        if bitmap[s / 8] & (1 << (s % 8)) == 0 {
            continue;
        }
        let owner = st.owners[s];
        if owner == Some(*sender) || st.importing.contains_key(&(s as u16)) {
            continue;
        }
        if owner.is_none_or(|o| st.epoch_of(&o) < epoch) {
            if owner == Some(st.id) {
                fx.dirty_slots.push(s as u16);
            }
            if owner == Some(shard) {
                took_ours = true;
            }
            st.owners.set(s, Some(*sender));
            fx.slots_changed = true;
            st.dirty = true;
        }
    }
    if took_ours && st.slot_count(&shard) == 0 {
        if let Some(n) = st.nodes.get(sender) {
            crate::log_notice!(
                "Configuration change detected. Reconfiguring myself as a replica of {}",
                node::id_text(sender)
            );
            fx.follow = Some((n.ip.clone(), n.port));
            fx.dirty_slots.clear();
        }
        st.my_flags = (st.my_flags | flag::SLAVE) & !flag::MASTER;
        st.my_master = Some(*sender);
        st.migrating.clear();
        st.importing.clear();
        if st.election.mf_end_ms != 0 {
            st.election.reset_manual();
            fx.hold_writes = Some(false);
        }
    }
}

/// Two masters with one config epoch (nodes joined without distinct epochs, or a failover
/// race): the one with the smaller ID takes a new epoch, as Redis's
/// `clusterHandleConfigEpochCollision` does, so every epoch ends up unique.
fn epoch_collision(st: &mut State, sender: &NodeId, sender_epoch: u64) {
    if !st.i_am_master() || sender_epoch != st.config_epoch || *sender <= st.id {
        return;
    }
    st.current_epoch += 1;
    st.config_epoch = st.current_epoch;
    st.dirty = true;
    crate::log_verbose!(
        "WARNING: configEpoch collision with node {}. configEpoch set to {}",
        node::id_text(sender),
        st.config_epoch
    );
}

/// A master claiming slots that another node serves at a greater epoch is told so
/// (UPDATE), as Redis does.
fn stale_claims(st: &State, me: &Me, msg: &Message, fx: &mut Effects) {
    let h = &msg.header;
    for s in 0..SLOTS as u16 {
        if !h.has_slot(s) {
            continue;
        }
        let Some(owner) = st.owners[s as usize] else {
            continue;
        };
        if owner != h.sender && st.epoch_of(&owner) > h.config_epoch {
            fx.send.push((h.sender, build::update(st, me, &owner)));
            return;
        }
    }
}

/// Gossip entries: failure reports from masters, pong times, and nodes to meet.
fn gossip(st: &mut State, msg: &Message, now: u64) {
    let h = &msg.header;
    let sender_is_master = st.nodes.get(&h.sender).is_some_and(|n| n.is_master());
    for g in msg.gossip() {
        if g.name == st.id {
            continue;
        }
        if let Some(n) = st.nodes.get_mut(&g.name) {
            if sender_is_master {
                n.fail_reports.retain(|(who, _)| *who != h.sender);
                if g.flags & (flag::FAIL | flag::PFAIL) != 0 {
                    n.fail_reports.push((h.sender, now));
                }
            }
            let pong_ms = u64::from(g.pong_received_secs) * 1000;
            if g.flags & (flag::FAIL | flag::PFAIL) == 0
                && n.ping_sent_ms == 0
                && n.fail_reports.is_empty()
                && pong_ms > n.pong_received_ms
                && pong_ms <= now + 500
            {
                n.pong_received_ms = pong_ms;
            }
            continue;
        }
        let blacklisted = st.blacklist.get(&g.name).is_some_and(|&t| t > now);
        let ip = field_text(&g.ip);
        if g.flags & flag::NOADDR != 0 || blacklisted || ip.is_empty() {
            continue;
        }
        start_handshake(st, &ip, g.port, g.cport, now);
    }
}

/// Meet a node at this address (CLUSTER MEET, or a node learned from gossip): a node with
/// a random name in handshake until it answers. `false` for an address that is not an IP.
pub fn start_handshake(st: &mut State, ip: &str, port: u16, cport: u16, now: u64) -> bool {
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    if port == 0 || cport == 0 {
        return false;
    }
    let ip = addr.to_string();
    let pending = st
        .nodes
        .values()
        .any(|n| n.in_handshake() && n.ip == ip && n.port == port && n.cport == cport);
    if !pending {
        let n = Node::new(
            node::random_id(),
            &ip,
            port,
            cport,
            flag::HANDSHAKE | flag::MEET,
            now,
        );
        st.nodes.insert(n.id, n);
    }
    true
}
