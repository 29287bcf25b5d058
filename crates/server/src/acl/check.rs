//! Whether a user may run a command line: its command, its keys (read or write, per the key
//! specs' flags) and its channels — Redis 7.0's `ACLCheckAllUserCommandPerm`.

use resp::Argv;

use super::user::{command_id, Selector, User, READ, WRITE};
use crate::cmd::{flags, Spec};

/// Why a command was refused, and the argument that was (for keys and channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    /// Redis's ranking when every selector refuses: a key beats the command, a channel beats
    /// a key; among equals the later argument.
    fn rank(&self) -> (u8, usize) {
        match *self {
            Denied::Command => (0, 0),
            Denied::Key(i) => (1, i),
            Denied::Channel(i) => (2, i),
        }
    }

    /// The ACL LOG `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::Command => "command",
            Denied::Key(_) => "key",
            Denied::Channel(_) => "channel",
        }
    }

    /// The ACL LOG `object`: the command's full name, or the key or channel.
    pub fn object(&self, spec: &Spec, argv: &Argv<'_>) -> Vec<u8> {
        match *self {
            Denied::Command => spec.name.as_bytes().to_vec(),
            Denied::Key(i) | Denied::Channel(i) => argv.get(i).to_vec(),
        }
    }

    /// The `-NOPERM` reply of a refused command.
    pub fn error(&self, spec: &Spec) -> Vec<u8> {
        match self {
            Denied::Command => format!(
                "NOPERM this user has no permissions to run the '{}' command",
                spec.name
            )
            .into_bytes(),
            Denied::Key(_) => b"NOPERM this user has no permissions to access one of the keys used as arguments".to_vec(),
            Denied::Channel(_) => b"NOPERM this user has no permissions to access one of the channels used as arguments".to_vec(),
        }
    }

    /// Why EXEC no longer runs a queued command.
    pub fn exec_reason(&self) -> &'static str {
        match self {
            Denied::Command => "no permission to execute the command or subcommand",
            Denied::Key(_) => "no permission to touch the specified keys",
            Denied::Channel(_) => "no permission to access one of the channels used as arguments",
        }
    }

    /// The end of a script's error (`The user executing the script …`), as Redis's
    /// `getAclErrorMessage`.
    pub fn script_message(&self) -> &'static str {
        match self {
            Denied::Command => "can't run this command or subcommand",
            Denied::Key(_) => {
                "can't access at least one of the keys mentioned in the command arguments"
            }
            Denied::Channel(_) => "can't publish to the channel mentioned in the command",
        }
    }
}

/// May `user` run `argv` (resolved to `spec`)?
pub fn check(user: &User, spec: &'static Spec, argv: &Argv<'_>) -> Result<(), Denied> {
    let mut worst = Denied::Command;
    for sel in &user.selectors {
        match check_selector(sel, spec, argv) {
            Ok(()) => return Ok(()),
            Err(d) if d.rank() > worst.rank() => worst = d,
            Err(_) => {}
        }
    }
    Err(worst)
}

fn check_selector(sel: &Selector, spec: &'static Spec, argv: &Argv<'_>) -> Result<(), Denied> {
    if !sel.all_commands && !spec.has(flags::NO_AUTH) && !sel.bit(command_id(spec)) {
        // A refused command may still be allowed with one first argument (SELECT 0).
        let at = if spec.name.contains('|') { 2 } else { 1 };
        let allowed = argv.len() >= 2
            && sel
                .first_args_of(command_id(spec))
                .iter()
                .any(|a| argv.get(at).eq_ignore_ascii_case(a));
        if !allowed {
            return Err(Denied::Command);
        }
    }
    if !sel.all_keys && spec.has_keys() {
        for (i, key_flags) in spec.key_refs(argv).unwrap_or_default() {
            if !key_allowed(sel, argv.get(i), key_flags) {
                return Err(Denied::Key(i));
            }
        }
    }
    if !sel.all_channels {
        for (i, pattern) in channels(spec, argv) {
            if !channel_allowed(&sel.channels, argv.get(i), pattern) {
                return Err(Denied::Channel(i));
            }
        }
    }
    Ok(())
}

/// The permissions a key spec's flags ask for.
fn wanted(key_flags: &[&str]) -> u8 {
    let mut perm = 0;
    for f in key_flags {
        match *f {
            "access" => perm |= READ,
            "insert" | "delete" | "update" => perm |= WRITE,
            _ => {}
        }
    }
    perm
}

fn key_allowed(sel: &Selector, key: &[u8], key_flags: &[&str]) -> bool {
    let perm = wanted(key_flags);
    sel.patterns
        .iter()
        .any(|p| p.perm & perm == perm && store::glob_match(&p.pattern, key, false))
}

/// Whether some selector of `user` gives `perm` on every key (`~*`, `%R~*` …): SORT's BY
/// and GET read keys named by data, which only such a user may do.
pub fn unrestricted_key_access(user: &User, spec: &'static Spec, argv: &Argv<'_>) -> bool {
    user.selectors.iter().any(|sel| {
        check_selector(sel, spec, argv).is_ok()
            && (sel.all_keys
                || sel
                    .patterns
                    .iter()
                    .any(|p| p.perm & READ == READ && p.pattern == b"*"))
    })
}

