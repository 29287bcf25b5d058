//! MONITOR: every command the server runs, as one line per command sent to each monitoring
//! client, in Redis 7.0's format: `+<secs>.<usecs> [<db> <addr>] "arg" "arg"…`, arguments
//! quoted as Redis's `sdscatrepr` quotes them, passwords redacted as Redis redacts them.
//! Administrative commands and those flagged `skip_monitor` are not shown.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use resp::Argv;

use crate::client::ClientShared;
use crate::cmd::Spec;
use crate::server::Server;

#[derive(Default)]
pub struct Monitors {
    list: RwLock<Vec<Arc<ClientShared>>>,
    count: AtomicUsize,
}

impl Monitors {
    pub fn add(&self, c: &Arc<ClientShared>) {
        self.list.write().push(c.clone());
        self.count.fetch_add(1, Relaxed);
    }

    pub fn remove(&self, id: u64) {
        let mut list = self.list.write();
        let before = list.len();
        list.retain(|c| c.id != id);
        self.count.fetch_sub(before - list.len(), Relaxed);
    }

    /// Whether anyone monitors (one relaxed load on every command).
    pub fn any(&self) -> bool {
        self.count.load(Relaxed) > 0
    }
}

/// Redis's `sdscatrepr`: a double-quoted string with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b`
/// escaped, printable bytes as they are, others as `\xHH`.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Which arguments MONITOR and the slow log show as `(redacted)` (Redis's
/// `redactClientCommandArgument` calls): every argument of AUTH; HELLO's AUTH username and
/// password; ACL SETUSER's name and rules; CONFIG SET's values of `requirepass`,
/// `masterauth` and `masteruser`.
pub(crate) fn redacted(spec: &Spec, argv: &Argv<'_>, i: usize) -> bool {
    match spec.name {
        "auth" => i >= 1,
        "hello" => (2..argv.len())
            .any(|j| argv.get(j).eq_ignore_ascii_case(b"auth") && (i == j + 1 || i == j + 2)),
        "acl|setuser" => i >= 2,
        "config|set" => {
            i >= 3 && i % 2 == 1 && {
                let name = argv.get(i - 1);
                [&b"requirepass"[..], b"masterauth", b"masteruser"]
                    .iter()
                    .any(|s| name.eq_ignore_ascii_case(s))
            }
        }
        _ => false,
    }
}

/// Show a command that ran to every monitor.
pub fn feed(srv: &Server, client: &ClientShared, db: usize, spec: &Spec, argv: &Argv<'_>) {
    use crate::cmd::flags::{ADMIN, SKIP_MONITOR};
    if spec.has(ADMIN) || spec.has(SKIP_MONITOR) {
        return;
    }
    feed_from(srv, &client.addr, db, spec, argv);
}

/// One monitor line for `argv`, run by `from` (a client's address, or `lua` for a command a
/// script called). Scripts' own commands (EVAL …) are fed this way before they run, as Redis
/// does, so the commands they call come after them.
pub fn feed_from(srv: &Server, from: &str, db: usize, spec: &Spec, argv: &Argv<'_>) {
    let us = crate::util::now_us();
    let mut line = format!("+{}.{:06} [{db} ", us / 1_000_000, us % 1_000_000).into_bytes();
    line.extend_from_slice(from.as_bytes());
    line.extend_from_slice(b"] ");
    for i in 0..argv.len() {
        if redacted(spec, argv, i) {
            repr(&mut line, b"(redacted)");
        } else {
            repr(&mut line, argv.get(i));
        }
        if i + 1 != argv.len() {
            line.push(b' ');
        }
    }
    line.extend_from_slice(b"\r\n");
    let line = Bytes::from(line);
    let limit = srv.pubsub.limits().replica;
    let now_ms = crate::util::now_ms();
    for m in srv.monitors.list.read().iter() {
        if m.is_killed() {
            continue;
        }
        if m.outbox.push(line.clone(), limit, now_ms, true).is_err() {
            crate::log_warning!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                m.describe(now_ms, None)
            );
            m.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_sdscatrepr() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\c\n\x01 \x7f");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\x01 \\x7f\"");
    }
}
