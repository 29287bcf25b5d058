//! Incremental request parser.
//!
//! Redis clients send either *multibulk* requests (`*<n>\r\n$<len>\r\n<bytes>\r\n…`) or *inline*
//! requests (a line of space-separated words, as typed into telnet). The first byte decides which.
//!
//! The parser never copies a multibulk argument: it records `(start, end)` offsets relative to
//! the first byte of the request, and [`RequestParser::argv`] hands out slices of the caller's
//! buffer. State survives between calls so a request that arrives in many reads (a 100 MB value,
//! or a million tiny arguments) is scanned once, not once per read.
//!
//! Error texts and the points where Redis gives up on a connection are Redis 7.0's to the letter:
//! every [`ProtocolError`] means "reply with this error, then close the connection".

use crate::split::split_inline;

/// Longest inline request, and longest `*<n>` / `$<n>` header line, Redis accepts (64 KiB).
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// A multibulk count above this is refused (Redis compares against `INT_MAX`).
pub const MULTIBULK_MAX_ARGS: i64 = i32::MAX as i64;
/// Before authentication Redis allows only small requests, so a client without the password
/// cannot make the server allocate much.
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// See [`UNAUTH_MAX_ARGS`].
pub const UNAUTH_MAX_BULK_BYTES: i64 = 16 * 1024;

/// A request the server must answer with an error and then close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
}

/// What one call to [`RequestParser::parse`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request of `consumed` bytes; its arguments are in [`RequestParser::argv`].
    Command { consumed: usize },
    /// `consumed` bytes held no command (an empty inline line, `*0`, `*-1`): skip them.
    Empty { consumed: usize },
    /// More bytes are needed. `total_hint` is the length the request will have at least, when
    /// known (lets the caller reserve room for a big bulk argument in one step).
    Incomplete { total_hint: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unknown,
    Multibulk,
    Inline,
}

/// Limits the parser enforces, from the server's config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_bytes: i64,
    /// Whether the connection still has to authenticate (tighter limits apply).
    pub auth_required: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_bytes: 512 * 1024 * 1024,
            auth_required: false,
        }
    }
}