/// A channel (or, for PSUBSCRIBE, a pattern taken literally) against the allowed patterns.
pub fn channel_allowed(allowed: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    allowed.iter().any(|p| {
        if is_pattern {
            p == channel
        } else {
            store::glob_match(p, channel, false)
        }
    })
}

/// The channels a command publishes or subscribes to, with whether each is a pattern
/// (unsubscribing is never refused).
fn channels<'a>(spec: &Spec, argv: &'a Argv<'_>) -> impl Iterator<Item = (usize, bool)> + 'a {
    let (first, one, pattern) = match spec.name {
        "subscribe" | "ssubscribe" => (1, false, false),
        "psubscribe" => (1, false, true),
        "publish" | "spublish" => (1, true, false),
        _ => (argv.len(), true, false),
    };
    let last = if one {
        (first + 1).min(argv.len())
    } else {
        argv.len()
    };
    (first..last).map(move |i| (i, pattern))
}

/// Whether a user's channel permissions still cover every channel in `channels` (and
/// `patterns`, compared literally): what ACL SETUSER checks before keeping a subscriber of a
/// changed user connected.
pub fn subscriptions_allowed(user: &User, channels: &[Vec<u8>], patterns: &[Vec<u8>]) -> bool {
    if user.selectors.iter().any(|s| s.all_channels) {
        return true;
    }
    let allowed: Vec<Vec<u8>> = user
        .selectors
        .iter()
        .flat_map(|s| s.channels.iter().cloned())
        .collect();
    channels.iter().all(|c| channel_allowed(&allowed, c, false))
        && patterns.iter().all(|p| channel_allowed(&allowed, p, true))
}

/// Whether `new` keeps every channel permission `old` had (then no subscriber of the user
/// needs to be checked, as Redis's shortcut in `ACLKillPubsubClientsIfNeeded`).
pub fn channels_kept(new: &User, old: &User) -> bool {
    if new.selectors.iter().any(|s| s.all_channels) {
        return true;
    }
    let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| &s.channels).collect();
    old.selectors
        .iter()
        .all(|s| !s.all_channels && s.channels.iter().all(|c| upcoming.contains(&c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new(b"u", false);
        for r in rules {
            u.apply(r.as_bytes(), false).unwrap();
        }
        u
    }

    fn run(u: &User, line: &[&[u8]]) -> Result<(), Denied> {
        let mut src = Vec::new();
        let mut ranges = Vec::new();
        for a in line {
            ranges.push((src.len(), src.len() + a.len()));
            src.extend_from_slice(a);
        }
        let argv = Argv::from_parts(&src, &ranges);
        let spec = crate::cmd::resolve(argv).unwrap();
        check(u, spec, &argv)
    }

    #[test]
    fn commands_keys_and_channels() {
        let u = user(&["on", "~jobs:*", "+@list", "&news.*", "+publish"]);
        assert_eq!(run(&u, &[b"LPUSH", b"jobs:1", b"x"]), Ok(()));
        assert_eq!(run(&u, &[b"LPUSH", b"other", b"x"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &[b"GET", b"jobs:1"]), Err(Denied::Command));
        assert_eq!(run(&u, &[b"PUBLISH", b"news.a", b"x"]), Ok(()));
        assert_eq!(
            run(&u, &[b"PUBLISH", b"sport", b"x"]),
            Err(Denied::Channel(1))
        );
        // NO_AUTH commands are always allowed.
        assert_eq!(run(&u, &[b"AUTH", b"a", b"b"]), Ok(()));
    }

    #[test]
    fn read_and_write_patterns() {
        let u = user(&["%R~r*", "%W~w*", "+@all"]);
        assert_eq!(run(&u, &[b"GET", b"r1"]), Ok(()));
        assert_eq!(run(&u, &[b"GET", b"w1"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &[b"SET", b"w1", b"v"]), Ok(()));
        assert_eq!(run(&u, &[b"COPY", b"r1", b"w1"]), Ok(()));
        assert_eq!(run(&u, &[b"COPY", b"w1", b"r1"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &[b"COPY", b"r1", b"r2"]), Err(Denied::Key(2)));
    }

    #[test]
    fn selectors_any_of() {
        let u = user(&["+get", "~a*", "(+set ~b*)"]);
        assert_eq!(run(&u, &[b"GET", b"a1"]), Ok(()));
        assert_eq!(run(&u, &[b"SET", b"b1", b"v"]), Ok(()));
        assert_eq!(run(&u, &[b"SET", b"a1", b"v"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &[b"DEL", b"a1"]), Err(Denied::Command));
    }

    #[test]
    fn first_args() {
        let u = user(&["-@all", "+select|0", "+config|get"]);
        assert_eq!(run(&u, &[b"SELECT", b"0"]), Ok(()));
        assert_eq!(run(&u, &[b"SELECT", b"1"]), Err(Denied::Command));
        assert_eq!(run(&u, &[b"CONFIG", b"GET", b"x"]), Ok(()));
        assert_eq!(
            run(&u, &[b"CONFIG", b"SET", b"x", b"y"]),
            Err(Denied::Command)
        );
    }
}
