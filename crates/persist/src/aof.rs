//! The command log's record format: RESP multibulk commands, as Redis writes its AOF, plus
//! checksum annotations that Redis's loader and `redis-check-aof` skip (they ignore lines that
//! start with `#`).
//!
//! At each commit point the writer appends `#CRC:<8 hex digits>\r\n`, the CRC-32C of every byte
//! since the previous annotation (or the start of the file). The reader checks each one, so a
//! flipped bit anywhere before the last commit point is found, not replayed. After the last
//! annotation only the framing can be checked: a command cut short there is a torn tail
//! (a crash during an append) and is reported as such, with the offset to cut the file at.

use std::io::{self, BufRead, Read};

/// CRC-32C (Castagnoli), the checksum of the annotations.
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// The annotation's prefix.
pub const CRC_PREFIX: &[u8] = b"#CRC:";
/// Most arguments one logged command may have (Redis's multibulk limit).
pub const MAX_ARGS: usize = 1024 * 1024;

/// Why a log cannot be read past some offset.
#[derive(Debug, thiserror::Error)]
pub enum AofError {
    /// The file ends inside the command that starts at `offset` (a torn append).
    #[error("the file ends inside the command at offset {offset}")]
    Truncated { offset: u64 },
    /// Bytes at `offset` are not a command or an annotation.
    #[error("bad format at offset {offset}: {what}")]
    Format { offset: u64, what: &'static str },
    /// The annotation at `offset` does not match the bytes it covers.
    #[error(
        "checksum mismatch at offset {offset}: the file says {want:08x}, the data gives {got:08x}"
    )]
    Checksum { offset: u64, want: u32, got: u32 },
    #[error("read error: {0}")]
    Io(#[from] io::Error),
}

/// Encode one command as a RESP multibulk, appending to `out`.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Running checksum of the bytes written since the last annotation.
pub struct Checksummer {
    digest: crc::Digest<'static, u32>,
}

impl Default for Checksummer {
    fn default() -> Self {
        Checksummer {
            digest: CRC32C.digest(),
        }
    }
}

impl Checksummer {
    /// Account for bytes appended to the log.
    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// The annotation closing what was accounted since the last one; starts the next span.
    pub fn annotation(&mut self) -> Vec<u8> {
        let digest = std::mem::replace(&mut self.digest, CRC32C.digest());
        format!("#CRC:{:08x}\r\n", digest.finalize()).into_bytes()
    }
}

/// The checksum state to resume appending to the log file at `path` with (see
/// [`AofReader::into_checksummer`]). The file must read cleanly to its end (a loaded log, its
/// torn tail already cut).
pub fn resume_checksum(
    path: &std::path::Path,
    max_bulk_bytes: usize,
) -> Result<Checksummer, AofError> {
    let file = std::fs::File::open(path)?;
    let mut reader = AofReader::new(io::BufReader::with_capacity(1 << 16, file), max_bulk_bytes);
    while reader.next_entry()?.is_some() {}
    Ok(reader.into_checksummer())
}

/// One item of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A command and the offset it starts at.
    Command { offset: u64, args: Vec<Vec<u8>> },
    /// A checked `#CRC:` annotation: every byte before `end` is verified.
    Checked { end: u64 },
}

/// Streams a log's entries, checking annotations as it goes.
pub struct AofReader<R> {
    input: R,
    offset: u64,
    span: crc::Digest<'static, u32>,
    max_bulk_bytes: usize,
}

impl<R: BufRead> AofReader<R> {
    /// `max_bulk_bytes` bounds one argument (Redis's `proto-max-bulk-len`).
    pub fn new(input: R, max_bulk_bytes: usize) -> Self {
        AofReader {
            input,
            offset: 0,
            span: CRC32C.digest(),
            max_bulk_bytes,
        }
    }

    /// Bytes consumed so far: the end of the last complete entry.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The running checksum of what was read since the last annotation: what a writer that
    /// goes on appending to this file must start from, so its first annotation also covers
    /// the commands already there after the last one (a torn batch's surviving commands, or
    /// a whole file Redis wrote without annotations).
    pub fn into_checksummer(self) -> Checksummer {
        Checksummer { digest: self.span }
    }

