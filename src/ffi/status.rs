//! The statuses every call returns, as C constants, and their descriptions.

use std::ffi::c_char;

use crate::error::Status;

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

/// A static, NUL-terminated description of a status (like `curl_easy_strerror`);
/// "unknown status" for a value fbup does not define. Never NULL, never to be freed.
#[no_mangle]
pub extern "C" fn fbup_status_str(status: fbup_status) -> *const c_char {
    Status::from_code(status)
        .map_or(c"unknown status", Status::describe_c)
        .as_ptr()
}

/// The constant name of a status, e.g. "FBUP_E_AUTH" for `FBUP_E_AUTH`; "unknown
/// status" for a value fbup does not define. Static; never NULL, never to be freed.
/// For messages and bindings that show names rather than sentences.
#[no_mangle]
pub extern "C" fn fbup_status_name(status: fbup_status) -> *const c_char {
    Status::from_code(status)
        .map_or(c"unknown status", Status::name_c)
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn status_text_matches_the_rust_descriptions() {
        for s in Status::ALL {
            // SAFETY: fbup_status_str returns a static NUL-terminated string.
            let c = unsafe { CStr::from_ptr(fbup_status_str(s as i32)) };
            assert_eq!(c.to_str().unwrap(), s.describe());
        }
        // SAFETY: as above.
        let c = unsafe { CStr::from_ptr(fbup_status_str(99)) };
        assert_eq!(c.to_str().unwrap(), "unknown status");
    }

    #[test]
    fn names_are_the_constants_names() {
        for s in Status::ALL {
            // SAFETY: fbup_status_name returns a static NUL-terminated string.
            let c = unsafe { CStr::from_ptr(fbup_status_name(s as i32)) };
            let want = match s {
                Status::Ok => "FBUP_OK".to_string(),
                s => format!("FBUP_E_{}", s.key().to_ascii_uppercase()),
            };
            assert_eq!(c.to_str().unwrap(), want);
        }
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
