//! The Lua debugger (SCRIPT DEBUG, `redis-cli --ldb`), as Redis 7.0 has it: an EVAL in debug
//! mode stops at its first line and at breakpoints; the client then sends debugger commands
//! (as RESP arrays) on its connection, read here with blocking I/O from inside the line hook,
//! and gets the debugger's output as arrays of status lines. The session's state is this
//! thread's ([`SESSION`]) while the script runs.

use std::cell::RefCell;
use std::time::Instant;

use mlua::{Debug, DebugEvent, Lua, Value};

mod inspect;
mod show;

use inspect::{eval, print, trace};

pub(crate) use show::repr_value;
use show::{c_atoi, find_crlf, parse_long, protocol_to_human, HELP};

/// The client connection of a debugging session, read and written with blocking calls.
pub trait DebugIo {
    /// Send all of `bytes` (errors are seen at the next read).
    fn write(&mut self, bytes: &[u8]);
    /// Read some bytes; 0 when the client is gone.
    fn read(&mut self, buf: &mut [u8]) -> usize;
}

/// Replies and Lua values longer than this are cut in the output (`maxlen`).
const MAX_LEN_DEFAULT: usize = 256;
/// Most breakpoints at once.
const BREAKPOINTS_MAX: usize = 64;
/// Most bytes of a debugger command waiting in the buffer.
const MAX_COMMAND_BYTES: usize = 1 << 20;

pub(crate) struct Session {
    io: Box<dyn DebugIo>,
    src: Vec<String>,
    breakpoints: Vec<i32>,
    /// Stop at the next line.
    pub(crate) step: bool,
    /// `redis.breakpoint()` was called: stop at the next line.
    pub(crate) luabp: bool,
    maxlen: usize,
    maxlen_hint_sent: bool,
    logs: Vec<String>,
    cbuf: Vec<u8>,
    pub(crate) currentline: i32,
    started: Instant,
    /// `busy-reply-threshold` (or 5 s): a script running this long without stopping is
    /// stopped, in case it loops.
    timeout_ms: u64,
}

