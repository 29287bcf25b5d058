//! Loading a multi-part log (`appendonlydir/`): the manifest's base and incr files in order,
//! streamed entry by entry (never a whole file in memory), commands handed to the caller.
//!
//! Failure handling follows Redis 7.0's `loadSingleAppendOnlyFile`, made stricter by the
//! checksums:
//! - a file that ends inside a command, or inside MULTI … EXEC, is a torn tail. Only the last
//!   file may have one; with `aof-load-truncated yes` it is cut back to the last complete
//!   command (before the MULTI) and loading goes on, otherwise loading stops;
//! - anything else — bad framing, a `#CRC:` annotation that does not match — stops the load
//!   with the file, the byte offset and the repair command: data is never skipped silently.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::aof::{AofError, AofReader, Entry};
use crate::manifest::{Manifest, ManifestError, MANIFEST_SUFFIX};

/// What a load found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Files read, in order.
    pub files: Vec<String>,
    /// Commands applied (MULTI and EXEC not counted).
    pub commands: u64,
    /// Bytes cut from the end of the last file (torn tail), if any.
    pub truncated_bytes: u64,
}

/// Why a log did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("Bad AOF manifest {path}, line {line}: {error}", line = error.line())]
    Manifest { path: PathBuf, error: ManifestError },
    #[error("Can't open the append-only file {path}: {error}")]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("Unexpected end of file reading the append only file {file} at offset {offset}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.")]
    Truncated { file: String, offset: u64 },
    #[error("Bad file format reading the append only file {file} at offset {offset} ({error}): make a backup of your AOF file, then use basalt-check-aof --fix <filename.manifest>")]
    Corrupt {
        file: String,
        offset: u64,
        error: AofError,
    },
    #[error("{file}: {what} (at offset {offset})")]
    Unsupported {
        file: String,
        offset: u64,
        what: String,
    },
    #[error("Error applying the command at offset {offset} of {file}: {error}")]
    Apply {
        file: String,
        offset: u64,
        error: String,
    },
}

/// The manifest of `dir`, `None` if the directory or the manifest does not exist (a fresh
/// start, as in Redis).
pub fn read_manifest(dir: &Path, appendfilename: &str) -> Result<Option<Manifest>, LoadError> {
    let path = dir.join(format!("{appendfilename}{MANIFEST_SUFFIX}"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(LoadError::Open { path, error }),
    };
    Manifest::parse(&bytes)
        .map(Some)
        .map_err(|error| LoadError::Manifest { path, error })
}

/// Replay every file of `manifest` from `dir`, handing each command (or each MULTI … EXEC
/// unit, without the MULTI and EXEC) to `apply`. `truncated_ok` is `aof-load-truncated`.
pub fn load(
    dir: &Path,
    manifest: &Manifest,
    truncated_ok: bool,
    max_bulk_bytes: usize,
    apply: impl FnMut(&[Vec<Vec<u8>>]) -> Result<(), String>,
) -> Result<LoadReport, LoadError> {
    load_reporting(dir, manifest, truncated_ok, max_bulk_bytes, apply, |_| {})
}

/// How far a load is, handed to the progress callback about once per [`PROGRESS_EVERY`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress<'a> {
    pub file: &'a str,
    pub offset: u64,
    pub size: u64,
}

/// How often a long load reports its progress.
pub const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// [`load`], calling `progress` about once a second while a file loads (big files show
/// progress in the server's log).
pub fn load_reporting(
    dir: &Path,
    manifest: &Manifest,
    truncated_ok: bool,
    max_bulk_bytes: usize,
    mut apply: impl FnMut(&[Vec<Vec<u8>>]) -> Result<(), String>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<LoadReport, LoadError> {
    let files: Vec<_> = manifest.load_order().collect();
    let mut report = LoadReport::default();
    for (i, f) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        if f.name.ends_with(".rdb") {
            return Err(LoadError::Unsupported {
                file: f.name.clone(),
                offset: 0,
                what: "an RDB-format base file (aof-use-rdb-preamble) is not supported yet".into(),
            });
        }
        let path = dir.join(&f.name);
        let file = File::open(&path).map_err(|error| LoadError::Open {
            path: path.clone(),
            error,
        })?;
        let cut = load_file(
            &f.name,
            file,
            max_bulk_bytes,
            &mut apply,
            &mut progress,
            &mut report,
        )?;
        report.files.push(f.name.clone());
        if let Some(valid_up_to) = cut {
            if !(last && truncated_ok) {
                return Err(LoadError::Truncated {
                    file: f.name.clone(),
                    offset: valid_up_to,
                });
            }
            let len = std::fs::metadata(&path)
                .map_err(|error| LoadError::Open {
                    path: path.clone(),
                    error,
                })?
                .len();
            truncate(&path, valid_up_to).map_err(|error| LoadError::Open { path, error })?;
            report.truncated_bytes = len - valid_up_to;
        }
    }
    Ok(report)
}

fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

fn is_cmd(args: &[Vec<u8>], name: &str) -> bool {
    args.len() == 1 && args[0].eq_ignore_ascii_case(name.as_bytes())
}

/// Load one file; `Some(offset)` if it ends with a torn tail that should be cut at `offset`.
fn load_file(
    name: &str,
    file: File,
    max_bulk_bytes: usize,
    apply: &mut impl FnMut(&[Vec<Vec<u8>>]) -> Result<(), String>,
    progress: &mut impl FnMut(Progress<'_>),
    report: &mut LoadReport,
) -> Result<Option<u64>, LoadError> {
    let size = file.metadata().map_or(0, |m| m.len());
    let mut last_report = std::time::Instant::now();
    let mut entries = 0u32;
    let mut reader = AofReader::new(BufReader::with_capacity(1 << 16, file), max_bulk_bytes);
    let mut multi: Option<(u64, Vec<Vec<Vec<u8>>>)> = None;
    loop {
        let entry = match reader.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(AofError::Truncated { offset }) => {
                let cut = multi.as_ref().map_or(offset, |(at, _)| *at);
                return Ok(Some(cut));
            }
            Err(error) => {
                let offset = match &error {
                    AofError::Format { offset, .. } | AofError::Checksum { offset, .. } => *offset,
                    _ => reader.offset(),
                };
                return Err(LoadError::Corrupt {
                    file: name.to_string(),
                    offset,
                    error,
                });
            }
        };
        entries = entries.wrapping_add(1);
        // Reading the clock every 4096 entries keeps it off the load's hot path.
        if entries.is_multiple_of(4096) && last_report.elapsed() >= PROGRESS_EVERY {
            last_report = std::time::Instant::now();
            progress(Progress {
                file: name,
                offset: reader.offset(),
                size,
            });
        }
        let Entry::Command { offset, args } = entry else {
            continue;
        };
        let fail = |error: String| LoadError::Apply {
            file: name.to_string(),
            offset,
            error,
        };
        if is_cmd(&args, "multi") {
            if multi.is_some() {
                return Err(fail("MULTI calls can not be nested".into()));
            }
            multi = Some((offset, Vec::new()));
        } else if is_cmd(&args, "exec") {
            let Some((_, unit)) = multi.take() else {
                return Err(fail("EXEC without MULTI".into()));
            };
            report.commands += unit.len() as u64;
            apply(&unit).map_err(fail)?;
        } else if let Some((_, unit)) = multi.as_mut() {
            unit.push(args);
        } else {
            report.commands += 1;
            apply(std::slice::from_ref(&args)).map_err(fail)?;
        }
    }
    // A file that ends inside MULTI … EXEC is torn before the MULTI.
    Ok(multi.map(|(at, _)| at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::{encode_command, Checksummer};
    use crate::manifest::AofFile;

    fn write_log(path: &Path, cmds: &[&[&[u8]]]) -> Vec<u64> {
        let mut out = Vec::new();
        let mut sum = Checksummer::default();
        let mut starts = Vec::new();
        for c in cmds {
            starts.push(out.len() as u64);
            let mut rec = Vec::new();
            encode_command(&mut rec, c);
            sum.update(&rec);
            out.extend_from_slice(&rec);
        }
        out.extend_from_slice(&sum.annotation());
        std::fs::write(path, out).unwrap();
        starts
    }

    fn setup(dir: &Path) -> Manifest {
        let m = Manifest {
            base: Some(AofFile::base("appendonly.aof", 1, false)),
            history: vec![],
            incr: vec![
                AofFile::incr("appendonly.aof", 1),
                AofFile::incr("appendonly.aof", 2),
            ],
        };
        std::fs::write(dir.join("appendonly.aof.manifest"), m.to_text()).unwrap();
        write_log(
            &dir.join("appendonly.aof.1.base.aof"),
            &[&[b"SET", b"a", b"1"]],
        );
        write_log(
            &dir.join("appendonly.aof.1.incr.aof"),
            &[
                &[b"MULTI"],
                &[b"SET", b"b", b"2"],
                &[b"SET", b"c", b"3"],
                &[b"EXEC"],
            ],
        );
        write_log(
            &dir.join("appendonly.aof.2.incr.aof"),
            &[&[b"SET", b"d", b"4"], &[b"MULTI"], &[b"SET", b"e", b"5"]],
        );
        m
    }

    fn run(dir: &Path, truncated_ok: bool) -> (Result<LoadReport, LoadError>, Vec<Vec<Vec<u8>>>) {
        let m = read_manifest(dir, "appendonly.aof").unwrap().unwrap();
        let mut applied = Vec::new();
        let r = load(dir, &m, truncated_ok, 1 << 20, |unit| {
            applied.push(unit.iter().map(|c| c[1].clone()).collect());
            Ok(())
        });
        (r, applied)
    }

    #[test]
    fn loads_in_order_units_whole_and_cuts_an_open_multi_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path());
        let last = dir.path().join("appendonly.aof.2.incr.aof");
        let before = std::fs::metadata(&last).unwrap().len();
        // Without aof-load-truncated the open MULTI at the end stops the load.
        let (r, _) = run(dir.path(), false);
        assert!(matches!(r, Err(LoadError::Truncated { .. })), "{r:?}");
        let (r, applied) = run(dir.path(), true);
        let report = r.unwrap();
        assert_eq!(
            applied,
            vec![
                vec![b"a".to_vec()],
                vec![b"b".to_vec(), b"c".to_vec()],
                vec![b"d".to_vec()],
            ]
        );
        assert_eq!(report.commands, 4);
        assert!(report.truncated_bytes > 0);
        assert_eq!(
            std::fs::metadata(&last).unwrap().len(),
            before - report.truncated_bytes
        );
        // The cut file now loads cleanly.
        let (r, applied) = run(dir.path(), false);
        assert_eq!(r.unwrap().truncated_bytes, 0);
        assert_eq!(applied.len(), 3);
    }

    #[test]
    fn a_torn_tail_is_only_allowed_in_the_last_file() {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path());
        let first = dir.path().join("appendonly.aof.1.incr.aof");
        let bytes = std::fs::read(&first).unwrap();
        std::fs::write(&first, &bytes[..bytes.len() - 25]).unwrap();
        let (r, _) = run(dir.path(), true);
        match r {
            Err(LoadError::Truncated { file, .. }) => assert_eq!(file, "appendonly.aof.1.incr.aof"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corruption_names_the_file_and_offset_and_the_repair() {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path());
        let base = dir.path().join("appendonly.aof.1.base.aof");
        let mut bytes = std::fs::read(&base).unwrap();
        bytes[24] ^= 0x20; // the value "1" (offset 24): framing intact, checksum wrong
        std::fs::write(&base, &bytes).unwrap();
        let (r, applied) = run(dir.path(), true);
        let err = r.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("appendonly.aof.1.base.aof"), "{text}");
        assert!(text.contains("basalt-check-aof --fix"), "{text}");
        // The annotation after the 27-byte command is where the mismatch shows.
        assert!(
            matches!(err, LoadError::Corrupt { offset: 27, .. }),
            "{err:?}"
        );
        // The corrupt command was applied before its annotation was read: the caller must
        // treat a failed load as failed (the server stops).
        assert!(applied.len() <= 1);
    }

    #[test]
    fn no_directory_or_manifest_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_manifest(&dir.path().join("nope"), "appendonly.aof")
            .unwrap()
            .is_none());
        assert!(read_manifest(dir.path(), "appendonly.aof")
            .unwrap()
            .is_none());
        std::fs::write(dir.path().join("appendonly.aof.manifest"), b"").unwrap();
        assert!(matches!(
            read_manifest(dir.path(), "appendonly.aof"),
            Err(LoadError::Manifest { .. })
        ));
    }
}
