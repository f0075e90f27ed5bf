//! Speaks HTTP to Graph: builds the URLs and headers of the three steps, sends them,
//! and turns answers (or their absence) into typed results, the waits a server asks
//! for included. Knows nothing of retries: `retry.rs` decides from what it reports.
//!
//! The rooms: `agent` (the HTTP agent and its connector chain), `answers` (the pure
//! parsers), `failure` (how a request failed), `words` (trace and message wording);
//! this file is the client.

mod agent;
mod answers;
mod failure;
mod interrupt;
mod words;

use std::fmt;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use ureq::http::Response;
use ureq::{Agent, Body, SendBody};

use crate::info::Stats;
use crate::token::Token;
use crate::trace::{Level, Trace};

pub(crate) use agent::{http_config, new_agent, Transport};
pub(crate) use answers::*;
use failure::{body_error, transport_error};
pub(crate) use failure::{RequestError, SourceFailure};
pub(crate) use interrupt::Interrupt;
pub(crate) use words::error_detail;
use words::{authority, shorten, summarize, trace_detail, Ask, Heard, TRACED_HEADERS};

/// The endpoint part of a plan: which Graph, which version, which app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Graph's base URL as given.
    pub graph_url: String,
    /// The API version path segment.
    pub api_version: String,
    /// The app that owns the upload sessions.
    pub app_id: String,
    /// `{graph_url}/{api_version}`: what session ids are appended to.
    pub base: String,
    /// `host:port` of Graph's URL, for messages about the connection.
    pub authority: String,
}

impl Endpoint {
    /// The endpoint of a Graph URL (checked already), a version and an app.
    pub fn new(graph_url: &str, api_version: &str, app_id: &str) -> Endpoint {
        Endpoint {
            graph_url: graph_url.to_string(),
            api_version: api_version.to_string(),
            app_id: app_id.to_string(),
            base: format!("{}/{api_version}", graph_url.trim_end_matches('/')),
            authority: authority(graph_url),
        }
    }
}

/// Talks to one Graph endpoint with the token of one holder.
pub(crate) struct Graph {
    agent: Agent,
    endpoint: Arc<Endpoint>,
    token: Arc<Token>,
    /// Where each request sent is counted, when someone keeps count.
    stats: Option<Arc<Stats>>,
    /// Where each request and answer is told, when someone listens.
    trace: Trace,
    /// What cancels this client's requests, and only these, on a shared agent.
    interrupt: Option<Arc<Interrupt>>,
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("base", &self.endpoint.base)
            .field("authorization", &"OAuth <redacted>")
            .finish()
    }
}

/// A body that gives its bytes, then fails: the request breaks off before the length
/// it announced.
#[cfg(feature = "probe")]
struct CutShort<'a>(&'a [u8]);

#[cfg(feature = "probe")]
impl Read for CutShort<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other(SourceFailure(
                "cut short on purpose".into(),
            )));
        }
        let n = self.0.len().min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Counts the body bytes ureq takes from a reader.
struct Counted<'a> {
    inner: &'a mut dyn Read,
    n: u64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

impl Graph {
    /// A client of `endpoint` through `agent`, sending the token `token` holds.
    pub fn new(endpoint: Arc<Endpoint>, agent: Agent, token: Arc<Token>, trace: Trace) -> Graph {
        Graph {
            agent,
            endpoint,
            token,
            stats: None,
            trace,
            interrupt: None,
        }
    }

    /// Lets `interrupt` cancel this client's requests: while one runs, the connection
    /// carrying it is the one `interrupt.cancel()` shuts down.
    pub fn interrupted_by(&mut self, interrupt: Arc<Interrupt>) {
        self.interrupt = Some(interrupt);
    }

    /// Counts every request sent in `stats`.
    pub fn count_into(&mut self, stats: Arc<Stats>) {
        self.stats = Some(stats);
    }

    /// Step 1: create an upload session; returns its id.
    pub fn create(
        &self,
        file_name: &str,
        file_length: u64,
        file_type: &str,
    ) -> Result<String, RequestError> {
        crate::hook::panic_point("graph");
        let url = format!(
            "{}/{}/uploads?file_name={}&file_length={file_length}&file_type={}",
            self.endpoint.base,
            self.endpoint.app_id,
            encode_query_value(file_name),
            encode_query_value(file_type),
        );
        let ask = Ask::new("POST", &url, None);
        self.exchange(&ask, || {
            let (status, json) = self.answer(
                self.agent
                    .post(&url)
                    .header("Authorization", &self.token.authorization())
                    .send_empty(),
                &ask,
            )?;
            parse_create_answer(status, &json)
        })
    }

