//! The C ABI: a thin layer that checks pointers, copies strings in, calls the Rust
//! core, records errors on the session and copies results out. No protocol logic
//! lives here.
//!
//! Thread safety: a session is used by one thread at a time; only `fbup_cancel` may be
//! called from another thread while a call on the session runs. Different sessions
//! are independent. `fbup_status_str`, `fbup_version` and `fbup_config_init` may be
//! called from any thread.

#![allow(non_camel_case_types)]

mod panic;

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Status};
use crate::session::{CancelHandle, Session};

use self::panic::{boundary, catch};

/// A status code: `FBUP_OK` (0) or one of the `FBUP_E_*` values. The values are
/// append-only: none is ever removed or renumbered.
pub type fbup_status = i32;

/// Success.
pub const FBUP_OK: fbup_status = 0;
/// A bad argument: a NULL pointer, bad UTF-8, an unknown file type, an empty file,
/// a `struct_size` that is too small.
pub const FBUP_E_ARGUMENT: fbup_status = 1;
/// The file cannot be opened or read, or it changed during the upload.
pub const FBUP_E_FILE: fbup_status = 2;
/// The network failed and the retries were spent.
pub const FBUP_E_NETWORK: fbup_status = 3;
/// No byte moved for the stall timeout, or a connect timed out, and the retries were spent.
pub const FBUP_E_TIMEOUT: fbup_status = 4;
/// Graph refused the access token (code 190 or 102, `OAuthException`).
pub const FBUP_E_AUTH: fbup_status = 5;
/// A Graph error that retrying cannot fix; see `fbup_error_info` for its code.
pub const FBUP_E_GRAPH: fbup_status = 6;
/// Graph throttled the app (codes 4, 17, 32, 341, 613 or HTTP 429) and the retries were spent.
pub const FBUP_E_THROTTLED: fbup_status = 7;
/// An answer outside the protocol (bad JSON, a missing field, a redirect, lost data).
pub const FBUP_E_PROTOCOL: fbup_status = 8;
/// Cancelled by `fbup_cancel` or the progress callback; the session stays resumable.
pub const FBUP_E_CANCELLED: fbup_status = 9;
/// The call does not fit the session's state (upload after success, a session whose
/// creation failed, a call made while another call on the session runs).
pub const FBUP_E_STATE: fbup_status = 10;
/// A bug inside fbup, caught at the C boundary; the process may go on.
pub const FBUP_E_INTERNAL: fbup_status = 11;
/// Graph holds every byte, but the answer carrying the file handle was lost and Graph
/// would not give it again: upload the file once more, in a new session.
pub const FBUP_E_HANDLE_LOST: fbup_status = 12;

