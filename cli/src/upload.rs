//! `fbup upload` and `fbup resume`: check the files, run the uploads, show their
//! progress, print each result as its file finishes, and cancel cleanly on Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use fbup::{CancelHandle, Client, Config, Session, Source, Status};

use crate::progress::Display;
use crate::{cli_message, exit_code, Common, Failure, Sending};

/// Set by the first Ctrl-C or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// When the first signal came: a second one within a moment is the same request (GNU
/// `timeout` and some supervisors send two), not a second Ctrl-C.
static FIRST_SIGNAL: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// How soon after the first a signal is taken as the same request.
const SAME_REQUEST: std::time::Duration = std::time::Duration::from_secs(1);

/// An upload running now, as a signal sees it: what cancels it, and what to tell the
/// user about it if Graph does not answer in time.
struct Running {
    number: usize,
    cancel: CancelHandle,
    session_id: String,
    file: PathBuf,
    journal: bool,
}

/// The uploads running now (each under a number of its own), cancelled by a signal.
/// A finished upload leaves, so that its connections close with its session.
static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<Running>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// The next number in `RUNNING`.
static NEXT_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How to go on with a session: the `fbup resume` command (and, with the journal, the
/// same command run again).
pub(crate) fn resume_advice(session_id: &str, file: &Path, journal: bool) -> String {
    let command = if crate::stdin::is_stdin(file) {
        format!("fbup resume '{session_id}' - < FILE, FILE holding the same bytes as this input")
    } else {
        format!("fbup resume '{session_id}' {}", file.display())
    };
    if journal {
        format!("run the same command again to resume, or: {command}")
    } else {
        format!("resume with: {command}")
    }
}

/// Ctrl-C and SIGTERM cancel the running uploads, saying so at once (they then report
/// what Graph holds and exit 19); a second one ends the process at once, unless it
/// comes within a second of the first (the same request, sent twice). Whatever is
/// still running five seconds later (a create being retried, an offset request that
/// hangs) is ended then, with exit 19 too, each session's id and resume command told.
pub(crate) fn handle_signals() {
    let _ = ctrlc::set_handler(|| {
        let first = *FIRST_SIGNAL.get_or_init(std::time::Instant::now);
        if INTERRUPTED.load(Ordering::SeqCst) && first.elapsed() < SAME_REQUEST {
            return;
        }
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            crate::progress::clear_bars();
            eprintln!("fbup: interrupted again; stopping now");
            tell_sessions("stopped");
            crate::stdin::remove_spool();
            std::process::exit(exit_code(Status::Cancelled).into());
        }
        let uploading = {
            let list = running();
            for r in list.iter() {
                r.cancel.cancel();
            }
            !list.is_empty()
        };
        crate::progress::say(if uploading {
            "fbup: stopping: cancelling the upload and asking Graph what it holds (again to \
             stop at once)"
        } else {
            "fbup: stopping (again to stop at once)"
        });
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(5));
            crate::progress::clear_bars();
            if !tell_sessions("Graph did not say in time what it holds") {
                eprintln!("fbup: cancelled before Graph created a session; nothing to resume");
            }
            crate::stdin::remove_spool();
            std::process::exit(exit_code(Status::Cancelled).into());
        });
    });
}

/// Tells each running upload's session id and resume command; false when none runs.
fn tell_sessions(why: &str) -> bool {
    let list = running();
    for r in list.iter() {
        eprintln!(
            "fbup: {}: cancelled; {why}; session {}; {}",
            r.file.display(),
            r.session_id,
            resume_advice(&r.session_id, &r.file, r.journal)
        );
    }
    !list.is_empty()
}

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

