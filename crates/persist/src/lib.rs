//! Basalt's persistence formats, in Redis 7.0's own files so a data directory moves between
//! Redis and Basalt in both directions: the multi-part append-only log (`appendonlydir/` with
//! its manifest, base and incr files) and, later, RDB snapshots.
//!
//! Pure formats, no policy: the server decides when to write, sync and rewrite.

pub mod aof;
pub mod check;
pub mod load;
pub mod log;
mod log_writer;
pub mod manifest;
pub mod rdb;
pub mod rewrite;

pub use aof::{encode_command, resume_checksum, AofError, AofReader, Checksummer, Entry};
pub use load::{load, load_reporting, read_manifest, LoadError, LoadReport, Progress};
pub use log::{FailPoints, Fsync, Log, LogError};
pub use manifest::{AofFile, FileKind, Manifest, ManifestError};
