//! Finding commands in the table: by name (case-insensitive, no allocation), subcommands, and a
//! stable index per spec for statistics.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::table::COMMANDS;
use super::Spec;

type Index = HashMap<&'static [u8], &'static Spec, foldhash::fast::FixedState>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| COMMANDS.iter().map(|s| (s.name.as_bytes(), s)).collect())
}

/// Longest command name; a longer argument cannot be a command.
const MAX_NAME_BYTES: usize = 32;

/// `rename-command` lines of the configuration: the new names, and the old names that no
/// longer find their command (set once, at start).
struct Renames {
    renamed: HashMap<Vec<u8>, &'static Spec>,
    hidden: Vec<&'static str>,
}

static RENAMES: OnceLock<Renames> = OnceLock::new();

/// Apply `rename-command old new` lines (`new` empty: the command is gone), as Redis does
/// while loading its configuration. Only the first call counts.
pub fn set_renames(renames: &[(String, String)]) {
    let mut r = Renames {
        renamed: HashMap::new(),
        hidden: Vec::new(),
    };
    for (old, new) in renames {
        let Some(spec) = index().get(old.as_bytes()).copied() else {
            continue;
        };
        r.hidden.push(spec.name);
        if !new.is_empty() {
            r.renamed
                .insert(new.to_ascii_lowercase().into_bytes(), spec);
        }
    }
    let _ = RENAMES.set(r);
}

/// Find a command by name, ignoring ASCII case, without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    if name.len() > MAX_NAME_BYTES {
        return None;
    }
    let mut buf = [0u8; MAX_NAME_BYTES];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    if let Some(r) = RENAMES.get() {
        if let Some(spec) = r.renamed.get(&*lower) {
            return Some(spec);
        }
        let found = index().get(&*lower).copied()?;
        return (!r.hidden.contains(&found.name)).then_some(found);
    }
    index().get(&*lower).copied()
}

/// Find a subcommand of a container command, ignoring ASCII case.
pub fn lookup_sub(container: &'static Spec, sub: &[u8]) -> Option<&'static Spec> {
    container.subcommands.iter().find(|s| {
        s.name
            .split_once('|')
            .is_some_and(|(_, n)| n.as_bytes().eq_ignore_ascii_case(sub))
    })
}

/// Every command and subcommand, for statistics (each gets a stable index).
pub fn all_specs() -> &'static [&'static Spec] {
    static ALL: OnceLock<Vec<&'static Spec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        for c in COMMANDS.iter() {
            v.push(c);
            v.extend(c.subcommands.iter());
        }
        v
    })
}

/// The position of `spec` in [`all_specs`].
pub fn spec_index(spec: &'static Spec) -> usize {
    type ByAddr = HashMap<usize, usize, foldhash::fast::FixedState>;
    static BY_ADDR: OnceLock<ByAddr> = OnceLock::new();
    let map = BY_ADDR.get_or_init(|| {
        all_specs()
            .iter()
            .enumerate()
            .map(|(i, s)| (*s as *const Spec as usize, i))
            .collect()
    });
    map.get(&(spec as *const Spec as usize))
        .copied()
        .unwrap_or(0)
}
