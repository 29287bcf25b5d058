//! Number parsing and formatting with Redis's exact rules.

pub use resp::parse_i64 as parse_i64_strict;

/// Capacity of the buffer `%.17Lf` is printed into (Redis's `MAX_LONG_DOUBLE_CHARS`).
const LD_MAX_CHARS: usize = 5 * 1024;

extern "C" {
    fn basalt_ld_add(
        a: *const u8,
        alen: usize,
        b: *const u8,
        blen: usize,
        out: *mut u8,
        cap: usize,
    ) -> i32;
    fn basalt_ld_classify(s: *const u8, len: usize) -> i32;
    fn basalt_sort_strtod(s: *const u8, len: usize, out: *mut f64) -> i32;
    fn basalt_double_strict(s: *const u8, len: usize, out: *mut f64) -> i32;
    fn basalt_double_range(s: *const u8, len: usize, out: *mut f64) -> i32;
    fn basalt_timeout_ms(s: *const u8, len: usize, out: *mut i64) -> i32;
}

/// A blocking command's timeout argument (seconds, fractions allowed) in milliseconds, as
/// Redis 7.0 computes it in `long double` (so `-0.001` is 0, wait forever, and `-0.002` is
/// -1); `None` if it is not a float. Negative results are the caller's "timeout is negative".
pub fn timeout_ms(s: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    // SAFETY: the C side reads at most `len` bytes of `s` and writes one i64 to `out`.
    let ok = unsafe { basalt_timeout_ms(s.as_ptr(), s.len(), &mut v) };
    (ok == 1).then_some(v)
}

/// A double argument as Redis's `getDoubleFromObject` reads it (ZADD and ZINCRBY scores,
/// WEIGHTS): C `strtod` over the whole string, no leading space, no overflow, not NaN.
pub fn parse_double(s: &[u8]) -> Option<f64> {
    let mut v = 0.0f64;
    // SAFETY: the C side reads at most `len` bytes of `s` and writes one f64 to `out`.
    let ok = unsafe { basalt_double_strict(s.as_ptr(), s.len(), &mut v) };
    (ok == 1).then_some(v)
}

/// A score-range bound (after its optional `(`) as Redis's `zslParseRange` reads it: C
/// `strtod` up to the first NUL byte, leading space allowed, overflow gives ±inf, the empty
/// string is 0, NaN refused.
pub fn parse_range_double(s: &[u8]) -> Option<f64> {
    let mut v = 0.0f64;
    // SAFETY: as for `parse_double`.
    let ok = unsafe { basalt_double_range(s.as_ptr(), s.len(), &mut v) };
    (ok == 1).then_some(v)
}

/// SORT's score of a value: C `strtod` over the whole string (as a C string), no overflow, not
/// NaN. `None` is SORT's "One or more scores can't be converted into double".
pub fn sort_score(s: &[u8]) -> Option<f64> {
    let mut v = 0.0f64;
    // SAFETY: the C side reads at most `len` bytes of `s` and writes one f64 to `out`.
    let ok = unsafe { basalt_sort_strtod(s.as_ptr(), s.len(), &mut v) };
    (ok == 1).then_some(v)
}

/// How `string2ld` sees a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdClass {
    NotFloat,
    Finite,
    Infinite,
}

/// Parse `s` as Redis's `string2ld` does and say what it is.
pub fn ld_classify(s: &[u8]) -> LdClass {
    // SAFETY: the C side reads only `len` bytes of `s`.
    match unsafe { basalt_ld_classify(s.as_ptr(), s.len()) } {
        1 => LdClass::Finite,
        2 => LdClass::Infinite,
        _ => LdClass::NotFloat,
    }
}

/// Why a `long double` addition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdError {
    /// The stored value or the increment is not a valid float.
    NotFloat,
    /// The result would be NaN or infinite.
    NanOrInfinity,
}

/// `a + b` in C `long double`, printed as Redis prints INCRBYFLOAT results.
pub fn ld_add(a: &[u8], b: &[u8]) -> Result<Vec<u8>, LdError> {
    let mut out = vec![0u8; LD_MAX_CHARS];
    // SAFETY: both inputs are valid for their lengths; `out` has `cap` writable bytes and the C
    // side never writes past `cap` (snprintf) and only reads within the given lengths.
    let n = unsafe {
        basalt_ld_add(
            a.as_ptr(),
            a.len(),
            b.as_ptr(),
            b.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    match n {
        -1 | -2 => Err(LdError::NotFloat),
        -3 => Err(LdError::NanOrInfinity),
        n if n >= 0 => {
            out.truncate(n as usize);
            Ok(out)
        }
        _ => Err(LdError::NotFloat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incrbyfloat_formatting() {
        let s = |a: &str, b: &str| {
            String::from_utf8(ld_add(a.as_bytes(), b.as_bytes()).unwrap()).unwrap()
        };
        assert_eq!(s("10.5", "0.1"), "10.6");
        assert_eq!(s("5.0e3", "2.0e2"), "5200");
        assert_eq!(s("3", "-3"), "0");
        assert_eq!(s("-0", "0"), "0");
        assert_eq!(ld_add(b"abc", b"1"), Err(LdError::NotFloat));
        assert_eq!(ld_add(b" 1", b"1"), Err(LdError::NotFloat));
        assert_eq!(ld_add(b"1", b"inf"), Err(LdError::NanOrInfinity));
        assert_eq!(ld_add(b"1", b"nan"), Err(LdError::NotFloat));
        // Regression: strtold stops at a NUL byte; Redis still rejects the whole string.
        assert_eq!(ld_add(b"1\0", b"1"), Err(LdError::NotFloat));
        assert_eq!(ld_add(b"1", b"\0"), Err(LdError::NotFloat));
    }

    #[test]
    fn timeouts_as_redis_computes_them() {
        assert_eq!(timeout_ms(b"0"), Some(0));
        assert_eq!(timeout_ms(b"1.5"), Some(1500));
        assert_eq!(timeout_ms(b"0.0001"), Some(1));
        // long double arithmetic: -0.001 * 1000 is just above -1, and ceil makes it 0.
        assert_eq!(timeout_ms(b"-0.001"), Some(0));
        assert_eq!(timeout_ms(b"-0.002"), Some(-1));
        assert_eq!(timeout_ms(b"0x10"), Some(16000));
        assert_eq!(timeout_ms(b"9.2e15"), Some(9_200_000_000_000_000_000));
        assert_eq!(timeout_ms(b"9.3e15"), Some(i64::MIN));
        assert_eq!(timeout_ms(b"inf"), Some(i64::MIN));
        assert_eq!(timeout_ms(b"nan"), None);
        assert_eq!(timeout_ms(b"abc"), None);
        assert_eq!(timeout_ms(b" 1"), None);
    }

    #[test]
    fn double_parsing_as_redis() {
        assert_eq!(parse_double(b"0x10"), Some(16.0));
        assert_eq!(parse_double(b".5"), Some(0.5));
        assert_eq!(parse_double(b"5."), Some(5.0));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [
            &b"1e400"[..],
            b"1e-400",
            b" 1",
            b"1 ",
            b"nan",
            b"",
            b"1\0",
            b"abc",
        ] {
            assert_eq!(parse_double(bad), None, "{bad:?}");
        }
        assert_eq!(parse_range_double(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_range_double(b" 2"), Some(2.0));
        assert_eq!(parse_range_double(b""), Some(0.0));
        assert_eq!(parse_range_double(b"3\0junk"), Some(3.0));
        assert_eq!(parse_range_double(b"nan"), None);
        assert_eq!(parse_range_double(b"2x"), None);
    }
}
