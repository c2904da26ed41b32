//! The server under test: the release binary started on loopback (optionally pinned
//! to one CPU), its banner read for the ports, and its footprint read from /proc:
//! resident memory, threads, descriptors and CPU time. Also the load generator's own
//! CPU time, CPU pinning and descriptor limit.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Limits the benchmark needs raised above the Pi-sized defaults.
pub const BENCH_FLAGS: &[&str] = &[
    "--max-connections",
    "4000",
    "--max-per-ip",
    "4000",
    "--max-members",
    "1000",
    "--max-rooms",
    "1000",
    "--rate",
    "1000000",
    "--burst",
    "1000000",
];

pub struct Server {
    child: Child,
    /// Kept open so a late write by the server never meets a closed pipe.
    _stdout: BufReader<ChildStdout>,
    pub ws: SocketAddr,
    pub spawned: Instant,
    /// From spawn to the banner's last line.
    pub banner_after: Duration,
}

/// One reading of /proc/PID/status (sizes in KiB).
#[derive(Clone, Copy, Debug, Default)]
pub struct Footprint {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub anon_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
    pub fds: u64,
}

/// Pins the calling thread (and the threads it starts later) to `cpu`.
pub fn pin(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data, initialised by CPU_ZERO before use.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Pins the calling process (every thread it starts later) to `cpu`.
pub fn pin_self(cpu: usize) -> Result<(), String> {
    pin(cpu).map_err(|e| format!("cannot pin the load generator to CPU {cpu}: {e}"))
}

/// How a binary is linked: "dynamic" when its ELF program headers name an
/// interpreter (ld.so), else "static".
pub fn linkage(bin: &Path) -> &'static str {
    const PT_INTERP: u32 = 3;
    let Ok(elf) = std::fs::read(bin) else {
        return "unknown";
    };
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        let b: [u8; 8] = elf.get(o..o + 8)?.try_into().ok()?;
        Some(u64::from_le_bytes(b))
    };
    if elf.get(..5) != Some(b"\x7fELF\x02".as_slice()) {
        return "unknown"; // not a 64-bit ELF
    }
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return "unknown";
    };
    let interp = (0..usize::from(count)).any(|i| {
        let at = phoff as usize + i * usize::from(size);
        elf.get(at..at + 4)
            .is_some_and(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == PT_INTERP)
    });
    if interp { "dynamic" } else { "static" }
}

/// Sets this process's nice value (the server, started from here, inherits it).
pub fn set_nice(nice: i32) -> Result<(), String> {
    // SAFETY: setpriority on our own process.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
        return Err(format!(
            "cannot set nice {nice}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: as in `pin`; CPU_ISSET only reads the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Raises the soft descriptor limit to `want` (or the hard limit); the server,
/// started from here, inherits it.
pub fn raise_nofile(want: u64) -> Result<u64, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err("getrlimit(RLIMIT_NOFILE) failed".into());
    }
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    if lim.rlim_max < want {
        lim.rlim_max = want; // root may raise the hard limit too
    }
    lim.rlim_cur = want;
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!(
            "cannot raise the descriptor limit to {want}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(want)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU seconds (user + system) of a process, from /proc/PID/stat.
fn proc_cpu(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("malformed /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let ticks = |i: usize| -> Result<f64, String> {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| v as f64)
            .ok_or_else(|| format!("no field {i} in /proc/{pid}/stat"))
    };
    Ok((ticks(14)? + ticks(15)?) / clock_ticks())
}

/// CPU seconds the whole machine spent busy so far (all CPUs, from /proc/stat):
/// compared with the server's and our own, it shows how much other load ran.
pub fn machine_busy() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(cpu) = stat.lines().next() else {
        return 0.0;
    };
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    total.saturating_sub(idle) as f64 / clock_ticks()
}

/// CPU seconds of this load generator (all its threads).
pub fn self_cpu() -> f64 {
    // SAFETY: `ru` is a valid out-pointer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, initialised out-pointer for the whole call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU seconds (user + system) of the calling thread alone.
pub fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

impl Server {
    /// Starts `bin` on ephemeral loopback ports with the benchmark limits, pinned to
    /// `cpu` if given, and waits for its banner.
    pub fn start(bin: &Path, cpu: Option<usize>) -> Result<Server, String> {
        let mut cmd = Command::new(bin);
        cmd.args(["--http-port", "0", "--ws-port", "0", "--bind", "127.0.0.1"])
            .args(BENCH_FLAGS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(cpu) = cpu {
            // SAFETY: only an async-signal-safe syscall runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || pin(cpu));
            }
        }
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let out = child.stdout.take().ok_or("server stdout is not piped")?;
        let mut stdout = BufReader::new(out);
        let mut port = None;
        let mut banner = String::new();
        while port.is_none() {
            let mut line = String::new();
            let n = stdout
                .read_line(&mut line)
                .map_err(|e| format!("reading the server banner: {e}"))?;
            if n == 0 {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("server exited during start-up; banner: {banner:?}"));
            }
            if let Some(rest) = line.trim().strip_prefix("chat port ") {
                port = rest.parse::<u16>().ok();
            }
            banner.push_str(&line);
        }
        let banner_after = spawned.elapsed();
        let ws = SocketAddr::from(([127, 0, 0, 1], port.unwrap_or_default()));
        Ok(Server {
            child,
            _stdout: stdout,
            ws,
            spawned,
            banner_after,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds the server has used so far.
    pub fn cpu(&self) -> Result<f64, String> {
        proc_cpu(self.pid())
    }

    /// Seconds the server's threads have spent runnable but waiting for a CPU
    /// (run-queue delay, from /proc/PID/task/*/schedstat).
    pub fn run_queue_wait(&self) -> f64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return 0.0;
        };
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>() as f64
            / 1e9
    }

    /// Memory, threads and open descriptors now.
    pub fn footprint(&self) -> Result<Footprint, String> {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
        let field = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map_err(|e| format!("cannot list /proc/{pid}/fd: {e}"))?
            .count() as u64;
        Ok(Footprint {
            rss_kib: field("VmRSS"),
            hwm_kib: field("VmHWM"),
            anon_kib: field("RssAnon"),
            file_kib: field("RssFile"),
            threads: field("Threads"),
            fds,
        })
    }

    /// SIGTERM, then SIGKILL if it has not exited within two seconds.
    pub fn stop(mut self) -> Result<(), String> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(format!("waiting for the server: {e}")),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err("server did not exit within 2 s of SIGTERM".into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
