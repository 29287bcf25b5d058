//! Replicas taking over a failed master (Redis's `clusterHandleSlaveFailover`), the votes of
//! the masters (`clusterSendFailoverAuthIfNeeded`), and CLUSTER FAILOVER's manual
//! failover (MFSTART: the master holds writes until its replica has caught up, then the
//! replica runs an election every master answers even though the old master is not failed).
//!
//! An election: the replica waits 500–1000 ms plus a second per replica of the same master
//! with more data (so the most up-to-date one usually wins), takes a new current epoch and
//! asks every master for its vote (FAILOVER_AUTH_REQUEST); a master serving slots votes once
//! per epoch, and not for two replicas of one master within twice the node timeout. With
//! votes from a majority of the masters serving slots, the replica takes the epoch as its
//! config epoch, claims its master's slots and tells everyone (PONG); the greater epoch wins
//! wherever the claim meets the old configuration.

use super::build::{self, Me};
use super::handle::Effects;
use super::msg::{flag, kind, Message};
use super::node::NodeId;
use super::State;

/// `mflags[0]` bits: the master holds writes for a manual failover; the election is a
/// manual one (masters vote although the master is not failed).
pub const MF_PAUSED: u8 = 1;
pub const MF_FORCEACK: u8 = 2;
/// How long a manual failover may take.
pub const MF_TIMEOUT_MS: u64 = 5000;

/// The election in progress, and a manual failover's progress.
#[derive(Default)]
pub struct Election {
    /// When the request may be sent (0: none scheduled).
    pub auth_time_ms: u64,
    pub auth_count: usize,
    pub auth_sent: bool,
    pub rank: usize,
    pub auth_epoch: u64,
    /// A manual failover: when it gives up (0: none).
    pub mf_end_ms: u64,
    /// On the master: the replica taking over.
    pub mf_replica: Option<NodeId>,
    /// On the replica: the master's offset once it holds writes.
    pub mf_master_offset: Option<u64>,
    pub mf_can_start: bool,
    /// Masters (by ID, this node included) and when this node last voted for one of their
    /// replicas.
    pub voted_ms: std::collections::HashMap<NodeId, u64>,
    /// Replica migration: masters seen with a working replica (Redis's `MIGRATE_TO`), and
    /// since when each orphaned one has had none.
    pub had_replicas: std::collections::HashSet<NodeId>,
    pub orphaned_since: std::collections::HashMap<NodeId, u64>,
}

impl Election {
    pub fn reset_manual(&mut self) {
        self.mf_end_ms = 0;
        self.mf_replica = None;
        self.mf_master_offset = None;
        self.mf_can_start = false;
    }
}

/// Replicas of this node's master with more data than this node (its place in line).
fn rank(st: &State, my_offset: u64) -> usize {
    let Some(master) = st.my_master else { return 0 };
    st.nodes
        .values()
        .filter(|n| n.master == Some(master) && !n.has(flag::NOFAILOVER))
        .filter(|n| n.repl_offset > my_offset)
        .count()
}

/// What the replica's cron knows that the view does not.
pub struct ReplicaFacts {
    pub offset: u64,
    /// How long the master's data has been unrefreshed, ms.
    pub data_age_ms: u64,
    pub validity_factor: u64,
    pub ping_period_ms: u64,
    pub no_failover: bool,
}

