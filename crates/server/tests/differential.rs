//! Differential tests: every case in `tests/cases/*.txt` runs against Basalt and against the
//! real redis-server, and the raw reply bytes must be identical. The case format (one or
//! several named connections per case, pipelines, waits for blocked clients) is described in
//! `corpus/mod.rs`.
//!
//! A case that uses a command Basalt does not have yet is listed as pending and runs
//! automatically once the command is in the table.

mod common;
mod corpus;

use common::{redis, show};
use corpus::{load_cases, run_case, Case};

/// Commands of a case that redis-server has and Basalt's table lacks. Commands unknown to
/// Redis too (a case about the unknown-command error) are not missing: the case runs.
fn missing_commands(case: &Case, redis_knows: &mut dyn FnMut(&str) -> bool) -> Vec<String> {
    let mut missing = Vec::new();
    for a in case.steps.iter().filter_map(corpus::Step::command) {
        missing.extend(missing_command(a, redis_knows));
    }
    missing
}

/// The command of one line if redis-server has it and Basalt's table does not (a container's
/// subcommand not built yet, such as CLIENT PAUSE, counts).
fn missing_command(a: &[Vec<u8>], redis_knows: &mut dyn FnMut(&str) -> bool) -> Option<String> {
    let name = a.first()?;
    match server::cmd::table::lookup(name) {
        None if redis_knows(&String::from_utf8_lossy(name)) => {
            Some(String::from_utf8_lossy(name).to_uppercase())
        }
        None => None,
        Some(spec) if !spec.subcommands.is_empty() && a.len() > 1 => {
            let full = format!(
                "{}|{}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(&a[1])
            );
            (server::cmd::table::lookup_sub(spec, &a[1]).is_none() && redis_knows(&full)).then(
                || {
                    format!(
                        "{} {}",
                        String::from_utf8_lossy(name).to_uppercase(),
                        String::from_utf8_lossy(&a[1]).to_uppercase()
                    )
                },
            )
        }
        Some(_) => None,
    }
}

#[test]
fn differential_cases_match_redis() {
    let Some(redis) = redis() else { return };
    let basalt = common::basalt(&[]);
    let mut cases = load_cases();
    // BASALT_CASES=<part of a file name> runs one file's cases (while writing them).
    let only = std::env::var("BASALT_CASES").ok();
    if let Some(part) = &only {
        cases.retain(|c| c.file.contains(part.as_str()));
    }
    let full = only.is_none();
    assert!(
        !full || cases.len() >= 400,
        "the corpus shrank: {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut pending = Vec::new();
    let mut ran = 0;
    let mut oracle = redis.conn();
    let mut known = std::collections::HashMap::new();
    let mut redis_knows = |name: &str| -> bool {
        let name = name.to_ascii_lowercase();
        *known.entry(name.clone()).or_insert_with(|| {
            oracle.cmd(&[b"COMMAND", b"INFO", name.as_bytes()]) != b"*1\r\n$-1\r\n"
        })
    };
    for case in &cases {
        let missing = missing_commands(case, &mut redis_knows);
        if !missing.is_empty() {
            pending.push(format!(
                "{}: {} (needs {})",
                case.file,
                case.name,
                missing.join(",")
            ));
            continue;
        }
        ran += 1;
        let started = std::time::Instant::now();
        let expected = run_case(&redis, case);
        let redis_took = started.elapsed();
        let got = run_case(&basalt, case);
        let took = started.elapsed();
        if took > std::time::Duration::from_secs(2) {
            eprintln!(
                "slow case {}: {} (redis {redis_took:?}, both {took:?})",
                case.file, case.name
            );
        }
        // BASALT_SHOW_CASE=<part of a name> prints what Redis answered, to write a case.
        if std::env::var("BASALT_SHOW_CASE").is_ok_and(|p| case.name.contains(&p)) {
            eprintln!("=== {}", case.name);
            for line in &expected {
                eprintln!("  {}", show(line));
            }
        }
        if expected != got {
            let mut msg = format!("--- {}: {}\n", case.file, case.name);
            for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
                let mark = if e == g { " " } else { "X" };
                msg.push_str(&format!(
                    "{mark} step {i}: redis {} | basalt {}\n",
                    show(e),
                    show(g)
                ));
            }
            failures.push(msg);
        }
    }
    eprintln!(
        "differential: {ran} cases compared, {} failed, {} pending on commands from later issues",
        failures.len(),
        pending.len()
    );
    for p in &pending {
        eprintln!("  pending: {p}");
    }
    assert!(!full || ran >= 400, "only {ran} cases could run");
    assert!(
        failures.is_empty(),
        "{} cases differ from redis:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every command line of the corpus asked of both servers through COMMAND GETKEYS and COMMAND
/// GETKEYSANDFLAGS: key extraction is what shard locking (and ACL key patterns, cluster slots)
/// reads, so it must be Redis's for every command, not only for the ones a case is about.
#[test]
fn getkeys_match_redis_for_every_corpus_line() {
    let Some(redis) = redis() else { return };
    let basalt = common::basalt(&[]);
    let (mut r, mut b) = (redis.conn(), basalt.conn());
    let mut oracle = redis.conn();
    let mut known = std::collections::HashMap::new();
    let mut redis_knows = |name: &str| -> bool {
        let name = name.to_ascii_lowercase();
        *known.entry(name.clone()).or_insert_with(|| {
            oracle.cmd(&[b"COMMAND", b"INFO", name.as_bytes()]) != b"*1\r\n$-1\r\n"
        })
    };
    let mut failures = Vec::new();
    let mut asked = 0;
    for case in &load_cases() {
        for a in case.steps.iter().filter_map(corpus::Step::command) {
            // Commands Basalt does not have yet are pending in the main differential test.
            if a.is_empty() || missing_command(a, &mut redis_knows).is_some() {
                continue;
            }
            for sub in [&b"GETKEYS"[..], b"GETKEYSANDFLAGS"] {
                let mut line: Vec<&[u8]> = vec![b"COMMAND", sub];
                line.extend(a.iter().map(Vec::as_slice));
                asked += 1;
                let (expected, got) = (r.cmd(&line), b.cmd(&line));
                if expected != got {
                    failures.push(format!(
                        "{}: {}: COMMAND {} {}\n  redis  {}\n  basalt {}",
                        case.file,
                        case.name,
                        String::from_utf8_lossy(sub),
                        a.iter()
                            .map(|x| String::from_utf8_lossy(x).into_owned())
                            .collect::<Vec<_>>()
                            .join(" "),
                        show(&expected),
                        show(&got)
                    ));
                }
            }
        }
    }
    eprintln!("getkeys: {asked} lines asked, {} differ", failures.len());
    assert!(asked >= 2000, "only {asked} GETKEYS lines asked");
    assert!(
        failures.is_empty(),
        "{} GETKEYS answers differ from redis:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
