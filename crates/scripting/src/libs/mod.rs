//! The extra libraries Redis's Lua has, beyond Lua's own: `bit`, `cjson`, `cmsgpack` and `struct`.

pub mod bit;
pub mod cjson;
pub mod cjson_config;
pub mod cmsgpack;
pub mod structlib;
