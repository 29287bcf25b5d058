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
/// Iterative (an explicit work list), so a deep or cyclic table never overflows the Rust
/// stack; the depth accounting follows the Lua stack slots Redis's recursive version uses.
pub fn lua_to_reply(value: Value, out: &mut Reply, script_resp: u8) {
    let mut work: Vec<(Value, usize)> = vec![(value, 1)];
    while let Some((v, slots)) = work.pop() {
        if slots + SLOTS_PER_STEP > MAX_STACK_SLOTS {
            out.error(b"ERR reached lua stack limit");
            continue;
        }
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
            Value::Table(t) => table_to_reply(t, out, slots, &mut work),
            _ => out.null(),
        }
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

fn table_to_reply(t: Table, out: &mut Reply, slots: usize, work: &mut Vec<(Value, usize)>) {
    if let Value::String(e) = field(&t, "err") {
        // `{err="CODE message"}`: the message as given (Redis adds no ERR code here).
        out.error(&e.as_bytes());
        return;
    }
    if let Value::String(ok) = field(&t, "ok") {
        out.raw(b"+");
        out.raw(&one_line(&ok.as_bytes()));
        out.raw(b"\r\n");
        return;
    }
    match field(&t, "double") {
        Value::Number(d) => return out.double(d),
        Value::Integer(i) => return out.double(i as f64),
        _ => {}
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
        return;
    }
    if let Value::Table(v) = field(&t, "verbatim_string") {
        if let (Value::String(format), Value::String(text)) =
            (field(&v, "format"), field(&v, "string"))
        {
            verbatim(out, &format.as_bytes(), &text.as_bytes());
            return;
        }
    }
    if let Value::Table(m) = field(&t, "map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        // Stack slots as Redis's iteration holds them: the map table, then key and value,
        // then a copy of the key while it is converted.
        for (k, v) in pairs.into_iter().rev() {
            work.push((v, slots + 3));
            work.push((k, slots + 4));
        }
        return;
    }
    if let Value::Table(s) = field(&t, "set") {
        let members: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        out.set(members.len());
        for k in members.into_iter().rev() {
            work.push((k, slots + 3));
        }
        return;
    }
    let mut items = Vec::new();
    for j in 1.. {
        match t.raw_get::<Value>(j) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in items.into_iter().rev() {
        work.push((v, slots + 1));
    }
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
        b',' => {
            let d = std::str::from_utf8(head)
                .ok()
                .and_then(|s| match s {
                    "inf" => Some(f64::INFINITY),
                    "-inf" => Some(f64::NEG_INFINITY),
                    s => s.parse().ok(),
                })
                .unwrap_or(0.0);
            table_with(lua, "double", Value::Number(d))?
        }
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
