//! A listpack codec producing and reading exactly Redis 7.0's bytes (`src/listpack.c`).
//!
//! A listpack is `total-bytes (u32 LE) | element-count (u16 LE, 65535 = "too many to say") |
//! elements... | 0xFF`. Each element is an encoding (a tag byte, maybe a length, then the
//! integer or the string bytes) followed by a "backlen": the encoding's length written so it
//! can be read from right to left, which is what lets a stream node be walked backwards.
//!
//! Why our own codec instead of the list module's packed nodes: stream nodes travel as they are
//! into RDB files and DUMP payloads and come back from them, so their bytes must be Redis's.
//!
//! Positions are byte offsets into the listpack. Every reader here is bounds-checked and
//! returns `None` rather than panicking, because node bytes can come from a file: the stream
//! validates a node before adopting it (`node::validate`), and the checks below make a
//! mistake in that validation a wrong answer, never an out-of-bounds read.

use crate::num::parse_i64_strict;
use crate::ThinVec;

/// Bytes of the header: total length (u32) and element count (u16).
pub(crate) const HDR_SIZE: usize = 6;
/// The terminator byte, also the last byte of every listpack.
pub(crate) const EOF: u8 = 0xFF;
/// The header's element count when it does not fit 16 bits.
const NUMELE_UNKNOWN: u16 = u16::MAX;

/// One element as stored: an integer (Redis turns every string that `string2ll` accepts into
/// one) or a string slice inside the listpack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    /// Stored as an integer; its text is the canonical decimal form.
    Int(i64),
    /// Stored as a string.
    Bytes(&'a [u8]),
}

impl Elem<'_> {
    /// Calls `f` with the element's text without allocating (integers are formatted on the
    /// stack), which is how replies want it.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Elem::Int(v) => f(itoa::Buffer::new().format(v).as_bytes()),
            Elem::Bytes(b) => f(b),
        }
    }

    /// The element's text as an owned vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// Length of the element's text (what a bulk reply's header says).
    pub fn len(&self) -> usize {
        self.with_bytes(|b| b.len())
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the element's text equals `s` (Redis compares the string form: a field stored as
    /// the integer 12 equals the argument "12").
    pub fn eq_bytes(&self, s: &[u8]) -> bool {
        self.with_bytes(|b| b == s)
    }
}

/// How many bytes `lpEncodeBacklen` uses for an encoding of `l` bytes. The bounds are Redis's
/// to the letter (`< 16383`, not `<= 16383`), or our entries would be a byte off theirs.
pub(crate) fn backlen_size(l: u64) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

