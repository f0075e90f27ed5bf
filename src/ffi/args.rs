//! Converting what crosses the boundary: C strings in and out, pointers checked once.

use std::ffi::{c_char, CStr, CString};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Status};

/// The value behind a pointer argument, or an early `return $none` when it is NULL:
/// the one NULL check of every call that takes a session (rustls-ffi's
/// `try_ref_from_ptr!`). Every exported function documents that its pointers are NULL
/// or valid, which is what makes the dereference sound.
macro_rules! try_ref {
    ($ptr:expr) => {
        // SAFETY: the exported function's contract: the pointer is NULL or points to a
        // live value of its type.
        match unsafe { $ptr.as_ref() } {
            Some(r) => r,
            None => return,
        }
    };
    ($ptr:expr, $none:expr) => {
        // SAFETY: the exported function's contract: the pointer is NULL or points to a
        // live value of its type.
        match unsafe { $ptr.as_ref() } {
            Some(r) => r,
            None => return $none,
        }
    };
}

/// Like [`try_ref!`], for a pointer the call writes through.
macro_rules! try_mut {
    ($ptr:expr, $none:expr) => {
        // SAFETY: the exported function's contract: the pointer is NULL or points to a
        // live, writable value of its type that nothing else uses during the call.
        match unsafe { $ptr.as_mut() } {
            Some(r) => r,
            None => return $none,
        }
    };
}

/// A C string of `s`, with any NUL byte replaced (Graph's text could hold one).
pub(super) fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copies a C string argument; `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(super) unsafe fn string_arg(p: *const c_char, name: &str) -> Result<Option<String>, Error> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and the caller vouches that it is NUL-terminated.
    match unsafe { CStr::from_ptr(p) }.to_str() {
        Ok(s) => Ok(Some(s.to_string())),
        Err(_) => Err(Error::new(
            Status::Argument,
            format!("{name} is not valid UTF-8; pass UTF-8 text"),
        )),
    }
}

/// Copies a required C string argument.
///
/// # Safety
/// As [`string_arg`].
pub(super) unsafe fn required_arg(p: *const c_char, name: &str) -> Result<String, Error> {
    // SAFETY: passed on from the caller, who vouches as `string_arg` needs.
    unsafe { string_arg(p, name) }?
        .ok_or_else(|| Error::new(Status::Argument, format!("{name} is NULL; it is required")))
}
