//! The HTTP side: routes requests to the three steps of the protocol, applies faults.
//!
//! Written from Meta's documentation of the Resumable Upload API and the behaviour of
//! the real service described in the README, independently of the fbup library.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use crate::faults::{AfterStall, ErrorSpec, Fault, RequestKind};
use crate::state::{lock, LoggedRequest, Session, State};

/// The five file types the documentation lists.
pub const DOCUMENTED_TYPES: [&str; 5] = [
    "application/pdf",
    "image/jpeg",
    "image/jpg",
    "image/png",
    "video/mp4",
];

/// How many requests the log keeps (the oldest go first).
const LOG_CAP: usize = 10_000;

/// A request form body larger than this is refused.
const FORM_CAP: usize = 64 * 1024;

/// Returned by the service to make hyper drop the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection closed by the emulator: {0}")]
pub(crate) struct Hangup(&'static str);

type Reply = Result<Response<Full<Bytes>>, Hangup>;

fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// A Graph error answer with the full shape of the real ones.
fn graph_error(state: &State, status: u16, spec: &ErrorSpec) -> Response<Full<Bytes>> {
    let mut error = serde_json::json!({
        "message": spec.message,
        "type": spec.error_type,
        "code": spec.code,
        "is_transient": spec.is_transient,
        "fbtrace_id": state.fbtrace_id(),
    });
    if let Some(sub) = spec.subcode {
        error["error_subcode"] = sub.into();
    }
    json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        serde_json::json!({ "error": error }),
    )
}

fn error(state: &State, status: u16, kind: &str, code: i64, message: String) -> Reply {
    Ok(graph_error(
        state,
        status,
        &ErrorSpec {
            message,
            error_type: kind.into(),
            code,
            subcode: None,
            is_transient: false,
        },
    ))
}

fn param_error(state: &State, message: String) -> Reply {
    error(state, 400, "OAuthException", 100, message)
}

/// Graph's answer to an id it does not know (or a malformed, percent-encoded,
/// expired or unsigned one): code 100, subcode 33.
fn no_such_object(state: &State, method: &Method, id: &str) -> Reply {
    let verb = if method == Method::GET { "get" } else { "post" };
    Ok(graph_error(
        state,
        400,
        &ErrorSpec {
            message: format!(
                "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation. Please \
                 read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
            error_type: "GraphMethodException".into(),
            code: 100,
            subcode: Some(33),
            is_transient: false,
        },
    ))
}

fn token_missing(state: &State) -> Reply {
    error(
        state,
        400,
        "OAuthException",
        104,
        "An access token is required to request this resource.".into(),
    )
}

fn token_invalid(state: &State) -> Reply {
    error(
        state,
        400,
        "OAuthException",
        190,
        "Invalid OAuth access token - Cannot parse access token".into(),
    )
}

/// The token of the `Authorization` header (`OAuth x` or `Bearer x`).
fn header_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("oauth") || scheme.eq_ignore_ascii_case("bearer"))
        .then(|| token.trim().to_string())
}

fn parse_form(s: &str) -> HashMap<String, String> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

/// The path and query with `access_token` values replaced.
fn redact_query(path: &str, query: Option<&str>) -> String {
    match query {
        None => path.to_string(),
        Some(q) => {
            let parts: Vec<String> = q
                .split('&')
                .map(|p| {
                    if p.starts_with("access_token=") {
                        "access_token=REDACTED".to_string()
                    } else {
                        p.to_string()
                    }
                })
                .collect();
            format!("{path}?{}", parts.join("&"))
        }
    }
}