/// Appends the backlen of an `l`-byte encoding: big-endian 7-bit groups, every byte but the
/// first flagged with the high bit (so it reads right to left).
fn push_backlen(out: &mut ThinVec<u8>, l: u64) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Reads the backlen whose last byte is at `end`, right to left (`lpDecodeBacklen`); `None`
/// past five bytes or outside the buffer.
fn read_backlen(lp: &[u8], end: usize) -> Option<u64> {
    let mut val = 0u64;
    let mut shift = 0u32;
    let mut p = end;
    loop {
        let b = *lp.get(p)?;
        val |= u64::from(b & 127) << shift;
        if b & 128 == 0 {
            return Some(val);
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
        p = p.checked_sub(1)?;
    }
}

/// The integer encoding Redis picks for `v` (`lpEncodeIntegerGetType`): the smallest of 7, 13,
/// 16, 24, 32 or 64 bits. Returns the bytes and their length.
fn encode_int(v: i64) -> ([u8; 9], usize) {
    let mut e = [0u8; 9];
    let u = v as u64;
    let len = if (0..=127).contains(&v) {
        e[0] = v as u8;
        1
    } else if (-4096..=4095).contains(&v) {
        let w = (u & 0x1FFF) as u16;
        e[0] = 0xC0 | (w >> 8) as u8;
        e[1] = w as u8;
        2
    } else if (-32768..=32767).contains(&v) {
        e[0] = 0xF1;
        e[1..3].copy_from_slice(&u.to_le_bytes()[..2]);
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        e[0] = 0xF2;
        e[1..4].copy_from_slice(&u.to_le_bytes()[..3]);
        4
    } else if (-2_147_483_648..=2_147_483_647).contains(&v) {
        e[0] = 0xF3;
        e[1..5].copy_from_slice(&u.to_le_bytes()[..4]);
        5
    } else {
        e[0] = 0xF4;
        e[1..9].copy_from_slice(&u.to_le_bytes());
        9
    };
    (e, len)
}

/// Bytes the tag of the element at `p` occupies before its data (`lpCurrentEncodedSizeBytes`);
/// `None` for a byte that starts no valid encoding.
fn tag_size(b: u8) -> Option<usize> {
    match b {
        _ if b & 0x80 == 0 => Some(1),
        _ if b & 0xC0 == 0x80 => Some(1),
        _ if b & 0xE0 == 0xC0 => Some(1),
        _ if b & 0xF0 == 0xE0 => Some(2),
        0xF0 => Some(5),
        0xF1..=0xF4 | EOF => Some(1),
        _ => None,
    }
}

/// Length of the element's encoding without its backlen (`lpCurrentEncodedSizeUnsafe`), read
/// with bounds checks.
fn encoded_size(lp: &[u8], p: usize) -> Option<usize> {
    let b = *lp.get(p)?;
    Some(match b {
        _ if b & 0x80 == 0 => 1,
        _ if b & 0xC0 == 0x80 => 1 + (b & 0x3F) as usize,
        _ if b & 0xE0 == 0xC0 => 2,
        _ if b & 0xF0 == 0xE0 => 2 + ((((b & 0x0F) as usize) << 8) | *lp.get(p + 1)? as usize),
        0xF0 => 5 + u32::from_le_bytes(lp.get(p + 1..p + 5)?.try_into().ok()?) as usize,
        0xF1 => 3,
        0xF2 => 4,
        0xF3 => 5,
        0xF4 => 9,
        EOF => 1,
        _ => return None,
    })
}

/// Bytes the whole element at `p` occupies, backlen included.
fn element_size(lp: &[u8], p: usize) -> Option<usize> {
    let enc = encoded_size(lp, p)?;
    Some(enc + backlen_size(enc as u64))
}

/// The total length the header records.
pub(crate) fn total_bytes(lp: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(lp.get(0..4)?.try_into().ok()?))
}

/// The element count the header records (65535 when unknown).
pub(crate) fn num_elements(lp: &[u8]) -> Option<u16> {
    Some(u16::from_le_bytes(lp.get(4..6)?.try_into().ok()?))
}

/// An empty listpack with room for `capacity` bytes, as `lpNew` preallocates.
pub(crate) fn new(capacity: usize) -> ThinVec<u8> {
    let mut lp = ThinVec::with_capacity(capacity.max(HDR_SIZE + 1));
    lp.extend_from_slice(&[7, 0, 0, 0, 0, 0, EOF]);
    lp
}

/// Position of the first element, `None` if there is none.
pub(crate) fn first(lp: &[u8]) -> Option<usize> {
    (*lp.get(HDR_SIZE)? != EOF).then_some(HDR_SIZE)
}

/// Position of the element after the one at `p`, `None` at the end.
pub(crate) fn next(lp: &[u8], p: usize) -> Option<usize> {
    let q = p.checked_add(element_size(lp, p)?)?;
    (*lp.get(q)? != EOF).then_some(q)
}

/// Position of the element before the one at `p` (which may be the terminator), `None` at the
/// start.
pub(crate) fn prev(lp: &[u8], p: usize) -> Option<usize> {
    if p <= HDR_SIZE {
        return None;
    }
    let enc = read_backlen(lp, p - 1)?;
    let size = enc.checked_add(backlen_size(enc) as u64)?;
    let q = p.checked_sub(usize::try_from(size).ok()?)?;
    (q >= HDR_SIZE).then_some(q)
}

