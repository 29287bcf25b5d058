//! Command handlers, one file per family, plus the argument and lookup helpers they share.

pub mod acl;
pub mod bitfield;
pub mod bitmaps;
pub mod blocking;
pub mod caching;
pub mod cluster;
pub mod cluster_view;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod migrate;
pub mod multi;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod stream_groups;
pub mod stream_info;
pub mod stream_read;
pub mod streams;
pub mod strings;
pub mod zpops;
pub mod zranges;
pub mod zsetops;
pub mod zsets;

mod command;
pub mod info;
pub mod introspect;

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

/// An `int` argument as Redis's `getIntFromObjectOrReply` reads it: a 64-bit integer, then the
/// `int` range; `msg` replaces both errors when given.
pub fn parse_c_int(arg: &[u8], msg: Option<&'static str>) -> Result<i32, CmdError> {
    let n = resp::parse_i64(arg).ok_or_else(|| CmdError::from(msg.unwrap_or(err::NOT_INT)))?;
    i32::try_from(n).map_err(|_| {
        CmdError::from(
            msg.unwrap_or(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ),
        )
    })
}

/// A parsed database index checked against the configured databases (Redis's `selectDb`).
pub fn db_in_range(ctx: &Ctx<'_, '_>, n: i32) -> Result<usize, CmdError> {
    match usize::try_from(n) {
        Ok(db) if db < ctx.srv.store.databases() => Ok(db),
        _ => Err(err::DB_RANGE.into()),
    }
}

/// A database index argument (SELECT, MOVE, COPY … DB): Redis's messages for non-numbers,
/// values outside `int`, and indexes past the configured databases.
pub fn parse_db_index(ctx: &Ctx<'_, '_>, arg: &[u8]) -> Result<usize, CmdError> {
    db_in_range(ctx, parse_c_int(arg, None)?)
}

/// Look a key up for reading: expired keys are deleted first, hits and misses are counted and
/// the access time is updated (Redis's `lookupKeyRead`).
pub fn lookup_read<'d>(db: &'d mut Db, key: &[u8], now_ms: u64, touch: bool) -> Option<&'d Obj> {
    if db.expire_if_needed(key, now_ms) != Expired::No {
        db.stats.keyspace_misses += 1;
        db.record_keymiss(key);
        return None;
    }
    if store::keymiss_wanted() && !db.contains(key) {
        db.record_keymiss(key);
    }
    db.get_for_read_counted(key, touch.then_some(now_ms))
}

/// Look a key up for writing (Redis's `lookupKeyWrite`): expired keys are deleted first.
pub fn lookup_write<'d>(db: &'d mut Db, key: &[u8], now_ms: u64) -> Option<&'d mut Obj> {
    if db.expire_if_needed(key, now_ms) == Expired::Hidden {
        return None;
    }
    db.get_mut(key)
}

/// The string stored under `key`, `None` if missing, WRONGTYPE for another type.
pub fn read_str<'d>(db: &'d mut Db, key: &[u8], now_ms: u64) -> Result<Option<&'d Str>, CmdError> {
    typed_ref(lookup_read(db, key, now_ms, true), Value::as_str)
}

/// Like [`read_str`], for writing.
pub fn write_str<'d>(
    db: &'d mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'d mut Str>, CmdError> {
    typed(lookup_write(db, key, now_ms), Value::as_str_mut)
}

/// The value of a looked-up object if it has the type `pick` selects: `None` for a missing
/// key, WRONGTYPE for another type. Every per-type lookup goes through here.
pub fn typed<'d, T: ?Sized>(
    obj: Option<&'d mut Obj>,
    pick: impl FnOnce(&'d mut Value) -> Option<&'d mut T>,
) -> Result<Option<&'d mut T>, CmdError> {
    match obj {
        None => Ok(None),
        Some(obj) => pick(&mut obj.value)
            .map(Some)
            .ok_or_else(|| err::WRONGTYPE.into()),
    }
}

/// [`typed`] for reads.
pub fn typed_ref<'d, T: ?Sized>(
    obj: Option<&'d Obj>,
    pick: impl FnOnce(&'d Value) -> Option<&'d T>,
) -> Result<Option<&'d T>, CmdError> {
    match obj {
        None => Ok(None),
        Some(obj) => pick(&obj.value)
            .map(Some)
            .ok_or_else(|| err::WRONGTYPE.into()),
    }
}

