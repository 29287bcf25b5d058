//! RDB interop with the real redis-server 7.0: a `dump.rdb` Redis writes (every type, small and
//! large encodings, LZF strings, expiries, several databases) reads back through Basalt's
//! reader with exactly the data that was put in; a file Basalt's writer produces passes
//! `redis-check-rdb` and loads into redis-server with the same data. Skips loudly without the
//! tools, fails under BASALT_REQUIRE_REDIS=1.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use persist::rdb::{Item, RdbReader, RdbValue, RdbWriter};

fn tools_present() -> bool {
    common::tools_present(&["redis-server", "redis-check-rdb"])
}

struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis(dir: &std::path::Path, dbfilename: &str) -> Redis {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dbfilename", dbfilename])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let r = Redis { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while cli(&r, &["PING"]) != "PONG" {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    r
}

fn cli(r: &Redis, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &r.port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Commands through `redis-cli --pipe` (fast for thousands of them).
fn pipe(r: &Redis, cmds: &[Vec<String>]) {
    let mut input = Vec::new();
    for c in cmds {
        input.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in c {
            input.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &r.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("pipe");
    let out = child.wait_with_output().expect("pipe output");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("errors: 0"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// What the test puts in: db → key → value (sorted for comparison), and keys with a TTL.
fn dataset() -> BTreeMap<(u64, String), RdbValue> {
    let mut d = BTreeMap::new();
    let b = |x: String| x.into_bytes();
    d.insert((0, s("int")), RdbValue::Str(b(s(-123456))));
    d.insert((0, s("short")), RdbValue::Str(b(s("hello"))));
    d.insert((0, s("lzf")), RdbValue::Str(b("abc".repeat(100))));
    d.insert((0, s("ttl")), RdbValue::Str(b(s("v"))));
    d.insert(
        (0, s("list")),
        RdbValue::List((0..1000).map(|i| b(format!("e{i}"))).collect()),
    );
    d.insert(
        (0, s("smallhash")),
        RdbValue::Hash(vec![(b(s("a")), b(s("1"))), (b(s("b")), b(s("x")))]),
    );
    d.insert(
        (0, s("bighash")),
        RdbValue::Hash(
            (0..600)
                .map(|i| (b(format!("f{i:03}")), b(format!("v{i}"))))
                .collect(),
        ),
    );
    d.insert(
        (0, s("intset")),
        RdbValue::Set((0..50).map(|i| b(s(i * 1000 - 7))).collect()),
    );
    d.insert(
        (1, s("strset")),
        RdbValue::Set((0..200).map(|i| b(format!("m{i:03}"))).collect()),
    );
    d.insert(
        (1, s("smallz")),
        RdbValue::ZSet(vec![
            (-1.5, b(s("a"))),
            (2.0, b(s("b"))),
            (1e300, b(s("c"))),
        ]),
    );
    d.insert(
        (2, s("bigz")),
        RdbValue::ZSet(
            (0..300)
                .map(|i| (f64::from(i) / 3.0, b(format!("z{i:03}"))))
                .collect(),
        ),
    );
    d
}

fn commands(d: &BTreeMap<(u64, String), RdbValue>) -> Vec<Vec<String>> {
    let t = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let mut out = Vec::new();
    for ((db, key), v) in d {
        out.push(vec![s("SELECT"), s(db)]);
        let mut c = match v {
            RdbValue::Str(x) => vec![s("SET"), key.clone(), t(x)],
            RdbValue::List(xs) => [s("RPUSH"), key.clone()]
                .into_iter()
                .chain(xs.iter().map(|x| t(x)))
                .collect(),
            RdbValue::Set(xs) => [s("SADD"), key.clone()]
                .into_iter()
                .chain(xs.iter().map(|x| t(x)))
                .collect(),
            RdbValue::Hash(xs) => [s("HSET"), key.clone()]
                .into_iter()
                .chain(xs.iter().flat_map(|(f, v)| [t(f), t(v)]))
                .collect(),
            RdbValue::ZSet(xs) => [s("ZADD"), key.clone()]
                .into_iter()
                .chain(xs.iter().flat_map(|(sc, m)| [format!("{sc:.17e}"), t(m)]))
                .collect(),
            // Streams are compared through the server's interop tests (`server/tests/rdb.rs`).
            RdbValue::Stream(_) => continue,
        };
        if key == "ttl" {
            c.extend([s("PX"), s(1_000_000)]);
        }
        out.push(c);
    }
    out
}

/// Sort collection contents so two readings compare regardless of order.
fn normalized(v: &RdbValue) -> RdbValue {
    match v {
        RdbValue::Set(xs) => {
            let mut xs = xs.clone();
            xs.sort();
            RdbValue::Set(xs)
        }
        RdbValue::Hash(xs) => {
            let mut xs = xs.clone();
            xs.sort();
            RdbValue::Hash(xs)
        }
        RdbValue::ZSet(xs) => {
            let mut xs = xs.clone();
            xs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            RdbValue::ZSet(xs)
        }
        other => other.clone(),
    }
}

/// Everything a file holds: db → key → (value, expiry).
fn read_file(path: &std::path::Path) -> BTreeMap<(u64, String), (RdbValue, Option<i64>)> {
    let bytes = std::fs::read(path).expect("read rdb");
    let mut r = RdbReader::new(&bytes[..]).expect("header");
    let mut db = 0;
    let mut out = BTreeMap::new();
    loop {
        match r.next_item().expect("a valid item") {
            Item::End => break,
            Item::SelectDb(n) => db = n,
            Item::Key(k) => {
                let name = String::from_utf8_lossy(&k.key).into_owned();
                out.insert((db, name), (normalized(&k.value), k.expire_ms));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn basalt_reads_what_redis_writes() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let r = start_redis(dir.path(), "dump.rdb");
    let want = dataset();
    pipe(&r, &commands(&want));
    // Encodings as Redis chose them: compact and large forms are both in the file.
    assert_eq!(cli(&r, &["OBJECT", "ENCODING", "smallhash"]), "listpack");
    assert_eq!(cli(&r, &["OBJECT", "ENCODING", "bighash"]), "hashtable");
    assert_eq!(cli(&r, &["OBJECT", "ENCODING", "intset"]), "intset");
    assert_eq!(cli(&r, &["OBJECT", "ENCODING", "list"]), "quicklist");
    assert_eq!(cli(&r, &["SAVE"]), "OK");
    let got = read_file(&dir.path().join("dump.rdb"));
    assert_eq!(got.len(), want.len());
    for (k, v) in &want {
        let (value, expire) = got.get(k).unwrap_or_else(|| panic!("{k:?} missing"));
        assert_eq!(value, &normalized(v), "{k:?}");
        assert_eq!(expire.is_some(), k.1 == "ttl", "{k:?}");
    }
}

#[test]
fn redis_loads_what_basalt_writes() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    // The same dataset built as Basalt's values, through the shortest path: Redis writes it,
    // Basalt reads it, Basalt's writer writes it again.
    let want = dataset();
    let src = tempfile::tempdir().expect("dir");
    {
        let r = start_redis(src.path(), "dump.rdb");
        pipe(&r, &commands(&want));
        assert_eq!(cli(&r, &["SAVE"]), "OK");
    }
    let read = read_file(&src.path().join("dump.rdb"));
    let path = dir.path().join("basalt.rdb");
    let mut w =
        RdbWriter::new(std::fs::File::create(&path).expect("create"), true).expect("writer");
    w.aux("redis-ver", b"7.0.15").expect("aux");
    let mut current = None;
    for ((db, key), (value, expire)) in &read {
        if current != Some(*db) {
            w.select_db(*db as usize).expect("select");
            current = Some(*db);
        }
        let v = to_store(value);
        w.key(key.as_bytes(), &v, expire.map(|e| e as u64))
            .expect("key");
    }
    w.finish().expect("finish");
    let check = Command::new("redis-check-rdb")
        .arg(&path)
        .output()
        .expect("redis-check-rdb");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let r = start_redis(dir.path(), "basalt.rdb");
    assert_eq!(cli(&r, &["DBSIZE"]), "8");
    assert_eq!(cli(&r, &["GET", "lzf"]), "abc".repeat(100));
    assert_eq!(cli(&r, &["LLEN", "list"]), "1000");
    assert_eq!(cli(&r, &["LINDEX", "list", "999"]), "e999");
    assert_eq!(cli(&r, &["HGET", "bighash", "f299"]), "v299");
    assert_eq!(cli(&r, &["SISMEMBER", "intset", "48993"]), "1");
    let ttl: i64 = cli(&r, &["TTL", "ttl"]).parse().expect("ttl");
    assert!(ttl > 900, "{ttl}");
    assert_eq!(
        cli(&r, &["-n", "1", "ZSCORE", "smallz", "c"]),
        "1.0000000000000001e+300"
    );
    assert_eq!(cli(&r, &["-n", "2", "ZCARD", "bigz"]), "300");
    assert_eq!(
        cli(&r, &["-n", "2", "ZSCORE", "bigz", "z299"]),
        "99.666666666666671"
    );
    // Redis wrote it again from what it loaded: Basalt reads the same data.
    assert_eq!(cli(&r, &["SAVE"]), "OK");
    assert_eq!(read_file(&path), read);
}

fn to_store(v: &RdbValue) -> store::Value {
    use store::{Fill, Hash, HashLimits, QuickList, Set, Str, Value, ZLimits, ZSet};
    match v {
        RdbValue::Str(x) => Value::Str(Str::from_bytes(x)),
        RdbValue::List(xs) => Value::List(Box::new(QuickList::from_elems(
            xs.iter().map(Vec::as_slice),
            Fill::from_config(-2),
        ))),
        RdbValue::Set(xs) => {
            let mut s = Set::default();
            for x in xs {
                s.add(x, 512);
            }
            Value::Set(s)
        }
        RdbValue::Hash(xs) => {
            let mut h = Hash::default();
            for (f, v) in xs {
                h.set(f, v, HashLimits::default());
            }
            Value::Hash(Box::new(h))
        }
        RdbValue::Stream(st) => Value::Stream(st.clone()),
        RdbValue::ZSet(xs) => {
            Value::ZSet(Box::new(ZSet::from_entries(xs.clone(), ZLimits::default())))
        }
    }
}
