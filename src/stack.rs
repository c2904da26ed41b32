//! Giving back the stack pages a connection thread no longer uses. Its deep moments
//! (the handshake, a join's proof, a create's X25519) touch pages that its idle read,
//! a few hundred bytes deep, never uses again, and the kernel keeps them resident for
//! the thread's whole life: four pages per idle client where one or two are in use.
//! `MADV_DONTNEED` drops them; the next deep call gets fresh zero pages, so whatever
//! those calls left on the stack is gone with them too.

/// Drops the stack pages below the caller's frame. Cheap (two library calls and one
/// system call), but not free: call it when a connection goes quiet, not per frame.
#[inline(never)]
pub fn release_unused() {
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let Some(low) = lowest_address() else {
        return;
    };
    // SAFETY: sysconf has no preconditions.
    let Ok(page) = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) else {
        return;
    };
    if !page.is_power_of_two() {
        return;
    }
    let start = low.next_multiple_of(page);
    // The page holding this frame stays: the callers above it live there.
    let end = here & !(page - 1);
    if end <= start || end - start > MAX_SPAN {
        return;
    }
    // SAFETY: [start, end) lies inside this thread's own stack mapping, below every
    // live frame (this one included); nothing refers to memory there, and an
    // anonymous page dropped with MADV_DONTNEED reads back as zeroes when touched.
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
}

/// Connection threads have small stacks; anything larger is not one of them (the main
/// thread's reported stack is its rlimit), and is left alone.
const MAX_SPAN: usize = 1024 * 1024;

/// The lowest address of the calling thread's stack, as the C library reports it.
fn lowest_address() -> Option<usize> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `attr` is written by pthread_getattr_np before it is read, and destroyed
    // once; pthread_self is always valid for the calling thread.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut addr = std::ptr::null_mut();
        let mut size = 0;
        let got = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (got == 0 && !addr.is_null()).then_some(addr as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deep frames leave data on the stack; after a release it reads back as zeroes,
    /// which only happens if the pages really were dropped.
    #[test]
    fn pages_below_the_caller_are_dropped_and_read_back_as_zeroes() {
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(|| {
                let low = lowest_address().expect("a spawned thread reports its stack");
                let written = deep(low);
                release_unused();
                // SAFETY: `written` is inside this thread's stack, below every live frame.
                let after = unsafe { std::ptr::read_volatile(written as *const u64) };
                assert_eq!(after, 0, "the dropped page reads back as zero");
            })
            .expect("spawn")
            .join()
            .expect("thread");
    }

    /// Fills 64 KiB of stack with a pattern; returns an address it wrote that is well
    /// below the caller's page.
    #[inline(never)]
    fn deep(low: usize) -> usize {
        let mut area = [0xA5u8; 64 * 1024];
        std::hint::black_box(&mut area);
        let addr = (area.as_ptr() as usize + 1024) & !7;
        assert!(addr > low);
        // SAFETY: `addr` points into `area`, a live local.
        assert_eq!(
            unsafe { std::ptr::read_volatile(addr as *const u64) },
            !0 / 255 * 0xA5
        );
        addr
    }
}
