//! Reply encoder. One [`Reply`] per connection collects the encoded replies of a batch of
//! requests; the connection writes them out with one system call.
//!
//! The same calls produce RESP2 or RESP3 depending on the protocol the client chose with `HELLO`:
//! a map is a flat array in RESP2, a null is `$-1` (or `*-1` for a null array), a double is a bulk
//! string, a boolean an integer — exactly as Redis 7.0 downgrades them.

/// Protocol version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

/// A growing buffer of encoded replies.
#[derive(Debug, Default)]
pub struct Reply {
    buf: Vec<u8>,
    pub proto: Proto,
    /// Capacity seen at the last [`Reply::grew`] (0: none yet).
    capacity_seen: usize,
}

/// Where a reply whose length is known only later starts (see [`Reply::deferred`]).
#[derive(Debug, Clone, Copy)]
pub struct Deferred(usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Array,
    Map,
    Set,
    Push,
}

impl Reply {
    pub fn new() -> Self {
        Reply::default()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Drop everything after `len` bytes (used to retract a reply, e.g. `CLIENT REPLY SKIP`).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Give back memory after a huge reply, keeping a small buffer for the next batch.
    /// `true` when memory was given back (INFO's `reply_buffer_shrinks`).
    pub fn shrink(&mut self, keep_bytes: usize) -> bool {
        if self.buf.capacity() > keep_bytes {
            self.buf = Vec::with_capacity(keep_bytes);
            self.capacity_seen = keep_bytes;
            return true;
        }
        false
    }

    /// Whether the buffer had to grow since the last call, its first allocation aside
    /// (INFO's `reply_buffer_expands`).
    pub fn grew(&mut self) -> bool {
        let capacity = self.buf.capacity();
        let grew = self.capacity_seen != 0 && capacity > self.capacity_seen;
        self.capacity_seen = capacity;
        grew
    }

    pub fn is_resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }

    fn line(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Raw, already encoded bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// `+text`. The caller guarantees `text` has no CR or LF.
    pub fn simple(&mut self, text: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `-message`: the message starts with its code (`ERR …`, `WRONGTYPE …`). Line breaks in it
    /// become spaces, as Redis does, so the reply stays one line.
    pub fn error(&mut self, message: &[u8]) {
        self.buf.push(b'-');
        self.buf.extend(message.iter().map(|&c| match c {
            b'\r' | b'\n' => b' ',
            other => other,
        }));
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.line(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.line(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n`.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, len: usize) {
        self.line(b'*', len as i64);
    }

    /// A map of `pairs` entries (RESP2: an array of `2 * pairs`).
    pub fn map(&mut self, pairs: usize) {
        if self.is_resp3() {
            self.line(b'%', pairs as i64);
        } else {
            self.line(b'*', 2 * pairs as i64);
        }
    }

    /// A set (RESP2: an array).
    pub fn set(&mut self, len: usize) {
        self.line(if self.is_resp3() { b'~' } else { b'*' }, len as i64);
    }

    /// An out-of-band push (RESP2: an array).
    pub fn push(&mut self, len: usize) {
        self.line(if self.is_resp3() { b'>' } else { b'*' }, len as i64);
    }

    pub fn boolean(&mut self, b: bool) {
        if self.is_resp3() {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(i64::from(b));
        }
    }

    /// A double as Redis 7.0 prints it (`%.17g`; `inf`/`-inf`). RESP2: a bulk string.
    pub fn double(&mut self, d: f64) {
        let text = format_double(d);
        if self.is_resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A verbatim string with a 3-letter format (`txt`, `mkd`). RESP2: a bulk string.
    pub fn verbatim(&mut self, format: &str, data: &[u8]) {
        debug_assert_eq!(format.len(), 3);
        if self.is_resp3() {
            self.line(b'=', (data.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(data);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(data);
        }
    }

    /// A big number given as decimal digits. RESP2: a bulk string.
    pub fn big_number(&mut self, digits: &str) {
        if self.is_resp3() {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }

    /// Start an aggregate whose length is known only after its elements are written.
    pub fn deferred(&mut self) -> Deferred {
        Deferred(self.buf.len())
    }

    /// Insert the header of an aggregate started with [`deferred`](Self::deferred). `len` counts
    /// elements (pairs for a map).
    pub fn finish_deferred(&mut self, at: Deferred, kind: Aggregate, len: usize) {
        let (prefix, n) = match (kind, self.proto) {
            (Aggregate::Array, _) => (b'*', len),
            (Aggregate::Map, Proto::Resp3) => (b'%', len),
            (Aggregate::Map, Proto::Resp2) => (b'*', 2 * len),
            (Aggregate::Set, Proto::Resp3) => (b'~', len),
            (Aggregate::Push, Proto::Resp3) => (b'>', len),
            (Aggregate::Set | Aggregate::Push, Proto::Resp2) => (b'*', len),
        };
        let mut header = Vec::with_capacity(24);
        header.push(prefix);
        header.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        header.extend_from_slice(b"\r\n");
        self.buf.splice(at.0..at.0, header);
    }

    /// Insert a bulk string at a place marked with [`deferred`](Self::deferred) (a reply's
    /// element known only after the ones that follow it, as XAUTOCLAIM's next cursor). Marks
    /// at the same place are filled last to first.
    pub fn fill_deferred_bulk(&mut self, at: Deferred, data: &[u8]) {
        let mut bulk = Vec::with_capacity(data.len() + 16);
        bulk.push(b'$');
        bulk.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
        bulk.extend_from_slice(b"\r\n");
        bulk.extend_from_slice(data);
        bulk.extend_from_slice(b"\r\n");
        self.buf.splice(at.0..at.0, bulk);
    }
}

/// Redis 7.0's text for a double: `inf`, `-inf`, `nan`, otherwise C's `%.17g`.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    format_g(d, 17)
}

/// C's `%.<precision>g` for a finite double (Rust's formatting is correctly rounded, as glibc's).
pub fn format_g(d: f64, precision: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:.*e}", precision - 1, d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let mantissa = trim_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_fraction_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_shapes() {
        let mut r = Reply::new();
        r.null();
        r.map(1);
        r.double(1.5);
        r.boolean(true);
        assert_eq!(r.as_bytes(), b"$-1\r\n*2\r\n$3\r\n1.5\r\n:1\r\n");
        let mut r = Reply::new();
        r.proto = Proto::Resp3;
        r.null();
        r.map(1);
        r.double(1.5);
        r.boolean(true);
        r.verbatim("txt", b"hi");
        assert_eq!(r.as_bytes(), b"_\r\n%1\r\n,1.5\r\n#t\r\n=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn errors_are_one_line() {
        let mut r = Reply::new();
        r.error(b"ERR bad\r\nthing");
        assert_eq!(r.as_bytes(), b"-ERR bad  thing\r\n");
    }

    #[test]
    fn deferred_header() {
        let mut r = Reply::new();
        r.int(1);
        let d = r.deferred();
        r.int(2);
        r.int(3);
        r.finish_deferred(d, Aggregate::Map, 1);
        assert_eq!(r.as_bytes(), b":1\r\n*2\r\n:2\r\n:3\r\n");
    }

    #[test]
    fn g17_matches_c() {
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-5), "1.5e-05");
        assert_eq!(format_double(1.0 / 3.0), "0.33333333333333331");
        assert_eq!(
            format_double(123456789012345680.0),
            "1.2345678901234568e+17"
        );
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }
}
