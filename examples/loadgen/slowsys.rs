//! A second machine on the same hardware: one whose system calls cost more.
//!
//! `--syscall-tax N` installs seccomp filters of N BPF instructions in all that
//! the kernel runs at the entry of every system call of this process, its later
//! threads and the server it starts (filters are inherited across fork and exec).
//! Each instruction loads the call's first argument, which keeps the kernel from
//! caching the (always "allow") verdict per call number, so every call really runs
//! them, in the kernel, on the calling thread's own CPU time: send() and every other
//! call of the server, of the floor's sender and of the clients gets the same fixed
//! extra cost (about 0.2 ns per instruction here), as on a machine with a costlier
//! kernel entry. Nothing else changes: user-space code, memory and caches run as fast
//! as before, so this models a machine whose system calls are slower, not a slower
//! CPU in general. `make bench-slow` chooses N so the floor's send() costs about 3x
//! what it costs untaxed, and the report states the floor both runs measured.

/// The most instructions one classic BPF program may have.
const MAX_PER_FILTER: usize = 4096;
/// The kernel's limit on all filters' instructions together (each counts 4 more).
const MAX_TOTAL: usize = 32_768;

/// `BPF_LD | BPF_W | BPF_ABS`: load a 32-bit word of `struct seccomp_data`.
const LD_W_ABS: u16 = 0x20;
/// `BPF_RET | BPF_K`: return a constant verdict.
const RET_K: u16 = 0x06;
/// Offset of `args[0]` in `struct seccomp_data` (nr, arch, instruction_pointer).
const ARG0: u32 = 16;

/// Taxes every later system call of this process and its children with `insns`
/// BPF instructions. Irreversible for the process: call it once, before any thread
/// or child that should pay it is started.
pub fn tax_syscalls(insns: usize) -> Result<(), String> {
    let filters = insns.div_ceil(MAX_PER_FILTER - 1);
    if insns + filters * 5 > MAX_TOTAL {
        return Err(format!(
            "--syscall-tax {insns}: the kernel takes at most {MAX_TOTAL} instructions in all \
             filters, 5 more per filter of at most {MAX_PER_FILTER}"
        ));
    }
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers; it lets an unprivileged
    // process install filters and keeps them across exec.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "PR_SET_NO_NEW_PRIVS: {}",
            std::io::Error::last_os_error()
        ));
    }
    let per_filter = insns.div_ceil(filters.max(1));
    let mut left = insns;
    for _ in 0..filters {
        let len = per_filter.min(left);
        left -= len;
        let load = libc::sock_filter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: ARG0,
        };
        let mut prog = vec![load; len];
        prog.push(libc::sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        });
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_mut_ptr(),
        };
        // SAFETY: `fprog` points at `prog`, alive for the call; the kernel copies it.
        let r = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &fprog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(format!(
                "seccomp filter: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}
