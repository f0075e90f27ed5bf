//! The upload state machine: create or resume a session, send the file from the
//! server's offset, and on failure ask the server where it stands and go on from there.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::config::{check_file_type, Config};
use crate::error::{Error, Status};
use crate::event::Event;
use crate::graph::{self, Graph, RequestError, SourceFailure, UploadAnswer};
use crate::info::{Info, Stats};
use crate::journal::Claim;
use crate::pace::Pacer;
use crate::progress::{Progress, ProgressFn};
use crate::retry::{
    classify, is_permission_code, is_throttling_code, is_token_code, Action, Budget,
};
use crate::source::{ByteSource, FileSource, ReadAt, ReaderSource};
use crate::trace::{Level, Trace};

/// Shared between a session and its [`CancelHandle`]s.
struct CancelState {
    cancelled: AtomicBool,
    /// The agent whose connections a cancel shuts down.
    agent: Mutex<Agent>,
}

/// Cancels a session's running upload from any thread.
#[derive(Clone)]
pub struct CancelHandle(Arc<CancelState>);

impl CancelHandle {
    /// Makes the running (or the next) [`Session::upload`] return [`Status::Cancelled`]
    /// promptly: blocked socket reads and writes are interrupted at once. The session
    /// stays resumable.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        let agent = self
            .0
            .agent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        agent.shutdown();
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.0.cancelled.load(Ordering::Relaxed))
            .finish()
    }
}

/// One file's upload session with Graph.
pub struct Session {
    config: Config,
    graph: Graph,
    /// What every agent of this session is made from (after a cancel, a new one).
    agent_config: ureq::config::Config,
    source: Box<dyn ByteSource>,
    id: String,
    handle: Option<String>,
    /// The bytes Graph last said it holds.
    confirmed: u64,
    /// The most bytes Graph ever confirmed: it may never report fewer.
    confirmed_max: u64,
    /// The most bytes ever handed to the network: Graph cannot hold more.
    sent_max: u64,
    /// Graph's offset must be asked before the next send.
    stale: bool,
    /// Graph was asked for its offset (or confirmed the end) at least once.
    asked: bool,
    /// The session was resumed: bytes sent before (perhaps by another process) may
    /// still land late, so no upper bound but the file's length can be checked.
    resumed: bool,
    /// The resume journal's entry for this file, held while the session lives.
    claim: Option<Claim>,
    cancel: Arc<CancelState>,
    /// The transfer figures, shared with whoever reads them during an upload.
    stats: Arc<Stats>,
    /// Where the session tells what it asks, hears and decides.
    trace: Trace,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("source", &self.source.describe())
            .field("length", &self.source.len())
            .field("confirmed", &self.confirmed)
            .field("handle", &self.handle)
            .finish()
    }
}

/// Step 3 on its own: how many bytes Graph holds for a session, without a file.
pub fn session_offset(config: &Config, session_id: &str) -> Result<u64, Error> {
    config.validate()?;
    graph::check_session_id(session_id).map_err(|m| {
        Error::new(
            Status::Argument,
            format!("{m}; pass the id exactly as Graph gave it"),
        )
    })?;
    let trace = config.trace();
    let agent = graph::new_agent(&graph::agent_config(config)?, &trace);
    let graph = Graph::new(config, agent, trace.clone());
    graph
        .offset(session_id)
        .map_err(|e| {
            let v = classify(&e);
            to_error(
                e,
                v.status,
                "cannot get the session's offset from Graph",
                v.rule,
                session_id,
            )
        })
        .map_err(|e| failed(&trace, e))
}

/// Tells the trace why a call fails, and hands the error on.
fn failed(trace: &Trace, e: Error) -> Error {
    trace.log(Level::Error, || {
        format!("failed ({}): {}", e.status.key(), e.message)
    });
    e
}

/// A session id from a caller, checked before it goes into a URL.
fn check_resume_id(session_id: &str) -> Result<(), Error> {
    graph::check_session_id(session_id).map_err(|m| {
        Error::new(
            Status::Argument,
            format!("{m}; pass the id exactly as fbup_session_id returned it"),
        )
    })
}

