//! Speaks HTTP to Graph: builds the URLs and headers of the three steps, sends them,
//! and turns answers (or their absence) into typed results, the waits a server asks
//! for included. Knows nothing of retries: `retry.rs` decides from what it reports.

use std::fmt;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector, RustlsConnector, TcpConnector,
};
use ureq::{Agent, Body, SendBody};

use crate::config::Config;
use crate::error::{Error, GraphError, Status};
use crate::info::Stats;
use crate::trace::{Level, Step, Trace, Watch};

/// The largest answer body fbup reads; Graph's answers are a few hundred bytes.
pub(crate) const MAX_ANSWER: u64 = 1024 * 1024;

/// The longest session id accepted from a server or a caller.
pub(crate) const MAX_SESSION_ID: usize = 4096;

/// The longest handle accepted (video handles are several joined by `\n`).
pub(crate) const MAX_HANDLE: usize = 64 * 1024;

/// How a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// No answer: connect, reset, broken pipe, TLS, DNS.
    #[error("{0}")]
    Network(String),
    /// No answer in time: connect, stall or answer timeout.
    #[error("{0}")]
    Timeout(String),
    /// Graph answered with an error object.
    #[error("Graph answered HTTP {http_status}: {}", .error.message)]
    Graph {
        http_status: u16,
        error: GraphError,
        wait_hint: Option<Duration>,
    },
    /// An HTTP error without a Graph error object (a proxy, a load balancer).
    #[error("HTTP {http_status} without a Graph error object{}", snippet_suffix(.snippet))]
    Http {
        http_status: u16,
        snippet: String,
        wait_hint: Option<Duration>,
    },
    /// An answer that is not what the protocol says.
    #[error("{message}")]
    Protocol { http_status: u16, message: String },
    /// The body source failed (the file could not be read, or cancellation).
    #[error("{0}")]
    Source(String),
}

fn snippet_suffix(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

impl RequestError {
    /// The wait the server asked for, if it did.
    pub fn wait_hint(&self) -> Option<Duration> {
        match self {
            RequestError::Graph { wait_hint, .. } | RequestError::Http { wait_hint, .. } => {
                *wait_hint
            }
            _ => None,
        }
    }

    /// True when a server answered (the error is in its answer), false when none did.
    pub fn had_answer(&self) -> bool {
        self.http_status() != 0
    }

    /// The error as a trace line tells it: every field of a Graph error object.
    fn trace_detail(&self) -> String {
        match self {
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

    /// The HTTP status of the answer behind the error, 0 when none.
    pub fn http_status(&self) -> u16 {
        match self {
            RequestError::Graph { http_status, .. }
            | RequestError::Http { http_status, .. }
            | RequestError::Protocol { http_status, .. } => *http_status,
            _ => 0,
        }
    }
}

/// What an upload request achieved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UploadAnswer {
    /// The last byte arrived: the file handle.
    Handle(String),
    /// The bytes were accepted but the file is not complete.
    Accepted,
}

/// Talks to one Graph endpoint with one token.
pub(crate) struct Graph {
    agent: Agent,
    base: String,
    /// `host:port` of Graph's URL, for messages about the connection.
    authority: String,
    authorization: String,
    /// Where each request sent is counted, when someone keeps count.
    stats: Option<Arc<Stats>>,
    /// Where each request and answer is told, when someone listens.
    trace: Trace,
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("base", &self.base)
            .field("authorization", &"OAuth <redacted>")
            .finish()
    }
}

/// The agent settings for Graph: answers returned as they are (so error objects can
/// be read), no redirects, timeouts on every phase, no `Expect: 100-continue`, TLS
/// verified against Mozilla's roots (plus `ca_file`), the configured or environment
/// proxy. Fails when `ca_file` or `proxy` cannot be used.
pub(crate) fn agent_config(config: &Config) -> Result<ureq::config::Config, Error> {
    let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls);
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            Error::new(
                Status::Argument,
                format!("cannot read ca_file '{}': {e}", path.display()),
            )
        })?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(Error::new(
                Status::Argument,
                format!("ca_file '{}' holds no PEM certificate", path.display()),
            ));
        }
        // Like curl's --cacert, the file replaces the public roots.
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let proxy = match &config.proxy {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| {
            Error::new(
                Status::Argument,
                format!(
                    "proxy '{}' is not usable: {e}",
                    crate::config::redact_userinfo(p)
                ),
            )
        })?),
        // An HTTP proxy from the environment is used as curl would; a SOCKS one is
        // passed over (fbup speaks CONNECT only), as ureq does without its SOCKS feature.
        None => ureq::Proxy::try_from_env().filter(|p| !is_socks(p)),
    };
    if proxy.as_ref().is_some_and(is_socks) {
        return Err(Error::new(
            Status::Argument,
            "SOCKS proxies are not supported; use an HTTP proxy (CONNECT), e.g. http://proxy:3128",
        ));
    }
    Ok(Agent::config_builder()
        .tls_config(tls.build())
        .proxy(proxy)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_per_read(Some(config.stall_timeout))
        .timeout_per_write(Some(config.stall_timeout))
        .timeout_recv_response(Some(config.response_timeout))
        .no_delay(true)
        .output_buffer_size(config.send_buffer)
        .user_agent(concat!("fbup/", env!("CARGO_PKG_VERSION")))
        .build())
}

