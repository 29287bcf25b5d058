//! Command handlers, one file per family, plus the argument and lookup helpers they share.

pub mod connection;
pub mod keys;
pub mod lists;
pub mod server;
pub mod strings;

mod command;
mod info;

use store::{Db, Expired, Obj, Str, Value};

use crate::cmd::{err, CmdError, Ctx};

/// An integer argument (`string2ll` rules) or Redis's "not an integer" error.
pub fn parse_int(arg: &[u8]) -> Result<i64, CmdError> {
    resp::parse_i64(arg).ok_or_else(|| err::NOT_INT.into())
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// A database index argument: Redis's messages for non-numbers and out-of-range values.
pub fn parse_db_index(ctx: &Ctx<'_>, arg: &[u8], not_int: &'static str) -> Result<usize, CmdError> {
    let n = resp::parse_i64(arg).ok_or(CmdError::from(not_int))?;
    if n < 0 || n as usize >= ctx.srv.store.databases() || n > i64::from(i32::MAX) {
        return Err(err::DB_RANGE.into());
    }
    Ok(n as usize)
}

/// Look a key up for reading: expired keys are deleted first, hits and misses are counted and
/// the access time is updated (Redis's `lookupKeyRead`).
pub fn lookup_read<'d>(
    db: &'d mut Db,
    key: &[u8],
    now_ms: u64,
    touch: bool,
) -> Option<&'d mut Obj> {
    if db.expire_if_needed(key, now_ms) == Expired::Deleted {
        db.stats.keyspace_misses += 1;
        return None;
    }
    match db.get_mut(key) {
        Some(_) => {
            db.stats.keyspace_hits += 1;
            let obj = db.get_mut(key)?;
            if touch {
                obj.lru = store::lru_clock(now_ms);
            }
            Some(obj)
        }
        None => {
            db.stats.keyspace_misses += 1;
            None
        }
    }
}

/// Look a key up for writing (Redis's `lookupKeyWrite`): expired keys are deleted first.
pub fn lookup_write<'d>(db: &'d mut Db, key: &[u8], now_ms: u64) -> Option<&'d mut Obj> {
    db.expire_if_needed(key, now_ms);
    db.get_mut(key)
}

/// The string stored under `key`, `None` if missing, WRONGTYPE for another type.
pub fn read_str<'d>(
    db: &'d mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'d mut Str>, CmdError> {
    match lookup_read(db, key, now_ms, true) {
        None => Ok(None),
        Some(obj) => match &mut obj.value {
            Value::Str(s) => Ok(Some(s)),
            _ => Err(err::WRONGTYPE.into()),
        },
    }
}

/// Like [`read_str`], for writing.
pub fn write_str<'d>(
    db: &'d mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'d mut Str>, CmdError> {
    match lookup_write(db, key, now_ms) {
        None => Ok(None),
        Some(obj) => match &mut obj.value {
            Value::Str(s) => Ok(Some(s)),
            _ => Err(err::WRONGTYPE.into()),
        },
    }
}

/// Write a `HELP` reply: the title line, then the lines, as status strings.
pub fn reply_help(ctx: &mut Ctx<'_>, title: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(title);
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Print this help.");
}