/// The name and type of bytes that come from a reader: both from the config.
fn reader_name_and_type(config: &Config, length: u64) -> Result<(String, String), Error> {
    if length == 0 {
        return Err(Error::new(
            Status::Argument,
            "length is 0; Graph accepts only files of one byte or more",
        ));
    }
    let name = config
        .file_name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            Error::new(
                Status::Argument,
                "file_name is required when the bytes come from a reader",
            )
        })?;
    let file_type = config.file_type.as_deref().ok_or_else(|| {
        Error::new(
            Status::Argument,
            "file_type is required when the bytes come from a reader",
        )
    })?;
    Ok((name, check_file_type(file_type)?.to_string()))
}

/// What the file is called and what type it is, as Graph is told.
fn name_and_type(config: &Config, path: &Path) -> Result<(String, String), Error> {
    let file_type = config.file_type_for(path)?;
    let name = match &config.file_name {
        Some(n) if !n.is_empty() => n.clone(),
        _ => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".into()),
    };
    Ok((name, file_type))
}

impl Session {
    /// Step 1: checks the file and the config, then asks Graph for a new upload
    /// session. Transient failures are retried like uploads are.
    ///
    /// With [`Config::state_dir`] set, a pending session recorded in the resume journal
    /// for the same file (same app, Graph, path, size, modification time and inode) is
    /// resumed instead, and a new one is recorded as soon as Graph returns its id.
    pub fn create(config: &Config, path: &Path) -> Result<Session, Error> {
        Session::create_or_take_up(config, path).map_err(|e| failed(&config.trace(), e))
    }

    fn create_or_take_up(config: &Config, path: &Path) -> Result<Session, Error> {
        config.validate()?;
        let source = FileSource::open(path)?;
        let (name, file_type) = name_and_type(config, path)?;
        let Some(dir) = &config.state_dir else {
            return Session::create_new(config, Box::new(source), &name, &file_type);
        };
        let claim = Claim::take(config, dir, path, &source.identity())?;
        // One open file from here on: the identity the journal keys on is the file
        // that is read.
        let mut source: Box<dyn ByteSource> = Box::new(source);
        if let Some(id) = claim.recorded() {
            let mut session = Session::with_id(config, source, id, true)?;
            session.trace.log(Level::Info, || {
                format!(
                    "the resume journal records session {} for this file: asking Graph's offset",
                    session.id
                )
            });
            match session.offset() {
                Ok(_) => {
                    session.claim = Some(claim);
                    return Ok(session);
                }
                // Graph no longer knows the session: start a new one.
                Err(e) if graph_forgot(&e) => {
                    session.trace.log(Level::Warning, || {
                        format!(
                            "Graph no longer knows the recorded session (unknown or expired: \
                             {}); starting a new session",
                            e.message
                        )
                    });
                    source = session.source;
                }
                Err(e) => return Err(e),
            }
        }
        let mut session = Session::create_new(config, source, &name, &file_type)?;
        claim.record(&session.id, config, session.len())?;
        session.claim = Some(claim);
        Ok(session)
    }

    /// Like [`Session::create`] for bytes that are not a file: `length` bytes read
    /// through `reader`. `file_name` and `file_type` come from the config and are
    /// required; the resume journal does not apply.
    pub fn create_from_reader(
        config: &Config,
        length: u64,
        reader: Box<dyn ReadAt>,
    ) -> Result<Session, Error> {
        config.validate()?;
        let (name, file_type) = reader_name_and_type(config, length)?;
        Session::create_new(
            config,
            Box::new(ReaderSource {
                reader,
                len: length,
            }),
            &name,
            &file_type,
        )
        .map_err(|e| failed(&config.trace(), e))
    }

    /// Like [`Session::resume`] for bytes read through `reader`.
    pub fn resume_from_reader(
        config: &Config,
        length: u64,
        reader: Box<dyn ReadAt>,
        session_id: &str,
    ) -> Result<Session, Error> {
        config.validate()?;
        reader_name_and_type(config, length)?;
        check_resume_id(session_id)?;
        let source = Box::new(ReaderSource {
            reader,
            len: length,
        });
        let mut session = Session::with_id(config, source, session_id.into(), true)?;
        session
            .offset()
            .map_err(|e| failed(&session.trace, unknown_session(e, session_id)))?;
        Ok(session)
    }

