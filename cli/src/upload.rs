//! `fbup upload` and `fbup resume`: check the files, run the uploads, show their
//! progress, print each result as its file finishes, and cancel cleanly on Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use fbup::{CancelHandle, Client, Config, Session, Source, Status};

use crate::checks::{check_all, check_file, Checked};
use crate::list::AllNames;
use crate::out::escaped;
use crate::progress::Display;
use crate::signals::{interrupted, resume_advice, Running};
use crate::{cli_message, exit_code, Common, Failure, Sending};

/// Set when stdout could not be written: the command then ends with exit 3.
static OUTPUT_BROKEN: AtomicBool = AtomicBool::new(false);

/// How results are shown: `--quiet`, `--json`.
#[derive(Clone, Copy)]
pub(crate) struct Output {
    quiet: bool,
    json: bool,
}

impl Output {
    pub(crate) fn of(common: &Common, sending: &Sending) -> Output {
        Output {
            quiet: common.quiet,
            json: sending.json,
        }
    }
}

/// What came of one file.
struct Outcome {
    file: PathBuf,
    session_id: Option<String>,
    result: Result<String, fbup::Error>,
    /// The session's transfer figures, when there was a session.
    info: Option<fbup::Info>,
}

/// Handles hold no backslash, so writing their newlines as `\n` keeps one line per
/// file and can be undone.
fn one_line(handle: &str) -> String {
    handle.replace('\n', "\\n")
}

/// What the command says when a file's upload was cancelled: what Graph holds (asked
/// now) and how to go on.
fn cancelled_message(session: &mut Session, path: &Path, journal: bool) -> String {
    let held = match session.offset() {
        Ok(off) => format!("Graph holds {off} of {} bytes", session.len()),
        Err(_) => "Graph could not be asked how many bytes it holds".to_string(),
    };
    let how = resume_advice(session.id(), path, journal);
    format!("cancelled; {held}; {how}")
}

/// Runs one session to its end, with the file's progress and events.
fn run_session(
    session: &mut Session,
    path: &Path,
    progress: crate::progress::FileProgress<'_>,
    journal: bool,
) -> Outcome {
    let id = session.id().to_string();
    let cancel = session.cancel_handle();
    let number = crate::signals::enter(Running {
        cancel,
        session_id: id.clone(),
        file: path.to_path_buf(),
        journal,
    });
    let mut result = session
        .upload(&mut |done, total| {
            progress.update(done, total);
            true
        })
        .map(str::to_string);
    let info = session.info();
    progress.finish(result.is_ok(), Some(&info));
    if let Err(e) = &mut result {
        if e.status == Status::Cancelled {
            // Still listed while Graph is asked what it holds: if it does not say in
            // time, the signal handler names this session and how to resume it.
            e.message = cancelled_message(session, path, journal);
        }
    }
    crate::signals::leave(number);
    Outcome {
        file: path.to_path_buf(),
        session_id: Some(id),
        result,
        info: Some(info),
    }
}

/// Uploads one file from its opened session; when Graph holds every byte but the
/// handle is lost, uploads it once more in a new session if `reupload`.
fn upload_one(client: &Client, opened: Opened<'_>, display: &Display, reupload: bool) -> Outcome {
    let (path, size, journal) = (opened.path.clone(), opened.size, opened.journal);
    let outcome = opened.run();
    let lost = matches!(&outcome.result, Err(e) if e.status == Status::HandleLost);
    if !(lost && reupload) {
        return outcome;
    }
    display.error(&format!(
        "fbup: {}: every byte reached Graph but the handle was lost; uploading the file again \
         in a new session (--no-reupload turns this off)",
        escaped(&path.display().to_string())
    ));
    Opened::open(client, &path, size, display, journal).run()
}

/// A file whose session is open (or failed to open), with its progress line.
struct Opened<'d> {
    path: PathBuf,
    size: u64,
    journal: bool,
    progress: crate::progress::FileProgress<'d>,
    session: Result<Session, fbup::Error>,
}

