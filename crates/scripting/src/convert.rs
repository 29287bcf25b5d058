//! Conversions between RESP replies and Lua values, as Redis 7.0's `script_lua.c` makes them.
//!
//! A command's reply becomes a Lua value for `redis.call` (integers are numbers, a null bulk or
//! null array is `false`, a status is `{ok=…}`, an error `{err=…}`; under `redis.setresp(3)`
//! maps, sets, doubles, booleans, big numbers and verbatim strings have their own forms). The
//! script's result becomes the caller's reply (numbers truncated to integers, `true` is 1,
//! `false` and `nil` are null, a table is an array up to its first nil unless it is one of
//! the special one-field tables).

use mlua::{Lua, Table, Value};
use resp::Reply;

/// Lua's C stack limit (`LUAI_MAXCSTACK`): converting a result deeper than it allows gives
/// Redis's "reached lua stack limit" error in place of the rest.
const MAX_STACK_SLOTS: usize = 8000;
/// Slots Redis's conversion asks for at each step (`lua_checkstack(lua, 4)`), plus the error
/// handler below the result.
const SLOTS_PER_STEP: usize = 4 + 1;

/// Write the script's result `value` to `out`. `script_resp` is the protocol the script chose
/// with `redis.setresp` (it decides how booleans are sent).
///
/// Iterative, so a deep or cyclic table never overflows the Rust stack; the depth accounting
/// follows the Lua stack slots Redis's recursive version uses. The tables being walked are
/// kept in a Lua table, not in Rust handles: mlua can hold fewer than 8,000 handles at once,
/// and a result may nest that deep or hold far more tables side by side.
pub fn lua_to_reply(lua: &Lua, value: Value, out: &mut Reply, script_resp: u8) -> mlua::Result<()> {
    if !matches!(value, Value::Table(_)) {
        // A scalar needs no table to walk (nor the garbage of one).
        write_scalar(value, out, script_resp);
        return Ok(());
    }
    let held = lua.create_table()?;
    let mut frames: Vec<Frame> = Vec::new();
    let mut next = Some((value, 1usize));
    loop {
        if let Some((v, slots)) = next.take() {
            write_value(lua, &held, &mut frames, v, slots, out, script_resp)?;
        }
        let Some(frame) = frames.last_mut() else {
            return Ok(());
        };
        match frame {
            Frame::Array {
                at,
                index,
                len,
                slots,
            } => {
                if *index > *len {
                    held.raw_set(*at, Value::Nil)?;
                    frames.pop();
                    continue;
                }
                let t: Table = held.raw_get(*at)?;
                next = Some((t.raw_get::<Value>(*index)?, *slots + 1));
                *index += 1;
            }
            Frame::Keys {
                at,
                index,
                len,
                slots,
                map,
                key_done,
            } => {
                if *index > *len {
                    held.raw_set(*at, Value::Nil)?;
                    held.raw_set(*at + 1, Value::Nil)?;
                    frames.pop();
                    continue;
                }
                let keys: Table = held.raw_get(*at + 1)?;
                let key: Value = keys.raw_get(*index)?;
                if !*map {
                    // Stack slots as Redis's iteration holds them: the set's table, its key
                    // and a copy of the key while it is converted.
                    next = Some((key, *slots + 3));
                    *index += 1;
                } else if !*key_done {
                    next = Some((key, *slots + 4));
                    *key_done = true;
                } else {
                    let t: Table = held.raw_get(*at)?;
                    next = Some((t.raw_get::<Value>(key)?, *slots + 3));
                    *key_done = false;
                    *index += 1;
                }
            }
        }
    }
}

/// A table being written: its handle is at `held[at]` (and for a map or set, its keys at
/// `held[at + 1]`).
enum Frame {
    Array {
        at: usize,
        index: usize,
        len: usize,
        slots: usize,
    },
    Keys {
        at: usize,
        index: usize,
        len: usize,
        slots: usize,
        map: bool,
        key_done: bool,
    },
}

