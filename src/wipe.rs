//! Nothing freed keeps a copy: the process's allocator zeroes every block before
//! giving it back, and [`scrub_stack`] zeroes the stack below a thread's frame. After a
//! room ends, its id, aliases, `auth`, proofs and ciphertext are then found nowhere in
//! the process's memory (a core dump of it shows none: tests/transience.rs).
//!
//! On the static musl builds (the Pi binaries) calls are also serialised behind one
//! futex-based lock: cross/build.sh links zig's libc, whose malloc is zig's
//! `std.heap.SmpAllocator`, whose `lock()` try-locks one slot per CPU in a loop and never
//! sleeps. On one CPU (a Pi Zero W) a thread preempted inside malloc left every other
//! allocating thread spinning for its whole time slice (measured: 22.7% of server CPU in
//! that loop, p99 up to 649 ms with 50 busy rooms). The hot path (fan-out) does not
//! allocate per member, so neither the lock nor the zeroing is paid per delivery.

use std::alloc::{GlobalAlloc, Layout, System};

/// The global allocator: the system's, zeroing on free (and serialised on musl).
pub struct Wiping;

/// The musl builds' one allocator lock (none elsewhere), held until dropped.
fn lock() -> Option<std::sync::MutexGuard<'static, ()>> {
    #[cfg(target_env = "musl")]
    {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        Some(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
    }
    #[cfg(not(target_env = "musl"))]
    None
}

/// Zeroes `len` bytes at `ptr` in a way the optimiser cannot drop as dead stores
/// before a free.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes.
unsafe fn zero(ptr: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is writable.
    unsafe { std::ptr::write_bytes(ptr, 0, len) };
    // The pointer escapes, so the zeroes must really be written.
    std::hint::black_box(ptr);
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

// SAFETY: every block comes from `System` with the same layout it is returned with;
// zeroing touches only the block being freed, which the caller owns until then.
unsafe impl GlobalAlloc for Wiping {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _g = lock();
        // SAFETY: forwarded unchanged; the caller upholds GlobalAlloc's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _g = lock();
        // SAFETY: forwarded unchanged; the caller upholds GlobalAlloc's contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller owns the block of `layout.size()` bytes until it is freed.
        unsafe { zero(ptr, layout.size()) };
        let _g = lock();
        // SAFETY: `ptr` came from `System` with this layout (every block here does).
        unsafe { System.dealloc(ptr, layout) }
    }

    /// Never in place: a block that moved would leave its old bytes behind.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `new_size` is valid for `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size (GlobalAlloc's contract on realloc).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// Zeroes `bytes` of stack below the caller's frame, where deeper calls (frame
/// parsing, JSON) left copies of what they handled, and the vector registers that the
/// C library's string routines (memcpy, memcmp) last filled with them: a core dump
/// saves every thread's registers. Call it from a shallow frame.
#[inline(never)]
pub fn scrub_stack<const BYTES: usize>() {
    let mut area = [0u8; BYTES];
    // SAFETY: `area` is a live local array of exactly BYTES bytes.
    unsafe { zero(area.as_mut_ptr(), BYTES) };
    // The same routines, run over zeroes, leave zeroes in the registers they use.
    let (low, high) = area.split_at_mut(BYTES / 2);
    low.copy_from_slice(std::hint::black_box(&high[..BYTES / 2]));
    std::hint::black_box(low == std::hint::black_box(&high[..BYTES / 2]));
    std::hint::black_box(&mut area);
}
