//! The replication parameters (`crate::replication`): both sides of Redis's protocol.

use super::params::{alias, p, Kind, Param};

const INT_MAX: i64 = i32::MAX as i64;
const LLONG_MAX: i64 = i64::MAX;

pub(super) static REPLICATION: &[Param] = &[
    // Replication (replica side, `crate::replication`): the master to follow at start
    // (REPLICAOF changes it at run time), and the credentials for its handshake.
    alias("replicaof", "slaveof", Kind::Words, "", false),
    p("masterauth", Kind::Str, "", true),
    p("masteruser", Kind::Str, "", true),
    // Replication (master side): the stream's backlog, full syncs, PINGs, WAIT's limits.
    p("repl-diskless-sync", Kind::Bool, "yes", true),
    p(
        "repl-diskless-sync-delay",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "5",
        true,
    ),
    p(
        "repl-timeout",
        Kind::Int {
            min: 1,
            max: INT_MAX,
        },
        "60",
        true,
    ),
    alias(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        Kind::Int {
            min: 1,
            max: INT_MAX,
        },
        "10",
        true,
    ),
    alias(
        "min-replicas-to-write",
        "min-slaves-to-write",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "0",
        true,
    ),
    alias(
        "min-replicas-max-lag",
        "min-slaves-max-lag",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "10",
        true,
    ),
    p(
        "repl-diskless-sync-max-replicas",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "0",
        true,
    ),
    p(
        "repl-backlog-size",
        Kind::Memory {
            min: 1,
            max: LLONG_MAX,
        },
        "1048576",
        true,
    ),
    p(
        "repl-backlog-ttl",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "3600",
        true,
    ),
    alias(
        "replica-read-only",
        "slave-read-only",
        Kind::Bool,
        "yes",
        true,
    ),
    // Replica side: stale data while the link is down, eviction left to the master, and
    // what a replica tells its master (and Sentinel, through the master's INFO) about itself.
    alias(
        "replica-lazy-flush",
        "slave-lazy-flush",
        Kind::Bool,
        "no",
        true,
    ),
    alias(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        Kind::Bool,
        "yes",
        true,
    ),
    alias(
        "replica-ignore-maxmemory",
        "slave-ignore-maxmemory",
        Kind::Bool,
        "yes",
        true,
    ),
    p("replica-announced", Kind::Bool, "yes", true),
    alias(
        "replica-announce-ip",
        "slave-announce-ip",
        Kind::Str,
        "",
        true,
    ),
    alias(
        "replica-priority",
        "slave-priority",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "100",
        true,
    ),
    alias(
        "replica-announce-port",
        "slave-announce-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        true,
    ),
    // How a full sync's payload is loaded (`replication::payload`).
    p(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
        true,
    ),
];