impl<'d> Opened<'d> {
    /// Opens the file's session over the command's client (its connections shared with
    /// every other file of the command).
    fn open(client: &Client, path: &Path, size: u64, display: &'d Display, journal: bool) -> Self {
        let name = match path.file_name() {
            _ if crate::stdin::is_stdin(path) => "stdin".to_string(),
            Some(n) => escaped(&n.to_string_lossy()),
            None => escaped(&path.display().to_string()),
        };
        let progress = display.file(&name, size);
        let client = client.with_events(Some(progress.events()));
        let session = client.open(Source::File(path.into()), None, &CancelHandle::new());
        Opened {
            path: path.to_path_buf(),
            size,
            journal,
            progress,
            session,
        }
    }

    /// Uploads the file, or reports why its session could not be opened.
    fn run(self) -> Outcome {
        match self.session {
            Ok(mut s) => run_session(&mut s, &self.path, self.progress, self.journal),
            Err(e) => {
                self.progress.finish(false, None);
                Outcome {
                    file: self.path,
                    session_id: None,
                    result: Err(e),
                    info: None,
                }
            }
        }
    }
}

/// Prints one outcome as its file finishes; returns its exit code.
fn report(o: &Outcome, several: bool, json: bool, display: &Display) -> u8 {
    let mut object = serde_json::json!({
        "file": o.file.display().to_string(),
        "session_id": o.session_id,
    });
    if let Some(i) = &o.info {
        object["info"] = serde_json::json!({
            "bytes_confirmed": i.bytes_confirmed,
            "bytes_sent": i.bytes_sent,
            "requests": i.requests,
            "retries": i.retries,
            "resumes": i.resumes,
            "wait_ms": i.wait.as_millis() as u64,
            "elapsed_ms": i.elapsed.as_millis() as u64,
        });
    }
    let code = match &o.result {
        Ok(handle) => {
            if json {
                object["handle"] = handle.as_str().into();
            } else if several {
                let file = escaped(&o.file.display().to_string());
                print_result(display, &format!("{file}\t{}", one_line(handle)));
            } else {
                print_result(display, &one_line(handle));
            }
            0
        }
        Err(e) => {
            let message = cli_message(e);
            let file = escaped(&o.file.display().to_string());
            display.error(&format!("fbup: {file}: {message}"));
            object["error"] = message.into();
            object["status"] = e.status.key().into();
            object["exit_code"] = exit_code(e.status).into();
            exit_code(e.status)
        }
    };
    if json {
        print_result(display, &object.to_string());
    }
    code
}

/// Prints a result line on stdout. When stdout cannot be written (a closed pipe, a
/// full disk), says so once, stops the uploads (those in flight end as on Ctrl-C,
/// resumable; the others do not start), and puts the line on stderr instead, so that
/// no handle is lost; the command then exits 3.
fn print_result(display: &Display, text: &str) {
    let Err(e) = display.stdout(text) else {
        return;
    };
    if !OUTPUT_BROKEN.swap(true, Ordering::SeqCst) {
        display.error(&format!(
            "fbup: cannot write to standard output: {e}; stopping: the uploads in flight are \
             cancelled and stay resumable"
        ));
        crate::signals::stop_uploads();
    }
    display.error(&format!("fbup: not written to standard output: {text}"));
}

/// Says once per type (not per file) that Graph's documentation does not list it: Graph
/// decides, and its refusal, if it comes, is told with the file.
fn warn_undocumented_types(types: &std::collections::BTreeSet<String>, display: &Display) {
    for t in types {
        display.line(&format!(
            "fbup: warning: Graph's documentation does not list the file type {}; Graph decides \
             whether it takes it (it lists {})",
            escaped(t),
            fbup::FILE_TYPES.join(", ")
        ));
    }
}

