//! Scripts running longer than `busy-reply-threshold` (Redis's "timed out" scripts). While
//! one runs, every other command but those flagged `allow_busy` (SCRIPT KILL, SHUTDOWN NOSAVE
//! …) is answered `-BUSY`, as in Redis, and new connections go to I/O threads that are not
//! running it (an I/O thread running a script serves nothing else meanwhile; when all are,
//! the new connection gets a thread of its own), so SCRIPT KILL can always reach the server.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

/// The reply to commands while a script is busy.
pub const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// One busy script.
pub struct BusyScript {
    /// (it wrote, SCRIPT KILL asked it to stop), changed together.
    state: Mutex<(bool, bool)>,
    /// The I/O thread running it.
    pub io_thread: Option<usize>,
}

impl BusyScript {
    /// The script is about to write: false if SCRIPT KILL already stopped it.
    pub fn mark_wrote(&self) -> bool {
        let mut s = self.state.lock();
        if s.1 {
            return false;
        }
        s.0 = true;
        true
    }

    /// SCRIPT KILL asked it to stop (and it has not written).
    pub fn kill_requested(&self) -> bool {
        let s = self.state.lock();
        s.1 && !s.0
    }
}

#[derive(Default)]
pub struct Busy {
    scripts: Mutex<Vec<Arc<BusyScript>>>,
    count: AtomicUsize,
}

impl Busy {
    /// Whether some script is busy (one relaxed load on every command's path).
    pub fn any(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    /// A script on `io_thread` passed the threshold.
    pub fn enter(&self, io_thread: Option<usize>, wrote: bool) -> Arc<BusyScript> {
        let entry = Arc::new(BusyScript {
            state: Mutex::new((wrote, false)),
            io_thread,
        });
        self.scripts.lock().push(entry.clone());
        self.count.fetch_add(1, Relaxed);
        entry
    }

    /// The script ended.
    pub fn leave(&self, entry: &Arc<BusyScript>) {
        let mut scripts = self.scripts.lock();
        if let Some(at) = scripts.iter().position(|e| Arc::ptr_eq(e, entry)) {
            scripts.swap_remove(at);
            self.count.fetch_sub(1, Relaxed);
        }
    }

    /// Whether I/O thread `idx` is running a busy script.
    pub fn thread_busy(&self, idx: usize) -> bool {
        self.any() && self.scripts.lock().iter().any(|e| e.io_thread == Some(idx))
    }

    /// SCRIPT KILL: stop every busy script that has not written. The error when there is
    /// none, or when every one of them has written.
    pub fn kill(&self) -> Result<(), &'static str> {
        let scripts = self.scripts.lock();
        if scripts.is_empty() {
            return Err("NOTBUSY No scripts in execution right now.");
        }
        let mut killed = false;
        for e in scripts.iter() {
            let mut s = e.state.lock();
            if !s.0 {
                s.1 = true;
                killed = true;
            }
        }
        if killed {
            Ok(())
        } else {
            Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
        }
    }
}

thread_local! {
    /// The index of the I/O thread this is, if it is one.
    static IO_THREAD: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Called by each I/O thread as it starts.
pub fn set_io_thread(idx: usize) {
    IO_THREAD.with(|t| t.set(Some(idx)));
}

pub fn io_thread() -> Option<usize> {
    IO_THREAD.with(std::cell::Cell::get)
}
