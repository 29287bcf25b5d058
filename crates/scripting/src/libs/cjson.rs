//! The `cjson` library Redis loads (lua-cjson 2.1.0's behaviour with Redis's settings):
//! `cjson.encode`, `cjson.decode` and `cjson.null`, with its escapes (`/` as `\/`, DEL as
//! `\u007f`), numbers printed as `%.14g`, arrays told from objects by their keys (too sparse
//! an array is an error), nesting limited to 1000, and its error texts.

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::cjson_config::{get, Settings};

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// An error of the library; the caller's position is added where it is raised to Lua.
fn fail<T>(msg: String) -> mlua::Result<T> {
    Err(mlua::Error::RuntimeError(msg))
}

/// The `cjson` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, args: MultiValue| {
            let placed = |e: mlua::Error| match e {
                mlua::Error::RuntimeError(m) => crate::sandbox::error_at_caller(lua, m),
                other => other,
            };
            if args.len() != 1 {
                return Err(placed(mlua::Error::RuntimeError(
                    "bad argument #1 to 'encode' (expected 1 argument)".into(),
                )));
            }
            let mut out = Vec::new();
            let v = args.into_iter().next().unwrap_or(Value::Nil);
            encode(&v, 0, &get(), &mut out).map_err(placed)?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, args: MultiValue| {
            let placed = |e: mlua::Error| match e {
                mlua::Error::RuntimeError(m) => crate::sandbox::error_at_caller(lua, m),
                other => other,
            };
            if args.len() != 1 {
                return Err(placed(mlua::Error::RuntimeError(
                    "bad argument #1 to 'decode' (expected 1 argument)".into(),
                )));
            }
            let text = match args.into_iter().next() {
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                Some(Value::Integer(i)) => i.to_string().into_bytes(),
                Some(Value::Number(n)) => crate::number::format_g14(n).into_bytes(),
                other => {
                    let got = other.as_ref().map_or("no value", Value::type_name);
                    return Err(placed(mlua::Error::RuntimeError(format!(
                        "bad argument #1 to 'decode' (string expected, got {got})"
                    ))));
                }
            };
            decode(lua, &text).map_err(placed)
        })?,
    )?;
    crate::libs::cjson_config::add_functions(lua, &t)?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn type_name(v: &Value) -> &'static str {
    v.type_name()
}

fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn encode_number(n: f64, what: &Value, cfg: &Settings, out: &mut Vec<u8>) -> mlua::Result<()> {
    if n.is_nan() || n.is_infinite() {
        match cfg.encode_invalid {
            0 => {
                return fail(format!(
                    "Cannot serialise {}: must not be NaN or Inf",
                    type_name(what)
                ))
            }
            1 if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    out.extend_from_slice(crate::number::format_g(n, cfg.precision as usize).as_bytes());
    Ok(())
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// The array length of `t` if every key is a positive integer (0 for an empty table, which
/// is encoded as an object), `None` for an object; an error for a too sparse array.
fn array_length(t: &Table, cfg: &Settings) -> mlua::Result<Option<usize>> {
    let (mut max, mut items) = (0usize, 0usize);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        match number_of(&k) {
            Some(k) if k >= 1.0 && k.floor() == k => {
                max = max.max(k as usize);
                items += 1;
            }
            _ => return Ok(None),
        }
    }
    let (ratio, safe) = (cfg.sparse_ratio as usize, cfg.sparse_safe as usize);
    if ratio > 0 && max > items * ratio && max > safe {
        if !cfg.sparse_convert {
            return fail("Cannot serialise table: excessively sparse array".into());
        }
        return Ok(None);
    }
    Ok(Some(max))
}

fn encode(v: &Value, depth: usize, cfg: &Settings, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Integer(_) | Value::Number(_) => {
            encode_number(number_of(v).unwrap_or(0.0), v, cfg, out)?
        }
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth as usize {
                return fail(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(t, cfg)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(&t.raw_get::<Value>(i)?, depth, cfg, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, val) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => {
                                encode_string(&s.as_bytes(), out);
                                out.push(b':');
                            }
                            Value::Integer(_) | Value::Number(_) => {
                                out.push(b'"');
                                encode_number(number_of(&k).unwrap_or(0.0), &k, cfg, out)?;
                                out.extend_from_slice(b"\":");
                            }
                            other => {
                                return fail(format!(
                                    "Cannot serialise {}: table key must be a number or string",
                                    type_name(other)
                                ))
                            }
                        }
                        encode(&val, depth, cfg, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return fail(format!(
                "Cannot serialise {}: type not supported",
                type_name(other)
            ))
        }
    }
    Ok(())
}

/// A token of the JSON text, as lua-cjson names them in its errors.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A lexing error: its reason.
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(reason) => reason,
        }
    }
}

struct Parser<'a> {
    /// The text up to its first NUL (lua-cjson reads a C string).
    data: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    /// Read `+1`, hex, `inf`, `nan` and leading zeros as numbers (cjson.decode_invalid_numbers).
    decode_invalid: bool,
}

