//! Finding a command line's keys: the one path that shard locking, COMMAND GETKEYS and
//! GETKEYSANDFLAGS (and later ACL key patterns and cluster slots) all read.
//!
//! As Redis 7.0's `getKeysFromCommandWithSpecs`: the key specifications first, strictly (a
//! range past the arguments or a bad `numkeys` makes them invalid); when they are invalid, when
//! one cannot say (SORT's STORE), or when their flags depend on the arguments (SET … GET), the
//! command's own finder, as Redis falls back to its `getkeys_proc`. Those finders keep Redis's
//! quirks: `numkeys` read with `atoi`, keys before the destination, and no flags for the
//! `numkeys` commands.

use resp::Argv;

use super::{FindKeys, KeyIndices, KeySpec, Spec};

/// Key argument positions with their key-spec flags (`RW`, `access` …).
pub type KeyRefs = smallvec::SmallVec<[(usize, &'static [&'static str]); 4]>;

const RO_ACCESS: &[&str] = &["RO", "access"];
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];
const OW_UPDATE: &[&str] = &["OW", "update"];
/// Redis's generic finder gives its keys no flags.
const NO_FLAGS: &[&str] = &[];

impl KeySpec {
    /// Where this spec's keys lie for these arguments, before any bounds check: `(first, last,
    /// step)`. `None` when there is no range at all: an unknown spec, or a `numkeys` argument
    /// that is missing or not a count of at least `min_numkeys`.
    fn span(&self, argv: &Argv<'_>, min_numkeys: i64) -> Option<(i64, i64, i32)> {
        let argc = argv.len() as i64;
        let begin = match self.keyword {
            None => i64::from(self.begin),
            // A missing keyword is no range: the caller treats it as a spec with no keys.
            Some(word) => self.after_keyword(argv, word)?,
        };
        match self.find {
            FindKeys::Unknown => None,
            FindKeys::Range { last, step, limit } => {
                let last = if last >= 0 {
                    begin + i64::from(last)
                } else if limit > 0 {
                    // Keys are 1/limit of what follows (XREAD: the keys, then as many IDs).
                    begin + ((argc - begin) / i64::from(limit) + i64::from(last))
                } else {
                    argc + i64::from(last)
                };
                Some((begin, last, step))
            }
            FindKeys::KeyNum {
                keynum_idx,
                first,
                step,
            } => {
                let at = begin + i64::from(keynum_idx);
                if at >= argc {
                    return None;
                }
                let n = resp::parse_i64(argv.get(at as usize)).filter(|n| *n >= min_numkeys)?;
                let first = begin + i64::from(first);
                // Redis counts `numkeys` arguments from the first, whatever the step.
                Some((first, first.saturating_add(n - 1), step))
            }
        }
    }

    /// The index after this spec's keyword, searched as Redis's `getKeysUsingKeySpecs` does:
    /// forwards from `startfrom` up to but not including the last argument, or backwards from
    /// the end for a negative `startfrom`, stopping before index 0.
    fn after_keyword(&self, argv: &Argv<'_>, word: &str) -> Option<i64> {
        let argc = argv.len() as i64;
        let from = i64::from(self.begin);
        let (start, end) = if from > 0 {
            (from, argc - 1)
        } else {
            (argc + from, 0)
        };
        let mut i = start;
        while i != end {
            if i >= argc || i < 1 {
                break;
            }
            let a = argv.get(i as usize);
            // Compared as a C string, as Redis does.
            let a = a.split(|&b| b == 0).next().unwrap_or(a);
            if a.eq_ignore_ascii_case(word.as_bytes()) {
                return Some(i + 1);
            }
            i += if start <= end { 1 } else { -1 };
        }
        None
    }

    /// Whether this is a keyword spec whose keyword is absent: it names no keys (Redis skips
    /// it), which is not an invalid spec.
    fn keyword_absent(&self, argv: &Argv<'_>) -> bool {
        self.keyword
            .is_some_and(|w| self.after_keyword(argv, w).is_none())
    }

    /// Indices of this spec's keys, or `None` where Redis finds the spec invalid for these
    /// arguments (then the command's own finder decides).
    pub fn indices_strict(&self, argv: &Argv<'_>) -> Option<KeyIndices> {
        if self.keyword_absent(argv) {
            return Some(KeyIndices::new());
        }
        let argc = argv.len() as i64;
        let (first, last, step) = self.span(argv, 0)?;
        if first < 1 || last >= argc || last < first || first >= argc {
            return None;
        }
        Some(
            (first as usize..=last as usize)
                .step_by(step.max(1) as usize)
                .collect(),
        )
    }

