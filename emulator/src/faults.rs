//! Fault injection: what the emulator does instead of behaving, and when.
//!
//! Faults are deterministic. A [`FaultRule`] fires on the next matching requests
//! (optionally only for one session); [`RandomFaults`] draws from a seeded generator
//! for every upload request, so a failing schedule replays from its seed.

use std::fmt;
use std::str::FromStr;

/// The three kinds of request the Resumable Upload API knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// Step 1: `POST /{version}/{app-id}/uploads`.
    Create,
    /// Step 2: `POST /{version}/{session-id}` with the file's bytes.
    Upload,
    /// Step 3: `GET /{version}/{session-id}`.
    Offset,
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestKind::Create => "create",
            RequestKind::Upload => "upload",
            RequestKind::Offset => "offset",
        })
    }
}

/// What to do after a stall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterStall {
    /// Read the rest of the body and answer as usual.
    Continue,
    /// Close the connection without an answer (what arrived before is kept).
    Close,
}

/// A Graph error body to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorSpec {
    /// `error.message`.
    pub message: String,
    /// `error.type`, e.g. `OAuthException`.
    pub error_type: String,
    /// `error.code`.
    pub code: i64,
    /// `error.error_subcode`, left out when `None`.
    pub subcode: Option<i64>,
    /// `error.is_transient`.
    pub is_transient: bool,
}

/// One misbehaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection after this many more body bytes (they are kept).
    Cut {
        /// Body bytes of this request to accept before closing.
        after_bytes: u64,
    },
    /// Close the connection when the session's offset reaches this file offset.
    CutAt {
        /// Absolute offset in the file.
        offset: u64,
    },
    /// Stop reading after `after_bytes` body bytes for `millis`, then go on or close.
    Stall {
        /// Body bytes to accept before the stall.
        after_bytes: u64,
        /// How long to stop reading.
        millis: u64,
        /// What happens when the stall ends.
        then: AfterStall,
    },
    /// Answer with this HTTP status (and Graph error, if any) instead of doing the work.
    /// An upload's body is read and thrown away first, so the client sees the answer.
    Respond {
        /// The HTTP status code.
        status: u16,
        /// The Graph error object; `None` sends an empty body.
        error: Option<ErrorSpec>,
        /// Extra response headers, e.g. `Retry-After` or `X-App-Usage`.
        headers: Vec<(String, String)>,
    },
    /// Answer with this HTTP status (and Graph error, if any) at once, without reading
    /// the body, as a front end does; the connection is closed after the answer. A
    /// client still sending may see a reset instead of the answer.
    Reject {
        /// The HTTP status code.
        status: u16,
        /// The Graph error object; `None` sends an empty body.
        error: Option<ErrorSpec>,
        /// Extra response headers.
        headers: Vec<(String, String)>,
    },
    /// Answer an offset request (step 3) with this offset instead of the truth: a
    /// server that lost data, or that another writer fed.
    ReportOffset {
        /// The offset to report.
        offset: u64,
    },
    /// Close the connection once the request has lasted this long, as a load
    /// balancer's time limit per request does (what arrived before is kept, unless the
    /// emulator keeps only whole requests). Other requests than step 2 are cut at once.
    CutAfterMillis {
        /// How long a request may last.
        millis: u64,
    },
    /// Do the work (commit every byte), then close the connection without answering.
    LoseResponse,
    /// Do the work, then wait this long before answering (an answer that comes after
    /// the client's timeout).
    LateAnswer {
        /// How long to wait before the answer.
        millis: u64,
    },
}

impl Fault {
    /// A 500 with Graph code 2 and `is_transient: true`.
    pub fn transient_500() -> Fault {
        Fault::Respond {
            status: 500,
            error: Some(ErrorSpec {
                message: "An unexpected error has occurred. Please retry your request later."
                    .into(),
                error_type: "OAuthException".into(),
                code: 2,
                subcode: None,
                is_transient: true,
            }),
            headers: Vec::new(),
        }
    }

