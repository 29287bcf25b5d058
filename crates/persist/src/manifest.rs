//! The AOF manifest (`appendonlydir/<appendfilename>.manifest`): which files make up the log,
//! in Redis 7.0's format, parsed with its rules and error messages so that a directory Redis
//! wrote loads here and the reverse.
//!
//! One line per file, `file <name> seq <n> type <b|h|i>`: the base (`b`) first, then history
//! files (`h`, waiting for deletion after a rewrite), then the incr files (`i`) in increasing
//! sequence. Lines starting with `#` are comments; keys may come in any order and unknown
//! key/value pairs are ignored (forward compatibility); a name needing quotes is written as
//! Redis's `sdscatrepr` writes it and read back with `sdssplitargs` rules.

use std::fmt::Write as _;

/// Longest manifest line Redis reads (`MANIFEST_MAX_LINE`).
pub const MAX_LINE_BYTES: usize = 1024;
/// The manifest's name is the log's base name plus this.
pub const MANIFEST_SUFFIX: &str = ".manifest";
/// Files being written before an atomic rename carry this prefix.
pub const TEMP_PREFIX: &str = "temp-";

/// What a file of the log is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The dataset at one instant (AOF or RDB format).
    Base,
    /// Replaced by a rewrite, to be deleted.
    History,
    /// Commands appended since the base.
    Incr,
}

impl FileKind {
    fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

/// One file of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: i64,
    pub kind: FileKind,
}

impl AofFile {
    /// `appendonly.aof.<seq>.base.aof` (or `.base.rdb` with an RDB preamble).
    pub fn base(appendfilename: &str, seq: i64, rdb: bool) -> AofFile {
        let format = if rdb { "rdb" } else { "aof" };
        AofFile {
            name: format!("{appendfilename}.{seq}.base.{format}"),
            seq,
            kind: FileKind::Base,
        }
    }

    /// `appendonly.aof.<seq>.incr.aof`.
    pub fn incr(appendfilename: &str, seq: i64) -> AofFile {
        AofFile {
            name: format!("{appendfilename}.{seq}.incr.aof"),
            seq,
            kind: FileKind::Incr,
        }
    }
}

/// A manifest that cannot be used; the text is Redis's message for the same problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("Found an empty AOF manifest")]
    Empty,
    #[error("The AOF manifest file contains too long line")]
    LineTooLong { line: usize },
    #[error("Invalid AOF manifest file format")]
    Format { line: usize },
    #[error("File can't be a path, just a filename")]
    Path { line: usize },
    #[error("Found duplicate base file information")]
    DuplicateBase { line: usize },
    #[error("Found a non-monotonic sequence number")]
    NonMonotonic { line: usize },
    #[error("Unknown AOF file type")]
    UnknownType { line: usize },
}

impl ManifestError {
    /// 1-based line of the problem (0 for an empty manifest).
    pub fn line(&self) -> usize {
        match self {
            ManifestError::Empty => 0,
            ManifestError::LineTooLong { line }
            | ManifestError::Format { line }
            | ManifestError::Path { line }
            | ManifestError::DuplicateBase { line }
            | ManifestError::NonMonotonic { line }
            | ManifestError::UnknownType { line } => *line,
        }
    }
}

/// The files of a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub history: Vec<AofFile>,
    pub incr: Vec<AofFile>,
}

/// C's `atoll`: optional space and sign, then digits up to the first non-digit; 0 if none.
fn atoll(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
    }
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

/// Redis's `pathIsBaseName`: no `/` and not `..`.
fn is_base_name(name: &str) -> bool {
    !name.contains('/') && name != ".."
}