fn is_socks(p: &ureq::Proxy) -> bool {
    use ureq::ProxyProtocol as P;
    matches!(
        p.protocol(),
        P::Socks4 | P::Socks4A | P::Socks5 | P::Socks5h
    )
}

/// An agent made from `config` whose connections report to `trace` at debug level:
/// ureq's own chain for HTTP proxies, TCP and rustls, each step watched.
pub(crate) fn new_agent(config: &ureq::config::Config, trace: &Trace) -> Agent {
    let watch = |step| (trace.clone(), step);
    let ((t1, s1), (t2, s2), (t3, s3)) = (watch(Step::Proxy), watch(Step::Tcp), watch(Step::Tls));
    let connector = ()
        .chain(Watch {
            inner: ConnectProxyConnector::default(),
            trace: t1,
            step: s1,
        })
        .chain(Watch {
            inner: TcpConnector::default(),
            trace: t2,
            step: s2,
        })
        .chain(Watch {
            inner: RustlsConnector::default(),
            trace: t3,
            step: s3,
        });
    Agent::with_parts(config.clone(), connector, DefaultResolver::default())
}

/// What a request is, for its trace lines.
struct Ask<'a> {
    method: &'static str,
    url: &'a str,
    /// The `file_offset` header and the body's length, for step 2.
    body: Option<(u64, u64)>,
    start: Instant,
    /// The body bytes ureq took, once the request is over (step 2).
    sent: std::cell::Cell<Option<u64>>,
}

