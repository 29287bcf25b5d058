//! Which node serves a command in cluster mode (Redis's `getNodeByQuery`), checked by the
//! dispatcher after ACLs. The keys the command table's key specs find (for EXEC, those of
//! its whole queue) must share one slot; a slot served elsewhere answers `-MOVED`; a slot
//! being migrated away answers `-ASK` for keys no longer here (`-TRYAGAIN` when a
//! multi-key command finds only some); a slot being imported is served to a client that
//! sent ASKING; a replica serves reads of its master's slots to a READONLY client; and
//! while the cluster is down, `-CLUSTERDOWN`. The master's stream and the log replay are
//! obeyed as they are.
//!
//! The common case — one slot, served here, nothing migrating, the cluster up — reads two
//! atomics and never takes the view's lock.

use resp::Argv;

use super::Redirect;
use crate::client::ClientState;
use crate::cmd::{flags, queued_keys, Spec};
use crate::server::Server;
use store::slot::key_slot;

/// `None` to serve the command here.
pub fn of_command(
    srv: &Server,
    client: &ClientState,
    spec: &Spec,
    argv: &Argv<'_>,
    writes: bool,
) -> Option<Redirect> {
    let cluster = &srv.cluster;
    if !cluster.enabled || client.replaying {
        return None;
    }
    let shard_channels = matches!(spec.name, "spublish" | "ssubscribe" | "sunsubscribe");
    let keys: Vec<Vec<u8>> = if spec.name == "exec" {
        queued_keys(client)
    } else if shard_channels {
        // Shard channels are routed as keys are (their specs say `not_key`).
        spec.key_specs
            .iter()
            .filter_map(|ks| ks.indices_strict(argv))
            .flatten()
            .map(|i| argv.get(i).to_vec())
            .collect()
    } else if spec.has_keys() {
        // Arguments Redis finds no keys in are no redirection: the command's own error
        // follows.
        spec.key_refs(argv)
            .unwrap_or_default()
            .iter()
            .filter(|&&(i, _)| i < argv.len())
            .map(|&(i, _)| argv.get(i).to_vec())
            .collect()
    } else {
        return None;
    };
    let first = keys.first()?;
    let slot = key_slot(first);
    let mut cross = false;
    let mut multiple = false;
    for k in &keys[1..] {
        if k != first {
            multiple = true;
            cross |= key_slot(k) != slot;
        }
    }
    if !cross && cluster.serves(slot) && !cluster.any_open_slot() && cluster.is_ok() {
        return None;
    }
    let (owner, migrating_to, importing, readonly_ok, moved_to) = {
        let st = cluster.lock();
        let owner = st.owners[slot as usize];
        let mine = owner == Some(st.id);
        let migrating_to = if mine {
            st.migrating.get(&slot).copied()
        } else {
            None
        };
        let importing = migrating_to.is_none() && st.importing.contains_key(&slot);
        let readonly_ok = (client.cluster_readonly || shard_channels)
            && !writes
            && !st.i_am_master()
            && owner.is_some()
            && st.my_master == owner;
        let at = |id: &super::node::NodeId| st.endpoint(id, cluster.port);
        let moved_to = owner.filter(|_| !mine).map(|o| at(&o));
        (
            owner,
            migrating_to.map(|t| at(&t)),
            importing,
            readonly_ok,
            moved_to,
        )
    };
    if owner.is_none() {
        return Some(Redirect::Unbound);
    }
    if cross {
        return Some(Redirect::CrossSlot);
    }
    if !cluster.is_ok() {
        let config = srv.config.read();
        if shard_channels {
            if config.get("cluster-allow-pubsubshard-when-down") == "no" {
                return Some(Redirect::Down);
            }
        } else if config.get("cluster-allow-reads-when-down") != "yes" {
            return Some(Redirect::Down);
        }
        if writes {
            return Some(Redirect::DownReadOnly);
        }
    }
    let open = migrating_to.is_some() || importing;
    if open && spec.name == "migrate" {
        return None;
    }
    let missing = if open {
        missing_keys(srv, slot, &keys)
    } else {
        0
    };
    if let Some(to) = migrating_to {
        if missing > 0 {
            return Some(if multiple {
                Redirect::TryAgain
            } else {
                Redirect::Ask(slot, to)
            });
        }
    }
    if importing && (client.cluster_asking || spec.has(flags::ASKING)) {
        if multiple && missing > 0 {
            return Some(Redirect::TryAgain);
        }
        return None;
    }
    if readonly_ok {
        return None;
    }
    moved_to.map(|to| Redirect::Moved(slot, to))
}

/// A command a script calls (Redis's `scriptVerifyClusterState`): its keys must be of one
/// slot this node serves (or imports, after ASKING; or its master's, for a READONLY
/// client's read), the cluster must be up, and unless the script allows cross-slot keys,
/// every key it reaches must be of one slot. Keys of a slot being migrated away are not
/// looked for (the script holds the shards).
pub fn in_script(
    srv: &Server,
    client: &ClientState,
    spec: &Spec,
    argv: &Argv<'_>,
    (script_slot, allow_cross): (&mut Option<u16>, bool),
) -> Result<(), String> {
    const NON_LOCAL: &str = "ERR Script attempted to access a non local key in a cluster node";
    let keys: Vec<u16> = spec
        .key_refs(argv)
        .unwrap_or_default()
        .iter()
        .filter(|&&(i, _)| i < argv.len())
        .map(|&(i, _)| key_slot(argv.get(i)))
        .collect();
    let Some(&slot) = keys.first() else {
        return Ok(());
    };
    let cluster = &srv.cluster;
    if keys.iter().any(|&s| s != slot) {
        return Err(NON_LOCAL.into());
    }
    let writes = spec.has(flags::WRITE);
    if !cluster.is_ok() {
        if srv.config.read().get("cluster-allow-reads-when-down") != "yes" {
            return Err(
                "ERR Script attempted to execute a command while the cluster is down".into(),
            );
        }
        if writes {
            return Err("ERR Script attempted to execute a write command while the cluster is down and readonly".into());
        }
    }
    if !cluster.serves(slot) {
        let st = cluster.lock();
        let owner = st.owners[slot as usize];
        let importing = client.cluster_asking && st.importing.contains_key(&slot);
        let replica_read = client.cluster_readonly
            && !writes
            && !st.i_am_master()
            && owner.is_some()
            && st.my_master == owner;
        if owner.is_none() || !(importing || replica_read) {
            return Err(NON_LOCAL.into());
        }
    }
    if !allow_cross {
        match *script_slot {
            None => *script_slot = Some(slot),
            Some(s) if s != slot => {
                return Err(
                    "ERR Script attempted to access keys that do not hash to the same slot".into(),
                )
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// How many of `keys` (all of one slot) are not in this node's database.
fn missing_keys(srv: &Server, slot: u16, keys: &[Vec<u8>]) -> usize {
    let store = &srv.store;
    let shard = store.lock_shard(store.slot_shard(slot));
    let now = crate::util::now_ms();
    let db = shard.db_ref(0);
    keys.iter().filter(|k| db.peek(k, now).is_none()).count()
}
