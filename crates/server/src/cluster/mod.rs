//! Redis Cluster (issue 16): this node's view of the cluster — its ID and epochs, the other
//! nodes (`node.rs`), which node serves each of the 16,384 hash slots, slots being migrated
//! — kept in `nodes.conf` (`conf.rs`) and kept current by the cluster bus (`bus.rs`: links
//! and the cron; `handle.rs`: what a received message changes; `build.rs`: what this node
//! sends; `msg.rs`: the wire format). `redirect.rs` decides, for each keyed command, whether
//! it is served here or answered with `-MOVED`, `-ASK`, `-TRYAGAIN`, `-CROSSSLOT` or
//! `-CLUSTERDOWN`.
//!
//! One mutex holds the view; the hot path reads only `mine`, a bitmap of the slots this
//! node serves, and takes the mutex only for a command it does not serve.

mod build;
pub mod bus;
mod conf;
pub mod failover;
pub mod handle;
#[cfg(test)]
mod handle_tests;
pub mod msg;
pub mod node;
pub mod redirect;
mod slots;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

pub use store::slot;
use store::slot::SLOTS;

use msg::flag;
use node::{Node, NodeId};

/// A master that just started waits this long before it calls the cluster `ok` (Redis's
/// `CLUSTER_WRITABLE_DELAY`: the cluster gets a chance to tell it its slots moved).
const WRITABLE_DELAY: Duration = Duration::from_millis(2000);
/// A node forgotten by CLUSTER FORGET is not re-added from gossip for this long.
pub const BLACKLIST_MS: u64 = 60_000;

/// This node's cluster state.
pub struct Cluster {
    pub enabled: bool,
    /// The slots this node serves, a bit each (read on every keyed command).
    mine: Box<[AtomicU64]>,
    /// Whether any slot is migrating or importing (then the hot path takes the lock).
    open_slots: AtomicBool,
    /// `cluster_state:ok`, as last computed.
    up: AtomicBool,
    state: Mutex<State>,
    /// Held while `nodes.conf` is written: the bus and commands both save, and each write
    /// goes through one temporary file.
    saving: Mutex<()>,
    /// The epochs (current, config, last vote) of the last synced `nodes.conf`: a save that
    /// changes them is synced, others are not.
    synced_epochs: Mutex<Option<(u64, u64, u64)>>,
    started: Instant,
    /// This node's client port and bus port (`cluster-port`, or port + 10000).
    pub port: u16,
    pub cport: u16,
}

/// What this node knows of the cluster.
pub struct State {
    pub id: NodeId,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub last_vote_epoch: u64,
    /// This node's IP as the others see it (learned from the first MEET or PING received,
    /// as Redis does, when `cluster-announce-ip` is not set).
    pub my_ip: String,
    /// `MASTER` or `SLAVE`, and `NOFAILOVER`.
    pub my_flags: u16,
    pub my_master: Option<NodeId>,
    pub nodes: HashMap<NodeId, Node>,
    /// Who serves each slot.
    pub owners: slots::SlotTable,
    /// `CLUSTER SETSLOT … MIGRATING`: slots this node serves, moving to a node.
    pub migrating: BTreeMap<u16, NodeId>,
    /// `CLUSTER SETSLOT … IMPORTING`: slots moving here from a node.
    pub importing: BTreeMap<u16, NodeId>,
    /// Forgotten nodes and when they may be learned again (unix ms).
    pub blacklist: HashMap<NodeId, u64>,
    /// Messages sent and received, by type.
    pub sent: [u64; 11],
    pub received: [u64; 11],
    /// `cluster_state:ok`, and when this node was last in a minority.
    pub ok: bool,
    pub among_minority_ms: u64,
    /// `nodes.conf` needs writing.
    pub dirty: bool,
    /// Failover elections and manual failovers.
    pub election: failover::Election,
}

/// What `nodes.conf` records of this node (CLUSTER MYID, INFO and the epochs).
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    pub id: String,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub last_vote_epoch: u64,
}

