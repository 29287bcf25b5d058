//! Commands: the one table every part of the server reads (arity, flags, keys, ACL categories,
//! handler), the context a handler runs in, and the dispatcher.

mod dispatch;
mod keys;
mod lookup;
mod multi;
pub mod script_call;
pub mod table;

use std::borrow::Cow;

use resp::{Argv, Reply};
use store::{Db, Locked};

use crate::client::ClientState;
use crate::server::Server;

pub use dispatch::{execute, execute_in, resolve, Batch, Flow};
pub(crate) use dispatch::{invalidate_modified, log_and_count, note_command};
pub use keys::KeyRefs;
pub use lookup::lookup as lookup_command;
pub(crate) use multi::log_transaction;
pub use multi::{
    begin as begin_multi, discard, queued_keys, queued_may_replicate, queued_writes, unwatch_all,
    watch, Multi, Watching,
};

/// A command's error reply: the full message, starting with its code (`ERR …`, `WRONGTYPE …`).
/// Bytes, not text: Redis quotes client arguments in its errors as they came (`'\xff'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, [u8]>);

impl CmdError {
    pub fn msg(&self) -> &[u8] {
        &self.0
    }

    /// An error built from text and client bytes, the bytes kept as they are.
    pub fn concat(parts: &[&[u8]]) -> CmdError {
        CmdError(Cow::Owned(parts.concat()))
    }
}

impl From<&'static str> for CmdError {
    fn from(s: &'static str) -> Self {
        CmdError(Cow::Borrowed(s.as_bytes()))
    }
}

impl From<String> for CmdError {
    fn from(s: String) -> Self {
        CmdError(Cow::Owned(s.into_bytes()))
    }
}

impl From<Vec<u8>> for CmdError {
    fn from(b: Vec<u8>) -> Self {
        CmdError(Cow::Owned(b))
    }
}

pub type CmdResult = Result<(), CmdError>;

/// Error texts used by several commands, to the letter of Redis 7.0.
pub mod err {
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NOT_INT: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const DB_RANGE: &str = "ERR DB index is out of range";
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
}

/// Handler of one command: reads its arguments, works on the locked shards, writes one reply.
pub type Handler = fn(&mut Ctx<'_, '_>, Argv<'_>) -> CmdResult;

/// Everything a handler can touch. Fields are public so a handler can hold a database borrow
/// (`ctx.keys`) while writing the reply (`ctx.out`).
pub struct Ctx<'a, 's> {
    pub srv: &'a Server,
    /// The command running (a subcommand's own spec for containers).
    pub spec: &'static Spec,
    pub client: &'a mut ClientState,
    pub out: &'a mut Reply,
    /// The shards of the command's keys, locked in ascending order for the whole command
    /// (`'s`, the store's lifetime, can outlive the command: a batch may keep the lock).
    pub keys: Locked<'s>,
    /// Time of this command (ms since the Unix epoch). One value per command, so a command
    /// sees a consistent clock (e.g. SET … EX computes and checks with the same instant).
    pub now_ms: u64,
    /// Changes this command made, counted as Redis counts `server.dirty` (one per key set,
    /// element pushed, field deleted …; nothing for a no-op). Added to the server's count
    /// after the command; a write that leaves this at 0 changed nothing and is not logged.
    pub dirty: u64,
    /// What the log records for this command when it changed something: `None` logs the
    /// command as sent; handlers whose command is not deterministic on replay (relative
    /// expiries, random pops, blocking forms …) set the commands that reproduce the effect.
    pub effects: Option<Vec<Vec<Vec<u8>>>>,
    /// The handler told WATCHers of the keys it changed itself ([`Ctx::touch`]); otherwise
    /// the dispatcher counts every key it may write as changed when `dirty` is not 0.
    pub touched: bool,
}

impl<'s> Ctx<'_, 's> {
    /// Every shard, for a keyless command: the locks held when they are all of them (EXEC
    /// holds every shard for a queued keyless command), otherwise one at a time.
    pub fn all_shards(&mut self) -> store::AllShards<'_, 's> {
        if self.keys.holds_all() {
            store::AllShards::Held(&mut self.keys)
        } else {
            store::AllShards::Lock(&self.srv.store)
        }
    }

    /// Log `args` (one more command) instead of the command as sent.
    pub fn log_as(&mut self, args: &[&[u8]]) {
        log_as(&mut self.effects, args);
    }

    /// The selected database in the shard holding `key`.
    pub fn db(&mut self, key: &[u8]) -> &mut Db {
        self.keys.db(key, self.client.db)
    }

    /// Publish keyspace event `event` of `class` for `key` in the client's database (when that
    /// class is on), after any the store recorded first (a key expiring or created on the way).
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.client.db;
        self.notify_in(class, event, key, db);
    }

    /// [`Ctx::notify`] for database `db`.
    pub fn notify_in(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        self.flush_store_events();
        if self.srv.notify.wants(class) {
            let me = crate::pubsub::Publisher {
                id: self.client.id,
                out: self.out,
            };
            crate::pubsub::notify::emit(self.srv, class, event, key, db, Some(me));
        }
    }

    /// Publish the events the store recorded under this command's locks (`expired`, `new`).
    pub fn flush_store_events(&mut self) {
        if store::store_events_pending() {
            let me = crate::pubsub::Publisher {
                id: self.client.id,
                out: self.out,
            };
            crate::pubsub::notify::emit_store_events(self.srv, self.keys.shards_mut(), Some(me));
        }
    }

    /// `key` of database `db` changed: clients watching it fail their EXEC. A handler that
    /// calls this reports every key it changed this way.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        self.touched = true;
        if store::key_changes_wanted() {
            self.keys.db(key, db).touch(key);
        }
    }
}

