//! Function libraries (FUNCTION LOAD …, FCALL): the registry every thread shares, and each
//! thread's function interpreter.
//!
//! The registry holds each library's code and what it registered; a library gets a fresh id
//! whenever it is (re)loaded. Each I/O thread has its own interpreter for functions (apart
//! from the one for EVAL, as Redis keeps the two in separate Lua states: INFO reports them
//! apart), in which a library's code runs the first time the thread calls one of its
//! functions. When the registry changes (its generation moves), a thread's interpreter drops
//! every library and loads again what it calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use scripting::{Engine, Registered, ScriptFlags};

/// How long a library's code may run in FUNCTION LOAD (Redis's `LOAD_TIMEOUT_MS`).
pub const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// The names a library or function may have (Redis's error text names libraries for both).
const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

pub struct Library {
    pub id: u64,
    pub name: String,
    /// The code as loaded, its `#!lua name=…` line included (what LIST WITHCODE, DUMP and
    /// the data files hold).
    pub code: Vec<u8>,
    /// Where the code after the metadata line starts (its line feed, so line numbers hold).
    body_at: usize,
    pub functions: Vec<FunctionInfo>,
}

pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Vec<u8>>,
    pub flags: ScriptFlags,
    /// As `Script::needs_every_shard`: it reached beyond its declared keys once.
    pub needs_every_shard: AtomicBool,
}

impl Library {
    pub fn body(&self) -> &[u8] {
        &self.code[self.body_at..]
    }
}

/// What `FUNCTION RESTORE` does with libraries that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Append,
    Replace,
    Flush,
}

#[derive(Default)]
struct Registry {
    /// By name (case-sensitive, as Redis), listed in name order.
    libraries: BTreeMap<String, Arc<Library>>,
    /// Every function by its lowercase name (FCALL finds functions ignoring case).
    functions: HashMap<String, (Arc<Library>, usize)>,
}

impl Registry {
    fn link(&mut self, lib: Arc<Library>) {
        for (i, f) in lib.functions.iter().enumerate() {
            self.functions
                .entry(f.name.to_ascii_lowercase())
                .or_insert_with(|| (lib.clone(), i));
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &str) -> Option<Arc<Library>> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            let key = f.name.to_ascii_lowercase();
            if self
                .functions
                .get(&key)
                .is_some_and(|(l, _)| l.id == lib.id)
            {
                self.functions.remove(&key);
            }
        }
        Some(lib)
    }

    /// The first function of `lib` whose name another library has.
    fn collision(&self, lib: &Library) -> Option<String> {
        lib.functions
            .iter()
            .find(|f| self.functions.contains_key(&f.name.to_ascii_lowercase()))
            .map(|f| f.name.clone())
    }
}

/// The `#!lua name=…` line of a library: its engine, its name, and where the code after it
/// starts. The error is Redis's text (without `ERR `).
pub fn metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let (mut out, mut ranges) = (Vec::new(), Vec::new());
    if resp::split_inline(&code[..end], &mut out, &mut ranges).is_err() || ranges.is_empty() {
        return Err("Invalid library metadata".into());
    }
    let part = |i: usize| String::from_utf8_lossy(&out[ranges[i].0..ranges[i].1]).into_owned();
    let engine: String = part(0).chars().skip(2).collect();
    let mut name = None;
    for i in 1..ranges.len() {
        let p = part(i);
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(p[5..].to_string());
            continue;
        }
        return Err(format!("Invalid metadata value given: {p}"));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((engine, name, end))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Every library loaded.
#[derive(Default)]
pub struct Functions {
    registry: RwLock<Registry>,
    next_id: AtomicU64,
    /// Moves on every change: interpreters drop their libraries when it did.
    generation: AtomicU64,
}