/// How an upload is set up. Call `fbup_config_init` first, then set the fields you
/// need. fbup reads only the first `struct_size` bytes, so programs built against an
/// older header keep working when fields are appended. Every string is copied during
/// the call that reads it: the caller may free them as soon as that call returns.
/// A numeric field left at 0 takes its default.
#[repr(C)]
pub struct fbup_config {
    /// `sizeof(fbup_config)`; set by `fbup_config_init`.
    pub struct_size: u32,
    /// The Meta app id (required).
    pub app_id: *const c_char,
    /// The user access token (required); sent only in the `Authorization` header.
    pub access_token: *const c_char,
    /// Graph's base URL; NULL means "https://graph.facebook.com".
    pub graph_url: *const c_char,
    /// The Graph API version; NULL means the version fbup is tested against ("v24.0").
    pub api_version: *const c_char,
    /// The `file_name` sent to Graph; NULL means the file's base name.
    pub file_name: *const c_char,
    /// The `file_type` sent to Graph; NULL means from the extension (.pdf .jpg .jpeg .png .mp4).
    pub file_type: *const c_char,
    /// How long a TCP connect may take, in milliseconds; default 30000.
    pub connect_timeout_ms: u32,
    /// No byte moves for this long (sending, or waiting for the answer): the attempt
    /// fails and is retried; in milliseconds, default 60000.
    pub stall_timeout_ms: u32,
    /// Attempts in a row without progress before the upload gives up; default 8.
    pub max_attempts: u32,
    /// After the last byte is sent, Graph's answer must begin within this long, in
    /// milliseconds; default 120000.
    pub response_timeout_ms: u32,
    /// Time without progress (Graph's offset not advancing) before the upload gives
    /// up, in milliseconds; default 900000 (15 minutes).
    pub max_retry_ms: u32,
    /// The first retry waits a random time up to this long, in milliseconds; each
    /// further one doubles it (throttling starts eight times higher); default 500.
    pub retry_base_ms: u32,
    /// No retry waits longer than this, in milliseconds, unless Graph asks for longer
    /// (`Retry-After`, `estimated_time_to_regain_access`); default 30000.
    pub retry_cap_ms: u32,
    /// Called for a new token when Graph refuses the current one (code 190) in the
    /// middle of an upload, so that the same session goes on; NULL: the upload stops
    /// with `FBUP_E_AUTH` and the session stays resumable.
    pub token_fn: fbup_token_fn,
    /// Passed back to `token_fn` untouched.
    pub token_user_data: *mut c_void,
    /// The resume journal's folder; NULL turns it off. With it, `fbup_create_session`
    /// resumes a pending session recorded for the same file (same app, Graph URL and
    /// version, path, size, modification time and inode) instead of starting over,
    /// records a new session as soon as Graph returns its id, and forgets it when the
    /// upload completes. Two processes never drive the same entry at once: the second
    /// gets `FBUP_E_STATE`.
    pub state_dir: *const c_char,
    /// Bytes read from the file and written to the socket at a time, 4096 to 64 MiB;
    /// default 65536 (measured fastest on loopback: the buffer stays in cache).
    pub send_buffer_bytes: u32,
    /// Non-zero accepts a plain `http://` `graph_url` whose host is not loopback (the
    /// token then travels in clear text). By default `http://` is accepted only for
    /// 127.0.0.0/8, ::1 and localhost.
    pub allow_insecure_http: u32,
    /// A PEM file of root certificates to trust instead of the public ones (a private
    /// CA, a TLS-intercepting proxy); NULL: Mozilla's roots. Verification is never off.
    pub ca_file: *const c_char,
    /// The proxy URL, e.g. "http://proxy:3128"; NULL reads `HTTPS_PROXY`, `ALL_PROXY`
    /// and `NO_PROXY` from the environment.
    pub proxy: *const c_char,
    /// The most bytes per second sent to Graph, like curl's `--limit-rate`: over any
    /// stretch of time no more than this rate, plus one send buffer, goes out. 0 (the
    /// default) is no limit. Progress and `fbup_cancel` stay prompt while limited.
    /// Added in 0.1 after `proxy`: a caller built without it gets no limit.
    pub max_send_rate: u64,
    /// Receives the trace, one line a call: each HTTP request and answer (method, URL,
    /// HTTP status, `file_offset` sent and received, body bytes, milliseconds, Graph's
    /// trace ids and limit headers), each decision (the rule, the wait, the attempt)
    /// and, at level 4, connection events. NULL (the default) turns the trace off and
    /// costs nothing. The access token never appears in a line. Added after
    /// `max_send_rate`: a caller built without it has no trace.
    pub log_fn: fbup_log_fn,
    /// Passed back to `log_fn` untouched.
    pub log_user_data: *mut c_void,
    /// The least important lines `log_fn` receives: 1 error, 2 warning, 3 info, 4
    /// debug; 0 takes the default, 3.
    pub log_level: i32,
}

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

/// The last error of a session, as `fbup_error_info` reports it.
#[repr(C)]
pub struct fbup_error {
    /// The status of the failed call (`FBUP_OK` when the last call succeeded).
    pub status: fbup_status,
    /// The HTTP status of the answer behind the failure; 0 when there was no answer.
    pub http_status: i32,
    /// Graph's `error.code`; 0 when none.
    pub graph_code: i64,
    /// Graph's `error.error_subcode`; 0 when none.
    pub graph_subcode: i64,
    /// Graph's `error.type`; "" when none. Valid until the next call on the session.
    pub graph_type: *const c_char,
    /// Graph's `error.fbtrace_id`; "" when none. Valid until the next call on the session.
    pub fbtrace_id: *const c_char,
    /// What happened and what to do next; "" after a success. Never holds the access
    /// token. Valid until the next call on the session.
    pub message: *const c_char,
}

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

