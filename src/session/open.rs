//! Opening a session: the source checked and named, then the session given, the one
//! the resume journal records, or a new one from Graph (step 1, through the retry
//! driver).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{check_file_type, documented_type, file_type_for};
use crate::error::{words, Error, Field, Step};
use crate::event::Event;
use crate::info::Stats;
use crate::journal::{Claim, Refusal};
use crate::plan::{Naming, Plan};
use crate::source::{ByteSource, FileSource, Identity, ReaderSource};
use crate::trace::Level;

use super::driver::Driver;
use super::ledger::{graph_forgot, Ledger, Sizing};
use super::words::{refused_create, unknown_session};
use super::{check_session_id, CancelHandle, Client, Session, Source};

/// A source checked and named: the bytes, what Graph is told, and for a file, what
/// the journal keys on.
struct Prepared {
    bytes: Box<dyn ByteSource>,
    name: String,
    file_type: String,
    file: Option<(PathBuf, Identity)>,
}

/// Opens a session for `source` (see [`Session::open`]).
pub(super) fn open(
    client: &Client,
    source: Source,
    resume_id: Option<&str>,
    cancel: &CancelHandle,
) -> Result<Session, Error> {
    let plan = &client.plan;
    let prepared = match source {
        Source::File(path) => {
            // The id is checked before the file, as the C functions always did.
            resume_id.map(check_session_id).transpose()?;
            prepare_file(&plan.naming, path)?
        }
        Source::Reader { length, reader } => {
            let (name, file_type) = reader_name_and_type(&plan.naming, length)?;
            resume_id.map(check_session_id).transpose()?;
            let bytes = Box::new(ReaderSource {
                reader,
                len: length,
            });
            Prepared {
                bytes,
                name,
                file_type,
                file: None,
            }
        }
    };
    let claim = match (&plan.state_dir, &prepared.file) {
        (Some(dir), Some((path, identity))) => {
            let claim = claim(plan, dir, path, identity)?;
            // Once the folder passed its checks (and this entry is held, so it stays).
            if claim.is_some() {
                client.prune_once(dir);
            }
            claim
        }
        _ => None,
    };
    let result = match (resume_id, claim) {
        (Some(id), claim) => resume(client, prepared.bytes, id, claim, cancel),
        (None, Some(claim)) => take_up(client, prepared, claim, cancel),
        (None, None) => create(client, prepared, cancel),
    };
    if result.is_err() {
        // A cancel bounds the call it was given: the handle is clear for the next one.
        cancel.0.clear();
    }
    result
}

/// The journal's entry for this file, held: `None` when the journal cannot be used
/// here (said once as an event and in the trace; the upload goes on without it).
fn claim(
    plan: &Plan,
    dir: &Path,
    path: &Path,
    identity: &Identity,
) -> Result<Option<Claim>, Error> {
    let claim = match Claim::take(&plan.endpoint, dir, path, identity)? {
        Ok(c) => c,
        Err(Refusal::Unsafe(e)) => return Err(e),
        Err(Refusal::Unavailable(why)) => {
            journal_off(
                plan,
                format!("the resume journal '{}': {why}", dir.display()),
            );
            return Ok(None);
        }
    };
    Ok(Some(claim))
}

/// The journal cannot be used for this file: said, and the upload goes on.
fn journal_off(plan: &Plan, reason: String) {
    plan.trace.log(Level::Warning, || {
        format!("{reason}; the upload goes on, but a later process cannot resume it")
    });
    plan.emit(|| Event::JournalOff { reason });
}

/// Records `id` in the claimed entry; when it cannot be, the claim goes (with its lock)
/// and the upload goes on without the journal.
fn record(plan: &Plan, claim: Claim, id: &str, len: u64) -> Option<Claim> {
    match claim.record(id, &plan.endpoint, len) {
        Ok(()) => Some(claim),
        Err(why) => {
            journal_off(plan, format!("the resume journal: {why}"));
            None
        }
    }
}

/// Opens the file and names it.
fn prepare_file(naming: &Naming, path: PathBuf) -> Result<Prepared, Error> {
    let source = FileSource::open(&path)?;
    let (name, file_type) = name_and_type(naming, &path)?;
    let identity = source.identity();
    Ok(Prepared {
        bytes: Box::new(source),
        name,
        file_type,
        file: Some((path, identity)),
    })
}

/// What the file is called and what type it is, as Graph is told.
fn name_and_type(naming: &Naming, path: &Path) -> Result<(String, String), Error> {
    let file_type = file_type_for(naming.file_type.as_deref(), path)?;
    let name = match &naming.file_name {
        Some(n) if !n.is_empty() => n.clone(),
        _ => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".into()),
    };
    Ok((name, file_type))
}