/// Command flags, as COMMAND INFO names them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const NOSCRIPT: u32 = 1 << 4;
    pub const LOADING: u32 = 1 << 5;
    pub const STALE: u32 = 1 << 6;
    pub const FAST: u32 = 1 << 7;
    pub const NO_AUTH: u32 = 1 << 8;
    pub const NO_MULTI: u32 = 1 << 9;
    pub const ALLOW_BUSY: u32 = 1 << 10;
    pub const MOVABLEKEYS: u32 = 1 << 11;
    pub const BLOCKING: u32 = 1 << 12;
    pub const PUBSUB: u32 = 1 << 13;
    pub const SKIP_MONITOR: u32 = 1 << 14;
    pub const SKIP_SLOWLOG: u32 = 1 << 15;
    pub const MAY_REPLICATE: u32 = 1 << 16;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 17;
    pub const PROTECTED: u32 = 1 << 18;
    pub const NO_ASYNC_LOADING: u32 = 1 << 19;
    /// Served for a slot being imported without ASKING first (RESTORE-ASKING).
    pub const ASKING: u32 = 1 << 20;

    /// In the order Redis lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (PROTECTED, "protected"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories, as COMMAND INFO names them.
pub mod acl {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const ADMIN: u32 = 1 << 4;
    pub const FAST: u32 = 1 << 5;
    pub const SLOW: u32 = 1 << 6;
    pub const DANGEROUS: u32 = 1 << 7;
    pub const CONNECTION: u32 = 1 << 8;
    pub const SET: u32 = 1 << 9;
    pub const SORTEDSET: u32 = 1 << 10;
    pub const LIST: u32 = 1 << 11;
    pub const HASH: u32 = 1 << 12;
    pub const BLOCKING: u32 = 1 << 13;
    pub const TRANSACTION: u32 = 1 << 14;
    pub const SCRIPTING: u32 = 1 << 15;
    pub const PUBSUB: u32 = 1 << 16;
    pub const BITMAP: u32 = 1 << 17;
    pub const HYPERLOGLOG: u32 = 1 << 18;
    pub const GEO: u32 = 1 << 19;
    pub const STREAM: u32 = 1 << 20;

    /// In the order Redis lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "@keyspace"),
        (READ, "@read"),
        (WRITE, "@write"),
        (SET, "@set"),
        (SORTEDSET, "@sortedset"),
        (LIST, "@list"),
        (HASH, "@hash"),
        (STRING, "@string"),
        (BITMAP, "@bitmap"),
        (HYPERLOGLOG, "@hyperloglog"),
        (GEO, "@geo"),
        (STREAM, "@stream"),
        (PUBSUB, "@pubsub"),
        (ADMIN, "@admin"),
        (FAST, "@fast"),
        (SLOW, "@slow"),
        (BLOCKING, "@blocking"),
        (DANGEROUS, "@dangerous"),
        (CONNECTION, "@connection"),
        (TRANSACTION, "@transaction"),
        (SCRIPTING, "@scripting"),
    ];
}

