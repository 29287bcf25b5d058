//! Users written back as rules (ACL LIST, GETUSER, SAVE and CONFIG REWRITE), as Redis 7.0
//! writes them.
//!
//! A selector's command bitmap is described the way Redis's `ACLDescribeSelectorCommandRules`
//! does: start from `+@all` or `-@all` (whichever the reserved bit says), then greedily apply
//! the category that best matches what is left, then fix single commands. Redis walks its
//! command table in hash order, which changes from run to run; Basalt walks its table in
//! order, so the single-command part comes out in table order.

use super::user::{category_bit, command_id, Selector, User, CATEGORIES};
use crate::cmd::{table::all_specs, table::COMMANDS, Spec};

/// The rules that rebuild a selector's command bitmap.
pub fn command_rules(sel: &Selector) -> String {
    let additive = !sel.allows_future_commands();
    let mut fake = Selector::new(false, false);
    let mut rules = String::new();
    let start: &[u8] = if additive { b"-@all" } else { b"+@all" };
    // Both rules are always valid.
    let _ = fake.apply(start);
    rules.push_str(if additive { "-@all " } else { "+@all " });

    // What the categories applied so far leave to explain.
    let mut left = Selector::new(false, false);
    left.commands = sel.commands;
    let mut applied = [false; CATEGORIES.len()];
    loop {
        let mut best = None;
        let (mut min_diff, mut max_same) = (usize::MAX, 0);
        for (j, name) in CATEGORIES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let bit = category_bit(name.as_bytes()).unwrap_or(0);
            let (on, off) = count(&left, bit);
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                best = Some((j, bit));
                min_diff = diff;
                max_same = same;
            }
        }
        let Some((j, bit)) = best else { break };
        fake.change_category(bit, additive);
        left.change_category(bit, !additive);
        rules.push_str(if additive { "+@" } else { "-@" });
        rules.push_str(CATEGORIES[j]);
        rules.push(' ');
        applied[j] = true;
    }
    for spec in COMMANDS.iter() {
        single_commands(sel, &mut fake, &mut rules, spec);
    }
    debug_assert_eq!(
        fake.commands, sel.commands,
        "ACL rules do not rebuild the bitmap"
    );
    rules.pop();
    rules
}

/// Commands of a category (by table bit) allowed and refused by `sel`.
fn count(sel: &Selector, bit: u32) -> (usize, usize) {
    if bit == 0 {
        return (0, 0);
    }
    let mut on_off = (0, 0);
    for spec in all_specs().iter().filter(|s| s.acl & bit != 0) {
        if sel.bit(command_id(spec)) {
            on_off.0 += 1;
        } else {
            on_off.1 += 1;
        }
    }
    on_off
}

fn single_commands(sel: &Selector, fake: &mut Selector, rules: &mut String, spec: &'static Spec) {
    let id = command_id(spec);
    let allowed = sel.bit(id);
    if allowed != fake.bit(id) {
        rules.push(if allowed { '+' } else { '-' });
        rules.push_str(spec.name);
        rules.push(' ');
        fake.change_command(spec, allowed);
    }
    for sub in spec.subcommands {
        single_commands(sel, fake, rules, sub);
    }
    if !allowed {
        for arg in sel.first_args_of(id) {
            rules.push('+');
            rules.push_str(spec.name);
            rules.push('|');
            rules.push_str(&String::from_utf8_lossy(arg));
            rules.push(' ');
        }
    }
}

/// Key patterns as ACL GETUSER shows them: `~*`, or the patterns separated by spaces.
pub fn keys(sel: &Selector) -> Vec<u8> {
    if sel.all_keys {
        return b"~*".to_vec();
    }
    let mut out = Vec::new();
    for (i, p) in sel.patterns.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        p.describe(&mut out);
    }
    out
}

/// Channel patterns as ACL GETUSER shows them: `&*`, or `&pattern`s separated by spaces.
pub fn channels(sel: &Selector) -> Vec<u8> {
    if sel.all_channels {
        return b"&*".to_vec();
    }
    let mut out = Vec::new();
    for (i, c) in sel.channels.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.push(b'&');
        out.extend_from_slice(c);
    }
    out
}

/// A selector in ACL LIST's form: keys, channels, then command rules.
fn selector(sel: &Selector) -> Vec<u8> {
    let mut out = Vec::new();
    if sel.all_keys {
        out.extend_from_slice(b"~* ");
    } else {
        for p in &sel.patterns {
            p.describe(&mut out);
            out.push(b' ');
        }
    }
    if sel.all_channels {
        out.extend_from_slice(b"&* ");
    } else {
        out.extend_from_slice(b"resetchannels ");
        for c in &sel.channels {
            out.push(b'&');
            out.extend_from_slice(c);
            out.push(b' ');
        }
    }
    out.extend_from_slice(command_rules(sel).as_bytes());
    out
}

/// A user's rules in ACL LIST's form (without `user <name> `): flags, password hashes, the
/// root selector, then `(…)` for each other selector.
pub fn user(u: &User) -> Vec<u8> {
    let mut out = Vec::new();
    for flag in u.flags.names() {
        out.extend_from_slice(flag.as_bytes());
        out.push(b' ');
    }
    for p in &u.passwords {
        out.push(b'#');
        out.extend_from_slice(p.as_bytes());
        out.push(b' ');
    }
    for s in &u.selectors {
        if s.root {
            out.extend_from_slice(&selector(s));
        } else {
            out.extend_from_slice(b" (");
            out.extend_from_slice(&selector(s));
            out.push(b')');
        }
    }
    out
}

/// `user <name> <rules>`, as ACL LIST, ACL SAVE and CONFIG REWRITE write a user.
pub fn user_line(u: &User) -> Vec<u8> {
    let mut line = b"user ".to_vec();
    line.extend_from_slice(&u.name);
    line.push(b' ');
    line.extend_from_slice(&user(u));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(rules: &[&str]) -> String {
        let mut u = User::new(b"u", false);
        for r in rules {
            u.apply(r.as_bytes(), false).unwrap();
        }
        String::from_utf8(user(&u)).unwrap()
    }

    #[test]
    fn users_as_redis_lists_them() {
        assert_eq!(described(&[]), "off resetchannels -@all");
        assert_eq!(
            described(&["on", "nopass", "~*", "&*", "+@all"]),
            "on nopass ~* &* +@all"
        );
        assert_eq!(
            described(&["on", "~jobs:*", "+@list"]),
            "on ~jobs:* resetchannels -@all +@list"
        );
        assert_eq!(
            described(&["+@all", "-config"]),
            "off resetchannels +@all -config"
        );
        assert_eq!(
            described(&["+get", "%R~r*", "(+set ~w*)"]),
            "off %R~r* resetchannels -@all +get (~w* resetchannels -@all +set)"
        );
        assert_eq!(
            described(&["-@all", "+config|get", "+select|0"]),
            "off resetchannels -@all +select|0 +config|get"
        );
        assert_eq!(
            described(&["reset"]),
            "off sanitize-payload resetchannels -@all"
        );
    }

    #[test]
    fn default_user() {
        assert_eq!(
            String::from_utf8(user(&User::default_user())).unwrap(),
            "on nopass ~* &* +@all"
        );
    }
}
