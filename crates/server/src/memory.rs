//! Memory the server holds, counted as it is allocated: the global allocator of the binary
//! ([`Counting`] around jemalloc) adds every allocation's size and takes every free's away,
//! each thread in a slot of its own (no cache line shared between I/O threads on the
//! allocation path). [`used`] sums the slots: cheap enough for the `maxmemory` check before
//! every command, and exact where jemalloc's own statistics are only as fresh as their last
//! epoch. Sizes are jemalloc's size classes (`nallocx`), as Redis counts usable sizes.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

/// Slots of the per-thread counters (threads beyond this share them, which stays correct).
const SLOTS: usize = 64;

#[repr(align(64))]
struct Slot(AtomicIsize);

static COUNTERS: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot (`usize::MAX` until its first allocation). A const-initialized
    /// `Cell` with no destructor: reading it never allocates.
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn slot() -> usize {
    MY_SLOT
        .try_with(|s| {
            let mut v = s.get();
            if v == usize::MAX {
                v = NEXT_SLOT.fetch_add(1, Relaxed) % SLOTS;
                s.set(v);
            }
            v
        })
        .unwrap_or(0)
}

fn add(bytes: isize) {
    COUNTERS[slot()].0.fetch_add(bytes, Relaxed);
}

/// Bytes allocated and not freed, over every thread (0 when the binary's allocator is not
/// [`Counting`], as in unit tests).
pub fn used() -> u64 {
    let sum: isize = COUNTERS.iter().map(|c| c.0.load(Relaxed)).sum();
    sum.max(0) as u64
}

/// The size class jemalloc gives an allocation of `layout`.
fn class_size(layout: Layout) -> isize {
    let flags = if layout.align() > 16 {
        layout.align().trailing_zeros() as i32
    } else {
        0
    };
    // SAFETY: nallocx only computes a size; a zero size is not passed (GlobalAlloc never asks).
    let n = unsafe { tikv_jemalloc_sys::nallocx(layout.size().max(1), flags) };
    if n == 0 {
        layout.size() as isize
    } else {
        n as isize
    }
}

/// A global allocator that counts what it hands out (see the module's doc).
pub struct Counting<A>(pub A);

// SAFETY: every call is forwarded to the inner allocator unchanged; only counters move.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc(layout);
        if !p.is_null() {
            add(class_size(layout));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = self.0.alloc_zeroed(layout);
        if !p.is_null() {
            add(class_size(layout));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        add(-class_size(layout));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = self.0.realloc(ptr, layout, new_size);
        if !p.is_null() {
            let new = Layout::from_size_align_unchecked(new_size, layout.align());
            add(class_size(new) - class_size(layout));
        }
        p
    }
}