/// Documentation of a command (COMMAND DOCS). Summaries are Basalt's own words; the argument
/// structure, the versions and the deprecation facts are Redis's (redis-cli 7 builds its input
/// hints from the arguments; client libraries warn on `deprecated`).
#[derive(Debug, Clone, Copy)]
pub struct Docs {
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: &'static str,
    /// `deprecated` or `syscmd`; empty for most commands.
    pub doc_flags: &'static [&'static str],
    /// Version that deprecated the command; empty when it is not deprecated.
    pub deprecated_since: &'static str,
    /// What to use instead of a deprecated command.
    pub replaced_by: &'static str,
    pub args: &'static [Arg],
}

impl Docs {
    /// The command is deprecated since `version`, in favour of `replaced_by`.
    pub const fn deprecated(mut self, version: &'static str, replaced_by: &'static str) -> Self {
        self.doc_flags = &["deprecated"];
        self.deprecated_since = version;
        self.replaced_by = replaced_by;
        self
    }

    /// An internal command, not meant for users (DEBUG, REPLCONF …).
    pub const fn syscmd(mut self) -> Self {
        self.doc_flags = &["syscmd"];
        self
    }
}

/// One argument in COMMAND DOCS: `kind` is Redis's type (`key`, `string`, `integer`, `oneof`,
/// `block`, `pure-token` …); `key_spec_index` is -1 when not a key; `token` is empty when none.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    /// Version that added the argument; empty when it came with the command.
    pub since: &'static str,
    /// Version that deprecated the argument; empty when it is not deprecated.
    pub deprecated_since: &'static str,
    pub kind: &'static str,
    pub key_spec_index: i32,
    pub token: &'static str,
    pub flags: &'static [&'static str],
    pub args: &'static [Arg],
}

impl Arg {
    /// The argument came with version `version`, after the command.
    pub const fn since(mut self, version: &'static str) -> Self {
        self.since = version;
        self
    }

    /// The argument is deprecated since `version`.
    pub const fn deprecated(mut self, version: &'static str) -> Self {
        self.deprecated_since = version;
        self
    }
}

/// How a key specification finds its keys after `begin` (Redis 7's `find_keys`).
#[derive(Debug, Clone, Copy)]
pub enum FindKeys {
    /// `last` relative to `begin` (negative: from the end of the arguments), every `step`-th.
    Range { last: i32, step: i32, limit: i32 },
    /// The argument at `begin + keynum_idx` says how many keys follow, starting at
    /// `begin + first`, every `step`-th.
    KeyNum {
        keynum_idx: i32,
        first: i32,
        step: i32,
    },
    /// Keys derived from data (SORT BY/GET) or found anywhere (SORT STORE).
    Unknown,
}

/// Where a command's keys are and how it uses them (a Redis 7 key specification).
#[derive(Debug)]
pub struct KeySpec {
    pub flags: &'static [&'static str],
    /// Index of the first argument searched (0 with `FindKeys::Unknown`); with `keyword`, where
    /// the search for it starts (Redis's `startfrom`, negative: from the end, backwards).
    pub begin: i32,
    /// Keys start after this word (GEORADIUS's `STORE`, XREAD's `STREAMS`), when given.
    pub keyword: Option<&'static str>,
    pub find: FindKeys,
}

/// Key argument positions of one command line; inline for up to four keys (no allocation on
/// the hot path).
pub type KeyIndices = smallvec::SmallVec<[usize; 4]>;

/// [`Ctx::log_as`] on the field alone, for handlers that hold a borrow of the keys.
pub fn log_as(effects: &mut Option<Vec<Vec<Vec<u8>>>>, args: &[&[u8]]) {
    effects
        .get_or_insert_with(Vec::new)
        .push(args.iter().map(|a| a.to_vec()).collect());
}

/// One entry of the command table.
#[derive(Debug)]
pub struct Spec {
    /// Lowercase name; `container|sub` for subcommands.
    pub name: &'static str,
    /// Redis arity: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    pub flags: u32,
    /// Key positions: first, last (negative counts from the end), step. (0, 0, 0) = no keys.
    pub keys: (i32, i32, i32),
    pub key_specs: &'static [KeySpec],
    pub acl: u32,
    pub tips: &'static [&'static str],
    pub docs: Docs,
    /// `None` for a container (CLIENT, CONFIG …) whose subcommands do the work.
    pub handler: Option<Handler>,
    pub subcommands: &'static [Spec],
}

impl Spec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Does `argc` satisfy the arity?
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Whether some keys cannot be known from the arguments (SORT … BY/GET/STORE): such a
    /// command locks every shard.
    pub fn has_unknown_keys(&self) -> bool {
        self.key_specs
            .iter()
            .any(|ks| matches!(ks.find, FindKeys::Unknown))
    }
}