    fn create_new(
        config: &Config,
        source: Box<dyn ByteSource>,
        name: &str,
        file_type: &str,
    ) -> Result<Session, Error> {
        let mut session = Session::with_id(config, source, String::new(), false)?;
        let mut budget = Budget::new(config);
        let id = loop {
            match session
                .graph
                .create(&config.app_id, name, session.source.len(), file_type)
            {
                Ok(id) => break id,
                Err(e) => {
                    let verdict = classify(&e);
                    match budget.next_wait(&verdict, e.wait_hint()) {
                        Ok(wait) => {
                            session.retrying(&budget, wait, &e, verdict.rule);
                            std::thread::sleep(wait)
                        }
                        Err(why) => {
                            return Err(to_error(
                                e,
                                verdict.status,
                                "cannot create an upload session",
                                &why,
                                "",
                            ))
                        }
                    }
                }
            }
        };
        // The same agent goes on: its connection is warm.
        session
            .trace
            .log(Level::Info, || format!("new upload session {id}"));
        session.id = id;
        Ok(session)
    }

    /// Re-opens a session created earlier (perhaps by another process) and asks Graph
    /// how many bytes it holds (step 3).
    pub fn resume(config: &Config, path: &Path, session_id: &str) -> Result<Session, Error> {
        config.validate()?;
        check_resume_id(session_id)?;
        let source = FileSource::open(path)?;
        name_and_type(config, path)?;
        let mut session = Session::with_id(config, Box::new(source), session_id.into(), true)?;
        session
            .offset()
            .map_err(|e| failed(&session.trace, unknown_session(e, session_id)))?;
        Ok(session)
    }

    fn with_id(
        config: &Config,
        source: Box<dyn ByteSource>,
        id: String,
        resumed: bool,
    ) -> Result<Session, Error> {
        let agent_config = graph::agent_config(config)?;
        let trace = config.trace();
        let agent = graph::new_agent(&agent_config, &trace);
        let stats = Arc::new(Stats::default());
        let mut graph = Graph::new(config, agent.clone(), trace.clone());
        graph.count_into(stats.clone());
        Ok(Session {
            config: config.clone(),
            graph,
            agent_config,
            source,
            id,
            handle: None,
            confirmed: 0,
            confirmed_max: 0,
            sent_max: 0,
            stale: resumed,
            asked: false,
            resumed,
            claim: None,
            cancel: Arc::new(CancelState {
                cancelled: AtomicBool::new(false),
                agent: Mutex::new(agent),
            }),
            stats,
            trace,
        })
    }

    /// The session id, `?sig=` part included: persist it to resume later.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The file handle, once the upload is complete.
    pub fn handle(&self) -> Option<&str> {
        self.handle.as_deref()
    }

    /// How many bytes Graph held when last asked (or confirmed by completing).
    pub fn confirmed_offset(&self) -> u64 {
        self.confirmed
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.source.len()
    }

    /// Always false: empty files are refused when a session is made.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The transfer figures so far: bytes confirmed and sent, requests, retries,
    /// resumes, time waited and time spent uploading.
    pub fn info(&self) -> Info {
        self.stats.snapshot()
    }

    /// The live counters behind [`Session::info`], for a reader on another thread.
    pub(crate) fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// A handle that cancels this session's upload from any thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    /// Step 3: asks Graph how many bytes it holds, and checks the answer against
    /// what this session knows.
    pub fn offset(&mut self) -> Result<u64, Error> {
        let off = self.graph.offset(&self.id).map_err(|e| {
            let v = classify(&e);
            to_error(
                e,
                v.status,
                "cannot get the session's offset from Graph",
                v.rule,
                &self.id,
            )
        })?;
        self.reconcile(off)?;
        Ok(off)
    }

