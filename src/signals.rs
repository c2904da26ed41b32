//! Termination signals taken synchronously, for the server and the terminal client
//! alike: block them in every thread, then wait for them with sigwait(2) on one. No
//! handler ever runs, so nothing that is unsafe inside a handler can happen in one.

/// Signals blocked by [`block`], ready to be waited for.
#[derive(Clone, Copy)]
pub struct Blocked {
    set: libc::sigset_t,
}

/// Blocks `signals` in this thread and every thread it starts from now on (a new
/// thread inherits the mask), so that only [`Blocked::wait`] takes them. Call it
/// before starting threads.
pub fn block(signals: &[libc::c_int]) -> Blocked {
    // SAFETY: sigset_t is plain data that sigemptyset initialises; the calls only
    // read and write `set`, and pthread_sigmask's old-mask pointer may be null.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in signals {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    Blocked { set }
}

impl Blocked {
    /// Waits until one of the signals arrives; returns its number.
    pub fn wait(&self) -> libc::c_int {
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` was initialised by `block` and `sig` is a valid out-pointer.
            if unsafe { libc::sigwait(&self.set, &mut sig) } == 0 {
                return sig;
            }
        }
    }
}