/// Resumable parser for one connection. Call [`parse`](Self::parse) with the unconsumed bytes
/// (always starting at the first byte of the current request) until it returns a command.
#[derive(Debug)]
pub struct RequestParser {
    kind: Kind,
    /// Bytes of the current request already scanned.
    pos: usize,
    /// Multibulk arguments still to read.
    args_left: i64,
    /// Length of the bulk argument being read, if its header was seen.
    bulk_len: Option<usize>,
    /// Argument ranges, relative to the request start (or into `inline_bytes` for inline).
    ranges: Vec<(usize, usize)>,
    /// Unescaped inline arguments live here, since they are not verbatim in the input.
    inline_bytes: Vec<u8>,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser {
            kind: Kind::Unknown,
            pos: 0,
            args_left: 0,
            bulk_len: None,
            ranges: Vec::with_capacity(8),
            inline_bytes: Vec::new(),
        }
    }

    /// Forget the current request; call after a [`Parsed::Command`] was handled.
    pub fn reset(&mut self) {
        self.kind = Kind::Unknown;
        self.pos = 0;
        self.args_left = 0;
        self.bulk_len = None;
        self.ranges.clear();
        self.inline_bytes.clear();
    }

    /// True while part of a request has been scanned (the caller must keep those bytes).
    pub fn in_progress(&self) -> bool {
        self.kind != Kind::Unknown
    }

    /// Scan `buf`, which starts at the first byte of the current request and holds every byte
    /// received since (the same prefix as the previous call, maybe longer).
    pub fn parse(&mut self, buf: &[u8], limits: Limits) -> Result<Parsed, ProtocolError> {
        if self.kind == Kind::Unknown {
            match buf.first() {
                None => return Ok(Parsed::Incomplete { total_hint: 1 }),
                Some(b'*') => self.kind = Kind::Multibulk,
                Some(_) => self.kind = Kind::Inline,
            }
        }
        let parsed = match self.kind {
            Kind::Multibulk => self.parse_multibulk(buf, limits)?,
            _ => self.parse_inline(buf)?,
        };
        if let Parsed::Empty { .. } = parsed {
            self.reset();
        }
        Ok(parsed)
    }

    /// The arguments of the request just parsed. `buf` must be the buffer given to `parse`.
    pub fn argv<'a>(&'a self, buf: &'a [u8]) -> Argv<'a> {
        let src = if self.kind == Kind::Inline {
            &self.inline_bytes[..]
        } else {
            buf
        };
        Argv {
            src,
            ranges: &self.ranges,
        }
    }

    fn parse_multibulk(&mut self, buf: &[u8], limits: Limits) -> Result<Parsed, ProtocolError> {
        if self.pos == 0 {
            let Some(cr) = find_cr(buf, 0) else {
                if buf.len() > INLINE_MAX_BYTES {
                    return Err(ProtocolError::TooBigMultibulkCount);
                }
                return Ok(Parsed::Incomplete { total_hint: 0 });
            };
            if cr + 1 >= buf.len() {
                return Ok(Parsed::Incomplete { total_hint: 0 });
            }
            let count = parse_i64(&buf[1..cr]).ok_or(ProtocolError::InvalidMultibulkLength)?;
            if count > MULTIBULK_MAX_ARGS {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            if count > UNAUTH_MAX_ARGS && limits.auth_required {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            self.pos = cr + 2;
            if count <= 0 {
                return Ok(Parsed::Empty { consumed: self.pos });
            }
            self.args_left = count;
            // A bounded guess: a hostile count must not make us allocate gigabytes up front.
            self.ranges.reserve(count.min(1024) as usize);
        }
        while self.args_left > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let Some(cr) = find_cr(buf, self.pos) else {
                        if buf.len() - self.pos > INLINE_MAX_BYTES {
                            return Err(ProtocolError::TooBigBulkCount);
                        }
                        return Ok(Parsed::Incomplete { total_hint: 0 });
                    };
                    if cr + 1 >= buf.len() {
                        return Ok(Parsed::Incomplete { total_hint: 0 });
                    }
                    if buf[self.pos] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(buf[self.pos]));
                    }
                    let len = parse_i64(&buf[self.pos + 1..cr])
                        .filter(|&n| n >= 0 && n <= limits.max_bulk_bytes)
                        .ok_or(ProtocolError::InvalidBulkLength)?;
                    if len > UNAUTH_MAX_BULK_BYTES && limits.auth_required {
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    self.pos = cr + 2;
                    let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
                    self.bulk_len = Some(len);
                    len
                }
            };
            // Redis does not check that the two bytes after the data are "\r\n"; neither do we.
            let end = self.pos + len;
            if buf.len() < end + 2 {
                return Ok(Parsed::Incomplete {
                    total_hint: end + 2,
                });
            }
            self.ranges.push((self.pos, end));
            self.pos = end + 2;
            self.bulk_len = None;
            self.args_left -= 1;
        }
        Ok(Parsed::Command { consumed: self.pos })
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        // Redis reads at most 16 KiB at a time and gives up once 64 KiB hold no newline, so
        // any longer inline line fails there; check the length even if it arrived whole.
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            if buf.len() > INLINE_MAX_BYTES {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete { total_hint: 0 });
        };
        if nl > INLINE_MAX_BYTES {
            return Err(ProtocolError::TooBigInline);
        }
        let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        self.inline_bytes.clear();
        self.ranges.clear();
        split_inline(&buf[..line_end], &mut self.inline_bytes, &mut self.ranges)
            .map_err(|_| ProtocolError::UnbalancedQuotes)?;
        let consumed = nl + 1;
        if self.ranges.is_empty() {
            return Ok(Parsed::Empty { consumed });
        }
        Ok(Parsed::Command { consumed })
    }
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memchr(b'\r', &buf[from..]).map(|i| i + from)
}

