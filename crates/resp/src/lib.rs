//! RESP (REdis Serialization Protocol) for Basalt: an incremental, zero-copy request parser and
//! a RESP2/RESP3 reply encoder. No I/O and no allocation per argument: the server feeds bytes
//! in and copies encoded replies out.

mod encode;
mod parse;
mod split;

pub use encode::{format_double, format_g, Aggregate, Deferred, Proto, Reply};
pub use parse::{
    parse_i64, Argv, Limits, Parsed, ProtocolError, RequestParser, INLINE_MAX_BYTES,
    MULTIBULK_MAX_ARGS,
};
pub use split::{split_inline, Unbalanced};
