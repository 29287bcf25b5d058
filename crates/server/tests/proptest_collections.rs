//! Property-based differential test for the collection types: random sequences of list, hash,
//! set and sorted-set commands (one generator per type, plus the key commands that move values
//! around) run on Basalt and on real redis-server; every reply must be the same bytes.
//!
//! Both servers run with tiny encoding thresholds, so sequences cross the listpack/intset →
//! quicklist/hashtable/skiplist conversions all the time. Keys, members and scores come from
//! small alphabets so that commands keep hitting the same values. Commands whose answer is
//! random (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER) are left out; replies whose order is a
//! hash table's (SMEMBERS, HGETALL …) are compared as sorted element lists.
//!
//! Lex-range commands get a key of their own whose members all share score 0: over mixed
//! scores Redis's skiplist answer depends on its random levels (the differential corpus pins
//! the mixed-score behaviour of the packed form instead).
//!
//! 300 sequences per type by default; `PROPTEST_CASES=5000` for a longer hunt.

mod common;

use common::{elements, redis, show, Conn, ServerProc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::BoxedStrategy;

type B = &'static str;

const KEYS: &[B] = &["a", "b", "{t}c", "s"];
const MEMBERS: &[B] = &[
    "1",
    "2",
    "-3",
    "10",
    "x",
    "y",
    "zz",
    "",
    "a-long-member-xyz",
    "7",
];
const SCORES: &[B] = &[
    "0", "-0", "1", "2.5", "-1", "1e20", "inf", "-inf", "+inf", "0x10", "nan", "abc", "3",
];
const INDEXES: &[B] = &["0", "1", "-1", "2", "-2", "5", "-100", "100", "x"];
const SCORE_BOUNDS: &[B] = &[
    "-inf", "+inf", "0", "(0", "1", "(2.5", "3", "(inf", "x", "1e400",
];
const LEX_BOUNDS: &[B] = &["-", "+", "[x", "(x", "[1", "(10", "[", "(", "x", "[zz"];

/// One command: its arguments, and whether its reply order is a hash table's.
#[derive(Clone, Debug)]
struct Cmd {
    args: Vec<String>,
    unordered: bool,
}

fn cmd(args: Vec<&str>) -> Cmd {
    Cmd {
        args: args.into_iter().map(str::to_string).collect(),
        unordered: false,
    }
}

fn unordered(args: Vec<&str>) -> Cmd {
    Cmd {
        unordered: true,
        ..cmd(args)
    }
}

fn key() -> impl Strategy<Value = B> {
    select(KEYS)
}

fn member() -> impl Strategy<Value = B> {
    select(MEMBERS)
}

fn members() -> impl Strategy<Value = Vec<B>> {
    vec(member(), 1..4)
}

fn s(x: &[B]) -> impl Strategy<Value = B> {
    select(x.to_vec())
}

/// Commands every type's sequences mix in: type checks, moves and deletes.
fn generic() -> BoxedStrategy<Cmd> {
    prop_oneof![
        key().prop_map(|k| cmd(vec!["TYPE", k])),
        key().prop_map(|k| cmd(vec!["OBJECT", "ENCODING", k])),
        key().prop_map(|k| cmd(vec!["DEL", k])),
        (key(), key()).prop_map(|(a, b)| cmd(vec!["RENAME", a, b])),
        (key(), key()).prop_map(|(a, b)| cmd(vec!["COPY", a, b, "REPLACE"])),
        (key(), member()).prop_map(|(k, v)| cmd(vec!["SET", k, v])),
        key().prop_map(|k| cmd(vec!["EXISTS", k])),
    ]
    .boxed()
}

fn lists() -> BoxedStrategy<Cmd> {
    prop_oneof![
        4 => (key(), members()).prop_map(|(k, m)| cmd([vec!["RPUSH", k], m].concat())),
        3 => (key(), members()).prop_map(|(k, m)| cmd([vec!["LPUSH", k], m].concat())),
        1 => (key(), members()).prop_map(|(k, m)| cmd([vec!["LPUSHX", k], m].concat())),
        2 => (key(), s(&["", "1", "3"])).prop_map(|(k, n)| cmd(vec!["LPOP", k, n].into_iter().filter(|a| !a.is_empty()).collect())),
        2 => (key(), s(&["", "2"])).prop_map(|(k, n)| cmd(vec!["RPOP", k, n].into_iter().filter(|a| !a.is_empty()).collect())),
        3 => (key(), s(INDEXES), s(INDEXES)).prop_map(|(k, a, b)| cmd(vec!["LRANGE", k, a, b])),
        2 => (key(), s(INDEXES)).prop_map(|(k, i)| cmd(vec!["LINDEX", k, i])),
        2 => (key(), s(INDEXES), member()).prop_map(|(k, i, v)| cmd(vec!["LSET", k, i, v])),
        2 => (key(), s(&["BEFORE", "AFTER"]), member(), member())
            .prop_map(|(k, w, p, v)| cmd(vec!["LINSERT", k, w, p, v])),
        2 => (key(), s(&["0", "1", "-1", "-2"]), member()).prop_map(|(k, n, v)| cmd(vec!["LREM", k, n, v])),
        2 => (key(), s(INDEXES), s(INDEXES)).prop_map(|(k, a, b)| cmd(vec!["LTRIM", k, a, b])),
        2 => (key(), member(), s(&["1", "-1", "2"]), s(&["0", "2"]))
            .prop_map(|(k, v, r, c)| cmd(vec!["LPOS", k, v, "RANK", r, "COUNT", c])),
        2 => (key(), key(), s(&["LEFT", "RIGHT"]), s(&["LEFT", "RIGHT"]))
            .prop_map(|(a, b, f, t)| cmd(vec!["LMOVE", a, b, f, t])),
        1 => (key(), key()).prop_map(|(a, b)| cmd(vec!["LMPOP", "2", a, b, "LEFT", "COUNT", "2"])),
        2 => key().prop_map(|k| cmd(vec!["LLEN", k])),
        1 => key().prop_map(|k| cmd(vec!["SORT", k, "ALPHA", "LIMIT", "0", "3"])),
        2 => generic(),
    ]
    .boxed()
}

fn hashes() -> BoxedStrategy<Cmd> {
    prop_oneof![
        4 => (key(), member(), member()).prop_map(|(k, f, v)| cmd(vec!["HSET", k, f, v])),
        2 => (key(), member(), member()).prop_map(|(k, f, v)| cmd(vec!["HSETNX", k, f, v])),
        3 => (key(), member()).prop_map(|(k, f)| cmd(vec!["HGET", k, f])),
        2 => (key(), members()).prop_map(|(k, f)| cmd([vec!["HMGET", k], f].concat())),
        2 => (key(), members()).prop_map(|(k, f)| cmd([vec!["HDEL", k], f].concat())),
        2 => (key(), member(), s(&["1", "-5", "x", "9223372036854775807"]))
            .prop_map(|(k, f, n)| cmd(vec!["HINCRBY", k, f, n])),
        2 => (key(), member(), s(&["1.5", "-0.1", "x", "inf"]))
            .prop_map(|(k, f, n)| cmd(vec!["HINCRBYFLOAT", k, f, n])),
        2 => (key(), member()).prop_map(|(k, f)| cmd(vec!["HSTRLEN", k, f])),
        2 => (key(), member()).prop_map(|(k, f)| cmd(vec!["HEXISTS", k, f])),
        2 => key().prop_map(|k| cmd(vec!["HLEN", k])),
        1 => key().prop_map(|k| unordered(vec!["HKEYS", k])),
        1 => key().prop_map(|k| unordered(vec!["HVALS", k])),
        1 => key().prop_map(|k| unordered(vec!["HGETALL", k])),
        2 => generic(),
    ]
    .boxed()
}

fn sets() -> BoxedStrategy<Cmd> {
    prop_oneof![
        4 => (key(), members()).prop_map(|(k, m)| cmd([vec!["SADD", k], m].concat())),
        2 => (key(), members()).prop_map(|(k, m)| cmd([vec!["SREM", k], m].concat())),
        2 => (key(), member()).prop_map(|(k, m)| cmd(vec!["SISMEMBER", k, m])),
        2 => (key(), members()).prop_map(|(k, m)| cmd([vec!["SMISMEMBER", k], m].concat())),
        2 => key().prop_map(|k| cmd(vec!["SCARD", k])),
        2 => key().prop_map(|k| unordered(vec!["SMEMBERS", k])),
        2 => (key(), key(), member()).prop_map(|(a, b, m)| cmd(vec!["SMOVE", a, b, m])),
        2 => (key(), key()).prop_map(|(a, b)| unordered(vec!["SINTER", a, b])),
        2 => (key(), key()).prop_map(|(a, b)| unordered(vec!["SUNION", a, b])),
        2 => (key(), key()).prop_map(|(a, b)| unordered(vec!["SDIFF", a, b])),
        2 => (key(), key(), key()).prop_map(|(d, a, b)| cmd(vec!["SINTERSTORE", d, a, b])),
        2 => (key(), key(), key()).prop_map(|(d, a, b)| cmd(vec!["SUNIONSTORE", d, a, b])),
        1 => (key(), key(), key()).prop_map(|(d, a, b)| cmd(vec!["SDIFFSTORE", d, a, b])),
        1 => (key(), key()).prop_map(|(a, b)| cmd(vec!["SINTERCARD", "2", a, b, "LIMIT", "2"])),
        1 => key().prop_map(|k| cmd(vec!["SORT", k, "LIMIT", "1", "3"])),
        2 => generic(),
    ]
    .boxed()
}

fn zadd_opts() -> impl Strategy<Value = Vec<B>> {
    vec(s(&["NX", "XX", "GT", "LT", "CH", "INCR"]), 0..3)
}

fn zsets() -> BoxedStrategy<Cmd> {
    let pair = (s(SCORES), member());
    prop_oneof![
        6 => (key(), zadd_opts(), vec(pair, 1..4)).prop_map(|(k, o, p)| {
            let flat: Vec<B> = p.into_iter().flat_map(|(s, m)| [s, m]).collect();
            cmd([vec!["ZADD", k], o, flat].concat())
        }),
        2 => (key(), s(SCORES), member()).prop_map(|(k, n, m)| cmd(vec!["ZINCRBY", k, n, m])),
        2 => (key(), members()).prop_map(|(k, m)| cmd([vec!["ZREM", k], m].concat())),
        2 => (key(), member()).prop_map(|(k, m)| cmd(vec!["ZSCORE", k, m])),
        1 => (key(), members()).prop_map(|(k, m)| cmd([vec!["ZMSCORE", k], m].concat())),
        2 => (key(), member(), s(&["ZRANK", "ZREVRANK"])).prop_map(|(k, m, c)| cmd(vec![c, k, m])),
        2 => (key(), s(SCORE_BOUNDS), s(SCORE_BOUNDS)).prop_map(|(k, a, b)| cmd(vec!["ZCOUNT", k, a, b])),
        3 => members().prop_map(|m| cmd([vec!["ZADD", "lex"], m.into_iter().flat_map(|m| ["0", m]).collect()].concat())),
        2 => (s(LEX_BOUNDS), s(LEX_BOUNDS)).prop_map(|(a, b)| cmd(vec!["ZLEXCOUNT", "lex", a, b])),
        3 => (key(), s(INDEXES), s(INDEXES), s(&["", "REV", "WITHSCORES"]))
            .prop_map(|(k, a, b, o)| cmd(vec!["ZRANGE", k, a, b, o].into_iter().filter(|x| !x.is_empty()).collect())),
        3 => (key(), s(SCORE_BOUNDS), s(SCORE_BOUNDS), s(&["", "REV"]), s(&["0", "1", "-1"]), s(&["1", "2", "-1"]))
            .prop_map(|(k, a, b, r, o, c)| cmd(vec!["ZRANGE", k, a, b, "BYSCORE", r, "LIMIT", o, c, "WITHSCORES"].into_iter().filter(|x| !x.is_empty()).collect())),
        2 => (s(LEX_BOUNDS), s(LEX_BOUNDS), s(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]))
            .prop_map(|(a, b, c)| cmd(vec![c, "lex", a, b])),
        1 => (key(), key(), s(INDEXES), s(INDEXES)).prop_map(|(d, k, a, b)| cmd(vec!["ZRANGESTORE", d, k, a, b])),
        1 => (key(), s(INDEXES), s(INDEXES)).prop_map(|(k, a, b)| cmd(vec!["ZREMRANGEBYRANK", k, a, b])),
        1 => (key(), s(SCORE_BOUNDS), s(SCORE_BOUNDS)).prop_map(|(k, a, b)| cmd(vec!["ZREMRANGEBYSCORE", k, a, b])),
        1 => (s(LEX_BOUNDS), s(LEX_BOUNDS)).prop_map(|(a, b)| cmd(vec!["ZREMRANGEBYLEX", "lex", a, b])),
        2 => (key(), s(&["ZPOPMIN", "ZPOPMAX"]), s(&["", "2"]))
            .prop_map(|(k, c, n)| cmd(vec![c, k, n].into_iter().filter(|x| !x.is_empty()).collect())),
        1 => (key(), key(), s(&["MIN", "MAX"])).prop_map(|(a, b, w)| cmd(vec!["ZMPOP", "2", a, b, w, "COUNT", "2"])),
        2 => (s(&["ZUNION", "ZINTER", "ZDIFF"]), key(), key())
            .prop_map(|(c, a, b)| cmd(vec![c, "2", a, b, "WITHSCORES"])),
        2 => (s(&["ZUNIONSTORE", "ZINTERSTORE"]), key(), key(), key(), s(SCORES), s(&["SUM", "MIN", "MAX"]))
            .prop_map(|(c, d, a, b, w, g)| cmd(vec![c, d, "2", a, b, "WEIGHTS", w, "2", "AGGREGATE", g])),
        1 => (key(), key(), key()).prop_map(|(d, a, b)| cmd(vec!["ZDIFFSTORE", d, "2", a, b])),
        1 => (key(), key()).prop_map(|(a, b)| cmd(vec!["ZINTERCARD", "2", a, b])),
        1 => (key(), members()).prop_map(|(k, m)| cmd([vec!["SADD", k], m].concat())),
        2 => key().prop_map(|k| cmd(vec!["ZCARD", k])),
        2 => generic(),
    ]
    .boxed()
}

