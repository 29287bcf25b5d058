//! The differential corpus: `tests/cases/*.txt`, parsed, and run against one server.
//!
//! Format: `=== name` starts a case. Each other line is one step; `#` lines are comments.
//!
//! - A command line, split like redis-cli splits it, runs on connection `A`: sent, and its
//!   reply read. `X: <line>` runs it on connection `X` instead (names: a capital letter and an
//!   optional digit). Connections open on first use, each a new client.
//! - `X: @send CMD` sends without reading; consecutive `@send`s on one connection go out in
//!   one write (a pipeline). `X: @read` reads the next reply (5 s at most, else `<no reply>`),
//!   `X: @silent` checks that nothing arrives within 150 ms, `X: @close` disconnects.
//! - `@unordered CMD` compares the elements of an aggregate reply sorted; `@noreply CMD` expects
//!   no reply; `@hello N` switches protocol, discarding HELLO's reply (it holds server-specific
//!   fields). All take an `X:` prefix too.
//! - `@sleep MS` waits; `@blocked N` waits until the server counts N blocked clients (INFO's
//!   blocked_clients), so a client's blocking command is known to be queued before another
//!   client writes; `@changes` records how many changes the server counted since the case
//!   began (INFO's `rdb_changes_since_last_save`, Redis's `server.dirty`); `@info SECTION
//!   FIELD` records one numeric INFO field; `@flags X` records connection X's CLIENT LIST flags.
//! - `$id:X` in an argument is replaced by connection X's client id (CLIENT UNBLOCK, KILL).
//! - `@save NAME CMD` runs CMD (recording its reply as any command) and keeps its bulk reply
//!   as NAME; `$var:NAME` in a later argument is replaced by it (a DUMP payload to RESTORE).
//!
//! Pending sends of every connection go out before any other step, so the order of the file is
//! the order the server sees. Each case starts after FLUSHALL with fresh connections; its
//! transcript is every reply (and check) in order, named by connection, compared byte for byte.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{elements, frame_end, Conn, ServerProc};

/// What a step does on one connection.
#[derive(Debug, Clone)]
pub enum Action {
    Cmd(Vec<Vec<u8>>),
    Unordered(Vec<Vec<u8>>),
    NoReply(Vec<Vec<u8>>),
    Send(Vec<Vec<u8>>),
    Read,
    Silent,
    Hello(u8),
    Close,
    /// `@save NAME CMD`.
    Save(String, Vec<Vec<u8>>),
}

#[derive(Debug, Clone)]
pub enum Step {
    On(String, Action),
    Sleep(u64),
    /// `@blocked N`.
    Blocked(usize),
    /// `@changes`.
    Changes,
    /// `@info SECTION FIELD`: one INFO field's value.
    Info(String, String),
    /// `@flags X`: connection X's flags in CLIENT LIST.
    Flags(String),
}

