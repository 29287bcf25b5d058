//! Building an interpreter's environment: the standard libraries Redis loads, then
//! `sandbox.lua` on top (allowed globals, read-only proxies, `redis.*`, the error handler).
//! The Rust functions the Lua side needs go in the host table `H`.

use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

use crate::engine::CallArgs;

/// Handles an [`crate::Engine`] keeps to its interpreter's environment.
#[derive(Clone)]
pub struct Sandbox {
    /// The host table: per-run state (`resp`, `repl`, `host`) and helpers.
    pub host: Table,
    /// The real globals behind the read-only proxy (KEYS and ARGV are set here).
    pub globals: Table,
    /// The proxy every script runs with as its environment.
    pub env: Table,
    /// The error handler scripts and functions run under (see sandbox.lua).
    pub handler: Function,
    /// The globals proxy of function libraries (see sandbox.lua).
    pub fenv: Table,
    /// `H.load_library(chunk)`: `ok, registered-or-error`.
    pub load_library: Function,
}

const SOURCE: &str = include_str!("sandbox.lua");

pub fn new_lua() -> mlua::Result<Lua> {
    // Redis's libraries (base is always there). mlua counts `debug` as unsafe because it can
    // break Rust's invariants about values it holds; here only the error handler keeps it
    // (for `debug.getinfo`), and `build` removes it from everything scripts can reach.
    // SAFETY: no script can call into `debug` (see above).
    Ok(unsafe {
        Lua::unsafe_new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
            LuaOptions::default(),
        )
    })
}

/// Raise Redis's error table for `msg` from a Rust function: a Rust callback cannot raise a
/// Lua table, so the table waits in `H.raised` and a placeholder error is raised (taken back
/// by the error handler and `pcall`, see sandbox.lua).
pub fn raise<T>(host: &Table, msg: &str) -> mlua::Result<T> {
    let make: Function = host.raw_get("err_table")?;
    let t: Value = make.call(msg)?;
    host.raw_set("raised", t)?;
    Err(mlua::Error::runtime(msg.to_string()))
}

/// An error raised by a Rust library function, as `luaL_error` words it: the position of the
/// Lua code that called the function first (`user_script:1: …`), nothing when a C function
/// (such as `pcall`) called it.
pub fn error_at_caller(lua: &Lua, msg: String) -> mlua::Error {
    let prefix = lua
        .inspect_stack(1)
        .and_then(|d| {
            let line = d.curr_line();
            let src = d.source().short_src.map(|s| s.into_owned());
            (line > 0).then(|| format!("{}:{line}: ", src.unwrap_or_default()))
        })
        .unwrap_or_default();
    mlua::Error::RuntimeError(format!("{prefix}{msg}"))
}

/// The message of an error a Rust function raised (mlua hands Lua a wrapper object).
fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Whether a script is running (the `redis.*` functions that need one refuse otherwise).
fn in_run() -> bool {
    crate::current::running()
}

