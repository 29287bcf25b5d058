//! Memory the server holds, counted as it is allocated: the global allocator of the binary
//! ([`Counting`] around jemalloc) adds every allocation's size and takes every free's away,
//! each thread in a slot of its own (no cache line shared between I/O threads on the
//! allocation path). [`used`] sums the slots: cheap enough for the `maxmemory` check before
//! every command, and exact where jemalloc's own statistics are only as fresh as their last
//! epoch. Sizes are jemalloc's size classes, as Redis counts usable sizes.

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

/// Slots below this are each written by one thread only (plain loads and stores, no locked
/// instruction on the allocation path); later threads share the last one, atomically.
const SHARED: usize = SLOTS - 1;

fn add(bytes: isize) {
    let slot = MY_SLOT
        .try_with(|s| {
            let mut v = s.get();
            if v == usize::MAX {
                v = NEXT_SLOT.fetch_add(1, Relaxed).min(SHARED);
                s.set(v);
            }
            v
        })
        .unwrap_or(SHARED);
    let c = &COUNTERS[slot].0;
    if slot < SHARED {
        c.store(c.load(Relaxed) + bytes, Relaxed);
    } else {
        c.fetch_add(bytes, Relaxed);
    }
}

/// Bytes allocated and not freed, over every thread (0 when the binary's allocator is not
/// [`Counting`], as in unit tests). Every reading also moves the peak.
pub fn used() -> u64 {
    let sum: isize = COUNTERS.iter().map(|c| c.0.load(Relaxed)).sum();
    let used = sum.max(0) as u64;
    PEAK.fetch_max(used, Relaxed);
    used
}

static PEAK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static STARTUP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The highest [`used`] seen (read by the cron ten times a second and by every check).
pub fn peak() -> u64 {
    PEAK.load(Relaxed)
}

/// Note the memory the server uses once started, before it loads data (Redis's
/// `used_memory_startup`).
pub fn mark_startup(bytes: u64) {
    STARTUP.store(bytes, Relaxed);
}

pub fn startup() -> u64 {
    STARTUP.load(Relaxed)
}

/// The size class jemalloc gives an allocation of `layout`, computed rather than asked
/// (`nallocx` cost 4% of a short script's instructions): 8, then multiples of 16 up to 128,
/// then four classes per doubling — the same classes for small and large sizes (checked
/// against `nallocx` in the tests).
#[inline]
fn class_size(layout: Layout) -> isize {
    let size = layout.size().max(layout.align());
    let class = if size <= 8 {
        8
    } else if size <= 128 {
        (size + 15) & !15
    } else {
        let lg = usize::BITS - 1 - (size - 1).leading_zeros();
        let delta = 1usize << (lg - 2);
        (size + delta - 1) & !(delta - 1)
    };
    class as isize
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_jemallocs() {
        for size in (1..70_000).chain([1 << 20, (1 << 20) + 1, 3 << 20, 10_000_000]) {
            let layout = Layout::from_size_align(size, 8).expect("layout");
            // SAFETY: nallocx only computes a size.
            let want = unsafe { tikv_jemalloc_sys::nallocx(size, 0) };
            assert_eq!(class_size(layout) as usize, want, "size {size}");
        }
    }
}