/// Figures about a session's transfers, as `fbup_get_info` reports them. Set
/// `struct_size` to `sizeof(fbup_info)` before the call: fbup writes only that many
/// bytes, so a program built against this header keeps working when fields are
/// appended.
#[repr(C)]
pub struct fbup_info {
    /// `sizeof(fbup_info)`, set by the caller.
    pub struct_size: u32,
    /// Graph's offset as last known: bytes it confirmed holding.
    pub bytes_confirmed: u64,
    /// Body bytes written to the network over all attempts, re-sent ones included.
    pub bytes_sent: u64,
    /// HTTP requests made (create, upload, offset).
    pub requests: u64,
    /// Failed attempts that were tried again.
    pub retries: u64,
    /// Times the upload went on from an offset Graph reported.
    pub resumes: u64,
    /// Milliseconds spent waiting before retries.
    pub wait_ms: u64,
    /// Milliseconds spent inside `fbup_upload`.
    pub elapsed_ms: u64,
}

/// An upload session (opaque). Made by `fbup_create_session` or `fbup_resume_session`,
/// released by `fbup_free`.
pub struct fbup_session {
    id: Option<CString>,
    cancel: Option<CancelHandle>,
    /// The transfer figures, readable while an upload runs.
    stats: Option<Arc<crate::info::Stats>>,
    handle: OnceLock<CString>,
    core: Mutex<Option<Session>>,
    last_error: Mutex<LastError>,
}

/// The last error, kept as C strings so that pointers to it can be handed out.
struct LastError {
    status: Status,
    http_status: i32,
    graph_code: i64,
    graph_subcode: i64,
    graph_type: CString,
    fbtrace_id: CString,
    message: CString,
}

impl LastError {
    fn ok() -> LastError {
        LastError {
            status: Status::Ok,
            http_status: 0,
            graph_code: 0,
            graph_subcode: 0,
            graph_type: CString::default(),
            fbtrace_id: CString::default(),
            message: CString::default(),
        }
    }

    fn from(e: &Error) -> LastError {
        let g = e.graph.as_ref();
        LastError {
            status: e.status,
            http_status: i32::from(e.http_status),
            graph_code: g.map_or(0, |g| g.code),
            graph_subcode: g.map_or(0, |g| g.subcode),
            graph_type: cstring(g.map_or("", |g| g.error_type.as_str())),
            fbtrace_id: cstring(g.map_or("", |g| g.fbtrace_id.as_str())),
            message: cstring(&e.message),
        }
    }
}

/// A C string of `s`, with any NUL byte replaced (Graph's text could hold one).
fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl fbup_session {
    fn new(session: Result<Session, Error>) -> fbup_session {
        let (id, cancel, stats, core, error) = match session {
            Ok(s) => (
                Some(cstring(s.id())),
                Some(s.cancel_handle()),
                Some(s.stats()),
                Some(s),
                LastError::ok(),
            ),
            Err(e) => (None, None, None, None, LastError::from(&e)),
        };
        fbup_session {
            id,
            cancel,
            stats,
            handle: OnceLock::new(),
            core: Mutex::new(core),
            last_error: Mutex::new(error),
        }
    }

    fn record(&self, result: Result<(), Error>) -> fbup_status {
        let (status, error) = match result {
            Ok(()) => (FBUP_OK, LastError::ok()),
            Err(e) => (e.status as fbup_status, LastError::from(&e)),
        };
        *lock(&self.last_error) = error;
        status
    }

    /// Runs `f` on the Rust session, with panics and busy or empty sessions turned
    /// into statuses recorded on the handle.
    fn run(&self, f: impl FnOnce(&mut Session) -> Result<(), Error>) -> fbup_status {
        let result = match self.core.try_lock() {
            Err(std::sync::TryLockError::WouldBlock) => {
                // Do not touch last_error: the running call owns it.
                return FBUP_E_STATE;
            }
            Err(std::sync::TryLockError::Poisoned(p)) => run_on(p.into_inner(), f),
            Ok(guard) => run_on(guard, f),
        };
        self.record(result)
    }
}

