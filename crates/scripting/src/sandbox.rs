//! Building an interpreter's environment: the standard libraries Redis loads, then
//! `sandbox.lua` on top (allowed globals, read-only proxies, `redis.*`, the error handler).
//! The Rust functions the Lua side needs go in the host table `H`.

use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value};

/// Handles an [`crate::Engine`] keeps to its interpreter's environment.
pub struct Sandbox {
    /// The host table: per-run state (`resp`, `repl`, `host`) and helpers.
    pub host: Table,
    /// The real globals behind the read-only proxy (KEYS and ARGV are set here).
    pub globals: Table,
    /// The proxy every script runs with as its environment.
    pub env: Table,
    /// `H.run(f)`: calls `f` under the error handler; returns `ok, result-or-error`.
    pub run: Function,
    /// `H.err_table(msg)`: an error as redis.call raises it.
    pub err_table: Function,
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

pub fn build(lua: &Lua, version: &str, version_num: i64) -> mlua::Result<Sandbox> {
    let host = lua.create_table()?;
    host.raw_set("version", version)?;
    host.raw_set("version_num", version_num)?;
    host.raw_set("resp", 2)?;
    host.raw_set("repl", 3)?;
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
    host.raw_set(
        "sha1",
        lua.create_function(|_, s: mlua::String| Ok(crate::sha1_hex(&s.as_bytes())))?,
    )?;
    let env: Table = lua
        .load(SOURCE)
        .set_name("=basalt")
        .call(host.clone())?;
    let globals: Table = host.raw_get("globals")?;
    let run: Function = host.raw_get("run")?;
    let err_table: Function = host.raw_get("err_table")?;
    // Nothing outside the proxy may reach what scripts must not: remove it from the
    // interpreter's own globals too (code that escapes the proxy finds nothing there).
    let vm = lua.globals();
    for name in ["debug", "print", "dofile", "loadfile", "require", "module", "os", "io", "package"] {
        vm.raw_set(name, Value::Nil)?;
    }
    Ok(Sandbox {
        host,
        globals,
        env,
        run,
        err_table,
    })
}
