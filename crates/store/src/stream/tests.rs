//! Tests of the stream value against facts captured from redis-server 7.0.15 (node bytes from
//! DUMP payloads, XINFO counters, replies), and of its algorithms against a plain model.

use super::node;
use super::*;

pub(super) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(super) fn id(s: &str) -> StreamId {
    parse_strict_id(s.as_bytes(), 0).unwrap()
}

pub(super) fn add(
    s: &mut Stream,
    at: &str,
    fields: &[(&str, &str)],
    limits: NodeLimits,
) -> StreamId {
    let f: Vec<(&[u8], &[u8])> = fields
        .iter()
        .map(|(a, b)| (a.as_bytes(), b.as_bytes()))
        .collect();
    s.append(IdSpec::Explicit(id(at)), &f, limits).unwrap()
}

fn node_hex(s: &Stream) -> Vec<(String, String)> {
    s.nodes()
        .map(|(k, v)| {
            (
                k.to_string(),
                v.iter().map(|b| format!("{b:02x}")).collect(),
            )
        })
        .collect()
}

pub(super) fn ids(s: &Stream, rev: bool) -> Vec<String> {
    s.range(StreamId::MIN, StreamId::MAX, rev)
        .map(|e| e.id().to_string())
        .collect()
}

/// Every node passes the loader's checks and the live counts add up to the length.
pub(super) fn check_consistent(s: &Stream) {
    let mut live = 0;
    for (_, n) in s.nodes() {
        live += node::validate(n).unwrap();
    }
    assert_eq!(live, s.len());
    let mut copy = Stream::new();
    for (k, n) in s.nodes() {
        copy.load_node(k, n).unwrap();
    }
    copy.load_meta(s.meta()).unwrap();
    assert_eq!(ids(&copy, false), ids(s, false));
}

#[test]
fn node_bytes_match_redis() {
    // XADD s 1-1 a 1 b 2; XADD s 1-2 a 3 b 4; XADD s 2-0 c x; DUMP s.
    let mut s = Stream::new();
    let l = NodeLimits::default();
    add(&mut s, "1-1", &[("a", "1"), ("b", "2")], l);
    add(&mut s, "1-2", &[("a", "3"), ("b", "4")], l);
    add(&mut s, "2-0", &[("c", "x")], l);
    let want = [
        "3e00000019000301000102018161028162020001",
        "020100010001010102010501",
        "020100010101030104010501",
        "00010101dfff0201018163028178020601ff",
    ]
    .concat();
    assert_eq!(node_hex(&s), vec![("1-1".into(), want)]);
    assert_eq!(
        s.meta(),
        StreamMeta {
            length: 3,
            last_id: id("2-0"),
            first_id: id("1-1"),
            max_deleted_entry_id: StreamId::MIN,
            entries_added: 3
        }
    );
    assert_eq!(s.node_count(), 1);
    assert_eq!(s.rax_node_count(), 2);
}

