//! Decoders for the packed blobs inside RDB values: ziplist, listpack, intset and zipmap, as
//! Redis lays them out (little-endian headers). Every read is bounds-checked: a bad blob is an
//! error naming what is wrong, never a panic.

/// One packed element: a string or an integer (Redis stores small integers as integers).
pub(crate) enum Elem<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        match self {
            Elem::Bytes(b) => b.to_vec(),
            Elem::Int(i) => itoa::Buffer::new().format(*i).as_bytes().to_vec(),
        }
    }
}

type Result<T> = std::result::Result<T, String>;

fn take<'a>(buf: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8]> {
    let end = at
        .checked_add(n)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| format!("a packed entry runs past its blob at byte {at}"))?;
    let s = &buf[*at..end];
    *at = end;
    Ok(s)
}

fn le_int(bytes: &[u8]) -> i64 {
    // Sign-extend a little-endian integer of 1 to 8 bytes.
    let mut v: u64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    let bits = 8 * bytes.len() as u32;
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        v |= !0u64 << bits;
    }
    v as i64
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The elements of a ziplist.
pub(crate) fn ziplist(buf: &[u8]) -> Result<Vec<Elem<'_>>> {
    let mut at = 0;
    let header = take(buf, &mut at, 10)?;
    let zlbytes = u32_le(&header[0..4]) as usize;
    if zlbytes != buf.len() {
        return Err(format!(
            "ziplist says {zlbytes} bytes, blob has {}",
            buf.len()
        ));
    }
    let mut out = Vec::new();
    loop {
        let first = *take(buf, &mut at, 1)?.first().unwrap_or(&0xFF);
        if first == 0xFF {
            break;
        }
        // prevlen: 1 byte, or 0xFE and 4 more.
        if first == 0xFE {
            take(buf, &mut at, 4)?;
        }
        let enc = take(buf, &mut at, 1)?[0];
        let elem = match enc >> 6 {
            0 => Elem::Bytes(take(buf, &mut at, usize::from(enc & 0x3F))?),
            1 => {
                let b = take(buf, &mut at, 1)?[0];
                let len = (usize::from(enc & 0x3F) << 8) | usize::from(b);
                Elem::Bytes(take(buf, &mut at, len)?)
            }
            2 => {
                let l = take(buf, &mut at, 4)?;
                let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                Elem::Bytes(take(buf, &mut at, len)?)
            }
            _ => match enc {
                0xC0 => Elem::Int(le_int(take(buf, &mut at, 2)?)),
                0xD0 => Elem::Int(le_int(take(buf, &mut at, 4)?)),
                0xE0 => Elem::Int(le_int(take(buf, &mut at, 8)?)),
                0xF0 => Elem::Int(le_int(take(buf, &mut at, 3)?)),
                0xFE => Elem::Int(le_int(take(buf, &mut at, 1)?)),
                0xF1..=0xFD => Elem::Int(i64::from(enc & 0x0F) - 1),
                _ => return Err(format!("bad ziplist entry encoding {enc:#x}")),
            },
        };
        out.push(elem);
    }
    Ok(out)
}

/// The elements of a listpack.
pub(crate) fn listpack(buf: &[u8]) -> Result<Vec<Elem<'_>>> {
    let mut at = 0;
    let header = take(buf, &mut at, 6)?;
    let total = u32_le(&header[0..4]) as usize;
    if total != buf.len() {
        return Err(format!(
            "listpack says {total} bytes, blob has {}",
            buf.len()
        ));
    }
    let mut out = Vec::new();
    loop {
        let start = at;
        let enc = take(buf, &mut at, 1)?[0];
        if enc == 0xFF {
            break;
        }
        let elem = if enc & 0x80 == 0 {
            Elem::Int(i64::from(enc & 0x7F))
        } else if enc & 0xC0 == 0x80 {
            Elem::Bytes(take(buf, &mut at, usize::from(enc & 0x3F))?)
        } else if enc & 0xE0 == 0xC0 {
            let b = take(buf, &mut at, 1)?[0];
            let v = (i64::from(enc & 0x1F) << 8) | i64::from(b);
            Elem::Int(if v >= 1 << 12 { v - (1 << 13) } else { v })
        } else if enc & 0xF0 == 0xE0 {
            let b = take(buf, &mut at, 1)?[0];
            let len = (usize::from(enc & 0x0F) << 8) | usize::from(b);
            Elem::Bytes(take(buf, &mut at, len)?)
        } else {
            match enc {
                0xF0 => {
                    let len = u32_le(take(buf, &mut at, 4)?) as usize;
                    Elem::Bytes(take(buf, &mut at, len)?)
                }
                0xF1 => Elem::Int(le_int(take(buf, &mut at, 2)?)),
                0xF2 => Elem::Int(le_int(take(buf, &mut at, 3)?)),
                0xF3 => Elem::Int(le_int(take(buf, &mut at, 4)?)),
                0xF4 => Elem::Int(le_int(take(buf, &mut at, 8)?)),
                _ => return Err(format!("bad listpack entry encoding {enc:#x}")),
            }
        };
        // The entry's length again, backwards, in 1 to 5 bytes.
        let len = at - start;
        let backlen = match len {
            0..=127 => 1,
            128..=16_383 => 2,
            16_384..=2_097_151 => 3,
            2_097_152..=268_435_455 => 4,
            _ => 5,
        };
        take(buf, &mut at, backlen)?;
        out.push(elem);
    }
    Ok(out)
}