fn log_request(state: &State, req: &Request<Incoming>, kind: Option<RequestKind>) {
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            let value = if n == hyper::header::AUTHORIZATION {
                match value.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} REDACTED"),
                    None => "REDACTED".into(),
                }
            } else {
                value
            };
            (n.as_str().to_string(), value)
        })
        .collect();
    let entry = LoggedRequest {
        method: req.method().to_string(),
        path_and_query: redact_query(req.uri().path(), req.uri().query()),
        headers,
        kind,
        at: std::time::Instant::now(),
    };
    let mut log = lock(&state.log);
    if log.len() >= LOG_CAP {
        log.drain(..LOG_CAP / 10);
    }
    log.push(entry);
}

/// The entry point of every request.
/// Serves one request; every answer carries the request-id headers real Graph sends
/// (`x-fb-trace-id`, `x-fb-rev`, `x-fb-debug`), so a client's trace can show them.
pub(crate) async fn handle(state: Arc<State>, req: Request<Incoming>) -> Reply {
    let mut reply = route(&state, req).await;
    if let Ok(r) = &mut reply {
        let h = r.headers_mut();
        for (name, value) in [
            ("x-fb-trace-id", state.random_token(11)),
            ("x-fb-rev", "1029384756".to_string()),
            ("x-fb-debug", state.random_token(40)),
        ] {
            if !h.contains_key(name) {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    h.insert(name, v);
                }
            }
        }
    }
    reply
}

async fn route(state: &Arc<State>, req: Request<Incoming>) -> Reply {
    let state = state.clone();
    let path = req.uri().path().to_string();
    if path == "/_emulator/stats" && req.method() == Method::GET {
        let handshakes: u64 = lock(&state.tls_suites).values().sum();
        let connections = state.connections.load(std::sync::atomic::Ordering::Relaxed);
        return Ok(json(
            StatusCode::OK,
            serde_json::json!({ "connections": connections, "tls_handshakes": handshakes }),
        ));
    }
    if path == "/_emulator/sessions" && req.method() == Method::GET {
        log_request(&state, &req, None);
        let list: Vec<_> = crate::snapshot(&state)
            .iter()
            .map(|s| s.to_json())
            .collect();
        return Ok(json(StatusCode::OK, serde_json::Value::Array(list)));
    }
    let Some((_version, rest)) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(v, _)| is_version(v))
    else {
        log_request(&state, &req, None);
        return error(
            &state,
            400,
            "OAuthException",
            2500,
            format!("Unknown path components: {path}"),
        );
    };
    let rest = rest.to_string();
    if let Some(app) = rest.strip_suffix("/uploads").filter(|a| !a.contains('/')) {
        log_request(&state, &req, Some(RequestKind::Create));
        if req.method() != Method::POST {
            return error(
                &state,
                400,
                "OAuthException",
                100,
                "(#100) Tried accessing nonexisting field (uploads) on node type (Application)"
                    .into(),
            );
        }
        let app = app.to_string();
        return create(&state, req, &app).await;
    }
    session_request(&state, req, rest).await
}

/// A request that names an object (`/{version}/{id}`): only upload sessions exist
/// here. A POST is step 2 (its token only in the header), anything else step 3.
async fn session_request(state: &State, req: Request<Incoming>, rest: String) -> Reply {
    let kind = match *req.method() {
        Method::POST => RequestKind::Upload,
        _ => RequestKind::Offset,
    };
    log_request(state, &req, Some(kind));
    let query = req.uri().query().unwrap_or("").to_string();
    let sig = query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .map(str::to_string);
    let id = match &sig {
        Some(sig) => format!("{rest}?sig={sig}"),
        None => rest.clone(),
    };
    let header_tok = header_token(req.headers());
    let query_tok = parse_form(&query).remove("access_token");
    match kind {
        RequestKind::Upload => {
            // Step 2 takes the token only from the Authorization header.
            let Some(token) = header_tok else {
                return if query_tok.is_some() {
                    error(
                        state,
                        400,
                        "OAuthException",
                        190,
                        "Invalid OAuth access token - the upload step takes the token only in \
                         the header 'Authorization: OAuth <token>'"
                            .into(),
                    )
                } else {
                    token_missing(state)
                };
            };
            if !state.token_ok(&token) {
                return token_invalid(state);
            }
            if !rest.starts_with("upload:") || sig.is_none() {
                return no_such_object(state, req.method(), &rest);
            }
            upload(state, req, &id).await
        }
        _ => {
            let Some(token) = header_tok.or(query_tok) else {
                return token_missing(state);
            };
            if !state.token_ok(&token) {
                return token_invalid(state);
            }
            if req.method() != Method::GET {
                return no_such_object(state, req.method(), &rest);
            }
            offset(state, &id, &rest).await
        }
    }
}

