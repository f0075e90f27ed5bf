//! The probe's experiments as a table: for each, what to ask, how to judge the answer,
//! and what the next ones learn from it.

use std::ops::Range;

use super::{Answer, Variant};
use crate::graph::{self, Graph, RequestError};

/// What the experiments know as they go.
pub(super) struct Ctx {
    /// The PNG's length.
    pub len: u64,
    /// Where the first part ends.
    half: u64,
    /// What Graph said it held between the parts.
    held: u64,
    /// A `file_offset` Graph does not hold.
    wrong: u64,
    /// What Graph held before the second part.
    now: u64,
    /// The bytes the cut request sent before it broke off.
    cut_after: u64,
    /// The session's URL, its id verbatim.
    pub url: String,
}

impl Ctx {
    pub fn new(len: u64, url: String) -> Ctx {
        Ctx {
            len,
            half: len / 2,
            held: len / 2,
            wrong: 1,
            now: len / 2,
            cut_after: len / 2,
            url,
        }
    }
}

/// One request of an experiment.
pub(super) struct Ask {
    /// What is sent, in words.
    pub words: String,
    pub method: &'static str,
    /// The session id percent-encoded in the URL.
    pub encoded: bool,
    pub file_offset: Option<u64>,
    /// The bytes of the PNG sent as the body.
    pub body: Range<usize>,
    /// The `Content-Length` announced, when more than the body: a cut on purpose.
    pub announced: Option<u64>,
}

impl Ask {
    fn get(words: &str) -> Ask {
        Ask {
            words: words.into(),
            method: "GET",
            encoded: false,
            file_offset: None,
            body: 0..0,
            announced: None,
        }
    }

    fn post(words: String, file_offset: u64, body: Range<u64>) -> Ask {
        Ask {
            words,
            method: "POST",
            encoded: false,
            file_offset: Some(file_offset),
            body: body.start as usize..body.end as usize,
            announced: None,
        }
    }
}

/// One row of the table.
pub(super) struct Experiment {
    pub name: &'static str,
    /// Asks Graph what the request needs to know first.
    pub prepare: fn(&mut Ctx, &Graph, &str),
    pub ask: fn(&Ctx) -> Ask,
    pub judge: fn(&Ctx, &Heard) -> (String, Answer),
    /// What the next experiments take from the answer.
    pub learn: fn(&mut Ctx, &Heard),
}

fn nothing_first(_: &mut Ctx, _: &Graph, _: &str) {}

fn nothing_learnt(_: &mut Ctx, _: &Heard) {}

fn documented(finding: String) -> (String, Answer) {
    (finding, Answer::Documented)
}

fn unknown(finding: String) -> (String, Answer) {
    (finding, Answer::Unknown)
}

