//! The allocator of the static musl builds (the Pi binaries): the system allocator
//! behind one futex-based lock.
//!
//! cross/build.sh links zig's libc, whose malloc is zig's `std.heap.SmpAllocator`: its
//! `lock()` try-locks one slot per CPU in a loop and never sleeps. On one CPU (a Pi Zero
//! W) a thread preempted inside malloc leaves every other allocating thread spinning
//! for its whole time slice (measured: 22.7% of server CPU in that loop, p99 up to
//! 649 ms with 50 busy rooms). Taking a sleeping lock first keeps the spin lock
//! uncontended. The hot path (fan-out) does not allocate per member, so the lock is
//! cheap where it matters.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::{Mutex, MutexGuard};

pub struct Serial;

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

// SAFETY: every call is forwarded unchanged to `System`, one at a time.
unsafe impl GlobalAlloc for Serial {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _g = lock();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _g = lock();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _g = lock();
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _g = lock();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Serial = Serial;