    /// The next entry, `None` at a clean end of file. Annotation lines (`#…`) are not part
    /// of any checksum span; other annotations than `#CRC:` (Redis's `#TS:` timestamps) are
    /// skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, AofError> {
        loop {
            let start = self.offset;
            let mut line = Vec::new();
            let n = self.input.read_until(b'\n', &mut line)?;
            if n == 0 {
                return Ok(None);
            }
            if !line.ends_with(b"\n") {
                return Err(self.cut_or_format(start, &line));
            }
            if line[0] == b'#' {
                self.offset += n as u64;
                if line.starts_with(CRC_PREFIX) {
                    return self.check(start, &line).map(Some);
                }
                continue;
            }
            return self.command(start, &line).map(Some);
        }
    }

    fn command(&mut self, start: u64, line: &[u8]) -> Result<Entry, AofError> {
        self.span.update(line);
        if line[0] != b'*' {
            return Err(AofError::Format {
                offset: start,
                what: "expected '*' or '#'",
            });
        }
        let count = parse_len(&line[1..])
            .filter(|&c| (1..=MAX_ARGS).contains(&c))
            .ok_or(AofError::Format {
                offset: start,
                what: "bad argument count",
            })?;
        let mut args = Vec::with_capacity(count.min(1024));
        let mut consumed = line.len() as u64;
        for _ in 0..count {
            let arg = self.read_bulk(start, &mut consumed)?;
            args.push(arg);
        }
        self.offset += consumed;
        Ok(Entry::Command {
            offset: start,
            args,
        })
    }

    fn read_bulk(&mut self, start: u64, consumed: &mut u64) -> Result<Vec<u8>, AofError> {
        let mut head = Vec::new();
        let n = self.input.read_until(b'\n', &mut head)?;
        if n == 0 || !head.ends_with(b"\n") {
            return Err(AofError::Truncated { offset: start });
        }
        self.span.update(&head);
        *consumed += n as u64;
        if head[0] != b'$' {
            return Err(AofError::Format {
                offset: start,
                what: "expected '$'",
            });
        }
        let len = parse_len(&head[1..])
            .filter(|&l| l <= self.max_bulk_bytes)
            .ok_or(AofError::Format {
                offset: start,
                what: "bad bulk length",
            })?;
        // Grow with the bytes that actually arrive: a corrupt length must not size an
        // allocation (it ends as a torn tail or a format error instead).
        let mut data = Vec::with_capacity((len + 2).min(1 << 20));
        let got = (&mut self.input)
            .take(len as u64 + 2)
            .read_to_end(&mut data)?;
        if got < len + 2 {
            return Err(AofError::Truncated { offset: start });
        }
        self.span.update(&data);
        *consumed += data.len() as u64;
        if !data.ends_with(b"\r\n") {
            return Err(AofError::Format {
                offset: start,
                what: "bulk not followed by CRLF",
            });
        }
        data.truncate(len);
        Ok(data)
    }

    /// A line with no newline at the end of the file: a torn command, or garbage.
    fn cut_or_format(&self, start: u64, line: &[u8]) -> AofError {
        if line.first().is_some_and(|&c| c == b'*' || c == b'#') {
            AofError::Truncated { offset: start }
        } else {
            AofError::Format {
                offset: start,
                what: "expected '*' or '#'",
            }
        }
    }

    /// Check a `#CRC:` annotation against the bytes since the previous one.
    fn check(&mut self, start: u64, line: &[u8]) -> Result<Entry, AofError> {
        let hex = line[CRC_PREFIX.len()..].trim_ascii_end();
        let want = std::str::from_utf8(hex)
            .ok()
            .filter(|h| h.len() == 8)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or(AofError::Format {
                offset: start,
                what: "bad #CRC annotation",
            })?;
        let got = std::mem::replace(&mut self.span, CRC32C.digest()).finalize();
        if got != want {
            return Err(AofError::Checksum {
                offset: start,
                want,
                got,
            });
        }
        Ok(Entry::Checked { end: self.offset })
    }
}