impl Manifest {
    /// Parse a manifest's bytes as Redis 7.0's `aofLoadManifestFromFile` does.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        let mut max_seq = 0i64;
        let mut lines = 0usize;
        let mut rest = text;
        while !rest.is_empty() {
            // fgets: up to and including '\n', at most MAX_LINE_BYTES bytes.
            let take = match rest.iter().position(|&c| c == b'\n') {
                Some(nl) if nl < MAX_LINE_BYTES => nl + 1,
                _ => rest.len().min(MAX_LINE_BYTES),
            };
            let raw = &rest[..take];
            rest = &rest[take..];
            lines += 1;
            if raw.first() == Some(&b'#') {
                continue;
            }
            if !raw.contains(&b'\n') {
                return Err(ManifestError::LineTooLong { line: lines });
            }
            let trimmed = raw.trim_ascii();
            if trimmed.is_empty() {
                return Err(ManifestError::Format { line: lines });
            }
            m.add_line(trimmed, lines, &mut max_seq)?;
        }
        if lines == 0 {
            return Err(ManifestError::Empty);
        }
        Ok(m)
    }

    fn add_line(&mut self, line: &[u8], at: usize, max_seq: &mut i64) -> Result<(), ManifestError> {
        let format = ManifestError::Format { line: at };
        let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
        resp::split_inline(line, &mut bytes, &mut ranges).map_err(|_| format.clone())?;
        // At least file, seq and type; pairs only (more keys are for later versions).
        if ranges.len() < 6 || ranges.len() % 2 == 1 {
            return Err(format);
        }
        let arg = |i: usize| &bytes[ranges[i].0..ranges[i].1];
        let (mut name, mut seq, mut kind) = (None, 0i64, 0u8);
        for i in (0..ranges.len()).step_by(2) {
            let (key, value) = (arg(i), arg(i + 1));
            if key.eq_ignore_ascii_case(b"file") {
                let n = String::from_utf8_lossy(value).into_owned();
                if !is_base_name(&n) {
                    return Err(ManifestError::Path { line: at });
                }
                name = Some(n);
            } else if key.eq_ignore_ascii_case(b"seq") {
                seq = atoll(value);
            } else if key.eq_ignore_ascii_case(b"type") {
                kind = value.first().copied().unwrap_or(0);
            }
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(format);
        };
        if seq == 0 || kind == 0 {
            return Err(format);
        }
        match kind {
            b'b' => {
                if self.base.is_some() {
                    return Err(ManifestError::DuplicateBase { line: at });
                }
                self.base = Some(AofFile {
                    name,
                    seq,
                    kind: FileKind::Base,
                });
            }
            b'h' => self.history.push(AofFile {
                name,
                seq,
                kind: FileKind::History,
            }),
            b'i' => {
                if seq <= *max_seq {
                    return Err(ManifestError::NonMonotonic { line: at });
                }
                *max_seq = seq;
                self.incr.push(AofFile {
                    name,
                    seq,
                    kind: FileKind::Incr,
                });
            }
            _ => return Err(ManifestError::UnknownType { line: at }),
        }
        Ok(())
    }

    /// The manifest's text, as Redis's `getAofManifestAsString` writes it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in self.base.iter().chain(&self.history).chain(&self.incr) {
            let _ = writeln!(
                out,
                "file {} seq {} type {}",
                repr_if_needed(&f.name),
                f.seq,
                f.kind.letter()
            );
        }
        out
    }

    /// Every file, in load order: base, then incr files (history files are not loaded).
    pub fn load_order(&self) -> impl Iterator<Item = &AofFile> {
        self.base.iter().chain(&self.incr)
    }

    /// Highest incr sequence (0 without incr files).
    pub fn last_incr_seq(&self) -> i64 {
        self.incr.last().map_or(0, |f| f.seq)
    }
}

/// Redis's `sdsneedsrepr` + `sdscatrepr`: quote a name containing spaces, quotes, backslashes
/// or non-printable bytes.
fn repr_if_needed(name: &str) -> String {
    let needs = name.bytes().any(|c| {
        matches!(c, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 7 | 8) || !c.is_ascii_graphic()
    });
    if !needs {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for c in name.bytes() {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_redis_format() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base, Some(AofFile::base("appendonly.aof", 1, true)));
        assert_eq!(m.history.len(), 1);
        assert_eq!(
            m.incr,
            vec![
                AofFile::incr("appendonly.aof", 2),
                AofFile::incr("appendonly.aof", 3)
            ]
        );
        assert_eq!(m.to_text(), text);
        assert_eq!(m.last_incr_seq(), 3);
        let order: Vec<&str> = m.load_order().map(|f| f.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "appendonly.aof.1.base.rdb",
                "appendonly.aof.2.incr.aof",
                "appendonly.aof.3.incr.aof"
            ]
        );
    }

    #[test]
    fn accepts_comments_any_key_order_extra_keys_and_quoted_names() {
        let text = b"# written by hand\r\nseq 5 type i file \"my log.5.incr.aof\" extra x\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.incr[0].name, "my log.5.incr.aof");
        assert_eq!(m.incr[0].seq, 5);
        assert_eq!(m.to_text(), "file \"my log.5.incr.aof\" seq 5 type i\n");
        assert_eq!(Manifest::parse(m.to_text().as_bytes()).unwrap(), m);
    }

    #[test]
    fn rejects_what_redis_rejects_with_its_messages() {
        let err = |t: &[u8]| Manifest::parse(t).unwrap_err();
        assert_eq!(err(b""), ManifestError::Empty);
        assert_eq!(err(b"\n"), ManifestError::Format { line: 1 });
        assert_eq!(
            err(b"file a seq 1 type b"),
            ManifestError::LineTooLong { line: 1 }
        );
        assert_eq!(err(b"file a seq 1\n"), ManifestError::Format { line: 1 });
        assert_eq!(
            err(b"file a seq x type i\n"),
            ManifestError::Format { line: 1 }
        );
        assert_eq!(
            err(b"file d/a seq 1 type i\n"),
            ManifestError::Path { line: 1 }
        );
        assert_eq!(
            err(b"file .. seq 1 type i\n"),
            ManifestError::Path { line: 1 }
        );
        assert_eq!(
            err(b"file a seq 1 type b\nfile b seq 2 type b\n"),
            ManifestError::DuplicateBase { line: 2 }
        );
        assert_eq!(
            err(b"file a seq 2 type i\nfile b seq 2 type i\n"),
            ManifestError::NonMonotonic { line: 2 }
        );
        assert_eq!(
            err(b"file a seq 1 type x\n"),
            ManifestError::UnknownType { line: 1 }
        );
        assert_eq!(
            err(b"file \"a seq 1 type i\n"),
            ManifestError::Format { line: 1 }
        );
        let long = format!("file {} seq 1 type i\n", "a".repeat(MAX_LINE_BYTES));
        assert_eq!(err(long.as_bytes()), ManifestError::LineTooLong { line: 1 });
        assert_eq!(
            ManifestError::NonMonotonic { line: 2 }.to_string(),
            "Found a non-monotonic sequence number"
        );
    }

    #[test]
    fn seq_is_read_like_atoll() {
        assert_eq!(atoll(b"12abc"), 12);
        assert_eq!(atoll(b" -3"), -3);
        assert_eq!(atoll(b"x"), 0);
    }
}
