//! `basalt-check-aof [--fix] <appendonly.aof.manifest | file.aof>`: verify a log the way
//! redis-check-aof does — plus Basalt's `#CRC:` annotations, which redis-check-aof skips —
//! and with `--fix` cut a damaged last file back to its last good byte.
//!
//! Only the last file of a manifest can be fixed by truncation: the files after a damaged one
//! were written on top of what it lost, so cutting it would load them onto the wrong data.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use persist::check::{check_file, FileCheck};
use persist::Manifest;

/// The largest argument the checker accepts (Redis's `proto-max-bulk-len` maximum).
const MAX_BULK_BYTES: usize = 512 << 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (fix, path) = match args.as_slice() {
        [p] if p != "--fix" => (false, PathBuf::from(p)),
        [flag, p] if flag == "--fix" => (true, PathBuf::from(p)),
        _ => {
            eprintln!("Usage: basalt-check-aof [--fix] <file.manifest|file.aof>");
            return ExitCode::FAILURE;
        }
    };
    match run(&path, fix) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            println!("Cannot check {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Check (and fix) `path`; true when everything is valid at the end.
fn run(path: &Path, fix: bool) -> anyhow::Result<bool> {
    let is_manifest = path.file_name().is_some_and(|n| {
        n.to_string_lossy()
            .ends_with(persist::manifest::MANIFEST_SUFFIX)
    });
    if !is_manifest {
        println!("Start checking Old-Style AOF");
        return check_one(path, &path.display().to_string(), fix, true);
    }
    println!("Start checking Multi Part AOF");
    let manifest = Manifest::parse(&std::fs::read(path)?)
        .map_err(|e| anyhow::anyhow!("bad manifest, line {}: {e}", e.line()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let files: Vec<_> = manifest.load_order().collect();
    for (i, f) in files.iter().enumerate() {
        if f.name.ends_with(".rdb") {
            // An RDB base (Redis's default preamble) is read whole: every item decoded and
            // the checksum compared. It cannot be fixed by truncation.
            println!("Start to check BASE AOF (RDB format).");
            match check_rdb(&dir.join(&f.name)) {
                Ok(keys) => {
                    println!("[info] {keys} keys read");
                    println!("RDB preamble is OK, proceeding with AOF tail...");
                    println!("BASE AOF {} is valid", f.name);
                    continue;
                }
                Err(e) => {
                    println!("RDB preamble of BASE AOF {} is not valid: {e}", f.name);
                    return Ok(false);
                }
            }
        }
        let last = i + 1 == files.len();
        if !check_one(&dir.join(&f.name), &f.name, fix, last)? {
            return Ok(false);
        }
    }
    println!("All AOF files and manifest are valid");
    Ok(true)
}

/// Read an RDB file to its end (its checksum included); the number of keys.
fn check_rdb(path: &Path) -> anyhow::Result<u64> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut reader = persist::rdb::RdbReader::new(file)?;
    let mut keys = 0u64;
    loop {
        match reader.next_item()? {
            persist::rdb::Item::End => return Ok(keys),
            persist::rdb::Item::Key(_) => keys += 1,
            _ => {}
        }
    }
}

fn check_one(path: &Path, name: &str, fix: bool, last: bool) -> anyhow::Result<bool> {
    let c = check_file(path, MAX_BULK_BYTES)?;
    report(name, &c);
    if c.is_valid() {
        println!("AOF {name} is valid");
        return Ok(true);
    }
    if !fix {
        println!("AOF {name} is not valid. Use the --fix option to try fixing it.");
        return Ok(false);
    }
    if !last {
        println!(
            "AOF {name} is not the last file: it can't be fixed by truncation (the files after it build on what it lost)."
        );
        return Ok(false);
    }
    println!(
        "This will shrink the AOF {name} from {} bytes, with {} bytes, to {} bytes",
        c.size,
        c.size - c.ok_up_to,
        c.ok_up_to
    );
    print!("Continue? [y/N]: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !answer.trim_start().starts_with(['y', 'Y']) {
        println!("Aborting...");
        return Ok(false);
    }
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.set_len(c.ok_up_to)?;
    f.sync_all()?;
    println!("Successfully truncated AOF {name}");
    Ok(true)
}

fn report(name: &str, c: &FileCheck) {
    if let Some(e) = &c.error {
        println!("0x{:>16x}: {e}", c.ok_up_to);
    }
    println!(
        "AOF analyzed: filename={name}, size={}, ok_up_to={}, diff={}",
        c.size,
        c.ok_up_to,
        c.size - c.ok_up_to
    );
}
