//! Giving back the stack pages a thread no longer uses. A connection thread's deep
//! moments (the handshake, a join's proof, a create's X25519) touch pages that its idle
//! read, a few hundred bytes deep, never uses again, and the kernel keeps them resident
//! for the thread's whole life: four pages per idle client where one or two are in use.
//! `MADV_DONTNEED` drops them; the next deep call gets fresh zero pages, so whatever
//! those calls left on the stack is gone with them too.

/// Drops the stack pages below the caller's frame. Cheap (two library calls and one
/// system call), but not free: call it when a thread goes quiet, not per frame. Not on
/// the main thread, where it does nothing: musl finds that stack's extent by probing
/// with mremap() page by page (under qemu-user for minutes), and what lies below it is
/// not the thread's own.
#[inline(never)]
pub fn release_unused() {
    // SAFETY: getpid and the gettid system call take no arguments and cannot fail.
    if unsafe { libc::syscall(libc::SYS_gettid) } == libc::c_long::from(unsafe { libc::getpid() }) {
        return;
    }
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
    // What lies below `marker` while madvise runs (the rest of this frame, madvise's
    // own, its return address) must stay: a page dropped under them returns to 0.
    let end = here.saturating_sub(BELOW_MARKER) & !(page - 1);
    if end <= start || end - start > MAX_SPAN {
        return;
    }
    // SAFETY: [start, end) lies inside this thread's own stack mapping, below every
    // live frame (this one included); nothing refers to memory there, and an
    // anonymous page dropped with MADV_DONTNEED reads back as zeroes when touched.
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
}

/// More than this frame and the C library's madvise() ever use below `marker`
/// (a few hundred bytes), with room to spare. The test below checks it at every depth.
const BELOW_MARKER: usize = 1024;

/// Spawned threads have small stacks; a larger reported span is not one of them and
/// is left alone.
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

    /// Called at every depth over a few pages, in steps of one small frame, the
    /// release never takes a page that a live frame or a return address is on (it did
    /// once: the main thread crashed at start-up one time in five, depending on where
    /// its stack began).
    #[test]
    fn releasing_at_any_depth_keeps_every_live_frame() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                for levels in 0..400 {
                    assert_eq!(nest(levels, 7), nest_sum(levels, 7));
                }
            })
            .expect("spawn")
            .join()
            .expect("no frame was lost");
    }

    /// Recurses `levels` deep, each frame holding a value of its own, releases at the
    /// bottom, and checks on the way up that every frame still holds its value.
    #[inline(never)]
    fn nest(levels: usize, token: u64) -> u64 {
        let mine = std::hint::black_box(token.wrapping_mul(31).wrapping_add(levels as u64));
        let below = if levels == 0 {
            release_unused();
            0
        } else {
            nest(levels - 1, mine)
        };
        assert_eq!(
            std::hint::black_box(mine),
            token.wrapping_mul(31).wrapping_add(levels as u64)
        );
        below.wrapping_add(mine)
    }

    fn nest_sum(levels: usize, token: u64) -> u64 {
        let (mut sum, mut t) = (0u64, token);
        for l in (0..=levels).rev() {
            t = t.wrapping_mul(31).wrapping_add(l as u64);
            sum = sum.wrapping_add(t);
        }
        sum
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