impl Step {
    /// The command line this step sends, if any.
    pub fn command(&self) -> Option<&[Vec<u8>]> {
        match self {
            Step::On(
                _,
                Action::Cmd(a)
                | Action::Unordered(a)
                | Action::NoReply(a)
                | Action::Send(a)
                | Action::Save(_, a),
            ) => Some(a),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct Case {
    pub file: String,
    pub name: String,
    pub steps: Vec<Step>,
}

fn split(line: &str) -> Vec<Vec<u8>> {
    let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
    resp::split_inline(line.as_bytes(), &mut bytes, &mut ranges)
        .unwrap_or_else(|_| panic!("unbalanced quotes in case line: {line}"));
    ranges.iter().map(|&(a, b)| bytes[a..b].to_vec()).collect()
}

/// `X: rest` → (`X`, rest), for a connection name `X` (a capital letter, an optional digit).
fn connection_prefix(line: &str) -> Option<(&str, &str)> {
    let (head, rest) = line.split_once(": ")?;
    let b = head.as_bytes();
    let named = match b {
        [c] => c.is_ascii_uppercase(),
        [c, d] => c.is_ascii_uppercase() && d.is_ascii_digit(),
        _ => false,
    };
    named.then(|| (head, rest.trim()))
}

fn parse_action(s: &str) -> Action {
    match s.split_once(' ').unwrap_or((s, "")) {
        ("@hello", v) => Action::Hello(v.trim().parse().expect("hello version")),
        ("@unordered", rest) => Action::Unordered(split(rest)),
        ("@noreply", rest) => Action::NoReply(split(rest)),
        ("@send", rest) => Action::Send(split(rest)),
        ("@read", _) => Action::Read,
        ("@silent", _) => Action::Silent,
        ("@close", _) => Action::Close,
        ("@save", rest) => {
            let (name, cmd) = rest.trim().split_once(' ').expect("@save NAME CMD");
            Action::Save(name.to_string(), split(cmd))
        }
        _ => Action::Cmd(split(s)),
    }
}

fn parse_step(s: &str) -> Step {
    if let Some((conn, rest)) = connection_prefix(s) {
        return Step::On(conn.to_string(), parse_action(rest));
    }
    match s.split_once(' ').unwrap_or((s, "")) {
        ("@sleep", ms) => Step::Sleep(ms.trim().parse().expect("sleep ms")),
        ("@blocked", n) => Step::Blocked(n.trim().parse().expect("blocked count")),
        ("@changes", _) => Step::Changes,
        ("@info", rest) => {
            let (section, field) = rest.trim().split_once(' ').expect("@info SECTION FIELD");
            Step::Info(section.to_string(), field.trim().to_string())
        }
        ("@flags", conn) => Step::Flags(conn.trim().to_string()),
        _ => Step::On("A".to_string(), parse_action(s)),
    }
}

pub fn load_cases() -> Vec<Case> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("cases dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("read case file");
        for line in text.lines() {
            let s = line.trim();
            if s.is_empty() || s.starts_with('#') {
                continue;
            }
            if let Some(name) = s.strip_prefix("=== ") {
                cases.push(Case {
                    file: file.clone(),
                    name: name.trim().to_string(),
                    steps: Vec::new(),
                });
                continue;
            }
            let case = cases.last_mut().expect("command before the first case");
            case.steps.push(parse_step(s));
        }
    }
    cases
}

fn sorted_elements(frame: &[u8]) -> Vec<u8> {
    match elements(frame) {
        Some(mut e) => {
            e.sort();
            let mut out =
                frame[..frame.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2].to_vec();
            for x in e {
                out.extend_from_slice(&x);
            }
            out
        }
        None => frame.to_vec(),
    }
}

/// An INFO field as a number.
fn info_number(admin: &mut Conn, section: &str, field: &str) -> i64 {
    let info = admin
        .try_cmd(&[b"INFO", section.as_bytes()])
        .unwrap_or_else(|| panic!("the admin connection closed at INFO {section}"));
    let text = String::from_utf8_lossy(&info).into_owned();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {text}"))
}

/// Wait until the server counts `n` blocked clients (3 s at most); the count last seen.
fn await_blocked(admin: &mut Conn, n: usize) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let got = info_number(admin, "clients", "blocked_clients");
        if got == n as i64 || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One client of a case.
struct Client {
    conn: Conn,
    id: u64,
    pending: Vec<u8>,
}

impl Client {
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            // A connection the server closed shows when its reply is read.
            let _ = std::io::Write::write_all(&mut self.conn.stream, &bytes);
        }
    }

    /// The next reply within `ms`; `None` if none arrived (or the connection closed).
    fn reply_within(&mut self, ms: u64) -> Option<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_millis(ms);
        let mut got = Vec::new();
        loop {
            if let Some(end) = frame_end(&got, 0) {
                let rest = got.split_off(end);
                self.conn.unread(rest);
                return Some(got);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.conn.unread(got);
                return None;
            }
            match self.conn.read_some_within(left) {
                Some(bytes) => got.extend_from_slice(&bytes),
                None => {
                    self.conn.unread(got);
                    return None;
                }
            }
        }
    }
}

/// Run a case on one server; returns one transcript line per step that records something. A
/// failure of the runner itself (a connection gone where a reply was due) names the case.
pub fn run_case(server: &ServerProc, case: &Case) -> Vec<Vec<u8>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_steps(server, case))) {
        Ok(t) => t,
        Err(e) => {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{}: case {}: {}: {why}", server.name, case.file, case.name)
        }
    }
}

fn run_steps(server: &ServerProc, case: &Case) -> Vec<Vec<u8>> {
    let mut admin = server.conn();
    assert_eq!(
        admin.try_cmd(&[b"FLUSHALL"]).as_deref(),
        Some(&b"+OK\r\n"[..]),
        "FLUSHALL on {} before case {}",
        server.name,
        case.name
    );
    let baseline = info_number(&mut admin, "persistence", "rdb_changes_since_last_save");
    let mut clients: BTreeMap<String, Client> = BTreeMap::new();
    let mut vars: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut transcript = Vec::new();
    for step in &case.steps {
        let sending_on = match step {
            Step::On(c, Action::Send(_)) => Some(c.as_str()),
            _ => None,
        };
        for (name, c) in clients.iter_mut() {
            if Some(name.as_str()) != sending_on {
                c.flush();
            }
        }
        match step {
            Step::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Step::Changes => {
                let now = info_number(&mut admin, "persistence", "rdb_changes_since_last_save");
                transcript.push(format!("<changes: {}>", now - baseline).into_bytes());
            }
            Step::Info(section, field) => {
                let v = info_number(&mut admin, section, field);
                transcript.push(format!("<{field}: {v}>").into_bytes());
            }
            Step::Flags(name) => {
                open(server, &mut clients, name);
                let id = clients[name].id.to_string();
                let list = admin
                    .try_cmd(&[b"CLIENT", b"LIST", b"ID", id.as_bytes()])
                    .unwrap_or_else(|| panic!("the admin connection closed at CLIENT LIST"));
                let text = String::from_utf8_lossy(&list).into_owned();
                let flags = text
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("flags="))
                    .unwrap_or("<none>")
                    .to_string();
                transcript.push(format!("<flags {name}: {flags}>").into_bytes());
            }
            Step::Blocked(n) => {
                let got = await_blocked(&mut admin, *n);
                transcript.push(format!("<blocked: {got}>").into_bytes());
            }
            Step::On(name, action) => {
                open(server, &mut clients, name);
                let ids: BTreeMap<String, u64> =
                    clients.iter().map(|(k, c)| (k.clone(), c.id)).collect();
                let c = clients.get_mut(name).expect("opened");
                let recorded = act(c, action, &ids, &vars);
                if let (Action::Save(var, _), Some(r)) = (action, &recorded) {
                    vars.insert(var.clone(), bulk_content(r));
                }
                if let Some(r) = recorded {
                    let mut line = format!("{name}: ").into_bytes();
                    line.extend_from_slice(&r);
                    transcript.push(line);
                }
            }
        }
    }
    drop(clients);
    // Waiters of this case must be gone before the next one counts blocked clients.
    await_blocked(&mut admin, 0);
    transcript
}

