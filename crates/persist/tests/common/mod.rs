//! Shared by the interop tests: whether the real Redis tools are installed.

use std::process::Command;

/// Whether every tool in `tools` runs. Without them the interop tests skip loudly — unless
/// BASALT_REQUIRE_REDIS=1 (CI), where a missing tool is a failure.
pub fn tools_present(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| Command::new(t).arg("--help").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
        "{missing:?} missing and BASALT_REQUIRE_REDIS=1"
    );
    eprintln!("\n!!! {missing:?} not found: SKIPPING !!!\n");
    false
}
