//! The pure answer parsers: what Graph's answers (or a caller's ids) say, checked
//! before anything is made of them. No I/O: the fuzz targets call these directly.

use std::time::Duration;

use super::failure::RequestError;
use super::words::shorten;
use crate::error::GraphError;

/// The largest answer body fbup reads; Graph's answers are a few hundred bytes.
pub(crate) const MAX_ANSWER: u64 = 1024 * 1024;

/// The longest session id accepted from a server or a caller.
pub(crate) const MAX_SESSION_ID: usize = 4096;

/// The longest handle accepted (video handles are several joined by `\n`).
pub(crate) const MAX_HANDLE: usize = 64 * 1024;

/// What an upload request achieved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UploadAnswer {
    /// The last byte arrived: the file handle.
    Handle(String),
    /// The bytes were accepted but the file is not complete; with the offset Graph
    /// holds now, when its answer says it.
    Accepted {
        /// `file_offset` of the answer, when it has a usable one.
        offset: Option<u64>,
    },
}

pub(super) fn protocol(http_status: u16, message: &str) -> RequestError {
    RequestError::Protocol {
        http_status,
        message: message.to_string(),
    }
}

/// Session ids come from a server or a caller and go into URLs: only the shapes that
/// cannot inject anything are accepted.
pub(crate) fn check_session_id(id: &str) -> Result<(), String> {
    if id.len() > MAX_SESSION_ID {
        return Err(format!(
            "session id is {} bytes, over the {MAX_SESSION_ID} limit",
            id.len()
        ));
    }
    if !id.starts_with("upload:") {
        return Err(format!(
            "session id '{}' does not start with 'upload:'",
            shorten(&id.escape_default().to_string())
        ));
    }
    if id.bytes().any(|b| {
        b.is_ascii_whitespace() || b.is_ascii_control() || b >= 0x80 || b == b'#' || b == b'\\'
    }) || id.contains("..")
    {
        return Err(format!(
            "session id '{}' holds characters a Graph id never has (space, control, '#', '\\', '..')",
            shorten(&id.escape_default().to_string())
        ));
    }
    Ok(())
}

/// `file_offset` as a number or as a numeric string (newer Graph answers).
pub(crate) fn parse_offset(json: &serde_json::Value) -> Result<u64, String> {
    match json.get("file_offset") {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("Graph's file_offset {n} is not a byte count")),
        Some(serde_json::Value::String(s)) => s
            .parse::<u64>()
            .map_err(|_| format!("Graph's file_offset '{}' is not a byte count", shorten(s))),
        Some(_) => Err("Graph's file_offset is neither a number nor a numeric string".into()),
        None => Err("Graph's answer to the offset request has no file_offset".into()),
    }
}

/// Parses a Graph error body; `None` when the body is not one.
pub(crate) fn parse_graph_error(json: &serde_json::Value) -> Option<GraphError> {
    let e = json.get("error")?.as_object()?;
    let text = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let int = |k: &str| match e.get(k) {
        Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    };
    Some(GraphError {
        message: text("message"),
        error_type: text("type"),
        code: int("code"),
        subcode: int("error_subcode"),
        fbtrace_id: text("fbtrace_id"),
        is_transient: e.get("is_transient").and_then(|v| v.as_bool()) == Some(true),
    })
}

