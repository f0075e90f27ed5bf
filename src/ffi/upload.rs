//! The calls that talk to Graph: create or resume a session (from a file or a read
//! callback), upload, and ask the offset.

use std::ffi::{c_char, c_void};

use super::args::{cstring, required_arg};
use super::callbacks::{fbup_progress_fn, fbup_read_fn, CReader};
use super::config::{fbup_config, read_config, Read};
use super::panic::boundary;
use super::session::{fbup_session, make_session};
use super::status::{fbup_status, FBUP_E_ARGUMENT, FBUP_E_INTERNAL};
use crate::error::{Error, Status};
use crate::plan::Plan;
use crate::session::{CancelHandle, Session, Source};

/// Step 1: checks the file (it must exist, be a regular readable file of one byte or
/// more, of a documented type) and the config, then asks Graph for a new upload
/// session. Transient failures are retried.
///
/// `*out` receives a new session even when the call fails (unless `out` is NULL or
/// memory runs out), so that `fbup_errmsg(*out)` can explain; the caller always
/// releases it with `fbup_free`. A session whose creation failed can only report its
/// error.
///
/// # Safety
/// `cfg` as for `fbup_config`; `file_path` NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fbup_create_session(
    cfg: *const fbup_config,
    file_path: *const c_char,
    out: *mut *mut fbup_session,
) -> fbup_status {
    // Nowhere to hand the session to: refuse before any request reaches Graph.
    let out = try_mut!(out, FBUP_E_ARGUMENT);
    make_session(out, || {
        // SAFETY: the caller vouches that cfg is NULL or a valid config.
        let config = unsafe { read_config(cfg) }?;
        // SAFETY: the caller vouches that file_path is NULL or NUL-terminated.
        let path = unsafe { required_arg(file_path, "file_path") }?;
        open(&config, Source::File(path.into()), None)
    })
}

/// Re-opens a session created earlier, perhaps by another process that saved
/// `fbup_session_id`, for the same file, and asks Graph how many bytes it holds
/// (step 3). `session_id` is used verbatim (its `?sig=` part included).
///
/// `*out` follows the rule of `fbup_create_session`: it receives a session even on
/// failure, to be released with `fbup_free`.
///
/// # Safety
/// As `fbup_create_session`; `session_id` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fbup_resume_session(
    cfg: *const fbup_config,
    file_path: *const c_char,
    session_id: *const c_char,
    out: *mut *mut fbup_session,
) -> fbup_status {
    let out = try_mut!(out, FBUP_E_ARGUMENT);
    make_session(out, || {
        // SAFETY: the caller vouches that cfg is NULL or a valid config.
        let config = unsafe { read_config(cfg) }?;
        // SAFETY: the caller vouches that file_path is NULL or NUL-terminated.
        let path = unsafe { required_arg(file_path, "file_path") }?;
        // SAFETY: the caller vouches that session_id is NULL or NUL-terminated.
        let id = unsafe { required_arg(session_id, "session_id") }?;
        open(&config, Source::File(path.into()), Some(&id))
    })
}

/// Like `fbup_create_session` for bytes that are not a file: `length` bytes read
/// through `read_at` with `user_data`. `cfg->file_name` and `cfg->file_type` are
/// required; `cfg->state_dir` does not apply. `read_at` is called again whenever an
/// upload resumes, from any offset, until `fbup_free`: `user_data` must stay valid
/// until then. `*out` follows the rule of `fbup_create_session`.
///
/// # Safety
/// As `fbup_create_session`; `read_at`, if set, is safe to call with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn fbup_create_session_reader(
    cfg: *const fbup_config,
    length: u64,
    read_at: fbup_read_fn,
    user_data: *mut c_void,
    out: *mut *mut fbup_session,
) -> fbup_status {
    let out = try_mut!(out, FBUP_E_ARGUMENT);
    make_session(out, || {
        // SAFETY: the caller vouches that cfg is NULL or a valid config.
        let config = unsafe { read_config(cfg) }?;
        let reader = reader_arg(read_at, user_data)?;
        open(&config, Source::Reader { length, reader }, None)
    })
}