    /// Uploads the file from Graph's offset to the end, resuming on its own after
    /// network failures, timeouts, 5xx and transient Graph errors. `progress` is
    /// called with `(bytes_done, bytes_total)`; returning false cancels. On success
    /// returns Graph's handle, byte for byte (it may hold `\n`).
    pub fn upload(&mut self, progress: &mut ProgressFn<'_>) -> Result<&str, Error> {
        if self.handle.is_some() {
            return Err(Error::new(
                Status::State,
                "this upload is already complete; read its handle instead of uploading again",
            ));
        }
        self.stats.running(true);
        let result = self.upload_loop(progress);
        self.stats.running(false);
        if self.cancel.cancelled.swap(false, Ordering::SeqCst) {
            // A cancel shut the agent's connections down for good: make a new one so
            // that the session can be resumed.
            self.trace.log(Level::Debug, || {
                "the cancel shut this session's connections down; the next call opens new ones"
                    .into()
            });
            self.rebuild_agent();
            self.stale = true;
        }
        result.map_err(|e| failed(&self.trace, e))?;
        self.trace.log(Level::Info, || {
            let i = self.stats.snapshot();
            format!(
                "complete: Graph holds all {} bytes; {} body bytes sent in {} requests; \
                 retries: {}, resumes: {}, waited {} ms, {} ms in all",
                self.source.len(),
                i.bytes_sent,
                i.requests,
                i.retries,
                i.resumes,
                i.wait.as_millis(),
                i.elapsed.as_millis()
            )
        });
        if let Some(claim) = self.claim.take() {
            claim.forget();
        }
        Ok(self.handle.as_deref().unwrap_or(""))
    }

    /// Gives the session (and its cancel handles) a fresh agent.
    fn rebuild_agent(&mut self) {
        let agent = graph::new_agent(&self.agent_config, &self.trace);
        *self.cancel.agent.lock().unwrap_or_else(|e| e.into_inner()) = agent.clone();
        self.graph.set_agent(agent);
    }

    fn cancelled(&self) -> bool {
        self.cancel.cancelled.load(Ordering::SeqCst)
    }

    fn cancel_error(&self) -> Error {
        let held = if self.asked {
            format!(
                "Graph held {} of {} bytes when last asked",
                self.confirmed,
                self.source.len()
            )
        } else {
            format!(
                "Graph was not asked how many of the {} bytes it holds",
                self.source.len()
            )
        };
        Error::new(
            Status::Cancelled,
            format!(
                "upload cancelled; {held}. Resume session {} to go on",
                self.id
            ),
        )
    }

    /// Graph holds every byte, but the one empty POST that asks for the handle again
    /// failed (`why`, or an answer without `h`). Never a success without a handle, never
    /// a loop: the session is done for, and its journal entry is forgotten so that a
    /// new upload of the file starts a new session.
    fn handle_lost(&mut self, why: Option<RequestError>) -> Error {
        self.trace.log(Level::Warning, || {
            "Graph holds every byte but the empty POST at file_length brought no handle: the \
             handle is lost (rule: one try at the empty POST, never a success without a handle)"
                .into()
        });
        if let Some(claim) = self.claim.take() {
            claim.forget();
        }
        let detail = match &why {
            Some(e) => e.to_string(),
            None => "Graph answered without a handle".into(),
        };
        let mut e = Error::new(
            Status::HandleLost,
            format!(
                "every byte of the file ({} bytes) reached Graph, but the answer carrying the \
                 handle was lost and asking again failed ({detail}); upload the file again, \
                 in a new session",
                self.source.len()
            ),
        );
        if let Some(RequestError::Graph {
            http_status, error, ..
        }) = why
        {
            e.http_status = http_status;
            e.graph = Some(Box::new(error));
        }
        e
    }

    /// Tells the caller's event function, if any.
    fn emit(&self, event: Event) {
        if let Some(f) = &self.config.on_event {
            f(&event);
        }
    }

    /// Reports (and counts) that the upload goes on from Graph's offset `off`.
    fn resuming(&self, off: u64) {
        self.trace.log(Level::Info, || {
            format!(
                "Graph holds {off} of {} bytes: going on from {off}",
                self.source.len()
            )
        });
        Stats::add(&self.stats.resumes, 1);
        self.emit(Event::Resume {
            offset: off,
            total: self.source.len(),
        });
    }

    /// Reports a retry that `budget` just granted, and counts it.
    fn retrying(&self, budget: &Budget, wait: Duration, e: &RequestError, rule: &str) {
        self.trace.log(Level::Warning, || {
            format!(
                "retry: attempt {} of {} failed ({e}); rule: {rule}; waiting {} ms",
                budget.failures(),
                self.config.max_attempts,
                wait.as_millis()
            )
        });
        Stats::add(&self.stats.retries, 1);
        Stats::add(
            &self.stats.wait_us,
            wait.as_micros().min(u64::MAX as u128) as u64,
        );
        if self.config.on_event.is_some() {
            self.emit(Event::Retry {
                attempt: budget.failures(),
                max_attempts: self.config.max_attempts,
                wait,
                reason: e.to_string(),
            });
        }
    }

