//! `fbup_session`: the handle a caller holds, the Rust session inside it, its last
//! error, and the calls that read or release it.

use std::ffi::{c_char, CStr, CString};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::args::{cstring, lock};
use super::error::{fbup_error, LastError};
use super::panic::{boundary, catch};
use super::status::{fbup_status, FBUP_E_ARGUMENT, FBUP_E_INTERNAL, FBUP_E_STATE, FBUP_OK};
use crate::error::{Error, Status};
use crate::session::{CancelHandle, Session};

/// An upload session (opaque). Made by `fbup_create_session` or `fbup_resume_session`,
/// released by `fbup_free`.
pub struct fbup_session {
    pub(super) id: Option<CString>,
    pub(super) cancel: Option<CancelHandle>,
    /// The transfer figures, readable while an upload runs.
    pub(super) stats: Option<Arc<crate::info::Stats>>,
    pub(super) handle: OnceLock<CString>,
    pub(super) core: Mutex<Option<Session>>,
    pub(super) last_error: Mutex<LastError>,
    /// Why the session was never made, kept for every later call to say.
    pub(super) creation_error: Option<String>,
}

impl fbup_session {
    pub(super) fn new(session: Result<Session, Error>) -> fbup_session {
        let (id, cancel, stats, core, error, creation_error) = match session {
            Ok(s) => (
                Some(cstring(s.id())),
                Some(s.cancel_handle()),
                Some(s.stats()),
                Some(s),
                LastError::ok(),
                None,
            ),
            Err(e) => (None, None, None, None, LastError::from(&e), Some(e.message)),
        };
        fbup_session {
            id,
            cancel,
            stats,
            handle: OnceLock::new(),
            core: Mutex::new(core),
            last_error: Mutex::new(error),
            creation_error,
        }
    }

    pub(super) fn record(&self, result: Result<(), Error>) -> fbup_status {
        let (status, error) = match result {
            Ok(()) => (FBUP_OK, LastError::ok()),
            Err(e) => (e.status as fbup_status, LastError::from(&e)),
        };
        *lock(&self.last_error) = error;
        status
    }

    /// Runs `f` on the Rust session, with panics and busy or empty sessions turned
    /// into statuses recorded on the handle.
    pub(super) fn run(&self, f: impl FnOnce(&mut Session) -> Result<(), Error>) -> fbup_status {
        let result = match self.core.try_lock() {
            Err(std::sync::TryLockError::WouldBlock) => {
                // Do not touch last_error: the running call owns it.
                return FBUP_E_STATE;
            }
            Err(std::sync::TryLockError::Poisoned(p)) => run_on(p.into_inner(), self, f),
            Ok(guard) => run_on(guard, self, f),
        };
        self.record(result)
    }
}

pub(super) fn run_on(
    mut guard: MutexGuard<'_, Option<Session>>,
    handle: &fbup_session,
    f: impl FnOnce(&mut Session) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some(session) = guard.as_mut() else {
        let why = handle.creation_error.as_deref().unwrap_or("no session");
        return Err(Error::new(
            Status::State,
            format!("this session was never created ({why}); free it and create a new one"),
        ));
    };
    catch(|| f(session)).unwrap_or_else(|p| {
        Err(Error::new(
            Status::Internal,
            format!("internal error in fbup (a bug, please report it): {p}"),
        ))
    })
}

/// Makes a session and hands it to the caller through `out`, as SQLite's
/// `sqlite3_open` does: even a failed one, so that `fbup_errmsg` can explain. A panic
/// while making it becomes `FBUP_E_INTERNAL`, recorded on the handed-out session.
pub(super) fn make_session(
    out: &mut *mut fbup_session,
    make: impl FnOnce() -> Result<Session, Error>,
) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        let result = catch(make).unwrap_or_else(|p| {
            Err(Error::new(
                Status::Internal,
                format!("internal error in fbup (a bug, please report it): {p}"),
            ))
        });
        let status = match &result {
            Ok(_) => FBUP_OK,
            Err(e) => e.status as fbup_status,
        };
        *out = Box::into_raw(Box::new(fbup_session::new(result)));
        status
    })
}

