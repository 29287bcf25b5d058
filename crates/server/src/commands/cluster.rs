//! CLUSTER, ASKING, READONLY, READWRITE (issue 16). Without `cluster-enabled yes` each
//! answers as Redis 7.0 does on a server without cluster support, so clients probing for a
//! cluster learn it is standalone. In cluster mode (`crate::cluster`) the subcommands that
//! change the view are here (slots, MEET, FORGET, REPLICATE, SETSLOT, epochs, RESET); those
//! that show it (INFO, NODES, SLOTS, SHARDS, LINKS, REPLICAS …) are in `cluster_view.rs`.

use resp::Argv;

use super::parse_int;
use crate::cluster::node;
use crate::cluster::slot::{key_slot, SLOTS};
use crate::cmd::{CmdError, CmdResult, Ctx};

const DISABLED: &str = "ERR This instance has cluster support disabled";

/// ASKING, READONLY, READWRITE: connection flags of cluster clients, read by
/// `cluster::redirect` (ASKING lasts one command, or one transaction).
pub fn connection_flag(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if !ctx.srv.cluster.enabled {
        return Err(DISABLED.into());
    }
    let c = &mut *ctx.client;
    match ctx.spec.name {
        "asking" => c.cluster_asking = true,
        "readonly" => c.cluster_readonly = true,
        _ => c.cluster_readonly = false,
    }
    let _ = argv;
    ctx.out.ok();
    Ok(())
}

pub fn subcommand(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if !ctx.srv.cluster.enabled {
        return Err(DISABLED.into());
    }
    let sub = String::from_utf8_lossy(argv.get(1)).to_ascii_lowercase();
    match sub.as_str() {
        "myid" => ctx.out.bulk(ctx.srv.cluster.myself().id.as_bytes()),
        "keyslot" => ctx.out.int(i64::from(key_slot(argv.get(2)))),
        "info"
        | "nodes"
        | "slots"
        | "shards"
        | "links"
        | "replicas"
        | "slaves"
        | "count-failure-reports"
        | "help" => return super::cluster_view::show(ctx, &sub, argv),
        "meet" if argv.len() == 4 || argv.len() == 5 => meet(ctx, &argv)?,
        "forget" if argv.len() == 3 => forget(ctx, argv.get(2))?,
        "replicate" if argv.len() == 3 => replicate(ctx, argv.get(2))?,
        "setslot" if argv.len() >= 4 => setslot(ctx, &argv)?,
        "addslots" | "delslots" => {
            let slots = (2..argv.len())
                .map(|i| slot_arg(argv.get(i)))
                .collect::<Result<Vec<_>, _>>()?;
            change_slots(ctx, &slots, sub == "addslots")?;
        }
        "addslotsrange" | "delslotsrange" => {
            if argv.len() % 2 == 1 {
                return Err(
                    format!("ERR wrong number of arguments for 'cluster|{sub}' command").into(),
                );
            }
            let mut slots = Vec::new();
            for i in (2..argv.len()).step_by(2) {
                let (a, b) = (slot_arg(argv.get(i))?, slot_arg(argv.get(i + 1))?);
                if a > b {
                    return Err(format!(
                        "ERR start slot number {a} is greater than end slot number {b}"
                    )
                    .into());
                }
                slots.extend(a..=b);
            }
            change_slots(ctx, &slots, sub == "addslotsrange")?;
        }
        "flushslots" => {
            if ctx.all_shards().db_len(0) != 0 {
                return Err("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.".into());
            }
            let all: Vec<u16> = (0..SLOTS as u16).collect();
            ctx.srv.cluster.assign(&all, false);
            save(ctx)?;
            ctx.out.ok();
        }
        "countkeysinslot" => {
            let slot = parse_int(argv.get(2))?;
            let slot = u16::try_from(slot)
                .ok()
                .filter(|&s| (s as usize) < SLOTS)
                .ok_or_else(|| CmdError::from("ERR Invalid slot"))?;
            let store = &ctx.srv.store;
            let n = store
                .lock_shard(store.slot_shard(slot))
                .db_ref(0)
                .keys_in_slot(slot);
            ctx.out.int(n as i64);
        }
        "getkeysinslot" => {
            let slot = parse_int(argv.get(2))?;
            let count = parse_int(argv.get(3))?;
            let slot = u16::try_from(slot).ok().filter(|&s| (s as usize) < SLOTS);
            let (Some(slot), Ok(count)) = (slot, usize::try_from(count)) else {
                return Err("ERR Invalid slot or number of keys".into());
            };
            let keys = keys_in_slot(ctx, slot, count);
            ctx.out.array(keys.len());
            for k in keys {
                ctx.out.bulk(&k);
            }
        }
        "saveconfig" => {
            save(ctx)?;
            ctx.out.ok();
        }
        "bumpepoch" => {
            let (bumped, epoch) = ctx.srv.cluster.bump_epoch();
            save(ctx)?;
            let word = if bumped { "BUMPED" } else { "STILL" };
            ctx.out.simple(&format!("{word} {epoch}"));
        }
        "set-config-epoch" => {
            let epoch = parse_int(argv.get(2))?;
            if epoch < 0 {
                return Err(format!("ERR Invalid config epoch specified: {epoch}").into());
            }
            ctx.srv.cluster.set_config_epoch(epoch as u64)?;
            save(ctx)?;
            ctx.out.ok();
        }
        "reset" => {
            let hard = match argv.len() {
                2 => false,
                3 if argv.get(2).eq_ignore_ascii_case(b"hard") => true,
                3 if argv.get(2).eq_ignore_ascii_case(b"soft") => false,
                3 => return Err("ERR syntax error".into()),
                _ => return Err(unknown_subcommand(&argv)),
            };
            if ctx.all_shards().db_len(0) != 0 {
                return Err(
                    "ERR CLUSTER RESET can't be called with master nodes containing keys".into(),
                );
            }
            ctx.srv.cluster.reset(hard);
            save(ctx)?;
            ctx.out.ok();
        }
        "failover" if argv.len() <= 3 => failover(ctx, &argv)?,
        _ => return Err(unknown_subcommand(&argv)),
    }
    Ok(())
}