/// The replica's side, run by the cron.
pub fn replica_cron(st: &mut State, me: &Me, facts: &ReplicaFacts, now: u64, fx: &mut Effects) {
    let timeout = me.node_timeout_ms;
    if st.election.mf_end_ms != 0 {
        if now > st.election.mf_end_ms {
            crate::log_warning!("Manual failover timed out.");
            st.election.reset_manual();
        } else if !st.election.mf_can_start && st.election.mf_master_offset == Some(facts.offset) {
            st.election.mf_can_start = true;
            crate::log_notice!(
                "All master replication stream processed, manual failover can start."
            );
        }
    }
    let manual = st.election.mf_end_ms != 0 && st.election.mf_can_start;
    let Some(master_id) = st.my_master else {
        return;
    };
    if st.i_am_master() {
        return;
    }
    let master_failed = st.nodes.get(&master_id).is_some_and(|m| m.has(flag::FAIL));
    if (!master_failed && !manual) || st.slot_count(&master_id) == 0 {
        return;
    }
    if facts.no_failover && !manual {
        return;
    }
    let data_age = facts.data_age_ms.saturating_sub(timeout);
    if facts.validity_factor > 0
        && data_age > facts.ping_period_ms + timeout * facts.validity_factor
        && !manual
    {
        return;
    }
    let auth_timeout = (timeout * 2).max(2000);
    let auth_retry = auth_timeout * 2;
    let e = &mut st.election;
    if now.saturating_sub(e.auth_time_ms) > auth_retry {
        e.auth_time_ms = now + 500 + build::random_u64() % 500;
        e.auth_count = 0;
        e.auth_sent = false;
        let r = rank(st, facts.offset);
        let e = &mut st.election;
        e.rank = r;
        e.auth_time_ms += r as u64 * 1000;
        if manual {
            e.auth_time_ms = now;
            e.rank = 0;
        }
        crate::log_notice!(
            "Start of election delayed for {} milliseconds (rank #{}, offset {}).",
            e.auth_time_ms.saturating_sub(now),
            e.rank,
            facts.offset
        );
        // The other replicas of the master learn this one's offset at once.
        let pong = build::ping(st, me, kind::PONG, None);
        for n in st.nodes.values().filter(|n| n.master == Some(master_id)) {
            fx.send.push((n.id, pong.clone()));
        }
        return;
    }
    if !e.auth_sent && !manual {
        let r = rank(st, facts.offset);
        let e = &mut st.election;
        if r > e.rank {
            e.auth_time_ms += (r - e.rank) as u64 * 1000;
            e.rank = r;
        }
    }
    let e = &mut st.election;
    if now < e.auth_time_ms || now - e.auth_time_ms > auth_timeout {
        return;
    }
    if !e.auth_sent {
        st.current_epoch += 1;
        st.election.auth_epoch = st.current_epoch;
        st.election.auth_sent = true;
        st.dirty = true;
        crate::log_notice!(
            "Starting a failover election for epoch {}.",
            st.current_epoch
        );
        let mut req = build::header(st, me, kind::FAILOVER_AUTH_REQUEST);
        if manual {
            req.mflags[0] |= MF_FORCEACK;
        }
        fx.broadcast.push(Message {
            header: req,
            data: Vec::new(),
        });
        return;
    }
    let (size, _) = super::masters_with_slots(st);
    let quorum = size / 2 + 1;
    if st.election.auth_count >= quorum {
        crate::log_notice!("Failover election won: I'm the new master.");
        if st.config_epoch < st.election.auth_epoch {
            st.config_epoch = st.election.auth_epoch;
            crate::log_notice!(
                "configEpoch set to {} after successful failover",
                st.config_epoch
            );
        }
        take_over(st, fx);
    }
}

/// This replica replaces its master: it claims the master's slots and becomes a master
/// (CLUSTER FAILOVER TAKEOVER does this without an election).
pub fn take_over(st: &mut State, fx: &mut Effects) {
    let Some(old) = st.my_master.take() else {
        return;
    };
    st.my_flags = (st.my_flags | flag::MASTER) & !flag::SLAVE;
    let me = st.id;
    st.owners.reassign(&old, Some(me));
    st.election.reset_manual();
    st.election.auth_time_ms = 0;
    st.dirty = true;
    fx.slots_changed = true;
    fx.promote = true;
    fx.pong_all = true;
}