impl<'a> Ask<'a> {
    fn new(method: &'static str, url: &'a str, body: Option<(u64, u64)>) -> Ask<'a> {
        Ask {
            method,
            url,
            body,
            start: Instant::now(),
            sent: std::cell::Cell::new(None),
        }
    }

    /// `; N body bytes sent; M ms`: what the trace adds to an answer or its absence.
    fn tally(&self) -> String {
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
struct Heard {
    /// The headers worth showing, as ` name=value` pairs.
    headers: String,
    /// The answer body's length.
    body_bytes: usize,
}

/// The answer headers a trace shows when present: Graph's request ids and its limits.
const TRACED_HEADERS: [&str; 6] = [
    "x-fb-trace-id",
    "x-fb-rev",
    "x-fb-debug",
    "retry-after",
    "x-app-usage",
    "x-business-use-case-usage",
];

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
    pub fn new(config: &Config, agent: Agent, trace: Trace) -> Graph {
        Graph {
            trace,
            agent,
            base: format!(
                "{}/{}",
                config.graph_url.trim_end_matches('/'),
                config.api_version
            ),
            authority: authority(&config.graph_url),
            stats: None,
            authorization: format!("OAuth {}", config.access_token),
        }
    }

    /// Counts every request sent in `stats`.
    pub fn count_into(&mut self, stats: Arc<Stats>) {
        self.stats = Some(stats);
    }

    /// Uses another token from now on (after a refresh).
    pub fn set_token(&mut self, token: &str) {
        self.trace.secret(token);
        self.authorization = format!("OAuth {token}");
    }

    /// Replaces the agent (after a cancel shut the old one down).
    pub fn set_agent(&mut self, agent: Agent) {
        self.agent = agent;
    }

    /// Step 1: create an upload session; returns its id.
    pub fn create(
        &self,
        app_id: &str,
        file_name: &str,
        file_length: u64,
        file_type: &str,
    ) -> Result<String, RequestError> {
        crate::panic_point("graph");
        let url = format!(
            "{}/{app_id}/uploads?file_name={}&file_length={file_length}&file_type={}",
            self.base,
            encode_query_value(file_name),
            encode_query_value(file_type),
        );
        let ask = Ask::new("POST", &url, None);
        self.exchange(&ask, || {
            let (status, json) = self.answer(
                self.agent
                    .post(&url)
                    .header("Authorization", &self.authorization)
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
                    .header("Authorization", &self.authorization)
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
                .header("Authorization", &self.authorization)
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
                format!("   (reused the open connection to {})", self.authority)
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
        let resp = resp.map_err(|e| transport_error(e, &self.authority))?;
        let status = resp.status().as_u16();
        let mut heard = Heard::default();
        let result = read_answer(resp, self.trace.on(Level::Info).then_some(&mut heard));
        self.trace.log(Level::Info, || {
            let what = match &result {
                Ok((_, json)) => summarize(json),
                Err(e) => e.trace_detail(),
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

    /// One request exactly as given (the `file_offset` header when set, and `body` for
    /// a POST), and the answer's status and text as they came, whatever they are: for
    /// experiments ([`probe`](crate::probe())), never for uploads.
    pub fn raw(
        &self,
        method: &'static str,
        url: &str,
        file_offset: Option<u64>,
        body: &[u8],
    ) -> Result<(u16, String), RequestError> {
        let ask = Ask::new(method, url, file_offset.map(|o| (o, body.len() as u64)));
        self.exchange(&ask, || {
            let resp = if method == "GET" {
                self.agent
                    .get(url)
                    .header("Authorization", &self.authorization)
                    .call()
            } else {
                let mut req = self
                    .agent
                    .post(url)
                    .header("Authorization", &self.authorization)
                    .header("Content-Type", "application/octet-stream");
                if let Some(o) = file_offset {
                    req = req.header("file_offset", o.to_string());
                }
                req.send(body)
            };
            let resp = resp.map_err(|e| transport_error(e, &self.authority))?;
            let status = resp.status().as_u16();
            let mut text = String::new();
            resp.into_body()
                .into_with_config()
                .limit(MAX_ANSWER)
                .reader()
                .read_to_string(&mut text)
                .map_err(|e| {
                    RequestError::Network(format!("the answer was cut while being read: {e}"))
                })?;
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

    /// Graph's URL with the API version: what session ids are appended to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of a session: the id verbatim, `?sig=` and all. Percent-encoding it
    /// makes Graph answer code 100, subcode 33.
    pub(crate) fn session_url(&self, session_id: &str) -> String {
        format!("{}/{session_id}", self.base)
    }
}

fn protocol(http_status: u16, message: &str) -> RequestError {
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

fn shorten(s: &str) -> String {
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
        let over_limit = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|u| matches!(u, ureq::Error::BodyExceedsLimit(_)));
        if over_limit {
            return Err(protocol(status, "Graph's answer is over 1 MiB"));
        }
        return Err(match e.kind() {
            io::ErrorKind::InvalidData => {
                protocol(status, "Graph's answer is not UTF-8 text or is over 1 MiB")
            }
            io::ErrorKind::TimedOut => {
                RequestError::Timeout(format!("the answer stalled while being read: {e}"))
            }
            _ => RequestError::Network(format!("the answer was cut while being read: {e}")),
        });
    }
    if let Some(h) = heard {
        h.body_bytes = text.len();
    }
    parse_answer(status, wait_hint, &text)
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
        None => Ok(UploadAnswer::Accepted),
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

/// A successful answer as a trace line tells it: the protocol's fields (a handle by its
/// size: a trace is no place to copy it from), then the names of any others.
fn summarize(json: &serde_json::Value) -> String {
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
fn authority(url: &str) -> String {
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

/// A failure without an answer, in words that name what failed and where.
fn transport_error(e: ureq::Error, authority: &str) -> RequestError {
    match e {
        ureq::Error::Timeout(t) => RequestError::Timeout(format!("timed out ({t})")),
        ureq::Error::Io(io) => match io.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                RequestError::Timeout(format!("no byte moved for the stall timeout ({io})"))
            }
            io::ErrorKind::Other | io::ErrorKind::UnexpectedEof
                if io.get_ref().is_some_and(|i| i.is::<SourceFailure>()) =>
            {
                RequestError::Source(io.to_string())
            }
            io::ErrorKind::ConnectionRefused => RequestError::Network(format!(
                "cannot connect to {authority}: the connection was refused (is anything \
                 listening there?)"
            )),
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => {
                RequestError::Network(format!("the connection to {authority} was lost ({io})"))
            }
            _ => RequestError::Network(format!("network error with {authority}: {io}")),
        },
        ureq::Error::ConnectionFailed => {
            RequestError::Network(format!("cannot connect to {authority}"))
        }
        ureq::Error::Rustls(e) => RequestError::Network(format!(
            "TLS certificate verification or handshake with Graph failed: {e}; check graph_url \
             and, for a private CA, ca_file"
        )),
        ureq::Error::Tls(e) => RequestError::Network(format!("TLS error: {e}")),
        ureq::Error::HostNotFound => {
            RequestError::Network(format!("the host name of {authority} was not found (DNS)"))
        }
        ureq::Error::BodyExceedsLimit(_) => RequestError::Protocol {
            http_status: 0,
            message: "Graph's answer is over 1 MiB".into(),
        },
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => RequestError::Protocol {
            http_status: 0,
            message: "Graph answered with a redirect; fbup does not follow redirects".into(),
        },
        other => RequestError::Network(format!("HTTP error with {authority}: {other}")),
    }
}

/// Marks an I/O error raised by our own body reader (file trouble or cancellation),
/// so that it is not mistaken for a network failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SourceFailure(pub String);

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
    }

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
    fn query_values_are_encoded_but_ids_are_not() {
        assert_eq!(
            encode_query_value("my file é.png"),
            "my%20file%20%C3%A9.png"
        );
        assert_eq!(encode_query_value("image/png"), "image%2Fpng");
        let config = Config::new("1", "t");
        let g = Graph::new(
            &config,
            agent_config(&config).unwrap().new_agent(),
            Trace::default(),
        );
        assert_eq!(
            g.session_url("upload:MTp/x=?sig=ARz"),
            "https://graph.facebook.com/v24.0/upload:MTp/x=?sig=ARz"
        );
        assert!(!format!("{g:?}").contains(" t"));
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
