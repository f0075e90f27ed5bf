//! The C ABI: a thin layer that checks pointers, copies strings in, calls the Rust
//! core, records errors on the session and copies results out. No protocol logic
//! lives here.
//!
//! Thread safety: a session is used by one thread at a time; only `fbup_cancel` may be
//! called from another thread while a call on the session runs, and
//! `fbup_canceller_cancel` while a create or resume runs with that canceller. Different
//! sessions are independent. `fbup_status_str`, `fbup_version` and `fbup_config_init`
//! may be called from any thread.

#![allow(non_camel_case_types)]

use std::ffi::c_char;

#[macro_use]
mod args;
mod callbacks;
mod cancel;
mod client;
mod config;
mod error;
mod info;
mod panic;
mod session;
mod status;
mod upload;

pub use self::callbacks::{fbup_log_fn, fbup_progress_fn, fbup_read_fn, fbup_token_fn};
pub use self::cancel::{
    fbup_canceller, fbup_canceller_cancel, fbup_canceller_free, fbup_canceller_new,
};
pub use self::client::{
    fbup_client, fbup_client_create_session, fbup_client_create_session_reader, fbup_client_errmsg,
    fbup_client_free, fbup_client_new, fbup_client_resume_session,
    fbup_client_resume_session_reader,
};
pub use self::config::{fbup_config, fbup_config_init, fbup_config_init_sized};
pub use self::error::fbup_error;
pub use self::info::{fbup_get_info, fbup_info};
pub use self::session::{
    fbup_cancel, fbup_errmsg, fbup_error_info, fbup_file_handle, fbup_free, fbup_session,
    fbup_session_id,
};
pub use self::status::*;
pub use self::upload::{
    fbup_create_session, fbup_create_session_reader, fbup_get_offset, fbup_resume_session,
    fbup_resume_session_reader, fbup_upload,
};

/// The library's version, e.g. "0.1.0": the same as the header's `FBUP_VERSION`
/// when the program was built against this library. Static; never to be freed.
#[no_mangle]
pub extern "C" fn fbup_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_matches_cargo() {
        // SAFETY: fbup_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(fbup_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
