//! One Lua interpreter with its compiled scripts. The server keeps one per I/O thread (an
//! interpreter is not shared between threads), each compiling a script the first time that
//! thread runs it; the script bodies themselves live in the server's shared cache.

use std::collections::HashSet;

type FastSet<T> = HashSet<T, foldhash::fast::FixedState>;

use mlua::{Function, Lua, Table, Value};
use resp::Reply;

use crate::convert::{lua_to_reply, reply_to_lua};
use crate::number::format_g14;
use crate::raw::Ran;
use crate::sandbox::{self, Sandbox};

/// What the engine needs from the server while a script runs.
pub trait Host {
    /// Run a command the script called (`redis.call`/`pcall`) with the script's protocol
    /// (`resp`, 2 or 3) and replication flags (`repl`, Redis's `REPL_*` bits); its RESP reply
    /// goes to `reply` (which the host empties first). Refusals (unknown command, arity,
    /// no-script, writes in a read-only script …) are error replies too, for which it
    /// returns false (the command did not run).
    fn call(&mut self, argv: resp::Argv<'_>, resp: u8, repl: u8, reply: &mut Reply) -> bool;
    /// `redis.log(level, …)`: 0 debug, 1 verbose, 2 notice, 3 warning.
    fn log(&mut self, level: u8, message: &[u8]);
    /// Whether `name` is a command (`redis.acl_check_cmd`).
    fn known_command(&self, name: &[u8]) -> bool;
    /// Called every [`TICK_INSTRUCTIONS`] Lua instructions while the script runs (Redis's
    /// count hook): the host notices a script running long (busy) and answers `true` when it
    /// is to be stopped (SCRIPT KILL).
    fn tick(&mut self) -> bool;
}

/// Lua instructions between two [`Host::tick`] calls (Redis's hook period).
pub const TICK_INSTRUCTIONS: u32 = 100_000;

/// Memory one interpreter may hold (its scripts' tables and strings). Redis sets no limit and
/// a script allocating without end takes the server down; here the allocation fails and the
/// script ends with Lua's "not enough memory".
pub const MEMORY_LIMIT_BYTES: usize = 1 << 30;

/// The error a library's code ends with when it runs too long in FUNCTION LOAD.
pub const LOAD_TIMEOUT: &str = "FUNCTION LOAD timeout";

/// The error a script stopped by SCRIPT KILL ends with.
pub const KILLED: &str = "Script killed by user with SCRIPT KILL...";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// EVALSHA of a script this interpreter does not have.
    #[error("NOSCRIPT No matching script. Please use EVAL.")]
    NoScript,
    /// The interpreter itself failed (out of memory while setting up).
    #[error("ERR {0}")]
    Lua(#[from] mlua::Error),
}

pub struct Engine {
    pub(crate) lua: Lua,
    pub(crate) sandbox: Sandbox,
    /// Compiled scripts by SHA-1 (hex), in a Lua table: mlua holds fewer than 8,000 handles
    /// at once, far fewer than the scripts a server may cache.
    scripts: Table,
    /// Their names, to answer without touching Lua.
    names: FastSet<String>,
    /// Function libraries' registered functions: library id → {function name → callback}.
    pub(crate) libraries: Table,
    pub(crate) library_ids: FastSet<u64>,
}

impl Engine {
    /// A new interpreter; `version` is what `redis.REDIS_VERSION` reports.
    pub fn new(version: &str, version_num: i64) -> Result<Engine, RunError> {
        let lua = sandbox::new_lua()?;
        let sandbox = sandbox::build(&lua, version, version_num)?;
        lua.set_memory_limit(MEMORY_LIMIT_BYTES)?;
        let scripts = lua.create_table()?;
        let libraries = lua.create_table()?;
        let engine = Engine {
            lua,
            sandbox,
            scripts,
            names: FastSet::default(),
            libraries,
            library_ids: FastSet::default(),
        };
        engine.install_run_hook();
        Ok(engine)
    }

    /// The hook scripts run under: every [`TICK_INSTRUCTIONS`] instructions, the load time
    /// limit, SCRIPT KILL and the host's busy check.
    fn install_run_hook(&self) {
        let host = self.sandbox.host.clone();
        self.lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(TICK_INSTRUCTIONS),
            move |_, _| {
                let state = crate::current::state();
                if let Some(deadline) = state.load_deadline {
                    // A library loading: only its time limit applies.
                    if std::time::Instant::now() > deadline {
                        return sandbox::raise(&host, LOAD_TIMEOUT);
                    }
                    return Ok(mlua::VmState::Continue);
                }
                // Once stopped, a script is stopped again at every tick, so a pcall that
                // catches the error cannot keep it going (the pcall wrapper re-raises too).
                if state.killed {
                    return sandbox::raise(&host, KILLED);
                }
                if crate::current::with(|h| h.tick()).unwrap_or(false) {
                    crate::current::set_state(|s| s.killed = true);
                    return sandbox::raise(&host, KILLED);
                }
                Ok(mlua::VmState::Continue)
            },
        );
    }