/// Checks one file: a regular, non-empty file of a known type. Returns its size.
fn check_file(path: &Path, file_type: Option<&str>) -> Result<u64, Failure> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::from_status(
            Status::File,
            format!("{shown}: no such file"),
        )),
        Err(e) => Err(Failure::from_status(
            Status::File,
            format!("{shown}: cannot look at it: {e}"),
        )),
        Ok(m) if m.is_dir() => Err(Failure::from_status(
            Status::Argument,
            format!("{shown}: is a directory; give the files inside it"),
        )),
        Ok(m) if !m.is_file() => Err(Failure::from_status(
            Status::Argument,
            format!("{shown}: not a regular file (a device, FIFO or socket)"),
        )),
        Ok(m) if m.len() == 0 => Err(Failure::from_status(
            Status::Argument,
            format!("{shown}: is empty; Graph accepts only files of one byte or more"),
        )),
        Ok(_) if file_type.is_none() && fbup::file_type_from_extension(path).is_none() => {
            Err(Failure::from_status(
                Status::Argument,
                format!(
                    "{shown}: cannot tell the file type from its extension; name it .pdf, \
                     .jpg, .jpeg, .png or .mp4, or pass --type with one of {}",
                    fbup::FILE_TYPES.join(", ")
                ),
            ))
        }
        Ok(m) => Ok(m.len()),
    }
}

/// Checks every file before any upload starts ([`check_file`]), and that none is given
/// twice. Returns their sizes.
fn check_files(files: &[PathBuf], file_type: Option<&str>) -> Result<Vec<u64>, Failure> {
    let mut problems: Vec<Failure> = Vec::new();
    let mut sizes = Vec::new();
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    for path in files {
        match check_file(path, file_type) {
            Err(f) => problems.push(f),
            Ok(size) => {
                let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                if let Some((_, first)) = seen.iter().find(|(r, _)| *r == real) {
                    return Err(Failure {
                        code: 2,
                        message: format!(
                            "{} and {} are the same file; give each file once",
                            first.display(),
                            path.display()
                        ),
                    });
                }
                seen.push((real, path));
                sizes.push(size);
            }
        }
    }
    match problems.len() {
        0 => Ok(sizes),
        1 => Err(problems.remove(0)),
        _ => {
            let code = problems[0].code;
            let message = problems
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join("\nfbup: ");
            Err(Failure { code, message })
        }
    }
}

/// With `--json`, an object for each file the checks refused (the same keys as a
/// failed upload's), so that a script sees every file it gave.
fn refused_objects(files: &[PathBuf], file_type: Option<&str>) {
    for file in files {
        if let Err(f) = check_file(file, file_type) {
            let status = Status::ALL
                .into_iter()
                .find(|s| exit_code(*s) == f.code)
                .unwrap_or(Status::Argument);
            println!(
                "{}",
                serde_json::json!({
                    "file": file.display().to_string(),
                    "session_id": null,
                    "error": f.message,
                    "status": status.key(),
                    "exit_code": f.code,
                })
            );
        }
    }
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
    let number = NEXT_RUNNING.fetch_add(1, Ordering::SeqCst);
    running().push(Running {
        number,
        cancel: cancel.clone(),
        session_id: id.clone(),
        file: path.to_path_buf(),
        journal,
    });
    if INTERRUPTED.load(Ordering::SeqCst) {
        cancel.cancel();
    }
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
    running().retain(|r| r.number != number);
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
        path.display()
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
            Some(n) => n.to_string_lossy().into_owned(),
            None => path.display().to_string(),
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
                display.stdout(&format!("{}\t{}", o.file.display(), one_line(handle)));
            } else {
                display.stdout(&one_line(handle));
            }
            0
        }
        Err(e) => {
            let message = cli_message(e);
            display.error(&format!("fbup: {}: {message}", o.file.display()));
            object["error"] = message.into();
            object["status"] = e.status.key().into();
            object["exit_code"] = exit_code(e.status).into();
            exit_code(e.status)
        }
    };
    if json {
        display.stdout(&object.to_string());
    }
    code
}