    /// A 400 with Graph code 4 (application request limit) and an `X-App-Usage` header.
    pub fn throttled() -> Fault {
        Fault::Respond {
            status: 400,
            error: Some(ErrorSpec {
                message: "(#4) Application request limit reached".into(),
                error_type: "OAuthException".into(),
                code: 4,
                subcode: None,
                is_transient: true,
            }),
            headers: vec![(
                "X-App-Usage".into(),
                r#"{"call_count":100,"total_cputime":25,"total_time":25}"#.into(),
            )],
        }
    }

    /// A 400 with Graph code 613 (calls within one hour exceeded) and `Retry-After`.
    pub fn throttled_retry_after(secs: u64) -> Fault {
        Fault::Respond {
            status: 400,
            error: Some(ErrorSpec {
                message: "(#613) Calls to this api have exceeded the rate limit.".into(),
                error_type: "OAuthException".into(),
                code: 613,
                subcode: None,
                is_transient: true,
            }),
            headers: vec![("Retry-After".into(), secs.to_string())],
        }
    }

    /// A 503 with an empty body, as a load balancer sends it.
    pub fn unavailable_503() -> Fault {
        Fault::Respond {
            status: 503,
            error: None,
            headers: Vec::new(),
        }
    }

    /// A short name of the fault's kind: `cut`, `stall` (then close),
    /// `stall-continue`, `cut-after-time`, `respond`, `reject`, `retry-after` (an answer,
    /// read or not, that carries `Retry-After`), `report-offset`, `lose-response` or
    /// `late-answer`.
    pub fn name(&self) -> &'static str {
        let asks_to_wait =
            |h: &[(String, String)]| h.iter().any(|(n, _)| n.eq_ignore_ascii_case("retry-after"));
        match self {
            Fault::Cut { .. } | Fault::CutAt { .. } => "cut",
            Fault::CutAfterMillis { .. } => "cut-after-time",
            Fault::Stall {
                then: AfterStall::Close,
                ..
            } => "stall",
            Fault::Stall { .. } => "stall-continue",
            Fault::Respond { headers, .. } | Fault::Reject { headers, .. }
                if asks_to_wait(headers) =>
            {
                "retry-after"
            }
            Fault::Respond { .. } => "respond",
            Fault::Reject { .. } => "reject",
            Fault::ReportOffset { .. } => "report-offset",
            Fault::LoseResponse => "lose-response",
            Fault::LateAnswer { .. } => "late-answer",
        }
    }

    /// The same answer given at once, without reading the body (see [`Fault::Reject`]).
    /// Other faults are returned as they are.
    pub fn early(self) -> Fault {
        match self {
            Fault::Respond {
                status,
                error,
                headers,
            } => Fault::Reject {
                status,
                error,
                headers,
            },
            other => other,
        }
    }
}

/// A fault and the requests it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// Which kind of request triggers it.
    pub kind: RequestKind,
    /// What happens.
    pub fault: Fault,
    /// How many matching requests it fires on; `None` means every one.
    pub times: Option<u32>,
    /// Only requests on this session id (the full id, `?sig=` included).
    pub session: Option<String>,
}

impl FaultRule {
    /// A rule that fires once on the next request of `kind`.
    pub fn once(kind: RequestKind, fault: Fault) -> FaultRule {
        FaultRule {
            kind,
            fault,
            times: Some(1),
            session: None,
        }
    }

    /// A rule that fires on every request of `kind` until cleared.
    pub fn always(kind: RequestKind, fault: Fault) -> FaultRule {
        FaultRule {
            times: None,
            ..FaultRule::once(kind, fault)
        }
    }
}

/// The error of a fault specification that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FaultSpecError(pub String);

impl FromStr for FaultRule {
    type Err = FaultSpecError;

    /// Parses the command line form `KIND,KEY[=VALUE],...`, for example
    /// `upload,cut-after=1048576`, `upload,times=3,status=500,code=2,transient`,
    /// `upload,stall=5000,after=65536,then=close`, `upload,lose-response`,
    /// `offset,status=503`, `upload,cut-at=4000000`.
    fn from_str(spec: &str) -> Result<FaultRule, FaultSpecError> {
        let err = |m: String| FaultSpecError(format!("fault '{spec}': {m}"));
        let mut parts = spec.split(',');
        let kind = match parts.next().unwrap_or("") {
            "create" => RequestKind::Create,
            "upload" => RequestKind::Upload,
            "offset" => RequestKind::Offset,
            other => {
                return Err(err(format!(
                    "starts with '{other}'; use create, upload or offset"
                )))
            }
        };
        let mut keys = SpecKeys {
            times: Some(1),
            ..SpecKeys::default()
        };
        for part in parts {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (part, None),
            };
            keys.set(key, value).map_err(err)?;
        }
        let (times, session) = (keys.times, keys.session.clone());
        let fault = keys.into_fault().ok_or_else(|| {
            err(
                "names no fault; use cut-after, cut-at, stall, status, report-offset or \
                 lose-response"
                    .into(),
            )
        })?;
        Ok(FaultRule {
            kind,
            fault,
            times,
            session,
        })
    }
}

