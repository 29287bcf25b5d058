//! The extra libraries Redis's Lua has, beyond Lua's own: `bit` and `cjson` so far.

pub mod bit;
pub mod cjson;