    fn upload_loop(&mut self, callback: &mut ProgressFn<'_>) -> Result<(), Error> {
        crate::panic_point("session");
        let total = self.source.len();
        let mut progress = Progress::new(callback, total);
        let mut budget = Budget::new(&self.config);
        let mut pacer = Pacer::new(self.config.max_send_rate, self.config.send_buffer);
        if !progress.update(self.confirmed) {
            self.cancel.cancelled.store(true, Ordering::SeqCst);
        }
        loop {
            if self.cancelled() {
                return Err(self.cancel_error());
            }
            self.source.check_unchanged()?;
            if self.stale {
                let before = self.confirmed;
                match self.graph.offset(&self.id) {
                    Ok(off) => {
                        self.reconcile(off)?;
                        self.stale = false;
                        if off > before {
                            budget.progressed();
                        }
                        self.resuming(off);
                    }
                    Err(e) => {
                        self.recover(&mut budget, e, "cannot get the session's offset from Graph")?;
                        continue;
                    }
                }
            }
            let start = self.confirmed;
            let answer = if start == total {
                // Graph holds every byte but its answer with the handle was lost:
                // an empty POST at the end asks for it again.
                self.graph.upload(&self.id, total, 0, &mut io::empty())
            } else {
                let mut body = BodyReader {
                    source: &*self.source,
                    pos: start,
                    end: total,
                    progress: &mut progress,
                    pacer: &mut pacer,
                    cancelled: &self.cancel.cancelled,
                };
                let answer = self.graph.upload(&self.id, start, total - start, &mut body);
                Stats::add(&self.stats.sent, body.pos - start);
                self.sent_max = self.sent_max.max(body.pos);
                answer
            };
            // Whatever happened, only Graph's own offset says where to go on from.
            self.stale = true;
            if start == total && !matches!(answer, Ok(UploadAnswer::Handle(_))) {
                if self.cancelled() {
                    return Err(self.cancel_error());
                }
                return Err(self.handle_lost(answer.err()));
            }
            match answer {
                Ok(UploadAnswer::Handle(h)) => {
                    self.source.check_unchanged()?;
                    self.confirmed = total;
                    self.confirmed_max = total;
                    self.stats.confirmed.store(total, Ordering::Relaxed);
                    self.stale = false;
                    self.asked = true;
                    self.handle = Some(h);
                    progress.finish();
                    return Ok(());
                }
                Ok(UploadAnswer::Accepted) => {
                    // Graph took the request but not every byte: ask where it stands.
                    self.trace.log(Level::Info, || {
                        "Graph accepted the request without a handle: asking its offset".into()
                    });
                    if !budget.count() {
                        return Err(Error::new(
                            Status::Protocol,
                            "Graph accepted request after request without completing the file \
                             or moving its offset",
                        ));
                    }
                }
                Err(e) => {
                    if self.cancelled() {
                        return Err(self.cancel_error());
                    }
                    if self.offset_settles(&e, start)? {
                        // The refusal was about the offset: go on from Graph's.
                        if self.confirmed > start {
                            budget.progressed();
                            continue;
                        }
                        if budget.count() {
                            continue;
                        }
                    }
                    self.recover(&mut budget, e, "upload failed")?;
                }
            }
        }
    }

    /// After Graph refused an upload request (any answer but a token or permission
    /// error), or answered it with something outside the protocol, its own offset
    /// decides before the error's code does: a refusal is most often about the
    /// `file_offset` (late bytes landed, or an offset read right after a cut lagged
    /// behind), whatever code, subcode or body Graph chose to say so. True (with the
    /// offset taken) when Graph's offset differs from the `file_offset` sent.
    fn offset_settles(&mut self, e: &RequestError, start: u64) -> Result<bool, Error> {
        let worth_asking = match e {
            RequestError::Graph { error, .. } => {
                !is_token_code(error.code) && !is_permission_code(error.code)
            }
            RequestError::Http { .. } => true,
            RequestError::Protocol { http_status, .. } => (200..300).contains(http_status),
            _ => false,
        };
        if !worth_asking {
            return Ok(false);
        }
        self.trace.log(Level::Info, || {
            format!("the request sent at file_offset {start} was refused: asking Graph's offset before deciding")
        });
        match self.graph.offset(&self.id) {
            Ok(off) if off != start => {
                self.trace.log(Level::Info, || {
                    format!(
                        "Graph's offset {off} differs from the file_offset {start} sent: the \
                         refusal was about the offset (rule: decide from Graph's offset)"
                    )
                });
                self.reconcile(off)?;
                self.stale = false;
                self.resuming(off);
                Ok(true)
            }
            Ok(_) => {
                self.trace.log(Level::Info, || {
                    format!(
                        "Graph's offset is the file_offset {start} sent: the error's class decides"
                    )
                });
                Ok(false)
            }
            Err(_) => Ok(false),
        }
    }

