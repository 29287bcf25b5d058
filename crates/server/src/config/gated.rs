//! Parameters of features Basalt does not have yet: the parts of replication not built yet
//! (issue 15: TLS links, the shutdown wait for replicas), the parts of cluster mode not built
//! yet (issue 16: hostnames, link buffer limits, TLS on the bus),
//! and two it may never have — modules
//! (Redis's C module API) and active defragmentation (it moves allocations with hints from
//! Redis's own jemalloc fork). Each is listed by CONFIG GET with Redis 7.0.15's default,
//! and accepted — in a config file, on the command line, by CONFIG SET — only at that default:
//! a stock redis.conf loads, while a setting that would not be honoured is refused with the
//! feature named. An issue that builds a feature moves its parameters to the main table.

use super::params::{p, Kind, Param};

const INT_MAX: i64 = i32::MAX as i64;
const LLONG_MAX: i64 = i64::MAX;

const fn gated(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    mutable: bool,
    feature: &'static str,
) -> Param {
    let mut param = p(name, kind, default, mutable);
    param.feature = Some(feature);
    param
}

pub(super) static GATED: &[Param] = &[
    gated(
        "repl-disable-tcp-nodelay",
        Kind::Bool,
        "no",
        true,
        "replication",
    ),
    gated(
        "activedefrag",
        Kind::Bool,
        "no",
        true,
        "active defragmentation",
    ),
    gated(
        "replica-ignore-disk-write-errors",
        Kind::Bool,
        "no",
        true,
        "replication",
    ),
    gated(
        "cluster-announce-hostname",
        Kind::Str,
        "",
        true,
        "cluster hostnames",
    ),
    gated("bind-source-addr", Kind::Str, "", true, "replication"),
    gated(
        "enable-module-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        false,
        "modules",
    ),
    gated(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
        true,
        "cluster hostnames",
    ),
    gated(
        "active-defrag-cycle-min",
        Kind::Int { min: 1, max: 99 },
        "1",
        true,
        "active defragmentation",
    ),
    gated(
        "active-defrag-cycle-max",
        Kind::Int { min: 1, max: 99 },
        "25",
        true,
        "active defragmentation",
    ),
    gated(
        "active-defrag-threshold-lower",
        Kind::Int { min: 0, max: 1000 },
        "10",
        true,
        "active defragmentation",
    ),
    gated(
        "active-defrag-threshold-upper",
        Kind::Int { min: 0, max: 1000 },
        "100",
        true,
        "active defragmentation",
    ),
    gated(
        "cluster-announce-tls-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        true,
        "cluster bus TLS",
    ),
    gated(
        "shutdown-timeout",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "10",
        true,
        "replication",
    ),
    gated(
        "active-defrag-max-scan-fields",
        Kind::Int {
            min: 1,
            max: LLONG_MAX,
        },
        "1000",
        true,
        "active defragmentation",
    ),
    gated(
        "cluster-link-sendbuf-limit",
        Kind::Memory {
            min: 0,
            max: LLONG_MAX,
        },
        "0",
        true,
        "cluster link buffer limits",
    ),
    gated(
        "active-defrag-ignore-bytes",
        Kind::Memory {
            min: 1,
            max: LLONG_MAX,
        },
        "104857600",
        true,
        "active defragmentation",
    ),
    gated("tls-cluster", Kind::Bool, "no", true, "cluster bus TLS"),
    gated("tls-replication", Kind::Bool, "no", true, "replication"),
    gated(
        "tls-client-cert-file",
        Kind::Str,
        "",
        true,
        "TLS for replication and cluster links",
    ),
    gated(
        "tls-client-key-file",
        Kind::Str,
        "",
        true,
        "TLS for replication and cluster links",
    ),
    gated(
        "tls-client-key-file-pass",
        Kind::Str,
        "",
        true,
        "TLS for replication and cluster links",
    ),
];
