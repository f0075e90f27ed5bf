//! Settles what Meta leaves undocumented against a real Graph: a few experiments on a
//! tiny generated PNG, each recording what Graph answered and which emulator option
//! answers the same way.

use crate::config::Config;
use crate::error::Error;
use crate::graph::{self, Graph, RequestError};

/// One experiment of [`probe`]: what was asked and what Graph answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Experiment {
    /// A short name, e.g. `wrong-offset`.
    pub name: &'static str,
    /// What was sent, in words (method, `file_offset`, body bytes).
    pub request: String,
    /// The answer's HTTP status; 0 when no answer came.
    pub http_status: u16,
    /// Graph's `error.code`, 0 when none.
    pub code: i64,
    /// Graph's `error.error_subcode`, 0 when none.
    pub subcode: i64,
    /// Graph's `error.type`, empty when none.
    pub error_type: String,
    /// The answer's body with ids, handles and trace ids elided (or why none came).
    pub shape: String,
    /// What the answer settles, in words.
    pub finding: String,
    /// The emulator option that answers the same way; empty when its default does,
    /// `None` when no option does (worth reporting).
    pub emulator: Option<String>,
}

/// What [`probe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeReport {
    /// The PNG's length in bytes.
    pub file_length: u64,
    /// The experiments, in the order they ran.
    pub experiments: Vec<Experiment>,
    /// The `fbup emulate` options that make the emulator answer as this Graph did.
    pub emulator_args: Vec<String>,
    /// True when some answer has no emulator option that reproduces it.
    pub unmatched: bool,
}