/// The name and type of bytes that come from a reader: both from the config.
fn reader_name_and_type(naming: &Naming, length: u64) -> Result<(String, String), Error> {
    if length == 0 {
        return Err(Error::new(
            crate::Status::Argument,
            "length is 0; Graph accepts only files of one byte or more",
        ));
    }
    let required = |f: Field| {
        Error::argument(
            f,
            words(f).text(" is required when the bytes come from a reader"),
        )
    };
    let name = naming
        .file_name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| required(Field::FileName))?;
    let file_type = naming
        .file_type
        .as_deref()
        .ok_or_else(|| required(Field::FileType))?;
    Ok((name, check_file_type(file_type)?.to_string()))
}

impl Session {
    /// A session over `bytes` with id `id` (empty until Graph gives one), its agent
    /// handed to `cancel` so that a cancel shuts its connections down.
    fn assemble(
        client: &Client,
        bytes: Box<dyn ByteSource>,
        id: String,
        resumed: bool,
        cancel: &CancelHandle,
    ) -> Session {
        let plan = &client.plan;
        let stats = Arc::new(Stats::default());
        let mut g = plan.graph(client.agent.clone());
        g.count_into(stats.clone());
        g.interrupted_by(cancel.0.clone());
        Session {
            plan: plan.clone(),
            graph: g,
            ledger: Ledger::new(bytes.len(), resumed),
            sizing: Sizing::new(plan.pacing.max_request),
            source: bytes,
            id,
            handle: None,
            claim: None,
            cancel: cancel.0.clone(),
            stats,
        }
    }
}

/// The session `id` names, if Graph knows it: its offset asked once. With the
/// journal's entry for the file, the session is recorded there (a later upload of the
/// file resumes it) and the entry forgotten when it completes.
fn resume(
    client: &Client,
    bytes: Box<dyn ByteSource>,
    id: &str,
    claim: Option<Claim>,
    cancel: &CancelHandle,
) -> Result<Session, Error> {
    let mut session = Session::assemble(client, bytes, id.into(), true, cancel);
    session.ask_offset().map_err(|e| unknown_session(e, id))?;
    session.claim = claim.and_then(|c| record(&client.plan, c, id, session.len()));
    Ok(session)
}

/// The session the journal records for this file, if Graph still knows it; else a new
/// one, recorded as soon as Graph gives its id.
fn take_up(
    client: &Client,
    mut prepared: Prepared,
    claim: Claim,
    cancel: &CancelHandle,
) -> Result<Session, Error> {
    let plan = &client.plan;
    let recorded = match claim.recorded() {
        Ok(r) => r,
        Err(why) => {
            // An entry that cannot be read is left alone: its session may still be
            // resumable by hand.
            journal_off(plan, format!("the resume journal: {why}"));
            return create(client, prepared, cancel);
        }
    };
    if let Some(id) = recorded {
        let mut session = Session::assemble(client, prepared.bytes, id, true, cancel);
        plan.trace.log(Level::Info, || {
            format!(
                "the resume journal records session {} for this file: asking Graph's offset",
                session.id
            )
        });
        match session.ask_offset() {
            Ok(_) => {
                session.claim = Some(claim);
                return Ok(session);
            }
            // Graph no longer knows the session: start a new one.
            Err(e) if graph_forgot(&e) => {
                plan.trace.log(Level::Warning, || {
                    format!(
                        "Graph no longer knows the recorded session (unknown or expired: {}); \
                         starting a new session",
                        e.message
                    )
                });
                // One open file from here on: the identity the journal keys on is
                // the file that is read.
                prepared.bytes = session.source;
            }
            Err(e) => return Err(e),
        }
    }
    let mut session = create(client, prepared, cancel)?;
    session.claim = record(plan, claim, &session.id, session.len());
    Ok(session)
}

/// Step 1: a new session from Graph, failures retried by the driver.
fn create(client: &Client, prepared: Prepared, cancel: &CancelHandle) -> Result<Session, Error> {
    let plan = &client.plan;
    let mut session = Session::assemble(client, prepared.bytes, String::new(), false, cancel);
    let mut driver = Driver::new(plan, session.cancel.clone(), session.stats.clone());
    let len = session.source.len();
    if !documented_type(&prepared.file_type) {
        plan.trace.log(Level::Info, || {
            format!(
                "file_type {} is not one of the five Graph's documentation lists; Graph decides \
                 whether it takes it",
                prepared.file_type
            )
        });
    }
    let id = loop {
        if driver.cancelled() {
            return Err(session.cancel_error());
        }
        match session
            .graph
            .create(&prepared.name, len, &prepared.file_type)
        {
            Ok(id) => break id,
            Err(_) if driver.cancelled() => return Err(session.cancel_error()),
            Err(e) => driver
                .recover(e, Step::Create, "")
                .map_err(|h| refused_create(session.halted(h), &prepared.file_type))?,
        }
    };
    // The same agent goes on: its connection is warm.
    plan.trace
        .log(Level::Info, || format!("new upload session {id}"));
    session.id = id;
    Ok(session)
}
