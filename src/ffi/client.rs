//! `fbup_client`: what sessions share (the resolved config and the pool of connections
//! to Graph), and the calls that make sessions from it.

use std::ffi::{c_char, c_void, CString};

use super::args::{cstring, required_arg, string_arg};
use super::callbacks::fbup_read_fn;
use super::cancel::fbup_canceller;
use super::config::{fbup_config, read_config};
use super::panic::{boundary, catch};
use super::session::{fbup_session, make_session};
use super::status::{fbup_status, FBUP_E_ARGUMENT, FBUP_E_INTERNAL, FBUP_OK};
use super::upload::reader_arg;
use crate::error::{Error, Status};
use crate::session::{CancelHandle, Client, Session, Source};

/// A client (opaque): the config resolved once and a pool of connections to Graph that
/// every session made from it shares, so that many files cost round trips, not TLS
/// handshakes. Made by `fbup_client_new`, released by `fbup_client_free`.
///
/// Thread safety: the `fbup_client_*` calls may run on one client from any number of
/// threads at once; each session they make is used by one thread at a time, as any
/// session. A token refreshed by one session is the token the others send next. A cut,
/// a stall or a cancel of one session never breaks another's connection.
pub struct fbup_client {
    core: Option<Client>,
    /// Why the client could not be made: what `fbup_client_errmsg` says.
    error: CString,
}

/// Checks `cfg` and makes a client of it into `*out` (no request is made). Like
/// `fbup_create_session`, `*out` receives a client even when the call fails (unless
/// `out` is NULL), so that `fbup_client_errmsg(*out)` can explain; release it with
/// `fbup_client_free`. `cfg->file_name` and `cfg->file_type`, when set, apply to every
/// file; `cfg->canceller` is not used here (each create takes its own).
///
/// # Safety
/// `cfg` as for `fbup_create_session`; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fbup_client_new(
    cfg: *const fbup_config,
    out: *mut *mut fbup_client,
) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        let out = try_mut!(out, FBUP_E_ARGUMENT);
        let made = catch(|| {
            // SAFETY: the caller vouches that cfg is NULL or a valid config.
            let read = unsafe { read_config(cfg) }?;
            Client::new(&read.config)
        })
        .unwrap_or_else(|p| Err(Error::new(Status::Internal, format!("internal error: {p}"))));
        let (status, client) = match made {
            Ok(c) => (
                FBUP_OK,
                fbup_client {
                    core: Some(c),
                    error: CString::default(),
                },
            ),
            Err(e) => (
                e.status as fbup_status,
                fbup_client {
                    core: None,
                    error: cstring(&e.message),
                },
            ),
        };
        *out = Box::into_raw(Box::new(client));
        status
    })
}

/// Why `fbup_client_new` failed; "" for a client that was made. Owned by the client,
/// valid until `fbup_client_free`; NULL when `c` is NULL.
///
/// # Safety
/// `c` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn fbup_client_errmsg(c: *const fbup_client) -> *const c_char {
    boundary(std::ptr::null(), || {
        let c = try_ref!(c, std::ptr::null());
        c.error.as_ptr()
    })
}

/// Releases a client; does nothing when `c` is NULL. Sessions made from it stay
/// usable (they keep what they share alive), and may be freed before or after it.
///
/// # Safety
/// `c` is NULL or a client from `fbup_client_new`, not yet freed, and no call on it
/// runs.
#[no_mangle]
pub unsafe extern "C" fn fbup_client_free(c: *mut fbup_client) {
    boundary((), || {
        if !c.is_null() {
            // SAFETY: the caller hands back a client of ours, once.
            drop(unsafe { Box::from_raw(c) });
        }
    })
}

/// Opens a session from the client: the common part of the four calls below.
fn open(
    c: &fbup_client,
    source: Source,
    resume_id: Option<&str>,
    canceller: *const fbup_canceller,
) -> Result<Session, Error> {
    let client = c.core.as_ref().ok_or_else(|| {
        Error::new(
            Status::State,
            format!(
                "this client was never made ({}); free it and make a new one",
                c.error.to_string_lossy()
            ),
        )
    })?;
    // SAFETY: the caller vouches that canceller is NULL or a live canceller.
    match unsafe { canceller.as_ref() } {
        None => client.open(source, resume_id, &CancelHandle::new()),
        Some(k) => {
            let mut s = client.open(source, resume_id, &k.handle);
            if let Ok(s) = &mut s {
                s.leave_canceller(&k.handle);
            }
            s
        }
    }
}