fn run_on(
    mut guard: MutexGuard<'_, Option<Session>>,
    f: impl FnOnce(&mut Session) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some(session) = guard.as_mut() else {
        return Err(Error::new(
            Status::State,
            "this session was never created (see the error of the call that made it); free it \
             and create a new one",
        ));
    };
    catch(|| f(session)).unwrap_or_else(|p| {
        Err(Error::new(
            Status::Internal,
            format!("internal error in fbup (a bug, please report it): {p}"),
        ))
    })
}

/// Copies a C string argument; `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
unsafe fn string_arg(p: *const c_char, name: &str) -> Result<Option<String>, Error> {
    if p.is_null() {
        return Ok(None);
    }
    match CStr::from_ptr(p).to_str() {
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
unsafe fn required_arg(p: *const c_char, name: &str) -> Result<String, Error> {
    string_arg(p, name)?
        .ok_or_else(|| Error::new(Status::Argument, format!("{name} is NULL; it is required")))
}

/// The size of the first released layout of `fbup_config` (it ended with `proxy`): the
/// least a caller may pass, forever. Fields appended later take their defaults when a
/// caller's struct ends before them.
const CONFIG_V1_SIZE: usize =
    std::mem::offset_of!(fbup_config, proxy) + std::mem::size_of::<*const c_char>();

fn config_defaults() -> fbup_config {
    let d = Config::new("", "");
    fbup_config {
        struct_size: std::mem::size_of::<fbup_config>() as u32,
        app_id: std::ptr::null(),
        access_token: std::ptr::null(),
        graph_url: std::ptr::null(),
        api_version: std::ptr::null(),
        file_name: std::ptr::null(),
        file_type: std::ptr::null(),
        connect_timeout_ms: d.connect_timeout.as_millis() as u32,
        stall_timeout_ms: d.stall_timeout.as_millis() as u32,
        max_attempts: d.max_attempts,
        response_timeout_ms: d.response_timeout.as_millis() as u32,
        max_retry_ms: d.max_retry.as_millis() as u32,
        retry_base_ms: d.retry_base.as_millis() as u32,
        retry_cap_ms: d.retry_cap.as_millis() as u32,
        token_fn: None,
        token_user_data: std::ptr::null_mut(),
        state_dir: std::ptr::null(),
        send_buffer_bytes: d.send_buffer as u32,
        allow_insecure_http: 0,
        ca_file: std::ptr::null(),
        proxy: std::ptr::null(),
        max_send_rate: 0,
        log_fn: None,
        log_user_data: std::ptr::null_mut(),
        log_level: 0,
    }
}

/// The caller's log callback and its user data.
struct CLogFn {
    f: unsafe extern "C" fn(*mut c_void, i32, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: fbup calls the callback only from the thread of the fbup call that makes the
// line, as the header documents; the pointer itself is just carried.
unsafe impl Send for CLogFn {}
unsafe impl Sync for CLogFn {}

impl CLogFn {
    fn call(&self, level: crate::Level, line: &str) {
        // The trace replaced any NUL already; a line that still has one is dropped.
        if let Ok(line) = CString::new(line) {
            // SAFETY: the caller vouches for the callback; the line lives for the call.
            unsafe { (self.f)(self.user_data, level as i32, line.as_ptr()) }
        }
    }
}

/// The caller's token callback and its user data, callable from the upload thread.
struct CTokenFn {
    f: unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> i32,
    user_data: *mut c_void,
}

// SAFETY: fbup calls the callback only from the thread running fbup_upload, as the
// header documents; the pointer itself is just carried.
unsafe impl Send for CTokenFn {}
unsafe impl Sync for CTokenFn {}

/// The caller's read callback and its user data.
struct CReader {
    f: unsafe extern "C" fn(*mut c_void, u64, *mut u8, usize) -> i64,
    user_data: *mut c_void,
}

// SAFETY: fbup calls the callback only from the thread of the call that runs the
// upload, as the header documents; the pointer itself is just carried.
unsafe impl Send for CReader {}
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
const TOKEN_BUF: usize = 16 * 1024;

impl CTokenFn {
    fn call(&self) -> Option<String> {
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

/// Reads a caller's config into a Rust one.
///
/// # Safety
/// `cfg` is NULL or points to at least `cfg->struct_size` readable bytes, whose
/// string fields are NULL or NUL-terminated.
unsafe fn read_config(cfg: *const fbup_config) -> Result<Config, Error> {
    if cfg.is_null() {
        return Err(Error::new(
            Status::Argument,
            "config is NULL; declare an fbup_config and call fbup_config_init on it",
        ));
    }
    let size = std::ptr::read_unaligned(cfg as *const u32) as usize;
    if size < CONFIG_V1_SIZE {
        return Err(Error::new(
            Status::Argument,
            format!(
                "config struct_size is {size}, this fbup needs at least {CONFIG_V1_SIZE}; call \
                 fbup_config_init before setting fields"
            ),
        ));
    }
    // Copy what the caller has, over the defaults for what it does not know about.
    let mut c = config_defaults();
    std::ptr::copy_nonoverlapping(
        cfg as *const u8,
        &mut c as *mut fbup_config as *mut u8,
        size.min(std::mem::size_of::<fbup_config>()),
    );
    let mut config = Config::new(
        required_arg(c.app_id, "app_id")?,
        required_arg(c.access_token, "access_token")?,
    );
    if let Some(v) = string_arg(c.graph_url, "graph_url")? {
        config.graph_url = v;
    }
    if let Some(v) = string_arg(c.api_version, "api_version")? {
        config.api_version = v;
    }
    config.file_name = string_arg(c.file_name, "file_name")?;
    config.file_type = string_arg(c.file_type, "file_type")?;
    config.state_dir = string_arg(c.state_dir, "state_dir")?.map(Into::into);
    config.ca_file = string_arg(c.ca_file, "ca_file")?.map(Into::into);
    config.proxy = string_arg(c.proxy, "proxy")?;
    config.allow_insecure_http = c.allow_insecure_http != 0;
    config.max_send_rate = c.max_send_rate;
    let ms = |v: u32, default: Duration| {
        if v == 0 {
            default
        } else {
            Duration::from_millis(v.into())
        }
    };
    config.connect_timeout = ms(c.connect_timeout_ms, config.connect_timeout);
    config.stall_timeout = ms(c.stall_timeout_ms, config.stall_timeout);
    if c.max_attempts != 0 {
        config.max_attempts = c.max_attempts;
    }
    if c.send_buffer_bytes != 0 {
        config.send_buffer = c.send_buffer_bytes as usize;
    }
    config.response_timeout = ms(c.response_timeout_ms, config.response_timeout);
    config.max_retry = ms(c.max_retry_ms, config.max_retry);
    config.retry_base = ms(c.retry_base_ms, config.retry_base);
    config.retry_cap = ms(c.retry_cap_ms, config.retry_cap);
    if let Some(f) = c.token_fn {
        let callback = CTokenFn {
            f,
            user_data: c.token_user_data,
        };
        config.token_refresh = Some(Arc::new(move || callback.call()));
    }
    config.log_level = crate::Level::from_number(c.log_level).ok_or_else(|| {
        Error::new(
            Status::Argument,
            format!(
                "log_level is {}; use 1 (error), 2 (warning), 3 (info), 4 (debug) or 0 for the \
                 default",
                c.log_level
            ),
        )
    })?;
    if let Some(f) = c.log_fn {
        let callback = CLogFn {
            f,
            user_data: c.log_user_data,
        };
        config.log = Some(Arc::new(move |level, line: &str| {
            callback.call(level, line)
        }));
    }
    Ok(config)
}

/// Makes a session and hands it to the caller through `out`, as SQLite's
/// `sqlite3_open` does: even a failed one, so that `fbup_errmsg` can explain. A panic
/// while making it becomes `FBUP_E_INTERNAL`, recorded on the handed-out session.
///
/// # Safety
/// `out` is NULL or valid for a pointer write.
unsafe fn make_session(
    out: *mut *mut fbup_session,
    make: impl FnOnce() -> Result<Session, Error>,
) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        // Nowhere to hand the session to: refuse before any request reaches Graph.
        if out.is_null() {
            return FBUP_E_ARGUMENT;
        }
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

/// Writes the defaults into `cfg`, `struct_size` included: all of this library's
/// `fbup_config`. Does nothing when `cfg` is NULL. A program that may run against a
/// newer libfbup than the header it was built with (bindings, plugins) should call
/// `fbup_config_init_sized(cfg, sizeof *cfg)` instead, which never writes past the
/// caller's struct.
///
/// # Safety
/// `cfg` is NULL or points to a writable `fbup_config` of this library's size.
#[no_mangle]
pub unsafe extern "C" fn fbup_config_init(cfg: *mut fbup_config) {
    boundary((), || {
        if !cfg.is_null() {
            std::ptr::write(cfg, config_defaults());
        }
    })
}

/// Like `fbup_config_init`, for a struct of `size` bytes (`sizeof *cfg` as the caller
/// was compiled): writes the defaults of the fields that fit and sets `struct_size` to
/// what was written. Does nothing when `cfg` is NULL or `size` cannot hold
/// `struct_size`.
///
/// # Safety
/// `cfg` is NULL or points to `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn fbup_config_init_sized(cfg: *mut fbup_config, size: usize) {
    boundary((), || {
        if cfg.is_null() || size < std::mem::size_of::<u32>() {
            return;
        }
        let mut defaults = config_defaults();
        let n = size.min(std::mem::size_of::<fbup_config>());
        defaults.struct_size = n as u32;
        std::ptr::copy_nonoverlapping(
            &defaults as *const fbup_config as *const u8,
            cfg as *mut u8,
            n,
        );
    })
}

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
    make_session(out, || {
        let config = read_config(cfg)?;
        let path = required_arg(file_path, "file_path")?;
        Session::create(&config, Path::new(&path))
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
    make_session(out, || {
        let config = read_config(cfg)?;
        let path = required_arg(file_path, "file_path")?;
        let id = required_arg(session_id, "session_id")?;
        Session::resume(&config, Path::new(&path), &id)
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
    make_session(out, || {
        let config = read_config(cfg)?;
        let reader = reader_arg(read_at, user_data)?;
        Session::create_from_reader(&config, length, reader)
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
    make_session(out, || {
        let config = read_config(cfg)?;
        let reader = reader_arg(read_at, user_data)?;
        let id = required_arg(session_id, "session_id")?;
        Session::resume_from_reader(&config, length, reader, &id)
    })
}

fn reader_arg(
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
        crate::panic_point("ffi");
        let Some(s) = s.as_ref() else {
            return FBUP_E_ARGUMENT;
        };
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
        let Some(s) = s.as_ref() else {
            return FBUP_E_ARGUMENT;
        };
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

/// The least `struct_size` of an `fbup_info`: its first layout, ending with `elapsed_ms`.
const INFO_V1_SIZE: usize = std::mem::size_of::<fbup_info>();

/// Writes the session's transfer figures into `*out`, whose `struct_size` the caller
/// set to `sizeof(fbup_info)`; fbup writes only that many bytes. Valid at any time,
/// also from the progress callback and from another thread while an upload runs;
/// changes nothing on the session (not even its last error). Returns
/// `FBUP_E_ARGUMENT` when `s` or `out` is NULL or `out->struct_size` is smaller than
/// the first layout of `fbup_info`, and `FBUP_E_STATE` for a session whose creation
/// failed.
///
/// # Safety
/// `s` is NULL or a live session; `out` is NULL or points to `out->struct_size`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn fbup_get_info(s: *const fbup_session, out: *mut fbup_info) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        // SAFETY: the caller passes NULL or a live session.
        let Some(s) = (unsafe { s.as_ref() }) else {
            return FBUP_E_ARGUMENT;
        };
        if out.is_null() {
            return FBUP_E_ARGUMENT;
        }
        // SAFETY: non-NULL; the caller vouches for at least the size field.
        let size = unsafe { std::ptr::read_unaligned(out as *const u32) } as usize;
        if size < INFO_V1_SIZE {
            return FBUP_E_ARGUMENT;
        }
        let Some(stats) = &s.stats else {
            return FBUP_E_STATE;
        };
        let i = stats.snapshot();
        let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
        let info = fbup_info {
            struct_size: size.min(std::mem::size_of::<fbup_info>()) as u32,
            bytes_confirmed: i.bytes_confirmed,
            bytes_sent: i.bytes_sent,
            requests: i.requests,
            retries: i.retries,
            resumes: i.resumes,
            wait_ms: ms(i.wait),
            elapsed_ms: ms(i.elapsed),
        };
        // SAFETY: the caller vouches for `size` writable bytes; no more are written.
        unsafe {
            std::ptr::copy_nonoverlapping(
                &info as *const fbup_info as *const u8,
                out as *mut u8,
                size.min(std::mem::size_of::<fbup_info>()),
            )
        };
        FBUP_OK
    })
}

/// Cancels the running `fbup_upload` on `s`, which then returns `FBUP_E_CANCELLED`
/// within a second, even while the network is stalled: its sockets are shut down at
/// once (a TCP connect still in progress is the exception: it ends within
/// `connect_timeout_ms`, and the upload returns then). Safe to call from any thread
/// at any time while `s` is alive (but not after `fbup_free`). A cancel made while no
/// upload runs makes the next `fbup_upload` return `FBUP_E_CANCELLED` at once. The
/// session stays resumable: call `fbup_upload` again to go on. Does nothing when `s`
/// is NULL.
///
/// # Safety
/// `s` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn fbup_cancel(s: *mut fbup_session) {
    boundary((), || {
        if let Some(cancel) = s.as_ref().and_then(|s| s.cancel.as_ref()) {
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
        crate::panic_point("ffi");
        s.as_ref()
            .and_then(|s| s.id.as_ref())
            .map_or(std::ptr::null(), |id| id.as_ptr())
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
        s.as_ref()
            .and_then(|s| s.handle.get())
            .map_or(std::ptr::null(), |h| h.as_ptr())
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
    boundary(c"internal error in fbup".as_ptr(), || match s.as_ref() {
        None => NULL_SESSION.as_ptr(),
        Some(s) => lock(&s.last_error).message.as_ptr(),
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
        let (Some(s), false) = (s.as_ref(), out.is_null()) else {
            return FBUP_E_ARGUMENT;
        };
        let e = lock(&s.last_error);
        std::ptr::write(
            out,
            fbup_error {
                status: e.status as fbup_status,
                http_status: e.http_status,
                graph_code: e.graph_code,
                graph_subcode: e.graph_subcode,
                graph_type: e.graph_type.as_ptr(),
                fbtrace_id: e.fbtrace_id.as_ptr(),
                message: e.message.as_ptr(),
            },
        );
        FBUP_OK
    })
}

/// A static, NUL-terminated description of a status (like `curl_easy_strerror`);
/// "unknown status" for a value fbup does not define. Never NULL, never to be freed.
#[no_mangle]
pub extern "C" fn fbup_status_str(status: fbup_status) -> *const c_char {
    Status::from_code(status)
        .map_or(c"unknown status", Status::describe_c)
        .as_ptr()
}

/// The library's version, e.g. "0.1.0": the same as the header's `FBUP_VERSION`
/// when the program was built against this library. Static; never to be freed.
#[no_mangle]
pub extern "C" fn fbup_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
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
            drop(Box::from_raw(s));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_matches_the_rust_descriptions() {
        for s in Status::ALL {
            let c = unsafe { CStr::from_ptr(fbup_status_str(s as i32)) };
            assert_eq!(c.to_str().unwrap(), s.describe());
        }
        let c = unsafe { CStr::from_ptr(fbup_status_str(99)) };
        assert_eq!(c.to_str().unwrap(), "unknown status");
    }

    #[test]
    fn version_matches_cargo() {
        let v = unsafe { CStr::from_ptr(fbup_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn constants_match_the_rust_statuses() {
        let c = [
            FBUP_OK,
            FBUP_E_ARGUMENT,
            FBUP_E_FILE,
            FBUP_E_NETWORK,
            FBUP_E_TIMEOUT,
            FBUP_E_AUTH,
            FBUP_E_GRAPH,
            FBUP_E_THROTTLED,
            FBUP_E_PROTOCOL,
            FBUP_E_CANCELLED,
            FBUP_E_STATE,
            FBUP_E_INTERNAL,
            FBUP_E_HANDLE_LOST,
        ];
        // Every status has its constant, and every constant its status.
        assert_eq!(
            Status::ALL.len(),
            c.len(),
            "a status without a C constant, or one too many"
        );
        for (s, v) in Status::ALL.iter().zip(c) {
            assert_eq!(*s as i32, v);
        }
    }
}
