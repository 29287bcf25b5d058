//! Access control (ACL), as Redis 7.0 has it: users with passwords, command, key and channel
//! permissions in selectors (`user`), the rules written back (`describe`), the permission
//! check every command goes through (`check`), `user` lines and the ACL file (`file`), and
//! the ACL log (`log`).
//!
//! The registry keeps each user as an immutable `Arc<User>`: ACL SETUSER builds the changed
//! user and swaps it in, then bumps a generation counter. A connection holds the `Arc` of the
//! user it authenticated as and looks it up again by name when the generation moved, so a
//! change reaches every connection before its next command, and the per-command cost while
//! nothing changes is one relaxed load (plus nothing at all for a user allowed everything).

pub mod check;
pub mod clients;
pub mod describe;
pub mod file;
mod log;
pub mod user;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use log::{AclLog, Entry};
pub use user::{RuleError, User};

/// The users, the ACL log and what connections need to notice changes.
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    generation: AtomicU64,
    /// Whether the default user needs a password (or is off): new connections must AUTH.
    auth_required: AtomicBool,
    /// `acl-pubsub-default allchannels`: new users and selectors start with every channel.
    all_channels_default: AtomicBool,
    /// The `requirepass` last given to the default user, so that only a change of it resets
    /// the default user's passwords.
    requirepass: Mutex<Option<String>>,
    pub log: AclLog,
}

impl Default for Acl {
    fn default() -> Self {
        let acl = Acl {
            users: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            auth_required: AtomicBool::new(false),
            all_channels_default: AtomicBool::new(false),
            requirepass: Mutex::new(None),
            log: AclLog::default(),
        };
        acl.put(Arc::new(User::default_user()));
        acl
    }
}

impl Acl {
    /// Bumped on every change of any user.
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    pub fn auth_required(&self) -> bool {
        self.auth_required.load(Relaxed)
    }

    pub fn all_channels_default(&self) -> bool {
        self.all_channels_default.load(Relaxed)
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// The default user (it always exists).
    pub fn default_user(&self) -> Arc<User> {
        self.get(b"default")
            .unwrap_or_else(|| Arc::new(User::default_user()))
    }

    /// Every user, by name in byte order (as Redis's radix tree lists them).
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    fn changed(&self) {
        let default = self.default_user();
        self.auth_required
            .store(!default.flags.nopass || !default.enabled(), Relaxed);
        self.generation.fetch_add(1, Relaxed);
    }

    fn put(&self, user: Arc<User>) {
        self.users.write().insert(user.name.clone(), user);
        self.changed();
    }

    /// ACL SETUSER: apply `rules` to `name` (created if missing) all or nothing. Returns the
    /// user as it was, if it existed, and as it is now; or the error reply's text.
    pub fn set_user(
        &self,
        name: &[u8],
        rules: &[&[u8]],
    ) -> Result<(Option<Arc<User>>, Arc<User>), String> {
        let rules = file::merge_selectors(rules).map_err(|at| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(rules[at])
            )
        })?;
        let all_channels = self.all_channels_default();
        // Under the write lock, so two SETUSERs of one user never lose each other's rules.
        let mut users = self.users.write();
        let old = users.get(name).cloned();
        let mut user = match &old {
            Some(u) => User::clone(u),
            None => User::new(name, all_channels),
        };
        for rule in &rules {
            user.apply(rule, all_channels).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {e}",
                    String::from_utf8_lossy(rule)
                )
            })?;
        }
        let user = Arc::new(user);
        users.insert(name.to_vec(), user.clone());
        drop(users);
        self.changed();
        Ok((old, user))
    }

    /// ACL DELUSER: remove the users that exist; returns them.
    pub fn delete(&self, names: &[&[u8]]) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        let gone: Vec<Arc<User>> = names.iter().filter_map(|n| users.remove(*n)).collect();
        drop(users);
        self.changed();
        gone
    }

    /// Replace every user (ACL LOAD, start-up); a set without `default` gets a fresh one.
    /// Returns the users replaced.
    pub fn replace_all(&self, mut new: BTreeMap<Vec<u8>, Arc<User>>) -> Vec<Arc<User>> {
        new.entry(b"default".to_vec())
            .or_insert_with(|| Arc::new(User::default_user()));
        let old = std::mem::replace(&mut *self.users.write(), new);
        self.changed();
        old.into_values().collect()
    }

    /// Check `password` for `name`: the user if it exists, is on, and has no password or
    /// this one (compared in constant time).
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let user = self.get(name)?;
        if !user.enabled() {
            return None;
        }
        if user.flags.nopass {
            return Some(user);
        }
        let hash = password_hash(password);
        let mut found = false;
        for p in &user.passwords {
            // Every hash is compared, each in constant time.
            found |= constant_time_eq(p.as_bytes(), hash.as_bytes());
        }
        found.then_some(user)
    }

    /// Follow `requirepass` and `acl-pubsub-default` (after the config changed): a new
    /// `requirepass` becomes the default user's only password, an empty one makes it
    /// `nopass`, as Redis's `ACLUpdateDefaultUserPassword`.
    pub fn load_config(&self, config: &crate::config::Config) {
        self.all_channels_default
            .store(config.get("acl-pubsub-default") == "allchannels", Relaxed);
        let wanted = config.requirepass().map(str::to_string);
        let mut applied = self.requirepass.lock();
        if *applied == wanted && self.generation() > 0 {
            return;
        }
        let mut rules: Vec<Vec<u8>> = vec![b"resetpass".to_vec()];
        match &wanted {
            Some(p) => rules.push([b">", p.as_bytes()].concat()),
            None => rules.push(b"nopass".to_vec()),
        }
        let rules: Vec<&[u8]> = rules.iter().map(Vec::as_slice).collect();
        // Both rules are always valid.
        let _ = self.set_user(b"default", &rules);
        *applied = wanted;
    }
}

/// The SHA-256 of a password in lowercase hex, as ACL keeps and shows passwords.
pub fn password_hash(password: &[u8]) -> String {
    use sha2::Digest;
    let mut out = String::with_capacity(64);
    for b in sha2::Sha256::digest(password) {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Compare secrets without an early exit that would leak how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_user_is_all_or_nothing() {
        let acl = Acl::default();
        acl.set_user(b"u", &[b"on", b">pw"]).unwrap();
        let err = acl.set_user(b"u", &[b"off", b"+nosuch"]).unwrap_err();
        assert_eq!(
            err,
            "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert!(acl.get(b"u").unwrap().enabled());
        assert!(acl.authenticate(b"u", b"pw").is_some());
        assert!(acl.authenticate(b"u", b"nope").is_none());
        assert!(acl.authenticate(b"nobody", b"pw").is_none());
    }

    #[test]
    fn requirepass_is_the_default_password() {
        let acl = Acl::default();
        assert!(!acl.auth_required());
        let mut config = crate::config::Config::default();
        config.set("requirepass", "secret");
        acl.load_config(&config);
        assert!(acl.auth_required());
        assert!(acl.authenticate(b"default", b"secret").is_some());
        config.set("requirepass", "");
        acl.load_config(&config);
        assert!(!acl.auth_required());
    }

    #[test]
    fn unmatched_parenthesis() {
        let acl = Acl::default();
        let err = acl.set_user(b"u", &[b"on", b"(+get", b"~x"]).unwrap_err();
        assert_eq!(
            err,
            "Unmatched parenthesis in acl selector starting at '(+get'."
        );
    }
}
