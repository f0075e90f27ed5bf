//! `fbup upload` and `fbup resume`: check the files, run the uploads, show their
//! progress, print each result as its file finishes, and cancel cleanly on Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use fbup::{CancelHandle, Client, Config, Session, Source, Status};

use crate::checks::{check_file, check_files, report_refused};
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
fn warn_undocumented_types(config: &Config, files: &[PathBuf], display: &Display) {
    let types: std::collections::BTreeSet<&str> = files
        .iter()
        .filter_map(|f| {
            config
                .file_type
                .as_deref()
                .or_else(|| fbup::file_type_from_extension(f))
        })
        .filter(|t| !fbup::FILE_TYPES.contains(t))
        .collect();
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
fn ending(codes: impl IntoIterator<Item = u8>) -> Result<(), Failure> {
    let code = if OUTPUT_BROKEN.load(Ordering::SeqCst) {
        Some(crate::out::OUTPUT_FAILED)
    } else {
        codes.into_iter().find(|c| *c != 0)
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
/// files were given) decides the exit code.
pub(crate) fn upload_files(
    config: &Config,
    files: &[PathBuf],
    jobs: usize,
    reupload: bool,
    out: Output,
) -> Result<(), Failure> {
    // Every file is checked before the first byte; those refused are said now, and
    // the others uploaded: one bad name in a catalogue stops no other file.
    let checked = check_files(files, config.file_type.as_deref());
    let mut codes = vec![0; files.len()];
    let mut sizes = vec![0; files.len()];
    let mut queue = Vec::with_capacity(files.len());
    for (i, check) in checked.into_iter().enumerate() {
        match check {
            Ok(size) => {
                sizes[i] = size;
                queue.push(i);
            }
            Err(refused) => {
                report_refused(&files[i], &refused, out.json)?;
                codes[i] = refused.code;
            }
        }
    }
    if queue.is_empty() {
        return ending(codes);
    }
    let display = Display::new(out.quiet, queue.len(), sizes.iter().sum());
    warn_undocumented_types(config, files, &display);
    let asked = jobs.min(queue.len());
    let (jobs, limited_by) = crate::descriptors::jobs_that_fit(asked);
    if let Some(soft) = limited_by {
        display.line(&format!(
            "fbup: running {jobs} job{} at a time, not the {} asked: this process may open \
             {soft} descriptors (ulimit -n) and a job needs up to {}; the files wait their turn",
            if jobs == 1 { "" } else { "s" },
            asked,
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
    let next = AtomicUsize::new(0);
    let codes: Mutex<Vec<u8>> = Mutex::new(codes);
    let several = files.len() > 1;
    let job = Job {
        files,
        queue: &queue,
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
        for _ in 0..jobs {
            scope.spawn(|| job.run(scope, &client));
        }
    });
    drop(display);
    ending(codes.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// What the jobs of one `fbup upload` share.
struct Job<'a> {
    files: &'a [PathBuf],
    /// The files to upload (those that passed the checks), by their place in `files`.
    queue: &'a [usize],
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
                while let Some(i) = take(self.next, self.queue) {
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
                None => match take(self.next, self.queue) {
                    Some(i) => (i, None),
                    None => break,
                },
            };
            let outcome = if interrupted() {
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
                if let Some(j) = take(self.next, self.queue) {
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

/// The next file of the queue no job has taken yet (its place in the files given).
fn take(next: &AtomicUsize, queue: &[usize]) -> Option<usize> {
    queue.get(next.fetch_add(1, Ordering::SeqCst)).copied()
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
    ending([code])
}