/// Position of the last element, `None` if the listpack is empty.
pub(crate) fn last(lp: &[u8]) -> Option<usize> {
    prev(lp, lp.len().checked_sub(1)?)
}

/// The element at `p` (`lpGet`). `None` for the terminator or a bad encoding.
pub(crate) fn get(lp: &[u8], p: usize) -> Option<Elem<'_>> {
    let b = *lp.get(p)?;
    let le = |n: usize| -> Option<u64> {
        let mut v = 0u64;
        for (i, &x) in lp.get(p + 1..p + 1 + n)?.iter().enumerate() {
            v |= u64::from(x) << (8 * i);
        }
        Some(v)
    };
    // Sign-extends the low `bits` bits of `u`.
    let signed = |u: u64, bits: u32| -> i64 { ((u << (64 - bits)) as i64) >> (64 - bits) };
    let v = match b {
        _ if b & 0x80 == 0 => i64::from(b),
        _ if b & 0xC0 == 0x80 => {
            let len = (b & 0x3F) as usize;
            return Some(Elem::Bytes(lp.get(p + 1..p + 1 + len)?));
        }
        _ if b & 0xE0 == 0xC0 => {
            signed((u64::from(b & 0x1F) << 8) | u64::from(*lp.get(p + 1)?), 13)
        }
        _ if b & 0xF0 == 0xE0 => {
            let len = (((b & 0x0F) as usize) << 8) | *lp.get(p + 1)? as usize;
            return Some(Elem::Bytes(lp.get(p + 2..p + 2 + len)?));
        }
        0xF0 => {
            let len = usize::try_from(le(4)?).ok()?;
            return Some(Elem::Bytes(lp.get(p + 5..(p + 5).checked_add(len)?)?));
        }
        0xF1 => signed(le(2)?, 16),
        0xF2 => signed(le(3)?, 24),
        0xF3 => signed(le(4)?, 32),
        0xF4 => le(8)? as i64,
        _ => return None,
    };
    Some(Elem::Int(v))
}

/// The element at `p` as an integer (`lpGetIntegerIfValid`): integer encodings directly,
/// strings if `string2ll` accepts them. `None` otherwise.
pub(crate) fn get_int(lp: &[u8], p: usize) -> Option<i64> {
    match get(lp, p)? {
        Elem::Int(v) => Some(v),
        Elem::Bytes(b) => parse_i64_strict(b),
    }
}

/// Appends elements in one go, keeping the header right (`lpAppend`/`lpAppendInteger` repeated):
/// the terminator is taken off, elements pushed, and the terminator, total length and count
/// put back when the writer is finished.
pub(crate) struct Appender<'a> {
    lp: &'a mut ThinVec<u8>,
    added: usize,
}

impl<'a> Appender<'a> {
    /// Starts appending to `lp`, which must be a well-formed listpack (ours always are).
    pub(crate) fn new(lp: &'a mut ThinVec<u8>) -> Self {
        if lp.last() == Some(&EOF) {
            lp.pop();
        }
        Appender { lp, added: 0 }
    }

    /// Appends an integer element.
    pub(crate) fn int(&mut self, v: i64) {
        let (e, n) = encode_int(v);
        self.lp.extend_from_slice(&e[..n]);
        push_backlen(self.lp, n as u64);
        self.added += 1;
    }