fn is_version(v: &str) -> bool {
    let Some(num) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = num.splitn(2, '.');
    let major_ok = parts
        .next()
        .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    let minor_ok = parts
        .next()
        .is_none_or(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    major_ok && minor_ok
}

/// Applies a fault that does not depend on the body; returns the reply when the
/// fault replaces the work.
async fn simple_fault(state: &State, fault: &Fault) -> Option<Reply> {
    match fault {
        Fault::Cut { .. } | Fault::CutAt { .. } | Fault::CutAfterMillis { .. } => {
            Some(Err(Hangup("injected cut")))
        }
        Fault::Stall { millis, then, .. } => {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
            match then {
                AfterStall::Close => Some(Err(Hangup("injected stall"))),
                AfterStall::Continue => None,
            }
        }
        Fault::Respond {
            status,
            error,
            headers,
        }
        | Fault::Reject {
            status,
            error,
            headers,
        } => Some(Ok(respond(state, *status, error.as_ref(), headers))),
        Fault::LateAnswer { millis } => {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
            None
        }
        Fault::LoseResponse | Fault::ReportOffset { .. } => None,
    }
}

fn respond(
    state: &State,
    status: u16,
    error: Option<&ErrorSpec>,
    headers: &[(String, String)],
) -> Response<Full<Bytes>> {
    let mut r = match error {
        Some(spec) => graph_error(state, status, spec),
        None => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            r
        }
    };
    for (n, v) in headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(n, v);
        }
    }
    r
}

/// Step 1: create a session.
async fn create(state: &State, req: Request<Incoming>, app: &str) -> Reply {
    let header_tok = header_token(req.headers());
    let params = match create_params(state, req).await {
        Ok(p) => p,
        Err(reply) => return *reply,
    };
    let Some(token) = header_tok.or_else(|| params.get("access_token").cloned()) else {
        return token_missing(state);
    };
    if !state.token_ok(&token) {
        return token_invalid(state);
    }
    let (app_id, length, file_type) = match check_create(state, &params, app) {
        Ok(v) => v,
        Err(reply) => return *reply,
    };
    if let Some(fault) = state.take_fault(RequestKind::Create, None, 0) {
        if let Some(reply) = simple_fault(state, &fault).await {
            return reply;
        }
    }
    let file_name = params.get("file_name").cloned().unwrap_or_default();
    match state.create_session(&app_id, &file_name, &file_type, length) {
        Ok(id) => Ok(json(StatusCode::OK, serde_json::json!({ "id": id }))),
        Err(e) => error(
            state,
            500,
            "OAuthException",
            1,
            format!("emulator storage: {e}"),
        ),
    }
}

/// Step 1's parameters: the query's, and a form body's when there is one.
async fn create_params(
    state: &State,
    req: Request<Incoming>,
) -> Result<HashMap<String, String>, Box<Reply>> {
    let mut params = parse_form(req.uri().query().unwrap_or(""));
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let limited = http_body_util::Limited::new(req.into_body(), FORM_CAP);
        let body = match limited.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return Err(Box::new(param_error(
                    state,
                    "(#100) The request body is too large".into(),
                )))
            }
        };
        params.extend(parse_form(&String::from_utf8_lossy(&body)));
    }
    Ok(params)
}

