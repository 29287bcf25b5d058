//! `oom-score-adj`: the process's score for the kernel's OOM killer, as Redis 7.0 sets it.
//!
//! With `yes`/`relative` the first of `oom-score-adj-values` (the master's; Basalt has no
//! replicas or fork children yet) is added to the score the process had before Basalt first
//! took control; with `absolute` it replaces it; the result is clamped to ±1000. Back to `no`,
//! the score from before is restored.

use parking_lot::Mutex;

const PROC_FILE: &str = "/proc/self/oom_score_adj";

/// The score from before Basalt took control, while it has it.
static BASE: Mutex<Option<i64>> = Mutex::new(None);

/// Set the score for `mode` (`no`, `yes`, `absolute`) and `values` (`oom-score-adj-values`).
pub fn apply(mode: &str, values: &str) -> Result<(), String> {
    let mut base = BASE.lock();
    let target = if mode == "no" {
        match base.take() {
            Some(b) => b,
            None => return Ok(()),
        }
    } else {
        let b = match *base {
            Some(b) => b,
            None => {
                let text = std::fs::read_to_string(PROC_FILE)
                    .map_err(|e| format!("Unable to read oom_score_adj: {e}"))?;
                let b = text.trim().parse::<i64>().unwrap_or(0);
                *base = Some(b);
                b
            }
        };
        let master = values
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let v = if mode == "absolute" {
            master
        } else {
            master + b
        };
        v.clamp(-1000, 1000)
    };
    std::fs::write(PROC_FILE, format!("{target}\n"))
        .map_err(|e| format!("Unable to write oom_score_adj: {e}"))
}
