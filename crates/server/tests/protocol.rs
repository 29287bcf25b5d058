//! Protocol tests over raw sockets: pipelining, requests split at every byte, inline commands,
//! malformed input (exact error, then the connection closes — compared with redis-server),
//! a 100 MB value, binary-safe keys and values.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{basalt, encode, redis, show, Conn, ServerProc};

#[test]
fn ten_thousand_pipelined_commands_in_one_write() {
    let s = basalt(&[]);
    let mut c = s.conn();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        if i % 2 == 0 {
            batch.extend_from_slice(&encode(&[b"INCR", b"counter"]));
        } else {
            batch.extend_from_slice(&encode(&[b"GET", b"counter"]));
        }
    }
    c.send_raw(&batch);
    for i in 0..10_000u32 {
        let reply = c.read_reply();
        let n = i / 2 + 1;
        let want = if i % 2 == 0 {
            format!(":{n}\r\n")
        } else {
            format!("${}\r\n{n}\r\n", n.to_string().len())
        };
        assert_eq!(reply, want.as_bytes(), "reply {i}");
    }
}

#[test]
fn requests_split_at_every_byte_boundary() {
    let s = basalt(&[]);
    let mut input = Vec::new();
    input.extend_from_slice(&encode(&[b"SET", b"k\r\n", b"v\0x"]));
    input.extend_from_slice(b"GET k\r\n");
    input.extend_from_slice(&encode(&[b"GET", b"k\r\n"]));
    input.extend_from_slice(b"PING\n");
    for cut in 1..input.len() {
        let mut c = s.conn();
        c.send_raw(&input[..cut]);
        c.stream.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(2));
        c.send_raw(&input[cut..]);
        assert_eq!(c.read_reply(), b"+OK\r\n", "cut at {cut}");
        assert_eq!(c.read_reply(), b"$-1\r\n", "cut at {cut}");
        assert_eq!(c.read_reply(), b"$3\r\nv\0x\r\n", "cut at {cut}");
        assert_eq!(c.read_reply(), b"+PONG\r\n", "cut at {cut}");
    }
}

#[test]
fn inline_commands_with_quotes() {
    let s = basalt(&[]);
    let mut c = s.conn();
    c.send_raw(b"SET \"a b\" 'c\\'d'\r\nGET \"a b\"\nECHO \"\\x41\\n\"\r\n\r\n\nPING\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"$3\r\nc'd\r\n");
    assert_eq!(c.read_reply(), b"$2\r\nA\n\r\n");
    assert_eq!(c.read_reply(), b"+PONG\r\n");
}

/// Send `input` on a fresh connection; return everything until the server closes it.
fn until_close(s: &ServerProc, input: &[u8]) -> (Vec<u8>, bool) {
    let mut c = s.conn();
    c.send_raw(input);
    let mut replies = Vec::new();
    for _ in 0..10 {
        match c.try_read_reply() {
            Some(r) => replies.extend_from_slice(&r),
            None => return (replies, true),
        }
        if replies.starts_with(b"-") || replies.windows(3).any(|w| w == b"\n-E") {
            break;
        }
    }
    let closed = c.is_closed();
    (replies, closed)
}

const MALFORMED: &[&[u8]] = &[
    b"*3000000000\r\n",
    b"*1x\r\n",
    b"*1\r\nx3\r\nabc\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$+3\r\nabc\r\n",
    b"*1\r\n$ab\r\n",
    b"*1\r\n$600000000\r\n",
    b"ECHO \"abc\"d\r\n",
    b"ECHO 'ab\r\n",
    b"PING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n!3\r\n",
];

#[test]
fn malformed_requests_get_redis_errors_and_close() {
    let b = basalt(&[]);
    let expected: Vec<Vec<u8>> = match redis() {
        Some(r) => MALFORMED.iter().map(|m| until_close(&r, m).0).collect(),
        None => return,
    };
    for (input, want) in MALFORMED.iter().zip(&expected) {
        let (got, closed) = until_close(&b, input);
        assert_eq!(show(&got), show(want), "input {}", show(input));
        assert!(closed, "connection left open after {}", show(input));
    }
}

#[test]
fn too_big_inline_request_closes() {
    let b = basalt(&[]);
    let mut big = vec![b'a'; 70 * 1024];
    big.extend_from_slice(b"\r\n");
    let (got, closed) = until_close(&b, &big);
    assert_eq!(got, b"-ERR Protocol error: too big inline request\r\n");
    assert!(closed);
}

#[test]
fn hundred_megabyte_value_round_trips() {
    let s = basalt(&[]);
    let mut c = s.conn();
    let value: Vec<u8> = (0..100 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&[b"STRLEN", b"big"]),
        format!(":{}\r\n", value.len()).as_bytes()
    );
    let reply = c.cmd(&[b"GET", b"big"]);
    let header = format!("${}\r\n", value.len());
    assert!(reply.starts_with(header.as_bytes()));
    assert!(
        reply[header.len()..reply.len() - 2] == value[..],
        "value corrupted"
    );
    assert_eq!(c.cmd(&[b"OBJECT", b"ENCODING", b"big"]), b"$3\r\nraw\r\n");
}