    /// Indices of this spec's keys, clamped to the arguments: a superset of what the handler
    /// can touch, for locking a command line whose keys Redis would call invalid (the
    /// handler then answers its syntax error).
    fn indices_lenient(&self, argv: &Argv<'_>) -> KeyIndices {
        let Some((first, last, step)) = self.span(argv, 1) else {
            return KeyIndices::new();
        };
        let last = last.min(argv.len() as i64 - 1);
        if first < 1 || last < first {
            return KeyIndices::new();
        }
        (first as usize..=last as usize)
            .step_by(step.max(1) as usize)
            .collect()
    }

    /// Whether the spec cannot be trusted alone (Redis then asks the command's own key
    /// finder): its flags vary with the arguments, or it may miss keys (`incomplete`).
    fn has_variable_flags(&self) -> bool {
        self.flags.contains(&"variable_flags") || self.flags.contains(&"incomplete")
    }

    /// Whether it names keys at all: a `not_key` spec (SSUBSCRIBE's shard channels) only
    /// tells cluster routing where an argument hashes.
    pub fn names_keys(&self) -> bool {
        !self.flags.contains(&"not_key")
    }
}

impl Spec {
    /// Indices of every key argument in `argv`, ascending, each once: what the dispatcher
    /// locks. Where Redis finds no valid keys the specs' positions clamped to the arguments
    /// are locked, so the handler can always reach what it reads before it reports the error.
    pub fn key_indices(&self, argv: &Argv<'_>) -> KeyIndices {
        // Positions never depend on flags, so one plain spec needs no finder (SET is hot).
        if let [one] = self.key_specs {
            if !one.names_keys() {
                return KeyIndices::new();
            }
            if let Some(v) = one.indices_strict(argv) {
                return v;
            }
        }
        let mut v: KeyIndices = match self.key_refs(argv) {
            Some(refs) => refs.iter().map(|&(i, _)| i).collect(),
            None => self
                .key_specs
                .iter()
                .filter(|ks| ks.names_keys())
                .flat_map(|ks| ks.indices_lenient(argv))
                .collect(),
        };
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every key argument of `argv` with how the command uses it, in Redis's order; `None`
    /// where Redis answers "Invalid arguments specified for command".
    pub fn key_refs(&self, argv: &Argv<'_>) -> Option<KeyRefs> {
        let varflags = self.key_specs.iter().any(KeySpec::has_variable_flags);
        if !self.key_specs.is_empty() && !varflags {
            let mut refs = KeyRefs::new();
            let mut valid = true;
            for ks in self.key_specs.iter().filter(|ks| ks.names_keys()) {
                let Some(idx) = ks.indices_strict(argv) else {
                    valid = false;
                    break;
                };
                refs.extend(idx.into_iter().map(|i| (i, ks.flags)));
            }
            if valid {
                return Some(refs);
            }
        }
        let found = own_finder(self.name, argv)?;
        (!found.is_empty()).then_some(found)
    }

    /// Whether COMMAND GETKEYS can find keys in this command at all (Redis's
    /// `doesCommandHaveKeys`).
    pub fn has_keys(&self) -> bool {
        self.key_specs.iter().any(KeySpec::names_keys) || has_own_finder(self.name)
    }
}

/// `(destination, numkeys, first key)` offsets of the commands Redis finds with its generic
/// `numkeys` finder.
fn numkeys_offsets(name: &str) -> Option<(usize, usize, usize)> {
    Some(match name {
        "zunionstore" | "zinterstore" | "zdiffstore" => (1, 2, 3),
        "zunion" | "zinter" | "zdiff" | "sintercard" | "zintercard" | "lmpop" | "zmpop" => {
            (0, 1, 2)
        }
        "blmpop" | "bzmpop" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall"
        | "fcall_ro" => (0, 2, 3),
        _ => return None,
    })
}

fn has_own_finder(name: &str) -> bool {
    matches!(name, "sort" | "sort_ro" | "set" | "bitfield" | "migrate")
        || numkeys_offsets(name).is_some()
}

/// The command's own key finder (Redis's `getkeys_proc`), if it has one.
fn own_finder(name: &str, argv: &Argv<'_>) -> Option<KeyRefs> {
    match name {
        "sort" => Some(sort_keys(argv)),
        "sort_ro" => Some(smallvec::smallvec![(1, RO_ACCESS)]),
        "set" => Some(set_keys(argv)),
        "bitfield" => Some(bitfield_keys(argv)),
        "migrate" => Some(migrate_keys(argv)),
        _ => {
            let (store, numkeys, first) = numkeys_offsets(name)?;
            Some(numkeys_keys(argv, store, numkeys, first))
        }
    }
}

/// MIGRATE's keys (Redis's `migrateGetKeys`): the key argument, or with KEYS (and an empty
/// key argument) every argument after it; options with values are skipped while looking.
fn migrate_keys(argv: &Argv<'_>) -> KeyRefs {
    const RW_DELETE: &[&str] = &["RW", "access", "delete"];
    let (mut first, mut num) = (3, 1);
    let mut i = 6;
    while i < argv.len() {
        let a = argv.get(i);
        if a.eq_ignore_ascii_case(b"keys") {
            if !argv.get(3).is_empty() {
                return KeyRefs::new();
            }
            first = i + 1;
            num = argv.len() - first;
            break;
        }
        if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    (first..first + num)
        .filter(|&i| i < argv.len())
        .map(|i| (i, RW_DELETE))
        .collect()
}

/// Redis's `genericGetKeys`: `numkeys` through `atoi` (so `2x` counts as 2), the keys, then
/// the destination.
fn numkeys_keys(argv: &Argv<'_>, store: usize, numkeys_at: usize, first: usize) -> KeyRefs {
    let n = c_atoi(argv.get(numkeys_at));
    if n < 1 || n as usize > argv.len().saturating_sub(first) {
        return KeyRefs::new();
    }
    let mut refs: KeyRefs = (first..first + n as usize).map(|i| (i, NO_FLAGS)).collect();
    if store > 0 {
        refs.push((store, NO_FLAGS));
    }
    refs
}

/// C's `atoi`: leading blanks, a sign, digits up to the first non-digit; 0 when none.
fn c_atoi(s: &[u8]) -> i64 {
    let s = s.split(|&b| b == 0).next().unwrap_or(s);
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = i < s.len() && s[i] == b'-';
    if i < s.len() && (s[i] == b'-' || s[i] == b'+') {
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(i64::from(s[i] - b'0'));
        i += 1;
    }
    let v = if neg { -v } else { v };
    // atoi gives an int: what does not fit wraps as the C library's conversion does.
    v as i32 as i64
}

/// SORT's keys as Redis's `sortGetKeys` finds them: the source, and the key after the last
/// `STORE` that has one. Its option scan skips LIMIT's two arguments and GET's and BY's one,
/// but not STORE's: in `SORT k STORE GET x`, `GET` is the destination and `x` is GET's.
fn sort_keys(argv: &Argv<'_>) -> KeyRefs {
    let mut refs: KeyRefs = smallvec::smallvec![(1, RO_ACCESS)];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv.get(i);
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            store = Some(i + 1);
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        }
        i += 1;
    }
    refs.extend(store.map(|i| (i, OW_UPDATE)));
    refs
}