/// Tiny thresholds so that small sequences convert encodings.
const SMALL_ENCODINGS: &[[&str; 2]] = &[
    ["list-max-listpack-size", "2"],
    ["hash-max-listpack-entries", "3"],
    ["hash-max-listpack-value", "8"],
    ["set-max-intset-entries", "3"],
    ["zset-max-listpack-entries", "3"],
    ["zset-max-listpack-value", "8"],
];

fn configure(server: &ServerProc) {
    let mut c = server.conn();
    for [name, value] in SMALL_ENCODINGS {
        assert_eq!(c.cmd_str(&["CONFIG", "SET", name, value]), b"+OK\r\n");
    }
}

fn sorted_reply(frame: Vec<u8>) -> Vec<u8> {
    match elements(&frame) {
        Some(mut e) => {
            e.sort();
            e.concat()
        }
        None => frame,
    }
}

fn run(server: &ServerProc, cmds: &[Cmd]) -> Vec<Vec<u8>> {
    let mut c: Conn = server.conn();
    assert_eq!(
        c.cmd(&[b"FLUSHALL"]),
        b"+OK\r\n",
        "FLUSHALL on {}",
        server.name
    );
    cmds.iter()
        .map(|cmd| {
            let args: Vec<&[u8]> = cmd.args.iter().map(|a| a.as_bytes()).collect();
            let reply = c.cmd(&args);
            if cmd.unordered {
                sorted_reply(reply)
            } else {
                reply
            }
        })
        .collect()
}