/// Step 1's checks: the app, `file_length`, `file_type`, `session_type`. The app id,
/// the length and the type when they pass.
fn check_create(
    state: &State,
    params: &HashMap<String, String>,
    app: &str,
) -> Result<(String, u64, String), Box<Reply>> {
    let app_id = if app == "app" {
        state
            .app_ids
            .first()
            .cloned()
            .unwrap_or_else(|| "1234567890".into())
    } else {
        app.to_string()
    };
    let refuse = |m: String| Err(Box::new(param_error(state, m)));
    if !state.app_ok(&app_id) {
        return refuse(
            "(#100) Tried accessing nonexisting field (uploads) on node type (Application)".into(),
        );
    }
    let Some(length) = params.get("file_length") else {
        return refuse("(#100) The parameter file_length is required".into());
    };
    let length = match length.parse::<i64>() {
        Ok(n) if n > 0 => n as u64,
        _ => {
            return refuse(format!(
                "(#100) Param file_length must be a positive integer, got '{length}'"
            ))
        }
    };
    let Some(file_type) = params.get("file_type") else {
        return refuse("(#100) The parameter file_type is required".into());
    };
    if !state.any_type && !DOCUMENTED_TYPES.contains(&file_type.as_str()) {
        return refuse(format!(
            "(#100) Param file_type must be one of {{{}}}",
            DOCUMENTED_TYPES.join(", ")
        ));
    }
    if params
        .get("session_type")
        .is_some_and(|st| st != "attachment")
    {
        return refuse("(#100) Param session_type must be one of {attachment}".into());
    }
    Ok((app_id, length, file_type.clone()))
}

/// Step 3: how many bytes the session holds.
async fn offset(state: &State, id: &str, shown_id: &str) -> Reply {
    let Some(session) = state.session(id) else {
        return no_such_object(state, &Method::GET, shown_id);
    };
    let mut fault_offset = None;
    if let Some(fault) = state.take_fault(RequestKind::Offset, Some(id), 0) {
        if let Fault::ReportOffset { offset } = fault {
            fault_offset = Some(offset);
        } else if let Some(reply) = simple_fault(state, &fault).await {
            return reply;
        }
    }
    let off = match fault_offset {
        Some(lie) => lie,
        None => {
            let mut s = lock(&session);
            s.lagging_report.take().unwrap_or(s.offset)
        }
    };
    let value = if state.offset_as_string {
        serde_json::Value::String(off.to_string())
    } else {
        off.into()
    };
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "id": id, "file_offset": value }),
    ))
}

/// With `Unknowns::lagging_offset`: after a cut that stored bytes, the next offset
/// request reports where the cut request began, as a read that lags behind would.
fn lag_after_cut(state: &State, session: &Mutex<Session>, file_offset: u64, stored: u64) {
    if state.unknowns.lagging_offset && stored > 0 {
        lock(session).lagging_report = Some(file_offset);
    }
}

/// Who refuses a body: the protocol's rules (the client sent what it should not) or
/// an injected fault (the client did nothing wrong).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refuser {
    Rule,
    Fault,
}

/// Reads a body to its end, counting its bytes for the session, then gives `refusal`:
/// an answer that stores nothing still reads what the client sent.
async fn refuse_after_reading(
    mut body: Incoming,
    session: &Mutex<Session>,
    refusal: Reply,
    by: Refuser,
) -> Reply {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Hangup("client went away"))?;
        if let Some(d) = frame.data_ref() {
            let mut s = lock(session);
            s.bytes_received_total += d.len() as u64;
            if by == Refuser::Fault {
                s.bytes_discarded_by_faults += d.len() as u64;
            }
        }
    }
    refusal
}