/// The integers of an intset.
pub(crate) fn intset(buf: &[u8]) -> Result<Vec<i64>> {
    let mut at = 0;
    let header = take(buf, &mut at, 8)?;
    let width = u32_le(&header[0..4]) as usize;
    let len = u32_le(&header[4..8]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(format!("bad intset encoding {width}"));
    }
    if len.checked_mul(width) != Some(buf.len() - 8) {
        return Err(format!(
            "intset of {len} × {width} bytes in {} bytes",
            buf.len()
        ));
    }
    (0..len)
        .map(|_| take(buf, &mut at, width).map(le_int))
        .collect()
}

/// The field/value pairs of a zipmap (hashes of Redis before 2.6).
pub(crate) fn zipmap(buf: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut at = 1; // zmlen: a count hint
    let mut out = Vec::new();
    let len = |at: &mut usize| -> Result<Option<usize>> {
        let b = take(buf, at, 1)?[0];
        Ok(match b {
            0xFF => None,
            0xFE => Some(u32_le(take(buf, at, 4)?) as usize),
            n => Some(usize::from(n)),
        })
    };
    while let Some(klen) = len(&mut at)? {
        let field = take(buf, &mut at, klen)?.to_vec();
        let vlen = len(&mut at)?.ok_or("zipmap ends inside an entry")?;
        let free = usize::from(take(buf, &mut at, 1)?[0]);
        let value = take(buf, &mut at, vlen)?.to_vec();
        take(buf, &mut at, free)?;
        out.push((field, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[Elem<'_>]) -> Vec<String> {
        v.iter()
            .map(|e| String::from_utf8_lossy(&e.to_vec()).into_owned())
            .collect()
    }

    #[test]
    fn listpack_entries_of_every_encoding() {
        // Built by hand after Redis's listpack.c: "a", 5, -100 (13-bit), 1000 (13-bit),
        // 70000 (int24), a 200-byte string (12-bit length).
        let mut body = Vec::new();
        let mut push = |entry: &[u8]| {
            body.extend_from_slice(entry);
            let l = entry.len();
            if l < 128 {
                body.push(l as u8);
            } else {
                body.push((l >> 7) as u8);
                body.push((l & 127) as u8 | 128);
            }
        };
        push(&[0x81, b'a']);
        push(&[0x05]);
        let neg = (-100i64 + 8192) as u16;
        push(&[0xC0 | (neg >> 8) as u8, neg as u8]);
        push(&[0xC0 | (1000u16 >> 8) as u8, 1000u16 as u8]);
        push(&[0xF2, 0x70, 0x11, 0x01]);
        let long = vec![b'x'; 200];
        let mut e = vec![0xE0, 200];
        e.extend_from_slice(&long);
        push(&e);
        let mut lp = Vec::new();
        lp.extend_from_slice(&((body.len() + 7) as u32).to_le_bytes());
        lp.extend_from_slice(&6u16.to_le_bytes());
        lp.extend_from_slice(&body);
        lp.push(0xFF);
        let got = strs(&listpack(&lp).unwrap());
        assert_eq!(got[..5], ["a", "5", "-100", "1000", "70000"]);
        assert_eq!(got[5], "x".repeat(200));
    }

    #[test]
    fn ziplist_intset_and_zipmap_as_old_redis_wrote_them() {
        // Ziplist: "ab", 7 (4-bit immediate), -2 (int8), 300 (int16), 100000 (int24).
        let mut body = vec![0x00, 0x02, b'a', b'b'];
        body.extend_from_slice(&[0x04, 0xF8]);
        body.extend_from_slice(&[0x02, 0xFE, 0xFE]);
        body.extend_from_slice(&[0x03, 0xC0, 0x2C, 0x01]);
        body.extend_from_slice(&[0x04, 0xF0, 0xA0, 0x86, 0x01]);
        let mut zl = Vec::new();
        zl.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
        zl.extend_from_slice(&0u32.to_le_bytes());
        zl.extend_from_slice(&5u16.to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(0xFF);
        assert_eq!(
            strs(&ziplist(&zl).unwrap()),
            ["ab", "7", "-2", "300", "100000"]
        );
        // Intset of 16-bit values.
        let mut is = 2u32.to_le_bytes().to_vec();
        is.extend_from_slice(&2u32.to_le_bytes());
        is.extend_from_slice(&(-5i16).to_le_bytes());
        is.extend_from_slice(&300i16.to_le_bytes());
        assert_eq!(intset(&is).unwrap(), vec![-5, 300]);
        // Zipmap {"f": "vv"} with one free byte after the value.
        let zm = [1, 1, b'f', 2, 1, b'v', b'v', 0, 0xFF];
        assert_eq!(zipmap(&zm).unwrap(), vec![(b"f".to_vec(), b"vv".to_vec())]);
    }

    #[test]
    fn bad_blobs_are_errors_not_panics() {
        assert!(listpack(&[1, 2, 3]).is_err());
        assert!(ziplist(&[0; 9]).is_err());
        assert!(intset(&[2, 0, 0, 0, 5, 0, 0, 0, 1]).is_err());
        assert!(zipmap(&[1, 5, b'a']).is_err());
        let mut lp = 7u32.to_le_bytes().to_vec();
        lp.extend_from_slice(&[1, 0, 0xF4]);
        assert!(listpack(&lp).is_err());
    }
}
