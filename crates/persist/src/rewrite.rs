//! The dataset as commands: what an AOF rewrite writes into a new base file with
//! `aof-use-rdb-preamble no` (the `.base.aof` format; with `yes` the base is RDB).
//!
//! Like Redis's `rewriteAppendOnlyFileRio`: one command per key for strings (`SET`), variadic
//! commands of at most [`ITEMS_PER_COMMAND`] elements for collections (`RPUSH`, `SADD`,
//! `HMSET`, `ZADD`), then `PEXPIREAT` with the absolute expiry. Keys already expired are left
//! out. Scores are written with 17 significant digits, which reads back as the same double.
//! Streams are rebuilt as Redis's `rewriteStreamObject` does (see [`write_stream`]).

use std::borrow::Cow;

use store::stream::{Stream, StreamId};
use store::Value;

use crate::aof::encode_command;

/// Most elements one rewritten command carries (Redis's `AOF_REWRITE_ITEMS_PER_CMD`), which
/// bounds the size of a command the loader has to hold.
pub const ITEMS_PER_COMMAND: usize = 64;

/// `SELECT index`.
pub fn write_select(index: usize, out: &mut Vec<u8>) {
    encode_command(out, &[b"SELECT", index.to_string().as_bytes()]);
}

/// The commands that rebuild one key: its value, then its absolute expiry.
pub fn write_key(key: &[u8], value: &Value, expire_ms: Option<u64>, out: &mut Vec<u8>) {
    write_value(key, value, out);
    if let Some(at_ms) = expire_ms {
        encode_command(
            out,
            &[
                b"PEXPIREAT",
                key,
                itoa::Buffer::new().format(at_ms).as_bytes(),
            ],
        );
    }
}

/// The commands that rebuild one value under `key`.
fn write_value(key: &[u8], value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(s) => s.with_bytes(|v| encode_command(out, &[b"SET", key, v])),
        Value::List(l) => batched(out, b"RPUSH", key, l.iter().map(|e| [e])),
        Value::Set(s) => batched(
            out,
            b"SADD",
            key,
            s.iter().map(|m| [Cow::Owned(m.to_vec())]),
        ),
        Value::Hash(h) => batched(
            out,
            b"HMSET",
            key,
            h.iter().map(|(f, v)| [Cow::Borrowed(f), Cow::Borrowed(v)]),
        ),
        Value::ZSet(z) => batched(
            out,
            b"ZADD",
            key,
            z.iter().map(|(score, m)| {
                [
                    Cow::Owned(resp::format_double(score).into_bytes()),
                    Cow::Borrowed(m),
                ]
            }),
        ),
        Value::Stream(s) => write_stream(key, s, out),
    }
}