    /// Appends a string element, stored as an integer when Redis would (`lpEncodeGetType`).
    pub(crate) fn str(&mut self, s: &[u8]) {
        if let Some(v) = parse_i64_strict(s) {
            return self.int(v);
        }
        let len = s.len();
        let enc = if len < 64 {
            self.lp.push(0x80 | len as u8);
            1 + len
        } else if len < 4096 {
            self.lp.push(0xE0 | (len >> 8) as u8);
            self.lp.push(len as u8);
            2 + len
        } else {
            self.lp.push(0xF0);
            self.lp.extend_from_slice(&(len as u32).to_le_bytes());
            5 + len
        };
        self.lp.extend_from_slice(s);
        push_backlen(self.lp, enc as u64);
        self.added += 1;
    }
}

impl Drop for Appender<'_> {
    fn drop(&mut self) {
        self.lp.push(EOF);
        let total = self.lp.len() as u32;
        self.lp[0..4].copy_from_slice(&total.to_le_bytes());
        let n = num_elements(self.lp).unwrap_or(0);
        if n != NUMELE_UNKNOWN {
            let n = (n as usize + self.added).min(NUMELE_UNKNOWN as usize) as u16;
            self.lp[4..6].copy_from_slice(&n.to_le_bytes());
        }
    }
}

/// Replaces the element at `p` with the integer `v` (`lpReplaceInteger`), moving what follows
/// if the new encoding has another size. Returns the change in size (so a caller holding a
/// later position can follow it), or `None` if `p` is not an element.
pub(crate) fn replace_int(lp: &mut ThinVec<u8>, p: usize, v: i64) -> Option<isize> {
    let old = element_size(lp, p).filter(|_| lp.get(p) != Some(&EOF))?;
    if p + old >= lp.len() {
        return None;
    }
    let (e, n) = encode_int(v);
    let mut bytes = [0u8; 9 + 5];
    bytes[..n].copy_from_slice(&e[..n]);
    let b = backlen_size(n as u64);
    // Integer encodings are at most 9 bytes, so their backlen is one byte.
    bytes[n] = n as u8;
    let new = n + b;
    if new == old {
        lp[p..p + new].copy_from_slice(&bytes[..new]);
    } else {
        lp.splice(p..p + old, bytes[..new].iter().copied());
        let total = lp.len() as u32;
        lp[0..4].copy_from_slice(&total.to_le_bytes());
    }
    Some(new as isize - old as isize)
}

/// Redis's `lpValidateNext`: checks the element at `*pp` lies inside the listpack and its
/// backlen agrees with its encoding, then moves `*pp` to the next element (`None` after the
/// terminator). `false` if anything is out of place, including being called with `None`.
pub(crate) fn validate_next(lp: &[u8], pp: &mut Option<usize>) -> bool {
    let Some(p) = *pp else { return false };
    let size = lp.len();
    let out_of_range = |x: usize| x < HDR_SIZE || x + 1 > size;
    if out_of_range(p) {
        return false;
    }
    if lp[p] == EOF {
        *pp = None;
        return true;
    }
    let Some(tag) = tag_size(lp[p]) else {
        return false;
    };
    if out_of_range(p + tag) {
        return false;
    }
    let Some(enc) = encoded_size(lp, p) else {
        return false;
    };
    let back = backlen_size(enc as u64);
    let Some(q) = p.checked_add(enc + back) else {
        return false;
    };
    if out_of_range(q) {
        return false;
    }
    match read_backlen(lp, q - 1) {
        Some(prevlen) if prevlen + back as u64 == (enc + back) as u64 => {
            *pp = Some(q);
            true
        }
        _ => false,
    }
}

/// The header checks of `lpValidateIntegrity` (what Redis runs before its stream checks): room
/// for the header and terminator, the recorded length equal to the real one, the terminator
/// last.
pub(crate) fn validate_header(lp: &[u8]) -> bool {
    lp.len() > HDR_SIZE
        && total_bytes(lp).map(|t| t as usize) == Some(lp.len())
        && lp.last() == Some(&EOF)
}

/// Where validation starts (`lpValidateFirst`): the first element, `None` if the listpack is
/// empty.
pub(crate) fn validate_first(lp: &[u8]) -> Option<usize> {
    first(lp)
}
