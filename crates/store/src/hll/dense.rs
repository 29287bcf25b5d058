//! The dense encoding: 16384 registers of 6 bits packed LSB-first into 12288 bytes.
//!
//! Register `i` starts at bit `6 * i` of the register area, counting bits from the least
//! significant bit of each byte, and may straddle two bytes. Redis reads and writes one byte past
//! the last register (the sds terminator, always zero); here that byte simply does not exist, so
//! reads treat it as zero and writes skip it, which gives the same register values.

use super::{HLL_BITS, HLL_REGISTERS, HLL_REGISTER_MAX};

/// Value of register `index` in the packed `regs` (the bytes after the header).
///
/// Why the bounds handling: `regs` may be any length in principle (it comes from a validated, but
/// user-supplied, string), so a missing byte reads as zero instead of panicking.
#[inline]
pub fn get(regs: &[u8], index: usize) -> u8 {
    let bit = index * HLL_BITS;
    let byte = bit / 8;
    let shift = bit % 8;
    let lo = u32::from(regs.get(byte).copied().unwrap_or(0));
    let hi = u32::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((lo >> shift) | (hi << (8 - shift))) & u32::from(HLL_REGISTER_MAX)) as u8
}

/// Overwrite register `index` in the packed `regs` with `val` (only its low 6 bits are kept).
///
/// Why: the neighbouring registers share these bytes, so only this register's bits are cleared
/// and replaced. Bytes beyond `regs` are skipped (for the last register its second byte would
/// only receive zero bits anyway).
#[inline]
pub fn set(regs: &mut [u8], index: usize, val: u8) {
    let bit = index * HLL_BITS;
    let byte = bit / 8;
    let shift = bit % 8;
    let v = u32::from(val & HLL_REGISTER_MAX);
    let mask = u32::from(HLL_REGISTER_MAX);
    if let Some(b) = regs.get_mut(byte) {
        *b = ((u32::from(*b) & !(mask << shift)) | (v << shift)) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        let rshift = 8 - shift;
        *b = ((u32::from(*b) & !(mask >> rshift)) | (v >> rshift)) as u8;
    }
}

/// Raise register `index` to `count` if it is lower (Redis's `hllDenseSet`); whether it changed.
///
/// Why "raise only": a register keeps the longest zero run seen, so a smaller count carries no
/// information, and PFADD must report 0 when nothing changed.
#[inline]
pub fn raise(regs: &mut [u8], index: usize, count: u8) -> bool {
    if count > get(regs, index) {
        set(regs, index, count);
        true
    } else {
        false
    }
}

/// Add the histogram of register values of the packed `regs` into `histo`.
///
/// Why a histogram: the estimator only needs how many registers hold each value, and computing it
/// once lets the sparse, dense and raw forms share one estimator. Each value is masked to 6 bits
/// so it always indexes inside the 64 buckets.
pub fn histogram(regs: &[u8], histo: &mut [u64; 64]) {
    // Four registers fill exactly three bytes, so walk the area three bytes at a time.
    let mut chunks = regs.chunks_exact(3);
    let mut seen = 0;
    for c in &mut chunks {
        if seen == HLL_REGISTERS {
            break;
        }
        let (a, b, d) = (c[0], c[1], c[2]);
        histo[usize::from(a & 63)] += 1;
        histo[usize::from((a >> 6 | b << 2) & 63)] += 1;
        histo[usize::from((b >> 4 | d << 4) & 63)] += 1;
        histo[usize::from((d >> 2) & 63)] += 1;
        seen += 4;
    }
    // Only reached for a short area (never for a validated dense HLL): read what is left one
    // register at a time, missing bytes being zero.
    for index in seen..HLL_REGISTERS {
        histo[usize::from(get(regs, index))] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_neighbours() {
        let mut regs = vec![0u8; HLL_REGISTERS * HLL_BITS / 8];
        for i in 0..HLL_REGISTERS {
            set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..HLL_REGISTERS {
            assert_eq!(get(&regs, i), (i % 64) as u8, "register {i}");
        }
        let mut histo = [0u64; 64];
        histogram(&regs, &mut histo);
        assert!(histo.iter().all(|&n| n == (HLL_REGISTERS / 64) as u64));
        assert!(!raise(&mut regs, 5, 3));
        assert!(raise(&mut regs, 5, 6));
        assert_eq!(get(&regs, 5), 6);
        assert_eq!(get(&regs, 4), 4);
        assert_eq!(get(&regs, 6), 6);
    }

    #[test]
    fn short_area_does_not_panic() {
        let mut regs = vec![0xffu8; 10];
        assert_eq!(get(&regs, HLL_REGISTERS - 1), 0);
        set(&mut regs, HLL_REGISTERS - 1, 5);
        let mut histo = [0u64; 64];
        histogram(&regs, &mut histo);
        assert_eq!(histo.iter().sum::<u64>(), HLL_REGISTERS as u64);
    }
}
