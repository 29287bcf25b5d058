//! Property-based differential test for streams: random sequences of XADD (explicit and
//! `<ms>-*` IDs, MAXLEN/MINID trims exact and `~` with LIMIT), XDEL, XTRIM, XSETID, ranges,
//! XREAD, consumer groups (CREATE/SETID/DESTROY, XREADGROUP new and history, XACK, XCLAIM,
//! XAUTOCLAIM with no idle filter) run on Basalt and on real redis-server with small nodes
//! (`stream-node-max-entries 3`), and every reply must be the same bytes — then each key's
//! XINFO STREAM (length, radix-tree keys and nodes, last, first and largest deleted IDs,
//! entries added, first and last entry), its entries and each group's XINFO GROUPS and
//! XPENDING summary. Redis is the model of ID ordering and trimming here: node boundaries,
//! `~` trims and LIMIT decide which entries stay, and only Redis itself says that exactly.
//!
//! One #[test] drives proptest's `TestRunner` by hand so both servers start once. 500 cases
//! by default; `PROPTEST_CASES=20000` for a longer hunt.

mod common;

use common::{redis, show, ServerProc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

const KEYS: &[&str] = &["s1", "{t}s2"];
const GROUPS: &[&str] = &["g1", "g2"];
const CONSUMERS: &[&str] = &["alice", "bob"];
const FIELDS: &[&str] = &["f", "g", "1", "-7", "long-field-name"];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(items).prop_map(str::to_string)
}

/// An ID argument: `ms-seq` or `ms` alone, from a small space so they collide and order
/// matters; sometimes `-`/`+` or garbage.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0u64..40, 0u64..4).prop_map(|(m, s)| format!("{m}-{s}")),
        2 => (0u64..40).prop_map(|m| m.to_string()),
        1 => pick(&["-", "+", "0-0", "x"]),
    ]
}

/// XADD's trim options, if any.
fn trim() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        3 => Just(vec![]),
        1 => (pick(&["=", "~", ""]), 0u64..8).prop_map(|(op, n)| {
            let mut v = vec!["MAXLEN".to_string()];
            if !op.is_empty() {
                v.push(op);
            }
            v.push(n.to_string());
            v
        }),
        1 => (pick(&["=", "~"]), 0u64..40).prop_map(|(op, m)| vec![
            "MINID".to_string(),
            op,
            format!("{m}-0"),
        ]),
        1 => (0u64..8, 0u64..6).prop_map(|(n, l)| vec![
            "MAXLEN".to_string(),
            "~".to_string(),
            n.to_string(),
            "LIMIT".to_string(),
            l.to_string(),
        ]),
    ]
}

fn xadd() -> impl Strategy<Value = Vec<String>> {
    let new_id = prop_oneof![
        8 => Just(NEXT.to_string()),
        3 => (0u64..40, 0u64..4).prop_map(|(m, s)| format!("{m}-{s}")),
        2 => (0u64..40).prop_map(|m| format!("{m}-*")),
        1 => Just("0-0".to_string()),
    ];
    (
        pick(KEYS),
        trim(),
        new_id,
        vec((pick(FIELDS), pick(FIELDS)), 1..4),
    )
        .prop_map(|(k, t, i, fv)| {
            let mut v = vec!["XADD".to_string(), k];
            v.extend(t);
            v.push(i);
            v.extend(fv.into_iter().flat_map(|(f, x)| [f, x]));
            v
        })
}

/// XADD's ID placeholder for "the next of a counter that only grows" (see [`with_ids`]), so
/// most appends succeed and streams grow over several nodes.
const NEXT: &str = "<next>";

/// The sequence with each [`NEXT`] replaced by `<n>-0`, `n` counting up from 1 (the same
/// text goes to both servers).
fn with_ids(cmds: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut n = 0;
    cmds.into_iter()
        .map(|c| {
            c.into_iter()
                .map(|a| {
                    if a == NEXT {
                        n += 1;
                        format!("{n}-0")
                    } else {
                        a
                    }
                })
                .collect()
        })
        .collect()
}

