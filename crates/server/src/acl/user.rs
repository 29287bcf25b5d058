//! ACL users and selectors, and the rules that change them (`ACL SETUSER`, `user` lines in
//! redis.conf and the ACL file), as Redis 7.0 defines them.
//!
//! A user has flags (on/off, nopass, payload sanitizing), password hashes and selectors: the
//! root selector (the rules written outside parentheses) and any number of `(…)` selectors. A
//! command is allowed when one selector allows the command, its keys and its channels.
//!
//! Commands are identified by their position in the command table
//! ([`crate::cmd::table::all_specs`]): a selector keeps one bit per command and subcommand,
//! plus Redis's reserved last bit, set only by `+@all`/`allcommands`, which says the rules
//! start from every command (and so would allow commands added later); ACL LIST writes such
//! rules as `+@all …` and others as `-@all …`.

use crate::cmd::{table::all_specs, Spec};

/// Bits in a selector's command bitmap, as Redis's `USER_COMMAND_BITS_COUNT`.
pub const COMMAND_BITS: usize = 1024;
/// The bit that only `+@all` sets.
const FUTURE_BIT: usize = COMMAND_BITS - 1;

/// Why a rule was refused; the texts are Redis's (`ACLSetUserStringError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("Unknown command or category name in ACL")]
    Unknown,
    #[error("Syntax error")]
    Syntax,
    #[error("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")]
    KeysAfterAll,
    #[error("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")]
    ChannelsAfterAll,
    #[error("The password you are trying to remove from the user does not exist")]
    NoSuchPassword,
    #[error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")]
    BadHash,
    #[error("Duplicate user found. A user can only be defined once in config files")]
    Duplicate,
    #[error("Allowing first-arg of a subcommand is not supported")]
    FirstArgOfSubcommand,
}

/// Key permissions of a pattern (`%R~`, `%W~`, `~` for both).
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
pub const READ_WRITE: u8 = READ | WRITE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub perm: u8,
    pub pattern: Vec<u8>,
}

