//! The extra libraries Redis's Lua has, beyond Lua's own: `bit`, `cjson` and `cmsgpack` so far.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
