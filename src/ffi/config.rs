//! `fbup_config`: its layout (which only grows at the end), its defaults, and how a
//! caller's copy of any size becomes a Rust [`Config`].

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::args::{required_arg, string_arg};
use super::callbacks::{fbup_log_fn, fbup_token_fn, CLogFn, CTokenFn};
use super::cancel::fbup_canceller;
use super::panic::boundary;
use crate::config::Config;
use crate::error::{Error, Status};

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
    /// Graph's base URL; NULL means `https://graph.facebook.com`.
    pub graph_url: *const c_char,
    /// The Graph API version; NULL means the version fbup is tested against ("v24.0").
    pub api_version: *const c_char,
    /// The `file_name` sent to Graph; NULL means the file's base name.
    pub file_name: *const c_char,
    /// The `file_type` sent to Graph, any well-formed MIME type (`type/subtype`, no
    /// parameters; Graph decides whether it takes it, and its refusal is `FBUP_E_GRAPH`
    /// with Graph's words); NULL means from the file's extension (`.jpg` image/jpeg,
    /// `.webp` image/webp, `.mov` video/quicktime, `.csv` text/csv and the rest).
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
    /// upload completes; `fbup_resume_session` records the session it resumes for
    /// the file. Two processes never drive the same entry at once: the second gets
    /// `FBUP_E_STATE`. The folder must belong to this user and be writable by no one
    /// else (else `FBUP_E_FILE`); nothing in it is opened through a link. When the
    /// journal cannot be written or read (a full disk, no permission), the upload goes
    /// on without it and the trace says so at level 2.
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
    /// The proxy URL, e.g. `http://proxy:3128`; NULL reads `HTTPS_PROXY`, `ALL_PROXY`
    /// and `NO_PROXY` from the environment.
    pub proxy: *const c_char,
    /// The most bytes per second sent to Graph, like curl's `--limit-rate`: over any
    /// stretch of time no more than this rate, plus one send buffer, goes out. 0 (the
    /// default) is no limit. Progress and `fbup_cancel` stay prompt while limited.
    /// Given to `fbup_client_new`, it is the client's: all the sessions of the client
    /// together send no faster (given to `fbup_create_session`, the session's).
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
    /// The most body bytes one upload request carries, for a proxy or load balancer
    /// known to cut longer requests. 0 (the default) sends the rest of the file in one
    /// request, and bounds requests only when a cut shows that Graph kept none of a
    /// request's bytes (half of what was lost, at least 256 KiB, growing back after
    /// requests that arrive whole). Added after `log_level`: a caller built without it
    /// gets the default.
    pub max_request_bytes: u64,
    /// A canceller (`fbup_canceller_new`) that cancels the create or resume this config
    /// is given to, from any thread; NULL: those calls end only on their own. Read
    /// during the call only. Added after `max_request_bytes`.
    pub canceller: *const fbup_canceller,
}

/// The size of the first released layout of `fbup_config` (it ended with `proxy`): the
/// least a caller may pass, forever. Fields appended later take their defaults when a
/// caller's struct ends before them.
pub(super) const CONFIG_V1_SIZE: usize =
    std::mem::offset_of!(fbup_config, proxy) + std::mem::size_of::<*const c_char>();

pub(super) fn config_defaults() -> fbup_config {
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
        max_request_bytes: 0,
        canceller: std::ptr::null(),
    }
}

