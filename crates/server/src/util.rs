//! Small shared helpers: the clock and Redis-style log lines.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Log levels, as `loglevel` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    pub fn from_name(name: &str) -> Level {
        match name {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "warning" => Level::Warning,
            _ => Level::Notice,
        }
    }

    /// The syslog priority Redis gives the level.
    fn syslog_priority(self) -> libc::c_int {
        match self {
            Level::Debug => libc::LOG_DEBUG,
            Level::Verbose => libc::LOG_INFO,
            Level::Notice => libc::LOG_NOTICE,
            Level::Warning => libc::LOG_WARNING,
        }
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static LOG_FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);
static SYSLOG: AtomicBool = AtomicBool::new(false);

/// `syslog-enabled yes`: every log line also goes to syslog (the message alone, as Redis
/// sends it), under `ident` and `facility` (`user`, `local0` … `local7`). Call once, at start.
pub fn open_syslog(ident: &str, facility: &str) {
    let facility = match facility {
        "user" => libc::LOG_USER,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_LOCAL0,
    };
    // openlog keeps the pointer: the ident lives as long as the process.
    let ident: &'static std::ffi::CStr = Box::leak(
        std::ffi::CString::new(ident.replace('\0', ""))
            .unwrap_or_default()
            .into_boxed_c_str(),
    );
    // SAFETY: the ident is a valid NUL-terminated string that is never freed.
    unsafe {
        libc::openlog(
            ident.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY | libc::LOG_NOWAIT,
            facility,
        );
    }
    SYSLOG.store(true, Ordering::Relaxed);
}

fn to_syslog(level: Level, message: &str) {
    let Ok(text) = std::ffi::CString::new(message.replace('\0', "")) else {
        return;
    };
    // SAFETY: a constant format taking one string, and that NUL-terminated string.
    unsafe {
        libc::syslog(level.syslog_priority(), c"%s".as_ptr(), text.as_ptr());
    }
}

/// Send log lines to `path` (empty: standard output).
pub fn set_log_file(path: &str) -> std::io::Result<()> {
    if path.is_empty() {
        *LOG_FILE.lock() = None;
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        *LOG_FILE.lock() = Some(f);
    }
    Ok(())
}

pub fn set_log_level(level: Level) {
    MIN_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The role letter of log lines: `M` for a master, `S` for a replica (Redis's format).
static LOG_ROLE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(b'M');

pub fn set_log_role(replica: bool) {
    LOG_ROLE.store(if replica { b'S' } else { b'M' }, Ordering::Relaxed);
}

/// Write one log line in Redis's format: `pid:M 21 Nov 2026 18:35:34.123 * message`.
pub fn log(level: Level, message: &str) {
    if (level as u8) < MIN_LEVEL.load(Ordering::Relaxed) {
        return;
    }
    if SYSLOG.load(Ordering::Relaxed) {
        to_syslog(level, message);
    }
    let line = format!(
        "{}:{} {} {} {}\n",
        std::process::id(),
        char::from(LOG_ROLE.load(Ordering::Relaxed)),
        format_time(now_ms()),
        level.mark(),
        message
    );
    let mut file = LOG_FILE.lock();
    match file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().write_all(line.as_bytes());
            let _ = std::io::stdout().flush();
        }
    }
}

/// `21 Nov 2026 18:35:34.123` (UTC).
fn format_time(ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{d:02} {} {y} {:02}:{:02}:{:02}.{:03}",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[macro_export]
macro_rules! log_notice { ($($t:tt)*) => { $crate::util::log($crate::util::Level::Notice, &format!($($t)*)) } }
#[macro_export]
macro_rules! log_warning { ($($t:tt)*) => { $crate::util::log($crate::util::Level::Warning, &format!($($t)*)) } }
#[macro_export]
macro_rules! log_verbose { ($($t:tt)*) => { $crate::util::log($crate::util::Level::Verbose, &format!($($t)*)) } }

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::format_time(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(
            super::format_time(1_795_286_134_123),
            "21 Nov 2026 18:35:34.123"
        );
    }
}