fn open(server: &ServerProc, clients: &mut BTreeMap<String, Client>, name: &str) {
    if clients.contains_key(name) {
        return;
    }
    let mut conn = server.conn();
    let reply = conn
        .try_cmd(&[b"CLIENT", b"ID"])
        .unwrap_or_else(|| panic!("{}: a new connection closed at CLIENT ID", server.name));
    let id = String::from_utf8_lossy(&reply)
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("CLIENT ID answered {reply:?}"));
    clients.insert(
        name.to_string(),
        Client {
            conn,
            id,
            pending: Vec::new(),
        },
    );
}

/// The content of a bulk reply (`$N\r\n…\r\n`); anything else as it is.
fn bulk_content(frame: &[u8]) -> Vec<u8> {
    let Some(rest) = frame.strip_prefix(b"$") else {
        return frame.to_vec();
    };
    match rest.iter().position(|&b| b == b'\r') {
        Some(at) if rest.len() >= at + 4 => rest[at + 2..rest.len() - 2].to_vec(),
        _ => frame.to_vec(),
    }
}

/// `$id:X` replaced by connection X's id, `$var:NAME` by a saved reply.
fn substitute(
    args: &[Vec<u8>],
    ids: &BTreeMap<String, u64>,
    vars: &BTreeMap<String, Vec<u8>>,
) -> Vec<Vec<u8>> {
    args.iter()
        .map(|a| {
            if let Some(name) = a.strip_prefix(b"$var:") {
                let name = String::from_utf8_lossy(name).into_owned();
                return vars
                    .get(&name)
                    .unwrap_or_else(|| panic!("$var:{name} before @save {name}"))
                    .clone();
            }
            a.clone()
        })
        .map(|a| match a.strip_prefix(b"$id:") {
            Some(name) => {
                let name = String::from_utf8_lossy(name).into_owned();
                let id = ids
                    .get(&name)
                    .unwrap_or_else(|| panic!("$id:{name} before connection {name} was used"));
                id.to_string().into_bytes()
            }
            None => a.clone(),
        })
        .collect()
}

fn act(
    c: &mut Client,
    action: &Action,
    ids: &BTreeMap<String, u64>,
    vars: &BTreeMap<String, Vec<u8>>,
) -> Option<Vec<u8>> {
    let reply_or_closed = |r: Option<Vec<u8>>| r.unwrap_or_else(|| b"<no reply>".to_vec());
    match action {
        Action::Cmd(a) | Action::Unordered(a) | Action::Save(_, a) => {
            let args = substitute(a, ids, vars);
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            c.pending.extend_from_slice(&crate::common::encode(&refs));
            c.flush();
            let r = reply_or_closed(c.reply_within(5000));
            Some(match action {
                Action::Unordered(_) => sorted_elements(&r),
                _ => r,
            })
        }
        Action::NoReply(a) => {
            let args = substitute(a, ids, vars);
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            c.pending.extend_from_slice(&crate::common::encode(&refs));
            c.flush();
            let got = c.reply_within(100).is_some();
            Some(format!("<noreply: {}>", if got { "GOT DATA" } else { "ok" }).into_bytes())
        }
        Action::Send(a) => {
            let args = substitute(a, ids, vars);
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            c.pending.extend_from_slice(&crate::common::encode(&refs));
            None
        }
        Action::Read => Some(reply_or_closed(c.reply_within(5000))),
        Action::Silent => {
            let got = c.reply_within(150);
            Some(match got {
                None => b"<silent>".to_vec(),
                Some(r) => {
                    let mut v = b"<not silent: ".to_vec();
                    v.extend_from_slice(&r);
                    v.push(b'>');
                    v
                }
            })
        }
        Action::Hello(v) => {
            // A closed connection shows at the next reply read.
            let _ = c.conn.try_cmd(&[b"HELLO", v.to_string().as_bytes()]);
            None
        }
        Action::Close => {
            let _ = c.conn.stream.shutdown(std::net::Shutdown::Both);
            None
        }
    }
}