/// A master's answer to a FAILOVER_AUTH_REQUEST: an ACK, or nothing.
pub fn vote(st: &mut State, me: &Me, msg: &Message, now: u64) -> Option<Message> {
    let h = &msg.header;
    if !st.i_am_master() || st.slot_count(&st.id) == 0 {
        return None;
    }
    let sender = st.nodes.get(&h.sender)?;
    let name = super::node::id_text(&h.sender);
    if h.current_epoch < st.current_epoch {
        crate::log_warning!(
            "Failover auth denied to {name}: reqEpoch ({}) < curEpoch({})",
            h.current_epoch,
            st.current_epoch
        );
        return None;
    }
    if st.last_vote_epoch == st.current_epoch {
        crate::log_warning!(
            "Failover auth denied to {name}: already voted for epoch {}",
            st.current_epoch
        );
        return None;
    }
    if sender.is_master() {
        return None;
    }
    let master = sender.master?;
    let force = h.mflags[0] & MF_FORCEACK != 0;
    let master_failed = if master == st.id {
        false
    } else {
        st.nodes.get(&master).is_some_and(|m| m.has(flag::FAIL))
    };
    if !master_failed && !force {
        crate::log_warning!("Failover auth denied to {name}: its master is up");
        return None;
    }
    let timeout = me.node_timeout_ms;
    if st
        .election
        .voted_ms
        .get(&master)
        .is_some_and(|&t| now.saturating_sub(t) < timeout * 2)
    {
        crate::log_warning!(
            "Failover auth denied to {name}: can't vote about this master before {} milliseconds",
            timeout * 2
        );
        return None;
    }
    for s in 0..super::SLOTS as u16 {
        if !h.has_slot(s) {
            continue;
        }
        if let Some(owner) = st.owners[s as usize] {
            if st.epoch_of(&owner) > h.config_epoch {
                crate::log_warning!(
                    "Failover auth denied to {name}: slot {s} epoch ({}) > reqEpoch ({})",
                    st.epoch_of(&owner),
                    h.config_epoch
                );
                return None;
            }
        }
    }
    st.last_vote_epoch = st.current_epoch;
    st.election.voted_ms.insert(master, now);
    st.dirty = true;
    crate::log_notice!(
        "Failover auth granted to {name} for epoch {}",
        st.current_epoch
    );
    Some(Message {
        header: build::header(st, me, kind::FAILOVER_AUTH_ACK),
        data: Vec::new(),
    })
}

/// Replica migration (Redis's `clusterHandleSlaveMigration`): a master serving slots whose
/// replicas have all failed (after having had some) is orphaned; once that lasts
/// [`MIGRATION_DELAY_MS`], the replica with the smallest ID of the master with the most
/// working replicas — more than `cluster-migration-barrier` — moves to it. Returns the
/// master to replicate.
pub fn replica_migration(st: &mut State, barrier: usize, now: u64) -> Option<NodeId> {
    let my_master = st.my_master?;
    if st.i_am_master() || !st.ok {
        return None;
    }
    if st.nodes.get(&my_master).is_none_or(|m| m.has(flag::FAIL)) {
        return None;
    }
    let masters: Vec<NodeId> = st
        .nodes
        .values()
        .filter(|n| n.is_master() && !n.has(flag::FAIL) && st.slot_count(&n.id) > 0)
        .map(|n| n.id)
        .collect();
    let mut most = 0;
    let mut target = None;
    for m in &masters {
        let ok = st.replicas_of(m, false).len();
        most = most.max(ok);
        if ok > 0 {
            st.election.had_replicas.insert(*m);
        }
        let orphaned = ok == 0 && st.election.had_replicas.contains(m);
        if orphaned {
            let since = *st.election.orphaned_since.entry(*m).or_insert(now);
            if target.is_none() && now.saturating_sub(since) > MIGRATION_DELAY_MS {
                target = Some(*m);
            }
        } else {
            st.election.orphaned_since.remove(m);
        }
    }
    let mine = st.replicas_of(&my_master, false);
    if mine.len() <= barrier || mine.len() < most || mine.iter().min() != Some(&st.id) {
        return None;
    }
    let target = target?;
    crate::log_notice!(
        "Migrating to orphaned master {}",
        super::node::id_text(&target)
    );
    st.set_master(target);
    st.election.orphaned_since.remove(&target);
    Some(target)
}

/// How long a master must stay orphaned before a replica migrates to it.
pub const MIGRATION_DELAY_MS: u64 = 5000;