/// Why a keyed command is not served here.
#[derive(Debug, PartialEq, Eq)]
pub enum Redirect {
    CrossSlot,
    Unbound,
    Down,
    DownReadOnly,
    TryAgain,
    Moved(u16, String),
    Ask(u16, String),
}

impl Redirect {
    pub fn error(&self) -> String {
        match self {
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            Redirect::Unbound => "CLUSTERDOWN Hash slot not served".into(),
            Redirect::Down => "CLUSTERDOWN The cluster is down".into(),
            Redirect::DownReadOnly => {
                "CLUSTERDOWN The cluster is down and only accepts read commands".into()
            }
            Redirect::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Redirect::Moved(slot, at) => format!("MOVED {slot} {at}"),
            Redirect::Ask(slot, at) => format!("ASK {slot} {at}"),
        }
    }
}

impl State {
    fn new(id: NodeId) -> Self {
        State {
            id,
            current_epoch: 0,
            config_epoch: 0,
            last_vote_epoch: 0,
            my_ip: String::new(),
            my_flags: flag::MASTER,
            my_master: None,
            nodes: HashMap::new(),
            owners: slots::SlotTable::new(),
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            blacklist: HashMap::new(),
            sent: [0; 11],
            received: [0; 11],
            ok: false,
            among_minority_ms: 0,
            dirty: false,
            election: failover::Election::default(),
        }
    }

    pub fn i_am_master(&self) -> bool {
        self.my_flags & flag::MASTER != 0
    }

    /// The config epoch of `id` (this node's own, or another's; 0 for an unknown node).
    pub fn epoch_of(&self, id: &NodeId) -> u64 {
        if *id == self.id {
            self.config_epoch
        } else {
            self.nodes.get(id).map_or(0, |n| n.config_epoch)
        }
    }

    /// The master whose slots this node's messages carry: itself, or the one it replicates.
    pub fn shard_master(&self) -> NodeId {
        self.my_master.unwrap_or(self.id)
    }

    /// The replicas of `master` (this node too, when it is one), sorted by ID; failed ones
    /// only with `failed`.
    pub fn replicas_of(&self, master: &NodeId, failed: bool) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.master == Some(*master) && (failed || !n.has(flag::FAIL)))
            .map(|n| n.id)
            .collect();
        if self.my_master == Some(*master) {
            out.push(self.id);
        }
        out.sort();
        out
    }

    /// Every run of consecutive slots with one owner, in slot order: one pass over the
    /// table, which everything that looks at all the slots (NODES, SLOTS, INFO, the state)
    /// reads instead of the 16,384 entries.
    pub fn runs(&self) -> Vec<(u16, u16, NodeId)> {
        self.owners.runs()
    }

    /// The slots `id` serves, as ranges.
    pub fn ranges_of(&self, id: &NodeId) -> Vec<(u16, u16)> {
        ranges_in(&self.runs(), id)
    }

    pub fn slot_count(&self, id: &NodeId) -> usize {
        self.owners.count(id)
    }

    /// `ip:port` of a node for a redirection (this node's own when it is `id`).
    pub fn endpoint(&self, id: &NodeId, my_port: u16) -> String {
        match self.nodes.get(id) {
            Some(n) => format!("{}:{}", n.ip, n.port),
            None => format!("{}:{my_port}", self.my_ip),
        }
    }

    /// Take a new config epoch above every other (Redis's
    /// `clusterBumpConfigEpochWithoutConsensus`, used when a slot is taken over by SETSLOT):
    /// only when this node's epoch is not already the greatest, or is shared.
    pub fn bump_without_consensus(&mut self) -> bool {
        let max = self
            .nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch);
        if self.config_epoch == 0 || self.config_epoch != max {
            self.current_epoch += 1;
            self.config_epoch = self.current_epoch;
            self.dirty = true;
            crate::log_notice!("New configEpoch set to {}", self.config_epoch);
            return true;
        }
        false
    }

    /// Remove a node (CLUSTER FORGET): its slots become unassigned, slots moving to or
    /// from it stay where they are, its reports are dropped; gossip cannot bring it back for
    /// a minute.
    pub fn forget(&mut self, id: &NodeId, now_ms: u64) {
        self.nodes.remove(id);
        self.owners.reassign(id, None);
        self.migrating.retain(|_, to| to != id);
        self.importing.retain(|_, from| from != id);
        for n in self.nodes.values_mut() {
            n.fail_reports.retain(|(who, _)| who != id);
        }
        self.blacklist.insert(*id, now_ms + BLACKLIST_MS);
        self.dirty = true;
    }

    /// This node becomes a replica of `master` (Redis's `clusterSetMaster`: a master gives
    /// up its slots and any migration first). The caller starts the replication.
    pub fn set_master(&mut self, master: NodeId) {
        if self.i_am_master() {
            let me = self.id;
            self.owners.reassign(&me, None);
            self.migrating.clear();
            self.importing.clear();
        }
        self.my_flags = (self.my_flags | flag::SLAVE) & !flag::MASTER;
        self.my_master = Some(master);
        self.dirty = true;
    }

    /// The node's CLUSTER NODES line, without the newline.
    pub fn describe(&self, n: &Node, runs: &[(u16, u16, NodeId)]) -> String {
        let master = n.master.map_or("-".to_string(), |m| node::id_text(&m));
        let linked = if n.link_connected() {
            "connected"
        } else {
            "disconnected"
        };
        let mut line = format!(
            "{} {}:{}@{}{} {} {master} {} {} {} {linked}",
            node::id_text(&n.id),
            n.ip,
            n.port,
            n.cport,
            if n.hostname.is_empty() {
                String::new()
            } else {
                format!(",{}", n.hostname)
            },
            node::flags_text(n.flags),
            n.ping_sent_ms,
            n.pong_received_ms,
            n.config_epoch,
        );
        if n.is_master() {
            line.push_str(&node::ranges_text(&ranges_in(runs, &n.id)));
        }
        line
    }
}

