//! The host of the script running on this thread. The `redis.*` functions are created once
//! per interpreter (creating them for every run cost more than a short script itself), so
//! they find the host here: [`install`] puts it for the length of one run, [`with`] lends it
//! to one callback at a time.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::Host;

thread_local! {
    static CURRENT: Cell<Option<NonNull<dyn Host + 'static>>> = const { Cell::new(None) };
}

/// While this lives, the host it was made from is this thread's current host.
pub struct Installed<'a> {
    _borrow: PhantomData<&'a mut ()>,
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(None));
    }
}

/// Make `host` the current host until the returned guard drops.
pub fn install<'a>(host: &'a mut (dyn Host + 'a)) -> Installed<'a> {
    let ptr: NonNull<dyn Host + 'a> = NonNull::from(host);
    // SAFETY: only the lifetime is erased. The pointer is cleared when the guard drops, and
    // the guard cannot outlive the `'a` borrow it was made from, so no use of the pointer
    // outlives the host.
    let ptr: NonNull<dyn Host + 'static> = unsafe { std::mem::transmute(ptr) };
    CURRENT.with(|c| c.set(Some(ptr)));
    Installed {
        _borrow: PhantomData,
    }
}

/// Run `f` with the current host; `None` when no script is running on this thread (or the
/// host is already lent out, which the engine never does).
pub fn with<R>(f: impl FnOnce(&mut dyn Host) -> R) -> Option<R> {
    let ptr = CURRENT.with(Cell::take)?;
    // SAFETY: the pointer came from a live `&mut` (see `install`), and it is out of the cell
    // while `f` runs, so this is the only reference made from it.
    let r = f(unsafe { &mut *ptr.as_ptr() });
    CURRENT.with(|c| c.set(Some(ptr)));
    Some(r)
}

/// Whether a script is running on this thread.
pub fn running() -> bool {
    CURRENT.with(|c| {
        let p = c.get();
        p.is_some()
    })
}

/// Per-run settings the script changes through `redis.*`: the protocol of its calls
/// (`redis.setresp`), what of its effects is replicated (`redis.set_repl`), and whether
/// SCRIPT KILL stopped it.
#[derive(Clone, Copy)]
pub struct RunState {
    pub resp: u8,
    pub repl: u8,
    pub killed: bool,
    /// While a library loads (FUNCTION LOAD): when its code must have finished.
    pub load_deadline: Option<std::time::Instant>,
}

impl RunState {
    pub const START: RunState = RunState {
        resp: 2,
        repl: 3,
        killed: false,
        load_deadline: None,
    };
}

thread_local! {
    static STATE: Cell<RunState> = const { Cell::new(RunState::START) };
}

pub fn state() -> RunState {
    STATE.with(Cell::get)
}

pub fn set_state(f: impl FnOnce(&mut RunState)) {
    STATE.with(|s| {
        let mut st = s.get();
        f(&mut st);
        s.set(st);
    });
}
