//! `redis.call` and `redis.pcall` as plain C functions over Lua's C API, as Redis has them.
//!
//! Why not an mlua callback: every call through mlua's callback machinery pays for a
//! protected frame, handles for the arguments and for each value of the reply, and garbage
//! for the collector — together more than a short command itself. Here the arguments are
//! read off the stack, the host runs the command into a thread-local buffer, and the reply
//! is pushed straight onto the stack.
//!
//! The mlua function (see `sandbox::add_raising_functions`) stays as the slow path, reached
//! through [`crate::sandbox::trampoline`]: in a debugging session (which logs every call),
//! outside a script run, and for a call made while another one is converting its reply (a
//! `__gc` finalizer the conversion's allocations triggered), which must not touch the buffer
//! being read.
//!
//! # Unwinding
//! Lua raises errors with `longjmp`. The Rust work (reading the arguments, running the
//! command) happens in [`run_command`], which allocates nothing in Lua and so cannot raise,
//! and has dropped everything it owned when it returns. What follows only pushes values, from
//! frames that hold nothing but pointers and integers; an allocation failure (the interpreter's
//! memory limit) unwinds through them without skipping a destructor.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_int;

use mlua::ffi;
use resp::Reply;

use crate::sandbox::{read_args, CALL_ARGS};

