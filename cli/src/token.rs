//! The access token, from `FBUP_ACCESS_TOKEN` or a file the user names: read with a
//! bound (a token is a few hundred bytes; `/dev/zero` is refused, not read forever),
//! and a FIFO or pipe (`--token-file <(pass show graph)`) waited for a bounded time,
//! saying so, and ended by Ctrl-C.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use fbup::Status;

use crate::Failure;

/// The most a token file may hold: Graph's tokens are a few hundred bytes.
pub(crate) const MAX_TOKEN: usize = 16 * 1024;

/// How long a FIFO or pipe is waited for in all.
const WAIT: Duration = Duration::from_secs(30);

/// When the wait is told on stderr.
const TELL_AFTER: Duration = Duration::from_secs(1);

/// The access token: from `--token-file`, else `FBUP_ACCESS_TOKEN` ("" when neither).
pub(crate) fn read_token(token_file: Option<&Path>) -> Result<String, Failure> {
    let Some(path) = token_file else {
        return match std::env::var_os("FBUP_ACCESS_TOKEN") {
            None => Ok(String::new()),
            Some(t) => t.into_string().map_err(|_| {
                argument("FBUP_ACCESS_TOKEN is not ASCII text; set it to the bare token".into())
            }),
        };
    };
    let shown = crate::out::escaped(&path.display().to_string());
    let bytes = read_bounded(path).map_err(|e| match e {
        Bounded::Io(e) => argument(format!("cannot read the token file '{shown}': {e}")),
        Bounded::TooLong => argument(format!(
            "the token file '{shown}' holds more than {MAX_TOKEN} bytes; a token is a few \
             hundred: put only the token in it"
        )),
        Bounded::NoWriter => argument(format!(
            "nothing was written to the token file '{shown}' (a FIFO or pipe) within {} s",
            WAIT.as_secs()
        )),
        Bounded::Interrupted => Failure::from_status(
            Status::Cancelled,
            "cancelled while waiting for the token file",
        ),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        argument(format!(
            "the token file '{shown}' is not ASCII text; put the bare token in it"
        ))
    })?;
    Ok(text.trim().to_string())
}

fn argument(message: String) -> Failure {
    Failure::from_status(Status::Argument, message)
}

/// Why a token file could not be read.
enum Bounded {
    Io(io::Error),
    TooLong,
    NoWriter,
    Interrupted,
}

/// The file's bytes, at most [`MAX_TOKEN`]. A regular file is read at once; anything
/// else (a FIFO, a pipe, a device) is read as its bytes come, for [`WAIT`] in all.
fn read_bounded(path: &Path) -> Result<Vec<u8>, Bounded> {
    // Opened without blocking: a FIFO with no writer yet would block the open itself.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(Bounded::Io)?;
    let kind = file.metadata().map_err(Bounded::Io)?.file_type();
    let mut out = Vec::new();
    if kind.is_file() {
        (&file)
            .take(MAX_TOKEN as u64 + 1)
            .read_to_end(&mut out)
            .map_err(Bounded::Io)?;
        return if out.len() > MAX_TOKEN {
            Err(Bounded::TooLong)
        } else {
            Ok(out)
        };
    }
    if kind.is_dir() {
        return Err(Bounded::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a folder",
        )));
    }
    read_stream(&file, path, kind.is_fifo(), &mut out)?;
    Ok(out)
}

/// Reads a FIFO, a pipe or a device as its bytes come, until its end, [`MAX_TOKEN`]
/// bytes, [`WAIT`] or a signal.
fn read_stream(file: &File, path: &Path, fifo: bool, out: &mut Vec<u8>) -> Result<(), Bounded> {
    let start = Instant::now();
    let mut told = false;
    let mut buf = [0u8; 4096];
    loop {
        if crate::signals::interrupted() {
            return Err(Bounded::Interrupted);
        }
        let waited = start.elapsed();
        if waited >= WAIT {
            return Err(Bounded::NoWriter);
        }
        if !told && waited >= TELL_AFTER {
            told = true;
            crate::out::err(&format!(
                "fbup: waiting for the token to be written to '{}' (up to {} s; Ctrl-C stops)",
                crate::out::escaped(&path.display().to_string()),
                WAIT.as_secs()
            ));
        }
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // A slice at a time, so that a signal and the whole bound are seen.
        let slice = (WAIT - waited).min(Duration::from_millis(200));
        // SAFETY: one valid pollfd, for a descriptor this function's caller owns.
        let ready = unsafe { libc::poll(&mut pfd, 1, slice.as_millis() as libc::c_int) };
        if ready <= 0 {
            continue;
        }
        match (&*file).read(&mut buf) {
            // A FIFO whose writer has not come yet reads as its end: wait for one.
            Ok(0) if fifo && out.is_empty() && pfd.revents & libc::POLLHUP == 0 => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(0) => return Ok(()),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > MAX_TOKEN {
                    return Err(Bounded::TooLong);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Bounded::Io(e)),
        }
    }
}
