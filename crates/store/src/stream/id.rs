//! Stream IDs: `<ms>-<seq>`, two unsigned 64-bit numbers compared in that order.
//!
//! Parsing follows Redis 7.0's `streamGenericParseIDOrReply` exactly, quirks included, because
//! clients see which arguments are accepted: the argument is read as a C string (cut at the
//! first NUL byte) of at most 127 bytes, split at its first `-`, and each part goes through
//! `string2ull` — `string2ll` first, then C's `strtoull`, which allows leading white space, a
//! `+` sign, and even a `-` sign on the sequence part (`5- -5` is `5-18446744073709551611`).

use std::fmt;

/// A stream entry ID. Ordered as Redis orders them (milliseconds first, then sequence), which
/// is also the order of their 128-bit big-endian encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`: the smallest ID, what `-` means, and "none" for the stream's bookkeeping IDs.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID, what `+` means.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An ID from its two parts.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// Whether this is `0-0` (Redis's `streamIDEqZero`).
    pub fn is_zero(self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID (`streamIncrID`); `None` for the largest ID, where Redis reports an error
    /// (and XRANGE's exclusive start answers "invalid start ID for the interval").
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId {
                ms: self.ms,
                seq: self.seq + 1,
            })
        } else if self.ms < u64::MAX {
            Some(StreamId {
                ms: self.ms + 1,
                seq: 0,
            })
        } else {
            None
        }
    }

    /// The previous ID (`streamDecrID`); `None` for `0-0`.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId {
                ms: self.ms,
                seq: self.seq - 1,
            })
        } else if self.ms > 0 {
            Some(StreamId {
                ms: self.ms - 1,
                seq: u64::MAX,
            })
        } else {
            None
        }
    }

    /// The 128-bit big-endian form: how RDB files store node keys and PEL IDs.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Reads the 128-bit big-endian form; `None` unless `b` is exactly 16 bytes (Redis's "Stream
    /// node key entry is not the size of a stream ID").
    pub fn from_be_bytes(b: &[u8]) -> Option<StreamId> {
        let b: &[u8; 16] = b.try_into().ok()?;
        let ms = u64::from_be_bytes(b[..8].try_into().ok()?);
        let seq = u64::from_be_bytes(b[8..].try_into().ok()?);
        Some(StreamId { ms, seq })
    }

    /// Appends the `<ms>-<seq>` text to `out` without an intermediate string.
    pub fn write_to(self, out: &mut Vec<u8>) {
        let mut buf = itoa::Buffer::new();
        out.extend_from_slice(buf.format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(buf.format(self.seq).as_bytes());
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Why an ID argument was refused. The `Display` text is Redis's error reply, code included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not an ID (or `-`/`+` where a real ID is needed).
    #[error("ERR Invalid stream ID specified as stream command argument")]
    Invalid,
    /// `(` before the largest ID as a range start: there is no next ID.
    #[error("ERR invalid start ID for the interval")]
    InvalidStart,
    /// `(` before `0-0` as a range end: there is no previous ID.
    #[error("ERR invalid end ID for the interval")]
    InvalidEnd,
}

/// The ID argument of XADD.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum XaddId {
    /// `*`: the stream picks the ID from the clock.
    Auto,
    /// `<ms>-*`: the given milliseconds, the stream picks the sequence.
    AutoSeq(u64),
    /// A complete ID (`<ms>` alone means `<ms>-0`).
    Explicit(StreamId),
}

/// Longest argument Redis copies into its parse buffer.
const MAX_ID_LEN: usize = 127;