impl Cluster {
    pub fn disabled() -> Self {
        Cluster {
            enabled: false,
            mine: Box::new([]),
            open_slots: AtomicBool::new(false),
            up: AtomicBool::new(false),
            state: Mutex::new(State::new([b'0'; msg::NAME_LEN])),
            saving: Mutex::new(()),
            synced_epochs: Mutex::new(None),
            started: Instant::now(),
            port: 0,
            cport: 0,
        }
    }

    /// Cluster mode: `nodes.conf` loaded, or made with a new ID.
    pub fn start(config: &crate::config::Config, port: u16) -> anyhow::Result<Self> {
        let cport = match config.get_i64("cluster-port") {
            0 => port.wrapping_add(10000),
            p => p as u16,
        };
        let c = Cluster {
            enabled: true,
            mine: (0..SLOTS / 64).map(|_| AtomicU64::new(0)).collect(),
            open_slots: AtomicBool::new(false),
            up: AtomicBool::new(false),
            state: Mutex::new(State::new(node::random_id())),
            saving: Mutex::new(()),
            synced_epochs: Mutex::new(None),
            started: Instant::now(),
            port,
            cport,
        };
        let path = config.get("cluster-config-file").to_string();
        {
            let mut st = c.state.lock();
            if conf::load(&path, &mut st)? {
                crate::log_notice!("Node configuration loaded, I'm {}", node::id_text(&st.id));
            } else {
                crate::log_notice!(
                    "No cluster configuration found, I'm {}",
                    node::id_text(&st.id)
                );
            }
            c.sync_mine(&st);
        }
        c.save(&path)?;
        Ok(c)
    }