/// The command's end: exit 3 when stdout could not be written, else the first failed
/// file's code (in the order the files were given).
fn ending(first_failure: Option<(usize, u8)>) -> Result<(), Failure> {
    let code = if OUTPUT_BROKEN.load(Ordering::SeqCst) {
        Some(crate::out::OUTPUT_FAILED)
    } else {
        first_failure.map(|(_, code)| code)
    };
    match code {
        Some(code) => Err(Failure {
            code,
            message: String::new(),
        }),
        None => Ok(()),
    }
}

/// `fbup upload FILE...`: `jobs` files at a time, each in its own session; each
/// result is printed when its file finishes, and the first failure (in the order the
/// files were given) decides the exit code. The names are read twice, never all held:
/// once for the checks, once as the jobs take them.
pub(crate) fn upload_files(
    config: &Config,
    names: &AllNames,
    jobs: usize,
    reupload: bool,
    out: Output,
) -> Result<(), Failure> {
    // Every file is checked before the first byte; those refused are said now, and
    // the others uploaded: one bad name in a catalogue stops no other file.
    let checked = check_all(names, config.file_type.as_deref(), out.quiet, out.json)?;
    if checked.files == 0 {
        return ending(checked.first_failure);
    }
    let display = Display::new(out.quiet, checked.files, checked.bytes);
    warn_undocumented_types(&checked.undocumented, &display);
    let asked = jobs.min(checked.files);
    let (jobs, limited_by) = crate::descriptors::jobs_that_fit(asked);
    if let Some(soft) = limited_by {
        display.line(&format!(
            "fbup: running {jobs} job{} at a time, not the {asked} asked: this process may open \
             {soft} descriptors (ulimit -n) and a job needs up to {}; the files wait their turn",
            if jobs == 1 { "" } else { "s" },
            crate::descriptors::PER_JOB
        ));
    }
    let journal = config.state_dir.is_some();
    // One client for every file: one pool of connections, one TLS handshake per pooled
    // connection rather than per file, one token holder.
    let mut config = config.clone();
    if config.log.is_some() {
        config.log = Some(display.trace());
    }
    // --limit-rate is the whole command's: the files running at once share it.
    let limit = std::mem::take(&mut config.max_send_rate);
    // A config Graph cannot be asked with fails each file, as a session would.
    let client = Client::new(&config).map(|c| c.sharing_send_rate(limit));
    let first_failure = {
        let job = Job {
            feed: Mutex::new(Feed {
                names: Box::new(names.iter()),
                next: 0,
                ended: false,
            }),
            checked: &checked,
            first_failure: Mutex::new(checked.first_failure),
            display: &display,
            journal,
            reupload,
            several: names.len() > 1,
            json: out.json,
        };
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| job.run(scope, &client));
            }
        });
        job.first_failure.into_inner()
    };
    drop(display);
    ending(first_failure.unwrap_or_else(|e| e.into_inner()))
}

/// The names as the jobs take them, read a second time (the checks read them first).
struct Feed<'a> {
    names: Box<dyn Iterator<Item = Result<PathBuf, Failure>> + Send + 'a>,
    /// The place of the next name in the order given.
    next: usize,
    /// No name is left (or the list could not be read back).
    ended: bool,
}

/// What the jobs of one `fbup upload` share.
struct Job<'a> {
    feed: Mutex<Feed<'a>>,
    checked: &'a Checked,
    /// The first failed file (its place in the order given) and its exit code.
    first_failure: Mutex<Option<(usize, u8)>>,
    display: &'a Display,
    journal: bool,
    reupload: bool,
    several: bool,
    json: bool,
}

impl<'a> Job<'a> {
    /// The next file no job has taken yet, that the checks passed: its place in the
    /// order given, its name and its size.
    fn take(&self) -> Option<(usize, PathBuf, u64)> {
        let mut feed = self.feed.lock().unwrap_or_else(|e| e.into_inner());
        while !feed.ended {
            let i = feed.next;
            let Some(name) = feed.names.next() else {
                feed.ended = true;
                break;
            };
            feed.next += 1;
            match name {
                Ok(_) if self.checked.is_refused(i) => continue,
                Ok(path) => {
                    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                    return Some((i, path, size));
                }
                Err(e) => {
                    feed.ended = true;
                    self.display.error(&format!("fbup: {}", e.message));
                    self.failed(i, e.code);
                }
            }
        }
        None
    }