impl KeyPattern {
    /// As ACL LIST writes it.
    pub fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.perm {
            READ => b"%R~",
            WRITE => b"%W~",
            _ => b"~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

/// One selector: which commands, keys and channels it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub root: bool,
    pub all_keys: bool,
    pub all_channels: bool,
    pub all_commands: bool,
    pub commands: [u64; COMMAND_BITS / 64],
    /// Allowed first arguments of otherwise refused commands (`+select|0`), by command id.
    pub first_args: Vec<(usize, Vec<Vec<u8>>)>,
    pub patterns: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector: no commands, no keys; channels as `acl-pubsub-default` says.
    pub fn new(root: bool, all_channels_default: bool) -> Self {
        Selector {
            root,
            all_keys: false,
            all_channels: all_channels_default,
            all_commands: false,
            commands: [0; COMMAND_BITS / 64],
            first_args: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub fn bit(&self, id: usize) -> bool {
        id < COMMAND_BITS && self.commands[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if id >= COMMAND_BITS {
            return;
        }
        if on {
            self.commands[id / 64] |= 1 << (id % 64);
        } else {
            self.commands[id / 64] &= !(1 << (id % 64));
            self.all_commands = false;
        }
    }

    /// Whether the rules start from every command (`+@all`).
    pub fn allows_future_commands(&self) -> bool {
        self.bit(FUTURE_BIT)
    }

    pub fn first_args_of(&self, id: usize) -> &[Vec<u8>] {
        self.first_args
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// Allow or refuse a command, and with a container every subcommand.
    pub fn change_command(&mut self, spec: &'static Spec, allow: bool) {
        let id = command_id(spec);
        self.set_bit(id, allow);
        self.first_args.retain(|(i, _)| *i != id);
        for sub in spec.subcommands {
            self.set_bit(command_id(sub), allow);
        }
    }

    /// Allow or refuse every command of a category (`bit` from `cmd::acl`; 0 for the
    /// categories that have no command in Basalt yet).
    pub fn change_category(&mut self, bit: u32, allow: bool) {
        if bit == 0 {
            return;
        }
        for spec in all_specs() {
            if spec.acl & bit != 0 {
                self.change_command(spec, allow);
            }
        }
    }

    fn all(&mut self, allow: bool) {
        self.commands = [if allow { u64::MAX } else { 0 }; COMMAND_BITS / 64];
        self.all_commands = allow;
        self.first_args.clear();
    }

    /// Apply one selector rule (Redis's `ACLSetSelector`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.all_keys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if is("allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.all(true);
        } else if is("nocommands") || is("-@all") {
            self.all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.all_channels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            self.allow_command(&op[1..])?;
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let spec = lookup_command(&op[1..]).ok_or(RuleError::Unknown)?;
            self.change_command(spec, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let bit = category_bit(&op[2..]).ok_or(RuleError::Unknown)?;
            self.change_category(bit, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeysAfterAll);
        }
        let (perm, offset) = if op[0] == b'%' {
            let mut perm = 0;
            let mut offset = 1;
            while offset < op.len() {
                let c = op[offset];
                if c.eq_ignore_ascii_case(&b'R') && perm & READ == 0 {
                    perm |= READ;
                } else if c.eq_ignore_ascii_case(&b'W') && perm & WRITE == 0 {
                    perm |= WRITE;
                } else if c == b'~' {
                    offset += 1;
                    break;
                } else {
                    return Err(RuleError::Syntax);
                }
                offset += 1;
            }
            (perm, offset)
        } else {
            (READ_WRITE, 1)
        };
        let pattern = &op[offset.min(op.len())..];
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
            Some(p) => p.perm |= perm,
            None => self.patterns.push(KeyPattern {
                perm,
                pattern: pattern.to_vec(),
            }),
        }
        self.all_keys = false;
        Ok(())
    }

    /// `+cmd`, `+container|sub`, or `+cmd|first-arg` for a command without subcommands.
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
            let spec = lookup_command(name).ok_or(RuleError::Unknown)?;
            self.change_command(spec, true);
            return Ok(());
        };
        let (head, sub) = (&name[..bar], &name[bar + 1..]);
        let spec = lookup_command(head).ok_or(RuleError::Unknown)?;
        if spec.name.contains('|') {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !spec.subcommands.is_empty() {
            let sub_spec = lookup_command(name).ok_or(RuleError::Unknown)?;
            self.change_command(sub_spec, true);
            return Ok(());
        }
        // Allowing one first argument of a refused command (SELECT 0): deprecated in Redis,
        // still honoured.
        crate::util::log(
            crate::util::Level::Warning,
            &format!(
                "Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})",
                String::from_utf8_lossy(name)
            ),
        );
        let id = command_id(spec);
        // Kept as a C string, as Redis keeps it.
        let sub = sub.split(|&c| c == 0).next().unwrap_or(sub).to_vec();
        match self.first_args.iter_mut().find(|(i, _)| *i == id) {
            Some((_, args)) => {
                if !args.iter().any(|a| a.eq_ignore_ascii_case(&sub)) {
                    args.push(sub);
                }
            }
            None => self.first_args.push((id, vec![sub])),
        }
        Ok(())
    }
}

/// Flags of a user, in the order ACL LIST writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserFlags {
    pub on: bool,
    pub off: bool,
    pub nopass: bool,
    pub skip_sanitize_payload: bool,
    pub sanitize_payload: bool,
}

impl UserFlags {
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.on, "on"),
            (self.off, "off"),
            (self.nopass, "nopass"),
            (self.skip_sanitize_payload, "skip-sanitize-payload"),
            (self.sanitize_payload, "sanitize-payload"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

/// A user: flags, password hashes (lowercase hex SHA-256) and selectors (the root first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    pub flags: UserFlags,
    pub passwords: Vec<String>,
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user as Redis creates one: off, no password, no commands, no keys.
    pub fn new(name: &[u8], all_channels_default: bool) -> Self {
        User {
            name: name.to_vec(),
            flags: UserFlags {
                off: true,
                ..UserFlags::default()
            },
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, all_channels_default)],
        }
    }

    /// The `default` user Redis starts with: on, no password, everything allowed.
    pub fn default_user() -> Self {
        let mut u = User::new(b"default", false);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            // Each of these rules is valid.
            let _ = u.apply(op.as_bytes(), false);
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    fn root_mut(&mut self) -> &mut Selector {
        &mut self.selectors[0]
    }

    pub fn enabled(&self) -> bool {
        !self.flags.off
    }

    /// Whether some selector allows every command, key and channel: the permission check
    /// is then skipped.
    pub fn unrestricted(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.all_commands && s.all_keys && s.all_channels)
    }

    /// Apply one rule (Redis's `ACLSetUser`). `all_channels_default` is
    /// `acl-pubsub-default allchannels`.
    pub fn apply(&mut self, op: &[u8], all_channels_default: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("on") {
            self.flags.on = true;
            self.flags.off = false;
        } else if is("off") {
            self.flags.off = true;
            self.flags.on = false;
        } else if is("skip-sanitize-payload") {
            self.flags.skip_sanitize_payload = true;
            self.flags.sanitize_payload = false;
        } else if is("sanitize-payload") {
            self.flags.skip_sanitize_payload = false;
            self.flags.sanitize_payload = true;
        } else if is("nopass") {
            self.flags.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.flags.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                super::password_hash(&op[1..])
            } else {
                checked_hash(&op[1..])?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.flags.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                super::password_hash(&op[1..])
            } else {
                checked_hash(&op[1..])?
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let selector = selector_from_group(&op[1..op.len() - 1], all_channels_default)?;
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for rule in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(rule.as_bytes(), all_channels_default)?;
            }
            if all_channels_default {
                self.apply(b"allchannels", all_channels_default)?;
            }
            for rule in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                self.apply(rule.as_bytes(), all_channels_default)?;
            }
        } else {
            self.root_mut().apply(op)?;
        }
        Ok(())
    }
}