/// The `redis.*` functions that raise errors, as Rust (C) functions like Redis's own.
fn add_raising_functions(lua: &Lua, host: &Table) -> mlua::Result<()> {
    // redis.call and redis.pcall: the command through this thread's current host. Scripts
    // call a C trampoline (see `trampoline`) that hands the Rust function its arguments
    // packed in a table.
    for (name, raises) in [("call", true), ("pcall", false)] {
        let h = host.clone();
        let f = lua.create_function(move |lua, ()| {
            let args = CALL_ARGS.take();
            let ran =
                crate::current::with(|host| crate::engine::command(lua, &h, host, &args, raises));
            // Back, so its buffers serve the next call.
            CALL_ARGS.set(args);
            match ran {
                Some(r) => r,
                None => raise(
                    &h,
                    "redis.call/pcall can only be called inside a script invocation",
                ),
            }
        })?;
        // SAFETY: only the C API on this state; the closure keeps `f` as its upvalue (the
        // slow path, see `crate::call`).
        let fast = if raises {
            crate::call::redis_call
        } else {
            crate::call::redis_pcall
        };
        let trampoline: Function = unsafe {
            lua.exec_raw(f, |state| {
                mlua::ffi::lua_pushcclosure(state, fast, 1);
            })?
        };
        host.raw_set(name, trampoline)?;
    }
    let h = host.clone();
    let sha1 = lua.create_function(move |_, args: MultiValue| {
        if args.len() != 1 {
            return raise(&h, "wrong number of arguments");
        }
        let bytes = match args.into_iter().next() {
            Some(Value::String(s)) => s.as_bytes().to_vec(),
            Some(Value::Integer(i)) => i.to_string().into_bytes(),
            Some(Value::Number(n)) => crate::number::format_g14(n).into_bytes(),
            _ => Vec::new(),
        };
        Ok(crate::sha1_hex(&bytes))
    })?;
    host.raw_set("sha1hex", sha1)?;
    let h = host.clone();
    let setresp = lua.create_function(move |_, args: MultiValue| -> mlua::Result<()> {
        if !in_run() {
            return raise(
                &h,
                "redis.setresp can only be called inside a script invocation",
            );
        }
        if args.len() != 1 {
            return raise(&h, "redis.setresp() requires one argument.");
        }
        match number(args.into_iter().next()) {
            Some(v) if v == 2.0 || v == 3.0 => {
                crate::current::set_state(|s| s.resp = v as u8);
                Ok(())
            }
            _ => raise(&h, "RESP version must be 2 or 3."),
        }
    })?;
    host.raw_set("setresp", setresp)?;
    let h = host.clone();
    let set_repl = lua.create_function(move |_, args: MultiValue| -> mlua::Result<()> {
        if !in_run() {
            return raise(
                &h,
                "redis.set_repl can only be called inside a script invocation",
            );
        }
        if args.len() != 1 {
            return raise(&h, "redis.set_repl() requires two arguments.");
        }
        match number(args.into_iter().next()) {
            Some(v) if (0.0..=3.0).contains(&v) && v.fract() == 0.0 => {
                crate::current::set_state(|s| s.repl = v as u8);
                Ok(())
            }
            _ => raise(
                &h,
                "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
            ),
        }
    })?;
    host.raw_set("set_repl", set_repl)?;
    let h = host.clone();
    let log = lua.create_function(move |_, args: MultiValue| -> mlua::Result<()> {
        if args.len() < 2 {
            return raise(&h, "redis.log() requires two arguments or more.");
        }
        let mut args = args.into_iter();
        let Some(level) = number(args.next()) else {
            return raise(&h, "First argument must be a number (log level).");
        };
        if !(0.0..=3.0).contains(&level) {
            return raise(&h, "Invalid debug level.");
        }
        let parts: Vec<Vec<u8>> = args
            .filter_map(|v| match v {
                Value::String(s) => Some(s.as_bytes().to_vec()),
                Value::Integer(i) => Some(i.to_string().into_bytes()),
                Value::Number(n) => Some(crate::number::format_g14(n).into_bytes()),
                _ => None,
            })
            .collect();
        crate::current::with(|host| host.log(level as u8, &parts.join(&b' ')));
        Ok(())
    })?;
    host.raw_set("redis_log", log)?;
    let h = host.clone();
    let acl = lua.create_function(move |_, args: MultiValue| -> mlua::Result<bool> {
        if !in_run() {
            return raise(
                &h,
                "redis.acl_check_cmd can only be called inside a script invocation",
            );
        }
        let Some(Value::String(name)) = args.into_iter().next() else {
            return raise(
                &h,
                "Please specify at least one argument for this redis lib call",
            );
        };
        let known = crate::current::with(|host| host.known_command(&name.as_bytes()));
        if known != Some(true) {
            return raise(&h, "Invalid command passed to redis.acl_check_cmd()");
        }
        Ok(true)
    })?;
    host.raw_set("acl_check_cmd", acl)?;
    let text = lua.create_function(|lua, v: Value| match v {
        Value::Error(e) => Ok(Value::String(lua.create_string(error_text(&e))?)),
        other => Ok(other),
    })?;
    host.raw_set("error_text", text)?;
    // redis.breakpoint(): in a debugging session, stop at the next line.
    host.raw_set(
        "breakpoint",
        lua.create_function(|_, ()| {
            if !crate::ldb::active() {
                return Ok(false);
            }
            crate::ldb::SESSION.with(|s| {
                if let Some(s) = s.borrow_mut().as_mut() {
                    s.luabp = true;
                }
            });
            Ok(true)
        })?,
    )?;
    // redis.debug(…): in a debugging session, its arguments into the debugger's output.
    host.raw_set(
        "debug",
        lua.create_function(|_, args: MultiValue| {
            if !crate::ldb::active() {
                return Ok(());
            }
            let line =
                crate::ldb::SESSION.with(|s| s.borrow().as_ref().map_or(0, |s| s.currentline));
            let mut entry = format!("<debug> line {line}: ");
            for (i, v) in args.iter().enumerate() {
                if i > 0 {
                    entry.push_str(", ");
                }
                crate::ldb::repr_value(&mut entry, v, 0);
            }
            crate::ldb::log(entry);
            Ok(())
        })?,
    )?;
    host.raw_set(
        "is_killed",
        lua.create_function(|_, ()| Ok(crate::current::state().killed))?,
    )?;
    Ok(())
}

