//! What `fbup` shows on stderr while files upload: a bar per file (and one for all of
//! them) on a terminal, fitted to its width, plain lines otherwise (also when stdout
//! is a pipe, whose reader may write to the same terminal), nothing with
//! `--quiet`. Retries and resumes are told once, as a line above the bars, when they
//! happen; the figures say "sent" (bytes handed to the network: Graph confirms them
//! only with its answer); the rate counts only this run's bytes and decays while
//! nothing moves; a figure that cannot be known yet (a rate in the first moments) is
//! not shown.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fbup::{Event, EventFn};

use crate::terminal::{EndOfText, BAR_MARK, MARGIN};
use indicatif::ProgressStyle;
use indicatif::{HumanBytes, HumanCount, MultiProgress, ProgressBar, ProgressDrawTarget};

/// The bars of the running command, for what the signal handler says and for a
/// clean screen before an exit that skips the usual ends.
static BARS: std::sync::OnceLock<MultiProgress> = std::sync::OnceLock::new();

/// A line on stderr above the bars (or plain, without bars), from anywhere.
pub(crate) fn say(text: &str) {
    match BARS.get() {
        Some(multi) if multi.println(text).is_ok() => {}
        _ => crate::out::err(text),
    }
}

/// Takes the bars off the screen, before the process ends on its own terms.
pub(crate) fn clear_bars() {
    if let Some(multi) = BARS.get() {
        let _ = multi.clear();
    }
}

/// The bar's parts: the file name's columns and the figures' (`12.00 MiB/48.00 MiB
/// sent 8.10 MiB/s ETA 4s`, cut beyond).
const PREFIX: usize = 16;
const FIGURES: usize = 46;

/// The terminal's width now.
fn columns() -> usize {
    console::Term::stderr().size().1 as usize
}

/// A bar's template for a terminal of `cols` columns: the bar takes what the name and
/// the figures leave, less the margin, so that the line fits at any width.
fn template(cols: usize, color: &str) -> String {
    let bar = cols.saturating_sub(PREFIX + 4 + FIGURES + MARGIN).max(3);
    format!("{{prefix:{PREFIX}!}} [{{bar:{bar}{color}}}] {{msg:{FIGURES}!}}{BAR_MARK}")
}

/// The rate is shown once it has been measured over this long.
const RATE_SHOWN_AFTER: Duration = Duration::from_millis(500);

/// `7s`, `2m05s`, `1h02m`.
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The shown rate follows the measured one with this time constant.
const RATE_SMOOTHING: Duration = Duration::from_secs(2);

/// How progress is shown.
enum Mode {
    /// Bars (stderr is a terminal, and stdout is not a pipe).
    Bars(MultiProgress),
    /// Plain lines at every tenth of a file (stderr is a file or a pipe, or stdout is
    /// a pipe).
    Lines,
    /// Nothing but errors (`--quiet`).
    Quiet,
}

/// Whether lines may be redrawn in place on stderr (bars, counts): only on a terminal,
/// and only when nothing else writes to that screen unseen. A stdout on the same
/// terminal goes between the redraws; one that is a pipe may reach the screen through
/// its reader (`| tee`) at any time, so then progress is plain lines, as on a file.
pub(crate) fn may_redraw() -> bool {
    std::io::stderr().is_terminal() && !crate::out::stdout_is_a_pipe()
}

/// The display of one command: its files and, with several, their total.
pub(crate) struct Display {
    mode: Mode,
    overall: Option<Overall>,
    /// The journal's failure was told (once per command, not per file).
    journal_told: Arc<AtomicBool>,
}

/// The bar of all files together.
struct Overall {
    bar: ProgressBar,
    files: u64,
    finished: AtomicU64,
}

impl Display {
    /// `total_bytes` of `files` files will be uploaded.
    pub(crate) fn new(quiet: bool, files: usize, total_bytes: u64) -> Display {
        let mode = if quiet {
            Mode::Quiet
        } else if may_redraw() {
            let target = ProgressDrawTarget::term_like_with_hz(
                Box::new(EndOfText::new(console::Term::buffered_stderr())),
                20,
            );
            let multi = MultiProgress::with_draw_target(target);
            let _ = BARS.set(multi.clone());
            Mode::Bars(multi)
        } else {
            Mode::Lines
        };
        let overall = match &mode {
            Mode::Bars(multi) if files > 1 => {
                let bar = multi.add(ProgressBar::new(total_bytes));
                bar.set_style(style(&template(columns(), ".cyan")));
                bar.set_prefix("all files");
                Some(Overall {
                    bar,
                    files: files as u64,
                    finished: AtomicU64::new(0),
                })
            }
            _ => None,
        };
        let display = Display {
            mode,
            overall,
            journal_told: Arc::new(AtomicBool::new(false)),
        };
        display.refresh_overall();
        display
    }

