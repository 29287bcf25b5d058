//! The command table against the real thing: for every command and subcommand in
//! `server::cmd::table::COMMANDS`, real redis-server's `COMMAND INFO` must agree on arity,
//! flags, key positions, ACL categories, tips and key specifications. And for a few commands
//! whose whole entry Basalt can reproduce, Basalt's own `COMMAND INFO` reply must be the same
//! bytes as Redis's.

mod common;

use common::{elements, redis, show};
use server::cmd::{acl, flags, table::COMMANDS, FindKeys, KeySpec, Spec};

/// A RESP2 value, enough of it for COMMAND INFO.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<V>),
}

impl V {
    fn text(&self) -> String {
        match self {
            V::Status(s) | V::Error(s) => s.clone(),
            V::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            V::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        }
    }

    fn int(&self) -> i64 {
        match self {
            V::Int(i) => *i,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    fn items(&self) -> &[V] {
        match self {
            V::Array(a) => a,
            other => panic!("expected an array, got {other:?}"),
        }
    }

    fn texts(&self) -> Vec<String> {
        self.items().iter().map(V::text).collect()
    }

    /// Value of `key` in a RESP2-flattened map.
    fn get(&self, key: &str) -> Option<&V> {
        self.items()
            .chunks(2)
            .find(|kv| kv[0].text() == key)
            .map(|kv| &kv[1])
    }
}

/// Parse one RESP2 value at `*pos`, advancing it.
fn parse(buf: &[u8], pos: &mut usize) -> V {
    let eol = *pos
        + buf[*pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("CRLF");
    let kind = buf[*pos];
    let line = std::str::from_utf8(&buf[*pos + 1..eol]).expect("utf-8 header");
    *pos = eol + 2;
    match kind {
        b'+' => V::Status(line.to_string()),
        b'-' => V::Error(line.to_string()),
        b':' => V::Int(line.parse().expect("integer")),
        b'$' | b'*' => {
            let n: i64 = line.parse().expect("length");
            if n < 0 {
                return V::Nil;
            }
            if kind == b'*' {
                return V::Array((0..n).map(|_| parse(buf, pos)).collect());
            }
            let b = buf[*pos..*pos + n as usize].to_vec();
            *pos += n as usize + 2;
            V::Bulk(b)
        }
        other => panic!("unexpected RESP type byte {:?}", other as char),
    }
}

fn parse_all(buf: &[u8]) -> V {
    let mut pos = 0;
    let v = parse(buf, &mut pos);
    assert_eq!(pos, buf.len(), "trailing bytes after reply: {}", show(buf));
    v
}

fn bit_names(bits: u32, names: &[(u32, &str)]) -> Vec<String> {
    let mut v: Vec<String> = names
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A key spec in one comparable line. Flags keep their order: COMMAND INFO prints them in
/// table order, so a different order is a visible difference.
fn basalt_key_spec(ks: &KeySpec) -> String {
    let begin = match ks.keyword {
        Some(word) => format!("keyword:{word},startfrom={}", ks.begin),
        None => format!("index:{}", ks.begin),
    };
    match ks.find {
        FindKeys::Range { last, step, limit } => format!(
            "flags={:?} begin={begin} find=range:lastkey={last},keystep={step},limit={limit}",
            ks.flags
        ),
        FindKeys::KeyNum {
            keynum_idx,
            first,
            step,
        } => format!(
            "flags={:?} begin={begin} find=keynum:keynumidx={keynum_idx},firstkey={first},keystep={step}",
            ks.flags
        ),
        FindKeys::Unknown => format!("flags={:?} begin=unknown find=unknown", ks.flags),
    }
}

fn redis_key_spec(v: &V) -> String {
    let flags = v.get("flags").map(V::texts).unwrap_or_default();
    let bs = v.get("begin_search").expect("begin_search");
    let fk = v.get("find_keys").expect("find_keys");
    let bs_spec = bs.get("spec").expect("begin_search spec");
    let fk_spec = fk.get("spec").expect("find_keys spec");
    let begin = match bs.get("type").map(V::text).as_deref() {
        Some("index") => format!("index:{}", bs_spec.get("index").expect("index").int()),
        Some("keyword") => format!(
            "keyword:{},startfrom={}",
            bs_spec.get("keyword").expect("keyword").text(),
            bs_spec.get("startfrom").expect("startfrom").int()
        ),
        Some("unknown") => "unknown".to_string(),
        other => format!("{other:?}:{bs_spec:?}"),
    };
    let find = match fk.get("type").map(V::text).as_deref() {
        Some("range") => format!(
            "range:lastkey={},keystep={},limit={}",
            fk_spec.get("lastkey").expect("lastkey").int(),
            fk_spec.get("keystep").expect("keystep").int(),
            fk_spec.get("limit").expect("limit").int()
        ),
        Some("keynum") => format!(
            "keynum:keynumidx={},firstkey={},keystep={}",
            fk_spec.get("keynumidx").expect("keynumidx").int(),
            fk_spec.get("firstkey").expect("firstkey").int(),
            fk_spec.get("keystep").expect("keystep").int()
        ),
        Some("unknown") => "unknown".to_string(),
        other => format!("{other:?}:{fk_spec:?}"),
    };
    format!("flags={flags:?} begin={begin} find={find}")
}

/// Compare one table entry with Redis's COMMAND INFO entry; push readable differences.
fn compare(spec: &Spec, entry: &V, out: &mut Vec<String>) {
    let name = spec.name;
    let e = entry.items();
    assert_eq!(e.len(), 10, "{name}: Redis entry has {} fields", e.len());
    let mut check = |what: &str, basalt: String, redis: String| {
        if basalt != redis {
            out.push(format!("{name}: {what}: basalt {basalt} | redis {redis}"));
        }
    };
    check("name", name.to_string(), e[0].text());
    check("arity", spec.arity.to_string(), e[1].int().to_string());
    check(
        "flags",
        // `may_replicate` is kept but hidden from COMMAND INFO, as in Redis 7.0.
        format!(
            "{:?}",
            bit_names(spec.flags & !flags::MAY_REPLICATE, flags::NAMES)
        ),
        format!("{:?}", sorted(e[2].texts())),
    );
    check(
        "first/last/step",
        format!("{:?}", spec.keys),
        format!("({}, {}, {})", e[3].int(), e[4].int(), e[5].int()),
    );
    check(
        "acl categories",
        format!("{:?}", bit_names(spec.acl, acl::NAMES)),
        format!("{:?}", sorted(e[6].texts())),
    );
    check(
        "tips",
        format!("{:?}", spec.tips),
        format!("{:?}", e[7].texts()),
    );
    let ours: Vec<String> = spec.key_specs.iter().map(basalt_key_spec).collect();
    let theirs: Vec<String> = e[8].items().iter().map(redis_key_spec).collect();
    check("key specs", format!("{ours:?}"), format!("{theirs:?}"));
}

#[test]
fn command_table_matches_redis() {
    let Some(redis) = redis() else { return };
    let mut c = redis.conn();
    let mut mismatches = Vec::new();
    let mut checked = 0;
    let all: Vec<&Spec> = COMMANDS
        .iter()
        .flat_map(|s| std::iter::once(s).chain(s.subcommands))
        .collect();
    for &spec in &all {
        let reply = parse_all(&c.cmd(&[b"COMMAND", b"INFO", spec.name.as_bytes()]));
        match &reply.items()[0] {
            V::Nil => mismatches.push(format!("{}: Redis has no such command", spec.name)),
            entry => {
                compare(spec, entry, &mut mismatches);
                checked += 1;
            }
        }
    }
    eprintln!("command table: {checked} entries checked against redis");
    assert!(checked > 0, "nothing checked");
    assert!(
        mismatches.is_empty(),
        "{} differences between Basalt's command table and Redis 7.0:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Whole COMMAND INFO entries, byte for byte (RESP2). Commands left out, and why:
/// - `set`: Redis's key spec carries `notes` ("RW and ACCESS due to the optional `GET`
///   argument"), which Basalt's `KeySpec` has no field for.
/// - containers (`client`, `object` …): Redis lists their subcommands in hash order, and CLIENT
///   has subcommands Basalt lacks; see `CONTAINERS` below.
const WHOLE_ENTRY: &[&str] = &[
    "get",
    "del",
    "copy",
    "mset",
    "ping",
    "client|id",
    "object|encoding",
    "rename",
    "incrbyfloat",
    "keys",
    "ttl",
    "flushall",
    "shutdown",
    "setnx",
];

/// Containers whose every Redis 7.0 subcommand Basalt has: compared byte for byte once the
/// subcommand entries are sorted (Redis lists them in its subcommand dict's hash order).
/// CLIENT is not here: Redis also has PAUSE, TRACKING, CACHING, UNBLOCK … which Basalt lacks.
const CONTAINERS: &[&str] = &["object", "config", "command"];

/// A one-entry COMMAND INFO reply with the entry's subcommand array sorted.
fn sort_subcommands(reply: &[u8]) -> Vec<u8> {
    let outer = elements(reply).expect("COMMAND INFO array");
    let fields = elements(&outer[0]).expect("command entry");
    assert_eq!(fields.len(), 10, "entry: {}", show(&outer[0]));
    let mut subs = elements(&fields[9]).expect("subcommand array");
    subs.sort();
    let mut out = b"*1\r\n*10\r\n".to_vec();
    fields[..9].iter().for_each(|f| out.extend_from_slice(f));
    out.extend_from_slice(format!("*{}\r\n", subs.len()).as_bytes());
    subs.iter().for_each(|s| out.extend_from_slice(s));
    out
}

#[test]
fn command_info_bytes_match_redis() {
    let Some(redis) = redis() else { return };
    let basalt = common::basalt(&[]);
    let (mut r, mut b) = (redis.conn(), basalt.conn());
    let mut diffs = Vec::new();
    for name in WHOLE_ENTRY {
        let args: [&[u8]; 3] = [b"COMMAND", b"INFO", name.as_bytes()];
        let (want, got) = (r.cmd(&args), b.cmd(&args));
        if want != got {
            diffs.push(format!(
                "{name}:\n  redis  {}\n  basalt {}",
                show(&want),
                show(&got)
            ));
        }
    }
    for name in CONTAINERS {
        let args: [&[u8]; 3] = [b"COMMAND", b"INFO", name.as_bytes()];
        let (want, got) = (
            sort_subcommands(&r.cmd(&args)),
            sort_subcommands(&b.cmd(&args)),
        );
        if want != got {
            diffs.push(format!(
                "{name} (subcommands sorted):\n  redis  {}\n  basalt {}",
                show(&want),
                show(&got)
            ));
        }
    }
    // Several names in one call: the outer array and a nil for an unknown command.
    let args: [&[u8]; 5] = [b"COMMAND", b"INFO", b"get", b"no-such-cmd", b"PING"];
    let (want, got) = (r.cmd(&args), b.cmd(&args));
    if want != got {
        diffs.push(format!(
            "get no-such-cmd PING:\n  redis  {}\n  basalt {}",
            show(&want),
            show(&got)
        ));
    }
    assert!(
        diffs.is_empty(),
        "COMMAND INFO differs:\n{}",
        diffs.join("\n")
    );
}

/// A COMMAND DOCS entry (a RESP2-flattened map) without the prose Basalt writes in its own
/// words (`summary`, `complexity`, `history`), with subcommands sorted by name (Redis lists
/// them in hash order). Everything else — versions, groups, deprecation, the argument trees
/// redis-cli builds its hints from — must be Redis's.
fn docs_facts(entry: &V) -> V {
    let mut out = Vec::new();
    for kv in entry.items().chunks(2) {
        let key = kv[0].text();
        let value = match key.as_str() {
            "summary" | "complexity" | "history" => continue,
            "arguments" => V::Array(kv[1].items().iter().map(docs_facts).collect()),
            "subcommands" => {
                let mut subs: Vec<(String, V)> = kv[1]
                    .items()
                    .chunks(2)
                    .map(|s| (s[0].text(), docs_facts(&s[1])))
                    .collect();
                subs.sort_by(|a, b| a.0.cmp(&b.0));
                V::Array(
                    subs.into_iter()
                        .flat_map(|(n, d)| [V::Bulk(n.into_bytes()), d])
                        .collect(),
                )
            }
            _ => kv[1].clone(),
        };
        out.push(kv[0].clone());
        out.push(value);
    }
    V::Array(out)
}

#[test]
fn command_docs_facts_match_redis() {
    let Some(redis) = redis() else { return };
    let basalt = common::basalt(&[]);
    let (mut r, mut b) = (redis.conn(), basalt.conn());
    let mut diffs = Vec::new();
    for spec in COMMANDS.iter() {
        let args: [&[u8]; 3] = [b"COMMAND", b"DOCS", spec.name.as_bytes()];
        let (want, got) = (parse_all(&r.cmd(&args)), parse_all(&b.cmd(&args)));
        let (want, got) = (want.items(), got.items());
        assert_eq!(want.len(), 2, "{}: redis docs {want:?}", spec.name);
        assert_eq!(got.len(), 2, "{}: basalt docs {got:?}", spec.name);
        let (want, got) = (docs_facts(&want[1]), docs_facts(&got[1]));
        if want != got {
            diffs.push(format!(
                "{}:\n  redis  {want:?}\n  basalt {got:?}",
                spec.name
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "COMMAND DOCS differs:\n{}",
        diffs.join("\n")
    );
}
