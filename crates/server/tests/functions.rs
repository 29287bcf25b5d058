//! Function libraries where the files, the log and several clients meet (issue 12): they
//! persist in RDB files both ways between Basalt and redis-server, in the log as Redis logs
//! them, through rewrites and DEBUG RELOAD; a busy function is refused, listed and killed
//! as in Redis.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Conn, ServerProc};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

const LIB_A: &str = "#!lua name=liba\nredis.register_function{function_name='bump', callback=function(keys, args) return redis.call('incrby', keys[1], args[1]) end, description='adds'}";
const LIB_B: &str = "#!lua name=libb\nlocal function tag(s) return 'b:' .. s end\nredis.register_function{function_name='tagged', callback=function(keys) return tag(keys[1]) end, flags={'no-writes'}}";

fn load_libraries(c: &mut Conn) {
    assert_eq!(
        text(&c.cmd_str(&["FUNCTION", "LOAD", LIB_A])),
        "$4\r\nliba\r\n"
    );
    assert_eq!(
        text(&c.cmd_str(&["FUNCTION", "LOAD", LIB_B])),
        "$4\r\nlibb\r\n"
    );
    assert_eq!(
        text(&c.cmd_str(&["FCALL", "bump", "1", "n", "5"])),
        ":5\r\n"
    );
}

/// What a server holds of functions: LIST WITHCODE (libraries sorted by name) and two calls.
fn functions_seen(c: &mut Conn) -> Vec<String> {
    let list = c.cmd_str(&["FUNCTION", "LIST", "WITHCODE"]);
    let mut libs: Vec<String> = common::elements(&list)
        .expect("FUNCTION LIST")
        .iter()
        .map(|l| text(l))
        .collect();
    libs.sort();
    libs.push(text(&c.cmd_str(&["FCALL", "bump", "1", "n", "1"])));
    libs.push(text(&c.cmd_str(&["FCALL_RO", "tagged", "1", "k"])));
    libs
}

fn dir_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut v = vec!["--dir".to_string(), dir.display().to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn start(redis: bool, args: &[String]) -> ServerProc {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    if redis {
        common::redis_with(&refs)
    } else {
        common::basalt(&refs)
    }
}

/// Libraries saved by one server load in the other (`dump.rdb`, FUNCTION2 records).
#[test]
fn functions_persist_in_rdb_files_both_ways() {
    if common::redis().is_none() {
        return;
    }
    for (writer_is_redis, reader_is_redis) in [(true, false), (false, true)] {
        let dir = tempfile::tempdir().expect("dir");
        let args = dir_args(dir.path(), &[]);
        let mut w = start(writer_is_redis, &args);
        let mut c = w.conn();
        load_libraries(&mut c);
        assert_eq!(text(&c.cmd_str(&["SAVE"])), "+OK\r\n");
        let before = functions_seen(&mut c);
        w.terminate();
        if !writer_is_redis {
            common::assert_redis_check_rdb(&dir.path().join("dump.rdb"));
        }
        let r = start(reader_is_redis, &args);
        let mut after = functions_seen(&mut r.conn());
        // The counter moved once more on the reader.
        after[2] = after[2].replace(":7", ":6");
        assert_eq!(after, before, "written by redis: {writer_is_redis}");
    }
}

/// The log holds FUNCTION LOAD/DELETE as sent and a function's effects (not the call), as
/// Redis's does; it replays to the same libraries and data, and so do rewritten bases (RDB
/// preamble or commands).
#[test]
fn functions_are_logged_and_replayed_as_redis_logs_them() {
    let run = |c: &mut Conn| {
        load_libraries(c);
        c.cmd_str(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=gone\nredis.register_function('g', function() return 1 end)",
        ]);
        c.cmd_str(&["FUNCTION", "DELETE", "gone"]);
        c.cmd_str(&["FCALL", "bump", "1", "m", "2"]);
        c.cmd_str(&["FUNCTION", "LOAD", "bad code"]);
    };
    let log_of = |redis: bool| -> (String, Vec<String>) {
        let dir = tempfile::tempdir().expect("dir");
        let args = dir_args(
            dir.path(),
            &["--appendonly", "yes", "--appendfsync", "always"],
        );
        let mut s = start(redis, &args);
        let mut c = s.conn();
        run(&mut c);
        let seen = functions_seen(&mut c);
        s.terminate();
        let incr = dir.path().join("appendonlydir/appendonly.aof.1.incr.aof");
        let log: String = text(&std::fs::read(incr).expect("incr file"))
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with('#'))
            .collect();
        if !redis {
            // Replayed, and rewritten with each kind of base, the same libraries and data.
            let mut again = start(false, &args);
            let mut c = again.conn();
            let mut replayed = functions_seen(&mut c);
            for preamble in ["no", "yes"] {
                c.cmd_str(&["CONFIG", "SET", "aof-use-rdb-preamble", preamble]);
                c.cmd_str(&["BGREWRITEAOF"]);
                wait_rewrite(&mut c);
                again.terminate();
                again = start(false, &args);
                c = again.conn();
                replayed.extend(functions_seen(&mut c));
            }
            let counts: Vec<&String> = replayed.iter().filter(|l| l.starts_with(':')).collect();
            assert_eq!(counts, [":7\r\n", ":8\r\n", ":9\r\n"], "{replayed:?}");
        }
        (log, seen)
    };
    let (ours, ours_seen) = log_of(false);
    assert!(ours.contains("FUNCTION\r\n$4\r\nLOAD"), "{ours}");
    assert!(!ours.contains("FCALL"), "{ours}");
    if common::redis().is_some() {
        let (theirs, theirs_seen) = log_of(true);
        assert_eq!(ours, theirs);
        assert_eq!(ours_seen, theirs_seen);
    }
}