/// Step 2: receive bytes from `file_offset` on, in four named steps: the checks, the
/// faults that act before the body, the body, and the final answer.
async fn upload(state: &State, req: Request<Incoming>, id: &str) -> Reply {
    let Some(session) = state.session(id) else {
        let shown = id.split_once("?sig=").map_or(id, |(p, _)| p);
        return no_such_object(state, &Method::POST, shown);
    };
    let checked = upload_headers(state, req.headers())
        .and_then(|(offset, length)| check_offset(state, &session, offset, length));
    let (file_offset, content_length) = match checked {
        Ok(v) => v,
        Err(Early::Answer(reply)) => return *reply,
        Err(Early::Refuse(refusal)) => {
            let refusal = *refusal;
            // Nothing is stored, but every byte the client sent is read and counted: a
            // client that re-sends from a wrong offset shows up in bytes_received_total.
            return refuse_after_reading(req.into_body(), &session, refusal, Refuser::Rule).await;
        }
    };
    let fault = state.take_fault(RequestKind::Upload, Some(id), content_length);
    let body = match fault_before_body(state, &session, fault.as_ref(), req.into_body()).await {
        Ok(body) => body,
        Err(reply) => return *reply,
    };
    receive_body(state, &session, file_offset, fault.as_ref(), body).await?;
    final_answer(state, &session, id, fault).await
}

/// How step 2 ends before its body is stored.
enum Early {
    /// With this answer, the body left unread (there is none, or it cannot be framed).
    Answer(Box<Reply>),
    /// With this refusal, after the body is read to its end and counted.
    Refuse(Box<Reply>),
}

/// Step 2's headers: a `Content-Length` body and a numeric `file_offset`.
fn upload_headers(state: &State, headers: &HeaderMap) -> Result<(u64, u64), Early> {
    let chunked = headers
        .get(TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let content_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let content_length = match content_length {
        Some(n) if !chunked => n,
        _ => {
            return Err(Early::Answer(Box::new(error(
                state,
                411,
                "OAuthException",
                100,
                "(#100) The upload body needs a Content-Length header (chunked bodies are not \
                 accepted)"
                    .into(),
            ))))
        }
    };
    match headers
        .get("file_offset")
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()))
    {
        Some(Some(n)) => Ok((n, content_length)),
        Some(None) => Err(Early::Refuse(Box::new(param_error(
            state,
            "(#100) The header file_offset must be a non-negative integer".into(),
        )))),
        None => Err(Early::Refuse(Box::new(param_error(
            state,
            "(#100) The header file_offset is required".into(),
        )))),
    }
}

/// Step 2's offset against the session: the empty POST at the end of a complete
/// session, a wrong `file_offset` (answered as `Unknowns` says), a body running past
/// `file_length`.
fn check_offset(
    state: &State,
    session: &Mutex<Session>,
    file_offset: u64,
    content_length: u64,
) -> Result<(u64, u64), Early> {
    let mut s = lock(session);
    s.upload_requests += 1;
    if s.offset == s.file_length && file_offset == s.file_length && content_length == 0 {
        if state.unknowns.refuse_final_empty_post {
            return Err(Early::Answer(Box::new(param_error(
                state,
                "(#100) This upload session is already complete".into(),
            ))));
        }
        // Not documented by Meta: an empty POST at the end of a complete session
        // answers the handle again, so a client can recover a lost final answer.
        let h = s.handle_or_new(|s| state.make_handle(s));
        return Err(Early::Answer(Box::new(Ok(json(
            StatusCode::OK,
            serde_json::json!({ "h": h }),
        )))));
    }
    if file_offset != s.offset {
        return Err(Early::Refuse(Box::new(
            match state.unknowns.offset_mismatch {
                Some((code, subcode)) => Ok(graph_error(
                    state,
                    400,
                    &ErrorSpec {
                        message: "An unknown error occurred".into(),
                        error_type: "OAuthException".into(),
                        code,
                        subcode: Some(subcode),
                        is_transient: false,
                    },
                )),
                None => param_error(
                    state,
                    format!(
                        "(#100) file_offset {file_offset} does not match the {} bytes received so \
                     far; resume from file_offset {}",
                        s.offset, s.offset
                    ),
                ),
            },
        )));
    }
    if file_offset.saturating_add(content_length) > s.file_length {
        return Err(Early::Refuse(Box::new(param_error(
            state,
            format!(
                "(#100) The body ({content_length} bytes from file_offset {file_offset}) runs \
                 past file_length {}",
                s.file_length
            ),
        ))));
    }
    Ok((file_offset, content_length))
}

