//! The upload state machine: open a session (new, recorded in the journal, or given),
//! send the file from the server's offset, and on failure ask the server where it
//! stands and go on from there.
//!
//! The rooms: `client` (what sessions share: the plan and the connection pool), `open`
//! (opening a session), `run` (the upload loop), `driver` (the one
//! retry driver), `ledger` (the decisions, without I/O), `words` (error wording),
//! `body` (the request body); this file is the session and its accessors.

mod body;
mod client;
mod driver;
mod ledger;
mod open;
mod run;
mod words;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::Config;
use crate::error::{Error, Field, Step, Words};
use crate::graph::{self, Graph, Interrupt};
use crate::info::{Info, Stats};
use crate::journal::Claim;
use crate::plan::Plan;
use crate::source::{ByteSource, ReadAt};
use crate::trace::Level;

use ledger::{Ledger, Sizing};

pub use client::Client;

/// Cancels a session's calls from any thread: the opening of the session it is given
/// to ([`Session::open`], [`Client::open`]), then that session's uploads. A cancel
/// shuts down the connection carrying the session's request, and no other: sessions
/// of one [`Client`] go on undisturbed.
#[derive(Clone)]
pub struct CancelHandle(Arc<Interrupt>);

impl CancelHandle {
    /// A handle to give to [`Session::open`], so that the opening can be cancelled too.
    pub fn new() -> CancelHandle {
        CancelHandle(Arc::new(Interrupt::default()))
    }

    /// Makes the running (or the next) [`Session::upload`] return [`Status::Cancelled`](crate::Status::Cancelled)
    /// promptly: a blocked socket read or write is interrupted at once. The session
    /// stays resumable. During [`Session::open`], makes the opening return
    /// [`Status::Cancelled`](crate::Status::Cancelled) (a wait between two tries ends within 50 ms).
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

impl Default for CancelHandle {
    fn default() -> CancelHandle {
        CancelHandle::new()
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.0.is_cancelled())
            .finish()
    }
}

/// Where a session's bytes come from.
#[non_exhaustive]
pub enum Source {
    /// A regular file, watched for changes; its name and type (from the extension)
    /// are what Graph is told unless the config says otherwise.
    File(PathBuf),
    /// `length` bytes read through `reader`; the config's `file_name` and `file_type`
    /// are required, and the resume journal does not apply.
    Reader {
        /// How many bytes there are.
        length: u64,
        /// Reads them at any offset.
        reader: Box<dyn ReadAt>,
    },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => f.debug_tuple("File").field(p).finish(),
            Source::Reader { length, .. } => {
                f.debug_struct("Reader").field("length", length).finish()
            }
        }
    }
}

/// One file's upload session with Graph.
pub struct Session {
    plan: Plan,
    graph: Graph,
    source: Box<dyn ByteSource>,
    id: String,
    handle: Option<String>,
    ledger: Ledger,
    /// How large each request's body may be.
    sizing: Sizing,
    /// The resume journal's entry for this file, held while the session lives.
    claim: Option<Claim>,
    cancel: Arc<Interrupt>,
    /// The transfer figures, shared with whoever reads them during an upload.
    stats: Arc<Stats>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("source", &self.source.describe())
            .field("length", &self.source.len())
            .field("confirmed", &self.ledger.confirmed)
            .field("handle", &self.handle)
            .finish()
    }
}

/// Step 3 on its own: how many bytes Graph holds for a session, without a file.
pub fn session_offset(config: &Config, session_id: &str) -> Result<u64, Error> {
    Client::new(config)?.offset(session_id)
}

/// How many bytes Graph holds for `session_id`, asked over `client`'s pool.
fn offset_of(client: &Client, session_id: &str) -> Result<u64, Error> {
    check_session_id(session_id)?;
    let graph = client.plan.graph(client.agent.clone());
    graph.offset(session_id).map_err(|e| {
        let v = crate::retry::classify(&e);
        words::to_error(
            e,
            v.status,
            Step::Offset,
            Words::default().text(v.rule),
            session_id,
        )
    })
}

/// A session id from a caller, checked before it goes into a URL.
fn check_session_id(session_id: &str) -> Result<(), Error> {
    graph::check_session_id(session_id).map_err(|m| {
        Error::argument(
            Field::SessionId,
            Words::default().text(format!("{m}; pass the id exactly as Graph gave it")),
        )
    })
}

/// Tells the trace why a call fails, and hands the error on with every token of the
/// plan blotted out.
fn failed(plan: &Plan, e: Error) -> Error {
    let e = plan.scrub(e);
    plan.trace.log(Level::Error, || {
        format!("failed ({}): {}", e.status.key(), e.message)
    });
    e
}

