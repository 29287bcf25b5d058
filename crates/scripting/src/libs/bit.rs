//! The `bit` library Redis loads (LuaBitOp's interface): 32-bit operations on Lua numbers.
//! Numbers are taken modulo 2^32 after rounding to the nearest integer (the library's
//! `2^52 + 2^51` trick), results are signed 32-bit.

use mlua::{Lua, MultiValue, Table, Value};

/// A Lua number's 32 bits, as the library reads its argument `idx` (1-based) of `name`.
fn arg(lua: &Lua, name: &str, idx: usize, v: Option<&Value>) -> mlua::Result<u32> {
    let n = match v {
        Some(v) => lua.coerce_number(v.clone())?,
        None => None,
    };
    match n {
        Some(n) => Ok((n + 6_755_399_441_055_744.0).to_bits() as u32),
        None => Err(crate::sandbox::error_at_caller(
            lua,
            format!(
                "bad argument #{idx} to '{name}' (number expected, got {})",
                v.map_or("no value", Value::type_name)
            ),
        )),
    }
}

fn ret(b: u32) -> f64 {
    f64::from(b as i32)
}

fn unary(lua: &Lua, t: &Table, name: &'static str, f: fn(u32) -> u32) -> mlua::Result<()> {
    let func = lua.create_function(move |lua, args: MultiValue| {
        Ok(ret(f(arg(lua, name, 1, args.front())?)))
    })?;
    t.raw_set(name, func)
}

fn fold(lua: &Lua, t: &Table, name: &'static str, f: fn(u32, u32) -> u32) -> mlua::Result<()> {
    let func = lua.create_function(move |lua, args: MultiValue| {
        let mut b = arg(lua, name, 1, args.front())?;
        // LuaBitOp folds from the last argument down.
        for i in (1..args.len()).rev() {
            b = f(b, arg(lua, name, i + 1, args.get(i))?);
        }
        Ok(ret(b))
    })?;
    t.raw_set(name, func)
}

fn shift(lua: &Lua, t: &Table, name: &'static str, f: fn(u32, u32) -> u32) -> mlua::Result<()> {
    let func = lua.create_function(move |lua, args: MultiValue| {
        let b = arg(lua, name, 1, args.front())?;
        let n = arg(lua, name, 2, args.get(1))? & 31;
        Ok(ret(f(b, n)))
    })?;
    t.raw_set(name, func)
}

/// The `bit` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    unary(lua, &t, "tobit", |b| b)?;
    unary(lua, &t, "bnot", |b| !b)?;
    unary(lua, &t, "bswap", u32::swap_bytes)?;
    fold(lua, &t, "band", |a, b| a & b)?;
    fold(lua, &t, "bor", |a, b| a | b)?;
    fold(lua, &t, "bxor", |a, b| a ^ b)?;
    shift(lua, &t, "lshift", |b, n| b << n)?;
    shift(lua, &t, "rshift", |b, n| b >> n)?;
    shift(lua, &t, "arshift", |b, n| ((b as i32) >> n) as u32)?;
    shift(lua, &t, "rol", u32::rotate_left)?;
    shift(lua, &t, "ror", u32::rotate_right)?;
    let tohex = lua.create_function(|lua, args: MultiValue| {
        let mut b = arg(lua, "tohex", 1, args.front())?;
        let mut n: i32 = match args.get(1) {
            None => 8,
            Some(_) => arg(lua, "tohex", 2, args.get(1))? as i32,
        };
        let digits: &[u8; 16] = if n < 0 {
            n = n.saturating_neg();
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let n = n.min(8) as usize;
        let mut buf = [0u8; 8];
        for i in (0..n).rev() {
            buf[i] = digits[(b & 15) as usize];
            b >>= 4;
        }
        lua.create_string(&buf[..n])
    })?;
    t.raw_set("tohex", tohex)?;
    Ok(t)
}
