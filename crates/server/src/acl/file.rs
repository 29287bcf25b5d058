//! Users from `user` lines of redis.conf and from the ACL file (`aclfile`): loading at start,
//! ACL LOAD and ACL SAVE, with Redis 7.0's rules and error texts.
//!
//! The two sources are exclusive, as in Redis. An ACL file loads all or nothing: any error in
//! any line leaves the users as they were.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::user::{has_spaces, RuleError, User};
use super::Acl;

/// Join a selector written over several arguments (`(+get`, `~x)`) into one rule, as
/// Redis's `ACLMergeSelectorArguments`; `Err(i)` when the selector opened at argument `i` is
/// never closed.
pub fn merge_selectors(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut merged = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, &op) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, sel)) = open.take() {
                    merged.push(sel);
                }
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        merged.push(op.to_vec());
    }
    match open {
        Some((at, _)) => Err(at),
        None => Ok(merged),
    }
}

/// A `user <name> <rules…>` line of redis.conf, checked as Redis checks it while reading
/// the file (unknown commands are only found when the users are loaded). `seen` holds the
/// names of the lines read before. The error is the text after `Error in user declaration`.
pub fn check_config_line(words: &[Vec<u8>], seen: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let fail = |at: usize, e: RuleError| {
        format!(
            "Error in user declaration '{}': {e}",
            String::from_utf8_lossy(words.get(at).map_or(&[][..], Vec::as_slice))
        )
    };
    if seen.iter().any(|n| *n == words[1]) {
        return Err(fail(1, RuleError::Duplicate));
    }
    let rules: Vec<&[u8]> = words[2..].iter().map(Vec::as_slice).collect();
    let merged = merge_selectors(&rules).map_err(|at| fail(at, RuleError::Syntax))?;
    let mut fake = User::new(b"", false);
    for (j, rule) in merged.iter().enumerate() {
        match fake.apply(rule, false) {
            Ok(()) | Err(RuleError::Unknown) => {}
            // Redis names the argument at the rule's index in the whole line (a quirk).
            Err(e) => return Err(fail(j, e)),
        }
    }
    let mut line = vec![words[1].clone()];
    line.extend(merged);
    Ok(line)
}

/// Load the users of redis.conf or of the ACL file at start; the error is what Redis logs
/// before it exits.
pub fn load_at_startup(acl: &Acl, config: &crate::config::Config) -> Result<(), String> {
    let path = config.get("aclfile");
    if !path.is_empty() && !config.users.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let all_channels = acl.all_channels_default();
    for line in &config.users {
        let name = &line[0];
        if has_spaces(name) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let mut user = match acl.get(name) {
            // Only `default` exists before: its line starts it over.
            Some(_) => {
                let mut u = User::new(name, all_channels);
                u.apply(b"reset", all_channels).map_err(|e| e.to_string())?;
                u
            }
            None => User::new(name, all_channels),
        };
        for rule in &line[1..] {
            user.apply(rule, all_channels).map_err(|e| {
                format!(
                    "Error loading ACL rule '{}' for the user named '{}': {e}",
                    String::from_utf8_lossy(rule),
                    String::from_utf8_lossy(name)
                )
            })?;
        }
        if !user.enabled() {
            crate::util::log(
                crate::util::Level::Notice,
                &format!(
                    "The user '{}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.",
                    String::from_utf8_lossy(name)
                ),
            );
        }
        acl.put(Arc::new(user));
    }
    if !path.is_empty() {
        let users = parse_file(path, all_channels)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
        acl.replace_all(users);
    }
    Ok(())
}

