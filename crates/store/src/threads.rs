//! A hook run at the start of every long-lived thread this crate and the ones above it start
//! (the lazy-free worker here, the log writer in `persist`), so the server can place them
//! (`bio_cpulist`) without this crate knowing about configuration.

use std::sync::OnceLock;

static HOOK: OnceLock<fn(&str)> = OnceLock::new();

/// Set the hook (once; later calls are ignored).
pub fn set_start_hook(hook: fn(&str)) {
    let _ = HOOK.set(hook);
}

/// Call first thing in a new thread, with the thread's name.
pub fn started(name: &str) {
    if let Some(hook) = HOOK.get() {
        hook(name);
    }
}