    /// After a failed request: a new token, a wait before the next try, or the error
    /// that ends the upload.
    fn recover(
        &mut self,
        budget: &mut Budget,
        e: RequestError,
        context: &str,
    ) -> Result<(), Error> {
        if let RequestError::Source(_) = e {
            // A file that changed explains a failed read best.
            self.source.check_unchanged()?;
        }
        let verdict = classify(&e);
        if verdict.action == Action::Reauthenticate {
            return self.refresh_token(budget, e, context);
        }
        let wait = match budget.next_wait(&verdict, e.wait_hint()) {
            Ok(wait) => wait,
            Err(why) => return Err(to_error(e, verdict.status, context, &why, &self.id)),
        };
        self.retrying(budget, wait, &e, verdict.rule);
        // Sleep in short slices so that a cancel is seen at once.
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.cancelled() {
                return Err(self.cancel_error());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        Ok(())
    }

    /// Graph refused the token: ask the caller's callback for a new one.
    fn refresh_token(
        &mut self,
        budget: &mut Budget,
        e: RequestError,
        context: &str,
    ) -> Result<(), Error> {
        let verdict = classify(&e);
        let Some(refresh) = self.config.token_refresh.clone() else {
            return Err(to_error(e, Status::Auth, context, verdict.rule, &self.id));
        };
        if !budget.count() {
            return Err(to_error(
                e,
                Status::Auth,
                context,
                "token refused again after refreshes; gave up (max_attempts)",
                &self.id,
            ));
        }
        self.trace.log(Level::Warning, || {
            format!("Graph refused the token ({e}): asking the token callback for a new one")
        });
        match refresh() {
            Some(token)
                if !token.is_empty()
                    && !token.bytes().any(|b| b.is_ascii_control() || b == b' ') =>
            {
                self.graph.set_token(&token);
                self.trace.log(Level::Info, || {
                    "got a new token: trying again with it".into()
                });
                self.config.access_token = token;
                Ok(())
            }
            _ => Err(to_error(
                e,
                Status::Auth,
                context,
                "token refused (code 190) and the token callback gave no new token",
                &self.id,
            )),
        }
    }

    /// Takes Graph's offset after checking it against what this session knows.
    fn reconcile(&mut self, off: u64) -> Result<(), Error> {
        let total = self.source.len();
        if off > total {
            return Err(Error::new(
                Status::Protocol,
                format!("Graph reports {off} bytes held, more than the file's {total}"),
            ));
        }
        if off < self.confirmed_max {
            return Err(Error::new(
                Status::Protocol,
                format!(
                    "the server lost data: it reports {off} bytes held after confirming {}",
                    self.confirmed_max
                ),
            ));
        }
        if off > self.sent_max && !self.resumed {
            return Err(Error::new(
                Status::Protocol,
                format!(
                    "Graph reports {off} bytes held but only {} were ever sent: another writer \
                     on this session?",
                    self.sent_max
                ),
            ));
        }
        self.confirmed = off;
        self.confirmed_max = off;
        self.stats.confirmed.store(off, Ordering::Relaxed);
        self.asked = true;
        self.sent_max = self.sent_max.max(off);
        Ok(())
    }
}

/// True when Graph's answer to an offset request says it does not know the session
/// (unknown or expired): any 4xx refusal but a token, permission or throttling one,
/// with a Graph error object (code 100 and any subcode, ...) or without (a bare 400,
/// 404 or 410).
fn graph_forgot(e: &Error) -> bool {
    if !(400..500).contains(&e.http_status) || e.http_status == 429 {
        return false;
    }
    match &e.graph {
        Some(g) => {
            !is_token_code(g.code) && !is_permission_code(g.code) && !is_throttling_code(g.code)
        }
        None => matches!(e.http_status, 400 | 404 | 410),
    }
}

/// A resume of a session Graph no longer knows: a Graph error that says so.
fn unknown_session(e: Error, session_id: &str) -> Error {
    if !graph_forgot(&e) {
        return e;
    }
    Error {
        status: Status::Graph,
        message: format!(
            "Graph does not know session {session_id}: it is unknown or has expired ({}); \
             start a new upload of the file",
            e.message
        ),
        ..e
    }
}

/// The public error for a request error: what failed, what the server said, the
/// rule that decided, and what to do next (resuming `session_id`, when there is one).
fn to_error(e: RequestError, status: Status, context: &str, rule: &str, session_id: &str) -> Error {
    let http_status = e.http_status();
    let then = if session_id.is_empty() {
        "try again".to_string()
    } else {
        format!("resume session {session_id}")
    };
    let advice = match status {
        Status::Auth => format!("get a new access token, then {then}"),
        Status::Throttled => format!("Graph is throttling this app: wait, then {then}"),
        Status::Network | Status::Timeout => format!("check the network, then {then}"),
        Status::Protocol => "the server's answer is outside the Resumable Upload API".into(),
        _ => String::new(),
    };
    let (graph, detail) = match e {
        RequestError::Graph { error, .. } => {
            let mut d = format!("Graph error code {}", error.code);
            if error.subcode != 0 {
                d.push_str(&format!(" subcode {}", error.subcode));
            }
            if !error.error_type.is_empty() {
                d.push_str(&format!(" ({})", error.error_type));
            }
            d.push_str(&format!(", HTTP {http_status}: {}", error.message));
            if !error.fbtrace_id.is_empty() {
                d.push_str(&format!(" [fbtrace_id {}]", error.fbtrace_id));
            }
            (Some(Box::new(error)), d)
        }
        other => (None, other.to_string()),
    };
    let mut message = format!("{context}: {detail} (rule: {rule})");
    let lost_header = graph.as_ref().is_some_and(|g| {
        let m = g.message.to_ascii_lowercase();
        m.contains("file_offset") && (m.contains("required") || m.contains("missing"))
    });
    if lost_header {
        // fbup always sends it: something on the way removed it.
        message.push_str(
            "; the file_offset header did not reach Graph: a proxy on the way may drop headers \
             with underscores (nginx does by default)",
        );
    }
    if !advice.is_empty() {
        message.push_str("; ");
        message.push_str(&advice);
    }
    Error {
        status,
        http_status,
        graph,
        message,
    }
}

/// Streams the file from `pos` to `end` into the request body, reporting progress.
struct BodyReader<'s, 'p> {
    source: &'s dyn ByteSource,
    pos: u64,
    end: u64,
    progress: &'s mut Progress<'p>,
    pacer: &'s mut Pacer,
    cancelled: &'s AtomicBool,
}

impl Read for BodyReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(io::Error::other(SourceFailure("cancelled".into())));
        }
        if self.pos >= self.end || buf.is_empty() {
            return Ok(0);
        }
        crate::panic_point("source");
        let want = buf.len().min((self.end - self.pos) as usize);
        let want = self
            .pacer
            .take(want, self.cancelled)
            .ok_or_else(|| io::Error::other(SourceFailure("cancelled".into())))?;
        let n = self
            .source
            .read_at(&mut buf[..want], self.pos)
            .map_err(|e| {
                io::Error::other(SourceFailure(format!(
                    "cannot read the file at offset {}: {e}",
                    self.pos
                )))
            })?;
        if n == 0 {
            // Ending early would leave the request short of its Content-Length.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                SourceFailure(format!(
                    "the file ended at {} bytes, shorter than when the upload started",
                    self.pos
                )),
            ));
        }
        self.pos += n as u64;
        if !self.progress.update(self.pos) {
            self.cancelled.store(true, Ordering::SeqCst);
            return Err(io::Error::other(SourceFailure(
                "cancelled by the progress callback".into(),
            )));
        }
        Ok(n)
    }
}