/// `fbup_create_session` over the client's connections: checks the file and creates a
/// Graph upload session. `canceller` (NULL: none) cancels this call from another
/// thread. `*out` receives a session even on failure, to be released with `fbup_free`.
///
/// # Safety
/// `c` NULL or a live client; `file_path` NULL or NUL-terminated; `canceller` NULL or
/// live during the call; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fbup_client_create_session(
    c: *const fbup_client,
    file_path: *const c_char,
    canceller: *const fbup_canceller,
    out: *mut *mut fbup_session,
) -> fbup_status {
    let out = try_mut!(out, FBUP_E_ARGUMENT);
    make_session(out, || {
        let c = try_ref!(c, Err(Error::new(Status::Argument, "client is NULL")));
        // SAFETY: the caller vouches that file_path is NULL or NUL-terminated.
        let path = unsafe { required_arg(file_path, "file_path") }?;
        open(c, Source::File(path.into()), None, canceller)
    })
}

/// `fbup_resume_session` over the client's connections (see
/// `fbup_client_create_session`).
///
/// # Safety
/// As `fbup_client_create_session`; `session_id` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fbup_client_resume_session(
    c: *const fbup_client,
    file_path: *const c_char,
    session_id: *const c_char,
    canceller: *const fbup_canceller,
    out: *mut *mut fbup_session,
) -> fbup_status {
    let out = try_mut!(out, FBUP_E_ARGUMENT);
    make_session(out, || {
        let c = try_ref!(c, Err(Error::new(Status::Argument, "client is NULL")));
        // SAFETY: the caller vouches that both are NULL or NUL-terminated.
        let path = unsafe { required_arg(file_path, "file_path") }?;
        // SAFETY: as above.
        let id = unsafe { required_arg(session_id, "session_id") }?;
        open(c, Source::File(path.into()), Some(&id), canceller)
    })
}

/// `fbup_create_session_reader` over the client's connections: `length` bytes read
/// through `read_at`, named `file_name` and of type `file_type` for Graph (NULL: the
/// client's config's, which are then required). See `fbup_create_session_reader` for
/// `read_at` and `user_data`, `fbup_client_create_session` for the rest.
///
/// # Safety
/// As `fbup_client_create_session`; the strings NULL or NUL-terminated; `read_at`, if
/// set, safe to call with `user_data` until the session is freed.
#[no_mangle]
pub unsafe extern "C" fn fbup_client_create_session_reader(
    c: *const fbup_client,
    file_name: *const c_char,
    file_type: *const c_char,
    length: u64,
    read_at: fbup_read_fn,
    user_data: *mut c_void,
    canceller: *const fbup_canceller,
    out: *mut *mut fbup_session,
) -> fbup_status {
    let out = try_mut!(out, FBUP_E_ARGUMENT);
    make_session(out, || {
        let c = try_ref!(c, Err(Error::new(Status::Argument, "client is NULL")));
        // SAFETY: the caller vouches that both strings are NULL or NUL-terminated.
        let (named, source) =
            unsafe { reader_parts(c, file_name, file_type, length, read_at, user_data) }?;
        open(&named, source, None, canceller)
    })
}

/// `fbup_resume_session_reader` over the client's connections (see
/// `fbup_client_create_session_reader`).
///
/// # Safety
/// As `fbup_client_create_session_reader`; `session_id` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn fbup_client_resume_session_reader(
    c: *const fbup_client,
    file_name: *const c_char,
    file_type: *const c_char,
    length: u64,
    read_at: fbup_read_fn,
    user_data: *mut c_void,
    session_id: *const c_char,
    canceller: *const fbup_canceller,
    out: *mut *mut fbup_session,
) -> fbup_status {
    let out = try_mut!(out, FBUP_E_ARGUMENT);
    make_session(out, || {
        let c = try_ref!(c, Err(Error::new(Status::Argument, "client is NULL")));
        // SAFETY: the caller vouches that the strings are NULL or NUL-terminated.
        let (named, source) =
            unsafe { reader_parts(c, file_name, file_type, length, read_at, user_data) }?;
        // SAFETY: as above.
        let id = unsafe { required_arg(session_id, "session_id") }?;
        open(&named, source, Some(&id), canceller)
    })
}

/// What a reader's create or resume takes: the client named for its bytes, and the
/// reader as a source.
///
/// # Safety
/// `file_name` and `file_type` are NULL or NUL-terminated.
unsafe fn reader_parts(
    c: &fbup_client,
    file_name: *const c_char,
    file_type: *const c_char,
    length: u64,
    read_at: fbup_read_fn,
    user_data: *mut c_void,
) -> Result<(fbup_client, Source), Error> {
    // SAFETY: the caller vouches for both strings.
    let (name, kind) = unsafe {
        (
            string_arg(file_name, "file_name")?,
            string_arg(file_type, "file_type")?,
        )
    };
    let reader = reader_arg(read_at, user_data)?;
    Ok((
        with_naming(c, name, kind),
        Source::Reader { length, reader },
    ))
}

/// The client telling Graph these name and type, where given.
fn with_naming(c: &fbup_client, name: Option<String>, kind: Option<String>) -> fbup_client {
    let core = c
        .core
        .as_ref()
        .map(|client| client.naming_over(name.as_deref(), kind.as_deref()));
    fbup_client {
        core,
        error: c.error.clone(),
    }
}
