//! How the debugger shows things: Lua values, RESP replies, strings (as Redis's `sdscatrepr`
//! quotes them), and the small C-like parsers its commands use.

use mlua::Value;

use crate::number::format_g;

/// Nesting of tables shown in a value (Lua's `LUA_MINSTACK / 2`).
const MAX_VALUES_DEPTH: usize = 10;

pub(super) fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

/// C's `atoi`: leading spaces, a sign, digits; 0 when there are none.
pub(super) fn c_atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Redis's `string2l`: the whole string a decimal integer.
pub(super) fn parse_long(s: &str) -> Option<i64> {
    if s.is_empty() || s.starts_with('+') || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// `sdscatrepr`: a quoted string with C escapes.
pub(crate) fn repr_bytes(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// A Lua value as the debugger shows it (Redis's `ldbCatStackValue`).
pub(crate) fn repr_value(out: &mut String, v: &Value, level: usize) {
    if level == MAX_VALUES_DEPTH {
        out.push_str("<max recursion level reached! Nested table?>");
        return;
    }
    match v {
        Value::String(s) => repr_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => out.push_str(&format_g(*i as f64, 6)),
        Value::Number(n) => out.push_str(&format_g(*n, 6)),
        Value::Nil => out.push_str("nil"),
        Value::Table(t) => {
            let (mut as_array, mut full) = (String::new(), String::new());
            let mut is_array = true;
            for (expected, pair) in (1i64..).zip(t.clone().pairs::<Value, Value>()) {
                let Ok((k, v)) = pair else { break };
                let index = match k {
                    Value::Integer(i) => Some(i as f64),
                    Value::Number(n) => Some(n),
                    _ => None,
                };
                if is_array && index != Some(expected as f64) {
                    is_array = false;
                }
                repr_value(&mut as_array, &v, level + 1);
                as_array.push_str("; ");
                full.push('[');
                repr_value(&mut full, &k, level + 1);
                full.push_str("]=");
                repr_value(&mut full, &v, level + 1);
                full.push_str("; ");
            }
            for r in [&mut as_array, &mut full] {
                if r.len() >= 2 {
                    r.truncate(r.len() - 2);
                }
            }
            out.push('{');
            out.push_str(if is_array { &as_array } else { &full });
            out.push('}');
        }
        other => {
            let kind = match other {
                Value::Function(_) => "function",
                Value::Thread(_) => "thread",
                Value::LightUserData(_) => "light-userdata",
                _ => "userdata",
            };
            out.push_str(&format!("\"{kind}@{:p}\"", other.to_pointer()));
        }
    }
}

/// A RESP reply as the debugger shows it (Redis's `ldbRedisProtocolToHuman`); returns the
/// bytes after it.
pub(super) fn protocol_to_human<'a>(out: &mut String, reply: &'a [u8]) -> &'a [u8] {
    let Some(&kind) = reply.first() else {
        return reply;
    };
    let Some(end) = find_crlf(reply, 1) else {
        return &[];
    };
    let head = String::from_utf8_lossy(&reply[1..end]);
    let rest = &reply[end + 2..];
    let count = || head.parse::<i64>().unwrap_or(0);
    match kind {
        b':' => {
            out.push_str(&head);
            rest
        }
        b'$' => {
            let n = count();
            if n < 0 {
                out.push_str("NULL");
                return rest;
            }
            let n = (n as usize).min(rest.len());
            repr_bytes(out, &rest[..n]);
            rest.get(n + 2..).unwrap_or(&[])
        }
        b'+' | b'-' => {
            repr_bytes(out, &reply[..end]);
            rest
        }
        b'*' | b'~' | b'%' => {
            let n = count();
            if kind == b'*' && n < 0 {
                out.push_str("NULL");
                return rest;
            }
            let (open, close) = match kind {
                b'*' => ("[", "]"),
                b'~' => ("~(", ")"),
                _ => ("{", "}"),
            };
            out.push_str(open);
            let mut p = rest;
            for j in 0..n.max(0) {
                p = protocol_to_human(out, p);
                if kind == b'%' {
                    out.push_str(" => ");
                    p = protocol_to_human(out, p);
                }
                if j != n - 1 {
                    out.push(',');
                }
            }
            out.push_str(close);
            p
        }
        b'_' => {
            out.push_str("(null)");
            rest
        }
        b'#' => {
            out.push_str(if head.starts_with('t') {
                "#true"
            } else {
                "#false"
            });
            rest
        }
        b',' => {
            out.push_str("(double) ");
            out.push_str(&head);
            rest
        }
        _ => rest,
    }
}

pub(super) const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_redis_shows_them() {
        let mut s = String::new();
        protocol_to_human(&mut s, b"*3\r\n:1\r\n$2\r\nab\r\n$-1\r\n");
        assert_eq!(s, "[1,\"ab\",NULL]");
        let mut s = String::new();
        protocol_to_human(&mut s, b"%1\r\n+ok\r\n#t\r\n");
        assert_eq!(s, "{\"+ok\" => #true}");
        let mut s = String::new();
        protocol_to_human(&mut s, b"-ERR bad\r\n");
        assert_eq!(s, "\"-ERR bad\"");
    }

    #[test]
    fn atoi_and_repr_are_cs() {
        assert_eq!(c_atoi(" 12x"), 12);
        assert_eq!(c_atoi("-3"), -3);
        assert_eq!(c_atoi("x"), 0);
        let mut s = String::new();
        repr_bytes(&mut s, b"a\"\n\x01");
        assert_eq!(s, "\"a\\\"\\n\\x01\"");
        assert_eq!(parse_long("07"), None);
        assert_eq!(parse_long("-7"), Some(-7));
    }
}