impl Functions {
    /// FUNCTION LOAD (and a library from a data file or a RESTORE payload): check the
    /// metadata, run the code to see what it registers, and add it. `timeout`: none when
    /// loading from disk. Returns the library's name, or the error reply's text without
    /// `ERR `.
    pub fn load(
        &self,
        code: &[u8],
        replace: bool,
        timeout: Option<Duration>,
    ) -> Result<String, String> {
        let lib = self.compile(code, replace, timeout)?;
        let name = lib.name.clone();
        let mut reg = self.registry.write();
        if reg.libraries.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let old = reg.unlink(&name);
        if let Some(f) = reg.collision(&lib) {
            if let Some(old) = old {
                reg.link(old);
            }
            return Err(format!("Function {f} already exists"));
        }
        reg.link(Arc::new(lib));
        self.generation.fetch_add(1, Relaxed);
        Ok(name)
    }

    /// A library from `code`, not yet added: its metadata checked and its code run in this
    /// thread's interpreter.
    fn compile(
        &self,
        code: &[u8],
        replace: bool,
        timeout: Option<Duration>,
    ) -> Result<Library, String> {
        let (engine, name, body_at) = metadata(code)?;
        if !valid_name(&name) {
            return Err(BAD_NAME.into());
        }
        if !engine.eq_ignore_ascii_case("lua") {
            return Err(format!("Engine '{engine}' not found"));
        }
        if !replace && self.registry.read().libraries.contains_key(&name) {
            return Err(format!("Library '{name}' already exists"));
        }
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let registered = with_function_engine(self, |engine| {
            let loaded = engine.load_library(id, &code[body_at..], timeout, &mut LoadHost);
            // Kept only if it is added (the generation then moves and every interpreter,
            // this one included, loads it again when called).
            engine.drop_library(id);
            loaded
        })??;
        if registered.is_empty() {
            return Err("No functions registered".into());
        }
        Ok(Library {
            id,
            name,
            code: code.to_vec(),
            body_at,
            functions: registered
                .into_iter()
                .map(|r: Registered| FunctionInfo {
                    name: r.name,
                    description: r.description,
                    flags: r.flags,
                    needs_every_shard: AtomicBool::new(false),
                })
                .collect(),
        })
    }

    /// FUNCTION DELETE.
    pub fn delete(&self, name: &[u8]) -> Result<(), &'static str> {
        let name = std::str::from_utf8(name).map_err(|_| "Library not found")?;
        self.registry
            .write()
            .unlink(name)
            .ok_or("Library not found")?;
        self.generation.fetch_add(1, Relaxed);
        Ok(())
    }

    /// FUNCTION FLUSH (and emptying the data before a reload).
    pub fn flush(&self) {
        *self.registry.write() = Registry::default();
        self.generation.fetch_add(1, Relaxed);
    }

    /// FUNCTION RESTORE of the libraries in `codes`: all of them or none. `timeout`: each
    /// library's code runs at most this long (Redis sets none, so a payload whose code loops
    /// would hang it; Basalt keeps FUNCTION LOAD's limit for clients).
    pub fn restore(
        &self,
        codes: &[Vec<u8>],
        policy: Policy,
        timeout: Option<Duration>,
    ) -> Result<(), String> {
        let mut fresh = Registry::default();
        for code in codes {
            let lib = self.compile(code, true, timeout)?;
            if fresh.libraries.contains_key(&lib.name) {
                return Err(format!("Library '{}' already exists", lib.name));
            }
            if let Some(f) = fresh.collision(&lib) {
                return Err(format!("Function {f} already exists"));
            }
            fresh.link(Arc::new(lib));
        }
        let mut reg = self.registry.write();
        if policy == Policy::Flush {
            *reg = fresh;
            self.generation.fetch_add(1, Relaxed);
            return Ok(());
        }
        let mut replaced = Vec::new();
        for name in fresh.libraries.keys() {
            if reg.libraries.contains_key(name) {
                if policy == Policy::Append {
                    for old in replaced {
                        reg.link(old);
                    }
                    return Err(format!("Library {name} already exists"));
                }
                replaced.extend(reg.unlink(name));
            }
        }
        for lib in fresh.libraries.values() {
            if let Some(f) = reg.collision(lib) {
                for old in replaced {
                    reg.link(old);
                }
                return Err(format!("Function {f} already exists"));
            }
        }
        for lib in fresh.libraries.into_values() {
            reg.link(lib);
        }
        self.generation.fetch_add(1, Relaxed);
        Ok(())
    }

    /// The function FCALL names (ignoring case), with its library.
    pub fn find(&self, name: &[u8]) -> Option<(Arc<Library>, usize)> {
        let key = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        self.registry.read().functions.get(&key).cloned()
    }

    /// Every library, in name order.
    pub fn libraries(&self) -> Vec<Arc<Library>> {
        self.registry.read().libraries.values().cloned().collect()
    }

    /// (libraries, functions).
    pub fn counts(&self) -> (usize, usize) {
        let reg = self.registry.read();
        (reg.libraries.len(), reg.functions.len())
    }

    /// Bytes of the libraries' code and descriptions (INFO `used_memory_functions`).
    pub fn overhead_bytes(&self) -> usize {
        let reg = self.registry.read();
        reg.libraries
            .values()
            .map(|l| {
                l.code.len()
                    + l.name.len()
                    + l.functions
                        .iter()
                        .map(|f| f.name.len() + f.description.as_ref().map_or(0, Vec::len) + 64)
                        .sum::<usize>()
                    + 96
            })
            .sum()
    }
}

