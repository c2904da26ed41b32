//! Reading a passphrase (or a whole invite link) without it ever being an argument:
//! from /dev/tty with echo off when stdin is a terminal, else the first line of stdin.
//!
//! Echo is restored on every way out, a signal included: a Ctrl-C at the prompt must
//! not leave the person's shell typing blind.

use std::fs::OpenOptions;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};
use zeroize::{Zeroize, Zeroizing};

/// Longest line taken as a secret; a passphrase is far shorter, a link a little longer.
const MAX_SECRET_BYTES: usize = 4096;

/// Why no secret could be read.
#[derive(Debug)]
pub enum SecretError {
    /// The terminal or stdin failed.
    Io(String),
    /// Something was read, but it cannot be a secret.
    Invalid(String),
}

/// Reads one secret line. `prompt` is shown on the terminal only, never on stdout.
pub fn read(prompt: &str) -> Result<Zeroizing<String>, SecretError> {
    let line = if io::stdin().is_terminal() {
        read_from_tty(prompt)
            .map_err(|e| SecretError::Io(format!("cannot read from the terminal: {e}")))?
    } else {
        read_first_stdin_line()?
    };
    let text = std::str::from_utf8(&line)
        .map_err(|_| SecretError::Invalid("the secret is not UTF-8 text".into()))?;
    if text.is_empty() {
        return Err(SecretError::Invalid("no secret was entered".into()));
    }
    Ok(Zeroizing::new(text.to_owned()))
}

/// Stdin's shared buffer is used so that the lines after this one stay there for the
/// thread that reads messages.
fn read_first_stdin_line() -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let mut line = Zeroizing::new(Vec::new());
    io::stdin()
        .lock()
        .take(MAX_SECRET_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| SecretError::Io(format!("cannot read stdin: {e}")))?;
    // The rest of an over-long line would otherwise be sent to the room as a message.
    if line.len() > MAX_SECRET_BYTES && line.last() != Some(&b'\n') {
        return Err(SecretError::Invalid(
            "the first line of stdin is too long to be a secret".into(),
        ));
    }
    strip_line_end(&mut line);
    Ok(line)
}

fn strip_line_end(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
}

// What the signal handler needs to put the terminal back: set only while echo is off.
static TTY_FD: AtomicI32 = AtomicI32::new(-1);
static SAVED: AtomicPtr<libc::termios> = AtomicPtr::new(ptr::null_mut());
const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

extern "C" fn restore_and_die(sig: libc::c_int) {
    let saved = SAVED.load(Ordering::SeqCst);
    let fd = TTY_FD.load(Ordering::SeqCst);
    // SAFETY: only async-signal-safe calls; `saved` points to a termios that outlives
    // the time the handler is installed (see `EchoOff::drop`).
    unsafe {
        if !saved.is_null() && fd >= 0 {
            libc::tcsetattr(fd, libc::TCSANOW, saved);
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Echo off on a terminal until dropped.
struct EchoOff {
    fd: libc::c_int,
    saved: Box<libc::termios>,
    old_actions: Vec<(libc::c_int, libc::sigaction)>,
}

impl EchoOff {
    fn new(fd: libc::c_int) -> io::Result<EchoOff> {
        // SAFETY: termios is plain data filled in by tcgetattr.
        let mut saved: Box<libc::termios> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: `saved` is a valid, exclusively borrowed termios for tcgetattr to fill.
        if unsafe { libc::tcgetattr(fd, &mut *saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut quiet = *saved;
        // ECHONL still shows the Enter, so the next output starts on a fresh line.
        quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
        quiet.c_lflag |= libc::ECHONL | libc::ICANON;
        TTY_FD.store(fd, Ordering::SeqCst);
        SAVED.store(&mut *saved, Ordering::SeqCst);
        let mut old_actions = Vec::new();
        for sig in SIGNALS {
            // SAFETY: sigaction with a zeroed struct, an empty mask and a plain handler.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = restore_and_die as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    old_actions.push((sig, old));
                }
            }
        }
        let guard = EchoOff {
            fd,
            saved,
            old_actions,
        };
        // SAFETY: fd is an open terminal and `quiet` a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
            return Err(io::Error::last_os_error()); // the guard's drop undoes the rest
        }
        Ok(guard)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new` and the previous signal actions.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &*self.saved);
            for (sig, old) in &self.old_actions {
                libc::sigaction(*sig, old, ptr::null_mut());
            }
        }
        SAVED.store(ptr::null_mut(), Ordering::SeqCst);
        TTY_FD.store(-1, Ordering::SeqCst);
    }
}

fn read_from_tty(prompt: &str) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    tty.write_all(prompt.as_bytes())?;
    tty.flush()?;
    let _echo = EchoOff::new(tty.as_raw_fd())?;
    // Byte by byte, unbuffered: no copy of the secret is left in a reader's buffer.
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    loop {
        match tty.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if line.len() < MAX_SECRET_BYTES => line.push(byte[0]),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    byte.zeroize();
    strip_line_end(&mut line);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_of_either_kind_are_not_part_of_the_secret() {
        for (raw, want) in [
            (&b"pass word\r\n"[..], &b"pass word"[..]),
            (b"pass word\n", b"pass word"),
            (b"pass word", b"pass word"),
        ] {
            let mut line = raw.to_vec();
            strip_line_end(&mut line);
            assert_eq!(line, want);
        }
    }
}