    /// Step 3: how many bytes Graph holds for the session.
    pub fn offset(&self, session_id: &str) -> Result<u64, RequestError> {
        let url = self.session_url(session_id);
        let ask = Ask::new("GET", &url, None);
        self.exchange(&ask, || {
            let (status, json) = self.answer(
                self.agent
                    .get(&url)
                    .header("Authorization", &self.token.authorization())
                    .call(),
                &ask,
            )?;
            parse_offset(&json).map_err(|m| protocol(status, &m))
        })
    }

    /// Step 2: send `length` bytes from `body`, which start at `file_offset`.
    pub fn upload(
        &self,
        session_id: &str,
        file_offset: u64,
        length: u64,
        body: &mut dyn Read,
    ) -> Result<UploadAnswer, RequestError> {
        let url = self.session_url(session_id);
        let ask = Ask::new("POST", &url, Some((file_offset, length)));
        let mut body = Counted { inner: body, n: 0 };
        self.exchange(&ask, || {
            let resp = self
                .agent
                .post(&url)
                .header("Authorization", &self.token.authorization())
                .header("file_offset", file_offset.to_string())
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", length.to_string())
                .send(SendBody::from_reader(&mut body));
            ask.sent.set(Some(body.n));
            let (status, json) = self.answer(resp, &ask)?;
            parse_upload_answer(status, &json)
        })
    }

    /// Makes one request through `run`, counting it and tracing it: a line before it,
    /// and one when no answer came (the answer's own line is [`Graph::answer`]'s).
    fn exchange<T>(
        &self,
        ask: &Ask<'_>,
        run: impl FnOnce() -> Result<T, RequestError>,
    ) -> Result<T, RequestError> {
        if let Some(s) = &self.stats {
            Stats::add(&s.requests, 1);
        }
        let _during = self.interrupt.as_ref().map(|i| i.during());
        if !self.trace.on(Level::Info) {
            return run();
        }
        self.trace.log(Level::Info, || {
            let mut line = format!("-> {} {}", ask.method, ask.url);
            if let Some((offset, length)) = ask.body {
                let _ = write!(line, " file_offset: {offset}, body {length} bytes");
            }
            line
        });
        let connects = self.trace.connects();
        let result = run();
        match &result {
            Err(e) if !e.had_answer() => self.trace.log(Level::Info, || {
                format!(
                    "<- no answer to {} {}: {e}{}",
                    ask.method,
                    ask.url,
                    ask.tally()
                )
            }),
            _ if self.trace.connects() == connects => self.trace.log(Level::Debug, || {
                format!(
                    "   (reused the open connection to {})",
                    self.endpoint.authority
                )
            }),
            _ => {}
        }
        result
    }

    /// Turns what ureq returned into the answer's status and JSON, tracing the answer
    /// as it came (status, headers, body) before anything is made of it.
    fn answer(
        &self,
        resp: Result<Response<Body>, ureq::Error>,
        ask: &Ask<'_>,
    ) -> Result<(u16, serde_json::Value), RequestError> {
        let resp = resp.map_err(|e| transport_error(e, &self.endpoint.authority))?;
        answered(&self.endpoint.authority);
        let status = resp.status().as_u16();
        let mut heard = Heard::default();
        let result = read_answer(resp, self.trace.on(Level::Info).then_some(&mut heard));
        self.trace.log(Level::Info, || {
            let what = match &result {
                Ok((_, json)) => summarize(json),
                Err(e) => trace_detail(e),
            };
            format!(
                "<- HTTP {status} to {} {}: {what}; answer {} bytes{}{}",
                ask.method,
                ask.url,
                heard.body_bytes,
                ask.tally(),
                heard.headers
            )
        });
        result
    }