/// `fbup upload FILE...`: `jobs` files at a time, each in its own session; each
/// result is printed when its file finishes, and the first failure (in the order the
/// files were given) decides the exit code.
pub(crate) fn upload_files(
    config: &Config,
    files: &[PathBuf],
    jobs: usize,
    reupload: bool,
    out: Output,
) -> Result<(), Failure> {
    let sizes = check_files(files, config.file_type.as_deref()).inspect_err(|_| {
        if out.json {
            refused_objects(files, config.file_type.as_deref());
        }
    })?;
    let display = Display::new(out.quiet, files.len(), sizes.iter().sum());
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
    let next = AtomicUsize::new(0);
    let codes: Mutex<Vec<u8>> = Mutex::new(vec![0; files.len()]);
    let several = files.len() > 1;
    let job = Job {
        files,
        sizes: &sizes,
        next: &next,
        codes: &codes,
        display: &display,
        journal,
        reupload,
        several,
        json: out.json,
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(files.len()) {
            scope.spawn(|| job.run(scope, &client));
        }
    });
    drop(display);
    let codes = codes.into_inner().unwrap_or_else(|e| e.into_inner());
    match codes.into_iter().find(|c| *c != 0) {
        Some(code) => Err(Failure {
            code,
            message: String::new(),
        }),
        None => Ok(()),
    }
}

/// What the jobs of one `fbup upload` share.
struct Job<'a> {
    files: &'a [PathBuf],
    sizes: &'a [u64],
    next: &'a AtomicUsize,
    codes: &'a Mutex<Vec<u8>>,
    display: &'a Display,
    journal: bool,
    reupload: bool,
    several: bool,
    json: bool,
}

impl<'a> Job<'a> {
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
                while let Some(i) = take(self.next, self.files.len()) {
                    let failed = Outcome {
                        file: self.files[i].clone(),
                        session_id: None,
                        result: Err(e.clone()),
                        info: None,
                    };
                    self.done(i, &failed);
                }
                return;
            }
        };
        let open = |i: usize| {
            Opened::open(
                client,
                &self.files[i],
                self.sizes[i],
                self.display,
                self.journal,
            )
        };
        // At most one session ahead per job: the next file's session is created
        // while this file's body is on the wire.
        let mut ahead: Option<(usize, std::thread::ScopedJoinHandle<'_, Opened<'_>>)> = None;
        loop {
            let (i, opened) = match ahead.take() {
                Some((i, h)) => match h.join() {
                    Ok(o) => (i, Some(o)),
                    Err(_) => (i, None),
                },
                None => match take(self.next, self.files.len()) {
                    Some(i) => (i, None),
                    None => break,
                },
            };
            let outcome = if INTERRUPTED.load(Ordering::SeqCst) {
                if let Some(o) = opened {
                    o.progress.finish(false, None);
                }
                Outcome {
                    file: self.files[i].clone(),
                    session_id: None,
                    result: Err(fbup::Error::new(
                        Status::Cancelled,
                        "cancelled before its upload started",
                    )),
                    info: None,
                }
            } else {
                let opened = opened.unwrap_or_else(|| open(i));
                if let Some(j) = take(self.next, self.files.len()) {
                    ahead = Some((j, scope.spawn(move || open(j))));
                }
                upload_one(client, opened, self.display, self.reupload)
            };
            self.done(i, &outcome);
        }
    }

    /// Prints a file's outcome and keeps its exit code.
    fn done(&self, i: usize, outcome: &Outcome) {
        let code = report(outcome, self.several, self.json, self.display);
        self.codes.lock().unwrap_or_else(|e| e.into_inner())[i] = code;
    }
}

/// The next file no job has taken yet.
fn take(next: &AtomicUsize, len: usize) -> Option<usize> {
    let i = next.fetch_add(1, Ordering::SeqCst);
    (i < len).then_some(i)
}

/// `fbup resume SESSION_ID FILE`.
pub(crate) fn resume(
    config: &Config,
    session_id: &str,
    file: &Path,
    out: Output,
) -> Result<(), Failure> {
    let sizes = check_files(&[file.to_path_buf()], config.file_type.as_deref())?;
    let display = Display::new(out.quiet, 1, sizes[0]);
    let name = file.display().to_string();
    let progress = display.file(&name, sizes[0]);
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
    match report(&outcome, false, out.json, &display) {
        0 => Ok(()),
        code => Err(Failure {
            code,
            message: String::new(),
        }),
    }
}
