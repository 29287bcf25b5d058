//! LEB128 varints: the length prefixes of the packed encodings (list nodes, small hashes).

/// Bytes needed for `n`.
pub fn len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Append `n`.
pub fn put(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Read the varint at `at`: (value, offset after it).
pub fn get(buf: &[u8], at: usize) -> (usize, usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, at);
    loop {
        let b = buf[i];
        n |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b < 0x80 {
            return (n, i);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        for n in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 40] {
            let mut b = Vec::new();
            super::put(&mut b, n);
            assert_eq!(b.len(), super::len(n));
            assert_eq!(super::get(&b, 0), (n, b.len()));
        }
    }
}
