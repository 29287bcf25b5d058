//! The messages this node sends: every one starts with a header describing the sender as
//! Redis's `clusterBuildMessageHdr` does (a replica sends its master's slots and config
//! epoch, so the cluster learns the shard's configuration from any of its nodes); PING, PONG
//! and MEET carry gossip about a few other nodes (Redis's `clusterSendPing`).

use super::msg::{flag, kind, Gossip, Header, Message, GOSSIP_LEN, IP_LEN, NAME_LEN};
use super::node::NodeId;
use super::State;

/// What the header says of this node's addresses.
pub struct Me {
    pub port: u16,
    pub cport: u16,
    pub announce_ip: String,
    pub repl_offset: u64,
    pub node_timeout_ms: u64,
}

pub fn header(st: &State, me: &Me, msg_kind: u16) -> Header {
    let mut h = Header::new(msg_kind, st.id);
    let shard = st.shard_master();
    for (a, b, _) in st.runs().iter().filter(|(_, _, o)| *o == shard) {
        h.set_slots(*a, *b);
    }
    if let Some(m) = st.my_master {
        h.slaveof = m;
    }
    h.current_epoch = st.current_epoch;
    h.config_epoch = st.epoch_of(&shard);
    h.offset = me.repl_offset;
    h.port = me.port;
    h.cport = me.cport;
    h.pport = 0;
    h.flags = st.my_flags | flag::MYSELF;
    h.state = u8::from(!st.ok);
    if st.i_am_master() && st.election.mf_end_ms != 0 {
        h.mflags[0] |= super::failover::MF_PAUSED;
    }
    let ip = me.announce_ip.as_bytes();
    let n = ip.len().min(IP_LEN - 1);
    h.ip[..n].copy_from_slice(&ip[..n]);
    h
}

/// A PING, PONG or MEET with gossip about up to `max(3, nodes / 10)` random nodes, and about
/// every node this one suspects of failing (so failure reports spread fast).
pub fn ping(st: &State, me: &Me, msg_kind: u16, to: Option<&NodeId>) -> Message {
    let mut h = header(st, me, msg_kind);
    let wanted = (st.nodes.len() / 10).max(3);
    let mut candidates: Vec<&super::node::Node> = st
        .nodes
        .values()
        .filter(|n| Some(&n.id) != to)
        .filter(|n| !n.has(flag::HANDSHAKE | flag::NOADDR))
        .filter(|n| n.link.is_some() || st.slot_count(&n.id) > 0 || !n.is_master())
        .collect();
    shuffle(&mut candidates);
    let mut chosen: Vec<&super::node::Node> = candidates
        .iter()
        .copied()
        .filter(|n| !n.has(flag::PFAIL))
        .take(wanted)
        .collect();
    chosen.extend(candidates.iter().copied().filter(|n| n.has(flag::PFAIL)));
    let mut data = Vec::with_capacity(chosen.len() * GOSSIP_LEN);
    for n in &chosen {
        let mut ip = [0u8; IP_LEN];
        let b = n.ip.as_bytes();
        let len = b.len().min(IP_LEN - 1);
        ip[..len].copy_from_slice(&b[..len]);
        let g = Gossip {
            name: n.id,
            ping_sent_secs: (n.ping_sent_ms / 1000) as u32,
            pong_received_secs: (n.pong_received_ms / 1000) as u32,
            ip,
            port: n.port,
            cport: n.cport,
            flags: n.flags,
            pport: n.pport,
        };
        g.encode_into(&mut data);
    }
    h.count = chosen.len() as u16;
    Message { header: h, data }
}

/// FAIL: every node is told `failing` is down.
pub fn fail(st: &State, me: &Me, failing: &NodeId) -> Message {
    Message {
        header: header(st, me, kind::FAIL),
        data: failing.to_vec(),
    }
}

/// UPDATE: tells a node with a stale view that `owner` serves `owner`'s slots at this epoch.
pub fn update(st: &State, me: &Me, owner: &NodeId) -> Message {
    let mut data = Vec::with_capacity(8 + NAME_LEN + super::SLOTS / 8);
    data.extend_from_slice(&st.epoch_of(owner).to_be_bytes());
    data.extend_from_slice(owner);
    let mut bitmap = vec![0u8; super::SLOTS / 8];
    for s in st.owners.slots_of(owner) {
        bitmap[s / 8] |= 1 << (s % 8);
    }
    data.extend_from_slice(&bitmap);
    Message {
        header: header(st, me, kind::UPDATE),
        data,
    }
}

/// PUBLISH / PUBLISHSHARD: a channel and a message for every node's subscribers.
pub fn publish(st: &State, me: &Me, shard: bool, channel: &[u8], message: &[u8]) -> Message {
    let k = if shard {
        kind::PUBLISHSHARD
    } else {
        kind::PUBLISH
    };
    let mut data = Vec::with_capacity(8 + channel.len() + message.len());
    data.extend_from_slice(&(channel.len() as u32).to_be_bytes());
    data.extend_from_slice(&(message.len() as u32).to_be_bytes());
    data.extend_from_slice(channel);
    data.extend_from_slice(message);
    // Redis's bulk_data has 8 bytes of padding in the struct; the length covers the data.
    Message {
        header: header(st, me, k),
        data,
    }
}

/// A Fisher–Yates shuffle (gossip and ping targets need spread, not secrecy).
pub fn shuffle<T>(v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = (random_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// xorshift64*, seeded per thread from the clock.
pub fn random_u64() -> u64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(crate::util::now_us() | 1);
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}
