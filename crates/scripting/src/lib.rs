//! Lua scripting (EVAL and friends) as Redis 7.0 has it: Lua 5.1 (mlua's vendored build), the
//! sandbox Redis sets up (only its allowed globals, every global table read-only, scripts may
//! not create globals), the `redis.*` API, and the conversions between Lua values and RESP.
//!
//! The crate knows nothing of keys or shards. A [`Host`] — the server — runs the commands a
//! script calls and returns their RESP replies; the engine turns them into Lua values, and
//! the script's result into the caller's reply. So every command a script runs goes through
//! the same command table, checks and logging as any other.

mod call;
pub mod convert;
mod current;
mod engine;
#[cfg(test)]
mod engine_tests;
mod functions;
pub mod ldb;
mod libs;
mod number;
mod random;
mod raw;
mod sandbox;
pub mod shebang;

pub use engine::{
    Engine, Host, RunError, KILLED, LOAD_TIMEOUT, MEMORY_LIMIT_BYTES, TICK_INSTRUCTIONS,
};
pub use functions::Registered;
pub use shebang::{ScriptFlags, Shebang};

/// Back to the libraries' defaults (cjson's settings), as SCRIPT FLUSH's new Lua state has.
pub fn reset_libraries() {
    libs::cjson_config::reset();
}

/// The SHA-1 of `body` in lowercase hex, as EVALSHA and SCRIPT LOAD name a script.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha1_of_empty_body() {
        assert_eq!(
            super::sha1_hex(b""),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
