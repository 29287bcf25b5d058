//! Cardinality from a register histogram: the estimator of Redis 7.0's `hllCount`.
//!
//! It is Otmar Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog
//! sketches", arXiv:1702.01284), which needs no bias tables. The arithmetic is done in `f64` in
//! the same order as Redis does it, because PFCOUNT's answer (and the cached cardinality stored in
//! the value) must be the same integer Redis would produce.

use super::{HLL_Q, HLL_REGISTERS};

/// 0.5 / ln(2): the limit of the HyperLogLog bias constant for many registers.
const HLL_ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Safety cap on the series loops. Both converge in well under a hundred steps for inputs in
/// [0, 1]; the cap only matters for inputs the estimator never receives, so a bug can't hang.
const MAX_STEPS: usize = 4096;

/// Ertl's sigma function, for the share of registers still at zero.
///
/// Why the loop: sigma is an infinite series that stops once adding a term no longer changes the
/// double, which is exactly when Redis stops, so the result is the same double.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    for _ in 0..MAX_STEPS {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            break;
        }
    }
    z
}

/// Ertl's tau function, for the share of registers that saturated (value `HLL_Q + 1`).
///
/// Why `d * d` rather than `powf`: Redis writes `pow(1 - x, 2)`, which the C compiler turns into a
/// single correctly rounded multiplication; doing the same keeps every step identical.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    for _ in 0..MAX_STEPS {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            break;
        }
    }
    z / 3.0
}

/// The estimate for a histogram of register values (`histo[v]` = registers holding `v`).
///
/// Why the odd tail: only buckets 0..=`HLL_Q + 1` take part, as in Redis, so registers holding
/// 52..63 (only possible in a hand-made dense value) are ignored. The final rounding reproduces
/// `llroundl` then the cast to `uint64_t` on x86-64: the double is rounded half away from zero;
/// a result that does not fit a signed 64-bit integer (including infinity, when every register
/// is saturated) comes out as `i64::MIN`, which then reads as 2^63 unsigned. PFCOUNT replies with
/// the value as a signed number, so such an HLL reports -9223372036854775808, as Redis does.
pub fn estimate(histo: &[u64; 64]) -> u64 {
    let m = HLL_REGISTERS as f64;
    let q = HLL_Q as usize;
    let mut z = m * tau((m - histo[q + 1] as f64) / m);
    for j in (1..=q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    let e = HLL_ALPHA_INF * m * m / z;
    let r = e.round();
    // 2^63 is exactly representable; anything at or above it (or NaN) overflows llroundl.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&r) {
        1u64 << 63
    } else {
        r as i64 as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_zero() {
        let mut h = [0u64; 64];
        h[0] = HLL_REGISTERS as u64;
        assert_eq!(estimate(&h), 0);
    }

    #[test]
    fn saturated_overflows_like_redis() {
        // Every register at 51 (Q + 1) makes z zero, the quotient infinite; at 50 it is finite
        // but beyond i64: both give 2^63, as the real server reports -9223372036854775808.
        for v in [50usize, 51, 63] {
            let mut h = [0u64; 64];
            h[v] = HLL_REGISTERS as u64;
            assert_eq!(estimate(&h), 1 << 63, "value {v}");
        }
    }
}