    /// One job: takes the next file until none is left, with at most one session
    /// created ahead, on the command's client (or reports why there is none).
    fn run<'s>(
        &'s self,
        scope: &'s std::thread::Scope<'s, '_>,
        client: &'s Result<Client, fbup::Error>,
    ) {
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                while let Some((i, file, _)) = self.take() {
                    let failed = Outcome {
                        file,
                        session_id: None,
                        result: Err(e.clone()),
                        info: None,
                    };
                    self.done(i, &failed);
                }
                return;
            }
        };
        let open =
            |path: &Path, size: u64| Opened::open(client, path, size, self.display, self.journal);
        // At most one session ahead per job: the next file's session is created, by
        // the job's one helper thread (not a thread a file), while this file's body is
        // on the wire.
        let (ask, asked) = std::sync::mpsc::channel::<(PathBuf, u64)>();
        let (opened_tx, opened_rx) = std::sync::mpsc::channel::<Opened<'_>>();
        scope.spawn(move || {
            for (path, size) in asked {
                if opened_tx.send(open(&path, size)).is_err() {
                    break;
                }
            }
        });
        type Next = (usize, PathBuf, u64);
        // The next file, and whether the helper was asked to open it (else, or when
        // the helper is gone, which only a panic can do, it is opened in turn).
        let mut ahead: Option<(Next, bool)> = None;
        loop {
            let ((i, file, size), opened) = match ahead.take() {
                Some((next, true)) => (next, opened_rx.recv().ok()),
                Some((next, false)) => (next, None),
                None => match self.take() {
                    Some(next) => (next, None),
                    None => break,
                },
            };
            let outcome = if interrupted() {
                if let Some(o) = opened {
                    o.progress.finish(false, None);
                }
                Outcome {
                    file,
                    session_id: None,
                    result: Err(fbup::Error::new(
                        Status::Cancelled,
                        "cancelled before its upload started",
                    )),
                    info: None,
                }
            } else {
                let opened = opened.unwrap_or_else(|| open(&file, size));
                if let Some(next) = self.take() {
                    let asked = ask.send((next.1.clone(), next.2)).is_ok();
                    ahead = Some((next, asked));
                }
                upload_one(client, opened, self.display, self.reupload)
            };
            self.done(i, &outcome);
        }
    }

    /// Prints a file's outcome and keeps its exit code.
    fn done(&self, i: usize, outcome: &Outcome) {
        let code = report(outcome, self.several, self.json, self.display);
        if code != 0 {
            self.failed(i, code);
        }
    }

    /// Keeps the first failure in the order the files were given.
    fn failed(&self, i: usize, code: u8) {
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none_or(|(j, _)| i < j) {
            *first = Some((i, code));
        }
    }
}

/// `fbup resume SESSION_ID FILE`.
pub(crate) fn resume(
    config: &Config,
    session_id: &str,
    file: &Path,
    out: Output,
) -> Result<(), Failure> {
    let size = check_file(file, config.file_type.as_deref())?;
    let display = Display::new(out.quiet, 1, size);
    let name = escaped(&file.display().to_string());
    let progress = display.file(&name, size);
    let mut config = config.clone();
    config.on_event = Some(progress.events());
    if config.log.is_some() {
        config.log = Some(display.trace());
    }
    let outcome = match Session::resume(&config, file, session_id) {
        Ok(mut s) => run_session(&mut s, file, progress, true),
        Err(e) => {
            progress.finish(false, None);
            Outcome {
                file: file.to_path_buf(),
                session_id: Some(session_id.to_string()),
                result: Err(e),
                info: None,
            }
        }
    };
    let code = report(&outcome, false, out.json, &display);
    ending((code != 0).then_some((0, code)))
}