#[test]
fn multi_node_bytes_match_redis() {
    // CONFIG SET stream-node-max-bytes 60, then these XADDs and XDEL b 1-2.
    let l = NodeLimits {
        max_bytes: 60,
        max_entries: 100,
    };
    let mut s = Stream::new();
    add(&mut s, "1-1", &[("name", "alice"), ("age", "30")], l);
    add(&mut s, "1-2", &[("name", "bob"), ("age", "250")], l);
    add(&mut s, "2-5", &[("name", "carol")], l);
    add(&mut s, "3-0", &[("x", "-5")], l);
    add(&mut s, "3-1", &[("name", "dave"), ("age", "31")], l);
    add(&mut s, "3-2", &[("name", "0123"), ("age", "-70000")], l);
    add(
        &mut s,
        "18446744073709551615-0",
        &[
            ("big", "9223372036854775807"),
            ("small", "-9223372036854775808"),
        ],
        l,
    );
    assert_eq!(s.delete(&[id("1-2")]), 1);
    let want = [
        ("1-1", "3b0000001200010101010201846e616d65058361676504000102010001000185616c696365061e01050103010001010183626f6204c0fa020501ff"),
        ("2-5", "350000001100020100010101846e616d65050001020100010001856361726f6c06040100010101dffb020101817802dffb020601ff"),
        ("3-1", "3d0000001200020100010201846e616d6505836167650400010201000100018464617665051f010501020100010101843031323305f290eefe040501ff"),
        ("18446744073709551615-0", "370000000c00010100010201836269670485736d616c6c060001020100010001f4ffffffffffffff7f09f40000000000000080090501ff"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(node_hex(&s), want);
    assert_eq!(
        s.meta(),
        StreamMeta {
            length: 6,
            last_id: id("18446744073709551615-0"),
            first_id: id("1-1"),
            max_deleted_entry_id: id("1-2"),
            entries_added: 7
        }
    );
    assert_eq!(
        ids(&s, false),
        ["1-1", "2-5", "3-0", "3-1", "3-2", "18446744073709551615-0"]
    );
    assert_eq!(
        ids(&s, true),
        ["18446744073709551615-0", "3-2", "3-1", "3-0", "2-5", "1-1"]
    );
    let e = s.entry(id("3-2")).unwrap();
    assert_eq!(
        e.to_pairs(),
        vec![
            (b"name".to_vec(), b"0123".to_vec()),
            (b"age".to_vec(), b"-70000".to_vec())
        ]
    );
    let e = s.entry(id("18446744073709551615-0")).unwrap();
    assert_eq!(e.to_pairs()[1].1, b"-9223372036854775808");
    check_consistent(&s);
}

/// 130 entries in one node (limits 0 = unlimited), XDEL c 5-0 129-0, XTRIM c MAXLEN 120: the
/// live count crosses 127 both ways (one-byte and two-byte integer encodings).
const BIG_NODE: &str = concat!(
    "2b0500008f0278010a0101018166020001030100010001010104010301010100010201040103010201000103010401030103",
    "0100010401040103010401000105010401030105010001060104010301060100010701040103010701000108010401030108",
    "010001090104010201090100010a01040102010a0100010b01040102010b0100010c01040102010c0100010d01040102010d",
    "0100010e01040102010e0100010f01040102010f010001100104010201100100011101040102011101000112010401020112",
    "0100011301040102011301000114010401020114010001150104010201150100011601040102011601000117010401020117",
    "01000118010401020118010001190104010201190100011a01040102011a0100011b01040102011b0100011c01040102011c",
    "0100011d01040102011d0100011e01040102011e0100011f01040102011f0100012001040102012001000121010401020121",
    "0100012201040102012201000123010401020123010001240104010201240100012501040102012501000126010401020126",
    "0100012701040102012701000128010401020128010001290104010201290100012a01040102012a0100012b01040102012b",
    "0100012c01040102012c0100012d01040102012d0100012e01040102012e0100012f01040102012f01000130010401020130",
    "0100013101040102013101000132010401020132010001330104010201330100013401040102013401000135010401020135",
    "010001360104010201360100013701040102013701000138010401020138010001390104010201390100013a01040102013a",
    "0100013b01040102013b0100013c01040102013c0100013d01040102013d0100013e01040102013e0100013f01040102013f",
    "0100014001040102014001000141010401020141010001420104010201420100014301040102014301000144010401020144",
    "0100014501040102014501000146010401020146010001470104010201470100014801040102014801000149010401020149",
    "0100014a01040102014a0100014b01040102014b0100014c01040102014c0100014d01040102014d0100014e01040102014e",
    "0100014f01040102014f01000150010401020150010001510104010201510100015201040102015201000153010401020153",
    "0100015401040102015401000155010401020155010001560104010201560100015701040102015701000158010401020158",
    "010001590104010201590100015a01040102015a0100015b01040102015b0100015c01040102015c0100015d01040102015d",
    "0100015e01040102015e0100015f01040102015f010001600104010201600100016101040102016101000162010401020162",
    "0100016301040102016301000164010401020164010001650104010201650100016601040102016601000167010401020167",
    "01000168010401020168010001690104010201690100016a01040102016a0100016b01040102016b0100016c01040102016c",
    "0100016d01040102016d0100016e01040102016e0100016f01040102016f0100017001040102017001000171010401020171",
    "0100017201040102017201000173010401020173010001740104010201740100017501040102017501000176010401020176",
    "0100017701040102017701000178010401020178010001790104010201790100017a01040102017a0100017b01040102017b",
    "0100017c01040102017c0100017d01040102017d0100017e01040102017e0100017f01040102017f010001c0800204010301",
    "c080020001c0810204010201c081020001c082020401ff",

);

#[test]
fn in_place_counters_and_flags_match_redis() {
    let l = NodeLimits {
        max_bytes: 0,
        max_entries: 0,
    };
    let mut s = Stream::new();
    for i in 1..=130 {
        add(&mut s, &format!("{i}-0"), &[("f", &i.to_string())], l);
    }
    assert_eq!(s.delete(&[id("5-0"), id("129-0")]), 2);
    assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 8);
    assert_eq!(
        node_hex(&s),
        vec![("1-0".to_string(), BIG_NODE.to_string())]
    );
    // length 120, last 130-0, first 10-0, max deleted 129-0, entries added 130.
    assert_eq!(
        s.meta(),
        StreamMeta {
            length: 120,
            last_id: id("130-0"),
            first_id: id("10-0"),
            max_deleted_entry_id: id("129-0"),
            entries_added: 130
        }
    );
    check_consistent(&s);
}

#[test]
fn node_without_live_entries_is_kept_as_redis_keeps_it() {
    // XADD z 1-0 a 1; XADD z 2-0 a 1; XDEL z 2-0; XTRIM z MINID 2-0 (marks 1-0 deleted: the
    // node stays with count 0), then XADD z 3-0 a 2.
    let l = NodeLimits::default();
    let mut s = Stream::new();
    add(&mut s, "1-0", &[("a", "1")], l);
    add(&mut s, "2-0", &[("a", "1")], l);
    assert_eq!(s.delete(&[id("2-0")]), 1);
    assert_eq!(s.trim(Trim::MinId(id("2-0")), false, 0), 1);
    assert_eq!(
        node_hex(&s),
        vec![(
            "1-0".into(),
            "260000000f0000010201010181610200010301000100010101040103010101000101010401ff".into()
        )]
    );
    assert_eq!(
        s.meta(),
        StreamMeta {
            length: 0,
            last_id: id("2-0"),
            first_id: StreamId::MIN,
            max_deleted_entry_id: id("2-0"),
            entries_added: 2
        }
    );
    assert_eq!((s.node_count(), s.rax_node_count()), (1, 2));
    assert_eq!(s.last_valid_id(), None);
    add(&mut s, "3-0", &[("a", "2")], l);
    assert_eq!(node_hex(&s), vec![("1-0".into(), "3000000014000101020101018161020001030100010001010104010301010100010101040102010201000102010401ff".into())]);
    assert_eq!(s.first_id(), id("3-0"));
    check_consistent(&s);
    assert_eq!(s.delete(&[id("3-0")]), 1);
    assert_eq!(
        (s.node_count(), s.rax_node_count(), s.first_id()),
        (0, 1, StreamId::MIN)
    );
}

#[test]
fn nodes_split_by_bytes_and_entries_as_redis() {
    // 20 entries "i-0 f <sz × v>" with the default limits: (radix-tree-keys, radix-tree-nodes).
    for (sz, keys, rax) in [
        (100, 1, 2),
        (300, 2, 6),
        (1000, 5, 12),
        (4000, 20, 42),
        (5000, 20, 42),
    ] {
        let v = "v".repeat(sz);
        let mut s = Stream::new();
        for i in 1..=20 {
            add(
                &mut s,
                &format!("{i}-0"),
                &[("f", &v)],
                NodeLimits::default(),
            );
        }
        assert_eq!(
            (s.node_count(), s.rax_node_count()),
            (keys, rax),
            "size {sz}"
        );
        check_consistent(&s);
    }
    // stream-node-max-bytes 200, fields alternating: nodes start at 1-0, 11-0, 21-0.
    let l = NodeLimits {
        max_bytes: 200,
        max_entries: 100,
    };
    let mut s = Stream::new();
    for i in 1..=30 {
        add(
            &mut s,
            &format!("{i}-0"),
            &[(&format!("f{}", i % 3), &format!("val{i}"))],
            l,
        );
    }
    let keys: Vec<String> = s.nodes().map(|(k, _)| k.to_string()).collect();
    assert_eq!(keys, ["1-0", "11-0", "21-0"]);
    // The default 100 entries per node.
    let mut s = Stream::new();
    for i in 1..=201 {
        add(
            &mut s,
            &format!("{i}-1"),
            &[("f", "v")],
            NodeLimits::default(),
        );
    }
    let keys: Vec<String> = s.nodes().map(|(k, _)| k.to_string()).collect();
    assert_eq!(keys, ["1-1", "101-1", "201-1"]);
}

#[test]
fn approximate_trim_with_limit_as_redis() {
    // stream-node-max-entries 7, 30 entries, XDEL of 3-0 and 9-0..14-0, then
    // XTRIM d MAXLEN ~ 10 (→ 7, length 16) and XTRIM d MAXLEN ~ 5 LIMIT 7 (→ 7, length 9).
    let l = NodeLimits {
        max_bytes: 4096,
        max_entries: 7,
    };
    let mut s = Stream::new();
    for i in 1..=30 {
        add(&mut s, &format!("{i}-0"), &[("f", &format!("val{i}"))], l);
    }
    let del: Vec<StreamId> = ["3-0", "9-0", "10-0", "11-0", "12-0", "13-0", "14-0"]
        .iter()
        .map(|x| id(x))
        .collect();
    assert_eq!(s.delete(&del), 7);
    assert_eq!(s.node_count(), 5);
    assert_eq!(s.trim(Trim::MaxLen(10), true, 700), 7);
    assert_eq!(s.len(), 16);
    assert_eq!(s.trim(Trim::MaxLen(5), true, 7), 7);
    assert_eq!(s.len(), 9);
    assert_eq!(s.first_id(), id("22-0"));
    assert_eq!(s.edge_id(true, false), id("22-0"));
    // MINID ~ removes whole nodes whose last entry is below the ID.
    assert_eq!(s.trim(Trim::MinId(id("29-0")), true, 0), 7);
    assert_eq!(ids(&s, false), ["29-0", "30-0"]);
    check_consistent(&s);
}

#[test]
fn ids_parse_as_redis() {
    let ok = |a: &[u8], want: &str| {
        assert_eq!(
            parse_id(a, 0).map(|i| i.to_string()),
            Ok(want.to_string()),
            "{a:?}"
        )
    };
    // Captured with XADD on 7.0.15.
    ok(b" 5", "5-0");
    ok(b"+5", "5-0");
    ok(b"5- 3", "5-3");
    ok(b"5--0", "5-0");
    ok(b"5--01", "5-18446744073709551615");
    ok(b"5- -5", "5-18446744073709551611");
    ok(b"5-+3", "5-3");
    ok(b"\t7-1", "7-1");
    ok(b"05", "5-0");
    ok(b"5-03", "5-3");
    ok(b"18446744073709551615", "18446744073709551615-0");
    ok(b"9\x003", "9-0");
    ok(&[b"0".repeat(126), b"5".to_vec()].concat(), "5-0");
    let bad = |a: &[u8]| assert_eq!(parse_id(a, 0), Err(IdError::Invalid), "{a:?}");
    for a in [
        &b"18446744073709551616"[..],
        b"((5",
        b"5-",
        b"-5",
        b"5-3-1",
        b"0x10",
        b"1e3",
        b"5-*",
        b"*",
        b"",
        b"5--1",
        b"(-",
    ] {
        bad(a);
    }
    bad(&[b"0".repeat(127), b"5".to_vec()].concat());
    assert_eq!(parse_id(b"-", 0), Ok(StreamId::MIN));
    assert_eq!(parse_id(b"+\x00a", 0), Ok(StreamId::MAX));
    assert_eq!(parse_id(b"7", u64::MAX), Ok(StreamId::new(7, u64::MAX)));
    assert_eq!(parse_strict_id(b"-", 0), Err(IdError::Invalid));
    assert_eq!(parse_strict_id(b"+", 0), Err(IdError::Invalid));
    assert_eq!(parse_xadd_id(b"*"), Ok(XaddId::Auto));
    assert_eq!(parse_xadd_id(b"*\x00x"), Ok(XaddId::Auto));
    assert_eq!(parse_xadd_id(b"7-*"), Ok(XaddId::AutoSeq(7)));
    assert_eq!(
        parse_xadd_id(b"7"),
        Ok(XaddId::Explicit(StreamId::new(7, 0)))
    );
    assert_eq!(parse_xadd_id(b"-"), Err(IdError::Invalid));
    assert_eq!(parse_xadd_id(b"*-1"), Err(IdError::Invalid));
    assert_eq!(parse_range_start(b"(5"), Ok(StreamId::new(5, 1)));
    assert_eq!(
        parse_range_start(b"(5-18446744073709551615"),
        Ok(StreamId::new(6, 0))
    );
    assert_eq!(
        parse_range_start(b"(18446744073709551615-18446744073709551615"),
        Err(IdError::InvalidStart)
    );
    assert_eq!(parse_range_end(b"(5"), Ok(StreamId::new(5, u64::MAX - 1)));
    assert_eq!(parse_range_end(b"(0-0"), Err(IdError::InvalidEnd));
    assert_eq!(parse_range_end(b"5"), Ok(StreamId::new(5, u64::MAX)));
    assert_eq!(parse_range_end(b"("), Err(IdError::Invalid));
    assert_eq!(parse_range_end(b"(+"), Err(IdError::Invalid));
    assert_eq!(
        IdError::Invalid.to_string(),
        "ERR Invalid stream ID specified as stream command argument"
    );
    assert_eq!(
        StreamId::from_be_bytes(&StreamId::new(1, 2).to_be_bytes()),
        Some(StreamId::new(1, 2))
    );
    let mut out = Vec::new();
    StreamId::new(3, 4).write_to(&mut out);
    assert_eq!(out, b"3-4");
}

#[test]
fn append_errors_as_redis() {
    let l = NodeLimits::default();
    let f: &[(&[u8], &[u8])] = &[(b"a", b"1")];
    let mut s = Stream::new();
    assert_eq!(
        s.append(IdSpec::Explicit(StreamId::MIN), f, l),
        Err(AppendError::ZeroId)
    );
    assert_eq!(s.append(IdSpec::AutoSeq(0), f, l), Ok(StreamId::new(0, 1)));
    assert_eq!(
        s.append(IdSpec::Explicit(StreamId::new(0, 1)), f, l),
        Err(AppendError::EqualOrSmaller)
    );
    assert_eq!(
        s.append(IdSpec::Auto { now_ms: 0 }, f, l),
        Ok(StreamId::new(0, 2))
    );
    assert_eq!(
        s.append(IdSpec::Auto { now_ms: 10 }, f, l),
        Ok(StreamId::new(10, 0))
    );
    assert_eq!(
        s.append(IdSpec::AutoSeq(9), f, l),
        Err(AppendError::EqualOrSmaller)
    );
    assert_eq!(
        s.append(IdSpec::Explicit(StreamId::new(5, u64::MAX)), f, l),
        Err(AppendError::EqualOrSmaller)
    );
    assert_eq!(
        s.append(IdSpec::Explicit(StreamId::new(11, u64::MAX)), f, l),
        Ok(StreamId::new(11, u64::MAX))
    );
    assert_eq!(
        s.append(IdSpec::AutoSeq(11), f, l).unwrap_err().to_string(),
        "ERR Elements are too large to be stored"
    );
    assert_eq!(
        s.append(IdSpec::Auto { now_ms: 3 }, f, l),
        Ok(StreamId::new(12, 0))
    );
    assert_eq!(
        s.append(IdSpec::Explicit(StreamId::MAX), f, l),
        Ok(StreamId::MAX)
    );
    assert_eq!(
        s.append(IdSpec::Auto { now_ms: 3 }, f, l)
            .unwrap_err()
            .to_string(),
        "ERR The stream has exhausted the last possible ID, unable to add more items"
    );
    assert_eq!(
        s.append(IdSpec::Explicit(StreamId::MIN), f, l),
        Err(AppendError::ZeroId)
    );
    assert_eq!(
        AppendError::EqualOrSmaller.to_string(),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(s.len(), 6);
    check_consistent(&s);
}
