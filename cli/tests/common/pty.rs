//! The command on a pseudo-terminal, as a person at a terminal runs it.

use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `fbup` with its stderr on a pseudo-terminal of `cols` columns, as a person at
/// a terminal sees it; returns the exit code and the screen's text with the escape
/// sequences removed (each redraw on a line of its own).
pub fn run_in_terminal(cmd: Command, cols: u16) -> (Option<i32>, String) {
    let (code, raw) = terminal(cmd, cols, None);
    (code, screen_of(&raw))
}

/// Runs `cmd` on a pseudo-terminal of `cols` columns that is its controlling terminal,
/// typing Ctrl-C after `ctrl_c` when given (the terminal then echoes `^C` and signals
/// the command, as a person's keyboard does); the exit code and every byte it wrote to
/// stderr. Its stdout goes nowhere.
pub fn terminal(cmd: Command, cols: u16, ctrl_c: Option<Duration>) -> (Option<i32>, String) {
    let (code, raw, _) = terminal_with_stdout(cmd, cols, ctrl_c, Stdio::null());
    (code, raw)
}

/// [`terminal`] with the command's stdout given: the exit code, every byte written
/// to stderr, and what stdout's pipe carried when it is `Stdio::piped()`.
pub fn terminal_with_stdout(
    mut cmd: Command,
    cols: u16,
    ctrl_c: Option<Duration>,
    stdout: Stdio,
) -> (Option<i32>, String, Vec<u8>) {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors; the name may be NULL, the terminal
    // settings too, and the window size is read only.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors were just opened and are owned here alone.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(slave.try_clone().unwrap()))
        .env("TERM", "xterm");
    // SAFETY: between fork and exec only async-signal-safe calls: a new session, whose
    // controlling terminal becomes the pty on stderr.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(2, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let piped = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = out.read_to_end(&mut all);
            all
        })
    });
    drop(slave);
    drop(cmd);
    let mut keys = std::fs::File::from(master.try_clone().unwrap());
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        // EIO once the child's side is closed ends the screen.
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        raw
    });
    if let Some(after) = ctrl_c {
        std::thread::sleep(after);
        keys.write_all(b"\x03").unwrap();
    }
    let status = child.wait().unwrap();
    drop(keys);
    let raw = reader.join().unwrap();
    let out = piped.map_or_else(Vec::new, |t| t.join().unwrap());
    (
        status.code(),
        String::from_utf8_lossy(&raw).into_owned(),
        out,
    )
}

/// A terminal's bytes with the escape sequences removed, each redraw on a line.
pub fn screen_of(text: &str) -> String {
    let mut screen = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-letter
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
                screen.push('\n');
            }
        } else if c == '\r' {
            screen.push('\n');
        } else {
            screen.push(c);
        }
    }
    screen
}

/// The rates a screen shows (`4.51 MiB/s`), in bytes per second.
pub fn rates_shown(screen: &str) -> Vec<f64> {
    let words: Vec<&str> = screen.split_whitespace().collect();
    let mut rates = Vec::new();
    for pair in words.windows(2) {
        let scale = match pair[1] {
            "B/s" => 1.0,
            "KiB/s" => 1024.0,
            "MiB/s" => 1024.0 * 1024.0,
            "GiB/s" => 1024.0 * 1024.0 * 1024.0,
            _ => continue,
        };
        if let Ok(n) = pair[0].trim_start_matches('(').parse::<f64>() {
            rates.push(n * scale);
        }
    }
    rates
}