/// The experiments, in the order they run.
pub(super) const EXPERIMENTS: [Experiment; 9] = [
    Experiment {
        name: "first-part",
        prepare: nothing_first,
        ask: |c| {
            let words = format!(
                "POST file_offset: 0 with the first {} of {} bytes",
                c.half, c.len
            );
            Ask::post(words, 0, 0..c.half)
        },
        judge: |_, h| match h.status {
            200..=299 if h.json.get("h").is_none() => documented(
                "a body shorter than the rest of the file is accepted, without a handle".into(),
            ),
            200..=299 => unknown("a handle came before the last byte".into()),
            _ => unknown("the first part was refused".into()),
        },
        learn: nothing_learnt,
    },
    Experiment {
        name: "offset-between-parts",
        prepare: nothing_first,
        ask: |_| Ask::get("GET the session"),
        judge: judge_offset_between,
        learn: |c, h| {
            c.held = graph::parse_offset(&h.json).unwrap_or(c.half);
            c.wrong = if c.held == 1 { 2 } else { 1 };
        },
    },
    Experiment {
        name: "wrong-offset",
        prepare: nothing_first,
        ask: |c| {
            let words = format!("POST file_offset: {} while Graph holds {}", c.wrong, c.held);
            Ask::post(words, c.wrong, c.wrong..c.len)
        },
        judge: judge_wrong_offset,
        learn: nothing_learnt,
    },
    Experiment {
        name: "second-part",
        // Where Graph stands now decides where the second part starts.
        prepare: |c, g, id| c.now = g.offset(id).unwrap_or(c.held).min(c.len),
        ask: |c| {
            let words = format!(
                "POST file_offset: {} with the last {} bytes",
                c.now,
                c.len - c.now
            );
            Ask::post(words, c.now, c.now..c.len)
        },
        judge: |_, h| match (h.status, h.json.get("h")) {
            (200..=299, Some(_)) => documented("the last byte brings the handle".into()),
            (200..=299, None) => unknown("the last byte brought no handle".into()),
            _ => unknown("the second part was refused".into()),
        },
        learn: nothing_learnt,
    },
    Experiment {
        name: "offset-after-completion",
        prepare: nothing_first,
        ask: |_| Ask::get("GET the complete session"),
        judge: |c, h| match graph::parse_offset(&h.json) {
            Ok(n) if n == c.len => documented(format!("file_offset is the file's length, {n}")),
            Ok(n) => unknown(format!(
                "file_offset is {n}, not the file's length {}",
                c.len
            )),
            Err(_) if h.status >= 400 => unknown("a complete session's offset is refused".into()),
            Err(why) => unknown(format!(
                "no usable file_offset for a complete session: {why}"
            )),
        },
        learn: nothing_learnt,
    },
    Experiment {
        name: "empty-post-after-completion",
        prepare: nothing_first,
        ask: |c| {
            let words = format!("POST file_offset: {} with an empty body", c.len);
            Ask::post(words, c.len, c.len..c.len)
        },
        judge: |_, h| {
            let variant = Answer::Variant(Variant::RefusesFinalEmptyPost);
            match (h.status, h.json.get("h")) {
                (200..=299, Some(_)) => {
                    documented("the handle is given again: a lost final answer is recovered".into())
                }
                (200..=299, None) => (
                    "answered without a handle: a lost final answer cannot be recovered".into(),
                    variant,
                ),
                _ => (
                    "refused: a lost final answer cannot be recovered".into(),
                    variant,
                ),
            }
        },
        learn: nothing_learnt,
    },
    Experiment {
        name: "percent-encoded-id",
        prepare: nothing_first,
        ask: |_| Ask {
            encoded: true,
            ..Ask::get("GET the session with its id percent-encoded")
        },
        judge: |_, h| match (h.status, h.code, h.subcode) {
            (400, 100, 33) => {
                documented("refused with code 100, subcode 33: ids must be used verbatim".into())
            }
            (200..=299, ..) => unknown("a percent-encoded id is accepted too".into()),
            (s, c, sc) => unknown(format!("refused with HTTP {s}, code {c}, subcode {sc}")),
        },
        learn: nothing_learnt,
    },
    Experiment {
        name: "cut-body",
        prepare: new_session,
        ask: |c| Ask {
            announced: Some(c.len),
            ..Ask::post(
                format!(
                    "in a new session, POST file_offset: 0 announcing {} bytes, cut after {}",
                    c.len, c.cut_after
                ),
                0,
                0..c.cut_after,
            )
        },
        judge: |_, h| match h.status {
            0 => documented("no answer to a request cut short, as expected".into()),
            s => unknown(format!("a request cut short was answered with HTTP {s}")),
        },
        learn: nothing_learnt,
    },
    Experiment {
        name: "offset-after-cut",
        // The server notices the cut on its own time.
        prepare: |_, _, _| std::thread::sleep(std::time::Duration::from_millis(250)),
        ask: |_| Ask::get("GET the session whose request was cut"),
        judge: |c, h| match graph::parse_offset(&h.json) {
            Ok(n) if n == c.cut_after => documented(format!(
                "file_offset is {n}: Graph keeps the bytes of a request cut short"
            )),
            Ok(0) => (
                "file_offset is 0: a request cut short commits nothing, only whole requests \
                 count"
                    .into(),
                Answer::Variant(Variant::WholeRequestsOnly),
            ),
            Ok(n) => unknown(format!(
                "file_offset is {n}, neither 0 nor the {} bytes sent",
                c.cut_after
            )),
            Err(why) => unknown(format!("no usable file_offset after a cut: {why}")),
        },
        learn: nothing_learnt,
    },
];

