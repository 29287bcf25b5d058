//! CLUSTER, ASKING, READONLY, READWRITE (issue 16). Without `cluster-enabled yes` each
//! answers as Redis 7.0 does on a server without cluster support, so clients probing for a
//! cluster learn it is standalone. In cluster mode (`crate::cluster`) this node's own state is
//! served: its ID, slots, epochs, `nodes.conf`, the keys of a slot (found in the one shard
//! that holds the slot). What needs other nodes (MEET, SETSLOT, REPLICATE, FAILOVER) waits for
//! the cluster bus: a node that knows no other answers about them as Redis's lone node does,
//! or says the bus is not built.

use resp::Argv;

use super::parse_int;
use crate::cluster::slot::{key_slot, SLOTS};
use crate::cmd::{CmdError, CmdResult, Ctx};

const DISABLED: &str = "ERR This instance has cluster support disabled";

/// ASKING, READONLY, READWRITE: connection flags of cluster clients (no redirection to other
/// nodes yet, so nothing reads them).
pub fn connection_flag(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    if !ctx.srv.cluster.enabled {
        return Err(DISABLED.into());
    }
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
        "info" => info(ctx),
        "nodes" => {
            let text = ctx.srv.cluster.nodes_text(port(ctx), false);
            ctx.out.verbatim("txt", text.as_bytes());
        }
        "slots" => slots(ctx),
        "shards" => shards(ctx),
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
            let n = keys_in_slot(ctx, slot, usize::MAX).len();
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
        "links" => ctx.out.array(0),
        "reset" => {
            let hard = match argv.len() {
                2 => false,
                3 if argv.get(2).eq_ignore_ascii_case(b"hard") => true,
                3 if argv.get(2).eq_ignore_ascii_case(b"soft") => false,
                3 => return Err("ERR syntax error".into()),
                _ => {
                    return Err(format!(
                        "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
                        String::from_utf8_lossy(argv.get(1))
                    )
                    .into())
                }
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
        "forget" if argv.get(2) == ctx.srv.cluster.myself().id.as_bytes() => {
            return Err("ERR I tried hard but I can't forget myself...".into());
        }
        "replicate" if argv.get(2) == ctx.srv.cluster.myself().id.as_bytes() => {
            return Err("ERR Can't replicate myself".into());
        }
        "replicas" | "slaves" | "count-failure-reports" | "forget" | "replicate" => {
            return Err(
                format!("ERR Unknown node {}", String::from_utf8_lossy(argv.get(2))).into(),
            );
        }
        "failover" => {
            return Err("ERR You should send CLUSTER FAILOVER to a replica".into());
        }
        "help" => help(ctx),
        _ => {
            return Err(format!(
                "ERR CLUSTER {} needs the cluster bus, which Basalt does not have yet",
                sub.to_ascii_uppercase()
            )
            .into())
        }
    }
    Ok(())
}

fn port(ctx: &Ctx<'_, '_>) -> u16 {
    ctx.srv.config.read().port()
}

fn save(ctx: &Ctx<'_, '_>) -> Result<(), CmdError> {
    let path = ctx.srv.config.read().get("cluster-config-file").to_string();
    ctx.srv
        .cluster
        .save(&path, port(ctx))
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
        if add && cluster.serves(s) {
            return Err(format!("ERR Slot {s} is already busy").into());
        }
        if !add && !cluster.serves(s) {
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
/// holding that slot.
fn keys_in_slot(ctx: &Ctx<'_, '_>, slot: u16, max: usize) -> Vec<Vec<u8>> {
    let store = &ctx.srv.store;
    let shard = store.lock_shard(store.slot_shard(slot));
    shard
        .db_ref(0)
        .keys()
        .iter()
        .filter(|(k, _)| key_slot(k) == slot)
        .take(max)
        .map(|(k, _)| k.to_vec())
        .collect()
}

fn info(ctx: &mut Ctx<'_, '_>) {
    let cluster = &ctx.srv.cluster;
    let (ok, size) = cluster.state_and_size(&ctx.srv.config.read());
    let assigned = cluster.slots_assigned();
    let me = cluster.myself();
    let text = format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{assigned}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\ncluster_size:{size}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
        if ok { "ok" } else { "fail" },
        me.current_epoch,
        me.config_epoch,
    );
    ctx.out.verbatim("txt", text.as_bytes());
}

/// CLUSTER SLOTS: each range with its master (this node: its IP is not known before another
/// node tells it, so empty, as Redis's lone node shows it).
fn slots(ctx: &mut Ctx<'_, '_>) {
    let ranges = ctx.srv.cluster.ranges();
    let id = ctx.srv.cluster.myself().id;
    let port = i64::from(port(ctx));
    ctx.out.array(ranges.len());
    for (a, b) in ranges {
        ctx.out.array(3);
        ctx.out.int(i64::from(a));
        ctx.out.int(i64::from(b));
        ctx.out.array(4);
        ctx.out.bulk(b"");
        ctx.out.int(port);
        ctx.out.bulk(id.as_bytes());
        ctx.out.map(0);
    }
}

/// CLUSTER SHARDS: one shard, this node's.
fn shards(ctx: &mut Ctx<'_, '_>) {
    let ranges = ctx.srv.cluster.ranges();
    let id = ctx.srv.cluster.myself().id;
    let port = i64::from(port(ctx));
    let offset = ctx.srv.repl.feed.offset();
    ctx.out.array(1);
    ctx.out.map(2);
    ctx.out.bulk(b"slots");
    ctx.out.array(ranges.len() * 2);
    for (a, b) in ranges {
        ctx.out.int(i64::from(a));
        ctx.out.int(i64::from(b));
    }
    ctx.out.bulk(b"nodes");
    ctx.out.array(1);
    ctx.out.map(7);
    ctx.out.bulk(b"id");
    ctx.out.bulk(id.as_bytes());
    ctx.out.bulk(b"port");
    ctx.out.int(port);
    ctx.out.bulk(b"ip");
    ctx.out.bulk(b"");
    ctx.out.bulk(b"endpoint");
    ctx.out.bulk(b"");
    ctx.out.bulk(b"role");
    ctx.out.bulk(b"master");
    ctx.out.bulk(b"replication-offset");
    ctx.out.int(offset);
    ctx.out.bulk(b"health");
    ctx.out.bulk(b"online");
}

fn help(ctx: &mut Ctx<'_, '_>) {
    super::reply_help(
        ctx,
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "    Serve these slots.",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Serve these ranges of slots.",
            "BUMPEPOCH",
            "    Take a new configuration epoch.",
            "COUNTKEYSINSLOT <slot>",
            "    Count the keys of <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Stop serving these slots.",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Stop serving these ranges of slots.",
            "FLUSHSLOTS",
            "    Stop serving every slot (the database must be empty).",
            "GETKEYSINSLOT <slot> <count>",
            "    List up to <count> keys of <slot>.",
            "INFO",
            "    The cluster's state as this node sees it.",
            "KEYSLOT <key>",
            "    The hash slot of <key>.",
            "MYID",
            "    This node's ID.",
            "NODES",
            "    The nodes, in nodes.conf's format.",
            "SAVECONFIG",
            "    Write nodes.conf now.",
            "SET-CONFIG-EPOCH <epoch>",
            "    Set a new node's configuration epoch.",
            "SHARDS",
            "    The shards, their slots and nodes.",
            "SLOTS",
            "    The slot ranges and the nodes serving them.",
        ],
    );
}
