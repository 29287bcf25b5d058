//! The Lua debugger (SCRIPT DEBUG SYNC, what `redis-cli --ldb-sync-mode` drives): the same
//! session against Basalt and redis-server gives the same output, command by command.

mod common;

use common::{Conn, ServerProc};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

const SCRIPT: &str = "local a = 5\n\
local t = {1, 'two', x = {y = true}}\n\
redis.debug('hello', a, t)\n\
redis.call('set', KEYS[1], ARGV[1])\n\
local function inner(n)\n\
  local m = n * 2\n\
  return m + #redis.call('get', KEYS[1])\n\
end\n\
local v = inner(a)\n\
redis.breakpoint()\n\
return {a, v}\n";

/// The debugger commands of the session, each sent once the previous output arrived.
const COMMANDS: &[&[&str]] = &[
    &["help"],
    &["step"],
    &["print"],
    &["print", "t"],
    &["print", "KEYS"],
    &["print", "nosuch"],
    &["list"],
    &["list", "3", "1"],
    &["whole"],
    &["break", "7"],
    &["break"],
    &["break", "99"],
    &["break", "x"],
    &["continue"],
    &["trace"],
    &["print", "n"],
    &["break", "-7"],
    &["break", "-7"],
    &["eval", "1 + 1"],
    &["eval", "nosuchfn()"],
    &["eval", "x", "="],
    &["redis", "get", "dk"],
    &["redis", "incr", "dk"],
    &["redis", "nosuchcommand"],
    &["maxlen", "10"],
    &["print", "t"],
    &["maxlen", "0"],
    &["bogus"],
    &["step"],
    &["continue"],
    &["continue"],
];

/// Everything the server sends during the session, then whether it closed the connection.
fn session(s: &ServerProc) -> Vec<String> {
    let mut c = s.conn();
    let mut seen = vec![text(&c.cmd_str(&["SCRIPT", "DEBUG", "SYNC"]))];
    c.send(&[b"EVAL", SCRIPT.as_bytes(), b"1", b"dk", b"dv"]);
    seen.push(text(&c.read_reply()));
    for cmd in COMMANDS {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        c.send(&args);
        let reply = text(&c.read_reply());
        let ended = reply.contains("<endsession>");
        seen.push(reply);
        if ended {
            // The EVAL's own reply, then the connection closes.
            seen.push(text(&c.read_reply()));
            seen.push(format!("closed: {}", c.try_read_reply().is_none()));
            break;
        }
    }
    seen
}

/// Refusals and modes around sessions.
fn modes(s: &ServerProc) -> Vec<String> {
    let mut c = s.conn();
    let mut seen = vec![
        text(&c.cmd_str(&["SCRIPT", "DEBUG", "MAYBE"])),
        text(&c.cmd_str(&["SCRIPT", "DEBUG", "SYNC"])),
        text(&c.cmd_str(&["EVALSHA", "0123456789012345678901234567890123456789", "0"])),
        text(&c.cmd_str(&["EVALSHA", "short", "0"])),
        text(&c.cmd_str(&["SCRIPT", "DEBUG", "NO"])),
        text(&c.cmd_str(&["EVAL", "return 1", "0"])),
    ];
    // A pipeline: SCRIPT DEBUG after another reply waits to be sent.
    c.send_raw(&common::encode(&[b"PING"]));
    c.send_raw(&common::encode(&[b"SCRIPT", b"DEBUG", b"SYNC"]));
    seen.push(text(&c.read_reply()));
    seen.push(text(&c.read_reply()));
    // `abort` stops the script, whose writes stay (a sync session).
    let mut d = s.conn();
    d.cmd_str(&["SCRIPT", "DEBUG", "SYNC"]);
    d.send(&[b"EVAL", b"redis.call('set', 'kept', 1)\nreturn 2", b"0"]);
    seen.push(text(&d.read_reply()));
    d.send(&[b"step"]);
    seen.push(text(&d.read_reply()));
    d.send(&[b"abort"]);
    seen.push(text(&d.read_reply()));
    let err = text(&d.read_reply());
    seen.push(err.split(" script:").next().unwrap_or("").to_string());
    let mut e: Conn = s.conn();
    seen.push(text(&e.cmd_str(&["GET", "kept"])));
    seen
}

#[test]
fn debugging_sessions_match_redis() {
    let basalt = common::basalt(&[]);
    let ours = session(&basalt);
    assert!(ours.iter().any(|l| l.contains("<endsession>")), "{ours:?}");
    let ours_modes = modes(&basalt);
    if let Some(redis) = common::redis() {
        assert_eq!(ours, session(&redis));
        assert_eq!(ours_modes, modes(&redis));
    }
}
