//! `fbup upload` and `fbup resume`: run uploads, show their progress, print handles.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use fbup::{Config, Session};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{exit_code, Common, Failure};

/// How progress is shown on stderr.
pub(crate) enum Display {
    /// A bar per file (stderr is a terminal).
    Bars(MultiProgress),
    /// Plain lines at every tenth of a file (stderr is a file or a pipe).
    Lines,
    /// Nothing (`--quiet`).
    Quiet,
}

impl Display {
    pub(crate) fn new(quiet: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Display::Lines
        }
    }

    /// The progress of one file.
    pub(crate) fn file(&self, name: &str) -> FileProgress {
        let bar = match self {
            Display::Bars(multi) => {
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:20!} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(name.to_string());
                Some(bar)
            }
            _ => None,
        };
        FileProgress {
            name: name.to_string(),
            bar,
            lines: matches!(self, Display::Lines),
            next_tenth: 0,
        }
    }
}

/// One file's progress display.
pub(crate) struct FileProgress {
    name: String,
    bar: Option<ProgressBar>,
    lines: bool,
    next_tenth: u64,
}

impl FileProgress {
    pub(crate) fn update(&mut self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        } else if self.lines && total > 0 {
            let tenth = done * 10 / total;
            if tenth >= self.next_tenth {
                eprintln!(
                    "fbup: {}: {}% ({done} of {total} bytes)",
                    self.name,
                    tenth * 10
                );
                self.next_tenth = tenth + 1;
            }
        }
    }

    pub(crate) fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_string()),
            None if self.lines => eprintln!("fbup: {}: {text}", self.name),
            None => {}
        }
    }

    pub(crate) fn finish(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(text.to_string()),
            None => self.note(text),
        }
    }
}

/// What came of one file.
struct Outcome {
    file: PathBuf,
    session_id: Option<String>,
    result: Result<String, fbup::Error>,
}

fn upload_one(config: &Config, path: &Path, display: &Display) -> Outcome {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut progress = display.file(&name);
    let mut session = match Session::create(config, path) {
        Ok(s) => s,
        Err(e) => {
            progress.finish("failed");
            return Outcome {
                file: path.to_path_buf(),
                session_id: None,
                result: Err(e),
            };
        }
    };
    run_session(&mut session, path, &mut progress)
}

fn run_session(session: &mut Session, path: &Path, progress: &mut FileProgress) -> Outcome {
    let id = session.id().to_string();
    let result = session
        .upload(&mut |done, total| {
            progress.update(done, total);
            true
        })
        .map(str::to_string);
    progress.finish(if result.is_ok() { "done" } else { "failed" });
    Outcome {
        file: path.to_path_buf(),
        session_id: Some(id),
        result,
    }
}

/// Handles hold no backslash, so writing their newlines as `\n` keeps one line per
/// file and can be undone.
fn one_line(handle: &str) -> String {
    handle.replace('\n', "\\n")
}

/// Prints the outcomes in the order the files were given; returns the first failure.
fn report(outcomes: Vec<Outcome>, several: bool, json: bool) -> Result<(), Failure> {
    let mut first_failure = None;
    for o in outcomes {
        let mut object = serde_json::json!({
            "file": o.file.display().to_string(),
            "session_id": o.session_id,
        });
        match &o.result {
            Ok(handle) if json => object["handle"] = handle.as_str().into(),
            Ok(handle) if several => println!("{}\t{}", o.file.display(), one_line(handle)),
            Ok(handle) => println!("{}", one_line(handle)),
            Err(e) => {
                eprintln!("fbup: {}: {}", o.file.display(), e.message);
                object["error"] = e.message.as_str().into();
                object["status"] = e.status.describe().into();
                object["exit_code"] = exit_code(e.status).into();
                first_failure.get_or_insert(Failure {
                    code: exit_code(e.status),
                    message: String::new(),
                });
            }
        }
        if json {
            println!("{object}");
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// `fbup upload FILE...`: `jobs` files at a time, each in its own session.
pub(crate) fn upload_files(
    config: &Config,
    files: &[PathBuf],
    jobs: usize,
    common: &Common,
) -> Result<(), Failure> {
    let display = Display::new(common.quiet);
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(files.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(path) = files.get(i) else {
                    break;
                };
                let outcome = upload_one(config, path, &display);
                outcomes.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(outcome);
            });
        }
    });
    if let Display::Bars(multi) = &display {
        let _ = multi.clear();
    }
    let outcomes = outcomes
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect();
    report(outcomes, files.len() > 1, common.json)
}

/// `fbup resume SESSION_ID FILE`.
pub(crate) fn resume(
    config: &Config,
    session_id: &str,
    file: &Path,
    common: &Common,
) -> Result<(), Failure> {
    let display = Display::new(common.quiet);
    let mut progress = display.file(&file.display().to_string());
    let outcome = match Session::resume(config, file, session_id) {
        Ok(mut s) => {
            progress.note(&format!("resuming from byte {}", s.confirmed_offset()));
            run_session(&mut s, file, &mut progress)
        }
        Err(e) => Outcome {
            file: file.to_path_buf(),
            session_id: Some(session_id.to_string()),
            result: Err(e),
        },
    };
    report(vec![outcome], false, common.json)
}