    /// The view, locked (never held across I/O but `nodes.conf`'s write).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub fn myself(&self) -> NodeState {
        let s = self.state.lock();
        NodeState {
            id: node::id_text(&s.id),
            current_epoch: s.current_epoch,
            config_epoch: s.config_epoch,
            last_vote_epoch: s.last_vote_epoch,
        }
    }

    pub fn serves(&self, slot: u16) -> bool {
        let s = slot as usize;
        self.mine
            .get(s / 64)
            .is_some_and(|w| w.load(Relaxed) & (1 << (s % 64)) != 0)
    }

    /// Whether some slot is migrating or importing.
    pub fn any_open_slot(&self) -> bool {
        self.open_slots.load(Relaxed)
    }

    /// `cluster_state:ok` as last computed (by the cron, every 100 ms, or CLUSTER INFO).
    pub fn is_ok(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// Make the hot-path bitmap and flags match the view (after any change of owners or of
    /// migrating/importing slots).
    pub fn sync_mine(&self, st: &State) {
        self.open_slots.store(
            !st.migrating.is_empty() || !st.importing.is_empty(),
            Relaxed,
        );
        let mut words = vec![0u64; self.mine.len()];
        for (a, b, _) in st.runs().iter().filter(|(_, _, o)| *o == st.id) {
            slots::fill_bits(&mut words, *a as usize, *b as usize);
        }
        for (word, bits) in self.mine.iter().zip(words) {
            word.store(bits, Relaxed);
        }
    }

    /// Serve (or stop serving) every slot of `slots` (ADDSLOTS, DELSLOTS …).
    pub fn assign(&self, slots: &[u16], on: bool) {
        let mut st = self.state.lock();
        let me = st.id;
        for &s in slots {
            st.owners.set(s as usize, on.then_some(me));
            if !on {
                st.importing.remove(&s);
            }
        }
        st.dirty = true;
        self.sync_mine(&st);
    }

    pub fn slots_assigned(&self) -> usize {
        self.state.lock().owners.assigned()
    }

    /// `cluster_state` and `cluster_size`, brought up to date as Redis's
    /// `clusterUpdateState` does (also run by the bus cron every 100 ms): `fail` while a
    /// slot has no live owner (with `cluster-require-full-coverage`), or while fewer than a
    /// majority of the masters serving slots are reachable; a master waits 2 s after start
    /// before any change, and after being in a minority waits the rejoin delay
    /// (`cluster-node-timeout` clamped to 0.5 … 5 s) before it turns `ok`.
    pub fn state_and_size(&self, config: &crate::config::Config) -> (bool, usize) {
        let mut st = self.state.lock();
        let runs = st.runs();
        let (size, reachable) = masters_in(&st, &runs);
        if st.i_am_master() && !st.ok && self.started.elapsed() < WRITABLE_DELAY {
            return (false, size);
        }
        let now = crate::util::now_ms();
        let mut ok = true;
        if config.get("cluster-require-full-coverage") != "no" {
            let covered: usize = runs.iter().map(|(a, b, _)| (b - a) as usize + 1).sum();
            ok = covered == SLOTS
                && runs.iter().all(|(_, _, id)| {
                    *id == st.id || st.nodes.get(id).is_some_and(|n| !n.has(flag::FAIL))
                });
        }
        if reachable < size / 2 + 1 {
            ok = false;
            st.among_minority_ms = now;
        }
        if ok != st.ok {
            let rejoin_ms = config.get_i64("cluster-node-timeout").clamp(500, 5000) as u64;
            if ok && st.i_am_master() && now.saturating_sub(st.among_minority_ms) < rejoin_ms {
                return (false, size);
            }
            st.ok = ok;
            self.up.store(ok, Relaxed);
            crate::log_notice!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
        }
        (st.ok, size)
    }

    /// Write `nodes.conf` (atomically: temp file, fsync, rename).
    pub fn save(&self, path: &str) -> anyhow::Result<()> {
        let _one_at_a_time = self.saving.lock();
        let (text, epochs) = {
            let mut st = self.state.lock();
            st.dirty = false;
            let epochs = (st.current_epoch, st.config_epoch, st.last_vote_epoch);
            (self.nodes_text(&st, true), epochs)
        };
        let durable = *self.synced_epochs.lock() != Some(epochs);
        conf::write(path, &text, durable)?;
        if durable {
            *self.synced_epochs.lock() = Some(epochs);
        }
        Ok(())
    }

    /// Bump the current epoch and take it as this node's (CLUSTER BUMPEPOCH).
    pub fn bump_epoch(&self) -> (bool, u64) {
        let mut s = self.state.lock();
        let bumped = s.bump_without_consensus();
        (bumped, s.config_epoch)
    }

    /// CLUSTER RESET: no slots, no other node, a master again; `hard` also a new ID and
    /// epochs back to 0.
    pub fn reset(&self, hard: bool) {
        let mut s = self.state.lock();
        s.owners.clear();
        s.migrating.clear();
        s.importing.clear();
        s.nodes.clear();
        s.my_flags = flag::MASTER;
        s.my_master = None;
        if hard {
            s.current_epoch = 0;
            s.config_epoch = 0;
            s.last_vote_epoch = 0;
            s.id = node::random_id();
            crate::log_notice!("Node hard reset, now I'm {}", node::id_text(&s.id));
        }
        s.dirty = true;
        self.sync_mine(&s);
    }

    /// CLUSTER SET-CONFIG-EPOCH: only on a fresh node (epoch 0, alone).
    pub fn set_config_epoch(&self, epoch: u64) -> Result<(), &'static str> {
        let mut s = self.state.lock();
        if !s.nodes.is_empty() {
            return Err("ERR The user can assign a config epoch only when the node does not know any other node.");
        }
        if s.config_epoch != 0 {
            return Err("ERR Node config epoch is already non-zero");
        }
        s.config_epoch = epoch;
        if s.current_epoch < epoch {
            s.current_epoch = epoch;
        }
        Ok(())
    }

    /// CLUSTER NODES (and, for `nodes.conf`, the `vars` line after it).
    pub fn nodes_text(&self, st: &State, file: bool) -> String {
        let mut out = format!(
            "{} {}:{}@{} myself,{} {} 0 0 {} connected",
            node::id_text(&st.id),
            st.my_ip,
            self.port,
            self.cport,
            node::flags_text(st.my_flags),
            st.my_master.map_or("-".to_string(), |m| node::id_text(&m)),
            st.config_epoch
        );
        let runs = st.runs();
        if st.i_am_master() {
            out.push_str(&node::ranges_text(&ranges_in(&runs, &st.id)));
        }
        for (slot, to) in &st.migrating {
            out.push_str(&format!(" [{slot}->-{}]", node::id_text(to)));
        }
        for (slot, from) in &st.importing {
            out.push_str(&format!(" [{slot}-<-{}]", node::id_text(from)));
        }
        out.push('\n');
        let mut others: Vec<&Node> = st.nodes.values().collect();
        others.sort_by_key(|n| n.id);
        for n in others {
            if file && n.in_handshake() {
                continue;
            }
            out.push_str(&st.describe(n, &runs));
            out.push('\n');
        }
        if file {
            out.push_str(&format!(
                "vars currentEpoch {} lastVoteEpoch {}\n",
                st.current_epoch, st.last_vote_epoch
            ));
        }
        out
    }
}

/// Masters serving at least one slot, and how many of them are not failing (this node
/// counts as reachable).
pub(super) fn masters_with_slots(st: &State) -> (usize, usize) {
    masters_in(st, &st.runs())
}

fn masters_in(st: &State, runs: &[(u16, u16, NodeId)]) -> (usize, usize) {
    let mut owners: Vec<&NodeId> = runs.iter().map(|(_, _, id)| id).collect();
    owners.sort_unstable();
    owners.dedup();
    let reachable = owners
        .iter()
        .filter(|id| ***id == st.id || st.nodes.get(**id).is_some_and(|n| !n.failing()))
        .count();
    (owners.len(), reachable)
}

/// The ranges of `id` among `runs`.
pub fn ranges_in(runs: &[(u16, u16, NodeId)], id: &NodeId) -> Vec<(u16, u16)> {
    runs.iter()
        .filter(|(_, _, o)| o == id)
        .map(|&(a, b, _)| (a, b))
        .collect()
}
