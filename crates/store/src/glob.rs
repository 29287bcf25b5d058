//! Glob-style matching with the exact semantics of Redis's `stringmatchlen` (KEYS, SCAN MATCH,
//! CONFIG GET, PSUBSCRIBE): `*`, `?`, `[abc]`, `[^a]`, `[a-z]` (reversed ranges allowed), `\x`
//! escapes, an unclosed `[` matching to the end of the pattern, and bytes compared as C `char`
//! (signed), so ranges across 0x80 behave as in Redis.

/// Recursion depth beyond which a pattern is treated as not matching (abusive patterns).
const MAX_NESTING: u32 = 1000;

pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn lower(c: u8) -> u8 {
    c.to_ascii_lowercase()
}

fn match_impl(pat: &[u8], s: &[u8], nocase: bool, skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    // Reads past the end see 0, like the NUL terminator the C code relies on.
    let at = |b: &[u8], i: usize| b.get(i).copied().unwrap_or(0);
    let (mut p, mut i) = (0usize, 0usize);
    while p < pat.len() && i < s.len() {
        match pat[p] {
            b'*' => {
                while p < pat.len() && at(pat, p + 1) == b'*' {
                    p += 1;
                }
                if pat.len() - p == 1 {
                    return true;
                }
                while i < s.len() {
                    if match_impl(&pat[p + 1..], &s[i..], nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    i += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => i += 1,
            b'[' => {
                p += 1;
                let not = at(pat, p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                let c = s[i];
                loop {
                    let left = pat.len().saturating_sub(p);
                    if at(pat, p) == b'\\' && left >= 2 {
                        p += 1;
                        if pat[p] == c {
                            matched = true;
                        }
                    } else if at(pat, p) == b']' {
                        break;
                    } else if left == 0 {
                        p -= 1;
                        break;
                    } else if left >= 3 && pat[p + 1] == b'-' {
                        // C compares `char` (signed on the platforms Redis ships for).
                        let (mut start, mut end, mut ch) =
                            (pat[p] as i8 as i32, pat[p + 2] as i8 as i32, c as i8 as i32);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = lower(start as u8) as i8 as i32;
                            end = lower(end as u8) as i8 as i32;
                            ch = lower(ch as u8) as i8 as i32;
                        }
                        p += 2;
                        if ch >= start && ch <= end {
                            matched = true;
                        }
                    } else if (!nocase && pat[p] == c) || (nocase && lower(pat[p]) == lower(c)) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                i += 1;
            }
            first => {
                let mut pc = first;
                if first == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    pc = pat[p];
                }
                let equal = if nocase {
                    lower(pc) == lower(s[i])
                } else {
                    pc == s[i]
                };
                if !equal {
                    return false;
                }
                i += 1;
            }
        }
        p += 1;
        if i == s.len() {
            while at(pat, p) == b'*' && p < pat.len() {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && i == s.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn redis_glob_semantics() {
        assert!(m(b"*", b"anything", false));
        assert!(!m(b"*", b"", false)); // as in Redis; KEYS and SCAN special-case "*"
        assert!(m(b"h?llo", b"hello", false));
        assert!(!m(b"h?llo", b"hllo", false));
        assert!(m(b"h*llo", b"heeeello", false));
        assert!(m(b"h[ae]llo", b"hallo", false));
        assert!(!m(b"h[^e]llo", b"hello", false));
        assert!(m(b"h[a-b]llo", b"hbllo", false));
        assert!(m(b"h[b-a]llo", b"hallo", false));
        assert!(m(b"h\\*llo", b"h*llo", false));
        assert!(!m(b"h\\*llo", b"hello", false));
        assert!(m(b"HELLO", b"hello", true));
        assert!(m(b"a*b*", b"axxbyy", false));
        assert!(m(b"[abc", b"a", false));
        assert!(!m(b"", b"a", false));
        assert!(m(b"", b"", false));
        assert!(m(b"a**", b"a", false));
        assert!(!m(b"a*b", b"a", false));
    }
}
