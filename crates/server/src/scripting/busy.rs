//! Scripts running longer than `busy-reply-threshold` (Redis's "timed out" scripts). While
//! one runs, every other command but those flagged `allow_busy` (SCRIPT KILL, SHUTDOWN NOSAVE
//! …) is answered `-BUSY`, as in Redis, and new connections go to I/O threads that are not
//! running it (an I/O thread running a script serves nothing else meanwhile; when all are,
//! the new connection gets a thread of its own), so SCRIPT KILL can always reach the server.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

/// The reply to commands while a script (EVAL) is busy.
pub const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// The reply to commands while a function (FCALL) is busy.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

/// What FUNCTION STATS tells of a busy script.
pub struct Running {
    /// EVAL (killed by SCRIPT KILL) rather than FCALL (FUNCTION KILL).
    pub is_eval: bool,
    /// The function's name (a script's `f_<sha>`).
    pub name: String,
    /// The command that runs it (kept for functions only).
    pub command: Vec<Vec<u8>>,
    pub started: std::time::Instant,
}

/// One busy script.
pub struct BusyScript {
    /// (it wrote, SCRIPT KILL asked it to stop), changed together.
    state: Mutex<(bool, bool)>,
    /// The I/O thread running it.
    pub io_thread: Option<usize>,
    pub running: Running,
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
    pub fn enter(
        &self,
        io_thread: Option<usize>,
        wrote: bool,
        running: Running,
    ) -> Arc<BusyScript> {
        let entry = Arc::new(BusyScript {
            state: Mutex::new((wrote, false)),
            io_thread,
            running,
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

    /// The reply to a command refused while scripts are busy: as the first one's kind.
    pub fn reply(&self) -> &'static str {
        match self.scripts.lock().first() {
            Some(e) if !e.running.is_eval => BUSY_FUNCTION,
            _ => BUSY,
        }
    }

    /// Run `f` with the first busy script, if any.
    pub fn first<R>(&self, f: impl FnOnce(Option<&Running>) -> R) -> R {
        let scripts = self.scripts.lock();
        f(scripts.first().map(|e| &e.running))
    }

    /// SCRIPT KILL (`eval`) or FUNCTION KILL: stop every busy script of that kind that has
    /// not written. The error when there is none, when those there are have written, or
    /// when only the other kind is busy (as Redis checks them, in that order).
    pub fn kill(&self, eval: bool) -> Result<(), &'static str> {
        let scripts = self.scripts.lock();
        if scripts.is_empty() {
            return Err("NOTBUSY No scripts in execution right now.");
        }
        let mut killed = false;
        let mut other_kind_unwritten = false;
        for e in scripts.iter() {
            let mut s = e.state.lock();
            if s.0 {
                continue;
            }
            if e.running.is_eval == eval {
                s.1 = true;
                killed = true;
            } else {
                other_kind_unwritten = true;
            }
        }
        match (killed, other_kind_unwritten) {
            (true, _) => Ok(()),
            (false, true) if eval => Err(BUSY_FUNCTION),
            (false, true) => Err(BUSY),
            (false, false) => Err(UNKILLABLE),
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
