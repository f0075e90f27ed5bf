//! The callbacks a caller hands over (token, log, progress, read) and the wrappers
//! that carry them to the upload thread.

use std::ffi::{c_char, c_void, CString};

/// Receives one trace line: `level` is 1 (error), 2 (warning), 3 (info) or 4 (debug);
/// `line` is NUL-terminated UTF-8 without a newline, valid only during the call.
/// Called synchronously on the thread that called the fbup function, never after it
/// returns; it should return quickly. Must not unwind or `longjmp` out.
pub type fbup_log_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: i32, line: *const c_char)>;

/// Asked for a new access token: write it, NUL-terminated, into `buf` (at most
/// `buf_len` bytes, the NUL included) and return 0; return non-zero when there is none
/// (the upload then stops with `FBUP_E_AUTH`). Called synchronously on the thread that
/// called `fbup_upload`. fbup copies the token and clears `buf` afterwards. Must not
/// unwind or `longjmp` out.
pub type fbup_token_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, buf: *mut c_char, buf_len: usize) -> i32>;

/// Progress of `fbup_upload`: `bytes_done` never decreases and never exceeds
/// `bytes_total`, and the last call has `bytes_done == bytes_total`, made once Graph
/// holds every byte. Called a few times a second at most, synchronously on the thread
/// that called `fbup_upload`, never after it returns. Return 0 to go on, anything else
/// to cancel (the upload then returns `FBUP_E_CANCELLED`, unless Graph already had
/// every byte, in which case it returns `FBUP_OK`). The callback must not
/// unwind (C++ exceptions) or `longjmp` out, and must not call `fbup_upload` or
/// `fbup_get_offset` on the same session.
pub type fbup_progress_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, bytes_done: u64, bytes_total: u64) -> i32>;

/// Reads the bytes of an upload that is not a file (memory, a custom store, a Go
/// `io.ReaderAt`): fill `buf` with up to `len` bytes from `offset` and return how many
/// were written; 0 only at the end; a negative value for an error (the upload then
/// stops with `FBUP_E_FILE`). A resume reads again from any offset, so nothing needs
/// buffering. Called synchronously on the thread that runs `fbup_upload` (or the create
/// and resume calls), never after they return. Must not unwind or `longjmp` out.
pub type fbup_read_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, offset: u64, buf: *mut u8, len: usize) -> i64,
>;

/// The caller's log callback and its user data.
pub(super) struct CLogFn {
    pub(super) f: unsafe extern "C" fn(*mut c_void, i32, *const c_char),
    pub(super) user_data: *mut c_void,
}

// SAFETY: fbup calls the callback only from the thread of the fbup call that makes the
// line, as the header documents; the pointer itself is just carried.
unsafe impl Send for CLogFn {}
// SAFETY: as for Send: the log callback is never called from two threads at once.
unsafe impl Sync for CLogFn {}

impl CLogFn {
    pub(super) fn call(&self, level: crate::Level, line: &str) {
        // The trace replaced any NUL already; a line that still has one is dropped.
        if let Ok(line) = CString::new(line) {
            // SAFETY: the caller vouches for the callback; the line lives for the call.
            unsafe { (self.f)(self.user_data, level as i32, line.as_ptr()) }
        }
    }
}

/// The caller's token callback and its user data, callable from the upload thread.
pub(super) struct CTokenFn {
    pub(super) f: unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> i32,
    pub(super) user_data: *mut c_void,
}

// SAFETY: fbup calls the callback only from the thread running fbup_upload, as the
// header documents; the pointer itself is just carried.
unsafe impl Send for CTokenFn {}
// SAFETY: as for Send: the token callback is never called from two threads at once.
unsafe impl Sync for CTokenFn {}

/// The caller's read callback and its user data.
pub(super) struct CReader {
    pub(super) f: unsafe extern "C" fn(*mut c_void, u64, *mut u8, usize) -> i64,
    pub(super) user_data: *mut c_void,
}

// SAFETY: fbup calls the callback only from the thread of the call that runs the
// upload, as the header documents; the pointer itself is just carried.
unsafe impl Send for CReader {}
// SAFETY: as for Send: the read callback is never called from two threads at once.
unsafe impl Sync for CReader {}

impl crate::ReadAt for CReader {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: the caller vouches for the callback; buf is writable for its length.
        let n = unsafe { (self.f)(self.user_data, offset, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return Err(std::io::Error::other(format!(
                "the read callback returned {n} at offset {offset}"
            )));
        }
        Ok((n as usize).min(buf.len()))
    }
}

/// The longest token a callback may write, NUL included.
pub(super) const TOKEN_BUF: usize = 16 * 1024;

impl CTokenFn {
    pub(super) fn call(&self) -> Option<String> {
        let mut buf = vec![0u8; TOKEN_BUF];
        // SAFETY: the caller vouches for the callback; buf is writable for its length.
        let rc = unsafe { (self.f)(self.user_data, buf.as_mut_ptr().cast(), buf.len()) };
        let token = (rc == 0)
            .then(|| buf.iter().position(|b| *b == 0))
            .flatten()
            .and_then(|end| String::from_utf8(buf[..end].to_vec()).ok());
        buf.iter_mut().for_each(|b| *b = 0);
        token
    }
}
