//! lua-cjson's settings functions (`cjson.encode_max_depth`, `cjson.encode_sparse_array` …):
//! one set for the whole server, as Redis has one Lua state, each call setting a value (when
//! given) and answering the current one; SCRIPT FLUSH brings back the defaults, as Redis's
//! fresh Lua state does.

use std::sync::Mutex;

use mlua::{Lua, MultiValue, Table, Value};

use crate::sandbox::error_at_caller;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Encode an excessively sparse array as an object instead of failing.
    pub sparse_convert: bool,
    pub sparse_ratio: i64,
    pub sparse_safe: i64,
    pub encode_max_depth: i64,
    pub decode_max_depth: i64,
    /// Significant digits of encoded numbers.
    pub precision: i64,
    pub keep_buffer: bool,
    /// NaN and infinities: 0 refused, 1 written (`nan`, `inf`), 2 written as `null`.
    pub encode_invalid: i64,
    /// Decode `+1`, hex, `inf`, `nan` and leading zeros (Redis's build has this on).
    pub decode_invalid: bool,
}

const DEFAULTS: Settings = Settings {
    sparse_convert: false,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    precision: 14,
    keep_buffer: true,
    encode_invalid: 0,
    decode_invalid: true,
};

static SETTINGS: Mutex<Settings> = Mutex::new(DEFAULTS);

pub fn get() -> Settings {
    *SETTINGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn update(f: impl FnOnce(&mut Settings)) {
    let mut s = SETTINGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut s);
}

/// Back to lua-cjson's defaults (SCRIPT FLUSH).
pub fn reset() {
    update(|s| *s = DEFAULTS);
}

struct Call<'a> {
    lua: &'a Lua,
    name: &'static str,
    args: MultiValue,
}

impl Call<'_> {
    fn err(&self, idx: usize, msg: &str) -> mlua::Error {
        error_at_caller(
            self.lua,
            format!("bad argument #{idx} to '{}' ({msg})", self.name),
        )
    }

    /// At most `n` arguments.
    fn at_most(&self, n: usize) -> mlua::Result<()> {
        if self.args.len() > n {
            return Err(self.err(n + 1, "found too many arguments"));
        }
        Ok(())
    }

    fn arg(&self, idx: usize) -> Value {
        self.args.get(idx - 1).cloned().unwrap_or(Value::Nil)
    }

    /// An integer setting: checked against its bounds when given (the message names argument
    /// 1 whichever it is, as lua-cjson's does).
    fn integer(&self, idx: usize, min: i64, max: i64) -> mlua::Result<Option<i64>> {
        let v = self.arg(idx);
        if v == Value::Nil {
            return Ok(None);
        }
        let tn = v.type_name();
        let n = self
            .lua
            .coerce_number(v)?
            .ok_or_else(|| self.err(idx, &format!("number expected, got {tn}")))?
            as i64;
        if n < min || n > max {
            return Err(self.err(1, &format!("expected integer between {min} and {max}")));
        }
        Ok(Some(n))
    }

    /// An option among `names` (or a boolean, for the first two), its index.
    fn option(&self, idx: usize, names: &[&str]) -> mlua::Result<Option<i64>> {
        match self.arg(idx) {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(i64::from(b))),
            Value::String(s) => {
                let s = s.to_string_lossy();
                match names.iter().position(|n| *n == s) {
                    Some(i) => Ok(Some(i as i64)),
                    None => Err(self.err(idx, &format!("invalid option '{s}'"))),
                }
            }
            other => Err(self.err(idx, &format!("string expected, got {}", other.type_name()))),
        }
    }
}

/// How lua-cjson answers an option: a boolean for off/on, the name otherwise.
fn option_value(lua: &Lua, setting: i64, names: &[&str]) -> mlua::Result<Value> {
    if setting == 0 || setting == 1 {
        return Ok(Value::Boolean(setting == 1));
    }
    let name = names.get(setting as usize).copied().unwrap_or("off");
    Ok(Value::String(lua.create_string(name)?))
}

const ON_OFF: &[&str] = &["off", "on"];
const INT_MAX: i64 = i32::MAX as i64;

/// Add the settings functions to the `cjson` table.
pub fn add_functions(lua: &Lua, t: &Table) -> mlua::Result<()> {
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(|lua, args: MultiValue| {
            let c = Call {
                lua,
                name: "encode_sparse_array",
                args,
            };
            c.at_most(3)?;
            let convert = c.option(1, ON_OFF)?;
            let ratio = c.integer(2, 0, INT_MAX)?;
            let safe = c.integer(3, 0, INT_MAX)?;
            update(|s| {
                if let Some(v) = convert {
                    s.sparse_convert = v == 1;
                }
                s.sparse_ratio = ratio.unwrap_or(s.sparse_ratio);
                s.sparse_safe = safe.unwrap_or(s.sparse_safe);
            });
            let s = get();
            Ok((s.sparse_convert, s.sparse_ratio, s.sparse_safe))
        })?,
    )?;
    type Field = fn(&mut Settings) -> &mut i64;
    let integers: [(&'static str, i64, i64, Field); 3] = [
        ("encode_max_depth", 1, INT_MAX, |s| &mut s.encode_max_depth),
        ("decode_max_depth", 1, INT_MAX, |s| &mut s.decode_max_depth),
        ("encode_number_precision", 1, 14, |s| &mut s.precision),
    ];
    for (name, min, max, field) in integers {
        let f = lua.create_function(move |lua, args: MultiValue| {
            let c = Call { lua, name, args };
            c.at_most(1)?;
            let v = c.integer(1, min, max)?;
            let mut now = 0;
            update(|s| {
                if let Some(v) = v {
                    *field(s) = v;
                }
                now = *field(s);
            });
            Ok(now)
        })?;
        t.raw_set(name, f)?;
    }
    type Flag = fn(&mut Settings) -> &mut bool;
    let flags: [(&'static str, Flag); 2] = [
        ("encode_keep_buffer", |s| &mut s.keep_buffer),
        ("decode_invalid_numbers", |s| &mut s.decode_invalid),
    ];
    for (name, field) in flags {
        let f = lua.create_function(move |lua, args: MultiValue| {
            let c = Call { lua, name, args };
            c.at_most(1)?;
            let v = c.option(1, ON_OFF)?;
            let mut now = false;
            update(|s| {
                if let Some(v) = v {
                    *field(s) = v == 1;
                }
                now = *field(s);
            });
            Ok(now)
        })?;
        t.raw_set(name, f)?;
    }
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(|lua, args: MultiValue| {
            const NAMES: &[&str] = &["off", "on", "null"];
            let c = Call {
                lua,
                name: "encode_invalid_numbers",
                args,
            };
            c.at_most(1)?;
            let v = c.option(1, NAMES)?;
            let mut now = 0;
            update(|s| {
                if let Some(v) = v {
                    s.encode_invalid = v;
                }
                now = s.encode_invalid;
            });
            option_value(lua, now, NAMES)
        })?,
    )?;
    Ok(())
}
