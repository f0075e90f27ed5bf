//! What the command writes: results on stdout, where a write that fails (a closed
//! pipe, a full disk) is an error the command reports instead of a panic; words on
//! stderr, never a panic either; and names from files or the journal escaped, so that
//! a control character in them never moves a terminal's cursor or splits a line a
//! script reads.

use std::io::{self, Write};

use crate::Failure;

/// The exit code when stdout cannot be written (closed, a broken pipe, a full disk).
pub(crate) const OUTPUT_FAILED: u8 = 3;

/// What exit code 3 means, for the help and the man pages.
pub(crate) const OUTPUT_FAILED_MEANING: &str =
    "standard output cannot be written (closed, a broken pipe, a full disk); uploads in\n      \
     flight were cancelled and stay resumable";

/// Writes one line on stdout, flushed at once, so that a failed write is seen now.
pub(crate) fn line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// [`line`], for the commands that print one answer: a failure is the command's.
pub(crate) fn result(text: &str) -> Result<(), Failure> {
    line(text).map_err(|e| output_failure(&e))
}

/// The failure of a command whose stdout cannot be written.
pub(crate) fn output_failure(e: &io::Error) -> Failure {
    Failure {
        code: OUTPUT_FAILED,
        message: format!("cannot write to standard output: {e}"),
    }
}

/// Writes one line on stderr; a stderr that cannot be written is let be.
pub(crate) fn err(text: &str) {
    let mut e = io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.write_all(b"\n");
}

/// `s` with every control character and backslash written as an escape (`\t`, `\n`,
/// `\r`, `\\`, `\x1b`, `\u{9b}`): a file name or a journal string as one line, the
/// way handles are shown (`\n` between them), and undone as easily.
pub(crate) fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// A message on its lines: every control character but the newlines between lines
/// escaped, so that a name quoted in it cannot move the cursor.
pub(crate) fn message(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\\' => out.push(c),
            c => push_escaped(&mut out, c),
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (0x80..0xa0).contains(&(c as u32)) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// True when the command was started with stdout closed (`>&-`): the handles would
/// be lost, an error. Rust's runtime gives a closed standard descriptor `/dev/null`,
/// opened read-write, before `main` (so that no file opened later takes its place); a
/// shell's `>/dev/null`, or a parent's `Stdio::null()`, opens it write-only. So a
/// stdout that is `/dev/null` opened read-write was closed when the command started.
pub(crate) fn stdout_was_closed() -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: F_GETFL on a descriptor number only reads its flags.
    let flags = unsafe { libc::fcntl(1, libc::F_GETFL) };
    if flags == -1 {
        return true;
    }
    if flags & libc::O_ACCMODE != libc::O_RDWR {
        return false;
    }
    // SAFETY: a zeroed stat is a valid value for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat of descriptor 1 into a stat we own.
    if unsafe { libc::fstat(1, &mut st) } != 0 {
        return true;
    }
    let null = std::fs::metadata("/dev/null");
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && null.is_ok_and(|n| n.rdev() == st.st_rdev)
}

/// True when stdout is a pipe or a socket: another process reads it and may copy it to
/// the terminal the bars are drawn on (`fbup upload ... | tee handles.txt`), where its
/// lines would land among the bars' redraws.
pub(crate) fn stdout_is_a_pipe() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_line_and_move_no_cursor() {
        assert_eq!(escaped("a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
        assert_eq!(escaped("x\x1b[2Jy"), "x\\x1b[2Jy");
        assert_eq!(escaped("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escaped("vidéo.mp4"), "vidéo.mp4");
        assert_eq!(message("one\ntwo\x1b[A"), "one\ntwo\\x1b[A");
    }
}
