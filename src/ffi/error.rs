//! `fbup_error`: the last error of a session, kept as C strings it hands out.

use std::ffi::{c_char, CString};

use super::args::cstring;
use super::status::fbup_status;
use crate::error::{Error, Status};

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

/// The last error, kept as C strings so that pointers to it can be handed out.
pub(super) struct LastError {
    pub(super) status: Status,
    pub(super) http_status: i32,
    pub(super) graph_code: i64,
    pub(super) graph_subcode: i64,
    pub(super) graph_type: CString,
    pub(super) fbtrace_id: CString,
    pub(super) message: CString,
}

impl LastError {
    pub(super) fn ok() -> LastError {
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

    pub(super) fn from(e: &Error) -> LastError {
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
