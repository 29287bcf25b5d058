//! `supervised`: telling a service manager how start-up went, as Redis 7.0 does.
//!
//! - **systemd** (`Type=notify` units): datagrams to the socket named by `NOTIFY_SOCKET` —
//!   `STATUS=…` while loading, `READY=1` once the listeners accept, `STOPPING=1` at shutdown.
//!   Redis does this through libsystemd's `sd_notify`; the protocol is one datagram per
//!   message, so Basalt writes it directly (a path, or an abstract name after `@`).
//! - **upstart** (`expect stop`): the process stops itself with SIGSTOP once set up, and
//!   upstart continues it.
//! - **auto**: upstart when `UPSTART_JOB` is set, else systemd when `NOTIFY_SOCKET` is.
//!
//! INFO's `process_supervised` names the one in use (`no` when none was found).

use std::sync::OnceLock;

use crate::{log_notice, log_verbose, log_warning};

/// The service manager in use, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervisor {
    No,
    Upstart,
    Systemd,
}

static CURRENT: OnceLock<Supervisor> = OnceLock::new();

/// The manager found at start (INFO's `process_supervised`).
pub fn current() -> Supervisor {
    CURRENT.get().copied().unwrap_or(Supervisor::No)
}

impl Supervisor {
    pub fn name(self) -> &'static str {
        match self {
            Supervisor::No => "no",
            Supervisor::Upstart => "upstart",
            Supervisor::Systemd => "systemd",
        }
    }
}

/// Resolve `supervised <mode>` against the environment and set supervision up (Redis's
/// `redisIsSupervised`): under upstart this stops the process until upstart continues it.
pub fn start(mode: &str) -> Supervisor {
    let mut wanted = mode;
    if mode == "auto" {
        if std::env::var_os("UPSTART_JOB").is_some() {
            log_verbose!("Upstart supervision detected.");
            wanted = "upstart";
        } else if std::env::var_os("NOTIFY_SOCKET").is_some() {
            log_verbose!("Systemd supervision detected.");
            wanted = "systemd";
        }
    }
    let found = match wanted {
        "upstart" => start_upstart(),
        "systemd" => start_systemd(),
        _ => Supervisor::No,
    };
    let _ = CURRENT.set(found);
    found
}

fn start_upstart() -> Supervisor {
    if std::env::var_os("UPSTART_JOB").is_none() {
        log_warning!("upstart supervision requested, but UPSTART_JOB not found!");
        return Supervisor::No;
    }
    log_notice!("supervised by upstart, will stop to signal readiness.");
    // SAFETY: raise sends a signal to this process; SIGSTOP cannot be caught.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
    std::env::remove_var("UPSTART_JOB");
    Supervisor::Upstart
}

fn start_systemd() -> Supervisor {
    if !send("STATUS=Basalt is loading...\n") {
        return Supervisor::No;
    }
    log_notice!(
        "Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit."
    );
    Supervisor::Systemd
}

/// The listeners accept connections.
pub fn ready() {
    if current() == Supervisor::Systemd {
        send("STATUS=Ready to accept connections\n");
        send("READY=1\n");
    }
}

/// Shutdown has begun.
pub fn stopping() {
    if current() == Supervisor::Systemd {
        send("STOPPING=1\n");
    }
}

/// One sd_notify datagram; `false` (and a warning, as Redis logs it) when it cannot be sent.
fn send(message: &str) -> bool {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        log_warning!("systemd supervision error: NOTIFY_SOCKET not found!");
        return false;
    };
    let result = std::os::unix::net::UnixDatagram::unbound().and_then(|socket| {
        let bytes = target.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(message.as_bytes(), &addr)
            }
            None => socket.send_to(message.as_bytes(), &target),
        }
    });
    if let Err(e) = result {
        log_warning!("systemd supervision error: sd_notify: {e}");
        return false;
    }
    true
}