impl Session {
    /// Opens a session for `source`: the session `resume_id` names (Graph is asked
    /// how many bytes it holds), or with none, a session recorded in the resume
    /// journal for the same file (when the plan has a `state_dir`) or a new one.
    /// Transient failures are retried as uploads are, a refused token is refreshed,
    /// and `cancel` cancels the opening, then the session's uploads.
    pub fn open(
        plan: &Plan,
        source: Source,
        resume_id: Option<&str>,
        cancel: &CancelHandle,
    ) -> Result<Session, Error> {
        Client::from_plan(plan.clone()).open(source, resume_id, cancel)
    }

    /// Step 1: checks the file and the config, then asks Graph for a new upload
    /// session, or takes up the one the resume journal records for the same file (same
    /// app, Graph, path, size, modification time and inode) when
    /// [`Config::state_dir`] is set. Shorthand for [`Session::open`] with a file.
    pub fn create(config: &Config, path: &std::path::Path) -> Result<Session, Error> {
        let plan = Plan::resolve(config)?;
        Session::open(&plan, Source::File(path.into()), None, &CancelHandle::new())
    }

    /// Like [`Session::create`] for bytes that are not a file: `length` bytes read
    /// through `reader`. `file_name` and `file_type` come from the config and are
    /// required; the resume journal does not apply.
    pub fn create_from_reader(
        config: &Config,
        length: u64,
        reader: Box<dyn ReadAt>,
    ) -> Result<Session, Error> {
        let plan = Plan::resolve(config)?;
        let source = Source::Reader { length, reader };
        Session::open(&plan, source, None, &CancelHandle::new())
    }

    /// Re-opens a session created earlier (perhaps by another process) and asks Graph
    /// how many bytes it holds (step 3). With [`Config::state_dir`], the journal's
    /// entry for the file is locked (as [`Session::create`] locks it) and records this
    /// session until it completes.
    pub fn resume(
        config: &Config,
        path: &std::path::Path,
        session_id: &str,
    ) -> Result<Session, Error> {
        let plan = Plan::resolve(config)?;
        let source = Source::File(path.into());
        Session::open(&plan, source, Some(session_id), &CancelHandle::new())
    }

    /// Like [`Session::resume`] for bytes read through `reader`.
    pub fn resume_from_reader(
        config: &Config,
        length: u64,
        reader: Box<dyn ReadAt>,
        session_id: &str,
    ) -> Result<Session, Error> {
        let plan = Plan::resolve(config)?;
        let source = Source::Reader { length, reader };
        Session::open(&plan, source, Some(session_id), &CancelHandle::new())
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
        self.ledger.confirmed
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
    /// what this session knows. A cancel ([`CancelHandle::cancel`]) during the call
    /// makes it return [`Status::Cancelled`](crate::Status::Cancelled) promptly; one made while no call ran makes
    /// it return so at once. Either way the cancel ends with this call.
    pub fn offset(&mut self) -> Result<u64, Error> {
        if self.cancel.clear() {
            return Err(self.cancel_error());
        }
        let off = self.ask_offset();
        if self.cancel.clear() {
            // The cancel shut this session's connection down: the next call asks again.
            self.ledger.stale = true;
            if off.is_err() {
                return Err(self.cancel_error());
            }
        }
        off
    }

    /// Asks Graph's offset and reconciles it, with no regard to a cancel (the opening
    /// calls handle theirs).
    pub(crate) fn ask_offset(&mut self) -> Result<u64, Error> {
        let off = self.graph.offset(&self.id).map_err(|e| {
            let v = crate::retry::classify(&e);
            words::to_error(
                e,
                v.status,
                Step::Offset,
                Words::default().text(v.rule),
                &self.id,
            )
        });
        let off = off.and_then(|off| self.reconcile(off).map(|()| off));
        off.map_err(|e| self.plan.scrub(e))
    }

    /// Takes Graph's offset after checking it against what this session knows.
    fn reconcile(&mut self, off: u64) -> Result<(), Error> {
        self.ledger.reconcile(off)?;
        self.stats.confirmed.store(off, Ordering::Relaxed);
        Ok(())
    }

    /// The error of a cancelled call.
    fn cancel_error(&self) -> Error {
        let held = self.ledger.asked.then_some(self.ledger.confirmed);
        words::cancelled(&self.id, held, self.source.len())
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Leaves `cancel`, the handle the session was opened with, behind: from now on it
    /// reaches nothing of this session, whose own cancel handle starts clear.
    pub(crate) fn leave_canceller(&mut self, cancel: &CancelHandle) {
        if !Arc::ptr_eq(&self.cancel, &cancel.0) {
            return;
        }
        cancel.0.clear();
        self.cancel = Arc::new(Interrupt::default());
        self.graph.interrupted_by(self.cancel.clone());
    }

    /// The error a driven call stopped with.
    fn halted(&self, h: driver::Halt) -> Error {
        match h {
            driver::Halt::Failed(e) => e,
            driver::Halt::Cancelled => self.cancel_error(),
        }
    }
}