fn cmd() -> impl Strategy<Value = Vec<String>> {
    let key = || pick(KEYS);
    let group = || pick(GROUPS);
    let count = || prop_oneof![Just(None), (0i64..5).prop_map(Some)];
    prop_oneof![
        8 => xadd(),
        2 => (key(), vec(id(), 1..4)).prop_map(|(k, ids)| {
            let mut v = vec!["XDEL".to_string(), k];
            v.extend(ids);
            v
        }),
        1 => (key(), trim()).prop_map(|(k, t)| {
            let mut v = vec!["XTRIM".to_string(), k];
            v.extend(if t.is_empty() { vec!["MAXLEN".into(), "3".into()] } else { t });
            v
        }),
        2 => (pick(&["XRANGE", "XREVRANGE"]), key(), id(), id(), count()).prop_map(
            |(c, k, a, b, n)| {
                let mut v = vec![c, k, a, b];
                if let Some(n) = n {
                    v.extend(["COUNT".to_string(), n.to_string()]);
                }
                v
            }
        ),
        1 => key().prop_map(|k| vec!["XLEN".into(), k]),
        1 => (key(), id(), prop::option::of(0u64..20)).prop_map(|(k, i, added)| {
            let mut v = vec!["XSETID".to_string(), k, i];
            if let Some(a) = added {
                v.extend(["ENTRIESADDED".to_string(), a.to_string()]);
            }
            v
        }),
        1 => (key(), id(), count()).prop_map(|(k, i, n)| {
            let mut v = vec!["XREAD".to_string()];
            if let Some(n) = n {
                v.extend(["COUNT".to_string(), n.to_string()]);
            }
            v.extend(["STREAMS".to_string(), k, i]);
            v
        }),
        2 => (key(), group(), prop_oneof![id(), Just("$".to_string())]).prop_map(|(k, g, i)| vec![
            "XGROUP".into(),
            "CREATE".into(),
            k,
            g,
            i,
            "MKSTREAM".into(),
        ]),
        1 => (key(), group(), prop_oneof![id(), Just("$".to_string())]).prop_map(|(k, g, i)| vec![
            "XGROUP".into(),
            "SETID".into(),
            k,
            g,
            i,
        ]),
        1 => (key(), group()).prop_map(|(k, g)| vec!["XGROUP".into(), "DESTROY".into(), k, g]),
        4 => (key(), group(), pick(CONSUMERS), count(), any::<bool>(), prop_oneof![
            3 => Just(">".to_string()),
            1 => id(),
        ])
        .prop_map(|(k, g, c, n, noack, i)| {
            let mut v = vec!["XREADGROUP".to_string(), "GROUP".into(), g, c];
            if let Some(n) = n {
                v.extend(["COUNT".to_string(), n.to_string()]);
            }
            if noack {
                v.push("NOACK".into());
            }
            v.extend(["STREAMS".to_string(), k, i]);
            v
        }),
        2 => (key(), group(), vec(id(), 1..3)).prop_map(|(k, g, ids)| {
            let mut v = vec!["XACK".to_string(), k, g];
            v.extend(ids);
            v
        }),
        1 => (key(), group(), pick(CONSUMERS), vec(id(), 1..3)).prop_map(|(k, g, c, ids)| {
            let mut v = vec!["XCLAIM".to_string(), k, g, c, "0".into()];
            v.extend(ids);
            v.push("JUSTID".into());
            v
        }),
        1 => (key(), group(), pick(CONSUMERS), id(), 1u64..4).prop_map(|(k, g, c, i, n)| vec![
            "XAUTOCLAIM".into(),
            k,
            g,
            c,
            "0".into(),
            i,
            "COUNT".into(),
            n.to_string(),
            "JUSTID".into(),
        ]),
        1 => key().prop_map(|k| vec!["DEL".into(), k]),
    ]
}

/// What is compared after the sequence, per key.
fn final_state(k: &str) -> Vec<Vec<String>> {
    let mut v = vec![
        vec!["XINFO".into(), "STREAM".into(), k.into()],
        vec!["XRANGE".into(), k.into(), "-".into(), "+".into()],
        vec!["XINFO".into(), "GROUPS".into(), k.into()],
    ];
    for g in GROUPS {
        v.push(vec!["XPENDING".into(), k.into(), (*g).into()]);
    }
    v
}

fn run(server: &ServerProc, cmds: &[Vec<String>]) -> Vec<Vec<u8>> {
    let mut c = server.conn();
    assert_eq!(
        c.cmd(&[b"FLUSHALL"]),
        b"+OK\r\n",
        "FLUSHALL on {}",
        server.name
    );
    let set = [
        b"CONFIG".as_slice(),
        b"SET",
        b"stream-node-max-entries",
        b"3",
    ];
    assert_eq!(c.cmd(&set), b"+OK\r\n");
    let all: Vec<Vec<String>> = cmds
        .iter()
        .cloned()
        .chain(KEYS.iter().flat_map(|k| final_state(k)))
        .collect();
    all.iter()
        .map(|cmd| {
            let refs: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            c.cmd(&refs)
        })
        .collect()
}

fn transcript(cmds: &[Vec<String>], redis: &[Vec<u8>], basalt: &[Vec<u8>]) -> String {
    let lines: Vec<String> = cmds
        .iter()
        .cloned()
        .chain(KEYS.iter().flat_map(|k| final_state(k)))
        .map(|c| c.join(" "))
        .collect();
    let mut out = String::new();
    for (step, line) in lines.iter().enumerate() {
        let (r, b) = (&redis[step], &basalt[step]);
        let mark = if r == b { " " } else { "X" };
        out.push_str(&format!(
            "{mark} {step:>2} {line}\n       redis  {}\n",
            show(r)
        ));
        if r != b {
            out.push_str(&format!("       basalt {}\n", show(b)));
        }
    }
    out
}

#[test]
fn random_stream_sequences_match_redis() {
    let Some(redis) = redis() else { return };
    let basalt = common::basalt(&[]);
    common::prop_differential(500, 4096, vec(cmd(), 1..40), |cmds| {
        let cmds = with_ids(cmds);
        let (want, got) = (run(&redis, &cmds), run(&basalt, &cmds));
        if want == got {
            Ok(())
        } else {
            Err(transcript(&cmds, &want, &got))
        }
    });
}
