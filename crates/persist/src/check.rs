//! Verifying log files for `basalt-check-aof`: how much of a file is good, and why the rest
//! is not, in the terms of redis-check-aof (`ok_up_to`, `diff`).
//!
//! Where the good part ends:
//! - a torn tail (the file ends inside a command, or inside MULTI … EXEC): at the start of
//!   that command (or of the MULTI);
//! - bad framing: at the start of the bad command, or of the open MULTI;
//! - a `#CRC:` mismatch: at the end of the last annotation that matched — the damaged byte
//!   can be anywhere in the span, so nothing of the span is trusted.

use std::io::BufReader;
use std::path::Path;

use crate::aof::{AofError, AofReader, Entry};

/// What checking one file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub size: u64,
    /// Bytes from the start that are good (= `size` when the file is valid).
    pub ok_up_to: u64,
    /// Why the rest is not, if anything is wrong.
    pub error: Option<String>,
}

impl FileCheck {
    pub fn is_valid(&self) -> bool {
        self.error.is_none()
    }
}

/// Check the log file at `path` (commands of at most `max_bulk_bytes` per argument).
pub fn check_file(path: &Path, max_bulk_bytes: usize) -> std::io::Result<FileCheck> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut reader = AofReader::new(BufReader::with_capacity(1 << 16, file), max_bulk_bytes);
    let mut verified = 0u64;
    let mut multi_at: Option<u64> = None;
    let found = |ok_up_to: u64, error: String| FileCheck {
        size,
        ok_up_to,
        error: Some(error),
    };
    loop {
        match reader.next_entry() {
            Ok(None) => break,
            Ok(Some(Entry::Checked { end })) => verified = end,
            Ok(Some(Entry::Command { offset, args })) => {
                let is = |name: &[u8]| args.len() == 1 && args[0].eq_ignore_ascii_case(name);
                if is(b"multi") {
                    multi_at = Some(offset);
                } else if is(b"exec") {
                    multi_at = None;
                }
            }
            Err(AofError::Truncated { offset }) => {
                let at = multi_at.unwrap_or(offset);
                return Ok(found(
                    at,
                    format!("the file ends inside the command at offset {offset}"),
                ));
            }
            Err(e @ AofError::Format { offset, .. }) => {
                return Ok(found(multi_at.unwrap_or(offset), e.to_string()));
            }
            Err(e @ AofError::Checksum { .. }) => return Ok(found(verified, e.to_string())),
            Err(AofError::Io(e)) => return Err(e),
        }
    }
    if let Some(at) = multi_at {
        return Ok(found(at, "the file ends inside MULTI … EXEC".into()));
    }
    Ok(FileCheck {
        size,
        ok_up_to: size,
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::{encode_command, Checksummer};

    fn file(dir: &Path, cmds: &[&[&[u8]]]) -> (std::path::PathBuf, Vec<u64>) {
        let mut out = Vec::new();
        let mut sum = Checksummer::default();
        let mut commits = Vec::new();
        for c in cmds {
            let mut rec = Vec::new();
            encode_command(&mut rec, c);
            sum.update(&rec);
            out.extend_from_slice(&rec);
            out.extend_from_slice(&sum.annotation());
            commits.push(out.len() as u64);
        }
        let path = dir.join("f.aof");
        std::fs::write(&path, &out).unwrap();
        (path, commits)
    }

    #[test]
    fn valid_torn_and_flipped() {
        let dir = tempfile::tempdir().unwrap();
        let cmds: &[&[&[u8]]] = &[
            &[b"SET", b"a", b"1"],
            &[b"SET", b"b", b"2"],
            &[b"SET", b"c", b"3"],
        ];
        let (path, commits) = file(dir.path(), cmds);
        let ok = check_file(&path, 1 << 20).unwrap();
        assert!(ok.is_valid());
        assert_eq!(ok.ok_up_to, ok.size);
        // Torn: cut inside the last command.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..commits[1] as usize + 5]).unwrap();
        let torn = check_file(&path, 1 << 20).unwrap();
        assert_eq!(torn.ok_up_to, commits[1]);
        // Flipped: a byte of the second value; the good part ends after the first commit.
        let mut flipped = bytes.clone();
        let at = commits[0] as usize + 20;
        flipped[at] ^= 0x01;
        std::fs::write(&path, &flipped).unwrap();
        let bad = check_file(&path, 1 << 20).unwrap();
        assert!(!bad.is_valid());
        assert_eq!(bad.ok_up_to, commits[0], "{bad:?}");
    }
}