/// Redis's `string2ll`: optional `-`, no `+`, no leading zeros, no spaces, fits in i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// The arguments of one request: slices of the input buffer (or of the parser's inline copy).
#[derive(Clone, Copy)]
pub struct Argv<'a> {
    src: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Argv<'a> {
    /// Arguments kept elsewhere (a queued transaction's): `ranges` index into `src`.
    pub fn from_parts(src: &'a [u8], ranges: &'a [(usize, usize)]) -> Argv<'a> {
        debug_assert!(ranges.iter().all(|&(s, e)| s <= e && e <= src.len()));
        Argv { src, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i`. Panics if `i >= len()`: callers index after checking arity.
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (start, end) = self.ranges[i];
        &self.src[start..end]
    }

    /// The arguments from `start` on (COMMAND GETKEYS looks at a command line inside its own).
    pub fn slice_from(&self, start: usize) -> Argv<'a> {
        Argv {
            src: self.src,
            ranges: &self.ranges[start.min(self.ranges.len())..],
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + '_ {
        let src = self.src;
        self.ranges.iter().map(move |&(s, e)| &src[s..e])
    }
}

impl std::fmt::Debug for Argv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::new();
        let mut at = 0;
        let mut out = Vec::new();
        loop {
            match p.parse(&input[at..], Limits::default())? {
                Parsed::Command { consumed } => {
                    out.push(p.argv(&input[at..]).iter().map(<[u8]>::to_vec).collect());
                    p.reset();
                    at += consumed;
                }
                Parsed::Empty { consumed } => at += consumed,
                Parsed::Incomplete { .. } => return Ok(out),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nECHO \"a\\x41\"\n").unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(cmds[2], vec![b"ECHO".to_vec(), b"aA".to_vec()]);
    }

    #[test]
    fn empty_requests_are_skipped() {
        let cmds = parse_all(b"*0\r\n*-1\r\n\r\n\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(cmds, vec![vec![b"PING".to_vec()]]);
    }

    #[test]
    fn every_split_point_gives_the_same_commands() {
        let input = b"*3\r\n$3\r\nSET\r\n$2\r\nk\0\r\n$4\r\na\r\nb\r\nPING\r\n*1\r\n$0\r\n\r\n";
        let whole = parse_all(input).unwrap();
        assert_eq!(whole.len(), 3);
        for cut in 0..input.len() {
            let mut p = RequestParser::new();
            let mut got = Vec::new();
            let mut at = 0;
            let mut avail = cut;
            loop {
                match p.parse(&input[at..avail], Limits::default()).unwrap() {
                    Parsed::Command { consumed } => {
                        got.push(
                            p.argv(&input[at..avail])
                                .iter()
                                .map(<[u8]>::to_vec)
                                .collect::<Vec<_>>(),
                        );
                        p.reset();
                        at += consumed;
                    }
                    Parsed::Empty { consumed } => at += consumed,
                    Parsed::Incomplete { .. } if avail < input.len() => avail = input.len(),
                    Parsed::Incomplete { .. } => break,
                }
            }
            assert_eq!(got, whole, "split at {cut}");
        }
    }

    #[test]
    fn protocol_errors_match_redis() {
        let e = |b: &[u8]| parse_all(b).unwrap_err().to_string();
        assert_eq!(
            e(b"*3000000000\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(e(b"*1x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            e(b"*1\r\nx3\r\nabc\r\n"),
            "Protocol error: expected '$', got 'x'"
        );
        assert_eq!(e(b"*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(e(b"*1\r\n$+3\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            e(b"*1\r\n$600000000\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            e(b"ECHO \"abc\"d\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
        let long = vec![b'a'; INLINE_MAX_BYTES + 1];
        assert_eq!(e(&long), "Protocol error: too big inline request");
    }

    #[test]
    fn big_bulk_reports_needed_size() {
        let mut p = RequestParser::new();
        let r = p
            .parse(b"*1\r\n$1000000\r\nabc", Limits::default())
            .unwrap();
        assert_eq!(
            r,
            Parsed::Incomplete {
                total_hint: 14 + 1_000_000 + 2
            }
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = Limits {
            auth_required: true,
            ..Limits::default()
        };
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*11\r\n", limits).unwrap_err(),
            ProtocolError::UnauthenticatedMultibulkLength
        );
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n", limits).unwrap_err(),
            ProtocolError::UnauthenticatedBulkLength
        );
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"007"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    }
}
