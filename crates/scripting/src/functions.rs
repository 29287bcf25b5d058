//! Function libraries (FUNCTION LOAD, FCALL) in an interpreter. A library's code runs once
//! per interpreter to register its functions (`redis.register_function`, see sandbox.lua);
//! the callbacks stay in the interpreter's `libraries` table under the library's id, which
//! the server's registry hands out (a replaced library gets a new id, so an interpreter never
//! runs a stale one).

use std::time::{Duration, Instant};

use mlua::{Function, Table, Value};
use resp::Reply;

use crate::convert::lua_to_reply;
use crate::engine::{error_reply, lua_error_text, Unlimited};
use crate::raw::Ran;
use crate::{Engine, Host, RunError, ScriptFlags};

/// A function a library registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub name: String,
    pub description: Option<Vec<u8>>,
    pub flags: ScriptFlags,
}

impl Engine {
    pub fn has_library(&self, id: u64) -> bool {
        self.library_ids.contains(&id)
    }

    /// Forget library `id`'s functions.
    pub fn drop_library(&mut self, id: u64) {
        if self.library_ids.remove(&id) {
            let _ = self.libraries.raw_set(id, Value::Nil);
        }
    }

    /// Forget every library (the registry changed; they load again when called).
    pub fn drop_libraries(&mut self) {
        if let Ok(t) = self.lua.create_table() {
            self.libraries = t;
        }
        self.library_ids.clear();
        self.lua.gc_collect().ok();
    }

    /// Compile and run `code` (a library's code after its `#!lua` line, line feed kept) as
    /// library `id`, within `timeout` (none when loading from disk, as Redis). Returns the
    /// functions it registered, or the error reply's text without `ERR `.
    pub fn load_library(
        &mut self,
        id: u64,
        code: &[u8],
        timeout: Option<Duration>,
        host: &mut dyn Host,
    ) -> Result<Vec<Registered>, String> {
        self.drop_library(id);
        let chunk = self
            .lua
            .load(code)
            .set_name("@user_function")
            .set_environment(self.sandbox.fenv.clone())
            .into_function()
            .map_err(|e| format!("Error compiling function: {}", lua_error_text(&e)))?;
        crate::current::set_state(|s| {
            *s = crate::current::RunState::START;
            s.load_deadline = timeout.map(|t| Instant::now() + t);
        });
        let ran = {
            let _installed = crate::current::install(host);
            self.sandbox
                .load_library
                .call::<(bool, Value)>(chunk)
                .map_err(|e| lua_error_text(&e))
        };
        crate::current::set_state(|s| s.load_deadline = None);
        let (ok, result) = ran?;
        if !ok {
            return Err(format!(
                "Error registering functions: {}",
                load_error(&result)
            ));
        }
        let Value::Table(list) = result else {
            return Err("Error registering functions: ERR no registration list".into());
        };
        let callbacks = self.lua.create_table().map_err(|e| lua_error_text(&e))?;
        let mut registered = Vec::new();
        for entry in list.sequence_values::<Table>() {
            let entry = entry.map_err(|e| lua_error_text(&e))?;
            let read = || -> mlua::Result<Registered> {
                let name: String = entry.raw_get("name")?;
                let callback: Function = entry.raw_get("callback")?;
                callbacks.raw_set(name.as_str(), callback)?;
                let description: Option<mlua::String> = entry.raw_get("description")?;
                let flags: Table = entry.raw_get("flags")?;
                let mut f = ScriptFlags::default();
                for flag in flags.sequence_values::<String>() {
                    match flag?.as_str() {
                        "no-writes" => f.no_writes = true,
                        "allow-oom" => f.allow_oom = true,
                        "allow-stale" => f.allow_stale = true,
                        "no-cluster" => f.no_cluster = true,
                        _ => f.allow_cross_slot_keys = true,
                    }
                }
                Ok(Registered {
                    name,
                    description: description.map(|d| d.as_bytes().to_vec()),
                    flags: f,
                })
            };
            registered.push(read().map_err(|e| lua_error_text(&e))?);
        }
        self.libraries
            .raw_set(id, callbacks)
            .map_err(|e| lua_error_text(&e))?;
        self.library_ids.insert(id);
        Ok(registered)
    }

    /// Run function `name` of library `id` (loaded) with its keys and arguments; its reply
    /// (or error, naming the function as Redis does) goes to `out`.
    pub fn call_function(
        &mut self,
        id: u64,
        name: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> Result<(), RunError> {
        let f = {
            let _unlimited = Unlimited::new(&self.lua);
            let callbacks: Option<Table> = self.libraries.raw_get(id)?;
            let f: Option<Function> = match callbacks {
                Some(t) => t.raw_get(name)?,
                None => None,
            };
            f.ok_or(RunError::NoScript)?
        };
        crate::current::set_state(|s| *s = crate::current::RunState::START);
        crate::call::reset();
        let ran = {
            let _installed = crate::current::install(host);
            let sb = &self.sandbox;
            crate::raw::run_function(&self.lua, &sb.handler, &sb.host, &f, keys, args)?
        };
        let resp = crate::current::state().resp;
        let _unlimited = Unlimited::new(&self.lua);
        match ran {
            Ran::Ok(result) => lua_to_reply(&self.lua, result, out, resp)?,
            Ran::Failed(err) => out.error(error_reply(&err, name).as_bytes()),
            Ran::Missing => return Err(RunError::NoScript),
        }
        Ok(())
    }
}

/// The text of a library's load error, as Redis extracts it: a table's `err`, or a string
/// with `ERR ` before it.
fn load_error(err: &Value) -> String {
    match err {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            _ => "ERR unknown error".to_string(),
        },
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        Value::Integer(i) => format!("ERR {i}"),
        Value::Number(n) => format!("ERR {}", crate::number::format_g14(*n)),
        _ => "ERR unknown error".to_string(),
    }
}
