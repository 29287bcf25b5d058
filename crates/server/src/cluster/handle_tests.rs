//! Conflicting claims on the bus, resolved as Redis resolves them: the greater config epoch
//! wins a slot, a stale claimer is sent UPDATE, equal epochs are split by node ID, a master
//! that loses its last slot follows the winner, and an importing slot is left alone.

use super::build::Me;
use super::handle::{process, Via};
use super::msg::{flag, kind, Header, Message};
use super::node::{Node, NodeId};
use super::State;

fn id(c: u8) -> NodeId {
    [c; 40]
}

fn me() -> Me {
    Me {
        port: 7000,
        cport: 17000,
        announce_ip: String::new(),
        repl_offset: 0,
        node_timeout_ms: 2000,
    }
}

/// This node (`b'm'`) serving `mine`, knowing masters `b'b'` and `b'c'`.
fn view(mine: std::ops::Range<u16>, epoch: u64) -> State {
    let mut st = State::new(id(b'm'));
    st.config_epoch = epoch;
    st.current_epoch = epoch;
    for s in mine {
        let me = st.id;
        st.owners.set(s as usize, Some(me));
    }
    for (c, port) in [(b'b', 7001), (b'c', 7002)] {
        let n = Node::new(id(c), "127.0.0.1", port, port + 10000, flag::MASTER, 0);
        st.nodes.insert(n.id, n);
    }
    st
}

/// A PING from `sender` claiming `slots` at `epoch`.
fn claim(sender: u8, slots: std::ops::Range<u16>, epoch: u64) -> Message {
    let mut h = Header::new(kind::PING, id(sender));
    h.config_epoch = epoch;
    h.current_epoch = epoch;
    h.flags = flag::MASTER;
    for s in slots {
        h.set_slot(s);
    }
    Message {
        header: h,
        data: Vec::new(),
    }
}

fn inbound() -> Via {
    Via::Inbound {
        peer_ip: "127.0.0.1".into(),
        local_ip: "127.0.0.1".into(),
    }
}

#[test]
fn a_greater_epoch_takes_the_slots_and_a_stale_claim_is_answered_with_update() {
    let mut st = view(0..100, 1);
    let fx = process(&mut st, &me(), &claim(b'b', 0..10, 5), &inbound(), 1000);
    assert!((0..10).all(|s| st.owners[s] == Some(id(b'b'))));
    assert!((10..100).all(|s| st.owners[s] == Some(id(b'm'))));
    assert_eq!(fx.dirty_slots, (0..10).collect::<Vec<u16>>());
    assert!(fx.follow.is_none());
    // A claim at a smaller epoch than the owner's changes nothing; the claimer is told.
    let fx = process(&mut st, &me(), &claim(b'c', 0..1, 2), &inbound(), 1001);
    assert_eq!(st.owners[0], Some(id(b'b')));
    assert!(fx
        .send
        .iter()
        .any(|(to, m)| *to == id(b'c') && m.header.kind == kind::UPDATE));
}

#[test]
fn a_master_that_loses_its_last_slot_follows_the_winner() {
    let mut st = view(5..6, 1);
    let fx = process(&mut st, &me(), &claim(b'b', 5..6, 3), &inbound(), 1000);
    assert_eq!(fx.follow, Some(("127.0.0.1".to_string(), 7001)));
    assert!(!st.i_am_master());
    assert_eq!(st.my_master, Some(id(b'b')));
    // Its keys go with the full sync, not by deletion.
    assert!(fx.dirty_slots.is_empty());
}

#[test]
fn equal_epochs_make_the_smaller_id_take_a_new_one() {
    // b'm' > b'c': this node keeps its epoch when the smaller ID collides with it…
    let mut st = view(0..10, 4);
    process(&mut st, &me(), &claim(b'c', 20..30, 4), &inbound(), 1000);
    assert_eq!(st.config_epoch, 4);
    // …and takes a new one when the colliding sender's ID is greater.
    let mut st = State::new(id(b'a'));
    st.config_epoch = 4;
    st.current_epoch = 4;
    let n = Node::new(id(b'b'), "127.0.0.1", 7001, 17001, flag::MASTER, 0);
    st.nodes.insert(n.id, n);
    process(&mut st, &me(), &claim(b'b', 20..30, 4), &inbound(), 1000);
    assert_eq!((st.config_epoch, st.current_epoch), (5, 5));
}

#[test]
fn a_slot_being_imported_is_not_taken_by_a_claim() {
    let mut st = view(0..10, 1);
    st.importing.insert(50, id(b'c'));
    process(&mut st, &me(), &claim(b'b', 50..52, 9), &inbound(), 1000);
    assert_eq!(st.owners[50], None);
    assert_eq!(st.owners[51], Some(id(b'b')));
}

#[test]
fn an_unknown_sender_is_ignored_but_a_meet_starts_a_handshake() {
    let mut st = view(0..10, 1);
    let stranger = claim(b'z', 0..10, 99);
    let fx = process(&mut st, &me(), &stranger, &inbound(), 1000);
    assert!((0..10).all(|s| st.owners[s] == Some(id(b'm'))));
    assert!(fx.reply.is_some(), "a PING is answered");
    let mut meet = claim(b'z', 0..0, 1);
    meet.header.kind = kind::MEET;
    meet.header.port = 7009;
    meet.header.cport = 17009;
    process(&mut st, &me(), &meet, &inbound(), 1000);
    assert!(st
        .nodes
        .values()
        .any(|n| n.in_handshake() && n.port == 7009 && n.cport == 17009));
    assert_eq!(st.my_ip, "127.0.0.1", "learned from the connection");
}

#[test]
fn a_failed_master_with_slots_is_cleared_only_after_twice_the_node_timeout() {
    let mut st = view(0..10, 1);
    let b = id(b'b');
    st.owners.set(100, Some(b));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    if let Some(n) = st.nodes.get_mut(&b) {
        n.flags |= flag::FAIL;
        n.fail_time_ms = 1000;
        n.link = Some(super::node::Link {
            serial: 7,
            tx,
            created_ms: 0,
            connected: true,
        });
    }
    let mut pong = claim(b'b', 100..101, 0);
    pong.header.kind = kind::PONG;
    let via = Via::Outbound { serial: 7 };
    process(&mut st, &me(), &pong, &via, 3000);
    assert!(st.nodes[&b].has(flag::FAIL), "within 2 × node timeout");
    process(&mut st, &me(), &pong, &via, 5001);
    assert!(!st.nodes[&b].has(flag::FAIL));
}
