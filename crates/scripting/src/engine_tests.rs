//! The engine end to end with a stand-in host: values, calls, errors and the sandbox.

use resp::Reply;

use crate::{Engine, Host};
/// A host that answers every command with its arguments joined, or an error for `err`.
struct Echo {
    logged: Vec<(u8, Vec<u8>)>,
    ticks: u32,
}

impl Host for Echo {
    fn call(&mut self, argv: resp::Argv<'_>, _resp: u8, _repl: u8, reply: &mut Reply) -> bool {
        reply.clear();
        if argv.get(0) == b"err" {
            reply.error(b"WRONGTYPE nope");
            return true;
        }
        let parts: Vec<&[u8]> = argv.iter().collect();
        reply.bulk(&parts.join(&b' '));
        true
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

/// Load `code` as a library and call `f` with one key; the load's error or the call's reply.
fn fcall(code: &str, keys: &[&[u8]]) -> String {
    let mut e = Engine::new("7.0.15", 0x0007_000f).expect("engine");
    let mut host = Echo {
        logged: Vec::new(),
        ticks: 0,
    };
    let timeout = Some(std::time::Duration::from_millis(500));
    match e.load_library(7, code.as_bytes(), timeout, &mut host) {
        Err(msg) => msg,
        Ok(registered) => {
            let mut out = Reply::new();
            e.call_function(7, &registered[0].name, keys, &[b"a1"], &mut host, &mut out)
                .expect("call");
            String::from_utf8_lossy(out.as_bytes()).into_owned()
        }
    }
}

#[test]
fn a_library_registers_functions_that_run_with_keys_and_args() {
    let code = "\nredis.register_function('f', function(k, a) return {k[1], a[1], redis.call('x', k[1])} end)";
    assert_eq!(
        fcall(code, &[b"k1"]),
        "*3\r\n$2\r\nk1\r\n$2\r\na1\r\n$4\r\nx k1\r\n"
    );
}

#[test]
fn a_library_sees_only_the_load_api_while_it_loads() {
    assert_eq!(
        fcall("\nlocal s = string.rep('x', 2)", &[]),
        "Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'"
    );
    assert_eq!(
        fcall("\nredis.register_function{function_name='f', callback=function() end, flags={'no-writes', 'bogus'}}", &[]),
        "Error registering functions: ERR unknown flag given"
    );
    assert_eq!(
        fcall("\nwhile true do end", &[]),
        "Error registering functions: ERR FUNCTION LOAD timeout"
    );
    assert_eq!(
        fcall("\nx = ", &[]),
        "Error compiling function: user_function:2: unexpected symbol near '<eof>'"
    );
}

#[test]
fn a_function_error_names_the_function() {
    let code = "\nredis.register_function('boom', function() error('bad') end)";
    assert_eq!(
        fcall(code, &[]),
        "-ERR user_function:2: bad script: boom, on @user_function:2.\r\n"
    );
}

#[test]
fn registered_flags_and_descriptions_are_read() {
    let mut e = Engine::new("7.0.15", 0x0007_000f).expect("engine");
    let mut host = Echo {
        logged: Vec::new(),
        ticks: 0,
    };
    let code = "\nredis.register_function{function_name='g', callback=function() end, flags={'No-Writes', 'allow-oom'}, description='about g'}\nredis.register_function('h', function() end)";
    let got = e
        .load_library(1, code.as_bytes(), None, &mut host)
        .expect("load");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].name, "g");
    assert_eq!(got[0].description.as_deref(), Some(&b"about g"[..]));
    assert!(got[0].flags.no_writes && got[0].flags.allow_oom && !got[0].flags.allow_stale);
    assert_eq!(got[1].description, None);
    assert!(e.has_library(1));
    e.drop_library(1);
    assert!(!e.has_library(1));
}