/// `string2ull`: `string2ll` (a negative result refused), else C's `strtoull` in base 10 over
/// the whole string.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::num::parse_i64_strict(s) {
        return u64::try_from(v).ok();
    }
    let mut i = s
        .iter()
        .take_while(|&&c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .count();
    let neg = match s.get(i) {
        Some(b'+') => {
            i += 1;
            false
        }
        Some(b'-') => {
            i += 1;
            true
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v = 0u64;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// The shared parser. `strict` refuses `-` and `+`; `allow_auto_seq` accepts `<ms>-*`. The
/// `bool` is Redis's `seq_given`: false only for `<ms>-*`.
fn parse_generic(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto_seq: bool,
) -> Result<(StreamId, bool), IdError> {
    if arg.len() > MAX_ID_LEN {
        return Err(IdError::Invalid);
    }
    let s = &arg[..arg.iter().position(|&c| c == 0).unwrap_or(arg.len())];
    if s == b"-" || s == b"+" {
        if strict {
            return Err(IdError::Invalid);
        }
        return Ok((
            if s == b"-" {
                StreamId::MIN
            } else {
                StreamId::MAX
            },
            true,
        ));
    }
    let (ms_part, seq_part) = match s.iter().position(|&c| c == b'-') {
        Some(d) => (&s[..d], Some(&s[d + 1..])),
        None => (s, None),
    };
    let ms = string2ull(ms_part).ok_or(IdError::Invalid)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if allow_auto_seq => (0, false),
        Some(p) => (string2ull(p).ok_or(IdError::Invalid)?, true),
        None => (missing_seq, true),
    };
    Ok((StreamId { ms, seq }, seq_given))
}

/// Parses an ID where `-` and `+` are allowed (`streamParseIDOrReply`); a lone `<ms>` gets
/// `missing_seq` as its sequence (0 for starts, `u64::MAX` for ends).
pub fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, IdError> {
    parse_generic(arg, missing_seq, false, false).map(|(id, _)| id)
}

/// Parses an ID where `-` and `+` are refused (`streamParseStrictIDOrReply`): XDEL, XACK,
/// XCLAIM, XREAD's IDs, XGROUP CREATE, XSETID, MINID.
pub fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, IdError> {
    parse_generic(arg, missing_seq, true, false).map(|(id, _)| id)
}

/// Parses XADD's ID argument: `*` (compared as a C string, so `*` followed by a NUL byte is
/// `*` too), `<ms>-*`, or a strict ID. Whether `0-0` is refused is [`super::Stream::append`]'s
/// business (Redis checks it before creating the key: see [`super::AppendError::ZeroId`]).
pub fn parse_xadd_id(arg: &[u8]) -> Result<XaddId, IdError> {
    if arg.first() == Some(&b'*') && arg.get(1).is_none_or(|&c| c == 0) {
        return Ok(XaddId::Auto);
    }
    match parse_generic(arg, 0, true, true)? {
        (id, true) => Ok(XaddId::Explicit(id)),
        (id, false) => Ok(XaddId::AutoSeq(id.ms)),
    }
}

/// Parses a range bound that may be exclusive (`streamParseIntervalIDOrReply`): a leading `(`
/// on an argument longer than one byte makes it exclusive and the rest a strict ID. Returns
/// the ID and whether it was exclusive.
pub fn parse_interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), IdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_strict_id(&arg[1..], missing_seq)?, true))
    } else {
        Ok((parse_id(arg, missing_seq)?, false))
    }
}

/// A range start as XRANGE, XPENDING and XAUTOCLAIM read it: missing sequence 0, `(` moves to
/// the next ID.
pub fn parse_range_start(arg: &[u8]) -> Result<StreamId, IdError> {
    match parse_interval_id(arg, 0)? {
        (id, true) => id.incr().ok_or(IdError::InvalidStart),
        (id, false) => Ok(id),
    }
}

/// A range end as XRANGE and XPENDING read it: missing sequence `u64::MAX`, `(` moves to the
/// previous ID.
pub fn parse_range_end(arg: &[u8]) -> Result<StreamId, IdError> {
    match parse_interval_id(arg, u64::MAX)? {
        (id, true) => id.decr().ok_or(IdError::InvalidEnd),
        (id, false) => Ok(id),
    }
}