/// A RESP length: decimal digits then CRLF (or LF).
fn parse_len(rest: &[u8]) -> Option<usize> {
    let digits = rest
        .strip_suffix(b"\r\n")
        .or_else(|| rest.strip_suffix(b"\n"))?;
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(commands: &[&[&[u8]]], commit_every: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut sum = Checksummer::default();
        for (i, c) in commands.iter().enumerate() {
            let mut rec = Vec::new();
            encode_command(&mut rec, c);
            sum.update(&rec);
            out.extend_from_slice(&rec);
            if (i + 1) % commit_every == 0 {
                out.extend_from_slice(&sum.annotation());
            }
        }
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, AofError> {
        let mut r = AofReader::new(bytes, 1 << 20);
        let mut cmds = Vec::new();
        while let Some(e) = r.next_entry()? {
            if let Entry::Command { args, .. } = e {
                cmds.push(args);
            }
        }
        Ok(cmds)
    }

    const CMDS: &[&[&[u8]]] = &[
        &[b"SELECT", b"0"],
        &[b"SET", b"k", b"v\r\nwith crlf"],
        &[b"RPUSH", b"l", b"", b"\x00\xff"],
        &[b"PEXPIREAT", b"k", b"4102444800000"],
    ];

    #[test]
    fn appending_resumes_the_checksum_of_an_unannotated_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.aof");
        // Commands with no annotation after them (a torn batch's survivors, or Redis's file).
        let mut bytes = log(&[&[b"SET", b"a", b"1"]], 1);
        encode_command(&mut bytes, &[b"SET", b"b", b"2"]);
        std::fs::write(&path, &bytes).unwrap();
        let mut sum = resume_checksum(&path, 1 << 20).unwrap();
        let mut more = Vec::new();
        encode_command(&mut more, &[b"SET", b"c", b"3"]);
        sum.update(&more);
        more.extend_from_slice(&sum.annotation());
        bytes.extend_from_slice(&more);
        assert_eq!(read_all(&bytes).unwrap().len(), 3);
        // Starting from a fresh checksum instead is the mismatch this prevents.
        let mut wrong = Checksummer::default();
        let mut tail = Vec::new();
        encode_command(&mut tail, &[b"SET", b"c", b"3"]);
        wrong.update(&tail);
        let mut bad = std::fs::read(&path).unwrap();
        bad.extend_from_slice(&tail);
        bad.extend_from_slice(&wrong.annotation());
        assert!(matches!(read_all(&bad), Err(AofError::Checksum { .. })));
    }

    /// A bulk claiming 500 MB with a few bytes behind it is a torn tail, read without
    /// allocating the claimed size.
    #[test]
    fn a_huge_claimed_bulk_is_a_torn_tail_not_an_allocation() {
        let bytes = b"*1\r\n$500000000\r\nabc";
        let mut r = AofReader::new(&bytes[..], 512 << 20);
        assert!(matches!(
            r.next_entry(),
            Err(AofError::Truncated { offset: 0 })
        ));
    }

    #[test]
    fn round_trip_with_annotations() {
        let bytes = log(CMDS, 2);
        let got = read_all(&bytes).unwrap();
        let want: Vec<Vec<Vec<u8>>> = CMDS
            .iter()
            .map(|c| c.iter().map(|a| a.to_vec()).collect())
            .collect();
        assert_eq!(got, want);
        assert_eq!(bytes.windows(5).filter(|w| *w == CRC_PREFIX).count(), 2);
    }

    #[test]
    fn redis_written_files_without_annotations_load() {
        let bytes = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n#TS:1700000000\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        assert_eq!(read_all(bytes).unwrap().len(), 2);
    }

    /// Cut the log at every byte: the reader reports the cut as a torn tail at the start of
    /// the command it cut (or returns the complete prefix when the cut falls between entries).
    #[test]
    fn every_torn_tail_is_reported_at_the_cut_command() {
        let bytes = log(CMDS, 1);
        for cut in 0..bytes.len() {
            let mut r = AofReader::new(&bytes[..cut], 1 << 20);
            let mut last_ok = 0;
            let outcome = loop {
                match r.next_entry() {
                    Ok(Some(_)) => last_ok = r.offset(),
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            match outcome {
                None => assert_eq!(last_ok as usize, cut, "clean end only at an entry boundary"),
                Some(AofError::Truncated { offset }) => {
                    // The torn entry starts where the last complete one ended.
                    assert_eq!(offset, last_ok, "cut at {cut}");
                    assert!(offset as usize <= cut);
                }
                Some(e) => panic!("cut at {cut}: {e}"),
            }
        }
    }

    #[test]
    fn a_flipped_byte_before_a_commit_point_is_found() {
        let bytes = log(CMDS, 4);
        for at in 0..bytes.len() - 15 {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            match read_all(&bad) {
                Err(
                    AofError::Checksum { .. }
                    | AofError::Format { .. }
                    | AofError::Truncated { .. },
                ) => {}
                Ok(cmds) => panic!("flip at {at} went unnoticed: {cmds:?}"),
                Err(e) => panic!("flip at {at}: unexpected {e}"),
            }
        }
    }

    #[test]
    fn garbage_is_a_format_error_with_its_offset() {
        let mut bytes = log(&CMDS[..1], 1);
        let at = bytes.len() as u64;
        bytes.extend_from_slice(b"hello\r\n");
        match read_all(&bytes) {
            Err(AofError::Format { offset, .. }) => assert_eq!(offset, at),
            other => panic!("{other:?}"),
        }
    }
}