fn write_value(
    lua: &Lua,
    held: &Table,
    frames: &mut Vec<Frame>,
    v: Value,
    slots: usize,
    out: &mut Reply,
    script_resp: u8,
) -> mlua::Result<()> {
    if slots + SLOTS_PER_STEP > MAX_STACK_SLOTS {
        out.error(b"ERR reached lua stack limit");
        return Ok(());
    }
    match v {
        Value::Table(t) => table_to_reply(lua, held, frames, t, slots, out)?,
        other => write_scalar(other, out, script_resp),
    }
    Ok(())
}

/// A value that is not a table.
fn write_scalar(v: Value, out: &mut Reply, script_resp: u8) {
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp == 2 {
                if b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(b);
            }
        }
        Value::Integer(i) => out.int(i),
        Value::Number(n) => out.int(c_long_long(n)),
        _ => out.null(),
    }
}

/// `(long long)` of a double as x86-64 converts it: truncation, and the "indefinite integer"
/// (`LLONG_MIN`) for NaN and values out of range.
pub fn c_long_long(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get::<Value>(name).unwrap_or(Value::Nil)
}

/// Bytes with CR and LF turned into spaces (status and big-number replies are one line).
fn one_line(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

/// The keys of `t`, in iteration order, as a Lua array.
fn keys_of(lua: &Lua, t: &Table) -> mlua::Result<(Table, usize)> {
    let keys = lua.create_table()?;
    let mut n = 0;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        n += 1;
        keys.raw_set(n, k)?;
    }
    Ok((keys, n))
}

fn table_to_reply(
    lua: &Lua,
    held: &Table,
    frames: &mut Vec<Frame>,
    t: Table,
    slots: usize,
    out: &mut Reply,
) -> mlua::Result<()> {
    if let Value::String(e) = field(&t, "err") {
        // `{err="CODE message"}`: the message as given (Redis adds no ERR code here).
        out.error(&e.as_bytes());
        return Ok(());
    }
    if let Value::String(ok) = field(&t, "ok") {
        out.raw(b"+");
        out.raw(&one_line(&ok.as_bytes()));
        out.raw(b"\r\n");
        return Ok(());
    }
    let double = match field(&t, "double") {
        Value::Number(d) => Some(d),
        Value::Integer(i) => Some(i as f64),
        _ => None,
    };
    if let Some(d) = double {
        out.double(d);
        return Ok(());
    }
    if let Value::String(n) = field(&t, "big_number") {
        let digits = one_line(&n.as_bytes());
        if out.is_resp3() {
            out.raw(b"(");
            out.raw(&digits);
            out.raw(b"\r\n");
        } else {
            out.bulk(&digits);
        }
        return Ok(());
    }
    if let Value::Table(v) = field(&t, "verbatim_string") {
        if let (Value::String(format), Value::String(text)) =
            (field(&v, "format"), field(&v, "string"))
        {
            verbatim(out, &format.as_bytes(), &text.as_bytes());
            return Ok(());
        }
    }
    let at = frames.len() * 2 + 1;
    for (name, map) in [("map", true), ("set", false)] {
        if let Value::Table(inner) = field(&t, name) {
            let (keys, len) = keys_of(lua, &inner)?;
            if map {
                out.map(len);
            } else {
                out.set(len);
            }
            held.raw_set(at, inner)?;
            held.raw_set(at + 1, keys)?;
            frames.push(Frame::Keys {
                at,
                index: 1,
                len,
                slots,
                map,
                key_done: false,
            });
            return Ok(());
        }
    }
    let mut len = 0;
    while t.raw_get::<Value>(len + 1)? != Value::Nil {
        len += 1;
    }
    out.array(len);
    held.raw_set(at, t)?;
    frames.push(Frame::Array {
        at,
        index: 1,
        len,
        slots,
    });
    Ok(())
}

/// A verbatim string: RESP3 `=` with its three-letter format; a bulk string in RESP2.
fn verbatim(out: &mut Reply, format: &[u8], text: &[u8]) {
    if !out.is_resp3() {
        out.bulk(text);
        return;
    }
    let mut ext = [b' '; 3];
    for (d, s) in ext.iter_mut().zip(format) {
        *d = *s;
    }
    out.raw(format!("={}\r\n", text.len() + 4).as_bytes());
    out.raw(&ext);
    out.raw(b":");
    out.raw(text);
    out.raw(b"\r\n");
}

