//! The CLUSTER subcommands that show this node's view of the cluster: INFO, NODES, SLOTS,
//! SHARDS, LINKS, REPLICAS/SLAVES, COUNT-FAILURE-REPORTS and HELP (`cluster.rs` has those
//! that change it).

use resp::Argv;

use crate::cluster::msg::flag;
use crate::cluster::node::{self, NodeId};
use crate::cluster::State;
use crate::cmd::{CmdError, CmdResult, Ctx};

/// Message types as CLUSTER INFO names them, by type number.
const MESSAGE_NAMES: [&str; 11] = [
    "ping",
    "pong",
    "meet",
    "fail",
    "publish",
    "auth-req",
    "auth-ack",
    "update",
    "mfstart",
    "module",
    "publishshard",
];

pub fn show(ctx: &mut Ctx<'_, '_>, sub: &str, argv: Argv<'_>) -> CmdResult {
    match sub {
        "info" => info(ctx),
        "nodes" => {
            let text = {
                let st = ctx.srv.cluster.lock();
                ctx.srv.cluster.nodes_text(&st, false)
            };
            ctx.out.verbatim("txt", text.as_bytes());
        }
        "slots" => slots(ctx),
        "shards" => shards(ctx),
        "links" => links(ctx),
        "replicas" | "slaves" if argv.len() == 3 => replicas(ctx, argv.get(2))?,
        "count-failure-reports" if argv.len() == 3 => {
            let st = ctx.srv.cluster.lock();
            let n = node::parse_id(argv.get(2))
                .and_then(|id| st.nodes.get(&id))
                .ok_or_else(|| unknown(argv.get(2)))?;
            ctx.out.int(n.fail_reports.len() as i64);
        }
        "help" => help(ctx),
        _ => return Err(super::cluster::unknown_subcommand(&argv)),
    }
    Ok(())
}

fn unknown(id: &[u8]) -> CmdError {
    format!("ERR Unknown node {}", String::from_utf8_lossy(id)).into()
}

fn info(ctx: &mut Ctx<'_, '_>) {
    let cluster = &ctx.srv.cluster;
    let (ok, size) = cluster.state_and_size(&ctx.srv.config.read());
    let st = cluster.lock();
    let (mut assigned, mut pfail, mut fail) = (0, 0, 0);
    for (a, b, owner) in st.runs() {
        let n = (b - a) as usize + 1;
        assigned += n;
        match st.nodes.get(&owner) {
            Some(o) if o.has(flag::FAIL) => fail += n,
            Some(o) if o.has(flag::PFAIL) => pfail += n,
            _ => {}
        }
    }
    let mut text = format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\ncluster_size:{size}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
        if ok { "ok" } else { "fail" },
        assigned - pfail - fail,
        st.nodes.len() + 1,
        st.current_epoch,
        st.epoch_of(&st.shard_master()),
    );
    for (word, counts) in [("sent", &st.sent), ("received", &st.received)] {
        for (name, n) in MESSAGE_NAMES.iter().zip(counts.iter()) {
            if *n > 0 {
                text.push_str(&format!("cluster_stats_messages_{name}_{word}:{n}\r\n"));
            }
        }
        text.push_str(&format!(
            "cluster_stats_messages_{word}:{}\r\n",
            counts.iter().sum::<u64>()
        ));
    }
    text.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
    ctx.out.verbatim("txt", text.as_bytes());
}

/// A node's `[ip, port, id, {}]` entry of CLUSTER SLOTS.
fn node_entry(ctx: &mut Ctx<'_, '_>, st: &State, id: &NodeId) {
    let (ip, port) = match st.nodes.get(id) {
        Some(n) => (n.ip.clone(), n.port),
        None => (st.my_ip.clone(), ctx.srv.cluster.port),
    };
    ctx.out.array(4);
    ctx.out.bulk(ip.as_bytes());
    ctx.out.int(i64::from(port));
    ctx.out.bulk(&node::id_text(id).into_bytes());
    ctx.out.map(0);
}

/// CLUSTER SLOTS: each run of slots with one owner, in slot order, with its master and live
/// replicas.
fn slots(ctx: &mut Ctx<'_, '_>) {
    let st = ctx.srv.cluster.lock();
    let runs = st.runs();
    ctx.out.array(runs.len());
    for (a, b, owner) in runs {
        let replicas = st.replicas_of(&owner, false);
        ctx.out.array(3 + replicas.len());
        ctx.out.int(i64::from(a));
        ctx.out.int(i64::from(b));
        node_entry(ctx, &st, &owner);
        for r in &replicas {
            node_entry(ctx, &st, r);
        }
    }
}