/// The faults that answer without storing anything: `Reject` before reading the body,
/// `Respond` after draining it. Otherwise the body, to be received.
async fn fault_before_body(
    state: &State,
    session: &Mutex<Session>,
    fault: Option<&Fault>,
    body: Incoming,
) -> Result<Incoming, Box<Reply>> {
    match fault {
        Some(Fault::Reject {
            status,
            error,
            headers,
        }) => {
            let mut r = respond(state, *status, error.as_ref(), headers);
            // The body stays unread: the connection cannot carry another request.
            r.headers_mut()
                .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
            Err(Box::new(Ok(r)))
        }
        Some(Fault::Respond {
            status,
            error,
            headers,
        }) => {
            // Drain the body first so that the client reads the answer.
            let answer = Ok(respond(state, *status, error.as_ref(), headers));
            Err(Box::new(
                refuse_after_reading(body, session, answer, Refuser::Fault).await,
            ))
        }
        _ => Ok(body),
    }
}

/// Where a body's bytes go as they arrive: straight into the session, or, when the
/// emulator keeps only whole requests, into a buffer committed when the body is whole.
struct Sink<'a> {
    session: &'a Mutex<Session>,
    file_offset: u64,
    /// Bytes stored (or staged) so far.
    received: u64,
    staged: Option<Vec<u8>>,
}

impl Sink<'_> {
    fn put(&mut self, data: &[u8]) -> Result<(), Hangup> {
        match &mut self.staged {
            Some(buf) => buf.extend_from_slice(data),
            None => store(self.session, self.file_offset + self.received, data)?,
        }
        self.received += data.len() as u64;
        Ok(())
    }

    /// The body arrived whole: what was staged is stored.
    fn finish(self) -> Result<(), Hangup> {
        match self.staged {
            Some(buf) => store(self.session, self.file_offset, &buf),
            None => Ok(()),
        }
    }

    /// The request ends short: what was staged is thrown away.
    fn abandon(self) {
        if let Some(buf) = self.staged {
            lock(self.session).bytes_discarded_by_faults += buf.len() as u64;
        }
    }
}

fn store(session: &Mutex<Session>, at: u64, data: &[u8]) -> Result<(), Hangup> {
    match lock(session).append(at, data) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Hangup("another request wrote to this session")),
        Err(_) => Err(Hangup("emulator storage failed")),
    }
}

/// Reads the body and stores it at `file_offset`, counting every byte read; a cut or
/// a stall strikes when its byte arrives (what arrives past a cut is read, counted as
/// thrown away, and not stored). With `whole_requests_only`, nothing of a body that
/// ends short is stored.
async fn receive_body(
    state: &State,
    session: &Mutex<Session>,
    file_offset: u64,
    fault: Option<&Fault>,
    body: Incoming,
) -> Result<(), Hangup> {
    let mut sink = Sink {
        session,
        file_offset,
        received: 0,
        staged: state.unknowns.whole_requests_only.then(Vec::new),
    };
    match read_body(state, &mut sink, fault, body).await {
        Ok(()) => sink.finish(),
        Err(h) => {
            sink.abandon();
            Err(h)
        }
    }
}

