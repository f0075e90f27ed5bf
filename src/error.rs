//! The errors of the public API: a status that says what kind of failure it was, and
//! the details (HTTP status, Graph error fields, a message that says what to do).

use std::ffi::CStr;
use std::fmt;

/// What kind of failure an operation met. The numbers are the C API's `fbup_status`
/// values: append-only, never renumbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum Status {
    /// Success.
    Ok = 0,
    /// A bad argument: NULL, bad UTF-8, unknown file type, empty file, bad config.
    Argument = 1,
    /// The file cannot be opened or read, or it changed during the upload.
    File = 2,
    /// The network failed (connect, reset, DNS, TLS) and retries were spent.
    Network = 3,
    /// No byte moved for the stall timeout (or connect/answer timed out), retries spent.
    Timeout = 4,
    /// Graph refused the token (code 190 or 102, `OAuthException`).
    Auth = 5,
    /// A Graph error that retrying cannot fix (parameter, permission, policy...).
    Graph = 6,
    /// Graph throttled the app (codes 4, 17, 32, 341, 613, HTTP 429) and retries were spent.
    Throttled = 7,
    /// An answer outside the protocol (bad JSON, missing fields, a redirect, lost data).
    Protocol = 8,
    /// Cancelled by the caller; the session stays resumable.
    Cancelled = 9,
    /// The call does not fit the session's state (e.g. upload after success).
    State = 10,
    /// A bug inside fbup, caught at the C boundary.
    Internal = 11,
    /// Graph holds every byte but the answer carrying the handle was lost and Graph
    /// would not give it again: upload the file once more, in a new session.
    HandleLost = 12,
}

impl Status {
    /// Every status, in numeric order.
    pub const ALL: [Status; 13] = [
        Status::Ok,
        Status::Argument,
        Status::File,
        Status::Network,
        Status::Timeout,
        Status::Auth,
        Status::Graph,
        Status::Throttled,
        Status::Protocol,
        Status::Cancelled,
        Status::State,
        Status::Internal,
        Status::HandleLost,
    ];

    /// The status with this number, if there is one.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as i32 == code)
    }

    /// A short, static description, the same text `fbup_status_str` returns.
    pub fn describe(self) -> &'static str {
        self.describe_c().to_str().unwrap_or("")
    }

    /// A short stable name for scripts (`"ok"`, `"argument"`, `"file"`, `"network"`,
    /// `"timeout"`, `"auth"`, `"graph"`, `"throttled"`, `"protocol"`, `"cancelled"`,
    /// `"state"`, `"internal"`): the C constant's name without `FBUP_E_`, in lower case.
    pub fn key(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Argument => "argument",
            Status::File => "file",
            Status::Network => "network",
            Status::Timeout => "timeout",
            Status::Auth => "auth",
            Status::Graph => "graph",
            Status::Throttled => "throttled",
            Status::Protocol => "protocol",
            Status::Cancelled => "cancelled",
            Status::State => "state",
            Status::Internal => "internal",
            Status::HandleLost => "handle_lost",
        }
    }

    /// [`Status::describe`] as a C string, for the C API.
    pub(crate) fn describe_c(self) -> &'static CStr {
        match self {
            Status::Ok => c"success",
            Status::Argument => c"invalid argument",
            Status::File => c"file cannot be read or changed during the upload",
            Status::Network => c"network error",
            Status::Timeout => c"timed out",
            Status::Auth => c"access token refused by Graph",
            Status::Graph => c"Graph error that retrying cannot fix",
            Status::Throttled => c"throttled by Graph",
            Status::Protocol => c"answer outside the protocol",
            Status::Cancelled => c"cancelled",
            Status::State => c"call does not fit the session's state",
            Status::Internal => c"internal error in fbup",
            Status::HandleLost => c"every byte reached Graph but the handle was lost",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The fields of a Graph error object (`{"error":{...}}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphError {
    /// `error.message`.
    pub message: String,
    /// `error.type`, e.g. `OAuthException`.
    pub error_type: String,
    /// `error.code`.
    pub code: i64,
    /// `error.error_subcode`, 0 when absent.
    pub subcode: i64,
    /// `error.fbtrace_id`, empty when absent.
    pub fbtrace_id: String,
    /// `error.is_transient`.
    pub is_transient: bool,
}

/// A failed operation: its [`Status`], a message that says what to do, and what the
/// server said, when it said anything.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct Error {
    /// What kind of failure.
    pub status: Status,
    /// The HTTP status of the answer that caused it; 0 when there was no answer.
    pub http_status: u16,
    /// The Graph error object of that answer, when it had one.
    pub graph: Option<Box<GraphError>>,
    /// What happened and what to do next. Never holds the access token.
    pub message: String,
}

impl Error {
    /// An error with no HTTP answer behind it.
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            http_status: 0,
            graph: None,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_are_the_c_values() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(*s as i32, i as i32);
            assert_eq!(Status::from_code(i as i32), Some(*s));
        }
        assert_eq!(Status::from_code(13), None);
        assert_eq!(Status::from_code(-1), None);
    }

    #[test]
    fn keys_are_the_c_constants_names() {
        let header = include_str!(concat!(env!("OUT_DIR"), "/fbup.h"));
        for s in Status::ALL {
            let name = match s {
                Status::Ok => "FBUP_OK".to_string(),
                _ => format!("FBUP_E_{}", s.key().to_ascii_uppercase()),
            };
            let line = format!("#define {name} {}\n", s as i32);
            assert!(header.contains(&line), "the header lacks {line:?}");
        }
        let constants = header
            .lines()
            .filter(|l| l.starts_with("#define FBUP_E_") || l.starts_with("#define FBUP_OK "))
            .count();
        assert_eq!(
            constants,
            Status::ALL.len(),
            "a C constant without a status"
        );
    }
}