/// Runs the recovery experiments against the Graph of `config` (its token, app id and
/// URL) on a tiny generated PNG: an upload in two parts with an offset request between
/// them, a deliberately wrong `file_offset`, an offset request and the empty POST at
/// `file_length` after completion, and an offset request with the session id
/// percent-encoded. Fails only when no session can be created.
pub fn probe(config: &Config) -> Result<ProbeReport, Error> {
    config.validate()?;
    let trace = config.trace();
    let agent = graph::new_agent(&graph::agent_config(config)?, &trace);
    let graph = Graph::new(config, agent, trace);
    let png = tiny_png();
    let len = png.len() as u64;
    let half = len / 2;
    let id = graph
        .create(&config.app_id, "fbup-probe.png", len, "image/png")
        .map_err(|e| {
            Error::new(
                crate::error::Status::Graph,
                format!("cannot create a session to probe with: {e}"),
            )
        })?;
    let encoded_id = graph::encode_query_value(&id);
    // A server may echo the token in an error message: the report never shows it.
    let token = config.access_token.as_str();
    let redact = |s: &str| {
        let s = s
            .replace(id.as_str(), "<session id>")
            .replace(encoded_id.as_str(), "<session id, percent-encoded>");
        if token.len() >= 8 {
            s.replace(token, "<token>")
        } else {
            s
        }
    };
    let mut report = ProbeReport {
        file_length: len,
        experiments: Vec::new(),
        emulator_args: Vec::new(),
        unmatched: false,
    };
    let mut run = |name: &'static str,
                   request: String,
                   answer: Result<(u16, String), RequestError>,
                   judge: &dyn Fn(&Heard) -> (String, Option<String>)| {
        let heard = Heard::from(answer, &redact);
        let (finding, emulator) = judge(&heard);
        let exp = Experiment {
            name,
            request,
            http_status: heard.status,
            code: heard.code,
            subcode: heard.subcode,
            error_type: heard.error_type.clone(),
            shape: heard.shape.clone(),
            finding,
            emulator,
        };
        report.experiments.push(exp);
        heard
    };
    let url = graph.session_url(&id);

    run(
        "first-part",
        format!("POST file_offset: 0 with the first {half} of {len} bytes"),
        graph.raw("POST", &url, Some(0), &png[..half as usize]),
        &|h| match h.status {
            200..=299 if h.json.get("h").is_none() => (
                "a body shorter than the rest of the file is accepted, without a handle".into(),
                Some(String::new()),
            ),
            200..=299 => ("a handle came before the last byte".into(), None),
            _ => ("the first part was refused".into(), None),
        },
    );
    let between = run(
        "offset-between-parts",
        "GET the session".into(),
        graph.raw("GET", &url, None, &[]),
        &|h| match h.json.get("file_offset") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(half) => (
                format!("file_offset is the number {half}: what was sent"),
                Some(String::new()),
            ),
            Some(serde_json::Value::String(s)) if s.parse::<u64>() == Ok(half) => (
                format!("file_offset is the string \"{half}\": what was sent"),
                Some("--offset-as-string".into()),
            ),
            Some(v) => (
                format!("file_offset is {v}, not the {half} bytes sent (a lagging read?)"),
                None,
            ),
            None => ("no file_offset in the answer".into(), None),
        },
    );
    let held = graph::parse_offset(&between.json).unwrap_or(half);
    let wrong = if held == 1 { 2 } else { 1 };
    run(
        "wrong-offset",
        format!("POST file_offset: {wrong} while Graph holds {held}"),
        graph.raw("POST", &url, Some(wrong), &png[wrong as usize..]),
        &|h| match (h.status, h.code) {
            (200..=299, _) => (
                "a wrong file_offset was accepted: Graph may now hold other bytes".into(),
                None,
            ),
            (_, 100) => (
                "a wrong file_offset is refused with code 100".into(),
                Some(String::new()),
            ),
            (_, 0) => (
                format!(
                    "a wrong file_offset is refused with HTTP {} and no Graph error",
                    h.status
                ),
                None,
            ),
            (_, code) => (
                format!(
                    "a wrong file_offset is refused with code {code}, subcode {}",
                    h.subcode
                ),
                Some(if h.subcode != 0 {
                    format!("--offset-mismatch-code {code},{}", h.subcode)
                } else {
                    format!("--offset-mismatch-code {code}")
                }),
            ),
        },
    );
    // Where Graph stands now decides where the second part starts.
    let now = graph.offset(&id).unwrap_or(held).min(len);
    run(
        "second-part",
        format!("POST file_offset: {now} with the last {} bytes", len - now),
        graph.raw("POST", &url, Some(now), &png[now as usize..]),
        &|h| match (h.status, h.json.get("h")) {
            (200..=299, Some(_)) => (
                "the last byte brings the handle".into(),
                Some(String::new()),
            ),
            (200..=299, None) => ("the last byte brought no handle".into(), None),
            _ => ("the second part was refused".into(), None),
        },
    );
    run(
        "offset-after-completion",
        "GET the complete session".into(),
        graph.raw("GET", &url, None, &[]),
        &|h| match graph::parse_offset(&h.json) {
            Ok(n) if n == len => (
                format!("file_offset is the file's length, {len}"),
                Some(String::new()),
            ),
            Ok(n) => (
                format!("file_offset is {n}, not the file's length {len}"),
                None,
            ),
            Err(_) if h.status >= 400 => ("a complete session's offset is refused".into(), None),
            Err(why) => (
                format!("no usable file_offset for a complete session: {why}"),
                None,
            ),
        },
    );
    run(
        "empty-post-after-completion",
        format!("POST file_offset: {len} with an empty body"),
        graph.raw("POST", &url, Some(len), &[]),
        &|h| match (h.status, h.json.get("h")) {
            (200..=299, Some(_)) => (
                "the handle is given again: a lost final answer is recovered".into(),
                Some(String::new()),
            ),
            (200..=299, None) => (
                "answered without a handle: a lost final answer cannot be recovered".into(),
                Some("--refuse-final-empty-post".into()),
            ),
            _ => (
                "refused: a lost final answer cannot be recovered".into(),
                Some("--refuse-final-empty-post".into()),
            ),
        },
    );
    let encoded = format!("{}/{encoded_id}", graph.base());
    run(
        "percent-encoded-id",
        "GET the session with its id percent-encoded".into(),
        graph.raw("GET", &encoded, None, &[]),
        &|h| match (h.status, h.code, h.subcode) {
            (400, 100, 33) => (
                "refused with code 100, subcode 33: ids must be used verbatim".into(),
                Some(String::new()),
            ),
            (200..=299, ..) => ("a percent-encoded id is accepted too".into(), None),
            (s, c, sc) => (
                format!("refused with HTTP {s}, code {c}, subcode {sc}"),
                None,
            ),
        },
    );
    for e in &report.experiments {
        match &e.emulator {
            Some(opt) if !opt.is_empty() => {
                for word in opt.split(' ') {
                    report.emulator_args.push(word.to_string());
                }
            }
            Some(_) => {}
            None => report.unmatched = true,
        }
    }
    Ok(report)
}

