//! Starting a script or function through Lua's C API, in one protected call: mlua makes each
//! table, string and field it creates from Rust a call of its own (with a handle per value),
//! which cost more than a short script's own work. Here KEYS and ARGV are built, the script
//! found and called under the error handler with raw stack operations, as Redis does.
//!
//! Every closure passed to `exec_raw` holds only references: a Lua error raised inside it
//! (out of memory) unwinds no Rust destructor.

use std::ffi::c_int;

use mlua::{ffi, Function, Lua, Table, Value};

/// How a call ended.
pub enum Ran {
    /// Its first result.
    Ok(Value),
    /// What it raised, as the error handler left it.
    Failed(Value),
    /// No script by that name.
    Missing,
}

/// Push a new array table of `items`.
unsafe fn push_array(state: *mut ffi::lua_State, items: &[&[u8]]) {
    ffi::lua_createtable(state, c_int::try_from(items.len()).unwrap_or(0), 0);
    for (i, item) in items.iter().enumerate() {
        ffi::lua_pushlstring(state, item.as_ptr().cast(), item.len());
        ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
    }
}

/// After a `lua_pcall` returning one value above the `base` values this call started with:
/// leave `[status, value]` (status 0 ran, 1 raised).
unsafe fn leave_status(state: *mut ffi::lua_State, base: c_int, failed: bool) {
    ffi::lua_pushinteger(state, ffi::lua_Integer::from(failed));
    ffi::lua_insert(state, -2);
    for _ in 0..base {
        ffi::lua_remove(state, 1);
    }
}

/// Leave `[2, nil]`: nothing to call.
unsafe fn leave_missing(state: *mut ffi::lua_State) {
    ffi::lua_settop(state, 0);
    ffi::lua_pushinteger(state, 2);
    ffi::lua_pushnil(state);
}

fn ran(status: i64, value: Value) -> Ran {
    match status {
        0 => Ran::Ok(value),
        1 => Ran::Failed(value),
        _ => Ran::Missing,
    }
}

/// EVAL: set the globals `KEYS` and `ARGV` in `globals`, find script `name` in `scripts`
/// and call it with `handler` as its error handler (`host.raised` cleared first).
#[allow(clippy::too_many_arguments)]
pub fn run_script(
    lua: &Lua,
    handler: &Function,
    scripts: &Table,
    globals: &Table,
    host: &Table,
    name: &str,
    keys: &[&[u8]],
    args: &[&[u8]],
) -> mlua::Result<Ran> {
    let stack_args = (handler, scripts, globals, host);
    // SAFETY: see the module's doc; the stack holds the four tables/functions at 1..=4.
    let (status, value): (i64, Value) = unsafe {
        lua.exec_raw(stack_args, |state| {
            if ffi::lua_checkstack(state, 8) == 0 {
                return leave_missing(state);
            }
            ffi::lua_pushnil(state);
            ffi::lua_setfield(state, 4, c"raised".as_ptr());
            ffi::lua_pushlstring(state, c"KEYS".as_ptr(), 4);
            push_array(state, keys);
            ffi::lua_rawset(state, 3);
            ffi::lua_pushlstring(state, c"ARGV".as_ptr(), 4);
            push_array(state, args);
            ffi::lua_rawset(state, 3);
            ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len());
            ffi::lua_rawget(state, 2);
            if ffi::lua_type(state, -1) != ffi::LUA_TFUNCTION {
                return leave_missing(state);
            }
            let failed = ffi::lua_pcall(state, 0, 1, 1) != 0;
            leave_status(state, 4, failed);
        })?
    };
    Ok(ran(status, value))
}

/// FCALL: call `f` with its KEYS and ARGV tables as arguments, `handler` its error handler.
pub fn run_function(
    lua: &Lua,
    handler: &Function,
    host: &Table,
    f: &Function,
    keys: &[&[u8]],
    args: &[&[u8]],
) -> mlua::Result<Ran> {
    // SAFETY: see the module's doc; the stack holds handler, host and f at 1..=3.
    let (status, value): (i64, Value) = unsafe {
        lua.exec_raw((handler, host, f), |state| {
            if ffi::lua_checkstack(state, 8) == 0 {
                return leave_missing(state);
            }
            ffi::lua_pushnil(state);
            ffi::lua_setfield(state, 2, c"raised".as_ptr());
            ffi::lua_pushvalue(state, 3);
            push_array(state, keys);
            push_array(state, args);
            let failed = ffi::lua_pcall(state, 2, 1, 1) != 0;
            leave_status(state, 3, failed);
        })?
    };
    Ok(ran(status, value))
}