/// The keys of a fault specification, as they are read.
#[derive(Default)]
struct SpecKeys {
    times: Option<u32>,
    session: Option<String>,
    fault: Option<Fault>,
    after: u64,
    then_continue: bool,
    stall_ms: Option<u64>,
    status: Option<u16>,
    code: Option<i64>,
    subcode: Option<i64>,
    transient: bool,
    error_type: Option<String>,
    message: Option<String>,
    headers: Vec<(String, String)>,
    reject: bool,
}

impl SpecKeys {
    /// Takes one `KEY[=VALUE]`; the error says what is wrong with it.
    fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), String> {
        let num = || -> Result<u64, String> {
            value
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{key} needs a whole number"))
        };
        match key {
            "times" => {
                self.times = match value {
                    Some("always") => None,
                    _ => Some(num()? as u32),
                }
            }
            "session" => self.session = value.map(str::to_string),
            "cut-after" => {
                self.fault = Some(Fault::Cut {
                    after_bytes: num()?,
                })
            }
            "cut-at" => self.fault = Some(Fault::CutAt { offset: num()? }),
            "cut-after-ms" => self.fault = Some(Fault::CutAfterMillis { millis: num()? }),
            "stall" => self.stall_ms = Some(num()?),
            "after" => self.after = num()?,
            "then" => {
                self.then_continue = match value {
                    Some("close") => false,
                    Some("continue") => true,
                    _ => return Err("then takes close or continue".into()),
                }
            }
            "lose-response" => self.fault = Some(Fault::LoseResponse),
            "late" => self.fault = Some(Fault::LateAnswer { millis: num()? }),
            "reject" => self.reject = true,
            "report-offset" => self.fault = Some(Fault::ReportOffset { offset: num()? }),
            "status" => self.status = Some(num()? as u16),
            "code" => self.code = Some(num()? as i64),
            "subcode" => self.subcode = Some(num()? as i64),
            "transient" => self.transient = true,
            "type" => self.error_type = value.map(str::to_string),
            "message" => self.message = value.map(str::to_string),
            "header" => {
                let (n, v) = value
                    .and_then(|v| v.split_once(':'))
                    .ok_or_else(|| "header takes Name:Value".to_string())?;
                self.headers
                    .push((n.trim().to_string(), v.trim().to_string()));
            }
            other => return Err(format!("unknown key '{other}'")),
        }
        Ok(())
    }

    /// The fault the keys name: an answer (`status`) wins over a stall, and a stall
    /// over the last plain fault named, as they always have.
    fn into_fault(self) -> Option<Fault> {
        let Some(status) = self.status else {
            return match self.stall_ms {
                Some(millis) => Some(Fault::Stall {
                    after_bytes: self.after,
                    millis,
                    then: if self.then_continue {
                        AfterStall::Continue
                    } else {
                        AfterStall::Close
                    },
                }),
                None => self.fault,
            };
        };
        let error = self.code.map(|code| ErrorSpec {
            message: self
                .message
                .unwrap_or_else(|| format!("(#{code}) Injected by the emulator")),
            error_type: self.error_type.unwrap_or_else(|| "OAuthException".into()),
            code,
            subcode: self.subcode,
            is_transient: self.transient,
        });
        let respond = Fault::Respond {
            status,
            error,
            headers: self.headers,
        };
        Some(if self.reject {
            respond.early()
        } else {
            respond
        })
    }
}