/// Redis's reply to a subcommand it does not know, or given the wrong number of arguments.
pub(super) fn unknown_subcommand(argv: &Argv<'_>) -> CmdError {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
        String::from_utf8_lossy(argv.get(1))
    )
    .into()
}

pub(super) fn save(ctx: &Ctx<'_, '_>) -> Result<(), CmdError> {
    let path = ctx.srv.config.read().get("cluster-config-file").to_string();
    ctx.srv
        .cluster
        .save(&path)
        .map_err(|e| format!("ERR error saving the cluster node config: {e}").into())
}

/// A slot argument (Redis's `getSlotOrReply`).
fn slot_arg(arg: &[u8]) -> Result<u16, CmdError> {
    resp::parse_i64(arg)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|&s| (s as usize) < SLOTS)
        .ok_or_else(|| "ERR Invalid or out of range slot".into())
}

/// ADDSLOTS/DELSLOTS and their RANGE forms: every slot checked before any changes.
fn change_slots(ctx: &mut Ctx<'_, '_>, slots: &[u16], add: bool) -> Result<(), CmdError> {
    let cluster = &ctx.srv.cluster;
    let mut seen = vec![false; SLOTS];
    for &s in slots {
        let owned = cluster.lock().owners[s as usize].is_some();
        if add && owned {
            return Err(format!("ERR Slot {s} is already busy").into());
        }
        if !add && !owned {
            return Err(format!("ERR Slot {s} is already unassigned").into());
        }
        if std::mem::replace(&mut seen[s as usize], true) {
            return Err(format!("ERR Slot {s} specified multiple times").into());
        }
    }
    cluster.assign(slots, add);
    save(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// Up to `max` keys of `slot` (database 0, the only one in cluster mode), from the one shard
/// holding that slot: the walk stops once it found them, or every key the slot's count says
/// it has.
fn keys_in_slot(ctx: &Ctx<'_, '_>, slot: u16, max: usize) -> Vec<Vec<u8>> {
    let store = &ctx.srv.store;
    let shard = store.lock_shard(store.slot_shard(slot));
    let db = shard.db_ref(0);
    let want = max.min(db.keys_in_slot(slot));
    if want == 0 {
        return Vec::new();
    }
    db.keys()
        .iter()
        .filter(|(k, _)| key_slot(k) == slot)
        .take(want)
        .map(|(k, _)| k.to_vec())
        .collect()
}

/// CLUSTER MEET ip port [cport]: a handshake starts; the bus completes it.
fn meet(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>) -> Result<(), CmdError> {
    let text = |i: usize| String::from_utf8_lossy(argv.get(i)).into_owned();
    let port = resp::parse_i64(argv.get(3)).ok_or_else(|| {
        CmdError::from(format!("ERR Invalid TCP base port specified: {}", text(3)))
    })?;
    let cport = if argv.len() == 5 {
        resp::parse_i64(argv.get(4)).ok_or_else(|| {
            CmdError::from(format!("ERR Invalid TCP bus port specified: {}", text(4)))
        })?
    } else {
        port + 10000
    };
    let ports = u16::try_from(port).ok().zip(u16::try_from(cport).ok());
    let started = ports.is_some_and(|(p, c)| {
        let mut st = ctx.srv.cluster.lock();
        crate::cluster::bus::start_handshake(&mut st, &text(2), p, c)
    });
    if !started {
        return Err(format!(
            "ERR Invalid node address specified: {}:{}",
            text(2),
            text(3)
        )
        .into());
    }
    ctx.out.ok();
    Ok(())
}

/// CLUSTER FORGET id: the node goes, and is not learned again from gossip for a minute.
fn forget(ctx: &mut Ctx<'_, '_>, id: &[u8]) -> Result<(), CmdError> {
    let unknown = || CmdError::from(format!("ERR Unknown node {}", String::from_utf8_lossy(id)));
    let id = node::parse_id(id).ok_or_else(unknown)?;
    {
        let mut st = ctx.srv.cluster.lock();
        if id == st.id {
            return Err("ERR I tried hard but I can't forget myself...".into());
        }
        if !st.nodes.contains_key(&id) {
            return Err(unknown());
        }
        if st.my_master == Some(id) {
            return Err("ERR Can't forget my master!".into());
        }
        st.forget(&id, crate::util::now_ms());
        ctx.srv.cluster.sync_mine(&st);
    }
    save(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// CLUSTER REPLICATE id: this node (empty, serving no slot) replicates that master.
fn replicate(ctx: &mut Ctx<'_, '_>, id: &[u8]) -> Result<(), CmdError> {
    let unknown = || CmdError::from(format!("ERR Unknown node {}", String::from_utf8_lossy(id)));
    let id = node::parse_id(id).ok_or_else(unknown)?;
    let empty = ctx.all_shards().db_len(0) == 0;
    let (ip, port) = {
        let mut st = ctx.srv.cluster.lock();
        if id == st.id {
            return Err("ERR Can't replicate myself".into());
        }
        let master = st.nodes.get(&id).ok_or_else(unknown)?;
        if !master.is_master() {
            return Err("ERR I can only replicate a master, not a replica.".into());
        }
        let (ip, port) = (master.ip.clone(), master.port);
        if st.i_am_master() && (st.slot_count(&st.id) != 0 || !empty) {
            return Err(
                "ERR To set a master the node must be empty and without assigned slots.".into(),
            );
        }
        st.set_master(id);
        ctx.srv.cluster.sync_mine(&st);
        (ip, port)
    };
    if let Some(me) = ctx.srv.me.upgrade() {
        let follows = ctx
            .srv
            .repl
            .master()
            .is_some_and(|m| m.host == ip && m.port == port);
        if !follows {
            me.repl.follow(&me, &ip, port, "");
        }
    }
    save(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// CLUSTER SETSLOT slot MIGRATING|IMPORTING id, STABLE, NODE id (Redis's checks and
/// errors, in its order).
fn setslot(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>) -> Result<(), CmdError> {
    if !ctx.srv.cluster.lock().i_am_master() {
        return Err("ERR Please use SETSLOT only with masters.".into());
    }
    let slot = slot_arg(argv.get(2))?;
    let action = String::from_utf8_lossy(argv.get(3)).to_ascii_lowercase();
    let bad = || {
        CmdError::from(
            "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
        )
    };
    let target = |st: &crate::cluster::State, unknown: &str| -> Result<node::NodeId, CmdError> {
        let raw = argv.get(4);
        let missing = || CmdError::from(format!("ERR {unknown} {}", String::from_utf8_lossy(raw)));
        let id = node::parse_id(raw).ok_or_else(missing)?;
        if id != st.id && !st.nodes.contains_key(&id) {
            return Err(missing());
        }
        if id != st.id && st.nodes.get(&id).is_some_and(|n| !n.is_master()) {
            return Err("ERR Target node is not a master".into());
        }
        Ok(id)
    };
    let keys = keys_in_slot(ctx, slot, 1).len();
    let migrate_ok = ctx.srv.config.read().get("cluster-allow-replica-migration") != "no";
    let (mut follow, mut announce) = (None, false);
    {
        let mut st = ctx.srv.cluster.lock();
        let mine = st.owners[slot as usize] == Some(st.id);
        match action.as_str() {
            "migrating" if argv.len() == 5 => {
                if !mine {
                    return Err(format!("ERR I'm not the owner of hash slot {slot}").into());
                }
                let to = target(&st, "I don't know about node")?;
                st.migrating.insert(slot, to);
            }
            "importing" if argv.len() == 5 => {
                if mine {
                    return Err(format!("ERR I'm already the owner of hash slot {slot}").into());
                }
                let from = target(&st, "I don't know about node")?;
                st.importing.insert(slot, from);
            }
            "stable" if argv.len() == 4 => {
                st.migrating.remove(&slot);
                st.importing.remove(&slot);
            }
            "node" if argv.len() == 5 => {
                let to = target(&st, "Unknown node")?;
                if mine && to != st.id && keys != 0 {
                    return Err(format!("ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot.").into());
                }
                if keys == 0 {
                    st.migrating.remove(&slot);
                }
                st.owners.set(slot as usize, Some(to));
                if mine && to != st.id && st.slot_count(&st.id) == 0 && migrate_ok {
                    // A master left without slots replicates the node that took them.
                    st.set_master(to);
                    follow = st.nodes.get(&to).map(|n| (n.ip.clone(), n.port));
                }
                if to == st.id && st.importing.remove(&slot).is_some() {
                    // Taking the slot over: a new epoch, so the cluster learns the change;
                    // told at once.
                    if st.bump_without_consensus() {
                        crate::log_notice!("configEpoch updated after importing slot {slot}");
                    }
                    announce = true;
                }
            }
            _ => return Err(bad()),
        }
        st.dirty = true;
        ctx.srv.cluster.sync_mine(&st);
    }
    if let (Some((ip, port)), Some(me)) = (follow, ctx.srv.me.upgrade()) {
        me.repl.follow(&me, &ip, port, "");
    }
    if announce {
        crate::cluster::bus::broadcast_pong(ctx.srv);
    }
    save(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// CLUSTER FAILOVER [FORCE|TAKEOVER], sent to a replica: TAKEOVER claims the master's
/// slots at once under a new epoch; FORCE starts an election without waiting for the
/// master; plain asks the master (MFSTART) to hold writes until this replica caught up.
fn failover(ctx: &mut Ctx<'_, '_>, argv: &Argv<'_>) -> Result<(), CmdError> {
    let (mut force, mut takeover) = (false, false);
    if argv.len() == 3 {
        match argv.get(2).to_ascii_lowercase().as_slice() {
            b"force" => force = true,
            b"takeover" => (force, takeover) = (true, true),
            _ => return Err("ERR syntax error".into()),
        }
    }
    let srv = ctx.srv;
    let mut fx = crate::cluster::handle::Effects::default();
    let me = crate::cluster::bus::me(srv);
    {
        let mut st = srv.cluster.lock();
        if st.i_am_master() {
            return Err("ERR You should send CLUSTER FAILOVER to a replica".into());
        }
        let Some(master) = st.my_master.and_then(|m| st.nodes.get(&m)) else {
            return Err("ERR I'm a replica but my master is unknown to me".into());
        };
        if !force && (master.has(crate::cluster::msg::flag::FAIL) || master.link.is_none()) {
            return Err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE".into());
        }
        let master = master.id;
        st.election.reset_manual();
        st.election.mf_end_ms = crate::util::now_ms() + crate::cluster::failover::MF_TIMEOUT_MS;
        if takeover {
            crate::log_warning!("Taking over the master (user request).");
            st.bump_without_consensus();
            crate::cluster::failover::take_over(&mut st, &mut fx);
            srv.cluster.sync_mine(&st);
        } else if force {
            crate::log_warning!("Forced failover user request accepted.");
            st.election.mf_can_start = true;
        } else {
            crate::log_warning!("Manual failover user request accepted.");
            crate::cluster::bus::send_mfstart(&mut st, &me, &master);
        }
    }
    crate::cluster::bus::carry_out(srv, fx);
    ctx.out.ok();
    Ok(())
}
