//! Start-up: parse flags, start the server, print the banner once, and wait for
//! SIGINT/SIGTERM to purge every room and exit.

#[global_allocator]
static GLOBAL: sanctuary::wipe::Wiping = sanctuary::wipe::Wiping;

use clap::Parser;
use sanctuary::cli::{Cli, Command};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Blocks SIGINT and SIGTERM in this thread (and every thread it starts), so that
/// `wait_for_signal` can take them synchronously instead of in a handler.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; the calls only read and write `set`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is an initialised signal set and `sig` a valid out-pointer.
    while unsafe { libc::sigwait(set, &mut sig) } != 0 {}
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The terminal client handles its own signals; it must not inherit the server's.
    if let Some(Command::Join(args)) = cli.command {
        return sanctuary::term::run(args);
    }
    let signals = block_signals();
    let running = match sanctuary::start(&cli.serve) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sanctuary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(running.banner().as_bytes());
    let _ = stdout.flush();
    wait_for_signal(&signals);
    running.shutdown(Duration::from_millis(500));
    // Let the close frames leave before the process (and every socket) ends.
    std::thread::sleep(Duration::from_millis(100));
    ExitCode::SUCCESS
}
