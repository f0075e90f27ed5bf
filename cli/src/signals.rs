//! Ctrl-C and SIGTERM, and every other reason to stop the running uploads (a stdout
//! that cannot be written): the uploads running now, cancelled together, each told
//! with its session id and how to resume it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use fbup::{CancelHandle, Status};

use crate::exit_code;

/// Set by the first Ctrl-C or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// When the first signal came: a second one within a moment is the same request (GNU
/// `timeout` and some supervisors send two), not a second Ctrl-C.
static FIRST_SIGNAL: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// How soon after the first a signal is taken as the same request.
const SAME_REQUEST: std::time::Duration = std::time::Duration::from_secs(1);

/// An upload running now, as a signal sees it: what cancels it, and what to tell the
/// user about it if Graph does not answer in time.
pub(crate) struct Running {
    pub(crate) cancel: CancelHandle,
    pub(crate) session_id: String,
    pub(crate) file: PathBuf,
    pub(crate) journal: bool,
}

/// The uploads running now (each under a number of its own), cancelled by a signal.
/// A finished upload leaves, so that its connections close with its session.
static RUNNING: Mutex<Vec<(usize, Running)>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<(usize, Running)>> {
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
        format!(
            "fbup resume '{session_id}' {}",
            crate::out::escaped(&file.display().to_string())
        )
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
            crate::out::err("fbup: interrupted again; stopping now");
            tell_sessions("stopped");
            crate::stdin::remove_spool();
            std::process::exit(exit_code(Status::Cancelled).into());
        }
        let uploading = stop_uploads();
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
                crate::out::err(
                    "fbup: cancelled before Graph created a session; nothing to resume",
                );
            }
            crate::stdin::remove_spool();
            std::process::exit(exit_code(Status::Cancelled).into());
        });
    });
}

/// Tells each running upload's session id and resume command; false when none runs.
fn tell_sessions(why: &str) -> bool {
    let list = running();
    for (_, r) in list.iter() {
        crate::out::err(&format!(
            "fbup: {}: cancelled; {why}; session {}; {}",
            crate::out::escaped(&r.file.display().to_string()),
            r.session_id,
            resume_advice(&r.session_id, &r.file, r.journal)
        ));
    }
    !list.is_empty()
}

/// True once the uploads are to stop (a signal, or a stdout that cannot be written).
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Stops every upload: those running are cancelled (each ends as a cancel does,
/// resumable), those not started yet will not start. True when some were running.
pub(crate) fn stop_uploads() -> bool {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let list = running();
    for (_, r) in list.iter() {
        r.cancel.cancel();
    }
    !list.is_empty()
}

/// Lists an upload as running (a signal cancels it) until [`leave`] with the number
/// returned; one that registers after the uploads were stopped is cancelled at once.
pub(crate) fn enter(r: Running) -> usize {
    let number = NEXT_RUNNING.fetch_add(1, Ordering::SeqCst);
    let cancel = r.cancel.clone();
    running().push((number, r));
    if interrupted() {
        cancel.cancel();
    }
    number
}

/// The upload `number` no longer runs.
pub(crate) fn leave(number: usize) {
    running().retain(|(n, _)| *n != number);
}
