//! The `struct` library Redis loads (Roberto Ierusalimschy's `struct`): `pack`, `unpack`
//! and `size` over a format string — `<` `>` `!n` for byte order and alignment, `b B h H l L
//! T i[n] I[n]` integers, `f d` floats, `c[n]` and `s` strings, `x` padding — with the sizes
//! of the x86-64 C types Redis is built with.

use mlua::{Lua, MultiValue, Table, Value};

use crate::sandbox::error_at_caller;

/// Largest `i`/`I` size.
const MAX_INT_SIZE: usize = 32;
/// Largest alignment `!` asks for by default (a double's, in a struct).
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            little: true,
            align: 1,
        }
    }
}

struct Fmt<'a> {
    lua: &'a Lua,
    name: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl Fmt<'_> {
    fn err(&self, msg: String) -> mlua::Error {
        error_at_caller(self.lua, msg)
    }

    fn arg_err(&self, idx: usize, msg: &str) -> mlua::Error {
        self.err(format!("bad argument #{idx} to '{}' ({msg})", self.name))
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.bytes.get(self.pos).copied()?;
        self.pos += 1;
        Some(c)
    }

    /// A number following an option, or `default`.
    fn num(&mut self, default: usize) -> mlua::Result<usize> {
        if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(&d) = self.bytes.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let digit = usize::from(d - b'0');
            if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - digit {
                return Err(self.err("integral size overflow".into()));
            }
            a = a * 10 + digit;
            self.pos += 1;
        }
        Ok(a)
    }

    fn size(&mut self, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(self.err(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                sz
            }
            _ => 0,
        })
    }

    fn control(&mut self, opt: u8, h: &mut Header) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if a == 0 || a & (a - 1) != 0 {
                    return Err(self.err(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            other => {
                return Err(self.arg_err(1, &format!("invalid format option '{}'", other as char)))
            }
        }
        Ok(())
    }
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn number(lua: &Lua, f: &Fmt<'_>, args: &MultiValue, idx: usize) -> mlua::Result<f64> {
    let v = args.get(idx - 1).cloned().unwrap_or(Value::Nil);
    let tn = v.type_name();
    lua.coerce_number(v)?.ok_or_else(|| {
        // `pack` pushes a marker above its arguments, so a missing one reads as nil there.
        let got = if idx > args.len() && f.name != "pack" {
            "no value"
        } else {
            tn
        };
        f.arg_err(idx, &format!("number expected, got {got}"))
    })
}

fn string(lua: &Lua, f: &Fmt<'_>, args: &MultiValue, idx: usize) -> mlua::Result<Vec<u8>> {
    match args.get(idx - 1) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            let n = lua.coerce_number(v.clone())?.unwrap_or(0.0);
            Ok(crate::number::format_g14(n).into_bytes())
        }
        other => Err(f.arg_err(
            idx,
            &format!(
                "string expected, got {}",
                other.map_or("no value", Value::type_name)
            ),
        )),
    }
}

fn fmt_arg<'a>(lua: &'a Lua, name: &'static str, text: &'a [u8]) -> Fmt<'a> {
    Fmt {
        lua,
        name,
        bytes: text,
        pos: 0,
    }
}

fn first_string(lua: &Lua, name: &'static str, args: &MultiValue) -> mlua::Result<Vec<u8>> {
    let probe = Fmt {
        lua,
        name,
        bytes: b"",
        pos: 0,
    };
    string(lua, &probe, args, 1)
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let text = first_string(lua, "pack", &args)?;
    let mut f = fmt_arg(lua, "pack", &text);
    let mut h = Header::default();
    let mut out = Vec::new();
    let mut arg = 2;
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.extend(std::iter::repeat_n(0u8, pad));
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number(lua, &f, &args, arg)?;
                arg += 1;
                // C's conversions: negative through a signed long, else unsigned.
                let mut value: u64 = if n < 0.0 {
                    crate::convert::c_long_long(n) as u64
                } else if n < 18_446_744_073_709_551_616.0 {
                    n as u64
                } else {
                    0
                };
                let mut buf = vec![0u8; size];
                for i in 0..size {
                    let at = if h.little { i } else { size - 1 - i };
                    buf[at] = (value & 0xff) as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                out.extend_from_slice(&buf);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = number(lua, &f, &args, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                });
            }
            b'd' => {
                let v = number(lua, &f, &args, arg)?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = string(lua, &f, &args, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The original reports the argument after the string's.
                    return Err(f.arg_err(arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h)?,
        }
    }
    lua.create_string(&out)
}

fn get_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let size = bytes.len();
    let mut l: u64 = 0;
    for i in 0..size {
        let b = if little {
            bytes[size - 1 - i]
        } else {
            bytes[i]
        };
        l = (l << 8) | u64::from(b);
    }
    if !signed {
        return l as f64;
    }
    // x86 masks a shift count to 6 bits, as the C code's shift does there.
    let mask = u64::MAX << ((size * 8).wrapping_sub(1) & 63);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let text = first_string(lua, "unpack", &args)?;
    let mut f = fmt_arg(lua, "unpack", &text);
    let data = string(lua, &f, &args, 2)?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => number(lua, &f, &args, 3)?,
    };
    if start <= 0.0 {
        return Err(f.arg_err(3, "offset must be 1 or greater"));
    }
    let mut pos = start as usize - 1;
    let ld = data.len();
    let mut h = Header::default();
    let mut results: Vec<Value> = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if size > ld || pos > ld - size {
            return Err(f.arg_err(2, "data string too short"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                results.push(Value::Number(get_integer(
                    &data[pos..pos + size],
                    h.little,
                    signed,
                )));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or([0; 4]);
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                results.push(Value::Number(f64::from(v)));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or([0; 8]);
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                results.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let prev = match results.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::String(s)) => lua.coerce_number(Value::String(s.clone()))?,
                        _ => None,
                    };
                    let Some(n) = prev else {
                        return Err(f.err("format 'c0' needs a previous size".into()));
                    };
                    results.pop();
                    size = n as usize;
                    if size > ld || pos > ld - size {
                        return Err(f.arg_err(2, "data string too short"));
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(f.err("unfinished string in data".into()));
                };
                results.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => f.control(opt, &mut h)?,
        }
        pos += size;
    }
    results.push(Value::Integer(pos as i64 + 1));
    Ok(MultiValue::from_iter(results))
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<i64> {
    let text = first_string(lua, "size", &args)?;
    let mut f = fmt_arg(lua, "size", &text);
    let mut h = Header::default();
    let mut pos = 0usize;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(f.arg_err(1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(f.arg_err(1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h)?;
        }
        pos += size;
    }
    Ok(pos as i64)
}

/// The `struct` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}
