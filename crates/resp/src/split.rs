//! Splitting an inline request line into arguments, with the quoting rules of Redis's
//! `sdssplitargs` (also what `redis-cli` uses): `"…"` with `\n \r \t \b \a \xHH` escapes,
//! `'…'` with only `\'`, and a closing quote that must be followed by a space or the end.

/// The line had an unterminated quote, or a closing quote followed by a non-space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbalanced;

/// `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Split `line` into `out` (argument bytes, back to back) and `ranges` (one `(start, end)` per
/// argument into `out`). Like the C original, a NUL byte ends the line.
pub fn split_inline(
    line: &[u8],
    out: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<(), Unbalanced> {
    let line = match memchr::memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(());
        }
        let start = out.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = at(p);
            if in_dq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        out.push(h * 16 + l);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(Unbalanced);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(Unbalanced);
                } else {
                    out.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(Unbalanced);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(Unbalanced);
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    other => out.push(other),
                }
            }
            p += 1;
        }
        ranges.push((start, out.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &[u8]) -> Result<Vec<Vec<u8>>, Unbalanced> {
        let (mut out, mut ranges) = (Vec::new(), Vec::new());
        split_inline(s, &mut out, &mut ranges)?;
        Ok(ranges.iter().map(|&(a, b)| out[a..b].to_vec()).collect())
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(
            split(b"set  k \"a b\\n\" 'c\\'d' \"\"").unwrap(),
            vec![
                b"set".to_vec(),
                b"k".to_vec(),
                b"a b\n".to_vec(),
                b"c'd".to_vec(),
                b"".to_vec()
            ]
        );
        assert_eq!(split(b"\"\\x41\\x4\"").unwrap(), vec![b"Ax4".to_vec()]);
        assert_eq!(split(b"ab\"c d\"").unwrap(), vec![b"abc d".to_vec()]);
        assert_eq!(split(b"\"abc\"d"), Err(Unbalanced));
        assert_eq!(split(b"'abc"), Err(Unbalanced));
        assert_eq!(split(b"a\0b c").unwrap(), vec![b"a".to_vec()]);
        assert!(split(b"   ").unwrap().is_empty());
    }
}