async fn read_body(
    state: &State,
    sink: &mut Sink<'_>,
    fault: Option<&Fault>,
    mut body: Incoming,
) -> Result<(), Hangup> {
    let (session, file_offset) = (sink.session, sink.file_offset);
    // How many body bytes may arrive before the fault acts.
    let limit = match fault {
        Some(Fault::Cut { after_bytes }) => Some(*after_bytes),
        Some(Fault::CutAt { offset }) => Some(offset.saturating_sub(file_offset)),
        Some(Fault::Stall { after_bytes, .. }) => Some(*after_bytes),
        _ => None,
    };
    let deadline = match fault {
        Some(Fault::CutAfterMillis { millis }) => {
            Some(tokio::time::Instant::now() + Duration::from_millis(*millis))
        }
        _ => None,
    };
    let goes_on = matches!(
        fault,
        Some(Fault::Stall {
            then: AfterStall::Continue,
            ..
        })
    );
    let mut stalled = false;
    // Bytes of a frame past a stall that goes on: stored after the stall.
    let mut carried: Option<Bytes> = None;
    loop {
        if let (Some(lim), Some(f)) = (limit, fault) {
            if sink.received >= lim && !stalled {
                strike(state, session, f, file_offset, sink.received).await?;
                stalled = true;
            }
        }
        let mut data = match carried.take() {
            Some(rest) => rest,
            None => {
                let frame = match deadline {
                    Some(d) => match tokio::time::timeout_at(d, body.frame()).await {
                        Ok(frame) => frame,
                        Err(_) => return Err(time_is_up(state, session, sink)),
                    },
                    None => body.frame().await,
                };
                let Some(frame) = frame else {
                    return Ok(());
                };
                let frame = frame.map_err(|_| Hangup("client went away"))?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                // Every byte read from the socket counts, stored or not.
                lock(session).bytes_received_total += data.len() as u64;
                data
            }
        };
        if let Some(lim) = limit.filter(|_| !stalled) {
            let room = (lim - sink.received) as usize;
            if data.len() > room {
                // Keep what arrives before the fault point; the fault acts on the
                // next turn of the loop. After a stall that goes on, the rest of the
                // frame is stored too; after a cut or a closing stall it is not.
                let rest = data.split_off(room);
                if goes_on {
                    carried = Some(rest);
                } else {
                    lock(session).bytes_discarded_by_faults += rest.len() as u64;
                }
            }
        }
        sink.put(&data)?;
    }
}

/// A request that lasted past its time limit: the connection is closed.
fn time_is_up(state: &State, session: &Mutex<Session>, sink: &Sink<'_>) -> Hangup {
    state.note_hangup();
    lag_after_cut(state, session, sink.file_offset, sink.received);
    Hangup("injected cut after the request's time limit")
}

/// A cut or a stall at its byte: a cut (or a stall that closes) hangs up; a stall
/// that goes on returns after its wait.
async fn strike(
    state: &State,
    session: &Mutex<Session>,
    fault: &Fault,
    file_offset: u64,
    received: u64,
) -> Result<(), Hangup> {
    let why = match fault {
        Fault::Stall { millis, then, .. } => {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
            if *then != AfterStall::Close {
                return Ok(());
            }
            "injected stall"
        }
        _ => "injected cut",
    };
    state.note_hangup();
    lag_after_cut(state, session, file_offset, received);
    Err(Hangup(why))
}

/// The answer to a body received whole: the handle with the last byte, else the
/// offset; unless a fault loses it or makes it late.
async fn final_answer(
    state: &State,
    session: &Mutex<Session>,
    id: &str,
    fault: Option<Fault>,
) -> Reply {
    let reply = {
        let mut s = lock(session);
        if s.offset == s.file_length {
            let h = s.handle_or_new(|s| state.make_handle(s));
            json(StatusCode::OK, serde_json::json!({ "h": h }))
        } else {
            json(
                StatusCode::OK,
                serde_json::json!({ "id": id, "file_offset": s.offset }),
            )
        }
    };
    match fault {
        Some(Fault::LoseResponse) => return Err(Hangup("injected lost response")),
        Some(Fault::LateAnswer { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await
        }
        _ => {}
    }
    Ok(reply)
}