    /// [`Engine::run`] as a debugging session (SCRIPT DEBUG SYNC): the script stops at its
    /// first line and wherever the client asks, served through `io`. `body` is the source
    /// the debugger lists; `timeout_ms` stops a script that runs that long without a stop.
    #[allow(clippy::too_many_arguments)]
    pub fn run_debug(
        &mut self,
        sha: &str,
        body: &[u8],
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut Reply,
        io: Box<dyn crate::ldb::DebugIo>,
        timeout_ms: u64,
    ) -> Result<(), RunError> {
        crate::ldb::start(io, body, timeout_ms);
        let helpers = self.sandbox.clone();
        self.lua.set_hook(
            mlua::HookTriggers::new()
                .every_line()
                .every_nth_instruction(TICK_INSTRUCTIONS),
            move |lua, debug| match crate::ldb::hook(lua, &debug, &helpers) {
                crate::ldb::Resume::Continue => Ok(mlua::VmState::Continue),
                crate::ldb::Resume::Abort(msg) => sandbox::raise(&helpers.host, msg),
            },
        );
        let ran = self.run(sha, keys, args, host, out);
        self.install_run_hook();
        crate::ldb::end();
        ran
    }

    pub fn is_loaded(&self, sha: &str) -> bool {
        self.names.contains(sha)
    }

    /// Compile `body` as script `sha`. The error is the reply's text (`ERR Error compiling
    /// script …`, or a shebang error).
    pub fn load(&mut self, sha: &str, body: &[u8]) -> Result<(), String> {
        if self.names.contains(sha) {
            return Ok(());
        }
        let shebang = crate::shebang::parse(body).map_err(|e| format!("ERR {e}"))?;
        // The shebang line is left out but its line feed kept, so line numbers hold.
        let code = &body[shebang.len..];
        let f = self
            .lua
            .load(code)
            .set_name("@user_script")
            .set_environment(self.sandbox.env.clone())
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    lua_error_text(&e)
                )
            })?;
        self.scripts
            .raw_set(sha, f)
            .map_err(|e| format!("ERR {}", lua_error_text(&e)))?;
        self.names.insert(sha.to_string());
        Ok(())
    }

    /// Forget every compiled script (SCRIPT FLUSH).
    pub fn flush(&mut self) {
        if let Ok(t) = self.lua.create_table() {
            self.scripts = t;
        }
        self.names.clear();
        self.lua.gc_collect().ok();
    }

    /// Bytes the interpreter holds (INFO `used_memory_lua`).
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Run script `sha` (loaded) with KEYS and ARGV; its reply (or its error) goes to `out`.
    pub fn run(
        &mut self,
        sha: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> Result<(), RunError> {
        let sb = &self.sandbox;
        crate::current::set_state(|s| *s = crate::current::RunState::START);
        crate::call::reset();
        let ran = {
            let _installed = crate::current::install(host);
            crate::raw::run_script(
                &self.lua,
                &sb.handler,
                &self.scripts,
                &sb.globals,
                &sb.host,
                sha,
                keys,
                args,
            )?
        };
        let script_resp = crate::current::state().resp;
        // KEYS and ARGV stay set until the next run, as in Redis.
        let _unlimited = Unlimited::new(&self.lua);
        match ran {
            Ran::Ok(result) => lua_to_reply(&self.lua, result, out, script_resp)?,
            Ran::Failed(err) => out.error(error_reply(&err, sha).as_bytes()),
            Ran::Missing => return Err(RunError::NoScript),
        }
        Ok(())
    }
}

