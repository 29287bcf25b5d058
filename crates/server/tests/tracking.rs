//! Client-side caching beyond the differential cases (issue 11): `tracking-table-max-keys`
//! drops keys from the table, invalidating them, and clients on other connections (threads)
//! are invalidated whatever thread made the change.

mod common;

use std::time::Duration;

use common::Conn;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn resp3(c: &mut Conn) {
    let hello = c.cmd(&[b"HELLO", b"3"]);
    assert!(hello.starts_with(b"%"), "{}", text(&hello));
}

/// Every invalidated key pushed to `c` within a short while.
fn invalidations(c: &mut Conn) -> Vec<String> {
    let mut keys = Vec::new();
    while c.has_data_within(200) {
        let push = text(&c.read_reply());
        assert!(push.starts_with(">2\r\n$10\r\ninvalidate\r\n"), "{push}");
        keys.extend(
            push.lines()
                .skip(4)
                .filter(|l| !l.starts_with('$'))
                .map(str::to_string),
        );
    }
    keys
}

/// On one server: a tracking client reads ten keys in one pipeline with the table limited to
/// three; returns how many invalidations came among the replies, how many after another
/// client's command, the table's size then, and whether a kept key (and not a dropped one)
/// still invalidates.
fn table_limit_run(s: &common::ServerProc) -> (usize, usize, String, bool) {
    let mut c = s.conn();
    resp3(&mut c);
    assert_eq!(c.cmd(&[b"CLIENT", b"TRACKING", b"ON"]), b"+OK\r\n");
    for i in 0..10 {
        let key = format!("k{i}");
        c.send(&[b"GET", key.as_bytes()]);
    }
    let mut dropped = Vec::new();
    let mut replies = 0;
    while replies < 10 {
        let frame = text(&c.read_reply());
        if frame.starts_with('>') {
            dropped.extend(
                frame
                    .lines()
                    .skip(4)
                    .filter(|l| !l.starts_with('$'))
                    .map(str::to_string),
            );
        } else {
            assert_eq!(frame, "_\r\n");
            replies += 1;
        }
    }
    let during = dropped.len();
    let mut admin = s.conn();
    let total = common::info_field_in(&mut admin, "stats", "tracking_total_keys");
    let later = invalidations(&mut c);
    dropped.extend(later.iter().cloned());
    let kept: Vec<String> = (0..10)
        .map(|i| format!("k{i}"))
        .filter(|k| !dropped.contains(k))
        .collect();
    admin.cmd(&[b"SET", kept[0].as_bytes(), b"v"]);
    admin.cmd(&[b"SET", dropped[0].as_bytes(), b"v"]);
    let still = invalidations(&mut c) == vec![kept[0].clone()];
    (during, later.len(), total, still)
}

/// Before each command the table is brought back within `tracking-table-max-keys`, as Redis
/// does in processCommand, dropped keys invalidated: the same counts as redis-server's.
#[test]
fn the_table_is_kept_within_tracking_table_max_keys() {
    let s = common::basalt(&["--tracking-table-max-keys", "3"]);
    let ours = table_limit_run(&s);
    assert_eq!(ours, (6, 1, "3".to_string(), true));
    if common::redis().is_some() {
        let r = common::redis_with(&["--tracking-table-max-keys", "3"]);
        assert_eq!(table_limit_run(&r), ours);
    }
}

#[test]
fn writers_on_other_connections_invalidate_every_reader() {
    let s = common::basalt(&[]);
    let mut readers: Vec<Conn> = (0..4).map(|_| s.conn()).collect();
    for r in &mut readers {
        resp3(r);
        r.cmd(&[b"CLIENT", b"TRACKING", b"ON"]);
        r.cmd(&[b"GET", b"shared"]);
    }
    let writers: Vec<_> = (0..2)
        .map(|i| {
            let mut w = s.conn();
            std::thread::spawn(move || {
                w.cmd(&[b"SET", b"shared", format!("{i}").as_bytes()]);
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    std::thread::sleep(Duration::from_millis(50));
    for r in &mut readers {
        // Told once: the key left the table at the first change until it is read again.
        assert_eq!(invalidations(r), vec!["shared".to_string()]);
    }
}