    /// A line on stderr that stays above the bars.
    pub(crate) fn line(&self, text: &str) {
        match &self.mode {
            Mode::Bars(multi) => {
                if multi.println(text).is_err() {
                    crate::out::err(text);
                }
            }
            Mode::Lines => crate::out::err(text),
            Mode::Quiet => {}
        }
    }

    /// Writes a line to stdout without tearing the bars; a failed write is the
    /// caller's to report (never a panic).
    pub(crate) fn stdout(&self, text: &str) -> std::io::Result<()> {
        match &self.mode {
            Mode::Bars(multi) => multi.suspend(|| crate::out::line(text)),
            _ => crate::out::line(text),
        }
    }

    /// Prints the trace (`-v`) between the bars, when there are bars.
    pub(crate) fn trace(&self) -> fbup::LogFn {
        let printer = match &self.mode {
            Mode::Bars(multi) => Some(multi.clone()),
            _ => None,
        };
        Arc::new(move |level, line: &str| {
            let line = trace_line(level, line);
            match &printer {
                Some(multi) => {
                    let _ = multi.println(&line);
                }
                None => crate::out::err(&line),
            }
        })
    }

    /// An error line on stderr, shown even with `--quiet`.
    pub(crate) fn error(&self, text: &str) {
        let text = crate::out::message(text);
        match &self.mode {
            Mode::Bars(multi) => multi.suspend(|| crate::out::err(&text)),
            _ => crate::out::err(&text),
        }
    }

    fn refresh_overall(&self) {
        if let Some(o) = &self.overall {
            o.bar.set_message(format!(
                "{}/{} files, {}/{}",
                HumanCount(o.finished.load(Ordering::SeqCst)),
                o.files,
                HumanBytes(o.bar.position()),
                HumanBytes(o.bar.length().unwrap_or(0))
            ));
        }
    }