/// One SCAN step over a dict (HSCAN, SSCAN on large values).
pub fn scan_dict<V>(
    d: &store::Dict<V>,
    args: &ScanArgs<'_>,
    mut emit: impl FnMut(&store::SmallBytes, &V),
) -> u64 {
    scan_budgeted(args, |cursor| {
        let mut found = 0;
        let next = d.scan(cursor, |k, v| {
            found += 1;
            emit(k, v);
        });
        (next, found)
    })
}

/// Redis's SCAN budget: take bucket steps (`step` returns the next cursor and how many items
/// it found) until `count` items were found or `count * 10` buckets were visited; returns the
/// next cursor.
pub fn scan_budgeted(args: &ScanArgs<'_>, mut step: impl FnMut(u64) -> (u64, usize)) -> u64 {
    let mut cursor = args.cursor;
    let mut budget = args.count.saturating_mul(10);
    let mut found = 0i64;
    loop {
        let (next, n) = step(cursor);
        cursor = next;
        found += n as i64;
        budget -= 1;
        if cursor == 0 || budget <= 0 || found >= args.count {
            return cursor;
        }
    }
}

/// Replace `dst` with the result of a *STORE command (SINTERSTORE, ZUNIONSTORE, ZRANGESTORE,
/// SORT … STORE) and reply its size. An empty result deletes `dst`, since Redis never keeps
/// an empty collection; `make` builds the value only when there is one. The old value goes
/// whatever its type, with its TTL.
///
/// Changes counted: one for the stored key, or one if an empty result deleted `dst` (what
/// Redis counts for the set and sorted-set *STOREs; SORT … STORE counts the elements, see
/// `sort.rs`).
///
/// Keyspace event: `event` of `class` when stored, `del` when an empty result deleted `dst`.
pub fn store_result(
    ctx: &mut Ctx<'_, '_>,
    dst: &[u8],
    len: usize,
    (class, event): (u32, &str),
    make: impl FnOnce() -> Value,
) {
    let now = ctx.now_ms;
    let db = ctx.keys.db(dst, ctx.client.db);
    db.expire_if_needed(dst, now);
    // A result overwrites in place (Redis's setKey: an existing key is overwritten, which does
    // not make it ready for blocked clients; only a new key does).
    let changed = if len > 0 {
        db.set(dst, make(), false, now);
        true
    } else {
        db.delete(dst, store::lazyfree::Reason::ServerDel)
    };
    ctx.dirty += u64::from(changed);
    ctx.touched = true;
    if changed {
        ctx.touch(ctx.client.db, dst);
    }
    // SORT, BITOP and the geo searches name their event before they reply; the set and
    // sorted-set STOREs after.
    let reply_first = !matches!(
        event,
        "sortstore" | "set" | "georadiusstore" | "geosearchstore"
    );
    if reply_first {
        ctx.out.int(len as i64);
    }
    if len > 0 {
        ctx.notify(class, event, dst);
    } else if changed {
        ctx.notify(crate::pubsub::notify::class::GENERIC, "del", dst);
    }
    if !reply_first {
        ctx.out.int(len as i64);
    }
}

/// A COUNT that must not be negative (SPOP, ZPOPMIN …): Redis's
/// `getPositiveLongFromObjectOrReply` with its default message.
pub fn parse_count(arg: &[u8]) -> Result<usize, CmdError> {
    match resp::parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err("ERR value is out of range, must be positive".into()),
    }
}

/// Redis's `addReplySubcommandSyntaxError`: a container's subcommand with the wrong arguments
/// (the subcommand as typed, at most 128 bytes, and the container's name for its HELP).
pub fn subcommand_syntax_error(argv: &resp::Argv<'_>, container: &str) -> CmdError {
    let sub = argv.get(1);
    let sub = &sub[..sub
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(sub.len())
        .min(128)];
    CmdError::concat(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        sub,
        b"'. Try ",
        container.as_bytes(),
        b" HELP.",
    ])
}

