//! The `cmsgpack` library Redis loads (lua-cmsgpack 0.4.0's behaviour): `pack` turns its
//! arguments into MessagePack (integers in their smallest form, floats as 32-bit when exact,
//! tables as arrays when their keys are exactly 1..n, nesting past 16 levels as nil), and
//! `unpack`, `unpack_one` and `unpack_limit` read it back.

use mlua::{Lua, MultiValue, Table, Value};

use crate::sandbox::error_at_caller;

/// Values one call may return (Lua's C stack holds 8,000; so does mlua for its handles).
const MAX_RESULTS: usize = 7000;

/// Tables nested deeper than this are packed as nil.
const MAX_NESTING: usize = 16;

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

fn put_len(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, tag16: u8, tag32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(tag16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(tag32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn pack_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn pack_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        match n {
            0..=127 => out.push(n as u8),
            128..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_number(out: &mut Vec<u8>, n: f64) {
    // An integer when it is one that fits 64 bits (the C test: not infinite, and the same
    // after a round trip through int64).
    // (x86's conversion: out of range gives i64::MIN, which then differs from `n`.)
    let i = crate::convert::c_long_long(n);
    if n.is_finite() && i as f64 == n {
        pack_int(out, i);
    } else if (n as f32) as f64 == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Whether every key is a positive integer (fitting a C int) and they are exactly 1..count.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0usize, 0f64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        match number_of(&k) {
            Some(n) if n > 0.0 && n <= f64::from(i32::MAX) && n.fract() == 0.0 => {
                max = max.max(n);
                count += 1;
            }
            _ => return Ok(false),
        }
    }
    Ok(max as usize == count)
}

fn pack_value(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => pack_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => pack_number(out, number_of(v).unwrap_or(0.0)),
        Value::Table(t) if level < MAX_NESTING => {
            if is_array(t)? {
                let len = t.raw_len();
                put_len(out, len, 0x90, 15, 0xdc, 0xdd);
                for i in 1..=len {
                    pack_value(out, &t.get::<Value>(i)?, level + 1)?;
                }
            } else {
                // Counted, then walked again: holding every pair at once could take more Lua
                // handles than mlua has.
                let len = t.pairs::<Value, Value>().count();
                put_len(out, len, 0x80, 15, 0xde, 0xdf);
                for pair in t.pairs::<Value, Value>() {
                    let (k, val) = pair?;
                    pack_value(out, &k, level + 1)?;
                    pack_value(out, &val, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// Why unpacking stopped.
enum Stop {
    /// Not enough bytes.
    Eof,
    /// A byte that starts no value.
    BadFormat,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Stop {
        Stop::Lua(e)
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.pos.checked_add(n).ok_or(Stop::Eof)?;
        let bytes = self.data.get(self.pos..end).ok_or(Stop::Eof)?;
        self.pos = end;
        Ok(bytes)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }
}

fn unpack_value(lua: &Lua, c: &mut Cursor<'_>) -> Result<Value, Stop> {
    let tag = c.take(1)?[0];
    let num = |n: f64| Value::Number(n);
    Ok(match tag {
        0xcc => num(c.be(1)? as f64),
        0xcd => num(c.be(2)? as f64),
        0xce => num(c.be(4)? as f64),
        0xcf => num(c.be(8)? as i64 as f64),
        0xd0 => num(f64::from(c.be(1)? as u8 as i8)),
        0xd1 => num(f64::from(c.be(2)? as u16 as i16)),
        0xd2 => num(f64::from(c.be(4)? as u32 as i32)),
        0xd3 => num(c.be(8)? as i64 as f64),
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xca => num(f64::from(f32::from_bits(c.be(4)? as u32))),
        0xcb => num(f64::from_bits(c.be(8)?)),
        0xd9..=0xdb => {
            let n = c.be(match tag {
                0xd9 => 1,
                0xda => 2,
                _ => 4,
            })? as usize;
            Value::String(lua.create_string(c.take(n)?)?)
        }
        0xdc | 0xdd => {
            let n = c.be(if tag == 0xdc { 2 } else { 4 })? as usize;
            array(lua, c, n)?
        }
        0xde | 0xdf => {
            let n = c.be(if tag == 0xde { 2 } else { 4 })? as usize;
            map(lua, c, n)?
        }
        t if t & 0x80 == 0 => num(f64::from(t)),
        t if t & 0xe0 == 0xe0 => num(f64::from(t as i8)),
        t if t & 0xe0 == 0xa0 => {
            let n = usize::from(t & 0x1f);
            Value::String(lua.create_string(c.take(n)?)?)
        }
        t if t & 0xf0 == 0x90 => array(lua, c, usize::from(t & 0xf))?,
        t if t & 0xf0 == 0x80 => map(lua, c, usize::from(t & 0xf))?,
        _ => return Err(Stop::BadFormat),
    })
}

fn array(lua: &Lua, c: &mut Cursor<'_>, n: usize) -> Result<Value, Stop> {
    let t = lua.create_table()?;
    for i in 1..=n {
        let v = unpack_value(lua, c)?;
        t.raw_set(i, v)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, c: &mut Cursor<'_>, n: usize) -> Result<Value, Stop> {
    let t = lua.create_table()?;
    for _ in 0..n {
        let k = unpack_value(lua, c)?;
        let v = unpack_value(lua, c)?;
        if k == Value::Nil {
            return Err(Stop::Lua(error_at_caller(lua, "table index is nil".into())));
        }
        t.raw_set(k, v)?;
    }
    Ok(Value::Table(t))
}

fn bytes_arg(lua: &Lua, name: &str, v: Option<&Value>) -> mlua::Result<Vec<u8>> {
    match v {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(i)) => Ok(i.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(crate::number::format_g14(*n).into_bytes()),
        other => Err(error_at_caller(
            lua,
            format!(
                "bad argument #1 to '{name}' (string expected, got {})",
                other.map_or("no value", Value::type_name)
            ),
        )),
    }
}

fn int_arg(
    lua: &Lua,
    name: &str,
    idx: usize,
    v: Option<&Value>,
    default: Option<i64>,
) -> mlua::Result<i64> {
    match (v, default) {
        (None | Some(Value::Nil), Some(d)) => Ok(d),
        (Some(v), _) => match lua.coerce_number(v.clone())? {
            Some(n) => Ok(n as i64),
            None => Err(error_at_caller(
                lua,
                format!(
                    "bad argument #{idx} to '{name}' (number expected, got {})",
                    v.type_name()
                ),
            )),
        },
        (None, None) => Err(error_at_caller(
            lua,
            format!("bad argument #{idx} to '{name}' (number expected, got no value)"),
        )),
    }
}

/// Unpack `limit` values (0 and offset 0: all) from `offset`; with a limit or offset, the
/// next offset (-1 at the end) comes first.
fn unpack_full(lua: &Lua, data: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(error_at_caller(
            lua,
            format!(
                "Invalid request to unpack with offset of {} and limit of {}.",
                offset as i32,
                data.len() as i32
            ),
        ));
    }
    if offset as usize > data.len() {
        return Err(error_at_caller(
            lua,
            format!(
                "Start offset {} greater than input length {}.",
                offset as i32,
                data.len() as i32
            ),
        ));
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut c = Cursor {
        data,
        pos: offset as usize,
    };
    let mut values = Vec::new();
    while c.pos < data.len() && (values.len() as i64) < limit {
        // Each value returned is a Lua stack slot (and an mlua handle while it is here).
        if values.len() >= MAX_RESULTS {
            return Err(error_at_caller(
                lua,
                "too many return values at once; use unpack_one or unpack_limit instead.".into(),
            ));
        }
        match unpack_value(lua, &mut c) {
            Ok(v) => values.push(v),
            Err(Stop::Eof) => return Err(error_at_caller(lua, "Missing bytes in input.".into())),
            Err(Stop::BadFormat) => {
                return Err(error_at_caller(lua, "Bad data format in input.".into()))
            }
            Err(Stop::Lua(e)) => return Err(e),
        }
    }
    if !decode_all {
        let next = if c.pos == data.len() {
            -1
        } else {
            c.pos as i64
        };
        values.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_iter(values))
}

/// The `cmsgpack` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(error_at_caller(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)".into(),
                ));
            }
            let mut out = Vec::new();
            for v in &args {
                pack_value(&mut out, v, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| {
            let data = bytes_arg(lua, "unpack", args.front())?;
            unpack_full(lua, &data, 0, 0)
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, args: MultiValue| {
            let offset = int_arg(lua, "unpack_one", 2, args.get(1), Some(0))?;
            let data = bytes_arg(lua, "unpack_one", args.front())?;
            unpack_full(lua, &data, 1, offset)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, args: MultiValue| {
            let limit = int_arg(lua, "unpack_limit", 2, args.get(1), None)?;
            let offset = int_arg(lua, "unpack_limit", 3, args.get(2), Some(0))?;
            let data = bytes_arg(lua, "unpack_limit", args.front())?;
            unpack_full(lua, &data, limit, offset)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}