/// `redis.call`/`pcall`: the arguments (taken from the Lua stack by the trampoline, see
/// `sandbox::trampoline`; `valid` false when one was neither a string nor a number) as a
/// command, run by the host, its reply as a Lua value. A failure (an error reply, or
/// arguments that are no command) is the `{err=…}` table: returned by `pcall`, raised by
/// `call` (through `H.raised`, see sandbox.lua).
pub(crate) fn command(
    lua: &Lua,
    host_table: &Table,
    host: &mut dyn Host,
    args: &CallArgs,
    raise: bool,
) -> mlua::Result<Value> {
    let crate::current::RunState { resp, repl, .. } = crate::current::state();
    let failure = |msg: &str| -> mlua::Result<Value> {
        if crate::ldb::stepping() {
            crate::ldb::log(format!("<error> {msg}"));
        }
        let e: Value = host_table.raw_get::<Function>("err_table")?.call(msg)?;
        if raise {
            host_table.raw_set("raised", e)?;
            Err(mlua::Error::runtime("redis.call failed"))
        } else {
            Ok(e)
        }
    };
    if !args.valid {
        return failure("Lua redis lib command arguments must be strings or integers");
    }
    if args.ranges.is_empty() {
        return failure("Please specify at least one argument for this redis lib call");
    }
    let stepping = crate::ldb::stepping();
    if stepping {
        let argv = resp::Argv::from_parts(&args.src, &args.ranges);
        crate::ldb::log_command(&argv.iter().collect::<Vec<_>>());
    }
    REPLY.with(|cell| {
        let mut reply = cell.take();
        let ran = host.call(
            resp::Argv::from_parts(&args.src, &args.ranges),
            resp,
            repl,
            &mut reply,
        );
        let value = {
            let _unlimited = Unlimited::new(lua);
            reply_to_lua(lua, reply.as_bytes())
        };
        let is_error = reply.as_bytes().first() == Some(&b'-');
        if stepping {
            // As Redis logs them: a refusal's message alone, a command's error reply as it
            // came, and then the reply.
            let text = String::from_utf8_lossy(reply.as_bytes());
            let text = text.trim_end();
            if !ran {
                let msg = text.trim_start_matches('-');
                crate::ldb::log(format!(
                    "<error> {}",
                    msg.strip_prefix("ERR ").unwrap_or(msg)
                ));
            } else {
                if is_error {
                    crate::ldb::log(format!("<error> {text}"));
                }
                crate::ldb::log_reply(reply.as_bytes());
            }
        }
        cell.set(reply);
        let value = value?;
        if is_error && raise {
            host_table.raw_set("raised", value)?;
            return Err(mlua::Error::runtime("redis.call failed"));
        }
        Ok(value)
    })
}

/// A `redis.call`'s arguments, back to back in `src`, one `(start, end)` per argument.
#[derive(Default)]
pub(crate) struct CallArgs {
    pub src: Vec<u8>,
    pub ranges: Vec<(usize, usize)>,
    pub valid: bool,
}

thread_local! {
    /// The buffer commands called by scripts reply into, kept between calls.
    static REPLY: std::cell::Cell<Reply> = std::cell::Cell::new(Reply::new());
}

/// While this lives, the interpreter's memory limit is off: with a limit set, mlua makes every
/// allocation from Rust (a string, a table, a field set) a protected call, which creates a
/// closure each time — a third of a short script's cost, and garbage for the collector. The
/// limit is off only while Rust code builds or reads values of bounded size (KEYS/ARGV, a
/// command's reply, the script's result), never while script code runs.
pub(crate) struct Unlimited<'a>(&'a Lua);

impl<'a> Unlimited<'a> {
    pub(crate) fn new(lua: &'a Lua) -> Self {
        let _ = lua.set_memory_limit(0);
        Unlimited(lua)
    }
}

impl Drop for Unlimited<'_> {
    fn drop(&mut self) {
        let _ = self.0.set_memory_limit(MEMORY_LIMIT_BYTES);
    }
}

/// The reply to a script that raised `err`: its message, then where it was raised.
pub(crate) fn error_reply(err: &Value, sha: &str) -> String {
    let Value::Table(t) = err else {
        let msg = match err {
            Value::String(s) => s.to_string_lossy(),
            _ => "execution failure".to_string(),
        };
        let msg: String = msg.chars().take(100).collect();
        return format!("ERR Error running script {sha}, {msg}");
    };
    let text = |name: &str| -> Option<String> {
        match t.raw_get::<Value>(name).ok()? {
            Value::String(s) => Some(s.to_string_lossy()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Number(n) => Some(format_g14(n)),
            _ => None,
        }
    };
    let msg = text("err").unwrap_or_else(|| "ERR unknown error".to_string());
    match (text("source"), text("line")) {
        (Some(source), Some(line)) => format!("{msg} script: {sha}, on {source}:{line}."),
        _ => msg,
    }
}

/// The text of a Lua error, without mlua's decorations.
pub(crate) fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}
