//! The command table: one entry per command, read by the dispatcher (arity, auth, key routing),
//! COMMAND (INFO, DOCS, COUNT, LIST, GETKEYS) and INFO commandstats.
//!
//! Arity, flags, key positions, ACL categories and tips are Redis 7.0.15's, checked against the
//! real server by the `command_table_matches_redis` test. Summaries are Basalt's own words.

use super::{acl as A, flags as F, Arg, Docs, FindKeys, Handler, KeySpec, Spec};
use crate::commands::{connection, keys, lists, server, strings};

#[rustfmt::skip]
static CLIENT_SUBCOMMANDS: [Spec; 9] = [
    spec("client|getname", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Returns the name of this connection.", "2.6.9", "connection", "O(1)", &[]), Some(connection::client_getname), &[]),
    spec("client|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Lists the CLIENT subcommands.", "5.0.0", "connection", "O(1)", &[]), Some(connection::client_help), &[]),
    spec("client|id", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Returns the id of this connection.", "5.0.0", "connection", "O(1)", &[]), Some(connection::client_id), &[]),
    spec("client|info", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output"],
        docs("Describes this connection.", "6.2.0", "connection", "O(1)", &[]), Some(connection::client_info), &[]),
    spec("client|kill", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Closes the connections matching a filter.", "2.4.0", "connection", "O(N) where N is the number of connections", &[arg("filter", "oneof", -1, "", &[], &[arg("ip:port", "string", -1, "", &[], &[]), arg("new-format", "oneof", -1, "", &["multiple"], &[arg("client-id", "integer", -1, "ID", &["optional"], &[]), arg("normal_master_slave_pubsub", "oneof", -1, "TYPE", &["optional"], &[arg("normal", "pure-token", -1, "NORMAL", &[], &[]), arg("master", "pure-token", -1, "MASTER", &[], &[]), arg("slave", "pure-token", -1, "SLAVE", &[], &[]), arg("replica", "pure-token", -1, "REPLICA", &[], &[]), arg("pubsub", "pure-token", -1, "PUBSUB", &[], &[])]), arg("username", "string", -1, "USER", &["optional"], &[]), arg("ip:port", "string", -1, "ADDR", &["optional"], &[]), arg("ip:port", "string", -1, "LADDR", &["optional"], &[]), arg("yes/no", "string", -1, "SKIPME", &["optional"], &[])])])]), Some(connection::client_kill), &[]),
    spec("client|list", -2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &["nondeterministic_output"],
        docs("Lists the open connections.", "2.4.0", "connection", "O(N) where N is the number of connections", &[arg("normal_master_replica_pubsub", "oneof", -1, "TYPE", &["optional"], &[arg("normal", "pure-token", -1, "NORMAL", &[], &[]), arg("master", "pure-token", -1, "MASTER", &[], &[]), arg("replica", "pure-token", -1, "REPLICA", &[], &[]), arg("pubsub", "pure-token", -1, "PUBSUB", &[], &[])]), arg("id", "block", -1, "ID", &["optional"], &[arg("client-id", "integer", -1, "", &["multiple"], &[])])]), Some(connection::client_list), &[]),
    spec("client|no-evict", 3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Excludes this connection from client eviction, or includes it again.", "7.0.0", "connection", "O(1)", &[arg("enabled", "oneof", -1, "", &[], &[arg("on", "pure-token", -1, "ON", &[], &[]), arg("off", "pure-token", -1, "OFF", &[], &[])])]), Some(connection::client_no_evict), &[]),
    spec("client|reply", 3, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Turns replies to this connection on, off, or off for the next command.", "3.2.0", "connection", "O(1)", &[arg("on_off_skip", "oneof", -1, "", &[], &[arg("on", "pure-token", -1, "ON", &[], &[]), arg("off", "pure-token", -1, "OFF", &[], &[]), arg("skip", "pure-token", -1, "SKIP", &[], &[])])]), Some(connection::client_reply), &[]),
    spec("client|setname", 3, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Names this connection.", "2.6.9", "connection", "O(1)", &[arg("connection-name", "string", -1, "", &[], &[])]), Some(connection::client_setname), &[]),
];

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: [Spec; 5] = [
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
static COMMAND_SUBCOMMANDS: [Spec; 7] = [
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
static OBJECT_SUBCOMMANDS: [Spec; 5] = [
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

/// Every command, in no particular order.
#[rustfmt::skip]
pub static COMMANDS: [Spec; 78] = [
    spec("ping", -1, F::FAST, (0, 0, 0), &[], A::FAST | A::CONNECTION, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Checks the connection; answers PONG or echoes its argument.", "1.0.0", "connection", "O(1)", &[arg("message", "string", -1, "", &["optional"], &[])]), Some(connection::ping), &[]),
    spec("echo", 2, F::LOADING | F::STALE | F::FAST, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Replies with its argument.", "1.0.0", "connection", "O(1)", &[arg("message", "string", -1, "", &[], &[])]), Some(connection::echo), &[]),
    spec("quit", -1, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Closes the connection after replying OK.", "1.0.0", "connection", "O(1)", &[]), Some(connection::quit), &[]),
    spec("hello", -1, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Chooses the protocol version, optionally authenticates and names the connection.", "6.0.0", "connection", "O(1)", &[arg("arguments", "block", -1, "", &["optional"], &[arg("protover", "integer", -1, "", &[], &[]), arg("username_password", "block", -1, "AUTH", &["optional"], &[arg("username", "string", -1, "", &[], &[]), arg("password", "string", -1, "", &[], &[])]), arg("clientname", "string", -1, "SETNAME", &["optional"], &[])])]), Some(connection::hello), &[]),
    spec("auth", -2, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Authenticates the connection.", "1.0.0", "connection", "O(N) where N is the number of passwords of the user", &[arg("username", "string", -1, "", &["optional"], &[]), arg("password", "string", -1, "", &[], &[])]), Some(connection::auth), &[]),
    spec("select", 2, F::LOADING | F::STALE | F::FAST, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Changes the database of the connection.", "1.0.0", "connection", "O(1)", &[arg("index", "integer", -1, "", &[], &[])]), Some(connection::select), &[]),
    spec("swapdb", 3, F::WRITE | F::FAST, (0, 0, 0), &[], A::KEYSPACE | A::WRITE | A::FAST | A::DANGEROUS, &[],
        docs("Exchanges the contents of two databases.", "4.0.0", "server", "O(N) where N is the number of clients watching or blocking on keys", &[arg("index1", "integer", -1, "", &[], &[]), arg("index2", "integer", -1, "", &[], &[])]), Some(connection::swapdb), &[]),
    spec("reset", 1, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Returns the connection to its initial state.", "6.2.0", "connection", "O(1)", &[]), Some(connection::reset), &[]),
    spec("client", -2, 0, (0, 0, 0), &[], A::SLOW, &[],
        docs("Container for connection management subcommands.", "2.4.0", "connection", "Depends on subcommand.", &[]), None, &CLIENT_SUBCOMMANDS),
    spec("info", -1, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::DANGEROUS, &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        docs("Reports information and statistics about the server.", "1.0.0", "server", "O(1)", &[arg("section", "string", -1, "", &["optional", "multiple"], &[])]), Some(server::info), &[]),
    spec("dbsize", 1, F::READONLY | F::FAST, (0, 0, 0), &[], A::KEYSPACE | A::READ | A::FAST, &["request_policy:all_shards", "response_policy:agg_sum"],
        docs("Counts the keys of the selected database.", "1.0.0", "server", "O(1)", &[]), Some(server::dbsize), &[]),
    spec("flushdb", -1, F::WRITE, (0, 0, 0), &[], A::KEYSPACE | A::WRITE | A::SLOW | A::DANGEROUS, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Deletes every key of the selected database.", "1.0.0", "server", "O(N) where N is the number of keys in the database", &[arg("async", "oneof", -1, "", &["optional"], &[arg("async", "pure-token", -1, "ASYNC", &[], &[]), arg("sync", "pure-token", -1, "SYNC", &[], &[])])]), Some(server::flushdb), &[]),
    spec("flushall", -1, F::WRITE, (0, 0, 0), &[], A::KEYSPACE | A::WRITE | A::SLOW | A::DANGEROUS, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Deletes every key of every database.", "1.0.0", "server", "O(N) where N is the total number of keys", &[arg("async", "oneof", -1, "", &["optional"], &[arg("async", "pure-token", -1, "ASYNC", &[], &[]), arg("sync", "pure-token", -1, "SYNC", &[], &[])])]), Some(server::flushall), &[]),
    spec("time", 1, F::LOADING | F::STALE | F::FAST, (0, 0, 0), &[], A::FAST, &["nondeterministic_output"],
        docs("Returns the server time in seconds and microseconds.", "2.6.0", "server", "O(1)", &[]), Some(server::time), &[]),
    spec("config", -2, 0, (0, 0, 0), &[], A::SLOW, &[],
        docs("Container for configuration subcommands.", "2.0.0", "server", "Depends on subcommand.", &[]), None, &CONFIG_SUBCOMMANDS),
    spec("shutdown", -1, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE | F::NO_MULTI | F::ALLOW_BUSY, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Stops the server.", "1.0.0", "server", "O(N) when saving, where N is the number of keys", &[arg("nosave_save", "oneof", -1, "", &["optional"], &[arg("nosave", "pure-token", -1, "NOSAVE", &[], &[]), arg("save", "pure-token", -1, "SAVE", &[], &[])]), arg("now", "pure-token", -1, "NOW", &["optional"], &[]), arg("force", "pure-token", -1, "FORCE", &["optional"], &[]), arg("abort", "pure-token", -1, "ABORT", &["optional"], &[])]), Some(server::shutdown), &[]),
    spec("command", -1, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output_order"],
        docs("Describes all commands.", "2.8.13", "server", "O(N) where N is the number of commands", &[]), Some(server::command_all), &COMMAND_SUBCOMMANDS),
    spec("get", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::STRING | A::FAST, &[],
        docs("Returns the string value of a key.", "1.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(strings::get), &[]),
    spec("set", -3, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["RW", "access", "update", "variable_flags"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::SLOW, &[],
        docs("Sets the string value of a key, with optional expiry and conditions.", "1.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("value", "string", -1, "", &[], &[]), arg("condition", "oneof", -1, "", &["optional"], &[arg("nx", "pure-token", -1, "NX", &[], &[]), arg("xx", "pure-token", -1, "XX", &[], &[])]), arg("get", "pure-token", -1, "GET", &["optional"], &[]), arg("expiration", "oneof", -1, "", &["optional"], &[arg("seconds", "integer", -1, "EX", &[], &[]), arg("milliseconds", "integer", -1, "PX", &[], &[]), arg("unix-time-seconds", "unix-time", -1, "EXAT", &[], &[]), arg("unix-time-milliseconds", "unix-time", -1, "PXAT", &[], &[]), arg("keepttl", "pure-token", -1, "KEEPTTL", &[], &[])])]), Some(strings::set), &[]),
    spec("setnx", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["OW", "insert"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Sets a key only if it does not exist.", "1.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("value", "string", -1, "", &[], &[])]), Some(strings::setnx), &[]),
    spec("setex", 4, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["OW", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::SLOW, &[],
        docs("Sets a key with an expiry in seconds.", "2.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("seconds", "integer", -1, "", &[], &[]), arg("value", "string", -1, "", &[], &[])]), Some(strings::setex), &[]),
    spec("psetex", 4, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["OW", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::SLOW, &[],
        docs("Sets a key with an expiry in milliseconds.", "2.6.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("milliseconds", "integer", -1, "", &[], &[]), arg("value", "string", -1, "", &[], &[])]), Some(strings::psetex), &[]),
    spec("getset", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Sets a key and returns its old value.", "1.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("value", "string", -1, "", &[], &[])]), Some(strings::getset), &[]),
    spec("getdel", 2, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Returns the value of a key and deletes it.", "6.2.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(strings::getdel), &[]),
    spec("getex", -2, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Returns the value of a key and changes its expiry.", "6.2.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("expiration", "oneof", -1, "", &["optional"], &[arg("seconds", "integer", -1, "EX", &[], &[]), arg("milliseconds", "integer", -1, "PX", &[], &[]), arg("unix-time-seconds", "unix-time", -1, "EXAT", &[], &[]), arg("unix-time-milliseconds", "unix-time", -1, "PXAT", &[], &[]), arg("persist", "pure-token", -1, "PERSIST", &[], &[])])]), Some(strings::getex), &[]),
    spec("mget", -2, F::READONLY | F::FAST, (1, -1, 1), &[ks(&["RO", "access"], 1, -1, 1, 0)], A::READ | A::STRING | A::FAST, &["request_policy:multi_shard"],
        docs("Returns the values of several keys.", "1.0.0", "string", "O(N) where N is the number of keys", &[arg("key", "key", 0, "", &["multiple"], &[])]), Some(strings::mget), &[]),
    spec("mset", -3, F::WRITE | F::DENYOOM, (1, -1, 2), &[ks(&["OW", "update"], 1, -1, 2, 0)], A::WRITE | A::STRING | A::SLOW, &["request_policy:multi_shard", "response_policy:all_succeeded"],
        docs("Sets several keys.", "1.0.1", "string", "O(N) where N is the number of keys", &[arg("key_value", "block", -1, "", &["multiple"], &[arg("key", "key", 0, "", &[], &[]), arg("value", "string", -1, "", &[], &[])])]), Some(strings::mset), &[]),
    spec("msetnx", -3, F::WRITE | F::DENYOOM, (1, -1, 2), &[ks(&["OW", "insert"], 1, -1, 2, 0)], A::WRITE | A::STRING | A::SLOW, &["request_policy:multi_shard", "response_policy:agg_min"],
        docs("Sets several keys only if none of them exists.", "1.0.1", "string", "O(N) where N is the number of keys", &[arg("key_value", "block", -1, "", &["multiple"], &[arg("key", "key", 0, "", &[], &[]), arg("value", "string", -1, "", &[], &[])])]), Some(strings::msetnx), &[]),
    spec("append", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "insert"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Appends to the string value of a key.", "2.0.0", "string", "O(1) amortized", &[arg("key", "key", 0, "", &[], &[]), arg("value", "string", -1, "", &[], &[])]), Some(strings::append), &[]),
    spec("strlen", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO"], 1, 0, 1, 0)], A::READ | A::STRING | A::FAST, &[],
        docs("Returns the length of a string value.", "2.2.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(strings::strlen), &[]),
    spec("incr", 2, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Adds one to the integer value of a key.", "1.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(strings::incr), &[]),
    spec("decr", 2, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Subtracts one from the integer value of a key.", "1.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(strings::decr), &[]),
    spec("incrby", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Adds an integer to the integer value of a key.", "1.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("increment", "integer", -1, "", &[], &[])]), Some(strings::incrby), &[]),
    spec("decrby", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Subtracts an integer from the integer value of a key.", "1.0.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("decrement", "integer", -1, "", &[], &[])]), Some(strings::decrby), &[]),
    spec("incrbyfloat", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Adds a floating point number to the value of a key.", "2.6.0", "string", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("increment", "double", -1, "", &[], &[])]), Some(strings::incrbyfloat), &[]),
    spec("getrange", 4, F::READONLY, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::STRING | A::SLOW, &[],
        docs("Returns a substring of a string value.", "2.4.0", "string", "O(N) where N is the length of the result", &[arg("key", "key", 0, "", &[], &[]), arg("start", "integer", -1, "", &[], &[]), arg("end", "integer", -1, "", &[], &[])]), Some(strings::getrange), &[]),
    spec("substr", 4, F::READONLY, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::STRING | A::SLOW, &[],
        docs("Returns a substring of a string value (old name of GETRANGE).", "1.0.0", "string", "O(N) where N is the length of the result", &[arg("key", "key", 0, "", &[], &[]), arg("start", "integer", -1, "", &[], &[]), arg("end", "integer", -1, "", &[], &[])]), Some(strings::substr), &[]),
    spec("setrange", 4, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::SLOW, &[],
        docs("Overwrites part of a string value from an offset.", "2.2.0", "string", "O(1) plus the copy of the new part", &[arg("key", "key", 0, "", &[], &[]), arg("offset", "integer", -1, "", &[], &[]), arg("value", "string", -1, "", &[], &[])]), Some(strings::setrange), &[]),
    spec("lcs", -3, F::READONLY, (1, 2, 1), &[ks(&["RO", "access"], 1, 1, 1, 0)], A::READ | A::STRING | A::SLOW, &[],
        docs("Finds the longest common subsequence of two strings.", "7.0.0", "string", "O(N*M) where N and M are the string lengths", &[arg("key1", "key", 0, "", &[], &[]), arg("key2", "key", 0, "", &[], &[]), arg("len", "pure-token", -1, "LEN", &["optional"], &[]), arg("idx", "pure-token", -1, "IDX", &["optional"], &[]), arg("len", "integer", -1, "MINMATCHLEN", &["optional"], &[]), arg("withmatchlen", "pure-token", -1, "WITHMATCHLEN", &["optional"], &[])]), Some(strings::lcs), &[]),
    spec("del", -2, F::WRITE, (1, -1, 1), &[ks(&["RM", "delete"], 1, -1, 1, 0)], A::KEYSPACE | A::WRITE | A::SLOW, &["request_policy:multi_shard", "response_policy:agg_sum"],
        docs("Deletes keys.", "1.0.0", "generic", "O(N) where N is the number of keys", &[arg("key", "key", 0, "", &["multiple"], &[])]), Some(keys::del), &[]),
    spec("unlink", -2, F::WRITE | F::FAST, (1, -1, 1), &[ks(&["RM", "delete"], 1, -1, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &["request_policy:multi_shard", "response_policy:agg_sum"],
        docs("Deletes keys, freeing memory in the background.", "4.0.0", "generic", "O(1) per key", &[arg("key", "key", 0, "", &["multiple"], &[])]), Some(keys::unlink), &[]),
    spec("exists", -2, F::READONLY | F::FAST, (1, -1, 1), &[ks(&["RO"], 1, -1, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &["request_policy:multi_shard", "response_policy:agg_sum"],
        docs("Counts how many of the given keys exist.", "1.0.0", "generic", "O(N) where N is the number of keys", &[arg("key", "key", 0, "", &["multiple"], &[])]), Some(keys::exists), &[]),
    spec("type", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &[],
        docs("Returns the type of the value of a key.", "1.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::type_cmd), &[]),
    spec("rename", 3, F::WRITE, (1, 2, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0), ks(&["OW", "update"], 2, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::SLOW, &[],
        docs("Renames a key, replacing the destination.", "1.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("newkey", "key", 1, "", &[], &[])]), Some(keys::rename), &[]),
    spec("renamenx", 3, F::WRITE | F::FAST, (1, 2, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0), ks(&["OW", "insert"], 2, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Renames a key if the destination does not exist.", "1.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("newkey", "key", 1, "", &[], &[])]), Some(keys::renamenx), &[]),
    spec("keys", 2, F::READONLY, (0, 0, 0), &[], A::KEYSPACE | A::READ | A::SLOW | A::DANGEROUS, &["request_policy:all_shards", "nondeterministic_output_order"],
        docs("Returns the keys matching a pattern.", "1.0.0", "generic", "O(N) where N is the number of keys in the database", &[arg("pattern", "pattern", -1, "", &[], &[])]), Some(keys::keys), &[]),
    spec("scan", -2, F::READONLY, (0, 0, 0), &[], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output", "request_policy:special"],
        docs("Iterates the keys of the database incrementally.", "2.8.0", "generic", "O(1) per call, O(N) for a complete iteration", &[arg("cursor", "integer", -1, "", &[], &[]), arg("pattern", "pattern", -1, "MATCH", &["optional"], &[]), arg("count", "integer", -1, "COUNT", &["optional"], &[]), arg("type", "string", -1, "TYPE", &["optional"], &[])]), Some(keys::scan), &[]),
    spec("randomkey", 1, F::READONLY, (0, 0, 0), &[], A::KEYSPACE | A::READ | A::SLOW, &["request_policy:all_shards", "nondeterministic_output"],
        docs("Returns a random key.", "1.0.0", "generic", "O(1)", &[]), Some(keys::randomkey), &[]),
    spec("expire", -3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Sets the time to live of a key in seconds.", "1.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("seconds", "integer", -1, "", &[], &[]), arg("condition", "oneof", -1, "", &["optional"], &[arg("nx", "pure-token", -1, "NX", &[], &[]), arg("xx", "pure-token", -1, "XX", &[], &[]), arg("gt", "pure-token", -1, "GT", &[], &[]), arg("lt", "pure-token", -1, "LT", &[], &[])])]), Some(keys::expire), &[]),
    spec("pexpire", -3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Sets the time to live of a key in milliseconds.", "2.6.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("milliseconds", "integer", -1, "", &[], &[]), arg("condition", "oneof", -1, "", &["optional"], &[arg("nx", "pure-token", -1, "NX", &[], &[]), arg("xx", "pure-token", -1, "XX", &[], &[]), arg("gt", "pure-token", -1, "GT", &[], &[]), arg("lt", "pure-token", -1, "LT", &[], &[])])]), Some(keys::pexpire), &[]),
    spec("expireat", -3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Sets the expiry of a key as a Unix time in seconds.", "1.2.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("unix-time-seconds", "unix-time", -1, "", &[], &[]), arg("condition", "oneof", -1, "", &["optional"], &[arg("nx", "pure-token", -1, "NX", &[], &[]), arg("xx", "pure-token", -1, "XX", &[], &[]), arg("gt", "pure-token", -1, "GT", &[], &[]), arg("lt", "pure-token", -1, "LT", &[], &[])])]), Some(keys::expireat), &[]),
    spec("pexpireat", -3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Sets the expiry of a key as a Unix time in milliseconds.", "2.6.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("unix-time-milliseconds", "unix-time", -1, "", &[], &[]), arg("condition", "oneof", -1, "", &["optional"], &[arg("nx", "pure-token", -1, "NX", &[], &[]), arg("xx", "pure-token", -1, "XX", &[], &[]), arg("gt", "pure-token", -1, "GT", &[], &[]), arg("lt", "pure-token", -1, "LT", &[], &[])])]), Some(keys::pexpireat), &[]),
    spec("ttl", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &["nondeterministic_output"],
        docs("Returns the time to live of a key in seconds.", "1.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::ttl), &[]),
    spec("pttl", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &["nondeterministic_output"],
        docs("Returns the time to live of a key in milliseconds.", "2.6.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::pttl), &[]),
    spec("expiretime", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &[],
        docs("Returns the expiry of a key as a Unix time in seconds.", "7.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::expiretime), &[]),
    spec("pexpiretime", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &[],
        docs("Returns the expiry of a key as a Unix time in milliseconds.", "7.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::pexpiretime), &[]),
    spec("persist", 2, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Removes the expiry of a key.", "2.2.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(keys::persist), &[]),
    spec("copy", -3, F::WRITE | F::DENYOOM, (1, 2, 1), &[ks(&["RO", "access"], 1, 0, 1, 0), ks(&["OW", "update"], 2, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::SLOW, &[],
        docs("Copies a key, optionally to another database.", "6.2.0", "generic", "O(N) where N is the size of the value", &[arg("source", "key", 0, "", &[], &[]), arg("destination", "key", 1, "", &[], &[]), arg("destination-db", "integer", -1, "DB", &["optional"], &[]), arg("replace", "pure-token", -1, "REPLACE", &["optional"], &[])]), Some(keys::copy_cmd), &[]),
    spec("move", 3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Moves a key to another database.", "1.0.0", "generic", "O(1)", &[arg("key", "key", 0, "", &[], &[]), arg("db", "integer", -1, "", &[], &[])]), Some(keys::move_cmd), &[]),
    spec("touch", -2, F::READONLY | F::FAST, (1, -1, 1), &[ks(&["RO"], 1, -1, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &["request_policy:multi_shard", "response_policy:agg_sum"],
        docs("Updates the access time of keys; counts those that exist.", "3.2.1", "generic", "O(N) where N is the number of keys", &[arg("key", "key", 0, "", &["multiple"], &[])]), Some(keys::touch), &[]),
    spec("object", -2, 0, (0, 0, 0), &[], A::SLOW, &[],
        docs("Container for object introspection subcommands.", "2.2.3", "generic", "Depends on subcommand.", &[]), None, &OBJECT_SUBCOMMANDS),
    spec("lpush", -3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "insert"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::FAST, &[],
        docs("Prepends elements to a list, creating it if needed.", "1.0.0", "list", "O(1) for each element added", &[arg("key", "key", 0, "", &[], &[]), arg("element", "string", -1, "", &["multiple"], &[])]), Some(lists::lpush), &[]),
    spec("rpush", -3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "insert"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::FAST, &[],
        docs("Appends elements to a list, creating it if needed.", "1.0.0", "list", "O(1) for each element added", &[arg("key", "key", 0, "", &[], &[]), arg("element", "string", -1, "", &["multiple"], &[])]), Some(lists::rpush), &[]),
    spec("lpushx", -3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "insert"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::FAST, &[],
        docs("Prepends elements to a list only if it exists.", "2.2.0", "list", "O(1) for each element added", &[arg("key", "key", 0, "", &[], &[]), arg("element", "string", -1, "", &["multiple"], &[])]), Some(lists::lpushx), &[]),
    spec("rpushx", -3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "insert"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::FAST, &[],
        docs("Appends elements to a list only if it exists.", "2.2.0", "list", "O(1) for each element added", &[arg("key", "key", 0, "", &[], &[]), arg("element", "string", -1, "", &["multiple"], &[])]), Some(lists::rpushx), &[]),
    spec("lpop", -2, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::FAST, &[],
        docs("Removes and returns the first elements of a list.", "1.0.0", "list", "O(N) where N is the number of elements returned", &[arg("key", "key", 0, "", &[], &[]), arg("count", "integer", -1, "", &["optional"], &[])]), Some(lists::lpop), &[]),
    spec("rpop", -2, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::FAST, &[],
        docs("Removes and returns the last elements of a list.", "1.0.0", "list", "O(N) where N is the number of elements returned", &[arg("key", "key", 0, "", &[], &[]), arg("count", "integer", -1, "", &["optional"], &[])]), Some(lists::rpop), &[]),
    spec("llen", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO"], 1, 0, 1, 0)], A::READ | A::LIST | A::FAST, &[],
        docs("Returns the length of a list.", "1.0.0", "list", "O(1)", &[arg("key", "key", 0, "", &[], &[])]), Some(lists::llen), &[]),
    spec("lrange", 4, F::READONLY, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::LIST | A::SLOW, &[],
        docs("Returns a range of elements of a list.", "1.0.0", "list", "O(S+N) where S is the distance of start from the nearer end and N the number of elements", &[arg("key", "key", 0, "", &[], &[]), arg("start", "integer", -1, "", &[], &[]), arg("stop", "integer", -1, "", &[], &[])]), Some(lists::lrange), &[]),
    spec("lindex", 3, F::READONLY, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::LIST | A::SLOW, &[],
        docs("Returns the element at an index of a list.", "1.0.0", "list", "O(N) where N is the number of elements to walk", &[arg("key", "key", 0, "", &[], &[]), arg("index", "integer", -1, "", &[], &[])]), Some(lists::lindex), &[]),
    spec("lset", 4, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::SLOW, &[],
        docs("Replaces the element at an index of a list.", "1.0.0", "list", "O(N) where N is the number of elements to walk", &[arg("key", "key", 0, "", &[], &[]), arg("index", "integer", -1, "", &[], &[]), arg("element", "string", -1, "", &[], &[])]), Some(lists::lset), &[]),
    spec("linsert", 5, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["RW", "insert"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::SLOW, &[],
        docs("Inserts an element before or after another element of a list.", "2.2.0", "list", "O(N) where N is the number of elements walked", &[arg("key", "key", 0, "", &[], &[]), arg("where", "oneof", -1, "", &[], &[arg("before", "pure-token", -1, "BEFORE", &[], &[]), arg("after", "pure-token", -1, "AFTER", &[], &[])]), arg("pivot", "string", -1, "", &[], &[]), arg("element", "string", -1, "", &[], &[])]), Some(lists::linsert), &[]),
    spec("lrem", 4, F::WRITE, (1, 1, 1), &[ks(&["RW", "delete"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::SLOW, &[],
        docs("Removes occurrences of an element from a list.", "1.0.0", "list", "O(N+M) where N is the length and M the number removed", &[arg("key", "key", 0, "", &[], &[]), arg("count", "integer", -1, "", &[], &[]), arg("element", "string", -1, "", &[], &[])]), Some(lists::lrem), &[]),
    spec("ltrim", 4, F::WRITE, (1, 1, 1), &[ks(&["RW", "delete"], 1, 0, 1, 0)], A::WRITE | A::LIST | A::SLOW, &[],
        docs("Keeps only a range of elements of a list.", "1.0.0", "list", "O(N) where N is the number of elements removed", &[arg("key", "key", 0, "", &[], &[]), arg("start", "integer", -1, "", &[], &[]), arg("stop", "integer", -1, "", &[], &[])]), Some(lists::ltrim), &[]),
    spec("lpos", -3, F::READONLY, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::LIST | A::SLOW, &[],
        docs("Returns the positions of matching elements of a list.", "6.0.6", "list", "O(N) where N is the number of elements scanned", &[arg("key", "key", 0, "", &[], &[]), arg("element", "string", -1, "", &[], &[]), arg("rank", "integer", -1, "RANK", &["optional"], &[]), arg("num-matches", "integer", -1, "COUNT", &["optional"], &[]), arg("len", "integer", -1, "MAXLEN", &["optional"], &[])]), Some(lists::lpos), &[]),
    spec("lmove", 5, F::WRITE | F::DENYOOM, (1, 2, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0), ks(&["RW", "insert"], 2, 0, 1, 0)], A::WRITE | A::LIST | A::SLOW, &[],
        docs("Pops an element from one list and pushes it to another.", "6.2.0", "list", "O(1)", &[arg("source", "key", 0, "", &[], &[]), arg("destination", "key", 1, "", &[], &[]), arg("wherefrom", "oneof", -1, "", &[], &[arg("left", "pure-token", -1, "LEFT", &[], &[]), arg("right", "pure-token", -1, "RIGHT", &[], &[])]), arg("whereto", "oneof", -1, "", &[], &[arg("left", "pure-token", -1, "LEFT", &[], &[]), arg("right", "pure-token", -1, "RIGHT", &[], &[])])]), Some(lists::lmove), &[]),
    spec("rpoplpush", 3, F::WRITE | F::DENYOOM, (1, 2, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0), ks(&["RW", "insert"], 2, 0, 1, 0)], A::WRITE | A::LIST | A::SLOW, &[],
        docs("Pops the last element of a list and prepends it to another.", "1.2.0", "list", "O(1)", &[arg("source", "key", 0, "", &[], &[]), arg("destination", "key", 1, "", &[], &[])]), Some(lists::rpoplpush), &[]),
    spec("lmpop", -4, F::WRITE | F::MOVABLEKEYS, (0, 0, 0), &[ksn(&["RW", "access", "delete"], 1, 0, 1, 1)], A::WRITE | A::LIST | A::SLOW, &[],
        docs("Pops elements from the first non-empty list of several.", "7.0.0", "list", "O(N+M) where N is the number of keys and M the number of elements returned", &[arg("numkeys", "integer", -1, "", &[], &[]), arg("key", "key", 0, "", &["multiple"], &[]), arg("where", "oneof", -1, "", &[], &[arg("left", "pure-token", -1, "LEFT", &[], &[]), arg("right", "pure-token", -1, "RIGHT", &[], &[])]), arg("count", "integer", -1, "COUNT", &["optional"], &[])]), Some(lists::lmpop), &[]),
];

#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    key_specs: &'static [KeySpec],
    acl: u32,
    tips: &'static [&'static str],
    docs: Docs,
    handler: Option<Handler>,
    subcommands: &'static [Spec],
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        key_specs,
        acl,
        tips,
        docs,
        handler,
        subcommands,
    }
}

const fn ks(
    flags: &'static [&'static str],
    begin: i32,
    last: i32,
    step: i32,
    limit: i32,
) -> KeySpec {
    KeySpec {
        flags,
        begin,
        find: FindKeys::Range { last, step, limit },
    }
}

const fn ksn(
    flags: &'static [&'static str],
    begin: i32,
    keynum_idx: i32,
    first: i32,
    step: i32,
) -> KeySpec {
    KeySpec {
        flags,
        begin,
        find: FindKeys::KeyNum {
            keynum_idx,
            first,
            step,
        },
    }
}

#[allow(dead_code)] // SORT (issue 3) is the first command with unknown key positions.
const fn ksu(flags: &'static [&'static str]) -> KeySpec {
    KeySpec {
        flags,
        begin: 0,
        find: FindKeys::Unknown,
    }
}

const fn docs(
    summary: &'static str,
    since: &'static str,
    group: &'static str,
    complexity: &'static str,
    args: &'static [Arg],
) -> Docs {
    Docs {
        summary,
        since,
        group,
        complexity,
        args,
    }
}

const fn arg(
    name: &'static str,
    kind: &'static str,
    key_spec_index: i32,
    token: &'static str,
    flags: &'static [&'static str],
    args: &'static [Arg],
) -> Arg {
    Arg {
        name,
        kind,
        key_spec_index,
        token,
        flags,
        args,
    }
}

pub use super::lookup::{all_specs, lookup, lookup_sub, spec_index};