    /// The progress of one file of `total` bytes.
    pub(crate) fn file<'d>(&'d self, name: &str, total: u64) -> FileProgress<'d> {
        let bar = match &self.mode {
            Mode::Bars(multi) => {
                let bar = match &self.overall {
                    Some(o) => multi.insert_before(&o.bar, ProgressBar::new(total)),
                    None => multi.add(ProgressBar::new(total)),
                };
                bar.set_style(style(&template(columns(), "")));
                bar.set_prefix(name.to_string());
                Some(bar)
            }
            _ => None,
        };
        let state = Arc::new(Mutex::new(FileState {
            name: name.to_string(),
            total,
            started: Instant::now(),
            first: None,
            done: 0,
            rate: 0.0,
            rate_at: Instant::now(),
            rate_done: None,
            retries: 0,
            next_tenth: 0,
            complete_at_start: false,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        // Redraws the figures while nothing moves, so that the rate decays and the
        // clock runs during a stall.
        let ticker = bar.as_ref().map(|bar| {
            let (bar, state, stop) = (bar.clone(), state.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut cols = columns();
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(250));
                    // A resized terminal: the bar follows its width.
                    if columns() != cols {
                        cols = columns();
                        bar.set_style(style(&template(cols, "")));
                    }
                    let msg = lock(&state).figures();
                    bar.set_message(msg);
                }
            })
        });
        FileProgress {
            display: self,
            bar,
            state,
            stop,
            ticker,
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn lock(state: &Mutex<FileState>) -> std::sync::MutexGuard<'_, FileState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

struct FileState {
    name: String,
    total: u64,
    started: Instant,
    /// The first figure of this run: what Graph already held.
    first: Option<u64>,
    done: u64,
    /// Bytes per second, averaged with exponential decay, so that it falls while
    /// nothing moves; it starts from this run's first figure, never from what Graph
    /// already held.
    rate: f64,
    /// When the rate was last brought up to date, and `done` then.
    rate_at: Instant,
    rate_done: Option<u64>,
    retries: u32,
    next_tenth: u64,
    /// Graph held every byte before this run sent any: nothing to show but the end.
    complete_at_start: bool,
}

impl FileState {
    /// Brings the rate up to date: the bytes since the last look over the time since,
    /// blended in with a time constant of [`RATE_SMOOTHING`].
    fn tick(&mut self) {
        let now = Instant::now();
        let Some(before) = self.rate_done else {
            return;
        };
        let dt = now.duration_since(self.rate_at).as_secs_f64();
        if dt < 0.1 {
            return;
        }
        let now_rate = (self.done - before) as f64 / dt;
        let first = self.rate == 0.0 && now_rate > 0.0;
        let alpha = 1.0 - (-dt / RATE_SMOOTHING.as_secs_f64()).exp();
        self.rate = if first {
            now_rate
        } else {
            self.rate + alpha * (now_rate - self.rate)
        };
        self.rate_at = now;
        self.rate_done = Some(self.done);
    }

    fn record(&mut self, done: u64) {
        self.first.get_or_insert(done);
        self.done = done;
        if self.rate_done.is_none() {
            self.rate_done = Some(done);
            self.rate_at = Instant::now();
        }
        self.tick();
    }

    /// This run's rate and the time left, once the rate has been measured for long
    /// enough to mean something: `8.1 MiB/s, ETA 4s`.
    fn speed(&mut self) -> Option<String> {
        self.tick();
        let measured = self.rate_done.is_some() && self.started.elapsed() >= RATE_SHOWN_AFTER;
        if !measured || self.rate < 1.0 {
            return None;
        }
        let eta = Duration::from_secs_f64(self.total.saturating_sub(self.done) as f64 / self.rate);
        Some(format!(
            "{}/s ETA {}",
            HumanBytes(self.rate as u64),
            short_duration(eta)
        ))
    }

    /// The bar's figures: `12.00 MiB/48.00 MiB sent 8.10 MiB/s ETA 4s`.
    fn figures(&mut self) -> String {
        let mut s = format!("{}/{} sent", HumanBytes(self.done), HumanBytes(self.total));
        if let Some(speed) = self.speed() {
            s.push(' ');
            s.push_str(&speed);
        }
        s
    }

    /// A plain line's figures: `50% sent (24.00 MiB of 48.00 MiB, 8.10 MiB/s ETA 4s)`.
    fn line(&mut self, tenth: u64) -> String {
        let mut s = format!(
            "{}% sent ({} of {}",
            tenth * 10,
            HumanBytes(self.done),
            HumanBytes(self.total)
        );
        if let Some(speed) = self.speed() {
            s.push_str(", ");
            s.push_str(&speed);
        }
        s.push(')');
        s
    }

    /// `done: Graph holds all 48.00 MiB; 24.00 MiB sent in 2.1 s (11.43 MiB/s), 24.00
    /// MiB already held by Graph, 1 retry`: from the session's own figures.
    fn summary(&self, info: Option<&fbup::Info>) -> String {
        let Some(info) = info else {
            return format!("done: Graph holds all {}", HumanBytes(self.total));
        };
        let held = self.first.unwrap_or(0);
        if info.bytes_sent == 0 {
            return format!(
                "done: Graph already held all {}; nothing to send",
                HumanBytes(self.total)
            );
        }
        let secs = info.elapsed.as_secs_f64();
        let mut s = format!(
            "done: Graph holds all {}; {} sent in {secs:.1} s",
            HumanBytes(self.total),
            HumanBytes(info.bytes_sent)
        );
        if secs >= 0.05 {
            s.push_str(&format!(
                " ({}/s)",
                HumanBytes((info.bytes_sent as f64 / secs) as u64)
            ));
        }
        if held > 0 {
            s.push_str(&format!(", {} already held by Graph", HumanBytes(held)));
        }
        match info.retries {
            0 => {}
            1 => s.push_str(", 1 retry"),
            n => s.push_str(&format!(", {n} retries")),
        }
        s
    }
}

/// One file's progress display.
pub(crate) struct FileProgress<'d> {
    display: &'d Display,
    bar: Option<ProgressBar>,
    state: Arc<Mutex<FileState>>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl FileProgress<'_> {
    /// The progress callback's figures.
    pub(crate) fn update(&self, done: u64, total: u64) {
        let mut st = lock(&self.state);
        let before = st.done;
        st.total = total;
        // The library keeps the figure below the total until the handle comes: a first
        // figure one short of it is a file Graph held whole before this run.
        if st.first.is_none() && done.saturating_add(1) >= total {
            st.complete_at_start = true;
        }
        st.record(done);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(st.figures());
            if let Some(o) = &self.display.overall {
                // The first figure is what Graph already held: it counts too.
                o.bar.inc(done.saturating_sub(before));
                self.display.refresh_overall();
            }
        } else if matches!(self.display.mode, Mode::Lines) && total > 0 && !st.complete_at_start {
            // Every tenth of the file, the last one left to the summary.
            let tenth = done * 10 / total;
            if tenth >= st.next_tenth && tenth < 10 {
                let line = st.line(tenth);
                crate::out::err(&format!("fbup: {}: {line}", st.name));
                st.next_tenth = tenth + 1;
            }
        }
    }

    /// Shows retries and resumes as they happen: `on_event` for this file's config.
    pub(crate) fn events(&self) -> EventFn {
        let state = self.state.clone();
        let bar = self.bar.clone();
        let printer = match &self.display.mode {
            Mode::Bars(multi) => Some(multi.clone()),
            _ => None,
        };
        let quiet = matches!(self.display.mode, Mode::Quiet);
        let journal_told = self.display.journal_told.clone();
        Arc::new(move |event: &Event| {
            if let Event::JournalOff { reason } = event {
                // A warning, shown even with --quiet, once for the whole command.
                if !journal_told.swap(true, Ordering::SeqCst) {
                    say(&crate::out::message(&format!(
                        "fbup: warning: {reason}; the uploads go on, but a later command \
                         cannot resume those the journal could not record"
                    )));
                }
                return;
            }
            let mut st = lock(&state);
            let text = match event {
                Event::Retry {
                    attempt,
                    max_attempts,
                    wait,
                    reason,
                } => {
                    st.retries += 1;
                    // Out of the retries --retries allows: the attempts after the first.
                    let allowed = max_attempts.saturating_sub(1);
                    format!(
                        "{reason}; retry {attempt}/{allowed} in {:.1} s",
                        wait.as_secs_f64()
                    )
                }
                Event::Resume { offset, total } => {
                    if *offset == 0 && st.retries == 0 {
                        return;
                    }
                    if offset == total && st.complete_at_start {
                        // Graph held it all before this run: nothing to show but the end.
                        return;
                    }
                    format!(
                        "resuming at {} of {}",
                        HumanBytes(*offset),
                        HumanBytes(*total)
                    )
                }
                _ => return,
            };
            // Told once, above the bars; the bar keeps to its figures.
            let line = crate::out::message(&format!("fbup: {}: {text}", st.name));
            if let Some(bar) = &bar {
                bar.set_message(st.figures());
            }
            drop(st);
            match &printer {
                Some(multi) => {
                    let _ = multi.println(&line);
                }
                None if !quiet => crate::out::err(&line),
                None => {}
            }
        })
    }

    /// The file is done (or failed): the bar goes, a summary line from the session's
    /// figures (`info`) stays on success.
    pub(crate) fn finish(self, ok: bool, info: Option<&fbup::Info>) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.ticker {
            let _ = t.join();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let st = lock(&self.state);
        if let Some(o) = &self.display.overall {
            o.finished.fetch_add(1, Ordering::SeqCst);
            if !ok {
                // Its bytes will not come: take them out of the total.
                let left = st.total.saturating_sub(st.done);
                o.bar
                    .set_length(o.bar.length().unwrap_or(0).saturating_sub(left));
            }
            self.display.refresh_overall();
        }
        if ok {
            self.display
                .line(&format!("fbup: {}: {}", st.name, st.summary(info)));
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(o) = &self.overall {
            o.bar.finish_and_clear();
        }
        if let Mode::Bars(multi) = &self.mode {
            let _ = multi.clear();
        }
    }
}

/// A trace line as `-v` prints it: `fbup: info: ...`.
pub(crate) fn trace_line(level: fbup::Level, line: &str) -> String {
    format!("fbup: {level}: {line}")
}