impl Parser<'_> {
    fn peek(&self, at: usize) -> u8 {
        self.data.get(at).copied().unwrap_or(0)
    }

    /// The next token and where it starts.
    fn next(&mut self) -> (Token, usize) {
        while matches!(self.peek(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let simple = match self.peek(at) {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            0 => return (Token::End, at),
            _ => None,
        };
        if let Some(t) = simple {
            self.pos += 1;
            return (t, at);
        }
        let rest = &self.data[at..];
        let c = self.peek(at);
        let token = if c == b'"' {
            self.string()
        } else if c == b'-' || c.is_ascii_digit() {
            if !self.decode_invalid && self.invalid_number() {
                Token::Error("invalid number")
            } else {
                self.number()
            }
        } else if rest.starts_with(b"true") {
            self.pos += 4;
            Token::Bool(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Token::Bool(false)
        } else if rest.starts_with(b"null") {
            self.pos += 4;
            Token::Null
        } else if self.decode_invalid && self.invalid_number() {
            // Redis's build decodes what JSON calls invalid numbers (+1, inf, nan, hex)
            // as strtod reads them.
            self.number()
        } else {
            Token::Error("invalid token")
        };
        // A lexing error is reported where the parser stopped.
        let at = if matches!(token, Token::Error(_)) {
            self.pos
        } else {
            at
        };
        (token, at)
    }

    /// Numbers JSON does not allow (lua-cjson with invalid numbers refused): a leading `+`,
    /// hex, leading zeros, inf and nan.
    fn invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.peek(p) == b'+' {
            return true;
        }
        if self.peek(p) == b'-' {
            p += 1;
        }
        if self.peek(p) == b'0' {
            let c = self.peek(p + 1);
            return (c | 0x20) == b'x' || c.is_ascii_digit();
        }
        if self.peek(p) <= b'9' {
            return false;
        }
        let word = &self.data[p..self.data.len().min(p + 3)];
        word.eq_ignore_ascii_case(b"inf") || word.eq_ignore_ascii_case(b"nan")
    }

    /// A number as `strtod` reads it (see [`strtod`]).
    fn number(&mut self) -> Token {
        match strtod(&self.data[self.pos..]) {
            Some((n, used)) => {
                self.pos += used;
                Token::Num(n)
            }
            None => Token::Error("invalid number"),
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = (v << 4) | (self.peek(at + i) as char).to_digit(16)?;
        }
        Some(v)
    }

    fn string(&mut self) -> Token {
        self.pos += 1;
        let mut s = Vec::new();
        loop {
            let c = self.peek(self.pos);
            match c {
                b'"' => break,
                0 => return Token::Error("unexpected end of string"),
                b'\\' => {
                    let e = self.peek(self.pos + 1);
                    let plain = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => match self.unicode_escape(&mut s) {
                            Some(()) => continue,
                            None => return Token::Error("invalid unicode escape code"),
                        },
                        _ => return Token::Error("invalid escape code"),
                    };
                    s.push(plain);
                    self.pos += 2;
                }
                _ => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token::Str(s)
    }

    /// `\uXXXX` (or a surrogate pair of them) as UTF-8.
    fn unicode_escape(&mut self, s: &mut Vec<u8>) -> Option<()> {
        let mut cp = self.hex4(self.pos + 2)?;
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return None;
            }
            if self.peek(self.pos + 6) != b'\\' || self.peek(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let ch = char::from_u32(cp)?;
        let mut buf = [0u8; 4];
        s.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        self.pos += len;
        Some(())
    }
}

fn expected<T>(what: &str, token: &Token, at: usize) -> mlua::Result<T> {
    fail(format!(
        "Expected {what} but found {} at character {}",
        token.name(),
        at + 1
    ))
}

fn decode(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    if text.len() >= 2 && (text[0] == 0 || text[1] == 0) {
        return fail("JSON parser does not support UTF-16 or UTF-32".into());
    }
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let cfg = get();
    let mut p = Parser {
        data: &text[..end],
        pos: 0,
        depth: 0,
        max_depth: cfg.decode_max_depth as usize,
        decode_invalid: cfg.decode_invalid,
    };
    let (token, at) = p.next();
    let v = value(lua, &mut p, token, at)?;
    let (token, at) = p.next();
    if token != Token::End {
        return expected("the end", &token, at);
    }
    Ok(v)
}

fn descend(p: &mut Parser<'_>) -> mlua::Result<()> {
    p.depth += 1;
    if p.depth > p.max_depth {
        return fail(format!(
            "Found too many nested data structures ({}) at character {}",
            p.depth, p.pos
        ));
    }
    Ok(())
}

fn value(lua: &Lua, p: &mut Parser<'_>, token: Token, at: usize) -> mlua::Result<Value> {
    Ok(match token {
        Token::Str(s) => Value::String(lua.create_string(&s)?),
        Token::Num(n) => Value::Number(n),
        Token::Bool(b) => Value::Boolean(b),
        Token::Null => null(),
        Token::ObjBegin => {
            descend(p)?;
            let t = lua.create_table()?;
            let (mut token, mut at) = p.next();
            if token != Token::ObjEnd {
                loop {
                    let Token::Str(key) = token else {
                        return expected("object key string", &token, at);
                    };
                    let (colon, cat) = p.next();
                    if colon != Token::Colon {
                        return expected("colon", &colon, cat);
                    }
                    let (vt, vat) = p.next();
                    let v = value(lua, p, vt, vat)?;
                    t.raw_set(lua.create_string(&key)?, v)?;
                    let (next, nat) = p.next();
                    if next == Token::ObjEnd {
                        break;
                    }
                    if next != Token::Comma {
                        return expected("comma or object end", &next, nat);
                    }
                    (token, at) = p.next();
                }
            }
            p.depth -= 1;
            Value::Table(t)
        }
        Token::ArrBegin => {
            descend(p)?;
            let t = lua.create_table()?;
            let (mut token, mut at) = p.next();
            if token != Token::ArrEnd {
                for i in 1.. {
                    let v = value(lua, p, token, at)?;
                    t.raw_set(i, v)?;
                    let (next, nat) = p.next();
                    if next == Token::ArrEnd {
                        break;
                    }
                    if next != Token::Comma {
                        return expected("comma or array end", &next, nat);
                    }
                    (token, at) = p.next();
                }
            }
            p.depth -= 1;
            Value::Table(t)
        }
        other => return expected("value", &other, at),
    })
}

/// C's `strtod` on the start of `s`: sign, then `inf`/`infinity`, `nan`, a hex number
/// (`0x…`, with a `p` exponent) or a decimal one; the value and the bytes it used, `None`
/// when no number starts there.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut p = 0;
    let negative = match at(0) {
        b'-' => {
            p = 1;
            true
        }
        b'+' => {
            p = 1;
            false
        }
        _ => false,
    };
    let sign = if negative { -1.0 } else { 1.0 };
    let word =
        |i: usize, w: &[u8]| s.len() >= i + w.len() && s[i..i + w.len()].eq_ignore_ascii_case(w);
    if word(p, b"inf") {
        let used = if word(p, b"infinity") { p + 8 } else { p + 3 };
        return Some((sign * f64::INFINITY, used));
    }
    if word(p, b"nan") {
        let mut used = p + 3;
        if at(used) == b'(' {
            if let Some(close) = s[used..].iter().position(|&b| b == b')') {
                used += close + 1;
            }
        }
        return Some((f64::NAN, used));
    }
    if at(p) == b'0' && (at(p + 1) | 0x20) == b'x' && (at(p + 2) as char).is_ascii_hexdigit() {
        let mut q = p + 2;
        let mut v = 0.0f64;
        while let Some(d) = (at(q) as char).to_digit(16) {
            v = v * 16.0 + f64::from(d);
            q += 1;
        }
        if at(q) == b'.' {
            q += 1;
            let mut scale = 1.0 / 16.0;
            while let Some(d) = (at(q) as char).to_digit(16) {
                v += f64::from(d) * scale;
                scale /= 16.0;
                q += 1;
            }
        }
        if (at(q) | 0x20) == b'p' {
            let mut r = q + 1;
            let exp_negative = at(r) == b'-';
            if matches!(at(r), b'+' | b'-') {
                r += 1;
            }
            if at(r).is_ascii_digit() {
                let mut e: i32 = 0;
                while at(r).is_ascii_digit() {
                    e = e.saturating_mul(10).saturating_add(i32::from(at(r) - b'0'));
                    r += 1;
                }
                v *= 2f64.powi(if exp_negative { -e } else { e });
                q = r;
            }
        }
        return Some((sign * v, q));
    }
    let digits_from = p;
    let mut q = p;
    while at(q).is_ascii_digit() {
        q += 1;
    }
    let int_digits = q - digits_from;
    let mut frac_digits = 0;
    if at(q) == b'.' {
        let mut r = q + 1;
        while at(r).is_ascii_digit() {
            r += 1;
        }
        frac_digits = r - q - 1;
        if int_digits + frac_digits > 0 {
            q = r;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if (at(q) | 0x20) == b'e' {
        let mut r = q + 1;
        if matches!(at(r), b'+' | b'-') {
            r += 1;
        }
        if at(r).is_ascii_digit() {
            while at(r).is_ascii_digit() {
                r += 1;
            }
            q = r;
        }
    }
    let text = std::str::from_utf8(&s[p..q]).ok()?;
    let v: f64 = text.parse().ok()?;
    Some((sign * v, q))
}

#[cfg(test)]
mod tests {
    use super::strtod;

    #[test]
    fn strtod_reads_what_c_reads() {
        assert_eq!(strtod(b"12abc"), Some((12.0, 2)));
        assert_eq!(strtod(b"-0.5e2,"), Some((-50.0, 6)));
        assert_eq!(strtod(b"+1"), Some((1.0, 2)));
        assert_eq!(strtod(b"0x1A"), Some((26.0, 4)));
        assert_eq!(strtod(b"1e"), Some((1.0, 1)));
        assert_eq!(strtod(b"Infinity"), Some((f64::INFINITY, 8)));
        assert!(strtod(b"nan").is_some_and(|(n, used)| n.is_nan() && used == 3));
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b"."), None);
        assert_eq!(strtod(b"1."), Some((1.0, 2)));
    }
}
