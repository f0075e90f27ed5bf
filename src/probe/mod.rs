//! Settles what Meta leaves undocumented against a real Graph (feature `probe`): a
//! table of experiments on a tiny PNG, each recording what Graph answered and whether
//! that is the documented behaviour, a known variant, or something new. Which
//! emulator options reproduce a variant is the command line's business, not this.

mod experiments;

use crate::config::Config;
use crate::error::{Error, Status, Step};
use crate::graph::{self, RequestError};
use crate::plan::Plan;

use experiments::{Ctx, Heard, EXPERIMENTS};

/// The PNG the probe uploads: a 16 x 16 grey gradient, 340 bytes (stored deflate).
const PNG: &[u8] = include_bytes!("probe.png");

/// How an answer compares with what fbup expects of Graph.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// What the documentation (and fbup's emulator, by default) says.
    Documented,
    /// A known variant that fbup handles.
    Variant(Variant),
    /// Something no known variant covers: worth reporting.
    Unknown,
}

/// The variants of Graph's behaviour fbup knows of and handles.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Variant {
    /// `file_offset` comes as a numeric string.
    OffsetAsString,
    /// A wrong `file_offset` is refused with this code and subcode (0: none).
    OffsetMismatchCode {
        /// `error.code`.
        code: i64,
        /// `error.error_subcode`, 0 when absent.
        subcode: i64,
    },
    /// The empty POST at `file_length` after completion gives no handle.
    RefusesFinalEmptyPost,
    /// A request cut short commits none of its bytes: only whole requests count.
    WholeRequestsOnly,
}

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
    /// How the answer compares with the documented behaviour.
    pub answer: Answer,
}

/// What [`probe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeReport {
    /// The PNG's length in bytes.
    pub file_length: u64,
    /// The experiments, in the order they ran.
    pub experiments: Vec<Experiment>,
}

impl ProbeReport {
    /// The variants this Graph showed, in the order of the experiments.
    pub fn variants(&self) -> Vec<Variant> {
        self.experiments
            .iter()
            .filter_map(|e| match &e.answer {
                Answer::Variant(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    /// True when some answer matches neither the documentation nor a known variant.
    pub fn unmatched(&self) -> bool {
        self.experiments.iter().any(|e| e.answer == Answer::Unknown)
    }
}

/// Runs the recovery experiments against the Graph of `config` (its token, app id and
/// URL) on a tiny PNG: an upload in two parts with an offset request between them, a
/// deliberately wrong `file_offset`, an offset request and the empty POST at
/// `file_length` after completion, an offset request with the session id
/// percent-encoded, and, in a second session, a body cut short on purpose followed by
/// an offset request (does Graph keep the bytes of a cut request?). Fails only when no
/// session can be created.
pub fn probe(config: &Config) -> Result<ProbeReport, Error> {
    let plan = Plan::resolve(config)?;
    let graph = plan.graph(plan.agent());
    let len = PNG.len() as u64;
    let id = graph
        .create("fbup-probe.png", len, "image/png")
        .map_err(|e| {
            let e = Error::new(
                Status::Graph,
                format!("cannot create a session to probe with: {e}"),
            );
            plan.scrub(e.at(Step::Create))
        })?;
    let mut ctx = Ctx::new(len, graph.session_url(&id));
    let encoded_url = graph.session_url(&graph::encode_query_value(&id));
    // A server may echo the token in an error message: the report never shows it.
    let redact = |s: String| {
        let s = s.replace(id.as_str(), "<session id>").replace(
            &graph::encode_query_value(&id),
            "<session id, percent-encoded>",
        );
        plan.token.redact(s)
    };
    let mut report = ProbeReport {
        file_length: len,
        experiments: Vec::new(),
    };
    for x in EXPERIMENTS {
        (x.prepare)(&mut ctx, &graph, &id);
        let ask = (x.ask)(&ctx);
        let url = if ask.encoded { &encoded_url } else { &ctx.url };
        let answer: Result<(u16, String), RequestError> = graph.raw(
            ask.method,
            url,
            ask.file_offset,
            &PNG[ask.body],
            ask.announced,
        );
        let heard = Heard::from(answer, &redact);
        let (finding, answer) = (x.judge)(&ctx, &heard);
        (x.learn)(&mut ctx, &heard);
        report.experiments.push(Experiment {
            name: x.name,
            request: ask.words,
            http_status: heard.status,
            code: heard.code,
            subcode: heard.subcode,
            error_type: heard.error_type.clone(),
            shape: heard.shape.clone(),
            finding,
            answer,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_is_the_one_the_probe_describes() {
        assert_eq!(PNG.len(), 340);
        assert_eq!(&PNG[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&PNG[12..16], b"IHDR");
        assert_eq!(&PNG[16..24], [0, 0, 0, 16, 0, 0, 0, 16], "16 x 16");
        assert!(PNG.ends_with(&[0xAE, 0x42, 0x60, 0x82]), "IEND's CRC");
    }
}
