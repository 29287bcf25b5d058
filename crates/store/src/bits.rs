//! Bit arithmetic over byte strings, as Redis's bitmap commands see them: bit 0 is the most
//! significant bit of byte 0 (so `SETBIT k 0 1` makes the string `"\x80"`).
//!
//! Counting and searching go a 64-bit word at a time (and with the CPU's `popcnt` when it has
//! one), since BITCOUNT and BITPOS are asked to scan strings of hundreds of megabytes while
//! holding their shard.

/// Grows `v` to `len` bytes with zeros. `ThinVec::resize` and `extend_from_slice` push one
/// byte at a time, which cost more than the rest of a 64 MB BITOP; this is one `memset`.
pub fn zero_extend(v: &mut crate::ThinVec<u8>, len: usize) {
    let old = v.len();
    if len <= old {
        return;
    }
    v.reserve(len - old);
    // SAFETY: `reserve` made room for `len` bytes; the new ones are written (zeroed) before
    // the length covers them, and `u8` has no invalid bit patterns or destructor.
    unsafe {
        std::ptr::write_bytes(v.as_mut_ptr().add(old), 0, len - old);
        v.set_len(len);
    }
}

/// Bits set in `bytes`.
pub fn popcount(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU was just checked to have the instruction the function is built for.
            return unsafe { popcount_hw(bytes) };
        }
    }
    popcount_words(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn popcount_hw(bytes: &[u8]) -> u64 {
    popcount_words(bytes)
}

/// Four independent sums over 32-byte blocks keep the adds from waiting on each other.
#[inline(always)]
fn popcount_words(bytes: &[u8]) -> u64 {
    let mut blocks = bytes.chunks_exact(32);
    let mut sums = [0u64; 4];
    for block in &mut blocks {
        for (i, word) in block.chunks_exact(8).enumerate() {
            sums[i] += u64::from(word_at(word).count_ones());
        }
    }
    let mut total: u64 = sums.iter().sum();
    let mut words = blocks.remainder().chunks_exact(8);
    for word in &mut words {
        total += u64::from(word_at(word).count_ones());
    }
    for &b in words.remainder() {
        total += u64::from(b.count_ones());
    }
    total
}

#[inline(always)]
fn word_at(word: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(word);
    u64::from_be_bytes(w)
}

/// Position (in bits from the start of `bytes`) of the first bit equal to `bit`, or `None`.
pub fn first_bit(bytes: &[u8], bit: bool) -> Option<u64> {
    // A byte with nothing to find is all zeros (looking for a one) or all ones (for a zero).
    let skip: u64 = if bit { 0 } else { u64::MAX };
    let mut words = bytes.chunks_exact(8);
    let mut at = 0u64;
    for word in &mut words {
        let w = word_at(word);
        if w != skip {
            let found = if bit { w } else { !w };
            return Some(at + u64::from(found.leading_zeros()));
        }
        at += 64;
    }
    for &b in words.remainder() {
        let found = if bit { b } else { !b };
        if found != 0 {
            return Some(at + u64::from(found.leading_zeros()));
        }
        at += 8;
    }
    None
}

/// The bit at `offset`, reading past the end as zero.
pub fn get_bit(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    bytes
        .get(byte)
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// Sets the bit at `offset` (the buffer must reach it).
fn put_bit(bytes: &mut [u8], offset: u64, on: bool) {
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    assert!(
        byte < bytes.len(),
        "bit {offset} past a {}-byte buffer",
        bytes.len()
    );
    if on {
        bytes[byte] |= mask;
    } else {
        bytes[byte] &= !mask;
    }
}

/// The `bits`-wide (1..=64) unsigned field at bit `offset`, most significant bit first, with
/// bits past the end of `bytes` read as zero.
pub fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    debug_assert!((1..=64).contains(&bits));
    (0..u64::from(bits)).fold(0u64, |v, i| {
        (v << 1) | u64::from(get_bit(bytes, offset + i))
    })
}

/// The `bits`-wide (1..=64) two's-complement field at bit `offset`.
pub fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(bytes, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset` (the buffer must reach the field's
/// last bit: the caller grows the string first).
pub fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits {
        let on = value & (1u64 << (bits - 1 - i)) != 0;
        put_bit(bytes, offset + u64::from(i), on);
    }
}

/// What a field does when a SET or INCRBY leaves its range (BITFIELD's OVERFLOW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// The new value of an unsigned `bits`-wide field holding `value` after adding `incr`, and
/// whether that overflowed (then the value is wrapped or saturated as `how` says; `Fail`
/// leaves the caller to write nothing). As Redis, a SET is an add of 0 to the new value, so a
/// value wider than the field overflows too.
pub fn add_unsigned(value: u64, incr: i64, bits: u32, how: Overflow) -> (u64, bool) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = || {
        let sum = value.wrapping_add(incr as u64);
        if bits == 64 {
            sum
        } else {
            sum & max
        }
    };
    if value > max || (incr > 0 && incr > max_incr) {
        return match how {
            Overflow::Sat => (max, true),
            _ => (wrapped(), true),
        };
    }
    if incr < 0 && incr < min_incr {
        return match how {
            Overflow::Sat => (0, true),
            _ => (wrapped(), true),
        };
    }
    (value.wrapping_add(incr as u64), false)
}

/// [`add_unsigned`] for a signed field.
pub fn add_signed(value: i64, incr: i64, bits: u32, how: Overflow) -> (i64, bool) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    // These may wrap; they are used only where `value` is in range, where they do not.
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let sum = (value as u64).wrapping_add(incr as u64);
        if bits == 64 {
            return sum as i64;
        }
        let high = u64::MAX << bits;
        if sum & (1u64 << (bits - 1)) != 0 {
            (sum | high) as i64
        } else {
            (sum & !high) as i64
        }
    };
    let up = value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr);
    if up {
        return match how {
            Overflow::Sat => (max, true),
            _ => (wrapped(), true),
        };
    }
    let down = value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr);
    if down {
        return match how {
            Overflow::Sat => (min, true),
            _ => (wrapped(), true),
        };
    }
    (value.wrapping_add(incr), false)
}

/// BITOP's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The result of `op` over `sources`, as long as the longest one (shorter ones read as zeros
/// past their end). NOT takes exactly one source.
pub fn bitop(op: BitOp, sources: &[&[u8]]) -> Vec<u8> {
    let len = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    for (i, src) in sources.iter().enumerate() {
        bitop_fold(op, &mut out, src, i == 0);
    }
    out
}

/// One step of [`bitop`] in place: `out` (zeroed, as long as the longest source) takes the
/// first source, then each further one is folded in. Lets BITOP read each source where it
/// lies instead of copying it first (a 64 MB NOT is one pass, no copy).
pub fn bitop_fold(op: BitOp, out: &mut [u8], src: &[u8], first: bool) {
    debug_assert!(src.len() <= out.len());
    if first {
        if op == BitOp::Not {
            out.iter_mut().zip(src).for_each(|(o, s)| *o = !s);
        } else {
            out[..src.len()].copy_from_slice(src);
        }
        return;
    }
    let (head, tail) = out.split_at_mut(src.len());
    match op {
        BitOp::And => {
            head.iter_mut().zip(src).for_each(|(o, s)| *o &= s);
            tail.fill(0);
        }
        BitOp::Or => head.iter_mut().zip(src).for_each(|(o, s)| *o |= s),
        BitOp::Xor => head.iter_mut().zip(src).for_each(|(o, s)| *o ^= s),
        // NOT has one source: nothing to fold.
        BitOp::Not => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_count(b: &[u8]) -> u64 {
        b.iter().map(|x| u64::from(x.count_ones())).sum()
    }

    #[test]
    fn popcount_matches_a_byte_count_at_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(popcount(&data[start..end]), naive_count(&data[start..end]));
            }
        }
    }

    #[test]
    fn zero_extend_keeps_the_bytes_and_zeroes_the_rest() {
        let mut v = crate::ThinVec::from(&b"ab"[..]);
        zero_extend(&mut v, 10_000);
        assert_eq!(&v[..2], b"ab");
        assert!(v[2..].iter().all(|&b| b == 0) && v.len() == 10_000);
        zero_extend(&mut v, 5);
        assert_eq!(v.len(), 10_000, "never shrinks");
    }

    #[test]
    fn first_bit_finds_ones_and_zeros() {
        assert_eq!(first_bit(&[0, 0, 0x10], true), Some(19));
        assert_eq!(first_bit(&[0xff, 0xff, 0xfe], false), Some(23));
        assert_eq!(first_bit(&[0xff; 20], false), None);
        assert_eq!(first_bit(&[0; 20], true), None);
        let mut long = vec![0u8; 40];
        long[33] = 1;
        assert_eq!(first_bit(&long, true), Some(33 * 8 + 7));
    }

    #[test]
    fn fields_round_trip_at_odd_offsets() {
        let mut buf = vec![0u8; 16];
        set_field(&mut buf, 3, 13, 0x1abc);
        assert_eq!(get_unsigned(&buf, 3, 13), 0x1abc);
        assert_eq!(get_signed(&buf, 3, 13), 0x1abc - 0x2000);
        set_field(&mut buf, 7, 64, u64::MAX - 5);
        assert_eq!(get_signed(&buf, 7, 64), -6);
        assert_eq!(
            get_unsigned(&[0x80], 0, 9),
            0x100,
            "bits past the end read as zero"
        );
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(add_unsigned(250, 10, 8, Overflow::Wrap), (4, true));
        assert_eq!(add_unsigned(250, 10, 8, Overflow::Sat), (255, true));
        assert_eq!(add_unsigned(5, -10, 8, Overflow::Sat), (0, true));
        assert_eq!(add_unsigned(5, -10, 8, Overflow::Wrap), (251, true));
        assert_eq!(add_unsigned(u64::MAX, 0, 8, Overflow::Wrap), (255, true));
        assert_eq!(add_signed(120, 10, 8, Overflow::Wrap), (-126, true));
        assert_eq!(add_signed(120, 10, 8, Overflow::Sat), (127, true));
        assert_eq!(add_signed(-120, -10, 8, Overflow::Sat), (-128, true));
        assert_eq!(
            add_signed(i64::MAX, 1, 64, Overflow::Wrap),
            (i64::MIN, true)
        );
        assert_eq!(
            add_signed(i64::MIN, -1, 64, Overflow::Sat),
            (i64::MIN, true)
        );
        assert_eq!(add_signed(-3, 2, 4, Overflow::Fail), (-1, false));
    }

    #[test]
    fn bitop_pads_short_sources_with_zeros() {
        assert_eq!(bitop(BitOp::And, &[b"\xff\xff", b"\x0f"]), b"\x0f\x00");
        assert_eq!(bitop(BitOp::Or, &[b"\x01", b"\x10\x20"]), b"\x11\x20");
        assert_eq!(bitop(BitOp::Xor, &[b"\xff", b"\x0f", b""]), b"\xf0");
        assert_eq!(bitop(BitOp::Not, &[b"\x0f"]), b"\xf0");
        assert!(bitop(BitOp::And, &[b"", b""]).is_empty());
    }
}