fn compare(redis: &ServerProc, basalt: &ServerProc, cmds: &[Cmd]) -> Result<(), String> {
    let (want, got) = (run(redis, cmds), run(basalt, cmds));
    if want == got {
        return Ok(());
    }
    let mut out = String::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let mark = if want[i] == got[i] { " " } else { "X" };
        out.push_str(&format!("{mark} {i:>2} {}\n", cmd.args.join(" ")));
        out.push_str(&format!("       redis  {}\n", show(&want[i])));
        if want[i] != got[i] {
            out.push_str(&format!("       basalt {}\n", show(&got[i])));
        }
    }
    Err(out)
}

fn check(strategy: BoxedStrategy<Cmd>) {
    let Some(redis) = redis() else { return };
    let basalt = common::basalt(&[]);
    configure(&redis);
    configure(&basalt);
    common::prop_differential(300, 2048, vec(strategy, 1..30), |cmds| {
        compare(&redis, &basalt, &cmds)
    });
}

#[test]
fn random_list_sequences_match_redis() {
    check(lists());
}

#[test]
fn random_hash_sequences_match_redis() {
    check(hashes());
}

#[test]
fn random_set_sequences_match_redis() {
    check(sets());
}

#[test]
fn random_zset_sequences_match_redis() {
    check(zsets());
}