/// Cancels the running `fbup_upload` or `fbup_get_offset` on `s`, which then returns
/// `FBUP_E_CANCELLED` within a second, even while the network is stalled: its sockets
/// are shut down at once (a TCP connect still in progress is the exception: it ends
/// within `connect_timeout_ms`, and the call returns then). Safe to call from any
/// thread at any time while `s` is alive (but not after `fbup_free`). A cancel made
/// while no call runs makes the next `fbup_upload` or `fbup_get_offset` return
/// `FBUP_E_CANCELLED` at once. A cancel ends with the call it stopped: the session
/// stays resumable, and the call after it goes on as usual. Does nothing when `s` is
/// NULL.
///
/// # Safety
/// `s` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn fbup_cancel(s: *mut fbup_session) {
    boundary((), || {
        let s = try_ref!(s);
        if let Some(cancel) = &s.cancel {
            cancel.cancel();
        }
    })
}

/// The session id (`?sig=` part included): persist it to resume with
/// `fbup_resume_session`, even from another process. Owned by the session, valid
/// until `fbup_free`. NULL when `s` is NULL or its creation failed.
///
/// # Safety
/// `s` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn fbup_session_id(s: *const fbup_session) -> *const c_char {
    boundary(std::ptr::null(), || {
        crate::hook::panic_point("ffi");
        let s = try_ref!(s, std::ptr::null());
        s.id.as_ref().map_or(std::ptr::null(), |id| id.as_ptr())
    })
}

/// The file handle Graph returned (`h`), byte for byte; for video it may hold several
/// handles joined by `\n`. Owned by the session, valid until `fbup_free`. NULL until
/// `fbup_upload` has returned `FBUP_OK`, and when `s` is NULL.
///
/// # Safety
/// `s` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn fbup_file_handle(s: *const fbup_session) -> *const c_char {
    boundary(std::ptr::null(), || {
        let s = try_ref!(s, std::ptr::null());
        s.handle.get().map_or(std::ptr::null(), |h| h.as_ptr())
    })
}

/// The message of the last call on `s`: what happened and what to do next; "" after
/// a success. Never holds the access token. Owned by the session, valid until the next
/// call on it. Never NULL.
///
/// # Safety
/// `s` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn fbup_errmsg(s: *const fbup_session) -> *const c_char {
    const NULL_SESSION: &CStr =
        c"the session is NULL: the call that should have made it was given a NULL out pointer";
    boundary(c"internal error in fbup".as_ptr(), || {
        let s = try_ref!(s, NULL_SESSION.as_ptr());
        lock(&s.last_error).message.as_ptr()
    })
}

/// Fills `*out` with the details of the last call on `s` (status `FBUP_OK` after a
/// success). Its strings are owned by the session, valid until the next call on it.
/// Returns `FBUP_E_ARGUMENT` (and writes nothing) when `s` or `out` is NULL.
///
/// # Safety
/// `s` is NULL or a live session; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fbup_error_info(
    s: *const fbup_session,
    out: *mut fbup_error,
) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        let s = try_ref!(s, FBUP_E_ARGUMENT);
        if out.is_null() {
            return FBUP_E_ARGUMENT;
        }
        let e = lock(&s.last_error);
        let info = fbup_error {
            status: e.status as fbup_status,
            http_status: e.http_status,
            graph_code: e.graph_code,
            graph_subcode: e.graph_subcode,
            graph_type: e.graph_type.as_ptr(),
            fbtrace_id: e.fbtrace_id.as_ptr(),
            message: e.message.as_ptr(),
        };
        // SAFETY: non-NULL (checked above), and the caller vouches it is writable.
        unsafe { std::ptr::write(out, info) };
        FBUP_OK
    })
}

/// Releases a session and everything it owns (its strings too). Does nothing when `s`
/// is NULL. No upload may be running on it.
///
/// # Safety
/// `s` is NULL or a session not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fbup_free(s: *mut fbup_session) {
    boundary((), || {
        if !s.is_null() {
            // SAFETY: made by Box::into_raw in make_session, and the caller vouches it
            // was not freed before.
            drop(unsafe { Box::from_raw(s) });
        }
    })
}