/// CLUSTER SHARDS: each master (serving slots or not) with its replicas.
fn shards(ctx: &mut Ctx<'_, '_>) {
    let st = ctx.srv.cluster.lock();
    let mut masters: Vec<NodeId> = st
        .nodes
        .values()
        .filter(|n| n.is_master())
        .map(|n| n.id)
        .collect();
    if st.i_am_master() {
        masters.push(st.id);
    }
    masters.sort();
    let my_offset = ctx.srv.repl.feed.offset();
    ctx.out.array(masters.len());
    for m in masters {
        let ranges = st.ranges_of(&m);
        ctx.out.map(2);
        ctx.out.bulk(b"slots");
        ctx.out.array(ranges.len() * 2);
        for (a, b) in ranges {
            ctx.out.int(i64::from(a));
            ctx.out.int(i64::from(b));
        }
        ctx.out.bulk(b"nodes");
        let mut members = vec![m];
        members.extend(st.replicas_of(&m, true));
        ctx.out.array(members.len());
        for id in members {
            let (ip, port, master, offset, health) = match st.nodes.get(&id) {
                Some(n) => (
                    n.ip.clone(),
                    n.port,
                    n.is_master(),
                    n.repl_offset as i64,
                    if n.has(flag::FAIL) {
                        "failed"
                    } else {
                        "online"
                    },
                ),
                None => (
                    st.my_ip.clone(),
                    ctx.srv.cluster.port,
                    st.i_am_master(),
                    my_offset,
                    "online",
                ),
            };
            ctx.out.map(7);
            ctx.out.bulk(b"id");
            ctx.out.bulk(&node::id_text(&id).into_bytes());
            ctx.out.bulk(b"port");
            ctx.out.int(i64::from(port));
            ctx.out.bulk(b"ip");
            ctx.out.bulk(ip.as_bytes());
            ctx.out.bulk(b"endpoint");
            ctx.out.bulk(ip.as_bytes());
            ctx.out.bulk(b"role");
            ctx.out.bulk(if master { b"master" } else { b"replica" });
            ctx.out.bulk(b"replication-offset");
            ctx.out.int(offset);
            ctx.out.bulk(b"health");
            ctx.out.bulk(health.as_bytes());
        }
    }
}

/// CLUSTER LINKS: this node's outbound links (`to`); links other nodes opened are not
/// listed.
fn links(ctx: &mut Ctx<'_, '_>) {
    let st = ctx.srv.cluster.lock();
    let linked: Vec<(NodeId, u64)> = st
        .nodes
        .values()
        .filter_map(|n| n.link.as_ref().map(|l| (n.id, l.created_ms)))
        .collect();
    ctx.out.array(linked.len());
    for (id, created) in linked {
        ctx.out.map(6);
        ctx.out.bulk(b"direction");
        ctx.out.bulk(b"to");
        ctx.out.bulk(b"node");
        ctx.out.bulk(&node::id_text(&id).into_bytes());
        ctx.out.bulk(b"create-time");
        ctx.out.int(created as i64);
        ctx.out.bulk(b"events");
        ctx.out.bulk(b"r");
        ctx.out.bulk(b"send-buffer-allocated");
        ctx.out.int(0);
        ctx.out.bulk(b"send-buffer-used");
        ctx.out.int(0);
    }
}

/// CLUSTER REPLICAS id: the CLUSTER NODES lines of that master's replicas.
fn replicas(ctx: &mut Ctx<'_, '_>, raw: &[u8]) -> Result<(), CmdError> {
    let st = ctx.srv.cluster.lock();
    let id = node::parse_id(raw).ok_or_else(|| unknown(raw))?;
    let is_master = if id == st.id {
        st.i_am_master()
    } else {
        st.nodes.get(&id).ok_or_else(|| unknown(raw))?.is_master()
    };
    if !is_master {
        return Err("ERR The specified node is not a master".into());
    }
    let lines: Vec<String> = st
        .replicas_of(&id, true)
        .iter()
        .map(|r| match st.nodes.get(r) {
            Some(n) => st.describe(n, &st.runs()),
            None => {
                let own = ctx.srv.cluster.nodes_text(&st, false);
                own.lines().next().unwrap_or("").to_string()
            }
        })
        .collect();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
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
            "COUNT-FAILURE-REPORTS <node-id>",
            "    How many masters recently said the node is failing.",
            "COUNTKEYSINSLOT <slot>",
            "    Count the keys of <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Stop serving these slots.",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Stop serving these ranges of slots.",
            "FLUSHSLOTS",
            "    Stop serving every slot (the database must be empty).",
            "FORGET <node-id>",
            "    Remove a node from this node's view (for a minute gossip cannot re-add it).",
            "GETKEYSINSLOT <slot> <count>",
            "    List up to <count> keys of <slot>.",
            "INFO",
            "    The cluster's state as this node sees it.",
            "KEYSLOT <key>",
            "    The hash slot of <key>.",
            "LINKS",
            "    This node's links on the cluster bus.",
            "MEET <ip> <port> [<bus-port>]",
            "    Join the cluster of the node at this address.",
            "MYID",
            "    This node's ID.",
            "NODES",
            "    The nodes, in nodes.conf's format.",
            "REPLICAS <node-id>",
            "    The replicas of a master.",
            "REPLICATE <node-id>",
            "    Become a replica of this master.",
            "RESET [HARD|SOFT]",
            "    Forget every node and slot (HARD: also a new ID and epochs).",
            "SAVECONFIG",
            "    Write nodes.conf now.",
            "SET-CONFIG-EPOCH <epoch>",
            "    Set a new node's configuration epoch.",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
            "    Move a slot between nodes.",
            "SHARDS",
            "    The shards, their slots and nodes.",
            "SLAVES <node-id>",
            "    The replicas of a master (old name).",
            "SLOTS",
            "    The slot ranges and the nodes serving them.",
        ],
    );
}
