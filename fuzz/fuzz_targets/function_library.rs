//! Fuzz the function-library loader: arbitrary bytes as a FUNCTION RESTORE payload
//! (`persist::rdb::functions`), and each library code found, or the bytes themselves, loaded
//! as a library (`scripting::Engine::load_library`: compile, run under the load API,
//! registrations read back). Nothing may panic or hang, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scripting::{Engine, Host};

/// Only `redis.log` reaches the host while a library loads.
struct Quiet;

impl Host for Quiet {
    fn call(&mut self, _argv: resp::Argv<'_>, _resp: u8, _repl: u8, reply: &mut resp::Reply) -> bool {
        reply.clear();
        reply.error(b"ERR no commands while loading");
        false
    }
    fn log(&mut self, _level: u8, _message: &[u8]) {}
    fn known_command(&self, _name: &[u8]) -> bool {
        false
    }
    fn tick(&mut self) -> bool {
        false
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static ENGINE: std::cell::RefCell<Option<Engine>> =
            std::cell::RefCell::new(Engine::new("7.0.15", 0x0007_000f).ok());
    }
    let mut codes = persist::rdb::functions::restore_functions(data).unwrap_or_default();
    codes.push(data.to_vec());
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let Some(engine) = slot.as_mut() else { return };
        for (id, code) in codes.iter().enumerate() {
            let timeout = Some(std::time::Duration::from_millis(20));
            if let Ok(registered) = engine.load_library(id as u64, code, timeout, &mut Quiet) {
                assert!(registered.iter().all(|f| !f.name.is_empty()));
            }
            engine.drop_library(id as u64);
        }
    });
});