/// Reads a caller's config into a Rust one.
///
/// # Safety
/// `cfg` is NULL or points to at least `cfg->struct_size` readable bytes, whose
/// string fields are NULL or NUL-terminated.
pub(super) unsafe fn read_config(cfg: *const fbup_config) -> Result<Read, Error> {
    if cfg.is_null() {
        return Err(Error::new(
            Status::Argument,
            "config is NULL; declare an fbup_config and call fbup_config_init on it",
        ));
    }
    // SAFETY: non-NULL, and the caller vouches for at least the size field.
    let size = unsafe { std::ptr::read_unaligned(cfg as *const u32) } as usize;
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
    // SAFETY: the caller vouches for `size` readable bytes; no more than one
    // fbup_config is copied, into a local one.
    unsafe {
        std::ptr::copy_nonoverlapping(
            cfg as *const u8,
            &mut c as *mut fbup_config as *mut u8,
            size.min(std::mem::size_of::<fbup_config>()),
        )
    };
    // SAFETY: the caller vouches for the string fields it knew about; the others are
    // the NULL defaults.
    let mut config = unsafe { config_from(&c) }?;
    timeouts_from(&c, &mut config);
    callbacks_from(&c, &mut config)?;
    // SAFETY: the caller vouches that canceller is NULL or a live canceller (a caller
    // built before the field has the NULL default).
    let cancel = unsafe { c.canceller.as_ref() }.map(|k| k.handle.clone());
    Ok(Read { config, cancel })
}

/// A caller's config as Rust takes it: the config, and the cancel of the call.
pub(super) struct Read {
    pub config: Config,
    /// The handle of `cfg->canceller`, when set.
    pub cancel: Option<crate::session::CancelHandle>,
}

/// The strings and switches of a copied config.
///
/// # Safety
/// Every string field of `c` is NULL or NUL-terminated.
unsafe fn config_from(c: &fbup_config) -> Result<Config, Error> {
    // SAFETY: the string fields are the caller's pointers, which it vouches are NULL
    // or NUL-terminated (the fields it did not know about are NULL defaults).
    let text = |p, name| unsafe { string_arg(p, name) };
    // SAFETY: as for `text`.
    let required = |p, name| unsafe { required_arg(p, name) };
    let mut config = Config::new(
        required(c.app_id, "app_id")?,
        required(c.access_token, "access_token")?,
    );
    if let Some(v) = text(c.graph_url, "graph_url")? {
        config.graph_url = v;
    }
    if let Some(v) = text(c.api_version, "api_version")? {
        config.api_version = v;
    }
    config.file_name = text(c.file_name, "file_name")?;
    config.file_type = text(c.file_type, "file_type")?;
    config.state_dir = text(c.state_dir, "state_dir")?.map(Into::into);
    config.ca_file = text(c.ca_file, "ca_file")?.map(Into::into);
    config.proxy = text(c.proxy, "proxy")?;
    config.allow_insecure_http = c.allow_insecure_http != 0;
    config.max_send_rate = c.max_send_rate;
    config.max_request = c.max_request_bytes;
    if c.max_attempts != 0 {
        config.max_attempts = c.max_attempts;
    }
    if c.send_buffer_bytes != 0 {
        config.send_buffer = c.send_buffer_bytes as usize;
    }
    Ok(config)
}

/// The timeouts of a copied config: 0 keeps the default.
fn timeouts_from(c: &fbup_config, config: &mut Config) {
    let ms = |v: u32, default: Duration| {
        if v == 0 {
            default
        } else {
            Duration::from_millis(v.into())
        }
    };
    config.connect_timeout = ms(c.connect_timeout_ms, config.connect_timeout);
    config.stall_timeout = ms(c.stall_timeout_ms, config.stall_timeout);
    config.response_timeout = ms(c.response_timeout_ms, config.response_timeout);
    config.max_retry = ms(c.max_retry_ms, config.max_retry);
    config.retry_base = ms(c.retry_base_ms, config.retry_base);
    config.retry_cap = ms(c.retry_cap_ms, config.retry_cap);
}

/// The callbacks and the log level of a copied config.
fn callbacks_from(c: &fbup_config, config: &mut Config) -> Result<(), Error> {
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
    Ok(())
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
            // SAFETY: non-NULL, and the caller vouches for a writable fbup_config.
            unsafe { std::ptr::write(cfg, config_defaults()) };
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
        // SAFETY: non-NULL, and the caller vouches for `size` writable bytes; `n` is
        // at most that.
        unsafe {
            std::ptr::copy_nonoverlapping(
                &defaults as *const fbup_config as *const u8,
                cfg as *mut u8,
                n,
            )
        };
    })
}