/// A `(…)` selector: its rules split as redis-cli splits arguments.
fn selector_from_group(inner: &[u8], all_channels_default: bool) -> Result<Selector, RuleError> {
    let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
    // Redis's sdssplitargs gives no rules on unbalanced quotes, so the selector is empty.
    if resp::split_inline(inner, &mut bytes, &mut ranges).is_err() {
        ranges.clear();
    }
    let mut s = Selector::new(false, all_channels_default);
    for &(a, b) in &ranges {
        if b > a {
            s.apply(&bytes[a..b])?;
        } else {
            return Err(RuleError::Syntax);
        }
    }
    Ok(s)
}

/// `#hash` / `!hash`: 64 lowercase hex characters.
fn checked_hash(hex: &[u8]) -> Result<String, RuleError> {
    if hex.len() != 64 || !hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(hex).into_owned())
}

/// Patterns, channels and user names may not hold spaces or NUL bytes.
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&c| c == b' ' || c == 0)
}

/// A command or `container|sub` by name, ignoring case.
pub fn lookup_command(name: &[u8]) -> Option<&'static Spec> {
    use crate::cmd::table::{lookup, lookup_sub};
    match name.iter().position(|&c| c == b'|') {
        None => lookup(name),
        Some(bar) => lookup_sub(lookup(&name[..bar])?, &name[bar + 1..]),
    }
}

/// A command's bit in the selectors' bitmaps.
pub fn command_id(spec: &'static Spec) -> usize {
    crate::cmd::table::spec_index(spec)
}

/// Redis 7.0's ACL categories, in its order.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The command-table bit of a category by name (ignoring case); `Some(0)` for a category
/// Redis has whose commands Basalt does not have yet; `None` for an unknown name.
pub fn category_bit(name: &[u8]) -> Option<u32> {
    let name = CATEGORIES
        .iter()
        .find(|c| c.as_bytes().eq_ignore_ascii_case(name))?;
    Some(
        crate::cmd::acl::NAMES
            .iter()
            .find(|(_, n)| n.trim_start_matches('@') == *name)
            .map_or(0, |&(bit, _)| bit),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_bit_below_the_reserved_one() {
        assert!(all_specs().len() < FUTURE_BIT);
    }

    #[test]
    fn rules_change_a_user() {
        let mut u = User::new(b"u", false);
        u.apply(b"on", false).unwrap();
        u.apply(b">secret", false).unwrap();
        u.apply(b"~jobs:*", false).unwrap();
        u.apply(b"+@list", false).unwrap();
        assert!(u.enabled());
        assert_eq!(u.passwords, vec![super::super::password_hash(b"secret")]);
        let lpush = lookup_command(b"lpush").unwrap();
        let get = lookup_command(b"get").unwrap();
        assert!(u.root().bit(command_id(lpush)));
        assert!(!u.root().bit(command_id(get)));
        assert_eq!(u.apply(b"<nope", false), Err(RuleError::NoSuchPassword));
        assert_eq!(u.apply(b"+nosuch", false), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"#abc", false), Err(RuleError::BadHash));
        assert_eq!(u.apply(b"+@nosuch", false), Err(RuleError::Unknown));
        assert_eq!(u.apply(b"bogus", false), Err(RuleError::Syntax));
        assert_eq!(
            u.apply(b"+config|get|x", false),
            Err(RuleError::FirstArgOfSubcommand)
        );
        u.apply(b"allkeys", false).unwrap();
        assert_eq!(u.apply(b"~x", false), Err(RuleError::KeysAfterAll));
    }

    #[test]
    fn containers_and_first_args() {
        let mut s = Selector::new(true, false);
        s.apply(b"+config|get").unwrap();
        let get = lookup_command(b"config|get").unwrap();
        let set = lookup_command(b"config|set").unwrap();
        assert!(s.bit(command_id(get)) && !s.bit(command_id(set)));
        s.apply(b"+select|0").unwrap();
        let select = lookup_command(b"select").unwrap();
        assert_eq!(s.first_args_of(command_id(select)), &[b"0".to_vec()]);
        s.apply(b"-select").unwrap();
        assert!(s.first_args_of(command_id(select)).is_empty());
    }

    #[test]
    fn key_patterns_merge_permissions() {
        let mut s = Selector::new(true, false);
        s.apply(b"%R~a*").unwrap();
        s.apply(b"%W~a*").unwrap();
        assert_eq!(s.patterns.len(), 1);
        assert_eq!(s.patterns[0].perm, READ_WRITE);
        assert_eq!(s.apply(b"%X~b"), Err(RuleError::Syntax));
        assert_eq!(s.apply(b"%RR~b"), Err(RuleError::Syntax));
    }
}
