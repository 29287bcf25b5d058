//! Redis Cluster (issue 16), being built. So far one node's side of it: its ID and epochs,
//! the hash slots it serves (`store::slot` maps keys to slots; in cluster mode a slot's keys
//! live in one shard), `nodes.conf` in Redis's format (`conf.rs`), the CLUSTER commands that
//! read and change them, and the redirections such a node answers (`-CROSSSLOT`,
//! `-CLUSTERDOWN`). The bus (MEET, PING/PONG, failure detection, failover, `-MOVED`/`-ASK`
//! to other nodes) comes next: until then a node knows no other node.

mod conf;
pub mod msg;
pub mod redirect;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub use store::slot;
use store::slot::SLOTS;

/// A master that just started waits this long before it calls the cluster `ok` (Redis's
/// `CLUSTER_WRITABLE_DELAY`: the cluster gets a chance to tell it its slots moved).
const WRITABLE_DELAY: Duration = Duration::from_millis(2000);
/// A master that was in a minority (here: serving no slot, so no quorum of masters with
/// slots was reachable) waits this long after leaving it before the state turns `ok`
/// (Redis's rejoin delay: `cluster-node-timeout` clamped to 500 ms … 5 s).
const REJOIN_DELAY: Duration = Duration::from_millis(5000);

/// This node's cluster state.
pub struct Cluster {
    pub enabled: bool,
    /// The slots this node serves, a bit each (read on every keyed command).
    mine: Box<[AtomicU64]>,
    state: Mutex<NodeState>,
    started: Instant,
    /// When this node last stopped being in a minority (its first slot assigned).
    left_minority: Mutex<Option<Instant>>,
}

/// What `nodes.conf` records of this node.
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    pub id: String,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub last_vote_epoch: u64,
    /// Lines of other nodes read from `nodes.conf`, written back unchanged (the bus that
    /// would use them is not built yet).
    pub others: Vec<String>,
}

/// Why a keyed command is not served here.
#[derive(Debug, PartialEq, Eq)]
pub enum Redirect {
    CrossSlot,
    Unbound,
    Down,
    DownReadOnly,
}

impl Redirect {
    pub fn error(&self) -> &'static str {
        match self {
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot",
            Redirect::Unbound => "CLUSTERDOWN Hash slot not served",
            Redirect::Down => "CLUSTERDOWN The cluster is down",
            Redirect::DownReadOnly => {
                "CLUSTERDOWN The cluster is down and only accepts read commands"
            }
        }
    }
}

impl Cluster {
    pub fn disabled() -> Self {
        Cluster {
            enabled: false,
            mine: Box::new([]),
            state: Mutex::new(NodeState::default()),
            started: Instant::now(),
            left_minority: Mutex::new(None),
        }
    }

    /// Cluster mode: `nodes.conf` loaded, or made with a new ID.
    pub fn start(config: &crate::config::Config, port: u16) -> anyhow::Result<Self> {
        let c = Cluster {
            enabled: true,
            mine: (0..SLOTS / 64).map(|_| AtomicU64::new(0)).collect(),
            state: Mutex::new(NodeState::default()),
            started: Instant::now(),
            left_minority: Mutex::new(None),
        };
        let path = config.get("cluster-config-file").to_string();
        match conf::load(&path)? {
            Some((state, slots)) => {
                for s in slots {
                    c.set_slot(s, true);
                }
                crate::log_notice!("Node configuration loaded, I'm {}", state.id);
                *c.state.lock() = state;
            }
            None => {
                let id = crate::server::random_hex(40);
                crate::log_notice!("No cluster configuration found, I'm {id}");
                c.state.lock().id = id;
            }
        }
        c.save(&path, port)?;
        Ok(c)
    }

    pub fn myself(&self) -> NodeState {
        self.state.lock().clone()
    }

    pub fn serves(&self, slot: u16) -> bool {
        let s = slot as usize;
        self.mine
            .get(s / 64)
            .is_some_and(|w| w.load(Relaxed) & (1 << (s % 64)) != 0)
    }

    fn set_slot(&self, slot: u16, on: bool) {
        let s = slot as usize;
        if let Some(w) = self.mine.get(s / 64) {
            if on {
                w.fetch_or(1 << (s % 64), Relaxed);
            } else {
                w.fetch_and(!(1 << (s % 64)), Relaxed);
            }
        }
    }

