//! The command table: one entry per command, read by the dispatcher (arity, auth, key routing),
//! COMMAND (INFO, DOCS, COUNT, LIST, GETKEYS) and INFO commandstats.
//!
//! Arity, flags, key positions, ACL categories and tips are Redis 7.0.15's, checked against the
//! real server by the `command_table_matches_redis` test. Summaries are Basalt's own words.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{acl as A, flags as F, Docs, Handler, KeySpec, Spec};
use crate::commands::{connection, keys, server, strings};

#[rustfmt::skip]
static CLIENT_SUBCOMMANDS: [Spec; 9] = [
    spec("client|getname", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Returns the name of this connection.", "2.4.0", "connection", "O(1)"), Some(connection::client_getname), &[]),
    spec("client|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Lists the CLIENT subcommands.", "2.4.0", "connection", "O(1)"), Some(connection::client_help), &[]),
    spec("client|id", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Returns the id of this connection.", "2.4.0", "connection", "O(1)"), Some(connection::client_id), &[]),
    spec("client|info", 2, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output"],
        docs("Describes this connection.", "2.4.0", "connection", "O(1)"), Some(connection::client_info), &[]),
    spec("client|kill", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Closes the connections matching a filter.", "2.4.0", "connection", "O(N) where N is the number of connections"), Some(connection::client_kill), &[]),
    spec("client|list", -2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &["nondeterministic_output"],
        docs("Lists the open connections.", "2.4.0", "connection", "O(N) where N is the number of connections"), Some(connection::client_list), &[]),
    spec("client|no-evict", 3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS | A::CONNECTION, &[],
        docs("Excludes this connection from client eviction, or includes it again.", "2.4.0", "connection", "O(1)"), Some(connection::client_no_evict), &[]),
    spec("client|reply", 3, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Turns replies to this connection on, off, or off for the next command.", "2.4.0", "connection", "O(1)"), Some(connection::client_reply), &[]),
    spec("client|setname", 3, F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Names this connection.", "2.4.0", "connection", "O(1)"), Some(connection::client_setname), &[]),
];

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: [Spec; 5] = [
    spec("config|get", -3, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Returns configuration parameters matching patterns.", "2.0.0", "server", "O(N) when N is the number of configuration parameters"), Some(server::config_get), &[]),
    spec("config|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW, &[],
        docs("Lists the CONFIG subcommands.", "2.0.0", "server", "O(1)"), Some(server::config_help), &[]),
    spec("config|resetstat", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Resets the server statistics.", "2.0.0", "server", "O(1)"), Some(server::config_resetstat), &[]),
    spec("config|rewrite", 2, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Writes the running configuration to the configuration file.", "2.0.0", "server", "O(1)"), Some(server::config_rewrite), &[]),
    spec("config|set", -4, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &["request_policy:all_nodes", "response_policy:all_succeeded"],
        docs("Changes configuration parameters, all or none.", "2.0.0", "server", "O(N) when N is the number of parameters being set"), Some(server::config_set), &[]),
];

#[rustfmt::skip]
static COMMAND_SUBCOMMANDS: [Spec; 7] = [
    spec("command|count", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Counts the commands.", "2.8.13", "server", "O(1)"), Some(server::command_count), &[]),
    spec("command|docs", -2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output_order"],
        docs("Documents the given commands, or all.", "2.8.13", "server", "O(N) where N is the number of commands documented"), Some(server::command_docs), &[]),
    spec("command|getkeys", -4, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Finds the keys of a full command line.", "2.8.13", "server", "O(N) where N is the number of arguments"), Some(server::command_getkeys), &[]),
    spec("command|getkeysandflags", -4, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Finds the keys of a full command line and how they are used.", "2.8.13", "server", "O(N) where N is the number of arguments"), Some(server::command_getkeysandflags), &[]),
    spec("command|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &[],
        docs("Lists the COMMAND subcommands.", "2.8.13", "server", "O(1)"), Some(server::command_help), &[]),
    spec("command|info", -2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output_order"],
        docs("Describes the given commands, or all.", "2.8.13", "server", "O(N) where N is the number of commands described"), Some(server::command_info), &[]),
    spec("command|list", -2, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output_order"],
        docs("Lists command names.", "2.8.13", "server", "O(N) where N is the number of commands"), Some(server::command_list), &[]),
];

#[rustfmt::skip]
static OBJECT_SUBCOMMANDS: [Spec; 5] = [
    spec("object|encoding", 3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output"],
        docs("Returns the internal encoding of a value.", "2.2.3", "generic", "O(1)"), Some(keys::object_encoding), &[]),
    spec("object|freq", 3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output"],
        docs("Returns the access frequency counter of a key (LFU policies).", "2.2.3", "generic", "O(1)"), Some(keys::object_freq), &[]),
    spec("object|help", 2, F::LOADING | F::STALE, (0, 0, 0), &[], A::KEYSPACE | A::SLOW, &[],
        docs("Lists the OBJECT subcommands.", "2.2.3", "generic", "O(1)"), Some(keys::object_help), &[]),
    spec("object|idletime", 3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output"],
        docs("Returns the seconds since a key was last accessed.", "2.2.3", "generic", "O(1)"), Some(keys::object_idletime), &[]),
    spec("object|refcount", 3, F::READONLY, (2, 2, 1), &[ks(&["RO"], 2, 0, 1, 0)], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output"],
        docs("Returns the reference count of a value.", "2.2.3", "generic", "O(1)"), Some(keys::object_refcount), &[]),
];

/// Every command, in no particular order.
#[rustfmt::skip]
pub static COMMANDS: [Spec; 61] = [
    spec("ping", -1, F::FAST, (0, 0, 0), &[], A::FAST | A::CONNECTION, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Checks the connection; answers PONG or echoes its argument.", "1.0.0", "connection", "O(1)"), Some(connection::ping), &[]),
    spec("echo", 2, F::LOADING | F::STALE | F::FAST, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Replies with its argument.", "1.0.0", "connection", "O(1)"), Some(connection::echo), &[]),
    spec("quit", -1, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Closes the connection after replying OK.", "1.0.0", "connection", "O(1)"), Some(connection::quit), &[]),
    spec("hello", -1, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Chooses the protocol version, optionally authenticates and names the connection.", "6.0.0", "connection", "O(1)"), Some(connection::hello), &[]),
    spec("auth", -2, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Authenticates the connection.", "1.0.0", "connection", "O(N) where N is the number of passwords of the user"), Some(connection::auth), &[]),
    spec("select", 2, F::LOADING | F::STALE | F::FAST, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Changes the database of the connection.", "1.0.0", "connection", "O(1)"), Some(connection::select), &[]),
    spec("swapdb", 3, F::WRITE | F::FAST, (0, 0, 0), &[], A::KEYSPACE | A::WRITE | A::FAST | A::DANGEROUS, &[],
        docs("Exchanges the contents of two databases.", "4.0.0", "server", "O(N) where N is the number of clients watching or blocking on keys"), Some(connection::swapdb), &[]),
    spec("reset", 1, F::NOSCRIPT | F::LOADING | F::STALE | F::FAST | F::NO_AUTH | F::ALLOW_BUSY, (0, 0, 0), &[], A::FAST | A::CONNECTION, &[],
        docs("Returns the connection to its initial state.", "6.2.0", "connection", "O(1)"), Some(connection::reset), &[]),
    spec("client", -2, 0, (0, 0, 0), &[], A::SLOW, &[],
        docs("Container for connection management subcommands.", "2.4.0", "connection", "Depends on subcommand."), None, &CLIENT_SUBCOMMANDS),
    spec("info", -1, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::DANGEROUS, &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
        docs("Reports information and statistics about the server.", "1.0.0", "server", "O(1)"), Some(server::info), &[]),
    spec("dbsize", 1, F::READONLY | F::FAST, (0, 0, 0), &[], A::KEYSPACE | A::READ | A::FAST, &["request_policy:all_shards", "response_policy:agg_sum"],
        docs("Counts the keys of the selected database.", "1.0.0", "server", "O(1)"), Some(server::dbsize), &[]),
    spec("flushdb", -1, F::WRITE, (0, 0, 0), &[], A::KEYSPACE | A::WRITE | A::SLOW | A::DANGEROUS, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Deletes every key of the selected database.", "1.0.0", "server", "O(N) where N is the number of keys in the database"), Some(server::flushdb), &[]),
    spec("flushall", -1, F::WRITE, (0, 0, 0), &[], A::KEYSPACE | A::WRITE | A::SLOW | A::DANGEROUS, &["request_policy:all_shards", "response_policy:all_succeeded"],
        docs("Deletes every key of every database.", "1.0.0", "server", "O(N) where N is the total number of keys"), Some(server::flushall), &[]),
    spec("time", 1, F::LOADING | F::STALE | F::FAST, (0, 0, 0), &[], A::FAST, &["nondeterministic_output"],
        docs("Returns the server time in seconds and microseconds.", "2.6.0", "server", "O(1)"), Some(server::time), &[]),
    spec("config", -2, 0, (0, 0, 0), &[], A::SLOW, &[],
        docs("Container for configuration subcommands.", "2.0.0", "server", "Depends on subcommand."), None, &CONFIG_SUBCOMMANDS),
    spec("shutdown", -1, F::ADMIN | F::NOSCRIPT | F::LOADING | F::STALE | F::NO_MULTI | F::ALLOW_BUSY, (0, 0, 0), &[], A::ADMIN | A::SLOW | A::DANGEROUS, &[],
        docs("Stops the server.", "1.0.0", "server", "O(N) when saving, where N is the number of keys"), Some(server::shutdown), &[]),
    spec("command", -1, F::LOADING | F::STALE, (0, 0, 0), &[], A::SLOW | A::CONNECTION, &["nondeterministic_output_order"],
        docs("Describes all commands.", "2.8.13", "server", "O(N) where N is the number of commands"), Some(server::command_all), &COMMAND_SUBCOMMANDS),
    spec("get", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::STRING | A::FAST, &[],
        docs("Returns the string value of a key.", "1.0.0", "string", "O(1)"), Some(strings::get), &[]),
    spec("set", -3, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["RW", "access", "update", "variable_flags"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::SLOW, &[],
        docs("Sets the string value of a key, with optional expiry and conditions.", "1.0.0", "string", "O(1)"), Some(strings::set), &[]),
    spec("setnx", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["OW", "insert"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Sets a key only if it does not exist.", "1.0.0", "string", "O(1)"), Some(strings::setnx), &[]),
    spec("setex", 4, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["OW", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::SLOW, &[],
        docs("Sets a key with an expiry in seconds.", "2.0.0", "string", "O(1)"), Some(strings::setex), &[]),
    spec("psetex", 4, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["OW", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::SLOW, &[],
        docs("Sets a key with an expiry in milliseconds.", "2.6.0", "string", "O(1)"), Some(strings::psetex), &[]),
    spec("getset", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Sets a key and returns its old value.", "1.0.0", "string", "O(1)"), Some(strings::getset), &[]),
    spec("getdel", 2, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Returns the value of a key and deletes it.", "6.2.0", "string", "O(1)"), Some(strings::getdel), &[]),
    spec("getex", -2, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Returns the value of a key and changes its expiry.", "6.2.0", "string", "O(1)"), Some(strings::getex), &[]),
    spec("mget", -2, F::READONLY | F::FAST, (1, -1, 1), &[ks(&["RO", "access"], 1, -1, 1, 0)], A::READ | A::STRING | A::FAST, &["request_policy:multi_shard"],
        docs("Returns the values of several keys.", "1.0.0", "string", "O(N) where N is the number of keys"), Some(strings::mget), &[]),
    spec("mset", -3, F::WRITE | F::DENYOOM, (1, -1, 2), &[ks(&["OW", "update"], 1, -1, 2, 0)], A::WRITE | A::STRING | A::SLOW, &["request_policy:multi_shard", "response_policy:all_succeeded"],
        docs("Sets several keys.", "1.0.1", "string", "O(N) where N is the number of keys"), Some(strings::mset), &[]),
    spec("msetnx", -3, F::WRITE | F::DENYOOM, (1, -1, 2), &[ks(&["OW", "insert"], 1, -1, 2, 0)], A::WRITE | A::STRING | A::SLOW, &["request_policy:multi_shard", "response_policy:agg_min"],
        docs("Sets several keys only if none of them exists.", "1.0.1", "string", "O(N) where N is the number of keys"), Some(strings::msetnx), &[]),
    spec("append", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "insert"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Appends to the string value of a key.", "2.0.0", "string", "O(1) amortized"), Some(strings::append), &[]),
    spec("strlen", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO"], 1, 0, 1, 0)], A::READ | A::STRING | A::FAST, &[],
        docs("Returns the length of a string value.", "2.2.0", "string", "O(1)"), Some(strings::strlen), &[]),
    spec("incr", 2, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Adds one to the integer value of a key.", "1.0.0", "string", "O(1)"), Some(strings::incr), &[]),
    spec("decr", 2, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Subtracts one from the integer value of a key.", "1.0.0", "string", "O(1)"), Some(strings::decr), &[]),
    spec("incrby", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Adds an integer to the integer value of a key.", "1.0.0", "string", "O(1)"), Some(strings::incrby), &[]),
    spec("decrby", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Subtracts an integer from the integer value of a key.", "1.0.0", "string", "O(1)"), Some(strings::decrby), &[]),
    spec("incrbyfloat", 3, F::WRITE | F::DENYOOM | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::FAST, &[],
        docs("Adds a floating point number to the value of a key.", "2.6.0", "string", "O(1)"), Some(strings::incrbyfloat), &[]),
    spec("getrange", 4, F::READONLY, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::STRING | A::SLOW, &[],
        docs("Returns a substring of a string value.", "2.4.0", "string", "O(N) where N is the length of the result"), Some(strings::getrange), &[]),
    spec("substr", 4, F::READONLY, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::READ | A::STRING | A::SLOW, &[],
        docs("Returns a substring of a string value (old name of GETRANGE).", "1.0.0", "string", "O(N) where N is the length of the result"), Some(strings::substr), &[]),
    spec("setrange", 4, F::WRITE | F::DENYOOM, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::WRITE | A::STRING | A::SLOW, &[],
        docs("Overwrites part of a string value from an offset.", "2.2.0", "string", "O(1) plus the copy of the new part"), Some(strings::setrange), &[]),
    spec("lcs", -3, F::READONLY, (1, 2, 1), &[ks(&["RO", "access"], 1, 1, 1, 0)], A::READ | A::STRING | A::SLOW, &[],
        docs("Finds the longest common subsequence of two strings.", "7.0.0", "string", "O(N*M) where N and M are the string lengths"), Some(strings::lcs), &[]),
    spec("del", -2, F::WRITE, (1, -1, 1), &[ks(&["RM", "delete"], 1, -1, 1, 0)], A::KEYSPACE | A::WRITE | A::SLOW, &["request_policy:multi_shard", "response_policy:agg_sum"],
        docs("Deletes keys.", "1.0.0", "generic", "O(N) where N is the number of keys"), Some(keys::del), &[]),
    spec("unlink", -2, F::WRITE | F::FAST, (1, -1, 1), &[ks(&["RM", "delete"], 1, -1, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &["request_policy:multi_shard", "response_policy:agg_sum"],
        docs("Deletes keys, freeing memory in the background.", "4.0.0", "generic", "O(1) per key"), Some(keys::unlink), &[]),
    spec("exists", -2, F::READONLY | F::FAST, (1, -1, 1), &[ks(&["RO"], 1, -1, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &["request_policy:multi_shard", "response_policy:agg_sum"],
        docs("Counts how many of the given keys exist.", "1.0.0", "generic", "O(N) where N is the number of keys"), Some(keys::exists), &[]),
    spec("type", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &[],
        docs("Returns the type of the value of a key.", "1.0.0", "generic", "O(1)"), Some(keys::type_cmd), &[]),
    spec("rename", 3, F::WRITE, (1, 2, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0), ks(&["OW", "update"], 2, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::SLOW, &[],
        docs("Renames a key, replacing the destination.", "1.0.0", "generic", "O(1)"), Some(keys::rename), &[]),
    spec("renamenx", 3, F::WRITE | F::FAST, (1, 2, 1), &[ks(&["RW", "access", "delete"], 1, 0, 1, 0), ks(&["OW", "insert"], 2, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Renames a key if the destination does not exist.", "1.0.0", "generic", "O(1)"), Some(keys::renamenx), &[]),
    spec("keys", 2, F::READONLY, (0, 0, 0), &[], A::KEYSPACE | A::READ | A::SLOW | A::DANGEROUS, &["request_policy:all_shards", "nondeterministic_output_order"],
        docs("Returns the keys matching a pattern.", "1.0.0", "generic", "O(N) where N is the number of keys in the database"), Some(keys::keys), &[]),
    spec("scan", -2, F::READONLY, (0, 0, 0), &[], A::KEYSPACE | A::READ | A::SLOW, &["nondeterministic_output", "request_policy:special"],
        docs("Iterates the keys of the database incrementally.", "2.8.0", "generic", "O(1) per call, O(N) for a complete iteration"), Some(keys::scan), &[]),
    spec("randomkey", 1, F::READONLY, (0, 0, 0), &[], A::KEYSPACE | A::READ | A::SLOW, &["request_policy:all_shards", "nondeterministic_output"],
        docs("Returns a random key.", "1.0.0", "generic", "O(1)"), Some(keys::randomkey), &[]),
    spec("expire", -3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Sets the time to live of a key in seconds.", "1.0.0", "generic", "O(1)"), Some(keys::expire), &[]),
    spec("pexpire", -3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Sets the time to live of a key in milliseconds.", "2.6.0", "generic", "O(1)"), Some(keys::pexpire), &[]),
    spec("expireat", -3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Sets the expiry of a key as a Unix time in seconds.", "1.2.0", "generic", "O(1)"), Some(keys::expireat), &[]),
    spec("pexpireat", -3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Sets the expiry of a key as a Unix time in milliseconds.", "2.6.0", "generic", "O(1)"), Some(keys::pexpireat), &[]),
    spec("ttl", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &["nondeterministic_output"],
        docs("Returns the time to live of a key in seconds.", "1.0.0", "generic", "O(1)"), Some(keys::ttl), &[]),
    spec("pttl", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &["nondeterministic_output"],
        docs("Returns the time to live of a key in milliseconds.", "2.6.0", "generic", "O(1)"), Some(keys::pttl), &[]),
    spec("expiretime", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &[],
        docs("Returns the expiry of a key as a Unix time in seconds.", "7.0.0", "generic", "O(1)"), Some(keys::expiretime), &[]),
    spec("pexpiretime", 2, F::READONLY | F::FAST, (1, 1, 1), &[ks(&["RO", "access"], 1, 0, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &[],
        docs("Returns the expiry of a key as a Unix time in milliseconds.", "7.0.0", "generic", "O(1)"), Some(keys::pexpiretime), &[]),
    spec("persist", 2, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Removes the expiry of a key.", "2.2.0", "generic", "O(1)"), Some(keys::persist), &[]),
    spec("copy", -3, F::WRITE | F::DENYOOM, (1, 2, 1), &[ks(&["RO", "access"], 1, 0, 1, 0), ks(&["OW", "update"], 2, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::SLOW, &[],
        docs("Copies a key, optionally to another database.", "6.2.0", "generic", "O(N) where N is the size of the value"), Some(keys::copy_cmd), &[]),
    spec("move", 3, F::WRITE | F::FAST, (1, 1, 1), &[ks(&["RW", "access", "update"], 1, 0, 1, 0)], A::KEYSPACE | A::WRITE | A::FAST, &[],
        docs("Moves a key to another database.", "1.0.0", "generic", "O(1)"), Some(keys::move_cmd), &[]),
    spec("touch", -2, F::READONLY | F::FAST, (1, -1, 1), &[ks(&["RO"], 1, -1, 1, 0)], A::KEYSPACE | A::READ | A::FAST, &["request_policy:multi_shard", "response_policy:agg_sum"],
        docs("Updates the access time of keys; counts those that exist.", "3.2.1", "generic", "O(N) where N is the number of keys"), Some(keys::touch), &[]),
    spec("object", -2, 0, (0, 0, 0), &[], A::SLOW, &[],
        docs("Container for object introspection subcommands.", "2.2.3", "generic", "Depends on subcommand."), None, &OBJECT_SUBCOMMANDS),
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
        last,
        step,
        limit,
    }
}

const fn docs(
    summary: &'static str,
    since: &'static str,
    group: &'static str,
    complexity: &'static str,
) -> Docs {
    Docs {
        summary,
        since,
        group,
        complexity,
    }
}

type Index = HashMap<&'static [u8], &'static Spec, foldhash::fast::FixedState>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| COMMANDS.iter().map(|s| (s.name.as_bytes(), s)).collect())
}

/// Longest command name; a longer argument cannot be a command.
const MAX_NAME_BYTES: usize = 32;

/// Find a command by name, ignoring ASCII case, without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    if name.len() > MAX_NAME_BYTES {
        return None;
    }
    let mut buf = [0u8; MAX_NAME_BYTES];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index().get(&*lower).copied()
}

/// Find a subcommand of a container command, ignoring ASCII case.
pub fn lookup_sub(container: &'static Spec, sub: &[u8]) -> Option<&'static Spec> {
    container.subcommands.iter().find(|s| {
        s.name
            .split_once('|')
            .is_some_and(|(_, n)| n.as_bytes().eq_ignore_ascii_case(sub))
    })
}

/// Every command and subcommand, for statistics (each gets a stable index).
pub fn all_specs() -> &'static [&'static Spec] {
    static ALL: OnceLock<Vec<&'static Spec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        for c in COMMANDS.iter() {
            v.push(c);
            v.extend(c.subcommands.iter());
        }
        v
    })
}

/// The position of `spec` in [`all_specs`].
pub fn spec_index(spec: &'static Spec) -> usize {
    type ByAddr = HashMap<usize, usize, foldhash::fast::FixedState>;
    static BY_ADDR: OnceLock<ByAddr> = OnceLock::new();
    let map = BY_ADDR.get_or_init(|| {
        all_specs()
            .iter()
            .enumerate()
            .map(|(i, s)| (*s as *const Spec as usize, i))
            .collect()
    });
    map.get(&(spec as *const Spec as usize))
        .copied()
        .unwrap_or(0)
}