/// A stream as Redis 7.0 rewrites it: one `XADD` per entry with its ID (an empty stream is
/// made by `XADD key MAXLEN 0 0-1 x y`), `XSETID` with the last ID, entries added and largest
/// deleted ID, then per group `XGROUP CREATE … ENTRIESREAD n`, and per consumer either
/// `XGROUP CREATECONSUMER` (nothing pending) or one `XCLAIM … 0 id TIME t RETRYCOUNT n
/// JUSTID FORCE` per pending entry, which restores owner, delivery time and count exactly.
fn write_stream(key: &[u8], s: &Stream, out: &mut Vec<u8>) {
    let id_text = |id: StreamId| {
        let mut v = Vec::with_capacity(24);
        id.write_to(&mut v);
        v
    };
    let num = |n: i64| itoa::Buffer::new().format(n).as_bytes().to_vec();
    if s.is_empty() {
        encode_command(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    }
    for entry in s.range(StreamId::MIN, StreamId::MAX, false) {
        let id = id_text(entry.id());
        let pairs: Vec<Vec<u8>> = entry
            .fields()
            .flat_map(|(f, v)| [f.to_vec(), v.to_vec()])
            .collect();
        let mut args: Vec<&[u8]> = Vec::with_capacity(3 + pairs.len());
        args.extend([b"XADD".as_slice(), key, &id]);
        args.extend(pairs.iter().map(Vec::as_slice));
        encode_command(out, &args);
    }
    let meta = s.meta();
    encode_command(
        out,
        &[
            b"XSETID",
            key,
            &id_text(meta.last_id),
            b"ENTRIESADDED",
            &num(meta.entries_added as i64),
            b"MAXDELETEDID",
            &id_text(meta.max_deleted_entry_id),
        ],
    );
    for (name, g) in s.groups() {
        encode_command(
            out,
            &[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                &id_text(g.last_id()),
                b"ENTRIESREAD",
                &num(g.entries_read_raw()),
            ],
        );
        for (consumer, c) in g.consumers() {
            if c.pending_len() == 0 {
                encode_command(out, &[b"XGROUP", b"CREATECONSUMER", key, name, consumer]);
                continue;
            }
            for id in c.pending_ids() {
                let Some(p) = g.pending_entry(id) else {
                    continue;
                };
                encode_command(
                    out,
                    &[
                        b"XCLAIM",
                        key,
                        name,
                        consumer,
                        b"0",
                        &id_text(id),
                        b"TIME",
                        &num(p.delivery_time()),
                        b"RETRYCOUNT",
                        &num(p.delivery_count() as i64),
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}

/// `name key items…` in commands of at most [`ITEMS_PER_COMMAND`] items (each item being `N`
/// arguments: an element, a field and its value, a score and its member).
fn batched<'a, const N: usize>(
    out: &mut Vec<u8>,
    name: &[u8],
    key: &[u8],
    items: impl Iterator<Item = [Cow<'a, [u8]>; N]>,
) {
    let mut chunk: Vec<[Cow<'a, [u8]>; N]> = Vec::with_capacity(ITEMS_PER_COMMAND);
    let mut flush = |chunk: &mut Vec<[Cow<'a, [u8]>; N]>| {
        let mut args: Vec<&[u8]> = Vec::with_capacity(2 + N * chunk.len());
        args.push(name);
        args.push(key);
        args.extend(chunk.iter().flat_map(|item| item.iter().map(|a| &**a)));
        encode_command(out, &args);
        chunk.clear();
    };
    for item in items {
        chunk.push(item);
        if chunk.len() == ITEMS_PER_COMMAND {
            flush(&mut chunk);
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::{AofReader, Entry};
    use store::{Fill, Hash, HashLimits, QuickList, Set, Str, ZLimits, ZSet};

    fn commands(bytes: &[u8]) -> Vec<Vec<String>> {
        let mut r = AofReader::new(bytes, 1 << 20);
        let mut v = Vec::new();
        while let Some(e) = r.next_entry().unwrap() {
            if let Entry::Command { args, .. } = e {
                v.push(
                    args.iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect(),
                );
            }
        }
        v
    }

    #[test]
    fn every_type_with_batches_expiry_and_databases() {
        let store = store::Store::new(1, 2);
        let mut all = store.lock_all();
        let shard = all.shards_mut().next().unwrap();
        let db = shard.db(1);
        db.set(b"s", Value::Str(Str::from_bytes(b"12")), false, 0);
        db.set_expire(b"s", 5_000);
        let elems: Vec<Vec<u8>> = (0..70).map(|i| format!("e{i}").into_bytes()).collect();
        let list = QuickList::from_elems(elems.iter().map(Vec::as_slice), Fill::from_config(-2));
        db.set(b"l", Value::List(Box::new(list)), false, 0);
        let mut h = Hash::default();
        h.set(b"f", b"v", HashLimits::default());
        db.set(b"h", Value::Hash(Box::new(h)), false, 0);
        let mut set = Set::default();
        set.add(b"7", 512);
        db.set(b"t", Value::Set(set), false, 0);
        let mut z = ZSet::default();
        z.set(b"m", 0.1, ZLimits::default());
        z.set(b"n", f64::INFINITY, ZLimits::default());
        db.set(b"z", Value::ZSet(Box::new(z)), false, 0);
        db.set(b"gone", Value::Str(Str::from_bytes(b"x")), false, 0);
        db.set_expire(b"gone", 10);
        let mut out = Vec::new();
        write_select(1, &mut out);
        let mut keys = 0;
        for (key, obj, at) in shard.db_ref(1).live_entries(1_000) {
            write_key(key, &obj.value, at, &mut out);
            keys += 1;
        }
        assert_eq!(keys, 5);
        let mut cmds = commands(&out);
        assert_eq!(cmds.remove(0), ["SELECT", "1"]);
        cmds.sort();
        let rpush: Vec<_> = cmds.iter().filter(|c| c[0] == "RPUSH").collect();
        assert_eq!(rpush.len(), 2);
        assert_eq!(rpush.iter().map(|c| c.len() - 2).sum::<usize>(), 70);
        assert!(cmds.contains(&vec!["SET".into(), "s".into(), "12".into()]));
        assert!(cmds.contains(&vec!["PEXPIREAT".into(), "s".into(), "5000".into()]));
        assert!(cmds.contains(&vec!["HMSET".into(), "h".into(), "f".into(), "v".into()]));
        assert!(cmds.contains(&vec!["SADD".into(), "t".into(), "7".into()]));
        assert!(cmds.contains(&vec![
            "ZADD".into(),
            "z".into(),
            "0.10000000000000001".into(),
            "m".into(),
            "inf".into(),
            "n".into()
        ]));
        assert!(!cmds.iter().any(|c| c[1] == "gone"));
    }
}
