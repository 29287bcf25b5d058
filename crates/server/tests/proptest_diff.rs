//! Property-based differential test: random sequences of string, key and expiry commands run
//! on Basalt and on real redis-server, and every reply must be the same bytes.
//!
//! Time is the only source of nondeterminism, so: relative expiries are large (1000 s and up)
//! and grow by one second per step (two relative expiries never tie, so EXPIRE GT/LT is
//! deterministic); absolute ones are far in the future (year 2100) or long past; TTL/PTTL
//! replies compare only as -2 / -1 / positive; EXPIRETIME/PEXPIRETIME replies are exact for
//! absolute expiries and normalized for relative ones (which land before 2096); DBSIZE is not
//! compared once a SET with a past EXAT/PXAT may have left an expired key in place.
//!
//! One #[test] runs proptest's `TestRunner` by hand so both servers start once. 2000 cases
//! by default (a few seconds); `PROPTEST_CASES=20000` for a longer hunt (~30 s).

mod common;

use common::{elements, redis, show, Conn, ServerProc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

type B = &'static [u8];

const KEYS: &[B] = &[b"k1", b"k2", b"k3", b"{tag}a", b"{tag}b", b"bin\0key"];

const VALUES: &[B] = &[
    b"0",
    b"1",
    b"-7",
    b"10",
    b"007",
    b"-0",
    b" 1",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"12345678901234567890",
    b"3.14",
    b"-0.5",
    b"1e3",
    b"",
    b"hello",
    b"\x00\xff\r\nbin",
    b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // 44 bytes: the largest embstr
    b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", // 45 bytes: raw
];

const INT_ARGS: &[&str] = &[
    "1",
    "-1",
    "5",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "abc",
    "1.5",
];
const FLOAT_ARGS: &[&str] = &[
    "1.5", "-0.25", "3", "1e2", "0.1", "-3.14", "abc", "inf", "5.0e3",
];
/// Absolute Unix times: year 2100 (far future) or long past.
const EXAT: &[&str] = &["4102444800", "4102444900", "1000000000", "1"];
const PXAT: &[&str] = &["4102444800123", "4102444900000", "1000000000000", "1"];
/// Expiry arguments that are not valid relative times, or are zero/negative.
const BAD_EXPIRY: &[&str] = &[
    "0",
    "-1",
    "abc",
    "9223372036854775807",
    "-9223372036854775808",
];

/// A relative expiry: `base + step` seconds (a large base), or a literal.
#[derive(Debug, Clone)]
enum Ev {
    Rel(u64),
    Lit(&'static str),
}

impl Ev {
    fn arg(&self, step: usize, ms: bool) -> String {
        match self {
            Ev::Rel(base) => ((base + step as u64) * if ms { 1000 } else { 1 }).to_string(),
            Ev::Lit(s) => s.to_string(),
        }
    }
}

/// An option of SET or GETEX (both take any of them, to exercise their parsers).
#[derive(Debug, Clone)]
enum Opt {
    Nx,
    Xx,
    Get,
    KeepTtl,
    Persist,
    Ex(Ev),
    Px(Ev),
    ExAt(&'static str),
    PxAt(&'static str),
}

#[derive(Debug, Clone)]
enum Cmd {
    Set(B, B, Vec<Opt>),
    Get(B),
    GetSet(B, B),
    GetDel(B),
    GetEx(B, Vec<Opt>),
    SetNx(B, B),
    MSet(Vec<(B, B)>),
    MSetNx(Vec<(B, B)>),
    MGet(Vec<B>),
    Append(B, B),
    Strlen(B),
    Incr(B),
    Decr(B),
    IncrBy(B, &'static str),
    DecrBy(B, &'static str),
    IncrByFloat(B, &'static str),
    GetRange(B, i64, i64),
    SetRange(B, i64, B),
    Del(Vec<B>),
    Exists(Vec<B>),
    Type(B),
    Rename(B, B),
    RenameNx(B, B),
    Copy(B, B, Option<u8>, bool),
    Move(B, u8),
    Persist(B),
    Expire(B, Ev, Option<&'static str>),
    ExpireAt(B, &'static str, Option<&'static str>),
    Ttl(B),
    PTtl(B),
    ExpireTime(B),
    PExpireTime(B),
    ObjectEncoding(B),
    DbSize,
    Keys,
    Select(u8),
    SwapDb,
    FlushDb,
}

impl Cmd {
    /// The command line; `step` (the position in the sequence) offsets relative expiries.
    fn to_args(&self, step: usize) -> Vec<Vec<u8>> {
        let mut a: Vec<Vec<u8>> = Vec::new();
        let mut push = |parts: &[&[u8]]| a.extend(parts.iter().map(|p| p.to_vec()));
        let opts = |push: &mut dyn FnMut(&[&[u8]]), opts: &[Opt]| {
            for o in opts {
                match o {
                    Opt::Nx => push(&[b"NX"]),
                    Opt::Xx => push(&[b"XX"]),
                    Opt::Get => push(&[b"GET"]),
                    Opt::KeepTtl => push(&[b"KEEPTTL"]),
                    Opt::Persist => push(&[b"PERSIST"]),
                    Opt::Ex(e) => push(&[b"EX", e.arg(step, false).as_bytes()]),
                    Opt::Px(e) => push(&[b"PX", e.arg(step, true).as_bytes()]),
                    Opt::ExAt(t) => push(&[b"EXAT", t.as_bytes()]),
                    Opt::PxAt(t) => push(&[b"PXAT", t.as_bytes()]),
                }
            }
        };
        match self {
            Cmd::Set(k, v, o) => {
                push(&[b"SET", k, v]);
                opts(&mut push, o);
            }
            Cmd::Get(k) => push(&[b"GET", k]),
            Cmd::GetSet(k, v) => push(&[b"GETSET", k, v]),
            Cmd::GetDel(k) => push(&[b"GETDEL", k]),
            Cmd::GetEx(k, o) => {
                push(&[b"GETEX", k]);
                opts(&mut push, o);
            }
            Cmd::SetNx(k, v) => push(&[b"SETNX", k, v]),
            Cmd::MSet(kv) | Cmd::MSetNx(kv) => {
                push(&[if matches!(self, Cmd::MSet(_)) {
                    b"MSET"
                } else {
                    b"MSETNX"
                }]);
                kv.iter().for_each(|(k, v)| push(&[k, v]));
            }
            Cmd::MGet(ks) | Cmd::Del(ks) | Cmd::Exists(ks) => {
                push(&[match self {
                    Cmd::MGet(_) => b"MGET",
                    Cmd::Del(_) => b"DEL",
                    _ => b"EXISTS",
                }]);
                ks.iter().for_each(|k| push(&[k]));
            }
            Cmd::Append(k, v) => push(&[b"APPEND", k, v]),
            Cmd::Strlen(k) => push(&[b"STRLEN", k]),
            Cmd::Incr(k) => push(&[b"INCR", k]),
            Cmd::Decr(k) => push(&[b"DECR", k]),
            Cmd::IncrBy(k, n) => push(&[b"INCRBY", k, n.as_bytes()]),
            Cmd::DecrBy(k, n) => push(&[b"DECRBY", k, n.as_bytes()]),
            Cmd::IncrByFloat(k, n) => push(&[b"INCRBYFLOAT", k, n.as_bytes()]),
            Cmd::GetRange(k, s, e) => push(&[
                b"GETRANGE",
                k,
                s.to_string().as_bytes(),
                e.to_string().as_bytes(),
            ]),
            Cmd::SetRange(k, o, v) => push(&[b"SETRANGE", k, o.to_string().as_bytes(), v]),
            Cmd::Type(k) => push(&[b"TYPE", k]),
            Cmd::Rename(s, d) => push(&[b"RENAME", s, d]),
            Cmd::RenameNx(s, d) => push(&[b"RENAMENX", s, d]),
            Cmd::Copy(s, d, db, replace) => {
                push(&[b"COPY", s, d]);
                if let Some(db) = db {
                    push(&[b"DB", db.to_string().as_bytes()]);
                }
                if *replace {
                    push(&[b"REPLACE"]);
                }
            }
            Cmd::Move(k, db) => push(&[b"MOVE", k, db.to_string().as_bytes()]),
            Cmd::Persist(k) => push(&[b"PERSIST", k]),
            Cmd::Expire(k, e, flag) => {
                push(&[b"EXPIRE", k, e.arg(step, false).as_bytes()]);
                flag.iter().for_each(|f| push(&[f.as_bytes()]));
            }
            Cmd::ExpireAt(k, t, flag) => {
                push(&[b"EXPIREAT", k, t.as_bytes()]);
                flag.iter().for_each(|f| push(&[f.as_bytes()]));
            }
            Cmd::Ttl(k) => push(&[b"TTL", k]),
            Cmd::PTtl(k) => push(&[b"PTTL", k]),
            Cmd::ExpireTime(k) => push(&[b"EXPIRETIME", k]),
            Cmd::PExpireTime(k) => push(&[b"PEXPIRETIME", k]),
            Cmd::ObjectEncoding(k) => push(&[b"OBJECT", b"ENCODING", k]),
            Cmd::DbSize => push(&[b"DBSIZE"]),
            Cmd::Keys => push(&[b"KEYS", b"*"]),
            Cmd::Select(db) => push(&[b"SELECT", db.to_string().as_bytes()]),
            Cmd::SwapDb => push(&[b"SWAPDB", b"0", b"1"]),
            Cmd::FlushDb => push(&[b"FLUSHDB"]),
        }
        a
    }

    /// SET with a past EXAT/PXAT stores a key that is already expired (Redis 7.0 does not
    /// delete it at once): DBSIZE then counts it until some expiry cycle reclaims it, which
    /// happens at different moments in the two servers.
    fn leaves_expired_key(&self) -> bool {
        let past = |o: &Opt| match o {
            Opt::ExAt(t) => t.parse::<u64>().is_ok_and(|t| t < 4_000_000_000),
            Opt::PxAt(t) => t.parse::<u64>().is_ok_and(|t| t < 4_000_000_000_000),
            _ => false,
        };
        matches!(self, Cmd::Set(_, _, o) if o.iter().any(past))
    }

    /// Make a reply comparable across servers that run at (slightly) different times.
    /// `stale`: an already expired key may still be stored.
    fn normalize(&self, reply: Vec<u8>, stale: bool) -> Vec<u8> {
        let int = || -> Option<i64> {
            std::str::from_utf8(reply.strip_prefix(b":")?)
                .ok()?
                .trim_end()
                .parse()
                .ok()
        };
        match self {
            Cmd::Ttl(_) | Cmd::PTtl(_) if int().is_some_and(|n| n > 0) => b"<positive>".to_vec(),
            Cmd::ExpireTime(_) if int().is_some_and(|n| n > 0 && n < 4_000_000_000) => {
                b"<relative>".to_vec()
            }
            Cmd::PExpireTime(_) if int().is_some_and(|n| n > 0 && n < 4_000_000_000_000) => {
                b"<relative>".to_vec()
            }
            Cmd::DbSize if stale => b"<dbsize: may count an expired key>".to_vec(),
            Cmd::Keys => match elements(&reply) {
                Some(mut e) => {
                    e.sort();
                    let mut out = format!("*{}\r\n", e.len()).into_bytes();
                    e.iter().for_each(|x| out.extend_from_slice(x));
                    out
                }
                None => reply,
            },
            _ => reply,
        }
    }
}

fn key() -> impl Strategy<Value = B> {
    select(KEYS)
}

fn val() -> impl Strategy<Value = B> {
    select(VALUES)
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => select(&[1000u64, 100_000][..]).prop_map(Ev::Rel),
        1 => select(BAD_EXPIRY).prop_map(Ev::Lit),
    ]
}

fn opt() -> impl Strategy<Value = Opt> {
    prop_oneof![
        2 => Just(Opt::Nx),
        2 => Just(Opt::Xx),
        2 => Just(Opt::Get),
        2 => Just(Opt::KeepTtl),
        1 => Just(Opt::Persist),
        3 => ev().prop_map(Opt::Ex),
        3 => ev().prop_map(Opt::Px),
        2 => select(EXAT).prop_map(Opt::ExAt),
        2 => select(PXAT).prop_map(Opt::PxAt),
    ]
}

fn expire_flag() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(select(&["NX", "XX", "GT", "LT"][..]))
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        8 => (key(), val(), vec(opt(), 0..3)).prop_map(|(k, v, o)| Cmd::Set(k, v, o)),
        4 => key().prop_map(Cmd::Get),
        2 => (key(), val()).prop_map(|(k, v)| Cmd::GetSet(k, v)),
        2 => key().prop_map(Cmd::GetDel),
        3 => (key(), vec(opt(), 0..2)).prop_map(|(k, o)| Cmd::GetEx(k, o)),
        2 => (key(), val()).prop_map(|(k, v)| Cmd::SetNx(k, v)),
        2 => vec((key(), val()), 1..4).prop_map(Cmd::MSet),
        2 => vec((key(), val()), 1..4).prop_map(Cmd::MSetNx),
        2 => vec(key(), 1..5).prop_map(Cmd::MGet),
        3 => (key(), val()).prop_map(|(k, v)| Cmd::Append(k, v)),
        2 => key().prop_map(Cmd::Strlen),
        3 => key().prop_map(Cmd::Incr),
        2 => key().prop_map(Cmd::Decr),
        2 => (key(), select(INT_ARGS)).prop_map(|(k, n)| Cmd::IncrBy(k, n)),
        2 => (key(), select(INT_ARGS)).prop_map(|(k, n)| Cmd::DecrBy(k, n)),
        3 => (key(), select(FLOAT_ARGS)).prop_map(|(k, n)| Cmd::IncrByFloat(k, n)),
        2 => (key(), -50i64..50, -50i64..50).prop_map(|(k, s, e)| Cmd::GetRange(k, s, e)),
        2 => (key(), -1i64..12, val()).prop_map(|(k, o, v)| Cmd::SetRange(k, o, v)),
        2 => vec(key(), 1..4).prop_map(Cmd::Del),
        2 => vec(key(), 1..4).prop_map(Cmd::Exists),
        2 => key().prop_map(Cmd::Type),
        2 => (key(), key()).prop_map(|(s, d)| Cmd::Rename(s, d)),
        2 => (key(), key()).prop_map(|(s, d)| Cmd::RenameNx(s, d)),
        2 => (key(), key(), prop::option::of(0u8..2), any::<bool>())
            .prop_map(|(s, d, db, r)| Cmd::Copy(s, d, db, r)),
        2 => (key(), select(&[0u8, 1, 16][..])).prop_map(|(k, db)| Cmd::Move(k, db)),
        2 => key().prop_map(Cmd::Persist),
        4 => (key(), ev(), expire_flag()).prop_map(|(k, e, f)| Cmd::Expire(k, e, f)),
        2 => (key(), select(EXAT), expire_flag()).prop_map(|(k, t, f)| Cmd::ExpireAt(k, t, f)),
        2 => key().prop_map(Cmd::Ttl),
        1 => key().prop_map(Cmd::PTtl),
        2 => key().prop_map(Cmd::ExpireTime),
        2 => key().prop_map(Cmd::PExpireTime),
        3 => key().prop_map(Cmd::ObjectEncoding),
        1 => Just(Cmd::DbSize),
        1 => Just(Cmd::Keys),
        1 => (0u8..2).prop_map(Cmd::Select),
        1 => Just(Cmd::SwapDb),
        1 => Just(Cmd::FlushDb),
    ]
}

/// Run a sequence on a fresh connection after FLUSHALL; one normalized reply per command.
fn run(server: &ServerProc, cmds: &[Cmd]) -> Vec<Vec<u8>> {
    let mut c: Conn = server.conn();
    assert_eq!(
        c.cmd(&[b"FLUSHALL"]),
        b"+OK\r\n",
        "FLUSHALL on {}",
        server.name
    );
    let mut stale = false;
    cmds.iter()
        .enumerate()
        .map(|(step, cmd)| {
            let args = cmd.to_args(step);
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let reply = cmd.normalize(c.cmd(&refs), stale);
            stale |= cmd.leaves_expired_key();
            reply
        })
        .collect()
}

/// The sequence with both servers' replies, differing steps marked.
fn transcript(cmds: &[Cmd], redis: &[Vec<u8>], basalt: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for (step, cmd) in cmds.iter().enumerate() {
        let line: Vec<String> = cmd.to_args(step).iter().map(|a| show(a)).collect();
        let (r, b) = (&redis[step], &basalt[step]);
        let mark = if r == b { " " } else { "X" };
        out.push_str(&format!("{mark} {step:>2} {}\n", line.join(" ")));
        out.push_str(&format!("       redis  {}\n", show(r)));
        if r != b {
            out.push_str(&format!("       basalt {}\n", show(b)));
        }
    }
    out
}

/// Run `cmds` on both servers; the annotated transcript if any reply differs.
fn compare(redis: &ServerProc, basalt: &ServerProc, cmds: &[Cmd]) -> Result<(), String> {
    let (want, got) = (run(redis, cmds), run(basalt, cmds));
    if want == got {
        Ok(())
    } else {
        Err(transcript(cmds, &want, &got))
    }
}

#[test]
fn random_string_sequences_match_redis() {
    let Some(redis) = redis() else { return };
    let basalt = common::basalt(&[]);
    common::prop_differential(2000, 4096, vec(cmd(), 1..40), |cmds| {
        compare(&redis, &basalt, &cmds)
    });
}

/// Found by the property test: a value with an embedded NUL byte ("\x000", as SETRANGE makes
/// when it pads) is not a float for Redis (`ERR value is not a valid float`), but Basalt's
/// long double parser stops at the NUL and reads 0. Same for a NUL in the increment.
#[test]
fn incrbyfloat_rejects_embedded_nul() {
    let Some(redis) = redis() else { return };
    let basalt = common::basalt(&[]);
    let k: B = b"bin\0key";
    let cmds = [
        Cmd::SetRange(k, 1, b"0"),
        Cmd::IncrByFloat(k, "1.5"),
        Cmd::Set(k, b"1", vec![]),
        Cmd::IncrByFloat(k, "1\0"),
        Cmd::Get(k),
    ];
    if let Err(t) = compare(&redis, &basalt, &cmds) {
        panic!("Basalt and redis differ:\n{t}");
    }
}