/// Write a `HELP` reply: the title line, then the lines, as status strings.
pub fn reply_help(ctx: &mut Ctx<'_, '_>, title: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(title);
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Arguments of SCAN and the *SCAN commands.
pub struct ScanArgs<'a> {
    pub cursor: u64,
    pub count: i64,
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

/// Parse `cursor [MATCH p] [COUNT n] [TYPE t]` (TYPE only for SCAN itself): the cursor is at
/// `cursor_at`, options start at `opts_at`.
pub fn scan_args<'a>(
    argv: &resp::Argv<'a>,
    cursor_at: usize,
    opts_at: usize,
    allow_type: bool,
) -> Result<ScanArgs<'a>, CmdError> {
    let mut args = ScanArgs {
        cursor: parse_scan_cursor(argv.get(cursor_at))?,
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = opts_at;
    while i < argv.len() {
        let more = argv.len() - i >= 2;
        if is(argv.get(i), "count") && more {
            args.count = parse_int(argv.get(i + 1))?;
            if args.count < 1 {
                return Err(err::SYNTAX.into());
            }
        } else if is(argv.get(i), "match") && more {
            args.pattern = Some(argv.get(i + 1)).filter(|p| *p != b"*");
        } else if allow_type && is(argv.get(i), "type") && more {
            args.type_name = Some(argv.get(i + 1));
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 2;
    }
    Ok(args)
}

/// The start of HSCAN, SSCAN and ZSCAN in Redis's order: the cursor (checked by the caller
/// with [`parse_scan_cursor`] before it reads the key), then the key — a missing key answers
/// an empty scan before the options are even read, a key of another type WRONGTYPE — and the
/// options only then ([`scan_args`]). `Ok(false)`: answered already.
pub fn scan_key_first<T>(
    out: &mut resp::Reply,
    found: &Result<Option<T>, CmdError>,
) -> Result<bool, CmdError> {
    match found {
        Err(e) => Err(e.clone()),
        Ok(None) => {
            out.array(2);
            out.bulk(b"0");
            out.array(0);
            Ok(false)
        }
        Ok(Some(_)) => Ok(true),
    }
}

/// Redis parses a SCAN cursor with `strtoull`: optional sign (a negative number wraps),
/// digits, nothing else, no leading space.
pub fn parse_scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::from("ERR invalid cursor");
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let v: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// A small xorshift generator for random picks (RANDOMKEY, SRANDMEMBER, HRANDFIELD …).
pub struct Rng(u64);

impl Rng {
    /// Seeded from the clock and a per-client value, so clients do not repeat each other.
    pub fn seeded(salt: u64) -> Rng {
        Rng((crate::util::now_us() ^ salt.rotate_left(32)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `k` distinct indices of `0..n` (`k <= n`), in random order.
    pub fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all
    }
}

/// A reply that grows past this closes its connection instead: Redis would go on until memory
/// runs out (`HRANDFIELD h -4611686018427387903 WITHVALUES` asks for 4.6e18 elements, and Redis
/// 7.0 tries), which here would end the whole process.
pub const REPLY_HARD_LIMIT_BYTES: usize = 1 << 30;

/// Whether the reply outgrew [`REPLY_HARD_LIMIT_BYTES`]; if so the connection is closed after
/// what was written, as Redis closes a client over its output buffer limit.
pub fn reply_overflowed(ctx: &mut Ctx<'_, '_>) -> bool {
    if ctx.out.len() <= REPLY_HARD_LIMIT_BYTES {
        return false;
    }
    crate::log_warning!(
        "Client id={} closed for a reply over {} bytes ({})",
        ctx.client.id,
        REPLY_HARD_LIMIT_BYTES,
        ctx.spec.name
    );
    ctx.client.flow = crate::cmd::Flow::CloseAfterReply;
    true
}

/// The elements a random-count command (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER) returns, one at
/// a time: a negative count is that many picks with repeats (never collected: it may be
/// billions), a count of at least the size is every element in `whole`'s order, otherwise that
/// many distinct ones.
pub enum Picks {
    Repeats { left: u64, len: usize },
    Listed(std::vec::IntoIter<usize>),
}

impl Picks {
    pub fn new(count: i64, len: usize, rng: &mut Rng, whole: impl FnOnce() -> Vec<usize>) -> Picks {
        if count < 0 {
            Picks::Repeats {
                left: count.unsigned_abs(),
                len,
            }
        } else if count as u64 >= len as u64 {
            Picks::Listed(whole().into_iter())
        } else {
            Picks::Listed(rng.distinct(len, count as usize).into_iter())
        }
    }

    /// How many picks there are.
    pub fn len(&self) -> u64 {
        match self {
            Picks::Repeats { left, .. } => *left,
            Picks::Listed(it) => it.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn next(&mut self, rng: &mut Rng) -> Option<usize> {
        match self {
            Picks::Repeats { left, len } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(rng.below(*len))
            }
            Picks::Listed(it) => it.next(),
        }
    }
}