/// A second session, so that the cut experiments start from a clean one.
fn new_session(c: &mut Ctx, g: &Graph, _: &str) {
    if let Ok(id) = g.create("fbup-probe-cut.png", c.len, "image/png") {
        c.url = g.session_url(&id);
    }
}

fn judge_offset_between(c: &Ctx, h: &Heard) -> (String, Answer) {
    let half = c.half;
    match h.json.get("file_offset") {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(half) => {
            documented(format!("file_offset is the number {half}: what was sent"))
        }
        Some(serde_json::Value::String(s)) if s.parse::<u64>() == Ok(half) => (
            format!("file_offset is the string \"{half}\": what was sent"),
            Answer::Variant(Variant::OffsetAsString),
        ),
        Some(v) => unknown(format!(
            "file_offset is {v}, not the {half} bytes sent (a lagging read?)"
        )),
        None => unknown("no file_offset in the answer".into()),
    }
}

fn judge_wrong_offset(_: &Ctx, h: &Heard) -> (String, Answer) {
    match (h.status, h.code) {
        (200..=299, _) => {
            unknown("a wrong file_offset was accepted: Graph may now hold other bytes".into())
        }
        (_, 100) => documented("a wrong file_offset is refused with code 100".into()),
        (_, 0) => unknown(format!(
            "a wrong file_offset is refused with HTTP {} and no Graph error",
            h.status
        )),
        (_, code) => (
            format!(
                "a wrong file_offset is refused with code {code}, subcode {}",
                h.subcode
            ),
            Answer::Variant(Variant::OffsetMismatchCode {
                code,
                subcode: h.subcode,
            }),
        ),
    }
}

/// An answer as the probe keeps it.
pub(super) struct Heard {
    pub status: u16,
    pub code: i64,
    pub subcode: i64,
    pub error_type: String,
    json: serde_json::Value,
    pub shape: String,
}

impl Heard {
    /// The answer (or its absence), its shape told through `redact`.
    pub fn from(
        answer: Result<(u16, String), RequestError>,
        redact: &dyn Fn(String) -> String,
    ) -> Heard {
        let (status, text) = match answer {
            Ok(a) => a,
            Err(e) => {
                return Heard {
                    status: 0,
                    code: 0,
                    subcode: 0,
                    error_type: String::new(),
                    json: serde_json::Value::Null,
                    shape: format!("no answer: {}", redact(e.to_string())),
                }
            }
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let error = graph::parse_graph_error(&json);
        let shape = if json.is_null() {
            format!("not JSON: {} bytes", text.len())
        } else {
            redact(elide(&json).to_string())
        };
        Heard {
            status,
            code: error.as_ref().map_or(0, |e| e.code),
            subcode: error.as_ref().map_or(0, |e| e.subcode),
            error_type: error.map(|e| redact(e.error_type)).unwrap_or_default(),
            json,
            shape,
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_wrong_offset_refusal_names_its_variant() {
        let ctx = Ctx::new(340, String::new());
        let heard = |status, code, subcode| Heard {
            status,
            code,
            subcode,
            error_type: String::new(),
            json: serde_json::Value::Null,
            shape: String::new(),
        };
        assert_eq!(
            judge_wrong_offset(&ctx, &heard(400, 100, 0)).1,
            Answer::Documented
        );
        assert_eq!(
            judge_wrong_offset(&ctx, &heard(400, 6001, 1363037)).1,
            Answer::Variant(Variant::OffsetMismatchCode {
                code: 6001,
                subcode: 1363037
            })
        );
        assert_eq!(
            judge_wrong_offset(&ctx, &heard(200, 0, 0)).1,
            Answer::Unknown
        );
    }
}