/// The host a library's code runs with while it loads: only `redis.log` reaches it.
struct LoadHost;

impl scripting::Host for LoadHost {
    fn call(
        &mut self,
        _argv: resp::Argv<'_>,
        _resp: u8,
        _repl: u8,
        reply: &mut resp::Reply,
    ) -> bool {
        reply.clear();
        reply.error(b"ERR redis.call is not available while a library loads");
        false
    }

    fn log(&mut self, level: u8, message: &[u8]) {
        super::host::log(level, message);
    }

    fn known_command(&self, name: &[u8]) -> bool {
        crate::cmd::lookup_command(name).is_some()
    }

    fn tick(&mut self) -> bool {
        false
    }
}

thread_local! {
    /// This thread's function interpreter and the registry generation it loaded under.
    static ENGINE: super::EngineSlot = const { std::cell::RefCell::new(None) };
    static LUA_BYTES: Arc<AtomicU64> = Arc::new(AtomicU64::new(0));
}

/// Every function interpreter's memory counter (INFO `used_memory_vm_functions`).
static LUA_COUNTERS: RwLock<Vec<Arc<AtomicU64>>> = RwLock::new(Vec::new());

pub fn lua_memory() -> u64 {
    LUA_COUNTERS.read().iter().map(|c| c.load(Relaxed)).sum()
}

/// Run `f` with this thread's function interpreter (made on first use; its libraries dropped
/// when the registry changed since).
pub fn with_function_engine<R>(
    functions: &Functions,
    f: impl FnOnce(&mut Engine) -> R,
) -> Result<R, String> {
    let generation = functions.generation.load(Relaxed);
    super::with_thread_engine(
        &ENGINE,
        &LUA_BYTES,
        &LUA_COUNTERS,
        generation,
        Engine::drop_libraries,
        f,
    )
}

/// Make sure this thread's interpreter has `lib` loaded.
pub fn ensure_loaded(engine: &mut Engine, lib: &Library) -> Result<(), String> {
    if engine.has_library(lib.id) {
        return Ok(());
    }
    engine
        .load_library(lib.id, lib.body(), None, &mut LoadHost)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_errors_are_redis_texts() {
        let err = |c: &str| metadata(c.as_bytes()).err().unwrap_or_default();
        assert_eq!(err("lua\n"), "Missing library metadata");
        assert_eq!(err("#!lua name=x"), "Invalid library metadata");
        assert_eq!(err("#!lua foo=x\n"), "Invalid metadata value given: foo=x");
        assert_eq!(
            err("#!lua name=a name=b\n"),
            "Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(err("#!lua\n"), "Library name was not given");
        assert_eq!(
            metadata(b"#!LUA NAME=lib1 \nx").ok(),
            Some(("LUA".to_string(), "lib1".to_string(), 16))
        );
    }

    #[test]
    fn names_are_letters_digits_and_underscores() {
        assert!(valid_name("a_B9"));
        assert!(!valid_name(""));
        assert!(!valid_name("a-b"));
    }
}