/// A command's RESP reply as the Lua value `redis.call` returns. An error reply is the table
/// `{err=…}` (the caller decides whether to raise it). Malformed input (which the server never
/// produces) ends as `nil`.
pub fn reply_to_lua(lua: &Lua, bytes: &[u8]) -> mlua::Result<Value> {
    let mut pos = 0;
    parse_value(lua, bytes, &mut pos, 0)
}

/// Nesting a reply may have (no command nests anywhere near it; it bounds the recursion).
const MAX_REPLY_DEPTH: usize = 1000;

fn line<'a>(bytes: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = *pos;
    let end = bytes[start..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(bytes.len(), |i| start + i);
    *pos = (end + 2).min(bytes.len());
    &bytes[start..end]
}

/// A RESP3 double's text as a number (`inf`, `-inf`; anything unreadable is 0).
pub(crate) fn resp_double(head: &[u8]) -> f64 {
    std::str::from_utf8(head)
        .ok()
        .and_then(|s| match s {
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        })
        .unwrap_or(0.0)
}

fn number(text: &[u8]) -> i64 {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn table_with(lua: &Lua, key: &str, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(key, value)?;
    Ok(Value::Table(t))
}

fn parse_value(lua: &Lua, bytes: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    let Some(&kind) = bytes.get(*pos) else {
        return Ok(Value::Nil);
    };
    if depth > MAX_REPLY_DEPTH {
        *pos = bytes.len();
        return Ok(Value::Nil);
    }
    *pos += 1;
    let head = line(bytes, pos);
    Ok(match kind {
        b':' => Value::Number(number(head) as f64),
        b'+' => table_with(lua, "ok", Value::String(lua.create_string(head)?))?,
        b'-' => table_with(lua, "err", Value::String(lua.create_string(head)?))?,
        b'$' | b'=' => {
            let n = number(head);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let end = (*pos + n as usize).min(bytes.len());
            let data = &bytes[*pos..end];
            *pos = (end + 2).min(bytes.len());
            if kind == b'=' && data.len() >= 4 {
                let v = lua.create_table()?;
                v.raw_set("format", lua.create_string(&data[..3])?)?;
                v.raw_set("string", lua.create_string(&data[4..])?)?;
                table_with(lua, "verbatim_string", Value::Table(v))?
            } else {
                Value::String(lua.create_string(data)?)
            }
        }
        b'*' | b'~' | b'%' | b'>' => {
            let n = number(head);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table()?;
            for i in 0..n {
                // A count larger than what follows ends with the input.
                if *pos >= bytes.len() {
                    break;
                }
                match kind {
                    b'%' => {
                        let k = parse_value(lua, bytes, pos, depth + 1)?;
                        let v = parse_value(lua, bytes, pos, depth + 1)?;
                        if k != Value::Nil {
                            t.raw_set(k, v)?;
                        }
                    }
                    b'~' => {
                        let k = parse_value(lua, bytes, pos, depth + 1)?;
                        if k != Value::Nil {
                            t.raw_set(k, true)?;
                        }
                    }
                    _ => {
                        let v = parse_value(lua, bytes, pos, depth + 1)?;
                        t.raw_set(i + 1, v)?;
                    }
                }
            }
            match kind {
                b'%' => table_with(lua, "map", Value::Table(t))?,
                b'~' => table_with(lua, "set", Value::Table(t))?,
                _ => Value::Table(t),
            }
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => table_with(lua, "double", Value::Number(resp_double(head)))?,
        b'(' => table_with(lua, "big_number", Value::String(lua.create_string(head)?))?,
        b'|' => {
            // Attributes carry nothing for the script: skip them, return what follows.
            for _ in 0..number(head).max(0) * 2 {
                parse_value(lua, bytes, pos, depth + 1)?;
            }
            parse_value(lua, bytes, pos, depth + 1)?
        }
        _ => Value::Nil,
    })
}
