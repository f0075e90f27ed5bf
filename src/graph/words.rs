//! The words of the Protocol layer: how requests, answers and Graph's errors are told
//! in trace lines and messages. One room for them, so one error reads alike wherever
//! it is told.

use std::cell::Cell;
use std::fmt::Write as _;
use std::time::Instant;

use super::failure::RequestError;
use crate::error::GraphError;

/// What a request is, for its trace lines.
pub(super) struct Ask<'a> {
    pub method: &'static str,
    pub url: &'a str,
    /// The `file_offset` header and the body's length, for step 2.
    pub body: Option<(u64, u64)>,
    pub start: Instant,
    /// The body bytes ureq took, once the request is over (step 2).
    pub sent: Cell<Option<u64>>,
}

impl<'a> Ask<'a> {
    pub fn new(method: &'static str, url: &'a str, body: Option<(u64, u64)>) -> Ask<'a> {
        Ask {
            method,
            url,
            body,
            start: Instant::now(),
            sent: Cell::new(None),
        }
    }

    /// `; N body bytes sent; M ms`: what the trace adds to an answer or its absence.
    pub fn tally(&self) -> String {
        let mut t = String::new();
        if let Some(n) = self.sent.get() {
            let _ = write!(t, "; {n} body bytes sent");
        }
        let _ = write!(t, "; {} ms", self.start.elapsed().as_millis());
        t
    }
}

/// What came with an answer, beside its body, for the trace.
#[derive(Default)]
pub(super) struct Heard {
    /// The headers worth showing, as ` name=value` pairs.
    pub headers: String,
    /// The answer body's length.
    pub body_bytes: usize,
}

/// The answer headers a trace shows when present: Graph's request ids and its limits.
pub(super) const TRACED_HEADERS: [&str; 6] = [
    "x-fb-trace-id",
    "x-fb-rev",
    "x-fb-debug",
    "retry-after",
    "x-app-usage",
    "x-business-use-case-usage",
];

/// A failure as a trace line tells it: every field of a Graph error object.
pub(super) fn trace_detail(e: &RequestError) -> String {
    match e {
        RequestError::Graph { error, .. } => {
            let mut d = format!("error code {}", error.code);
            if error.subcode != 0 {
                let _ = write!(d, ", subcode {}", error.subcode);
            }
            if !error.error_type.is_empty() {
                let _ = write!(d, ", type {}", error.error_type);
            }
            if error.is_transient {
                d.push_str(", is_transient");
            }
            let _ = write!(d, ": {}", shorten(&error.message));
            if !error.fbtrace_id.is_empty() {
                let _ = write!(d, "; fbtrace_id: {}", error.fbtrace_id);
            }
            d
        }
        other => other.to_string(),
    }
}

/// A Graph error as a message tells it: `Graph error code 190 subcode 463
/// (OAuthException), HTTP 400: message [fbtrace_id X]`.
pub(crate) fn error_detail(error: &GraphError, http_status: u16) -> String {
    let mut d = format!("Graph error code {}", error.code);
    if error.subcode != 0 {
        let _ = write!(d, " subcode {}", error.subcode);
    }
    if !error.error_type.is_empty() {
        let _ = write!(d, " ({})", error.error_type);
    }
    let _ = write!(d, ", HTTP {http_status}: {}", error.message);
    if !error.fbtrace_id.is_empty() {
        let _ = write!(d, " [fbtrace_id {}]", error.fbtrace_id);
    }
    d
}

/// A successful answer as a trace line tells it: the protocol's fields (a handle by its
/// size: a trace is no place to copy it from), then the names of any others.
pub(super) fn summarize(json: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    let mut others = Vec::new();
    if let Some(map) = json.as_object() {
        for (k, v) in map {
            match (k.as_str(), v) {
                ("id", serde_json::Value::String(id)) => parts.push(format!("id {}", shorten(id))),
                ("file_offset", v) => parts.push(format!("file_offset {v}")),
                ("h", serde_json::Value::String(h)) => parts.push(format!(
                    "handle of {} bytes ({} part{})",
                    h.len(),
                    h.split('\n').count(),
                    if h.contains('\n') { "s" } else { "" }
                )),
                (k, _) => others.push(shorten(k)),
            }
        }
    }
    if parts.is_empty() {
        parts.push("no protocol field".into());
    }
    if !others.is_empty() {
        parts.push(format!("other fields: {}", others.join(", ")));
    }
    parts.join(", ")
}

/// `host:port` of a URL, with the scheme's port when none is written.
pub(super) fn authority(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let auth = rest.split('/').next().unwrap_or("");
    let auth = auth.rsplit('@').next().unwrap_or(auth);
    let has_port = match auth.rfind(']') {
        Some(close) => auth[close..].contains(':'),
        None => auth.contains(':'),
    };
    if has_port {
        auth.to_string()
    } else {
        let port = if scheme.eq_ignore_ascii_case("http") {
            80
        } else {
            443
        };
        format!("{auth}:{port}")
    }
}

pub(super) fn shorten(s: &str) -> String {
    if s.len() <= 80 {
        s.to_string()
    } else {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_name_host_and_port() {
        assert_eq!(authority("http://127.0.0.1:9"), "127.0.0.1:9");
        assert_eq!(
            authority("https://graph.facebook.com/"),
            "graph.facebook.com:443"
        );
        assert_eq!(authority("http://localhost"), "localhost:80");
        assert_eq!(authority("http://[::1]:8080/x"), "[::1]:8080");
        assert_eq!(authority("https://[::1]"), "[::1]:443");
    }
}