/// Like `fbup_resume_session` for bytes read through `read_at` (see
/// `fbup_create_session_reader`).
///
/// # Safety
/// As `fbup_create_session_reader`; `session_id` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fbup_resume_session_reader(
    cfg: *const fbup_config,
    length: u64,
    read_at: fbup_read_fn,
    user_data: *mut c_void,
    session_id: *const c_char,
    out: *mut *mut fbup_session,
) -> fbup_status {
    let out = try_mut!(out, FBUP_E_ARGUMENT);
    make_session(out, || {
        // SAFETY: the caller vouches that cfg is NULL or a valid config.
        let config = unsafe { read_config(cfg) }?;
        let reader = reader_arg(read_at, user_data)?;
        // SAFETY: the caller vouches that session_id is NULL or NUL-terminated.
        let id = unsafe { required_arg(session_id, "session_id") }?;
        open(&config, Source::Reader { length, reader }, Some(&id))
    })
}

/// Resolves the config and opens the session (see `Session::open`), cancellable by the
/// config's canceller, which the session leaves behind.
fn open(config: &Read, source: Source, resume_id: Option<&str>) -> Result<Session, Error> {
    let plan = Plan::resolve(&config.config)?;
    match &config.cancel {
        None => Session::open(&plan, source, resume_id, &CancelHandle::new()),
        Some(cancel) => {
            let mut s = Session::open(&plan, source, resume_id, cancel);
            if let Ok(s) = &mut s {
                s.leave_canceller(cancel);
            }
            s
        }
    }
}

pub(super) fn reader_arg(
    read_at: fbup_read_fn,
    user_data: *mut c_void,
) -> Result<Box<dyn crate::ReadAt>, Error> {
    let f =
        read_at.ok_or_else(|| Error::new(Status::Argument, "read_at is NULL; it is required"))?;
    Ok(Box::new(CReader { f, user_data }))
}

/// Step 2: uploads the file from Graph's offset to the end. When an attempt fails on
/// the network, a timeout, a 5xx or a transient Graph error, it asks Graph for its
/// offset, waits (jittered exponential backoff) and goes on from there; it gives up
/// after `max_attempts` attempts in a row without progress. On `FBUP_OK`,
/// `fbup_file_handle` returns the handle.
///
/// `on_progress` may be NULL; `user_data` is passed back to it untouched. Blocks the
/// calling thread until done, failed or cancelled. Returns `FBUP_E_STATE` when the
/// upload is already complete, or when another call on this session is running.
///
/// # Safety
/// `s` is NULL or a live session; `on_progress`, if set, is safe to call with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn fbup_upload(
    s: *mut fbup_session,
    on_progress: fbup_progress_fn,
    user_data: *mut c_void,
) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        crate::hook::panic_point("ffi");
        let s = try_ref!(s, FBUP_E_ARGUMENT);
        s.run(|session| {
            let mut progress = |done: u64, total: u64| match on_progress {
                // SAFETY: the caller vouches for the callback and its user_data.
                Some(cb) => unsafe { cb(user_data, done, total) == 0 },
                None => true,
            };
            let handle = session.upload(&mut progress)?;
            let _ = s.handle.set(cstring(handle));
            Ok(())
        })
    })
}

/// Step 3: asks Graph how many bytes of the file it holds. `*out_offset` is written
/// only on success.
///
/// # Safety
/// `s` is NULL or a live session; `out_offset` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fbup_get_offset(
    s: *mut fbup_session,
    out_offset: *mut u64,
) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        let s = try_ref!(s, FBUP_E_ARGUMENT);
        if out_offset.is_null() {
            return s.record(Err(Error::new(Status::Argument, "out_offset is NULL")));
        }
        s.run(|session| {
            let off = session.offset()?;
            // SAFETY: checked non-NULL above; the caller vouches it is writable.
            unsafe { *out_offset = off };
            Ok(())
        })
    })
}
