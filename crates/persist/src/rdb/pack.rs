//! Encoders of the compact blobs Redis 7.0 writes for small values — listpack and intset —
//! byte for byte as Redis builds them, so a DUMP of a small hash, sorted set, set or list is the
//! payload Redis would give, and redis-server loads them without converting.

use std::borrow::Cow;

/// Largest string a listpack entry header of 6 bits (12 bits) can give a length.
const STR6_MAX: usize = 63;
const STR12_MAX: usize = 4095;

/// A listpack holding `entries` in order: header (total bytes, element count; the count
/// saturates at 65535 as in Redis), the entries, the end byte.
pub(crate) fn listpack<'a>(entries: impl Iterator<Item = Cow<'a, [u8]>>) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    let mut count = 0usize;
    for e in entries {
        append(&mut out, &e);
        count += 1;
    }
    out.push(0xFF);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    out[4..6].copy_from_slice(&(count.min(65535) as u16).to_le_bytes());
    out
}

/// One entry: an integer encoding when the string is a canonical integer (Redis's
/// `lpStringToInt64`), otherwise a string encoding; then the entry's length backwards.
fn append(out: &mut Vec<u8>, elem: &[u8]) {
    let start = out.len();
    match resp::parse_i64(elem) {
        Some(v) => int_entry(out, v),
        None => str_entry(out, elem),
    }
    let len = out.len() - start;
    backlen(out, len);
}

fn int_entry(out: &mut Vec<u8>, v: i64) {
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u64 & 0x1FFF) as u16;
        out.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
    } else if i16::try_from(v).is_ok() {
        out.push(0xF1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if i32::try_from(v).is_ok() {
        out.push(0xF3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn str_entry(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n <= STR6_MAX {
        out.push(0x80 | n as u8);
    } else if n <= STR12_MAX {
        out.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
}

/// The entry's length, readable from its last byte backwards: 7 bits a byte, the first byte
/// written holds the highest bits, every byte after it has the top bit set (`lpEncodeBacklen`).
fn backlen(out: &mut Vec<u8>, len: usize) {
    let l = len as u64;
    let bytes: &[u64] = match l {
        0..=127 => &[l],
        128..=16382 => &[l >> 7, (l & 127) | 128],
        16383..=2097150 => &[l >> 14, ((l >> 7) & 127) | 128, (l & 127) | 128],
        2097151..=268435454 => &[
            l >> 21,
            ((l >> 14) & 127) | 128,
            ((l >> 7) & 127) | 128,
            (l & 127) | 128,
        ],
        _ => &[
            l >> 28,
            ((l >> 21) & 127) | 128,
            ((l >> 14) & 127) | 128,
            ((l >> 7) & 127) | 128,
            (l & 127) | 128,
        ],
    };
    out.extend(bytes.iter().map(|&b| b as u8));
}

/// An intset: element width (2, 4 or 8), count, then the sorted integers, little-endian.
pub(crate) fn intset(width: u8, len: usize, values: impl Iterator<Item = i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + len * usize::from(width));
    out.extend_from_slice(&u32::from(width).to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes()[..usize::from(width)]);
    }
    out
}

/// A sorted set's score as Redis puts it in a listpack (`d2string`): an integer when the
/// double is one (and within ±2^62), else `%.17g`.
pub(crate) fn score_text(score: f64) -> String {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if score.is_finite() && score != 0.0 && (-HALF..=HALF).contains(&score) {
        let i = score as i64;
        if i as f64 == score {
            return i.to_string();
        }
    }
    resp::format_double(score)
}

#[cfg(test)]
mod tests {
    use super::super::packed;
    use super::*;

    #[test]
    fn listpacks_decode_back_with_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let elems: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"-4097",
            b"32767",
            b"-32768",
            b"32768",
            b"8388607",
            b"-8388608",
            b"8388608",
            b"2147483647",
            b"-2147483648",
            b"2147483648",
            b"-9223372036854775808",
            b"9223372036854775807",
            b"007",
            b"-0",
            b"+1",
            b"",
            b"a",
            &mid,
            &long,
        ];
        let lp = listpack(elems.iter().map(|e| Cow::Borrowed(*e)));
        let back: Vec<Vec<u8>> = packed::listpack(&lp)
            .expect("decodes")
            .iter()
            .map(packed::Elem::to_vec)
            .collect();
        assert_eq!(back, elems.iter().map(|e| e.to_vec()).collect::<Vec<_>>());
    }

    /// What Redis 7.0.15 writes for `HSET h f v g 42` (from its DUMP).
    #[test]
    fn a_small_hash_listpack_is_byte_identical_to_redis() {
        let fields: [&[u8]; 4] = [b"f", b"v", b"g", b"42"];
        let lp = listpack(fields.iter().map(|e| Cow::Borrowed(*e)));
        assert_eq!(
            lp,
            b"\x12\x00\x00\x00\x04\x00\x81f\x02\x81v\x02\x81g\x02*\x01\xff".to_vec()
        );
    }

    #[test]
    fn scores_print_as_redis_stores_them() {
        assert_eq!(score_text(2.0), "2");
        assert_eq!(score_text(1.5), "1.5");
        assert_eq!(score_text(0.1), "0.10000000000000001");
        assert_eq!(score_text(-0.0), "-0");
        assert_eq!(score_text(f64::INFINITY), "inf");
        assert_eq!(score_text(1e17), "100000000000000000");
        assert_eq!(score_text(1e300), "1.0000000000000001e+300");
    }
}