/// Read an ACL file: every user, or every error found (each line is checked).
pub fn parse_file(path: &str, all_channels: bool) -> Result<BTreeMap<Vec<u8>, Arc<User>>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            os_error(&e)
        )
    })?;
    let mut errors = String::new();
    let mut users: BTreeMap<Vec<u8>, Arc<User>> = BTreeMap::new();
    for (i, raw) in text.split(|&c| c == b'\n').enumerate() {
        let line_no = i + 1;
        let line = trim(raw, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let words: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
        if words[0] != b"user" || words.len() < 2 {
            errors.push_str(&format!(
                "{path}:{line_no} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = words[1];
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{path}:{line_no}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {line_no}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut user = User::new(name, all_channels);
        let rules = match merge_selectors(&words[2..]) {
            Ok(r) => r,
            Err(_) => {
                errors.push_str(&format!(
                    "{path}:{line_no}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut syntax_error = false;
        for rule in &rules {
            let rule = trim(rule, b"\t\r\n");
            match user.apply(rule, all_channels) {
                Ok(()) => {}
                Err(e @ RuleError::Unknown) => errors.push_str(&format!(
                    "{path}:{line_no}: Error in applying operation '{}': {e}. ",
                    String::from_utf8_lossy(rule)
                )),
                Err(e) if !syntax_error => {
                    errors.push_str(&format!("{path}:{line_no}: {e}. "));
                    syntax_error = true;
                }
                Err(_) => {}
            }
        }
        users.insert(name.to_vec(), Arc::new(user));
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

/// ACL SAVE: every user as a `user` line, written to a temporary file renamed over `path`.
pub fn save(acl: &Acl, path: &str) -> std::io::Result<()> {
    let mut text = Vec::new();
    for u in acl.users() {
        text.extend_from_slice(&super::describe::user_line(&u));
        text.push(b'\n');
    }
    let tmp = format!(
        "{path}.tmp-{}-{}",
        std::process::id(),
        crate::util::now_ms()
    );
    let result = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Apply `rules` to a new user, then check what ACL LIST writes of it: read back as an ACL
/// file line it must give the same user (the property behind ACL SAVE/LOAD and CONFIG
/// REWRITE). Returns whether the rules were all valid. Panics when the round trip changes
/// the user. Shared by a property test and the `acl_rules` fuzz target.
pub fn check_round_trip(rules: &[&[u8]]) -> bool {
    let Ok(merged) = merge_selectors(rules) else {
        return false;
    };
    let mut user = User::new(b"u", false);
    for rule in &merged {
        if user.apply(rule, false).is_err() {
            return false;
        }
    }
    let line = super::describe::user_line(&user);
    // Patterns holding bytes the line format cannot carry (spaces are refused; quotes,
    // parentheses and control bytes split or end a selector differently) do not round-trip,
    // in Redis either.
    let plain = |p: &[u8]| {
        p.iter()
            .all(|c| c.is_ascii_graphic() && !b"\"'()".contains(c))
    };
    let carried = user.selectors.iter().all(|s| {
        s.patterns.iter().all(|p| plain(&p.pattern))
            && s.channels.iter().all(|c| plain(c))
            && s.first_args.iter().all(|(_, a)| a.iter().all(|a| plain(a)))
    });
    if !carried {
        return true;
    }
    let words: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
    let again = merge_selectors(&words[2..]).unwrap_or_else(|at| {
        panic!(
            "unbalanced selector at {at} in {}",
            String::from_utf8_lossy(&line)
        )
    });
    let mut back = User::new(b"u", false);
    for rule in &again {
        if let Err(e) = back.apply(rule, false) {
            panic!(
                "rule {} of {} refused: {e}",
                String::from_utf8_lossy(rule),
                String::from_utf8_lossy(&line)
            );
        }
    }
    assert_eq!(
        normalized(&back),
        normalized(&user),
        "{}",
        String::from_utf8_lossy(&line)
    );
    true
}

/// A user as far as its description carries it: first arguments sorted, and none for a
/// command that is allowed anyway (they can never matter: whatever refuses the command
/// again clears them, in Redis too, which does not write them either).
fn normalized(u: &User) -> User {
    let mut u = u.clone();
    for s in &mut u.selectors {
        let allowed: Vec<usize> = s
            .first_args
            .iter()
            .map(|(id, _)| *id)
            .filter(|&id| s.bit(id))
            .collect();
        s.first_args.retain(|(id, _)| !allowed.contains(id));
        s.first_args.sort();
        // Only a shortcut over the bits (as Redis's ALLCOMMANDS flag): `+@all -get +get`
        // leaves every bit set without it, and reads back as `+@all`, with it.
        s.all_commands = false;
    }
    u
}

fn trim<'a>(mut s: &'a [u8], set: &[u8]) -> &'a [u8] {
    while let [first, rest @ ..] = s {
        if !set.contains(first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !set.contains(last) {
            break;
        }
        s = rest;
    }
    s
}

/// An I/O error as C's `strerror` words it (without Rust's ` (os error N)`).
fn os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_over_several_arguments() {
        let merged = merge_selectors(&[b"on", b"(+get", b"~x)", b"(+set)"]).unwrap();
        assert_eq!(
            merged,
            vec![b"on".to_vec(), b"(+get ~x)".to_vec(), b"(+set)".to_vec()]
        );
        assert_eq!(merge_selectors(&[b"on", b"(+get", b"~x"]), Err(1));
    }

    proptest::proptest! {
        #[test]
        fn rules_round_trip_through_acl_list(picks in proptest::collection::vec(0usize..RULES.len(), 0..12)) {
            let rules: Vec<&[u8]> = picks.iter().map(|&i| RULES[i].as_bytes()).collect();
            check_round_trip(&rules);
        }
    }

    /// Rules of every kind, valid and not, for the round-trip property.
    const RULES: &[&str] = &[
        "on",
        "off",
        "nopass",
        "resetpass",
        ">pw",
        ">other",
        "<pw",
        "reset",
        "allkeys",
        "resetkeys",
        "~k*",
        "~a:?",
        "%R~r*",
        "%W~w*",
        "%RW~rw",
        "allchannels",
        "resetchannels",
        "&ch*",
        "&news",
        "allcommands",
        "nocommands",
        "+@all",
        "-@all",
        "+@read",
        "-@write",
        "+@hash",
        "-@dangerous",
        "+@string",
        "-@fast",
        "+get",
        "-get",
        "+set",
        "+config|get",
        "-config",
        "+client",
        "-client|kill",
        "+select|0",
        "+select|1",
        "+acl|whoami",
        "-@keyspace",
        "(+get ~x*)",
        "(",
        "~x)",
        "(+@list &c)",
        "clearselectors",
        "sanitize-payload",
        "skip-sanitize-payload",
        "+@nosuch",
        "bogus",
    ];

    #[test]
    fn file_loads_all_or_nothing() {
        let dir = std::env::temp_dir().join(format!("basalt-aclfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.acl");
        let p = path.to_str().unwrap();
        std::fs::write(&path, "user a on >x ~* +@all\n\nuser b off\n").unwrap();
        let users = parse_file(p, false).unwrap();
        assert_eq!(users.len(), 2);
        std::fs::write(&path, "user a on\nusr b\nuser c +nosuch\n").unwrap();
        let err = parse_file(p, false).unwrap_err();
        assert_eq!(
            err,
            format!("{p}:2 should start with user keyword followed by the username. {p}:3: Error in applying operation '+nosuch': Unknown command or category name in ACL. WARNING: ACL errors detected, no change to the previously active ACL rules was performed")
        );
        let acl = Acl::default();
        acl.set_user(b"z", &[b"on"]).unwrap();
        save(&acl, p).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "user default on nopass ~* &* +@all\nuser z on resetchannels -@all\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