thread_local! {
    /// The reply of the command being converted (see the module's doc).
    static FAST_REPLY: UnsafeCell<Reply> = UnsafeCell::new(Reply::new());
    /// Set from the start of a fast call until its reply is on the stack.
    static FAST_BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Nesting a reply may have (no command nests anywhere near it; it bounds the recursion).
const MAX_REPLY_DEPTH: usize = 1000;

/// The message when an argument is neither a string nor a number.
const BAD_ARGS: &[u8] = b"ERR Lua redis lib command arguments must be strings or integers";
/// The message of a call without arguments.
const NO_ARGS: &[u8] = b"ERR Please specify at least one argument for this redis lib call";

/// Called when a script run starts: a conversion a memory error abandoned left the flag set.
pub(crate) fn reset() {
    FAST_BUSY.with(|b| b.set(false));
}

/// `redis.call`: a command's error reply is raised.
///
/// # Safety
/// Called by Lua, as a C closure whose first upvalue is the slow-path function.
pub(crate) unsafe extern "C-unwind" fn redis_call(state: *mut ffi::lua_State) -> c_int {
    generic(state, true)
}

/// `redis.pcall`: a command's error reply is returned as `{err=…}`.
///
/// # Safety
/// As [`redis_call`].
pub(crate) unsafe extern "C-unwind" fn redis_pcall(state: *mut ffi::lua_State) -> c_int {
    generic(state, false)
}

/// What [`run_command`] did.
enum Outcome {
    /// Not for the fast path: go the slow way.
    Slow,
    /// Refused before the host saw it, with this error.
    Refused(&'static [u8]),
    /// The host answered; its reply is in [`FAST_REPLY`].
    Ran { ptr: *const u8, len: usize },
}

unsafe fn generic(state: *mut ffi::lua_State, raise: bool) -> c_int {
    let outcome = run_command(state);
    let is_error = match outcome {
        Outcome::Slow => return crate::sandbox::trampoline(state),
        Outcome::Refused(msg) => {
            ffi::lua_settop(state, 0);
            push_field_table(state, c"err", msg);
            true
        }
        Outcome::Ran { ptr, len } => {
            ffi::lua_settop(state, 0);
            // SAFETY: the buffer is not touched until FAST_BUSY is cleared below (a nested
            // call goes the slow way), and `run_command` left it alive in its thread-local.
            let bytes = std::slice::from_raw_parts(ptr, len);
            let mut pos = 0;
            push_value(state, bytes, &mut pos, 0);
            bytes.first() == Some(&b'-')
        }
    };
    FAST_BUSY.with(|b| b.set(false));
    if is_error && raise {
        // The `{err=…}` table itself is the error (the handler and pcall take tables).
        ffi::lua_error(state);
    }
    1
}

/// Read the arguments and run the command through the current host. Never raises a Lua
/// error; owns nothing once it returns (see the module's doc).
#[inline(never)]
unsafe fn run_command(state: *mut ffi::lua_State) -> Outcome {
    if FAST_BUSY.with(Cell::get) || crate::ldb::active() || !crate::current::running() {
        return Outcome::Slow;
    }
    let mut args = CALL_ARGS.take();
    read_args(state, &mut args);
    let outcome = if !args.valid {
        Outcome::Refused(BAD_ARGS)
    } else if args.ranges.is_empty() {
        Outcome::Refused(NO_ARGS)
    } else {
        let crate::current::RunState { resp, repl, .. } = crate::current::state();
        FAST_BUSY.with(|b| b.set(true));
        FAST_REPLY.with(|cell| {
            // SAFETY: FAST_BUSY was clear, so no other reference to the buffer exists.
            let reply = &mut *cell.get();
            let argv = resp::Argv::from_parts(&args.src, &args.ranges);
            match crate::current::with(|host| host.call(argv, resp, repl, reply)) {
                Some(_) => Outcome::Ran {
                    ptr: reply.as_bytes().as_ptr(),
                    len: reply.len(),
                },
                None => {
                    FAST_BUSY.with(|b| b.set(false));
                    Outcome::Slow
                }
            }
        })
    };
    CALL_ARGS.set(args);
    outcome
}

/// Push `{[name] = text}`.
unsafe fn push_field_table(state: *mut ffi::lua_State, name: &std::ffi::CStr, text: &[u8]) {
    ffi::lua_createtable(state, 0, 1);
    ffi::lua_pushlstring(state, text.as_ptr().cast(), text.len());
    ffi::lua_setfield(state, -2, name.as_ptr());
}

/// The line at `pos` (without its CRLF); `pos` moves past it.
fn line<'a>(bytes: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = (*pos).min(bytes.len());
    let end = memchr::memchr(b'\r', &bytes[start..]).map_or(bytes.len(), |i| start + i);
    *pos = (end + 2).min(bytes.len());
    &bytes[start..end]
}

fn number(text: &[u8]) -> i64 {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Push the RESP value at `pos` as `redis.call` returns it (see `crate::convert`): numbers
/// for integers, `false` for nulls, `{ok=…}`, `{err=…}`, tables for arrays, and under RESP3
/// `{map=…}`, `{set=…}`, `{double=…}`, `{big_number=…}`, `{verbatim_string=…}`, booleans and
/// `nil`. Malformed input (which the server never produces) ends as `nil`.
unsafe fn push_value(state: *mut ffi::lua_State, bytes: &[u8], pos: &mut usize, depth: usize) {
    let Some(&kind) = bytes.get(*pos) else {
        return ffi::lua_pushnil(state);
    };
    if depth > MAX_REPLY_DEPTH || ffi::lua_checkstack(state, 4) == 0 {
        *pos = bytes.len();
        return ffi::lua_pushnil(state);
    }
    *pos += 1;
    let head = line(bytes, pos);
    match kind {
        b':' => ffi::lua_pushnumber(state, number(head) as f64),
        b'+' => push_field_table(state, c"ok", head),
        b'-' => push_field_table(state, c"err", head),
        b'$' | b'=' => {
            let n = number(head);
            if n < 0 {
                return ffi::lua_pushboolean(state, 0);
            }
            let start = (*pos).min(bytes.len());
            let end = start.saturating_add(n as usize).min(bytes.len());
            let data = &bytes[start..end];
            *pos = (end + 2).min(bytes.len());
            if kind == b'=' && data.len() >= 4 {
                ffi::lua_createtable(state, 0, 1);
                ffi::lua_createtable(state, 0, 2);
                ffi::lua_pushlstring(state, data.as_ptr().cast(), 3);
                ffi::lua_setfield(state, -2, c"format".as_ptr());
                ffi::lua_pushlstring(state, data[4..].as_ptr().cast(), data.len() - 4);
                ffi::lua_setfield(state, -2, c"string".as_ptr());
                ffi::lua_setfield(state, -2, c"verbatim_string".as_ptr());
            } else {
                ffi::lua_pushlstring(state, data.as_ptr().cast(), data.len());
            }
        }
        b'*' | b'~' | b'%' | b'>' => push_aggregate(state, bytes, pos, depth, kind, number(head)),
        b'#' => ffi::lua_pushboolean(state, c_int::from(head == b"t")),
        b',' => {
            ffi::lua_createtable(state, 0, 1);
            ffi::lua_pushnumber(state, crate::convert::resp_double(head));
            ffi::lua_setfield(state, -2, c"double".as_ptr());
        }
        b'(' => push_field_table(state, c"big_number", head),
        b'|' => {
            // Attributes carry nothing for the script: skip them, push what follows.
            for _ in 0..number(head).max(0).saturating_mul(2) {
                push_value(state, bytes, pos, depth + 1);
                ffi::lua_settop(state, -2);
            }
            push_value(state, bytes, pos, depth + 1);
        }
        // `_` (RESP3 null) and anything unknown.
        _ => ffi::lua_pushnil(state),
    }
}

/// An array, set, map or push of `n` elements (`n < 0`: a null array, `false`).
unsafe fn push_aggregate(
    state: *mut ffi::lua_State,
    bytes: &[u8],
    pos: &mut usize,
    depth: usize,
    kind: u8,
    n: i64,
) {
    if n < 0 {
        return ffi::lua_pushboolean(state, 0);
    }
    let wrapper = match kind {
        b'%' => Some(c"map"),
        b'~' => Some(c"set"),
        _ => None,
    };
    if wrapper.is_some() {
        ffi::lua_createtable(state, 0, 1);
    }
    // Sized by the count only when the input can hold that many elements.
    let hint = c_int::try_from(n.min((bytes.len() - *pos) as i64)).unwrap_or(0);
    if kind == b'*' || kind == b'>' {
        ffi::lua_createtable(state, hint, 0);
    } else {
        ffi::lua_createtable(state, 0, hint);
    }
    for i in 0..n {
        // A count larger than what follows ends with the input.
        if *pos >= bytes.len() {
            break;
        }
        match kind {
            b'%' | b'~' => {
                push_value(state, bytes, pos, depth + 1);
                if kind == b'%' {
                    push_value(state, bytes, pos, depth + 1);
                } else {
                    ffi::lua_pushboolean(state, 1);
                }
                // A nil key (or a NaN one, which no reply holds) is left out.
                if ffi::lua_type(state, -2) == ffi::LUA_TNIL {
                    ffi::lua_settop(state, -3);
                } else {
                    ffi::lua_rawset(state, -3);
                }
            }
            _ => {
                push_value(state, bytes, pos, depth + 1);
                ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
            }
        }
    }
    if let Some(name) = wrapper {
        ffi::lua_setfield(state, -2, name.as_ptr());
    }
}
