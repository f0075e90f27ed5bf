//! fbup: resumable uploads to the Meta Graph API, for Rust and, through a C ABI, for
//! C, C++, Go, Swift and anything else that can call C.
//!
//! The Resumable Upload API has three steps: create a session (`POST
//! /{version}/{app-id}/uploads`), send bytes from an offset (`POST /{version}/{session-id}`
//! with a `file_offset` header), and ask how many bytes Graph holds (`GET
//! /{version}/{session-id}`). [`Session`] drives them and resumes on its own when the
//! network breaks.
//!
//! ```no_run
//! let mut config = fbup::Config::new("1234567890", "EAAB...");
//! let mut session = fbup::Session::create(&config, "video.mp4".as_ref())?;
//! let handle = session.upload(&mut |done, total| {
//!     eprintln!("{done}/{total}");
//!     true
//! })?;
//! println!("{handle}");
//! # Ok::<(), fbup::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Floors, lowest first: hook, token, files; error, config, trace, event, info, source,
// progress, pace; graph; retry; plan; journal, session; probe; ffi.
mod config;
mod error;
mod event;
pub mod ffi;
mod files;
mod graph;
mod hook;
mod info;
pub mod journal;
mod pace;
mod plan;
#[cfg(feature = "probe")]
mod probe;
mod progress;
mod retry;
mod session;
mod source;
mod token;
mod trace;

pub use config::{
    file_type_from_extension, Config, TokenRefresh, DEFAULT_API_VERSION, DEFAULT_GRAPH_URL,
    FILE_TYPES,
};
pub use error::{Error, Field, GraphError, Status, Step};
pub use event::{Event, EventFn};
pub use info::Info;
pub use plan::Plan;
#[cfg(feature = "probe")]
pub use probe::{probe, Answer, Experiment, ProbeReport, Variant};
pub use progress::ProgressFn;
pub use session::{session_offset, CancelHandle, Client, Session, Source};
pub use source::ReadAt;
pub use trace::{Level, LogFn};

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): everything that
/// parses what a server sends, and URL building from ids. Not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use crate::graph;

    /// A fuzz input as an answer: two bytes of HTTP status (little-endian; folded into
    /// 100..600 when outside it), then the body.
    pub fn split(data: &[u8]) -> Option<(u16, String)> {
        let raw = u16::from_le_bytes([*data.first()?, *data.get(1)?]);
        let status = if (100..600).contains(&raw) {
            raw
        } else {
            100 + raw % 500
        };
        Some((status, String::from_utf8_lossy(&data[2..]).into_owned()))
    }

    /// A whole answer to step 1, as Graph could send it.
    pub fn create_answer(status: u16, body: &str) -> Option<String> {
        let (status, json) = graph::parse_answer(status, None, body).ok()?;
        graph::parse_create_answer(status, &json).ok()
    }

    /// A whole answer to step 2; `Some(handle)` when it completes the file.
    pub fn upload_answer(status: u16, body: &str) -> Option<String> {
        let (status, json) = graph::parse_answer(status, None, body).ok()?;
        match graph::parse_upload_answer(status, &json).ok()? {
            graph::UploadAnswer::Handle(h) => Some(h),
            graph::UploadAnswer::Accepted { .. } => None,
        }
    }

    /// A whole answer to step 3.
    pub fn offset_answer(status: u16, body: &str) -> Option<u64> {
        let (_, json) = graph::parse_answer(status, None, body).ok()?;
        graph::parse_offset(&json).ok()
    }

    /// A Graph error object's code, when the body is one.
    pub fn error_object(body: &str) -> Option<i64> {
        let json = serde_json::from_str(body).ok()?;
        graph::parse_graph_error(&json).map(|e| e.code)
    }

    /// The URL of a session id that passes the checks, else `None`.
    pub fn session_url(id: &str) -> Option<String> {
        graph::check_session_id(id).ok()?;
        let plan = crate::Plan::resolve(&crate::Config::new("1", "t")).ok()?;
        Some(plan.graph(plan.agent()).session_url(id))
    }

    /// The wait a throttling answer asks for, from its two headers, and what the retry
    /// budget makes of it (the arithmetic that uses the hint must never overflow).
    pub fn wait_hint(retry_after: &str, business_usage: &str) -> Option<std::time::Duration> {
        let hint = crate::graph::server_wait_hint(Some(retry_after), Some(business_usage));
        let plan = crate::Plan::resolve(&crate::Config::new("1", "t")).ok()?;
        let mut budget = crate::retry::Budget::new(&plan.retry);
        let verdict = crate::retry::classify(&crate::graph::RequestError::Http {
            http_status: 429,
            snippet: String::new(),
            wait_hint: hint,
        });
        let _ = budget.next_wait(&verdict, hint);
        hint
    }
}

#[cfg(test)]
mod header_tests {
    /// The header in `include/` is what cbindgen makes of the sources now. `build.rs`
    /// rewrites it on developer machines; under CI (`CI` set) it does not, so a stale
    /// checked-in header fails here.
    #[test]
    fn checked_in_header_is_fresh() {
        let fresh = include_str!(concat!(env!("OUT_DIR"), "/fbup.h"));
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/fbup.h");
        let checked_in = std::fs::read_to_string(path).expect("include/fbup.h exists");
        assert!(
            fresh == checked_in,
            "include/fbup.h is out of date: run `cargo build` outside CI and commit it"
        );
    }

    #[test]
    fn header_version_macros_match_cargo() {
        let header = include_str!(concat!(env!("OUT_DIR"), "/fbup.h"));
        for (name, value) in [
            ("FBUP_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
            ("FBUP_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
            ("FBUP_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
        ] {
            let line = format!("#define {name} {value}\n");
            assert!(header.contains(&line), "header lacks {line:?}");
        }
        let version = format!("#define FBUP_VERSION \"{}\"\n", env!("CARGO_PKG_VERSION"));
        assert!(header.contains(&version));
    }
}