thread_local! {
    /// The arguments of the `redis.call` being made, from the trampoline to the Rust side.
    pub(crate) static CALL_ARGS: std::cell::Cell<CallArgs> = std::cell::Cell::new(CallArgs::default());
}

/// `redis.call`'s arguments, read off the Lua stack into [`CALL_ARGS`] as Redis reads them
/// (a number through `%.17g`; a string as it is; anything else makes the call fail), then
/// the Rust function kept as this C closure's upvalue called without arguments.
///
/// Why a C function: mlua would hand a Rust function each argument as a handle (a costly
/// and limited resource: a script may pass as many as Lua's C stack holds, and Redis takes
/// 7,997); and a C function, unlike a Lua one, keeps the script's frame when it is
/// tail-called (`return redis.call(…)`), which error positions name.
///
/// # Safety
/// Called by Lua with a valid state. The Rust part (reading the arguments, which neither
/// allocates in Lua nor raises) ends before any Lua call that could raise an error, so an
/// error unwinding through this frame skips no Rust destructor.
pub(crate) unsafe extern "C-unwind" fn trampoline(
    state: *mut mlua::ffi::lua_State,
) -> std::ffi::c_int {
    use mlua::ffi;
    let mut args = CALL_ARGS.take();
    read_args(state, &mut args);
    CALL_ARGS.set(args);
    ffi::lua_settop(state, 0);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_call(state, 0, 1);
    1
}

/// The arguments on the stack as Redis reads them (see [`trampoline`]); allocates nothing in
/// Lua and never raises.
///
/// # Safety
/// `state` is a valid state (a C function's).
pub(crate) unsafe fn read_args(state: *mut mlua::ffi::lua_State, args: &mut CallArgs) {
    use mlua::ffi;
    let n = ffi::lua_gettop(state);
    args.src.clear();
    args.ranges.clear();
    args.valid = true;
    for i in 1..=n {
        let start = args.src.len();
        match ffi::lua_type(state, i) {
            ffi::LUA_TNUMBER => {
                let text = crate::number::format_g17(ffi::lua_tonumber(state, i));
                args.src.extend_from_slice(text.as_bytes());
            }
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(state, i, &mut len);
                args.src
                    .extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
            }
            _ => {
                args.valid = false;
                break;
            }
        }
        args.ranges.push((start, args.src.len()));
    }
}

fn number(v: Option<Value>) -> Option<f64> {
    match v? {
        Value::Integer(i) => Some(i as f64),
        Value::Number(n) => Some(n),
        _ => None,
    }
}

pub fn build(lua: &Lua, version: &str, version_num: i64) -> mlua::Result<Sandbox> {
    let host = lua.create_table()?;
    host.raw_set("version", version)?;
    host.raw_set("version_num", version_num)?;
    host.raw_set(
        "rand",
        lua.create_function(|_, ()| {
            let max = crate::random::LRAND48_MAX;
            Ok((crate::random::lrand48() % max) as f64 / max as f64)
        })?,
    )?;
    host.raw_set(
        "srand",
        lua.create_function(|_, seed: f64| {
            crate::random::srand48(crate::convert::c_long_long(seed) as i32);
            Ok(())
        })?,
    )?;
    add_raising_functions(lua, &host)?;
    host.raw_set(
        "c_wrap",
        lua.create_function(|lua, f: Function| {
            lua.create_function(move |_, args: MultiValue| f.call::<MultiValue>(args))
        })?,
    )?;
    host.raw_set("bit", crate::libs::bit::open(lua)?)?;
    host.raw_set("cjson", crate::libs::cjson::open(lua)?)?;
    host.raw_set("cmsgpack", crate::libs::cmsgpack::open(lua)?)?;
    host.raw_set("struct", crate::libs::structlib::open(lua)?)?;
    let env: Table = lua.load(SOURCE).set_name("=basalt").call(host.clone())?;
    let globals: Table = host.raw_get("globals")?;
    let handler: Function = host.raw_get("handler")?;
    let fenv: Table = host.raw_get("fglobals")?;
    let load_library: Function = host.raw_get("load_library")?;
    // Nothing outside the proxy may reach what scripts must not: remove it from the
    // interpreter's own globals too (code that escapes the proxy finds nothing there).
    let vm = lua.globals();
    for name in [
        "debug", "print", "dofile", "loadfile", "require", "module", "os", "io", "package",
    ] {
        vm.raw_set(name, Value::Nil)?;
    }
    Ok(Sandbox {
        host,
        globals,
        env,
        handler,
        fenv,
        load_library,
    })
}