thread_local! {
    pub(crate) static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// Start a session for a script whose source is `body`.
pub(crate) fn start(io: Box<dyn DebugIo>, body: &[u8], timeout_ms: u64) {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_end_matches(['\n', '\r']);
    let src = trimmed.split('\n').map(str::to_string).collect();
    let session = Session {
        io,
        src,
        breakpoints: Vec::new(),
        step: true,
        luabp: false,
        maxlen: MAX_LEN_DEFAULT,
        maxlen_hint_sent: false,
        logs: Vec::new(),
        cbuf: Vec::new(),
        currentline: 0,
        started: Instant::now(),
        timeout_ms: if timeout_ms == 0 { 5000 } else { timeout_ms },
    };
    SESSION.with(|s| *s.borrow_mut() = Some(session));
}

/// End the session: what is left of the output, then `<endsession>`.
pub(crate) fn end() {
    if let Some(mut s) = SESSION.with(|s| s.borrow_mut().take()) {
        s.logs.push("<endsession>".into());
        s.send_logs();
    }
}

pub fn active() -> bool {
    SESSION.with(|s| s.borrow().is_some())
}

/// Whether commands and errors are logged now (Redis's `ldbIsEnabled`: stepping).
pub(crate) fn stepping() -> bool {
    SESSION.with(|s| s.borrow().as_ref().is_some_and(|s| s.step))
}

/// Add an entry to the output.
pub(crate) fn log(entry: String) {
    SESSION.with(|s| {
        if let Some(s) = s.borrow_mut().as_mut() {
            s.logs.push(entry);
        }
    });
}

/// Add an entry cut at `maxlen`.
pub(crate) fn log_with_max_len(entry: String) {
    SESSION.with(|s| {
        if let Some(s) = s.borrow_mut().as_mut() {
            s.log_with_max_len(entry);
        }
    });
}

/// `<redis> cmd args…` (ten arguments at most) for a command a stepping script calls.
pub(crate) fn log_command(args: &[&[u8]]) {
    let mut line = String::from("<redis>");
    for (j, a) in args.iter().enumerate() {
        if j == 10 {
            line.push_str(&format!(" ... ({} more)", args.len() - j - 1));
            break;
        }
        line.push(' ');
        line.push_str(&String::from_utf8_lossy(a));
    }
    log(line);
}

/// `<reply> …`: a command's RESP reply in readable form.
pub(crate) fn log_reply(reply: &[u8]) {
    let mut out = String::from("<reply> ");
    protocol_to_human(&mut out, reply);
    log_with_max_len(out);
}

impl Session {
    fn log_with_max_len(&mut self, mut entry: String) {
        let mut trimmed = false;
        if self.maxlen > 0 && entry.len() > self.maxlen {
            let mut cut = self.maxlen;
            while !entry.is_char_boundary(cut) {
                cut -= 1;
            }
            entry.truncate(cut);
            entry.push_str(" ...");
            trimmed = true;
        }
        self.logs.push(entry);
        if trimmed && !self.maxlen_hint_sent {
            self.maxlen_hint_sent = true;
            self.logs.push(
                "<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.".into(),
            );
        }
    }

    fn send_logs(&mut self) {
        let mut proto = format!("*{}\r\n", self.logs.len()).into_bytes();
        for entry in self.logs.drain(..) {
            proto.push(b'+');
            proto.extend(
                entry
                    .bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            proto.extend_from_slice(b"\r\n");
        }
        self.io.write(&proto);
    }

    fn source_line(&self, line: i32) -> &str {
        usize::try_from(line - 1)
            .ok()
            .and_then(|i| self.src.get(i))
            .map_or("<out of range source code line>", String::as_str)
    }

    fn is_breakpoint(&self, line: i32) -> bool {
        self.breakpoints.contains(&line)
    }

    fn log_source_line(&mut self, line: i32) {
        let prefix = match (self.currentline == line, self.is_breakpoint(line)) {
            (true, true) => "->#",
            (true, false) => "-> ",
            (false, true) => "  #",
            (false, false) => "   ",
        };
        let text = format!("{prefix}{line:<3} {}", self.source_line(line));
        self.logs.push(text);
    }

    fn list(&mut self, around: i32, context: i32) {
        for line in 1..=self.src.len() as i32 {
            if around != 0 && (around - line).abs() > context {
                continue;
            }
            self.log_source_line(line);
        }
    }

    fn breakpoint_command(&mut self, argv: &[String]) {
        if argv.len() == 1 {
            if self.breakpoints.is_empty() {
                self.logs
                    .push("No breakpoints set. Use 'b <line>' to add one.".into());
            } else {
                self.logs
                    .push(format!("{} breakpoints set:", self.breakpoints.len()));
                for line in self.breakpoints.clone() {
                    self.log_source_line(line);
                }
            }
            return;
        }
        for arg in &argv[1..] {
            let Some(line) = parse_long(arg) else {
                self.logs.push(format!("Invalid argument:'{arg}'"));
                continue;
            };
            if line == 0 {
                self.breakpoints.clear();
                self.logs.push("All breakpoints removed.".into());
            } else if line > 0 {
                let line = line.min(i64::from(i32::MAX)) as i32;
                if self.breakpoints.len() == BREAKPOINTS_MAX {
                    self.logs.push("Too many breakpoints set.".into());
                } else if line <= self.src.len() as i32 && !self.is_breakpoint(line) {
                    self.breakpoints.push(line);
                    self.list(line, 1);
                } else {
                    self.logs.push("Wrong line number.".into());
                }
            } else {
                let line = (-line).min(i64::from(i32::MAX)) as i32;
                if let Some(at) = self.breakpoints.iter().position(|&b| b == line) {
                    self.breakpoints.remove(at);
                    self.logs.push("Breakpoint removed.".into());
                } else {
                    self.logs
                        .push("No breakpoint in the specified line.".into());
                }
            }
        }
    }

    fn maxlen_command(&mut self, argv: &[String]) {
        if argv.len() == 2 {
            let mut v = c_atoi(&argv[1]);
            self.maxlen_hint_sent = true;
            if v != 0 && v <= 60 {
                v = 60;
            }
            self.maxlen = v.max(0) as usize;
        }
        if self.maxlen > 0 {
            self.logs.push(format!(
                "<value> replies are truncated at {} bytes.",
                self.maxlen
            ));
        } else {
            self.logs.push("<value> replies are unlimited.".into());
        }
    }

    /// The next command in the buffer (Redis's forgiving parser): `Ok(None)` to read more.
    fn parse_command(&self) -> Result<Option<Vec<String>>, ()> {
        let buf = &self.cbuf;
        if buf.is_empty() {
            return Ok(None);
        }
        let Some(star) = buf.iter().position(|&b| b == b'*') else {
            return Err(());
        };
        let mut p = star + 1;
        let Some(end) = find_crlf(buf, p) else {
            return Ok(None);
        };
        let argc = c_atoi(&String::from_utf8_lossy(&buf[p..end]));
        if argc <= 0 || argc > 1024 {
            return Err(());
        }
        p = end + 2;
        let mut argv = Vec::new();
        while argv.len() < argc as usize {
            if p >= buf.len() {
                return Ok(None);
            }
            if buf[p] != b'$' {
                return Err(());
            }
            let Some(end) = find_crlf(buf, p + 1) else {
                return Ok(None);
            };
            let len = c_atoi(&String::from_utf8_lossy(&buf[p + 1..end]));
            if len <= 0 || len > 1024 {
                return Err(());
            }
            p = end + 2;
            let len = len as usize;
            if p + len + 2 > buf.len() {
                return Ok(None);
            }
            argv.push(String::from_utf8_lossy(&buf[p..p + len]).into_owned());
            p += len;
            if &buf[p..p + 2] != b"\r\n" {
                return Err(());
            }
            p += 2;
        }
        Ok(Some(argv))
    }
}

/// What the line hook asks of the engine once the client said how to go on.
pub(crate) enum Resume {
    Continue,
    /// `abort`, or the client left during a timeout stop: raise this error.
    Abort(&'static str),
}

/// The debugger's line (and count) hook: stop when stepping, at a breakpoint, or when the
/// script has run too long; then serve the client's commands until it steps or continues.
pub(crate) fn hook(lua: &Lua, debug: &Debug, helpers: &crate::sandbox::Sandbox) -> Resume {
    let source = debug.source();
    if !source
        .short_src
        .as_deref()
        .is_some_and(|s| s.contains("user_script"))
    {
        return Resume::Continue;
    }
    let line = debug.curr_line();
    let count_event = matches!(debug.event(), DebugEvent::Count);
    let stop = SESSION.with(|cell| {
        let mut guard = cell.borrow_mut();
        let s = guard.as_mut()?;
        s.currentline = line;
        let bp = s.is_breakpoint(line) || s.luabp;
        let mut timeout = false;
        if count_event && !s.step && !bp {
            if (s.started.elapsed().as_millis() as u64) < s.timeout_ms {
                return None;
            }
            timeout = true;
            s.step = true;
        }
        if !(s.step || bp) {
            return None;
        }
        let reason = if bp {
            if s.luabp {
                "redis.breakpoint() called"
            } else {
                "break point"
            }
        } else if timeout {
            "timeout reached, infinite loop?"
        } else {
            "step over"
        };
        s.step = false;
        s.luabp = false;
        s.logs
            .push(format!("* Stopped at {line}, stop reason = {reason}"));
        s.log_source_line(line);
        s.send_logs();
        Some(timeout)
    });
    let Some(timeout) = stop else {
        return Resume::Continue;
    };
    let resume = repl(lua, helpers);
    SESSION.with(|cell| {
        if let Some(s) = cell.borrow_mut().as_mut() {
            s.started = Instant::now();
        }
    });
    match resume {
        Err(Gone) if timeout => {
            Resume::Abort("timeout during Lua debugging with client closing connection")
        }
        Err(Gone) => Resume::Continue,
        Ok(r) => r,
    }
}

/// The client went away.
struct Gone;

/// Serve debugger commands until one resumes the script.
fn repl(lua: &Lua, helpers: &crate::sandbox::Sandbox) -> Result<Resume, Gone> {
    loop {
        let argv = read_command()?;
        let argv = match argv {
            Ok(a) => a,
            Err(e) => return Ok(Resume::Abort(e)),
        };
        let cmd = argv[0].to_ascii_lowercase();
        let with = |f: &mut dyn FnMut(&mut Session)| {
            SESSION.with(|cell| {
                if let Some(s) = cell.borrow_mut().as_mut() {
                    f(s);
                    s.send_logs();
                }
            });
        };
        match cmd.as_str() {
            "h" | "help" => with(&mut |s| s.logs.extend(HELP.iter().map(|l| l.to_string()))),
            "s" | "step" | "n" | "next" => {
                with_session(|s| s.step = true);
                return Ok(Resume::Continue);
            }
            "c" | "continue" => return Ok(Resume::Continue),
            "t" | "trace" => {
                let frames = trace(lua);
                with(&mut |s| {
                    if frames.is_empty() {
                        s.logs.push("<error> Can't retrieve Lua stack.".into());
                    }
                    for (i, (name, line)) in frames.iter().enumerate() {
                        let place = if i == 0 { "In" } else { "From" };
                        s.logs.push(format!("{place} {name}:"));
                        s.log_source_line(*line);
                    }
                });
            }
            "m" | "maxlen" => with(&mut |s| s.maxlen_command(&argv)),
            "b" | "break" => with(&mut |s| s.breakpoint_command(&argv)),
            "e" | "eval" => {
                let entry = eval(lua, helpers, &argv[1..].join(" "));
                with(&mut |s| match &entry {
                    Ok(v) => s.log_with_max_len(v.clone()),
                    Err(e) => s.logs.push(e.clone()),
                });
            }
            "a" | "abort" => return Ok(Resume::Abort("script aborted for user request")),
            "r" | "redis" if argv.len() > 1 => {
                with_session(|s| s.step = true);
                let call: mlua::Result<mlua::Function> = helpers.host.raw_get("pcall");
                if let Ok(call) = call {
                    let args: Vec<mlua::Value> = argv[1..]
                        .iter()
                        .filter_map(|a| lua.create_string(a).ok().map(Value::String))
                        .collect();
                    let _ = call.call::<Value>(mlua::MultiValue::from_iter(args));
                }
                with_session(|s| s.step = false);
                with(&mut |_| {});
            }
            "p" | "print" => {
                let entries = print(lua, helpers, argv.get(1).map(String::as_str));
                with(&mut |s| {
                    for e in &entries {
                        s.log_with_max_len(e.clone());
                    }
                });
            }
            "l" | "list" => with(&mut |s| {
                let mut around = s.currentline;
                if let Some(n) = argv.get(1).map(|a| c_atoi(a)) {
                    if n > 0 {
                        around = n.min(i64::from(i32::MAX)) as i32;
                    }
                }
                let ctx = argv.get(2).map_or(5, |a| c_atoi(a) as i32);
                s.list(around, ctx);
            }),
            "w" | "whole" => with(&mut |s| s.list(1, 1_000_000)),
            _ => with(&mut |s| {
                s.logs.push(
                    "<error> Unknown Redis Lua debugger command or wrong number of arguments."
                        .into(),
                )
            }),
        }
    }
}

fn with_session(f: impl FnOnce(&mut Session)) {
    SESSION.with(|cell| {
        if let Some(s) = cell.borrow_mut().as_mut() {
            f(s);
        }
    });
}

/// The next command from the client: `Err(Gone)` when it left, `Ok(Err(..))` for a protocol
/// error or a command too long (the script is then stopped, as in Redis).
fn read_command() -> Result<Result<Vec<String>, &'static str>, Gone> {
    loop {
        let parsed = SESSION.with(|cell| {
            let mut guard = cell.borrow_mut();
            let s = guard.as_mut()?;
            Some(match s.parse_command() {
                Ok(Some(argv)) => {
                    s.cbuf.clear();
                    Some(Ok(argv))
                }
                Ok(None) => None,
                Err(()) => Some(Err("protocol error")),
            })
        });
        match parsed {
            None => return Err(Gone),
            Some(Some(r)) => return Ok(r),
            Some(None) => {}
        }
        let mut buf = [0u8; 1024];
        let n = SESSION.with(|cell| {
            let mut guard = cell.borrow_mut();
            guard.as_mut().map_or(0, |s| s.io.read(&mut buf))
        });
        if n == 0 {
            with_session(|s| {
                s.step = false;
                s.breakpoints.clear();
            });
            return Err(Gone);
        }
        let too_long = SESSION.with(|cell| {
            let mut guard = cell.borrow_mut();
            let Some(s) = guard.as_mut() else {
                return false;
            };
            s.cbuf.extend_from_slice(&buf[..n]);
            if s.cbuf.len() > MAX_COMMAND_BYTES {
                s.cbuf.clear();
                return true;
            }
            false
        });
        if too_long {
            return Ok(Err("max client buffer reached"));
        }
    }
}
