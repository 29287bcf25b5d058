//! The ACL log (ACL LOG): failed authentications and refused commands, keys and channels,
//! newest first, similar entries within a minute counted in one, as in Redis 7.0.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Entries of the same kind within this long are counted in one (Redis's
/// `ACL_LOG_GROUPING_MAX_TIME_DELTA`).
const GROUPING_MS: u64 = 60_000;

/// One ACL LOG entry.
pub struct Entry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub client_info: String,
}

/// The ACL log, newest first, at most `acllog-max-len` entries.
#[derive(Default)]
pub struct AclLog {
    entries: Mutex<VecDeque<Entry>>,
}

impl AclLog {
    /// Record a denial; one like it within a minute only counts again (and takes this one's
    /// client).
    pub fn record(
        &self,
        max_len: usize,
        reason: &'static str,
        context: &'static str,
        object: &[u8],
        username: &[u8],
        client_info: String,
    ) {
        let now = crate::util::now_ms();
        let mut entries = self.entries.lock();
        // Redis looks for a similar entry among the ten newest only.
        let similar = entries.iter_mut().take(10).position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now.saturating_sub(e.updated_ms) < GROUPING_MS
        });
        if let Some(i) = similar {
            if let Some(mut e) = entries.remove(i) {
                e.count += 1;
                e.updated_ms = now;
                e.client_info = client_info;
                entries.push_front(e);
            }
            return;
        }
        entries.push_front(Entry {
            count: 1,
            reason,
            context,
            object: object.to_vec(),
            username: username.to_vec(),
            created_ms: now,
            updated_ms: now,
            client_info,
        });
        entries.truncate(max_len);
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// Run `f` over the newest `n` entries.
    pub fn with_newest<R>(
        &self,
        n: usize,
        f: impl FnOnce(&mut dyn Iterator<Item = &Entry>) -> R,
    ) -> R {
        let entries = self.entries.lock();
        f(&mut entries.iter().take(n))
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