/// SET's key: read and written with GET (as a C string: `GET\0x` counts), overwritten without.
fn set_keys(argv: &Argv<'_>) -> KeyRefs {
    let get = (3..argv.len()).any(|i| {
        let a = argv.get(i);
        let c = a.split(|&b| b == 0).next().unwrap_or(a);
        c.eq_ignore_ascii_case(b"get")
    });
    smallvec::smallvec![(1, if get { RW_ACCESS_UPDATE } else { OW_UPDATE })]
}

/// BITFIELD's key: read-only when every operation is a GET (Redis's `bitfieldGetKeys`, which
/// stops at the first write or unknown word, and reads words as C strings).
fn bitfield_keys(argv: &Argv<'_>) -> KeyRefs {
    let word = |i: usize| {
        let a = argv.get(i);
        a.split(|&b| b == 0)
            .next()
            .unwrap_or(a)
            .to_ascii_lowercase()
    };
    let mut read_only = true;
    let mut i = 2;
    while i < argv.len() {
        let left = argv.len() - i - 1;
        match word(i).as_slice() {
            b"get" if left >= 2 => i += 2,
            b"overflow" if left >= 1 => i += 1,
            _ => {
                read_only = false;
                break;
            }
        }
        i += 1;
    }
    smallvec::smallvec![(
        1,
        if read_only {
            RO_ACCESS
        } else {
            RW_ACCESS_UPDATE
        }
    )]
}

#[cfg(test)]
mod tests {
    use super::c_atoi;

    #[test]
    fn atoi_as_c() {
        assert_eq!(c_atoi(b"12x"), 12);
        assert_eq!(c_atoi(b"  -3"), -3);
        assert_eq!(c_atoi(b"x"), 0);
        assert_eq!(c_atoi(b"4294967297"), 1);
    }
}