    #[cfg(feature = "probe")]
    /// One request exactly as given (the `file_offset` header when set, and `body` for
    /// a POST), and the answer's status and text as they came, whatever they are: for
    /// experiments (`fbup::probe`), never for uploads.
    ///
    /// With `announced` longer than `body`, a POST announces that many bytes in its
    /// `Content-Length`, sends `body` and then breaks off: a request cut short on
    /// purpose.
    pub fn raw(
        &self,
        method: &'static str,
        url: &str,
        file_offset: Option<u64>,
        body: &[u8],
        announced: Option<u64>,
    ) -> Result<(u16, String), RequestError> {
        let ask = Ask::new(method, url, file_offset.map(|o| (o, body.len() as u64)));
        self.exchange(&ask, || {
            let resp = if method == "GET" {
                self.agent
                    .get(url)
                    .header("Authorization", &self.token.authorization())
                    .call()
            } else {
                let mut req = self
                    .agent
                    .post(url)
                    .header("Authorization", &self.token.authorization())
                    .header("Content-Type", "application/octet-stream");
                if let Some(o) = file_offset {
                    req = req.header("file_offset", o.to_string());
                }
                match announced.filter(|n| *n > body.len() as u64) {
                    Some(n) => req
                        .header("Content-Length", n.to_string())
                        .send(SendBody::from_reader(&mut CutShort(body))),
                    None => req.send(body),
                }
            };
            let resp = resp.map_err(|e| transport_error(e, &self.endpoint.authority))?;
            let status = resp.status().as_u16();
            let mut text = String::new();
            resp.into_body()
                .into_with_config()
                .limit(MAX_ANSWER)
                .reader()
                .read_to_string(&mut text)
                .map_err(|e| body_error(e, status))?;
            self.trace.log(Level::Info, || {
                format!(
                    "<- HTTP {status} to {method} {url}: {}{}",
                    shorten(text.trim()),
                    ask.tally()
                )
            });
            Ok((status, text))
        })
    }

    /// The URL of a session: the id verbatim, `?sig=` and all. Percent-encoding it
    /// makes Graph answer code 100, subcode 33.
    pub(crate) fn session_url(&self, session_id: &str) -> String {
        format!("{}/{session_id}", self.endpoint.base)
    }
}

/// Reads an answer to the end (so the connection can be reused) and splits success
/// from failure.
fn read_answer(
    resp: Response<Body>,
    heard: Option<&mut Heard>,
) -> Result<(u16, serde_json::Value), RequestError> {
    let status = resp.status().as_u16();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
    let wait_hint = server_wait_hint(header("retry-after"), header("x-business-use-case-usage"));
    let mut heard = heard;
    if let Some(h) = heard.as_deref_mut() {
        for name in TRACED_HEADERS {
            if let Some(v) = header(name) {
                let _ = write!(h.headers, "; {name}: {}", shorten(v));
            }
        }
    }
    let mut text = String::new();
    let read = resp
        .into_body()
        .into_with_config()
        .limit(MAX_ANSWER)
        .reader()
        .read_to_string(&mut text);
    if let Err(e) = read {
        return Err(body_error(e, status));
    }
    if let Some(h) = heard {
        h.body_bytes = text.len();
    }
    parse_answer(status, wait_hint, &text)
}

/// The Graph addresses (host:port) that have answered a request in this process.
static ANSWERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Notes that Graph at `authority` answered a request (with any HTTP status).
fn answered(authority: &str) {
    let mut seen = ANSWERED.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.iter().any(|a| a == authority) {
        seen.push(authority.to_string());
    }
}

/// True when Graph at `authority` has answered a request in this process: a refused
/// connection is then a passing failure, not a wrong address.
pub(crate) fn has_answered(authority: &str) -> bool {
    let seen = ANSWERED.lock().unwrap_or_else(|e| e.into_inner());
    seen.iter().any(|a| a == authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded_but_ids_are_not() {
        assert_eq!(
            encode_query_value("my file é.png"),
            "my%20file%20%C3%A9.png"
        );
        assert_eq!(encode_query_value("image/png"), "image%2Fpng");
        let endpoint = Arc::new(Endpoint::new("https://graph.facebook.com", "v24.0", "1"));
        let token = Arc::new(Token::new("EAAsecret-token", None));
        let agent = Agent::new_with_defaults();
        let g = Graph::new(endpoint, agent, token, Trace::default());
        assert_eq!(
            g.session_url("upload:MTp/x=?sig=ARz"),
            "https://graph.facebook.com/v24.0/upload:MTp/x=?sig=ARz"
        );
        assert!(!format!("{g:?}").contains("EAAsecret"));
    }
}
