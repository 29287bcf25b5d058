//! Redis's RDB format (version 10, what Redis 7.0 writes): a reader for every encoding Redis
//! 7.0 writes (and the older ones it still loads), and a writer of plain encodings Redis
//! loads. The server wires them to SAVE/BGSAVE, start-up loading and the log's RDB base.
//!
//! Layout: `REDIS0010`, aux fields, then per database `SELECTDB n`, `RESIZEDB a b` and the
//! keys (each optionally preceded by `EXPIRETIME_MS`, `IDLE` or `FREQ`), then `EOF` and the
//! CRC-64 (Jones, Redis's `crc64`) of every byte before it, little-endian.

pub mod dump;
pub mod functions;
mod pack;
mod packed;
pub mod read;
mod stream;
pub mod write;

pub use read::{Item, KeyEntry, RdbReader};
pub use write::RdbWriter;

/// The version this writer produces (Redis 7.0's).
pub const RDB_VERSION: u32 = 10;
/// The newest version the reader accepts (Redis 7.2 writes 11, same encodings plus listpack
/// sets).
pub const MAX_READ_VERSION: u32 = 11;

/// CRC-64 as Redis computes it over an RDB file and a DUMP payload.
pub const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

pub(crate) mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

pub(crate) mod opcodes {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// A value as the file holds it, independent of how Basalt will store it.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(f64, Vec<u8>)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// Streams are adopted as they are read: their nodes are already Basalt's form.
    Stream(Box<store::stream::Stream>),
}

/// Why an RDB file (or payload) cannot be read, with the byte offset where it went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    #[error("Short read or OOM loading DB. Unrecoverable error, aborting now (the file ends at offset {offset})")]
    Truncated { offset: u64 },
    #[error("Bad RDB format at offset {offset}: {what}")]
    Format { offset: u64, what: String },
    #[error("Wrong RDB checksum: the file says {want:016x}, the data gives {got:016x}")]
    Checksum { want: u64, got: u64 },
    #[error("Can't load the key '{key}' at offset {offset}: {what} values are not supported yet")]
    Unsupported {
        offset: u64,
        key: String,
        what: &'static str,
    },
    #[error("read error: {0}")]
    Io(std::io::Error),
}