#[test]
fn binary_keys_and_values() {
    let s = basalt(&[]);
    let mut c = s.conn();
    let key: &[u8] = b"k\0\r\n\xff";
    let value: &[u8] = b"\0\r\n$3\r\n*1\r\n\xfe";
    assert_eq!(c.cmd(&[b"SET", key, value]), b"+OK\r\n");
    let mut want = format!("${}\r\n", value.len()).into_bytes();
    want.extend_from_slice(value);
    want.extend_from_slice(b"\r\n");
    assert_eq!(c.cmd(&[b"GET", key]), want);
    assert_eq!(
        c.cmd(&[b"APPEND", key, b"\0"]),
        format!(":{}\r\n", value.len() + 1).as_bytes()
    );
    assert_eq!(c.cmd(&[b"EXISTS", key, b"k"]), b":1\r\n");
    let keys = c.cmd(&[b"KEYS", b"k?\r\n*"]);
    assert_eq!(keys, [&b"*1\r\n$5\r\n"[..], key, b"\r\n"].concat());
}

#[test]
fn unauthenticated_clients_get_small_limits() {
    let s = basalt(&["--requirepass", "secret"]);
    let (got, closed) = until_close(&s, b"*11\r\n");
    assert_eq!(
        got,
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(closed);
    let (got, closed) = until_close(&s, b"*1\r\n$20000\r\n");
    assert_eq!(got, b"-ERR Protocol error: unauthenticated bulk length\r\n");
    assert!(closed);
    let mut c: Conn = s.conn();
    assert_eq!(
        c.cmd(&[b"GET", b"k"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        c.cmd(&[b"AUTH", b"wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd(&[b"AUTH", b"secret"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"$-1\r\n");
}

#[test]
fn resp3_shapes_after_hello() {
    let s = basalt(&[]);
    let mut c = s.conn();
    let hello = c.cmd(&[b"HELLO", b"3"]);
    assert!(hello.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n"), "{}", show(&hello));
    assert_eq!(c.cmd(&[b"GET", b"missing"]), b"_\r\n");
    let info = c.cmd(&[b"INFO", b"server"]);
    assert!(info.starts_with(b"="), "INFO is verbatim in RESP3");
    assert_eq!(c.cmd(&[b"HELLO", b"2"])[..4], b"*14\r"[..]);
    assert_eq!(c.cmd(&[b"GET", b"missing"]), b"$-1\r\n");
}

/// A batch keeps a shard locked between commands on the same shard. Pipelines that mix those
/// with keyless commands that lock every shard themselves (DBSIZE, KEYS, INFO keyspace),
/// multi-shard commands and blocking commands, from several connections on both I/O threads,
/// must neither deadlock nor lose a write.
#[test]
fn pipelines_mixing_hot_key_writes_and_global_commands_do_not_deadlock() {
    let s = common::basalt(&["--io-threads", "2"]);
    let rounds = 300;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let mut c = s.conn();
            std::thread::spawn(move || {
                let mut batch = Vec::new();
                let n_per_round = 8;
                for i in 0..rounds {
                    let member = format!("m{w}:{i}");
                    for args in [
                        vec!["LPUSH", "hot", "x"],
                        vec!["ZADD", "hotz", "1", member.as_str()],
                        vec!["HSET", "hoth", member.as_str(), "v"],
                        vec!["DBSIZE"],
                        vec!["MSET", "a", "1", "b", "2", "c", "3"],
                        vec!["KEYS", "hot*"],
                        vec!["INFO", "keyspace"],
                        vec!["BLPOP", "hot", "0"],
                    ] {
                        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                        batch.extend_from_slice(&common::encode(&refs));
                    }
                    if i % 10 == 9 {
                        c.send_raw(&batch);
                        batch.clear();
                        for _ in 0..10 * n_per_round {
                            c.read_reply();
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut c = s.conn();
    // Every LPUSH was popped by the BLPOP right after it in the same pipeline.
    assert_eq!(c.cmd_str(&["LLEN", "hot"]), b":0\r\n");
    assert_eq!(
        c.cmd_str(&["ZCARD", "hotz"]),
        format!(":{}\r\n", 4 * rounds).into_bytes()
    );
    assert_eq!(
        c.cmd_str(&["HLEN", "hoth"]),
        format!(":{}\r\n", 4 * rounds).into_bytes()
    );
}
