//! The table of configuration parameters: names, types, limits, defaults — one entry each, read
//! by the redis.conf parser, the command line, CONFIG GET/SET and CONFIG REWRITE alike.

/// How a parameter's text is checked and normalized.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// An integer within bounds.
    Int { min: i64, max: i64 },
    /// A memory size (`1gb`, `100mb`, `10k`…), in bytes, within bounds.
    Memory { min: i64, max: i64 },
    /// A memory size, or a percentage (`10%`, of `maxmemory`; kept with its sign).
    MemoryOrPercent,
    /// One of a fixed list of lowercase words.
    Enum(&'static [&'static str]),
    /// Any string.
    Str,
    /// Space-separated addresses (`bind`).
    List,
    /// An octal file mode (`unixsocketperm`).
    Octal,
    /// `save <seconds> <changes> …` pairs, or an empty string.
    SavePoints,
    /// Keyspace notification classes (`KEA` …), normalized as Redis prints them.
    KeyspaceEvents,
    /// Words, from several arguments in a file or one spaced argument in CONFIG SET
    /// (`oom-score-adj-values 0 200 800`), kept separated by single spaces.
    Words,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <seconds>` groups, normalized to
    /// every class in Redis's order with byte counts.
    BufferLimits,
    /// `oom-score-adj-values`: three scores between -2000 and 2000.
    OomValues,
    /// `latency-tracking-info-percentiles`: numbers from 0 to 100, printed as C's `%f`
    /// trimmed of its trailing zeros.
    Percentiles,
    /// `shutdown-on-sigint`/`-sigterm`: `default` or flags among save, nosave, now, force,
    /// printed in that order.
    ShutdownFlags,
}

/// One configuration parameter.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    /// Another name that reads and writes the same value (old Redis names).
    pub alias: Option<&'static str>,
    pub kind: Kind,
    /// Default, in normalized form.
    pub default: &'static str,
    /// Whether CONFIG SET may change it at run time.
    pub mutable: bool,
    /// A parameter of a feature Basalt does not have yet (replication, TLS …): accepted at
    /// its default value, so stock redis.conf files load, and refused otherwise, naming the
    /// feature, rather than accepted and silently not honoured.
    pub feature: Option<&'static str>,
}

const INT_MAX: i64 = i32::MAX as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LLONG_MAX: i64 = i64::MAX;

pub(super) const fn p(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    mutable: bool,
) -> Param {
    Param {
        name,
        alias: None,
        kind,
        default,
        mutable,
        feature: None,
    }
}

pub(super) const fn alias(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    default: &'static str,
    mutable: bool,
) -> Param {
    Param {
        name,
        alias: Some(alias),
        kind,
        default,
        mutable,
        feature: None,
    }
}

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const FSYNC: &[&str] = &["always", "everysec", "no"];

pub use super::normalize::{normalize, parse_memory};

/// Every parameter Redis 7.0 has, in one table: Basalt's own (below) and those of features
/// still to come (`gated.rs`, accepted only at their defaults). Indexes into it are stable.
pub static PARAMS: std::sync::LazyLock<Vec<Param>> = std::sync::LazyLock::new(|| {
    CORE.iter()
        .chain(super::repl_params::REPLICATION.iter())
        .chain(super::gated::GATED.iter())
        .cloned()
        .collect()
});

/// The parameters Basalt honours. Values not used yet by any subsystem are still validated
/// and reported exactly as Redis does, so existing redis.conf files load.
static CORE: &[Param] = &[
    // Networking.
    p("port", Kind::Int { min: 0, max: 65535 }, "6379", true),
    p("bind", Kind::List, "* -::*", true),
    p("unixsocket", Kind::Str, "", false),
    p("unixsocketperm", Kind::Octal, "0", false),
    p("protected-mode", Kind::Bool, "yes", true),
    // Memory.
    p("disable-thp", Kind::Bool, "yes", false),
    // The process's OOM score (`crate::oom`); `relative` is printed as `yes`, as Redis does.
    p(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
        true,
    ),
    p("oom-score-adj-values", Kind::OomValues, "0 200 800", true),
    p(
        "tcp-backlog",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "511",
        false,
    ),
    p(
        "tcp-keepalive",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "300",
        true,
    ),
    p(
        "timeout",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "0",
        true,
    ),
    p(
        "maxclients",
        Kind::Int {
            min: 1,
            max: UINT_MAX,
        },
        "10000",
        true,
    ),
    // Threads and shards (Basalt's own; Redis has io-threads with a different meaning).
    p("io-threads", Kind::Int { min: 0, max: 128 }, "0", false),
    p("io-threads-do-reads", Kind::Bool, "no", false),
    p("shards", Kind::Int { min: 0, max: 65536 }, "0", false),
    // General.
    p(
        "databases",
        Kind::Int {
            min: 1,
            max: INT_MAX,
        },
        "16",
        false,
    ),
    p("dir", Kind::Str, "", true),
    p("logfile", Kind::Str, "", false),
    p("loglevel", Kind::Enum(LOGLEVELS), "notice", true),
    p("pidfile", Kind::Str, "", false),
    p("daemonize", Kind::Bool, "no", false),
    // `crate::supervise`.
    p(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        false,
    ),
    // Log lines also to syslog (`crate::util::open_syslog`).
    p("syslog-enabled", Kind::Bool, "no", false),
    p("syslog-ident", Kind::Str, "redis", false),
    p(
        "syslog-facility",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        "local0",
        false,
    ),
    // `crate::crash`: the bug report on a panic; the memory test has nothing to test.
    p("crash-log-enabled", Kind::Bool, "yes", true),
    p("crash-memcheck-enabled", Kind::Bool, "yes", true),
    // Redis 7.0 knows one warning to silence, ARM64-COW-BUG (a kernel bug that corrupts a
    // forked child's memory). Basalt never forks, so it never raises it: any list is accepted
    // and there is nothing to silence.
    p("ignore-warnings", Kind::Str, "", true),
    // Old log files kept as `history` in the manifest after a rewrite, instead of deleted
    // (`crate::rewrite::switch`); set back to `no`, they go at once (`crate::aof`).
    p("aof-disable-auto-gc", Kind::Bool, "no", true),
    // An error reply to a command replayed from the log: logged and counted (`ignore`), or
    // the end of the process (`panic`; `panic-on-replicas` panics only on replicas).
    p(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
        true,
    ),
    // SO_MARK of the listening sockets (`crate::net::listen`).
    p(
        "socket-mark-id",
        Kind::Int {
            min: 0,
            max: u32::MAX as i64,
        },
        "0",
        false,
    ),
    // CPU lists for the threads (`crate::affinity`).
    p("server_cpulist", Kind::Str, "", false),
    p("bio_cpulist", Kind::Str, "", false),
    p("aof_rewrite_cpulist", Kind::Str, "", false),
    p("bgsave_cpulist", Kind::Str, "", false),
    // RESTORE payloads and RDB files are decoded in full, so checked in full, whatever this
    // says; it decides what INFO's `dump_payload_sanitizations` counts, as in Redis.
    p(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
        true,
    ),
    p(
        "hz",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "10",
        true,
    ),
    p("dynamic-hz", Kind::Bool, "yes", true),
    p("jemalloc-bg-thread", Kind::Bool, "yes", true),
    p("always-show-logo", Kind::Bool, "no", false),
    p("set-proc-title", Kind::Bool, "yes", false),
    p(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        false,
    ),
    p(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        false,
    ),
    // Security.
    p("requirepass", Kind::Str, "", true),
    p("aclfile", Kind::Str, "", false),
    // TLS (see `crate::tls`).
    p("tls-port", Kind::Int { min: 0, max: 65535 }, "0", true),
    p("tls-cert-file", Kind::Str, "", true),
    p("tls-key-file", Kind::Str, "", true),
    p("tls-key-file-pass", Kind::Str, "", true),
    p("tls-ca-cert-file", Kind::Str, "", true),
    p("tls-ca-cert-dir", Kind::Str, "", true),
    p("tls-dh-params-file", Kind::Str, "", true),
    p(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        "yes",
        true,
    ),
    p("tls-protocols", Kind::Str, "", true),
    p("tls-ciphers", Kind::Str, "", true),
    p("tls-ciphersuites", Kind::Str, "", true),
    p("tls-prefer-server-ciphers", Kind::Bool, "no", true),
    p("tls-session-caching", Kind::Bool, "yes", true),
    p(
        "tls-session-cache-size",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "20480",
        true,
    ),
    p(
        "tls-session-cache-timeout",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "300",
        true,
    ),
    p(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
        true,
    ),
    // Limits.
    p(
        "proto-max-bulk-len",
        Kind::Memory {
            min: 1024 * 1024,
            max: LLONG_MAX,
        },
        "536870912",
        true,
    ),
    p(
        "client-query-buffer-limit",
        Kind::Memory {
            min: 1024 * 1024,
            max: LLONG_MAX,
        },
        "1073741824",
        true,
    ),
    p(
        "maxmemory",
        Kind::Memory {
            min: 0,
            max: LLONG_MAX,
        },
        "0",
        true,
    ),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction", true),
    // Access counters under an LFU policy (`store::lfu`), as Redis keeps them.
    p(
        "lfu-log-factor",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "10",
        true,
    ),
    p(
        "lfu-decay-time",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "1",
        true,
    ),
    p(
        "maxmemory-samples",
        Kind::Int { min: 1, max: 64 },
        "5",
        true,
    ),
    p(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10",
        true,
    ),
    p("maxmemory-clients", Kind::MemoryOrPercent, "0", true),
    p("notify-keyspace-events", Kind::KeyspaceEvents, "", true),
    p(
        "client-output-buffer-limit",
        Kind::BufferLimits,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true,
    ),
    p(
        "proc-title-template",
        Kind::Str,
        "{title} {listen-addr} {server-mode}",
        true,
    ),
    p(
        "tracking-table-max-keys",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "1000000",
        true,
    ),
    p(
        "latency-tracking-info-percentiles",
        Kind::Percentiles,
        "50 99 99.9",
        true,
    ),
    p(
        "latency-monitor-threshold",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "0",
        true,
    ),
    p(
        "slowlog-log-slower-than",
        Kind::Int {
            min: -1,
            max: LLONG_MAX,
        },
        "10000",
        true,
    ),
    p(
        "slowlog-max-len",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "128",
        true,
    ),
    p("latency-tracking", Kind::Bool, "yes", true),
    p("lazyfree-lazy-user-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-server-del", Kind::Bool, "no", true),
    p(
        "acllog-max-len",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "128",
        true,
    ),
    alias(
        "busy-reply-threshold",
        "lua-time-limit",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "5000",
        true,
    ),
    p("shutdown-on-sigint", Kind::ShutdownFlags, "default", true),
    p("shutdown-on-sigterm", Kind::ShutdownFlags, "default", true),
    p(
        "active-expire-effort",
        Kind::Int { min: 1, max: 10 },
        "1",
        true,
    ),
    p("lazyfree-lazy-user-flush", Kind::Bool, "no", true),
    p("lazyfree-lazy-expire", Kind::Bool, "no", true),
    p("lazyfree-lazy-eviction", Kind::Bool, "no", true),
    p("activerehashing", Kind::Bool, "yes", true),
    // Compact encodings of collections.
    alias(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        Kind::Int {
            min: i32::MIN as i64,
            max: INT_MAX,
        },
        "-2",
        true,
    ),
    p(
        "list-compress-depth",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "0",
        true,
    ),
    alias(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "512",
        true,
    ),
    alias(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        Kind::Memory {
            min: 0,
            max: LLONG_MAX,
        },
        "64",
        true,
    ),
    alias(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "128",
        true,
    ),
    alias(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        Kind::Memory {
            min: 0,
            max: LLONG_MAX,
        },
        "64",
        true,
    ),
    // A stream's tail node is full at this many bytes or entries (0: no limit); read by each
    // XADD (`store::stream::NodeLimits`).
    p(
        "stream-node-max-bytes",
        Kind::Memory {
            min: 0,
            max: LLONG_MAX,
        },
        "4096",
        true,
    ),
    p(
        "stream-node-max-entries",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "100",
        true,
    ),
    // A sparse HyperLogLog turns dense when it would grow past this (`store::hll`).
    p(
        "hll-sparse-max-bytes",
        Kind::Memory {
            min: 0,
            max: LLONG_MAX,
        },
        "3000",
        true,
    ),
    p(
        "set-max-intset-entries",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "512",
        true,
    ),
    // Redis Cluster (`crate::cluster`, being built): one node's slots and nodes.conf.
    p("cluster-enabled", Kind::Bool, "no", false),
    p("cluster-config-file", Kind::Str, "nodes.conf", false),
    p("cluster-require-full-coverage", Kind::Bool, "yes", true),
    p("cluster-allow-reads-when-down", Kind::Bool, "no", true),
    p(
        "cluster-migration-barrier",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "1",
        true,
    ),
    p(
        "cluster-allow-pubsubshard-when-down",
        Kind::Bool,
        "yes",
        true,
    ),
    alias(
        "cluster-replica-no-failover",
        "cluster-slave-no-failover",
        Kind::Bool,
        "no",
        true,
    ),
    alias(
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "10",
        true,
    ),
    p("cluster-port", Kind::Int { min: 0, max: 65535 }, "0", false),
    p(
        "cluster-node-timeout",
        Kind::Int {
            min: 0,
            max: LLONG_MAX,
        },
        "15000",
        true,
    ),
    p("cluster-announce-ip", Kind::Str, "", true),
    p(
        "cluster-announce-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        true,
    ),
    p(
        "cluster-announce-bus-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        true,
    ),
    p("cluster-allow-replica-migration", Kind::Bool, "yes", true),
    // Persistence. The append-only log: `appendonly yes` at start-up loads and appends (see
    // `aof.rs`); SAVE and BGSAVE write `dbfilename` (`save.rs`, `bgsave.rs`), the cron starts a
    // BGSAVE at a save point, a `dump.rdb` loads at start-up when the log is off.
    p("save", Kind::SavePoints, "3600 1 300 100 60 10000", true),
    p("stop-writes-on-bgsave-error", Kind::Bool, "yes", true),
    // Deletes the RDB file a replica synced from: Basalt's replicas load from the socket or
    // from a file they install as `dbfilename`, so there is no separate sync file to delete.
    p("rdb-del-sync-files", Kind::Bool, "no", true),
    p("rdb-save-incremental-fsync", Kind::Bool, "yes", true),
    // Testing aid, as in Redis: microseconds of sleep per key written by BGSAVE or a rewrite
    // (outside any lock), read when the save starts.
    p(
        "rdb-key-save-delay",
        Kind::Int {
            min: i32::MIN as i64,
            max: INT_MAX,
        },
        "0",
        true,
    ),
    p("dbfilename", Kind::Str, "dump.rdb", true),
    p("rdbcompression", Kind::Bool, "yes", true),
    p("rdbchecksum", Kind::Bool, "yes", false),
    p("appendonly", Kind::Bool, "no", true),
    p("appendfsync", Kind::Enum(FSYNC), "everysec", true),
    p("appendfilename", Kind::Str, "appendonly.aof", false),
    p("appenddirname", Kind::Str, "appendonlydir", false),
    p("aof-load-truncated", Kind::Bool, "yes", true),
    p("aof-use-rdb-preamble", Kind::Bool, "yes", true),
    p("aof-timestamp-enabled", Kind::Bool, "no", true),
    p("no-appendfsync-on-rewrite", Kind::Bool, "no", true),
    p("aof-rewrite-incremental-fsync", Kind::Bool, "yes", true),
    p(
        "auto-aof-rewrite-percentage",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        "100",
        true,
    ),
    p(
        "auto-aof-rewrite-min-size",
        Kind::Memory {
            min: 0,
            max: LLONG_MAX,
        },
        "67108864",
        true,
    ),
];

/// Find a parameter by name or alias (case-insensitive).
pub fn find(name: &[u8]) -> Option<(usize, &'static Param)> {
    PARAMS.iter().enumerate().find(|(_, p)| {
        p.name.as_bytes().eq_ignore_ascii_case(name)
            || p.alias
                .is_some_and(|a| a.as_bytes().eq_ignore_ascii_case(name))
    })
}

/// Parameters CONFIG GET matches only by their exact name, as Redis's hidden ones (testing aids).
pub const HIDDEN: &[&str] = &["rdb-key-save-delay"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("1mb"), Some(1048576));
        assert_eq!(parse_memory("2g"), Some(2_000_000_000));
        assert_eq!(parse_memory("1x"), None);
    }

    #[test]
    fn messages_match_redis() {
        let (_, timeout) = find(b"TIMEOUT").unwrap();
        assert_eq!(
            normalize(timeout, &["abc".into()]).unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            normalize(timeout, &["-1".into()]).unwrap_err(),
            "argument must be between 0 and 2147483647 inclusive"
        );
        let (_, hz) = find(b"hz").unwrap();
        assert_eq!(normalize(hz, &["600".into()]).unwrap(), "500");
        assert!(find(b"slave-read-only").is_some());
    }
}
