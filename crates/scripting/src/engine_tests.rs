//! The engine end to end with a stand-in host: values, calls, errors and the sandbox.

use resp::Reply;

use crate::{Engine, Host};
/// A host that answers every command with its arguments joined, or an error for `err`.
struct Echo {
    logged: Vec<(u8, Vec<u8>)>,
    ticks: u32,
}

impl Host for Echo {
    fn call(&mut self, argv: &[Vec<u8>], _resp: u8, _repl: u8) -> Vec<u8> {
        if argv[0] == b"err" {
            return b"-WRONGTYPE nope\r\n".to_vec();
        }
        let joined = argv.join(&b' ');
        let mut r = format!("${}\r\n", joined.len()).into_bytes();
        r.extend_from_slice(&joined);
        r.extend_from_slice(b"\r\n");
        r
    }
    fn log(&mut self, level: u8, message: &[u8]) {
        self.logged.push((level, message.to_vec()));
    }
    fn known_command(&self, name: &[u8]) -> bool {
        name == b"get"
    }
    fn tick(&mut self) -> bool {
        self.ticks += 1;
        self.ticks > 3
    }
}

fn eval(body: &str, keys: &[&[u8]]) -> String {
    let mut e = Engine::new("7.0.15", 0x0007_000f).expect("engine");
    let sha = crate::sha1_hex(body.as_bytes());
    let mut out = Reply::new();
    match e.load(&sha, body.as_bytes()) {
        Err(msg) => out.error(msg.as_bytes()),
        Ok(()) => {
            let mut host = Echo {
                logged: Vec::new(),
                ticks: 0,
            };
            e.run(&sha, keys, &[b"a1"], &mut host, &mut out)
                .expect("run");
        }
    }
    String::from_utf8_lossy(out.as_bytes())
        .replace(&sha, "SHA")
        .to_string()
}

#[test]
fn values_and_calls() {
    assert_eq!(eval("return 1", &[]), ":1\r\n");
    assert_eq!(eval("return 3.7", &[]), ":3\r\n");
    assert_eq!(
        eval("return {1,'x',{ok='fine'}}", &[]),
        "*3\r\n:1\r\n$1\r\nx\r\n+fine\r\n"
    );
    assert_eq!(eval("return KEYS[1] .. ARGV[1]", &[b"k"]), "$3\r\nka1\r\n");
    assert_eq!(
        eval("return redis.call('get', KEYS[1], 1.5)", &[b"k"]),
        "$9\r\nget k 1.5\r\n"
    );
    assert_eq!(
        eval("return redis.pcall('err')", &[]),
        "-WRONGTYPE nope\r\n"
    );
    assert_eq!(
        eval("return redis.call('err')", &[]),
        "-WRONGTYPE nope script: SHA, on @user_script:1.\r\n"
    );
}

#[test]
fn sandbox_errors_as_redis() {
    assert_eq!(
        eval("x = 1", &[]),
        "-ERR user_script:1: Attempt to modify a readonly table script: SHA, on @user_script:1.\r\n"
    );
    assert_eq!(
        eval("return y", &[]),
        "-ERR user_script:1: Script attempted to access nonexistent global variable 'y' script: SHA, on @user_script:1.\r\n"
    );
    assert_eq!(
        eval("return (", &[]),
        "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n"
    );
    assert_eq!(
        eval("\nerror('boom')", &[]),
        "-ERR user_script:2: boom script: SHA, on @user_script:2.\r\n"
    );
    assert!(eval("return type(os)", &[]).contains("nonexistent global variable 'os'"));
    assert!(eval("string.x = 1", &[]).contains("readonly table"));
}

#[test]
fn cyclic_tables_stop_at_the_stack_limit() {
    let r = eval("local t = {} t[1] = t return t", &[]);
    assert_eq!(r.matches("*1\r\n").count(), 7995);
    assert!(r.ends_with("-ERR reached lua stack limit\r\n"));
}

#[test]
fn a_stopped_script_stays_stopped_through_pcall() {
    let r = eval(
        "while true do pcall(function() while true do end end) end",
        &[],
    );
    assert_eq!(
        r,
        "-ERR Script killed by user with SCRIPT KILL... script: SHA, on @user_script:1.\r\n"
    );
}

#[test]
fn many_scripts_and_wide_results_hold_few_lua_handles() {
    // mlua can hold fewer than 8,000 handles at once: neither the script cache nor a result
    // made of many tables may take one each.
    let mut e = Engine::new("7.0.15", 0x0007_000f).expect("engine");
    let mut host = Echo {
        logged: Vec::new(),
        ticks: 0,
    };
    for i in 0..10_000 {
        let body = format!("return {i}");
        let sha = crate::sha1_hex(body.as_bytes());
        e.load(&sha, body.as_bytes()).expect("load");
    }
    let body = "local t = {} for i = 1, 20000 do t[i] = {i, {k = 'v'}} end return t";
    let sha = crate::sha1_hex(body.as_bytes());
    e.load(&sha, body.as_bytes()).expect("load");
    let mut out = Reply::new();
    e.run(&sha, &[], &[], &mut host, &mut out).expect("run");
    assert!(out.as_bytes().starts_with(b"*20000\r\n*2\r\n:1\r\n*0\r\n"));
    let sha0 = crate::sha1_hex(b"return 0");
    let mut out = Reply::new();
    e.run(&sha0, &[], &[], &mut host, &mut out).expect("run");
    assert_eq!(out.as_bytes(), b":0\r\n");
}