fn wait_rewrite(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::info_field_in(c, "persistence", "aof_rewrite_in_progress") != "0"
        || common::info_field_in(c, "persistence", "aof_rewrite_scheduled") != "0"
    {
        assert!(Instant::now() < deadline, "rewrite never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// DEBUG RELOAD saves and loads the libraries back; FLUSHALL leaves them.
#[test]
fn debug_reload_and_flushall_keep_functions_as_redis() {
    let transcript = |redis: bool| -> Vec<String> {
        let dir = tempfile::tempdir().expect("dir");
        let args = dir_args(dir.path(), &["--enable-debug-command", "yes"]);
        let s = start(redis, &args);
        let mut c = s.conn();
        load_libraries(&mut c);
        let mut seen = vec![text(&c.cmd_str(&["DEBUG", "RELOAD"]))];
        seen.extend(functions_seen(&mut c));
        seen.push(text(&c.cmd_str(&["FLUSHALL"])));
        seen.extend(functions_seen(&mut c));
        seen.push(text(&c.cmd_str(&["FUNCTION", "FLUSH"])));
        seen.push(text(&c.cmd_str(&["DEBUG", "RELOAD"])));
        seen.push(text(&c.cmd_str(&["FUNCTION", "LIST"])));
        seen
    };
    let ours = transcript(false);
    assert_eq!(ours[0], "+OK\r\n");
    if common::redis().is_some() {
        assert_eq!(ours, transcript(true));
    }
}

/// A function past `busy-reply-threshold`: others get FUNCTION KILL's BUSY text, FUNCTION
/// STATS names it, SCRIPT KILL refuses to stop it, FUNCTION KILL does (not once it wrote).
fn busy_function_transcript(s: &mut ServerProc) -> Vec<String> {
    let mut seen = Vec::new();
    let mut admin = s.conn();
    admin.cmd_str(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    admin.cmd_str(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=spin\nredis.register_function('spin', function() while true do end end)\nredis.register_function('spinw', function() redis.call('set', 'w', 1) while true do end end)",
    ]);
    let mut looping = s.conn();
    looping.send(&[b"FCALL", b"spin", b"0"]);
    std::thread::sleep(Duration::from_millis(400));
    let mut other = s.conn();
    seen.push(text(&other.cmd_str(&["GET", "x"])));
    let stats = other.cmd_str(&["FUNCTION", "STATS"]);
    // The running time differs: keep what comes before it.
    seen.push(
        text(&stats)
            .split("duration_ms")
            .next()
            .unwrap_or("")
            .to_string(),
    );
    seen.push(text(&other.cmd_str(&["SCRIPT", "KILL"])));
    seen.push(text(&other.cmd_str(&["FUNCTION", "KILL"])));
    let killed = text(&looping.read_reply());
    seen.push(killed);
    seen.push(text(&other.cmd_str(&["FUNCTION", "KILL"])));
    looping.send(&[b"FCALL", b"spinw", b"0"]);
    std::thread::sleep(Duration::from_millis(400));
    let mut third = s.conn();
    seen.push(text(&third.cmd_str(&["FUNCTION", "KILL"])));
    third.send(&[b"SHUTDOWN", b"NOSAVE"]);
    seen.push(format!("closed: {}", third.try_read_reply().is_none()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(s.child.try_wait(), Ok(Some(_))) {
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    seen
}

#[test]
fn busy_functions_are_refused_listed_and_killed_as_redis() {
    if common::redis().is_none() {
        return;
    }
    let mut redis = common::redis_with(&[]);
    let theirs = busy_function_transcript(&mut redis);
    let mut basalt = common::basalt(&["--io-threads", "1"]);
    assert_eq!(busy_function_transcript(&mut basalt), theirs);
    assert!(theirs[0].contains("FUNCTION KILL"), "{theirs:?}");
}

/// A RESTORE payload whose library loops while it loads: Redis loads payloads with no time
/// limit (and would hang); Basalt keeps FUNCTION LOAD's 500 ms for clients.
#[test]
fn a_restore_payload_that_loops_is_stopped() {
    let s = common::basalt(&[]);
    let mut c = s.conn();
    let code: &[u8] = b"#!lua name=spin\nwhile true do end";
    let payload = persist::rdb::functions::dump_functions([code], false);
    let started = Instant::now();
    let reply = text(&c.cmd(&[b"FUNCTION", b"RESTORE", &payload]));
    assert_eq!(
        reply,
        "-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(text(&c.cmd_str(&["FUNCTION", "LIST"])), "*0\r\n");
}
