//! Crash reports (`crash-log-enabled`). Redis writes a bug report with a stack trace to its
//! log when it crashes; Basalt's crashes are panics (a broken invariant found by a check,
//! never a memory fault in safe Rust), and the panic hook writes the same kind of report:
//! the message, where it happened, the thread, and the backtrace. With
//! `crash-log-enabled no` only the message is logged.
//!
//! `crash-memcheck-enabled` asks Redis to test the machine's memory after a crash caused by a
//! memory fault. Basalt has no such crashes, so there is nothing to test; the parameter is
//! kept, with Redis's default, for CONFIG GET and redis.conf files.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::log_warning;

static REPORT: AtomicBool = AtomicBool::new(true);

/// Follow `crash-log-enabled` (at start and on CONFIG SET).
pub fn set_enabled(on: bool) {
    REPORT.store(on, Relaxed);
}

/// Install the hook; the standard one (stderr) runs too, so a test harness still sees it.
pub fn install() {
    let standard = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(&info.to_string());
        standard(info);
    }));
}

/// Log a crash: the message, and with `crash-log-enabled` the whole report.
pub fn report(message: &str) {
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    if !REPORT.load(Relaxed) {
        log_warning!("Panic in thread '{thread}': {message}");
        return;
    }
    let trace = std::backtrace::Backtrace::force_capture();
    log_warning!("=== BASALT BUG REPORT START: Cut & paste starting from here ===");
    log_warning!("Panic in thread '{thread}': {message}");
    log_warning!("------ STACK TRACE ------\n{trace}");
    log_warning!("=== BASALT BUG REPORT END. Make sure to include from START to END. ===");
}

/// DEBUG PANIC: report, then end the process at once, as Redis's `serverPanic` does (a panic
/// of one connection's task would only end that connection).
pub fn panic_now(message: &str) -> ! {
    report(message);
    std::process::abort();
}
