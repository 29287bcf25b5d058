//! The subcommands of the container commands (CLIENT, CONFIG, COMMAND, OBJECT, PUBSUB,
//! FUNCTION, MEMORY, ACL, SCRIPT, SLOWLOG, LATENCY, XGROUP, XINFO), kept apart from the
//! top-level table.

use super::*;

#[rustfmt::skip]
pub(super) static CLIENT_SUBCOMMANDS: [Spec; 16] = [
    spec("client|caching", 3, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Tells whether the next command's keys are cached (tracking in OPTIN or OPTOUT mode).", "6.0.0", "connection", "O(1)", &[arg("mode", "oneof", -1, "", &[], &[arg("yes", "pure-token", -1, "YES", &[], &[]), arg("no", "pure-token", -1, "NO", &[], &[])])]), Some(caching::client_caching), &[]),
    spec("client|getname", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Returns the name of this connection.", "2.6.9", "connection", "O(1)", &[]), Some(connection::client_getname), &[]),
    spec("client|getredir", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Returns the id invalidations are redirected to, 0 for none, -1 when not tracking.", "6.0.0", "connection", "O(1)", &[]), Some(caching::client_getredir), &[]),
    spec("client|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Lists the CLIENT subcommands.", "5.0.0", "connection", "O(1)", &[]), Some(connection::client_help), &[]),
    spec("client|id", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Returns the id of this connection.", "5.0.0", "connection", "O(1)", &[]), Some(connection::client_id), &[]),
    spec("client|info", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output"],
        docs("Describes this connection.", "6.2.0", "connection", "O(1)", &[]), Some(connection::client_info), &[]),
    spec("client|kill", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Closes the connections matching a filter.", "2.4.0", "connection", "O(N) where N is the number of connections", &[arg("filter", "oneof", -1, "", &[], &[arg("ip:port", "string", -1, "", &[], &[]).deprecated("2.8.12"), arg("new-format", "oneof", -1, "", &["multiple"], &[arg("client-id", "integer", -1, "ID", &["optional"], &[]).since("2.8.12"), arg("normal_master_slave_pubsub", "oneof", -1, "TYPE", &["optional"], &[arg("normal", "pure-token", -1, "NORMAL", &[], &[]), arg("master", "pure-token", -1, "MASTER", &[], &[]).since("3.2.0"), arg("slave", "pure-token", -1, "SLAVE", &[], &[]), arg("replica", "pure-token", -1, "REPLICA", &[], &[]).since("5.0.0"), arg("pubsub", "pure-token", -1, "PUBSUB", &[], &[])]).since("2.8.12"), arg("username", "string", -1, "USER", &["optional"], &[]), arg("ip:port", "string", -1, "ADDR", &["optional"], &[]), arg("ip:port", "string", -1, "LADDR", &["optional"], &[]).since("6.2.0"), arg("yes/no", "string", -1, "SKIPME", &["optional"], &[])])])]), Some(connection::client_kill), &[]),
    spec("client|list", -2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &["nondeterministic_output"],
        docs("Lists the open connections.", "2.4.0", "connection", "O(N) where N is the number of connections", &[arg("normal_master_replica_pubsub", "oneof", -1, "TYPE", &["optional"], &[arg("normal", "pure-token", -1, "NORMAL", &[], &[]), arg("master", "pure-token", -1, "MASTER", &[], &[]), arg("replica", "pure-token", -1, "REPLICA", &[], &[]), arg("pubsub", "pure-token", -1, "PUBSUB", &[], &[])]).since("5.0.0"), arg("id", "block", -1, "ID", &["optional"], &[arg("client-id", "integer", -1, "", &["multiple"], &[])]).since("6.2.0")]), Some(connection::client_list), &[]),
    spec("client|no-evict", 3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Excludes this connection from client eviction, or includes it again.", "7.0.0", "connection", "O(1)", &[arg("enabled", "oneof", -1, "", &[], &[arg("on", "pure-token", -1, "ON", &[], &[]), arg("off", "pure-token", -1, "OFF", &[], &[])])]), Some(connection::client_no_evict), &[]),
    spec("client|pause", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Holds every command, or every write, of every client for a while.", "2.9.50", "connection", "O(1)", &[arg("timeout", "integer", -1, "", &[], &[]), arg("mode", "oneof", -1, "", &["optional"], &[arg("write", "pure-token", -1, "WRITE", &[], &[]), arg("all", "pure-token", -1, "ALL", &[], &[])]).since("6.2.0")]), Some(connection::client_pause), &[]),
    spec("client|reply", 3, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Turns replies to this connection on, off, or off for the next command.", "3.2.0", "connection", "O(1)", &[arg("on_off_skip", "oneof", -1, "", &[], &[arg("on", "pure-token", -1, "ON", &[], &[]), arg("off", "pure-token", -1, "OFF", &[], &[]), arg("skip", "pure-token", -1, "SKIP", &[], &[])])]), Some(connection::client_reply), &[]),
    spec("client|setname", 3, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Names this connection.", "2.6.9", "connection", "O(1)", &[arg("connection-name", "string", -1, "", &[], &[])]), Some(connection::client_setname), &[]),
    spec("client|tracking", -3, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Turns server-assisted client-side caching on or off for this connection.", "6.0.0", "connection", "O(1). Some options may introduce additional complexity.", &[arg("status", "oneof", -1, "", &[], &[arg("on", "pure-token", -1, "ON", &[], &[]), arg("off", "pure-token", -1, "OFF", &[], &[])]), arg("client-id", "integer", -1, "REDIRECT", &["optional"], &[]), arg("prefix", "string", -1, "PREFIX", &["optional", "multiple", "multiple_token"], &[]), arg("bcast", "pure-token", -1, "BCAST", &["optional"], &[]), arg("optin", "pure-token", -1, "OPTIN", &["optional"], &[]), arg("optout", "pure-token", -1, "OPTOUT", &["optional"], &[]), arg("noloop", "pure-token", -1, "NOLOOP", &["optional"], &[])]), Some(caching::client_tracking), &[]),
    spec("client|trackinginfo", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Describes this connection's client-side caching state.", "6.2.0", "connection", "O(1)", &[]), Some(caching::client_trackinginfo), &[]),
    spec("client|unblock", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Ends the wait of a client blocked in a blocking command.", "5.0.0", "connection", "O(log N) where N is the number of clients", &[arg("client-id", "integer", -1, "", &[], &[]), arg("timeout_error", "oneof", -1, "", &["optional"], &[arg("timeout", "pure-token", -1, "TIMEOUT", &[], &[]), arg("error", "pure-token", -1, "ERROR", &[], &[])])]), Some(connection::client_unblock), &[]),
    spec("client|unpause", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Ends a CLIENT PAUSE: held commands run.", "6.2.0", "connection", "O(N) Where N is the number of paused clients", &[]), Some(connection::client_unpause), &[]),
];

#[rustfmt::skip]
pub(super) static CONFIG_SUBCOMMANDS: [Spec; 5] = [
    spec("config|get", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Returns configuration parameters matching patterns.", "2.0.0", "server", "O(N) when N is the number of configuration parameters", &[arg("parameter", "block", -1, "", &["multiple"], &[arg("parameter", "string", -1, "", &[], &[])])]), Some(server::config_get), &[]),
    spec("config|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Lists the CONFIG subcommands.", "5.0.0", "server", "O(1)", &[]), Some(server::config_help), &[]),
    spec("config|resetstat", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Resets the server statistics.", "2.0.0", "server", "O(1)", &[]), Some(server::config_resetstat), &[]),
    spec("config|rewrite", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Writes the running configuration to the configuration file.", "2.8.0", "server", "O(1)", &[]), Some(server::config_rewrite), &[]),
    spec("config|set", -4, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &["request_policy:all_nodes", "response_policy:all_succeeded"],
        docs("Changes configuration parameters, all or none.", "2.0.0", "server", "O(N) when N is the number of parameters being set", &[arg("parameter_value", "block", -1, "", &["multiple"], &[arg("parameter", "string", -1, "", &[], &[]), arg("value", "string", -1, "", &[], &[])])]), Some(server::config_set), &[]),
];

#[rustfmt::skip]
pub(super) static COMMAND_SUBCOMMANDS: [Spec; 7] = [
    spec("command|count", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Counts the commands.", "2.8.13", "server", "O(1)", &[]), Some(server::command_count), &[]),
    spec("command|docs", -2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output_order"],
        docs("Documents the given commands, or all.", "7.0.0", "server", "O(N) where N is the number of commands documented", &[arg("command-name", "string", -1, "", &["optional", "multiple"], &[])]), Some(server::command_docs), &[]),
    spec("command|getkeys", -4, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Finds the keys of a full command line.", "2.8.13", "server", "O(N) where N is the number of arguments", &[]), Some(server::command_getkeys), &[]),
    spec("command|getkeysandflags", -4, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Finds the keys of a full command line and how they are used.", "7.0.0", "server", "O(N) where N is the number of arguments", &[]), Some(server::command_getkeysandflags), &[]),
    spec("command|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Lists the COMMAND subcommands.", "5.0.0", "server", "O(1)", &[]), Some(server::command_help), &[]),
    spec("command|info", -2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output_order"],
        docs("Describes the given commands, or all.", "2.8.13", "server", "O(N) where N is the number of commands described", &[arg("command-name", "string", -1, "", &["optional", "multiple"], &[])]), Some(server::command_info), &[]),
    spec("command|list", -2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output_order"],
        docs("Lists command names.", "7.0.0", "server", "O(N) where N is the number of commands", &[arg("filterby", "oneof", -1, "FILTERBY", &["optional"], &[arg("module-name", "string", -1, "MODULE", &[], &[]), arg("category", "string", -1, "ACLCAT", &[], &[]), arg("pattern", "pattern", -1, "PATTERN", &[], &[])])]), Some(server::command_list), &[]),
];

#[rustfmt::skip]
pub(super) static OBJECT_SUBCOMMANDS: [Spec; 5] = [
    spec("object|encoding", 3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output"],
        docs("Returns the internal encoding of a value.", "2.2.3", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::object_encoding), &[]),
    spec("object|freq", 3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output"],
        docs("Returns the access frequency counter of a key (LFU policies).", "4.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::object_freq), &[]),
    spec("object|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::KEYSPACE | A::SLOW, &[],
        docs("Lists the OBJECT subcommands.", "6.2.0", "generic", "O(1)", &[]), Some(keys::object_help), &[]),
    spec("object|idletime", 3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output"],
        docs("Returns the seconds since a key was last accessed.", "2.2.3", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::object_idletime), &[]),
    spec("object|refcount", 3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output"],
        docs("Returns the reference count of a value.", "2.2.3", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::object_refcount), &[]),
];

#[rustfmt::skip]
pub(super) static PUBSUB_SUBCOMMANDS: [Spec; 6] = [
    spec("pubsub|channels", -2, F::PUBSUB | F::LOADING | F::STALE, (0, 0, 0), &[], A::PUBSUB | A::SLOW, &[],
        docs("Lists the channels with subscribers, optionally those matching a pattern.", "2.8.0", "pubsub", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", &[arg("pattern", "pattern", -1, "", &["optional"], &[])]), Some(pubsub::pubsub_channels), &[]),
    spec("pubsub|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Lists the PUBSUB subcommands.", "6.2.0", "pubsub", "O(1)", &[]), Some(pubsub::pubsub_help), &[]),
    spec("pubsub|numpat", 2, F::PUBSUB | F::LOADING | F::STALE, (0, 0, 0), &[], A::PUBSUB | A::SLOW, &[],
        docs("Counts the distinct patterns subscribed to.", "2.8.0", "pubsub", "O(1)", &[]), Some(pubsub::pubsub_numpat), &[]),
    spec("pubsub|numsub", -2, F::PUBSUB | F::LOADING | F::STALE, (0, 0, 0), &[], A::PUBSUB | A::SLOW, &[],
        docs("Counts the subscribers of channels.", "2.8.0", "pubsub", "O(N) for the NUMSUB subcommand, where N is the number of requested channels", &[arg("channel", "string", -1, "", &["optional", "multiple"], &[])]), Some(pubsub::pubsub_numsub), &[]),
    spec("pubsub|shardchannels", -2, F::PUBSUB | F::LOADING | F::STALE, (0, 0, 0), &[], A::PUBSUB | A::SLOW, &[],
        docs("Lists the shard channels with subscribers, optionally those matching a pattern.", "7.0.0", "pubsub", "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", &[arg("pattern", "pattern", -1, "", &["optional"], &[])]), Some(pubsub::pubsub_shardchannels), &[]),
    spec("pubsub|shardnumsub", -2, F::PUBSUB | F::LOADING | F::STALE, (0, 0, 0), &[], A::PUBSUB | A::SLOW, &[],
        docs("Counts the subscribers of shard channels.", "7.0.0", "pubsub", "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", &[arg("shardchannel", "string", -1, "", &["optional", "multiple"], &[])]), Some(pubsub::pubsub_shardnumsub), &[]),
];

#[rustfmt::skip]
pub(super) static FUNCTION_SUBCOMMANDS: [Spec; 9] = [
    spec("function|delete", 3, F::WRITE | F::NOSCRIPT, (0, 0, 0), &[], A::WRITE | A::SLOW | A::SCRIPTING, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Deletes a library and its functions.", "7.0.0", "scripting", "O(1)", &[arg("library-name", "string", -1, "", &[], &[])]), Some(functions::function_delete), &[]),
    spec("function|dump", 2, F::NOSCRIPT, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &[],
        docs("Serializes every library into a payload FUNCTION RESTORE takes.", "7.0.0", "scripting", "O(N) where N is the number of functions", &[]), Some(functions::function_dump), &[]),
    spec("function|flush", -2, F::WRITE | F::NOSCRIPT, (0, 0, 0), &[], A::WRITE | A::SLOW | A::SCRIPTING, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Deletes every library.", "7.0.0", "scripting", "O(N) where N is the number of functions deleted", &[arg("async", "oneof", -1, "", &["optional"], &[arg("async", "pure-token", -1, "ASYNC", &[], &[]), arg("sync", "pure-token", -1, "SYNC", &[], &[])])]), Some(functions::function_flush), &[]),
    spec("function|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &[],
        docs("Lists the FUNCTION subcommands.", "7.0.0", "scripting", "O(1)", &[]), Some(functions::function_help), &[]),
    spec("function|kill", 2, F::NOSCRIPT | F::ALLOW_BUSY, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &["request_policy:all_shards", "response_policy:one_succeeded"],
        docs("Stops the function running now, if it has not written.", "7.0.0", "scripting", "O(1)", &[]), Some(functions::function_kill), &[]),
    spec("function|list", -2, F::NOSCRIPT, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &["nondeterministic_output_order"],
        docs("Describes the libraries and their functions.", "7.0.0", "scripting", "O(N) where N is the number of functions", &[arg("library-name-pattern", "string", -1, "LIBRARYNAME", &["optional"], &[]), arg("withcode", "pure-token", -1, "WITHCODE", &["optional"], &[])]), Some(functions::function_list), &[]),
    spec("function|load", -3, F::WRITE | F::DENYOOM | F::NOSCRIPT, (0, 0, 0), &[], A::WRITE | A::SLOW | A::SCRIPTING, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Loads a library of functions.", "7.0.0", "scripting", "O(1) (considering compilation time is redundant)", &[arg("replace", "pure-token", -1, "REPLACE", &["optional"], &[]), arg("function-code", "string", -1, "", &[], &[])]), Some(functions::function_load), &[]),
    spec("function|restore", -3, F::WRITE | F::DENYOOM | F::NOSCRIPT, (0, 0, 0), &[], A::WRITE | A::SLOW | A::SCRIPTING, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Restores libraries from a FUNCTION DUMP payload.", "7.0.0", "scripting", "O(N) where N is the number of functions on the payload", &[arg("serialized-value", "string", -1, "", &[], &[]), arg("policy", "oneof", -1, "", &["optional"], &[arg("flush", "pure-token", -1, "FLUSH", &[], &[]), arg("append", "pure-token", -1, "APPEND", &[], &[]), arg("replace", "pure-token", -1, "REPLACE", &[], &[])])]), Some(functions::function_restore), &[]),
    spec("function|stats", 2, F::NOSCRIPT | F::ALLOW_BUSY, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        docs("Tells which function is running and how many libraries and functions there are.", "7.0.0", "scripting", "O(1)", &[]), Some(functions::function_stats), &[]),
];

#[rustfmt::skip]
pub(super) static MEMORY_SUBCOMMANDS: [Spec; 6] = [
    spec("memory|doctor", 2, 0, (0, 0, 0), &[], A::SLOW, &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        docs("Reports memory problems and advice.", "4.0.0", "server", "O(1)", &[]), Some(memory::memory_doctor), &[]),
    spec("memory|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Lists the MEMORY subcommands.", "4.0.0", "server", "O(1)", &[]), Some(memory::memory_help), &[]),
    spec("memory|malloc-stats", 2, 0, (0, 0, 0), &[], A::SLOW, &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        docs("Returns the allocator's statistics report.", "4.0.0", "server", "Depends on how much memory is allocated, could be slow", &[]), Some(memory::memory_malloc_stats), &[]),
    spec("memory|purge", 2, 0, (0, 0, 0), &[], A::SLOW, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Asks the allocator to release unused pages.", "4.0.0", "server", "Depends on how much memory is allocated, could be slow", &[]), Some(memory::memory_purge), &[]),
    spec("memory|stats", 2, 0, (0, 0, 0), &[], A::SLOW, &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        docs("Describes where the server's memory goes.", "4.0.0", "server", "O(1)", &[]), Some(memory::memory_stats), &[]),
    spec("memory|usage", -3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::READ | A::SLOW, &[],
        docs("Estimates the memory a key and its value take.", "4.0.0", "server", "O(N) where N is the number of samples.", &[arg("key", "key", 0, "", &[], &[]), arg("count", "integer", -1, "SAMPLES", &["optional"], &[])]), Some(memory::memory_usage), &[]),
];

#[rustfmt::skip]
pub(super) static ACL_SUBCOMMANDS: [Spec; 13] = [
    spec("acl|cat", -2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Lists the ACL categories, or the commands of one.", "6.0.0", "server", "O(1) since the categories and commands are a fixed set.", &[arg("categoryname", "string", -1, "", &["optional"], &[])]), Some(acl::acl_cat), &[]),
    spec("acl|deluser", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Deletes users and closes their connections.", "6.0.0", "server", "O(1) amortized time considering the typical user.", &[arg("username", "string", -1, "", &["multiple"], &[])]), Some(acl::acl_deluser), &[]),
    spec("acl|dryrun", -4, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Tells whether a user may run a command, without running it.", "7.0.0", "server", "O(1).", &[arg("username", "string", -1, "", &[], &[]), arg("command", "string", -1, "", &[], &[]), arg("arg", "string", -1, "", &["optional", "multiple"], &[])]), Some(acl::acl_dryrun), &[]),
    spec("acl|genpass", -2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Generates a random password.", "6.0.0", "server", "O(1)", &[arg("bits", "integer", -1, "", &["optional"], &[])]), Some(acl::acl_genpass), &[]),
    spec("acl|getuser", 3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Describes a user's rules.", "6.0.0", "server", "O(N). Where N is the number of password, command and pattern rules that the user has.", &[arg("username", "string", -1, "", &[], &[])]), Some(acl::acl_getuser), &[]),
    spec("acl|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Lists the ACL subcommands.", "6.0.0", "server", "O(1)", &[]), Some(acl::acl_help), &[]),
    spec("acl|list", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Lists the users' rules in the ACL file format.", "6.0.0", "server", "O(N). Where N is the number of configured users.", &[]), Some(acl::acl_list), &[]),
    spec("acl|load", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Loads the users from the ACL file, all or none.", "6.0.0", "server", "O(N). Where N is the number of configured users.", &[]), Some(acl::acl_load), &[]),
    spec("acl|log", -2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Lists the latest denials: failed authentications, refused commands, keys and channels.", "6.0.0", "server", "O(N) with N being the number of entries shown.", &[arg("operation", "oneof", -1, "", &["optional"], &[arg("count", "integer", -1, "", &[], &[]), arg("reset", "pure-token", -1, "RESET", &[], &[])])]), Some(acl::acl_log), &[]),
    spec("acl|save", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Writes the users to the ACL file.", "6.0.0", "server", "O(N). Where N is the number of configured users.", &[]), Some(acl::acl_save), &[]),
    spec("acl|setuser", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Creates a user or changes its rules.", "6.0.0", "server", "O(N). Where N is the number of rules provided.", &[arg("username", "string", -1, "", &[], &[]), arg("rule", "string", -1, "", &["optional", "multiple"], &[])]), Some(acl::acl_setuser), &[]),
    spec("acl|users", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Lists the user names.", "6.0.0", "server", "O(N). Where N is the number of configured users.", &[]), Some(acl::acl_users), &[]),
    spec("acl|whoami", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Returns the connection's user name.", "6.0.0", "server", "O(1)", &[]), Some(acl::acl_whoami), &[]),
];

#[rustfmt::skip]
pub(super) static SCRIPT_SUBCOMMANDS: [Spec; 6] = [
    spec("script|debug", 3, F::NOSCRIPT, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &[],
        docs("Sets the debug mode of the scripts run next.", "3.2.0", "scripting", "O(1)", &[arg("mode", "oneof", -1, "", &[], &[arg("yes", "pure-token", -1, "YES", &[], &[]), arg("sync", "pure-token", -1, "SYNC", &[], &[]), arg("no", "pure-token", -1, "NO", &[], &[])])]), Some(scripting::script_debug), &[]),
    spec("script|exists", -3, F::NOSCRIPT, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &["request_policy:all_shards", "response_policy:agg_logical_and"],
        docs("Tells which scripts are in the script cache.", "2.6.0", "scripting", "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).", &[arg("sha1", "string", -1, "", &["multiple"], &[])]), Some(scripting::script_exists), &[]),
    spec("script|flush", -2, F::NOSCRIPT, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &["request_policy:all_nodes", "response_policy:all_succeeded"],
        docs("Empties the script cache.", "2.6.0", "scripting", "O(N) with N being the number of scripts in cache", &[arg("async", "oneof", -1, "", &["optional"], &[arg("async", "pure-token", -1, "ASYNC", &[], &[]), arg("sync", "pure-token", -1, "SYNC", &[], &[])]).since("6.2.0")]), Some(scripting::script_flush), &[]),
    spec("script|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &[],
        docs("Lists the SCRIPT subcommands.", "5.0.0", "scripting", "O(1)", &[]), Some(scripting::script_help), &[]),
    spec("script|kill", 2, F::NOSCRIPT | F::ALLOW_BUSY, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &["request_policy:all_shards", "response_policy:one_succeeded"],
        docs("Stops the script running now, if it has not written.", "2.6.0", "scripting", "O(1)", &[]), Some(scripting::script_kill), &[]),
    spec("script|load", 3, F::NOSCRIPT | F::STALE, (0, 0, 0), &[], A::SLOW | A::SCRIPTING, &["request_policy:all_nodes", "response_policy:all_succeeded"],
        docs("Loads a script into the script cache without running it.", "2.6.0", "scripting", "O(N) with N being the length in bytes of the script body.", &[arg("script", "string", -1, "", &[], &[])]), Some(scripting::script_load), &[]),
];

pub(super) static SLOWLOG_SUBCOMMANDS: [Spec; 4] = [
    spec(
        "slowlog|get",
        -2,
        F::ADMIN | F::LOADING | F::STALE,
        (0, 0, 0),
        &[],
        A::ADMIN | A::SLOW | A::DANGEROUS,
        &["request_policy:all_nodes", "nondeterministic_output"],
        docs(
            "Returns the newest slow log entries.",
            "2.2.12",
            "server",
            "O(N) where N is the number of entries returned",
            &[arg("count", "integer", -1, "", &["optional"], &[])],
        ),
        Some(introspect::slowlog_get),
        &[],
    ),
    spec(
        "slowlog|help",
        2,
        F::LOADING | F::STALE,
        (0, 0, 0),
        &[],
        A::SLOW,
        &[],
        docs(
            "Lists the SLOWLOG subcommands.",
            "6.2.0",
            "server",
            "O(1)",
            &[],
        ),
        Some(introspect::slowlog_help),
        &[],
    ),
    spec(
        "slowlog|len",
        2,
        F::ADMIN | F::LOADING | F::STALE,
        (0, 0, 0),
        &[],
        A::ADMIN | A::SLOW | A::DANGEROUS,
        &[
            "request_policy:all_nodes",
            "response_policy:agg_sum",
            "nondeterministic_output",
        ],
        docs(
            "Counts the slow log entries.",
            "2.2.12",
            "server",
            "O(1)",
            &[],
        ),
        Some(introspect::slowlog_len),
        &[],
    ),
    spec(
        "slowlog|reset",
        2,
        F::ADMIN | F::LOADING | F::STALE,
        (0, 0, 0),
        &[],
        A::ADMIN | A::SLOW | A::DANGEROUS,
        &["request_policy:all_nodes", "response_policy:all_succeeded"],
        docs(
            "Empties the slow log.",
            "2.2.12",
            "server",
            "O(N) where N is the number of entries in the slowlog",
            &[],
        ),
        Some(introspect::slowlog_reset),
        &[],
    ),
];

#[rustfmt::skip]
pub(super) static LATENCY_SUBCOMMANDS: [Spec; 7] = [
    spec("latency|doctor", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        docs("Returns a report on the recorded latency events, with advice.", "2.8.13", "server", "O(1)", &[]), Some(introspect::latency_doctor), &[]),
    spec("latency|graph", 3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        docs("Draws the samples of a latency event as an ASCII graph.", "2.8.13", "server", "O(1)", &[arg("event", "string", -1, "", &[], &[])]), Some(introspect::latency_graph), &[]),
    spec("latency|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Lists the LATENCY subcommands.", "2.8.13", "server", "O(1)", &[]), Some(introspect::latency_help), &[]),
    spec("latency|histogram", -2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        docs("Returns the cumulative latency distribution of commands.", "7.0.0", "server", "O(N) where N is the number of commands with latency information being retrieved.", &[arg("command", "string", -1, "", &["optional", "multiple"], &[])]), Some(introspect::latency_histogram), &[]),
    spec("latency|history", 3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        docs("Returns the samples of a latency event.", "2.8.13", "server", "O(1)", &[arg("event", "string", -1, "", &[], &[])]), Some(introspect::latency_history), &[]),
    spec("latency|latest", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
        docs("Returns the latest sample of every latency event.", "2.8.13", "server", "O(1)", &[]), Some(introspect::latency_latest), &[]),
    spec("latency|reset", -2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &["request_policy:all_nodes", "response_policy:all_succeeded"],
        docs("Drops the samples of latency events, or of all.", "2.8.13", "server", "O(1)", &[arg("event", "string", -1, "", &["optional", "multiple"], &[])]), Some(introspect::latency_reset), &[]),
];

#[rustfmt::skip]
pub(super) static XGROUP_SUBCOMMANDS: [Spec; 6] = [
    spec("xgroup|create", -5, F::WRITE | F::DENYOOM, (2, 2, 1), &[ks(&["RW", "insert"], 2, 0, 1, 0)], A::WRITE | A::STREAM | A::SLOW, &[],
        docs("Creates a consumer group, optionally creating the stream too.", "5.0.0", "stream", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("groupname", "string", -1, "", &[], &[]), arg("id", "oneof", -1, "", &[], &[arg("id", "string", -1, "", &[], &[]), arg("new_id", "pure-token", -1, "$", &[], &[])]), arg("mkstream", "pure-token", -1, "MKSTREAM", &["optional"], &[]), arg("entries_read", "integer", -1, "ENTRIESREAD", &["optional"], &[])]), Some(stream_groups::xgroup_create), &[]),
    spec("xgroup|createconsumer", 5, F::WRITE | F::DENYOOM, (2, 2, 1), &[ks(&["RW", "insert"], 2, 0, 1, 0)], A::WRITE | A::STREAM | A::SLOW, &[],
        docs("Adds a consumer to a group.", "6.2.0", "stream", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("groupname", "string", -1, "", &[], &[]), arg("consumername", "string", -1, "", &[], &[])]), Some(stream_groups::xgroup_createconsumer), &[]),
    spec("xgroup|delconsumer", 5, F::WRITE, (2, 2, 1), &[ks(&["RW", "delete"], 2, 0, 1, 0)], A::WRITE | A::STREAM | A::SLOW, &[],
        docs("Removes a consumer from a group and counts its pending entries.", "5.0.0", "stream", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("groupname", "string", -1, "", &[], &[]), arg("consumername", "string", -1, "", &[], &[])]), Some(stream_groups::xgroup_delconsumer), &[]),
    spec("xgroup|destroy", 4, F::WRITE, (2, 2, 1), &[ks(&["RW", "delete"], 2, 0, 1, 0)], A::WRITE | A::STREAM | A::SLOW, &[],
        docs("Removes a consumer group.", "5.0.0", "stream", "O(N) where N is the number of entries in the group's pending entries list (PEL).", &[arg("key", "key", 0, "", &[], &[]), arg("groupname", "string", -1, "", &[], &[])]), Some(stream_groups::xgroup_destroy), &[]),
    spec("xgroup|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::STREAM | A::SLOW, &[],
        docs("Lists the XGROUP subcommands.", "5.0.0", "stream", "O(1)", &[]), Some(stream_groups::xgroup_help), &[]),
    spec("xgroup|setid", -5, F::WRITE, (2, 2, 1), &[ks(&["RW", "update"], 2, 0, 1, 0)], A::WRITE | A::STREAM | A::SLOW, &[],
        docs("Sets the last delivered ID of a group.", "5.0.0", "stream", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("groupname", "string", -1, "", &[], &[]), arg("id", "oneof", -1, "", &[], &[arg("id", "string", -1, "", &[], &[]), arg("new_id", "pure-token", -1, "$", &[], &[])]), arg("entries_read", "integer", -1, "ENTRIESREAD", &["optional"], &[])]), Some(stream_groups::xgroup_setid), &[]),
];

#[rustfmt::skip]
pub(super) static XINFO_SUBCOMMANDS: [Spec; 4] = [
    spec("xinfo|consumers", 4, F::READONLY, (2, 2, 1), &[ks(&["RO", "access"], 2, 0, 1, 0)], A::READ | A::STREAM | A::SLOW, &["nondeterministic_output"],
        docs("Lists the consumers of a group.", "5.0.0", "stream", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("groupname", "string", -1, "", &[], &[])]), Some(stream_info::xinfo_consumers), &[]),
    spec("xinfo|groups", 3, F::READONLY, (2, 2, 1), &[ks(&["RO", "access"], 2, 0, 1, 0)], A::READ | A::STREAM | A::SLOW, &[],
        docs("Lists the consumer groups of a stream.", "5.0.0", "stream", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(stream_info::xinfo_groups), &[]),
    spec("xinfo|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::STREAM | A::SLOW, &[],
        docs("Lists the XINFO subcommands.", "5.0.0", "stream", "O(1)", &[]), Some(stream_info::xinfo_help), &[]),
    spec("xinfo|stream", -3, F::READONLY, (2, 2, 1), &[ks(&["RO", "access"], 2, 0, 1, 0)], A::READ | A::STREAM | A::SLOW, &[],
        docs("Describes a stream, or in FULL form its entries, groups and consumers.", "5.0.0", "stream", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("full", "block", -1, "FULL", &["optional"], &[arg("count", "integer", -1, "COUNT", &["optional"], &[])])]), Some(stream_info::xinfo_stream), &[]),
];