    /// Serve (or stop serving) every slot of `slots`.
    pub fn assign(&self, slots: &[u16], on: bool) {
        let had_none = self.slots_assigned() == 0;
        for &s in slots {
            self.set_slot(s, on);
        }
        if had_none && self.slots_assigned() > 0 {
            *self.left_minority.lock() = Some(Instant::now());
        }
    }

    pub fn slots_assigned(&self) -> usize {
        self.mine
            .iter()
            .map(|w| w.load(Relaxed).count_ones() as usize)
            .sum()
    }

    /// This node's slots as ranges.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for s in 0..SLOTS as u16 {
            if !self.serves(s) {
                continue;
            }
            match out.last_mut() {
                Some((_, end)) if *end + 1 == s => *end = s,
                _ => out.push((s, s)),
            }
        }
        out
    }

    /// `cluster_state` and `cluster_size` as Redis's `clusterUpdateState` leaves them: no
    /// update in a master's first two seconds (the state stays `fail`, the size 1).
    pub fn state_and_size(&self, config: &crate::config::Config) -> (bool, usize) {
        if self.started.elapsed() < WRITABLE_DELAY {
            return (false, 1);
        }
        let assigned = self.slots_assigned();
        let full = config.get("cluster-require-full-coverage") == "no" || assigned == SLOTS;
        let rejoined = self
            .left_minority
            .lock()
            .is_none_or(|t| t.elapsed() >= REJOIN_DELAY);
        (full && assigned > 0 && rejoined, usize::from(assigned > 0))
    }

    /// Where a command with these keys' slots goes (Redis's `getNodeByQuery` for a node
    /// that knows no other): `None` to serve it here.
    pub fn check(
        &self,
        config: &crate::config::Config,
        mut slots: impl Iterator<Item = u16>,
        writes: bool,
    ) -> Option<Redirect> {
        let first = slots.next()?;
        if slots.any(|s| s != first) {
            return Some(Redirect::CrossSlot);
        }
        if !self.serves(first) {
            return Some(Redirect::Unbound);
        }
        if !self.state_and_size(config).0 {
            if config.get("cluster-allow-reads-when-down") != "yes" {
                return Some(Redirect::Down);
            }
            if writes {
                return Some(Redirect::DownReadOnly);
            }
        }
        None
    }

    /// Write `nodes.conf` (atomically: temp file, fsync, rename).
    pub fn save(&self, path: &str, port: u16) -> anyhow::Result<()> {
        let text = self.nodes_text(port, true);
        conf::write(path, &text)
    }

    /// Bump the current epoch and take it as this node's (CLUSTER BUMPEPOCH).
    pub fn bump_epoch(&self) -> (bool, u64) {
        let mut s = self.state.lock();
        if s.config_epoch == 0 || s.config_epoch != s.current_epoch {
            s.current_epoch += 1;
            s.config_epoch = s.current_epoch;
            (true, s.config_epoch)
        } else {
            (false, s.config_epoch)
        }
    }

    /// CLUSTER RESET: no slots, no other node; `hard` also a new ID and epochs back to 0.
    pub fn reset(&self, hard: bool) {
        let all: Vec<u16> = (0..SLOTS as u16).collect();
        self.assign(&all, false);
        let mut s = self.state.lock();
        s.others.clear();
        if hard {
            s.current_epoch = 0;
            s.config_epoch = 0;
            s.last_vote_epoch = 0;
            s.id = crate::server::random_hex(40);
            crate::log_notice!("Node hard reset, now I'm {}", s.id);
        }
    }

    /// CLUSTER SET-CONFIG-EPOCH: only on a fresh node (epoch 0, alone).
    pub fn set_config_epoch(&self, epoch: u64) -> Result<(), &'static str> {
        let mut s = self.state.lock();
        if !s.others.is_empty() {
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

    /// This node's CLUSTER NODES line (and, for `nodes.conf`, the others and the `vars`).
    pub fn nodes_text(&self, port: u16, file: bool) -> String {
        let s = self.state.lock();
        let mut line = format!(
            "{} :{port}@{} myself,master - 0 0 {} connected",
            s.id,
            u32::from(port) + 10000,
            s.config_epoch
        );
        for (a, b) in self.ranges() {
            if a == b {
                line.push_str(&format!(" {a}"));
            } else {
                line.push_str(&format!(" {a}-{b}"));
            }
        }
        line.push('\n');
        if file {
            for other in &s.others {
                line.push_str(other);
                line.push('\n');
            }
            line.push_str(&format!(
                "vars currentEpoch {} lastVoteEpoch {}\n",
                s.current_epoch, s.last_vote_epoch
            ));
        }
        line
    }
}
