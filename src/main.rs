//! Start-up: parse flags, start the server, print the banner once, and wait for
//! SIGINT/SIGTERM to purge every room and exit.

#[global_allocator]
static GLOBAL: sanctuary::wipe::Wiping = sanctuary::wipe::Wiping;

use clap::Parser;
use sanctuary::cli::{Cli, Command};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The terminal client handles its own signals; it must not inherit the server's.
    if let Some(Command::Join(args)) = cli.command {
        return sanctuary::term::run(args);
    }
    // Blocked before any thread starts, so every thread inherits the mask and only
    // the wait below takes them.
    let signals = sanctuary::signals::block(&[libc::SIGINT, libc::SIGTERM]);
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
    signals.wait();
    running.shutdown(Duration::from_millis(500));
    // Let the close frames leave before the process (and every socket) ends.
    std::thread::sleep(Duration::from_millis(100));
    ExitCode::SUCCESS
}
