//! Numbers as C's printf prints them: Redis turns Lua numbers into command arguments with
//! `%.17g`, and Lua 5.1 prints numbers with `%.14g`.

/// C's `%.17g`.
pub fn format_g17(x: f64) -> String {
    format_g(x, 17)
}

/// Lua 5.1's number to string (`%.14g`).
pub fn format_g14(x: f64) -> String {
    format_g(x, 14)
}

/// C's `%.<precision>g`, non-finite values included (`resp::format_g` does the rest).
pub fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    resp::format_g(x, precision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_formats_as_c() {
        assert_eq!(format_g17(1.0), "1");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(
            format_g17(1e100),
            "1.0000000000000000e+100".replace(".0000000000000000", "")
        );
        assert_eq!(format_g17(-2.5), "-2.5");
        assert_eq!(format_g17(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(format_g14(0.5), "0.5");
        assert_eq!(format_g14(1e-5), "1e-05");
    }
}