/// An answer as the probe keeps it.
struct Heard {
    status: u16,
    code: i64,
    subcode: i64,
    error_type: String,
    json: serde_json::Value,
    shape: String,
}

impl Heard {
    fn from(answer: Result<(u16, String), RequestError>, redact: &dyn Fn(&str) -> String) -> Heard {
        match answer {
            Ok((status, text)) => {
                let json: serde_json::Value =
                    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
                let error = graph::parse_graph_error(&json);
                let shape = if json.is_null() {
                    format!("not JSON: {} bytes", text.len())
                } else {
                    redact(&elide(&json).to_string())
                };
                Heard {
                    status,
                    code: error.as_ref().map_or(0, |e| e.code),
                    subcode: error.as_ref().map_or(0, |e| e.subcode),
                    error_type: error.map(|e| e.error_type).unwrap_or_default(),
                    json,
                    shape,
                }
            }
            Err(e) => Heard {
                status: 0,
                code: 0,
                subcode: 0,
                error_type: String::new(),
                json: serde_json::Value::Null,
                shape: format!("no answer: {}", redact(&e.to_string())),
            },
        }
    }
}

/// The body with what identifies a session or a file left out: ids, handles, trace ids.
fn elide(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("id", Value::String(_)) => Value::String("<session id>".into()),
                        ("h", Value::String(h)) => {
                            Value::String(format!("<handle: {} part(s)>", h.split('\n').count()))
                        }
                        ("fbtrace_id", Value::String(_)) => Value::String("<fbtrace_id>".into()),
                        _ => elide(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(elide).collect()),
        other => other.clone(),
    }
}

/// A 16 x 16 grey gradient as a PNG (stored deflate blocks, no compression library).
pub(crate) fn tiny_png() -> Vec<u8> {
    const SIDE: usize = 16;
    let mut raw = Vec::with_capacity(SIDE * (SIDE + 1));
    for y in 0..SIDE {
        raw.push(0); // filter: none
        raw.extend((0..SIDE).map(|x| ((x + y) * 8) as u8));
    }
    // zlib: header, one stored block, Adler-32.
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend((raw.len() as u16).to_le_bytes());
    z.extend((!(raw.len() as u16)).to_le_bytes());
    z.extend(&raw);
    z.extend(adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend((SIDE as u32).to_be_bytes());
    ihdr.extend((SIDE as u32).to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit greyscale
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &z[..]), (b"IEND", &[][..])] {
        png.extend((data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend(kind);
        png.extend(data);
        let crc = crc32(&png[start..]);
        png.extend(crc.to_be_bytes());
    }
    png
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + byte as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_is_well_formed() {
        let png = tiny_png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert!(png.ends_with(&[0xAE, 0x42, 0x60, 0x82]), "IEND's CRC");
        // Known values: CRC-32 of "123456789" and Adler-32 of "Wikipedia".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn ids_handles_and_trace_ids_are_elided() {
        let v = serde_json::json!({"id": "upload:abc?sig=x", "h": "4::a\n4::b",
            "error": {"fbtrace_id": "Axyz", "code": 100}});
        let s = elide(&v).to_string();
        assert!(
            !s.contains("abc") && !s.contains("Axyz") && !s.contains("4::a"),
            "{s}"
        );
        assert!(s.contains("<handle: 2 part(s)>"), "{s}");
    }
}
