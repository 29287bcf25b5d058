//! The engine's [`scripting::Host`]: commands a script calls run through
//! [`crate::cmd::script_call`], its log lines go to the server log.

pub use crate::cmd::script_call::ScriptRun;

impl scripting::Host for ScriptRun<'_, '_> {
    fn call(&mut self, argv: resp::Argv<'_>, resp: u8, repl: u8, reply: &mut resp::Reply) -> bool {
        crate::cmd::script_call::call(self, argv, resp, repl, reply)
    }

    fn log(&mut self, level: u8, message: &[u8]) {
        log(level, message);
    }

    fn tick(&mut self) -> bool {
        ScriptRun::tick(self)
    }

    fn known_command(&self, name: &[u8]) -> bool {
        crate::cmd::lookup_command(name).is_some()
    }
}

/// `redis.log` into the server log.
pub(super) fn log(level: u8, message: &[u8]) {
    let text = String::from_utf8_lossy(message);
    match level {
        0 => crate::util::log(crate::util::Level::Debug, &text),
        1 => crate::log_verbose!("{text}"),
        2 => crate::log_notice!("{text}"),
        _ => crate::log_warning!("{text}"),
    }
}