/// The wait a server asks for, parsed from its headers: `Retry-After` (seconds) and the largest
/// `estimated_time_to_regain_access` (minutes) of `X-Business-Use-Case-Usage`.
pub(crate) fn server_wait_hint(
    retry_after: Option<&str>,
    buc_usage: Option<&str>,
) -> Option<Duration> {
    let retry_after = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let regain = buc_usage
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .and_then(|json| {
            json.as_object()?
                .values()
                .filter_map(|v| v.as_array())
                .flatten()
                .filter_map(|e| e.get("estimated_time_to_regain_access")?.as_u64())
                .max()
        })
        .filter(|m| *m > 0)
        .map(|m| Duration::from_secs(m.saturating_mul(60)));
    match (retry_after, regain) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Splits an answer that was read whole into success (a JSON object) and failure.
pub(crate) fn parse_answer(
    status: u16,
    wait_hint: Option<Duration>,
    text: &str,
) -> Result<(u16, serde_json::Value), RequestError> {
    if (300..400).contains(&status) {
        return Err(protocol(
            status,
            &format!(
                "Graph answered with a redirect (HTTP {status}); fbup does not follow \
                 redirects, check graph_url"
            ),
        ));
    }
    let json: Option<serde_json::Value> = serde_json::from_str(text).ok();
    if (200..300).contains(&status) {
        return match json {
            Some(j) if j.is_object() => Ok((status, j)),
            _ => Err(protocol(
                status,
                &format!("Graph's answer is not a JSON object: '{}'", shorten(text)),
            )),
        };
    }
    if let Some(error) = json.as_ref().and_then(parse_graph_error) {
        return Err(RequestError::Graph {
            http_status: status,
            error,
            wait_hint,
        });
    }
    Err(RequestError::Http {
        http_status: status,
        snippet: shorten(text.trim()),
        wait_hint,
    })
}

/// The session id in Graph's answer to step 1, checked before use.
pub(crate) fn parse_create_answer(
    status: u16,
    json: &serde_json::Value,
) -> Result<String, RequestError> {
    let id = json
        .get("id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| protocol(status, "Graph's answer to the session request has no id"))?;
    check_session_id(id).map_err(|m| protocol(status, &m))?;
    Ok(id.to_string())
}

/// What Graph's answer to step 2 says: the handle, or bytes accepted.
pub(crate) fn parse_upload_answer(
    status: u16,
    json: &serde_json::Value,
) -> Result<UploadAnswer, RequestError> {
    match json.get("h") {
        None => Ok(UploadAnswer::Accepted {
            offset: parse_offset(json).ok(),
        }),
        Some(h) => {
            let h = h
                .as_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| protocol(status, "Graph's handle 'h' is not a string"))?;
            // The CLI writes a handle's newlines as `\n` on one line, which can be
            // undone only if no backslash was there before.
            if h.contains('\\') {
                return Err(protocol(status, "Graph's handle holds a backslash"));
            }
            // A handle goes back to C as a NUL-terminated string and to a terminal as a
            // line: byte for byte, or not at all. Only the `\n` between parts passes.
            if h.chars().any(|c| c.is_control() && c != '\n') {
                return Err(protocol(
                    status,
                    "Graph's handle holds a control character (NUL, CR, TAB, ESC, ...)",
                ));
            }
            if h.len() > MAX_HANDLE {
                return Err(protocol(
                    status,
                    &format!(
                        "Graph's handle is {} bytes, over the {MAX_HANDLE} limit",
                        h.len()
                    ),
                ));
            }
            Ok(UploadAnswer::Handle(h.to_string()))
        }
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay as they are).
pub(crate) fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn handles_pass_through_but_never_hold_a_backslash() {
        let video = "4::a:b\n4::c:d";
        assert_eq!(
            parse_upload_answer(200, &json!({ "h": video })).unwrap(),
            UploadAnswer::Handle(video.into())
        );
        let e = parse_upload_answer(200, &json!({ "h": "4::a\\nb" })).unwrap_err();
        assert!(e.to_string().contains("backslash"), "{e}");
        for bad in [
            "4::good\u{0}evil",
            "4::a\rb",
            "4::a\tb",
            "4::\u{1b}[31m",
            "4::a\u{7f}",
        ] {
            let e = parse_upload_answer(200, &json!({ "h": bad })).unwrap_err();
            assert!(e.to_string().contains("control character"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn offsets_as_numbers_or_strings() {
        assert_eq!(parse_offset(&json!({"file_offset": 42})), Ok(42));
        assert_eq!(parse_offset(&json!({"file_offset": "42"})), Ok(42));
        assert!(parse_offset(&json!({"file_offset": "4x"})).is_err());
        assert!(parse_offset(&json!({"file_offset": -1})).is_err());
        assert!(parse_offset(&json!({"id": "upload:x"})).is_err());
    }

    #[test]
    fn graph_errors_parse_with_every_field() {
        let e = parse_graph_error(&json!({"error": {
            "message": "Invalid OAuth access token", "type": "OAuthException",
            "code": 190, "error_subcode": 463, "fbtrace_id": "Abc", "is_transient": false}}))
        .unwrap();
        assert_eq!((e.code, e.subcode), (190, 463));
        assert_eq!(e.error_type, "OAuthException");
        assert_eq!(e.fbtrace_id, "Abc");
        assert!(parse_graph_error(&json!({"h": "x"})).is_none());
        assert!(parse_graph_error(&json!({"error": "text"})).is_none());
    }

    #[test]
    fn session_ids_are_checked_before_use() {
        assert!(check_session_id("upload:MTphdHRh/x+y==?sig=ARZ_-").is_ok());
        for bad in [
            "uploads:x",
            "upload:a b",
            "upload:a\r\nX-Evil: 1",
            "upload:a#frag",
            "upload:../../me",
            "upload:a\\b",
        ] {
            assert!(check_session_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_session_id(&format!("upload:{}", "a".repeat(5000))).is_err());
    }

    #[test]
    fn wait_hints_from_retry_after_and_business_usage() {
        assert_eq!(
            server_wait_hint(Some("7"), None),
            Some(Duration::from_secs(7))
        );
        assert_eq!(server_wait_hint(Some("Wed, 21 Oct 2015"), None), None);
        let buc = r#"{"1234":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":2},
                              {"type":"ads","estimated_time_to_regain_access":0}]}"#;
        assert_eq!(
            server_wait_hint(None, Some(buc)),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            server_wait_hint(Some("500"), Some(buc)),
            Some(Duration::from_secs(500))
        );
        assert_eq!(server_wait_hint(None, Some("not json")), None);
    }
}