/// Random faults on every request, drawn from a seeded generator.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomFaults {
    /// The seed: the same seed and the same request order give the same faults.
    pub seed: u64,
    /// The chance, from 0.0 to 1.0, that a request meets a fault.
    pub rate: f64,
    /// How long a random stall lasts (it then closes the connection), and how late a
    /// late answer comes; a stall that goes on lasts a tenth of it.
    pub stall_ms: u64,
}

/// SplitMix64: small, fast and good enough to schedule faults reproducibly.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub(crate) fn chance(&mut self, rate: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < rate
    }
}

impl RandomFaults {
    /// Draws the fault for a request of `kind` whose body is `body_len` bytes long.
    pub(crate) fn draw(&self, kind: RequestKind, rng: &mut Rng, body_len: u64) -> Option<Fault> {
        if !rng.chance(self.rate) {
            return None;
        }
        if kind != RequestKind::Upload {
            return Some(match rng.below(4) {
                0 => Fault::transient_500(),
                1 => Fault::unavailable_503(),
                2 => Fault::throttled_retry_after(1),
                _ => Fault::LateAnswer {
                    millis: self.stall_ms,
                },
            });
        }
        Some(match rng.below(10) {
            0 | 1 => Fault::Cut {
                after_bytes: rng.below(body_len.max(1)),
            },
            2 => Fault::Stall {
                after_bytes: rng.below(body_len.max(1)),
                millis: self.stall_ms,
                then: AfterStall::Close,
            },
            3 => Fault::Stall {
                after_bytes: rng.below(body_len.max(1)),
                millis: self.stall_ms / 10,
                then: AfterStall::Continue,
            },
            // Front ends answer errors before reading bodies.
            4 => match rng.below(2) {
                0 => Fault::transient_500().early(),
                _ => Fault::unavailable_503().early(),
            },
            5 => Fault::throttled().early(),
            6 => Fault::throttled_retry_after(1).early(),
            7 => Fault::LateAnswer {
                millis: self.stall_ms,
            },
            _ => Fault::LoseResponse,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cut_and_respond_specs() {
        let r: FaultRule = "upload,cut-after=100".parse().unwrap();
        assert_eq!(r.kind, RequestKind::Upload);
        assert_eq!(r.fault, Fault::Cut { after_bytes: 100 });
        assert_eq!(r.times, Some(1));

        let r: FaultRule = "offset,times=3,status=500,code=2,transient"
            .parse()
            .unwrap();
        assert_eq!(r.times, Some(3));
        match r.fault {
            Fault::Respond { status, error, .. } => {
                assert_eq!(status, 500);
                let e = error.unwrap();
                assert_eq!((e.code, e.is_transient), (2, true));
            }
            f => panic!("unexpected {f:?}"),
        }
        let r: FaultRule = "upload,stall=50,after=10,then=continue,times=always"
            .parse()
            .unwrap();
        assert_eq!(r.times, None);
        assert_eq!(
            r.fault,
            Fault::Stall {
                after_bytes: 10,
                millis: 50,
                then: AfterStall::Continue
            }
        );
    }

    #[test]
    fn parses_reject_and_report_offset() {
        let r: FaultRule = "upload,status=503,reject".parse().unwrap();
        assert!(matches!(r.fault, Fault::Reject { status: 503, .. }));
        let r: FaultRule = "offset,report-offset=7".parse().unwrap();
        assert_eq!(r.fault, Fault::ReportOffset { offset: 7 });
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        for bad in [
            "download,cut-after=1",
            "upload",
            "upload,cut-after=x",
            "upload,bogus",
        ] {
            let e = bad.parse::<FaultRule>().unwrap_err();
            assert!(e.0.contains(bad), "{e}");
        }
    }

    #[test]
    fn random_schedule_replays_from_its_seed() {
        let rf = RandomFaults {
            seed: 42,
            rate: 0.5,
            stall_ms: 10,
        };
        let draw = || {
            let mut rng = Rng::new(rf.seed);
            (0..50)
                .map(|_| rf.draw(RequestKind::Upload, &mut rng, 1000))
                .collect::<Vec<_>>()
        };
        let a = draw();
        assert_eq!(a, draw());
        let hits = a.iter().filter(|f| f.is_some()).count();
        assert!((10..40).contains(&hits), "{hits} faults of 50 at rate 0.5");
    }
}
