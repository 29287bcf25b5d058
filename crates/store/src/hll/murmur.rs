//! The hash that decides which register an element lands in and how long its run of zeroes is.
//!
//! Redis uses MurmurHash2's 64-bit variant ("MurmurHash64A") with a fixed seed. Every byte of a
//! stored HLL depends on this function, so it must agree with Redis bit for bit: an HLL created by
//! Redis (RDB, replication, `DUMP`/`RESTORE`) and then updated here must keep meaning the same set.

use super::{HLL_P, HLL_P_MASK, HLL_Q};

/// Multiplier of MurmurHash64A.
const M: u64 = 0xc6a4_a793_5bd1_e995;
/// Shift of MurmurHash64A.
const R: u32 = 47;
/// The seed Redis hashes HLL elements with (`hllPatLen`).
pub const HLL_HASH_SEED: u32 = 0xadc8_3b19;

/// MurmurHash64A as Redis computes it on a little-endian machine.
///
/// Why this exact shape: Redis reads the input in 8-byte words in native order, which on the
/// x86/ARM machines it runs on is little-endian, so words are assembled little-endian here whatever
/// the host is; the length is folded in as a 64-bit product and the seed is Redis's 32-bit
/// `unsigned int` parameter (zero-extended), so it is a `u32` here too. All arithmetic wraps, as
/// C's unsigned arithmetic does.
pub fn murmurhash64a(key: &[u8], seed: u32) -> u64 {
    let mut h = u64::from(seed) ^ (key.len() as u64).wrapping_mul(M);
    let mut words = key.chunks_exact(8);
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        let mut k = u64::from_le_bytes(buf);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        // The tail bytes are xored in at their little-endian positions, then mixed once.
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Register index and run length ("000..1" pattern length, at least 1, at most `HLL_Q + 1`) of
/// `element` (Redis's `hllPatLen`).
///
/// Why: the low `HLL_P` bits of the hash pick the register; the remaining bits, with a sentinel
/// bit forced at position `HLL_Q`, give the position of the first set bit, which is what a
/// register remembers (its maximum). The sentinel caps the count at 51 so it always fits the
/// 6-bit registers.
pub fn pat_len(element: &[u8]) -> (usize, u8) {
    let hash = murmurhash64a(element, HLL_HASH_SEED);
    let index = (hash & HLL_P_MASK as u64) as usize;
    let rest = (hash >> HLL_P) | (1u64 << HLL_Q);
    // `rest` is non-zero, so trailing_zeros() <= HLL_Q and the count fits a u8.
    let count = rest.trailing_zeros() as u8 + 1;
    (index, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_bounded() {
        for i in 0..2000u32 {
            let (index, count) = pat_len(format!("x{i}").as_bytes());
            assert!(index < super::super::HLL_REGISTERS);
            assert!((1..=HLL_Q as u8 + 1).contains(&count));
        }
    }

    #[test]
    fn known_positions() {
        // From the real server: PFADD k a b c decodes as
        // "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603".
        let mut got = [pat_len(b"a"), pat_len(b"b"), pat_len(b"c")];
        got.sort_unstable();
        assert_eq!(got, [(8436, 1), (12711, 2), (15780, 1)]);
    }
}
