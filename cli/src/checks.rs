//! The checks every file passes before any upload starts: a regular, non-empty file
//! of a known type, given once; a file that fails them is said and left out, the
//! others are uploaded.

use std::collections::hash_map::{Entry, HashMap};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use fbup::Status;

use crate::list::AllNames;
use crate::{exit_code, Failure};

/// Checks one file: a regular, non-empty file of a known type. Returns its size.
pub(crate) fn check_file(path: &Path, file_type: Option<&str>) -> Result<u64, Failure> {
    check_file_meta(path, file_type).map(|m| m.len())
}

/// [`check_file`], returning what the system says of the file.
fn check_file_meta(path: &Path, file_type: Option<&str>) -> Result<std::fs::Metadata, Failure> {
    let shown = crate::out::escaped(&path.display().to_string());
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
                    "{shown}: cannot tell the file type from its extension; pass --type with \
                     its MIME type (image/png, video/quicktime, application/pdf...)"
                ),
            ))
        }
        Ok(m) => Ok(m),
    }
}

/// What the checks of every name found: which names are refused (a bit each, the one
/// cost per name besides the set of files seen), how many files and bytes are to be
/// uploaded, the first refused name's exit code, and the file types Graph's
/// documentation does not list.
pub(crate) struct Checked {
    refused: Vec<u64>,
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    pub(crate) first_failure: Option<(usize, u8)>,
    pub(crate) undocumented: BTreeSet<String>,
}

impl Checked {
    /// Whether the checks refused the `i`th name.
    pub(crate) fn is_refused(&self, i: usize) -> bool {
        self.refused
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn refuse(&mut self, i: usize, code: u8) {
        if self.refused.len() <= i / 64 {
            self.refused.resize(i / 64 + 1, 0);
        }
        self.refused[i / 64] |= 1 << (i % 64);
        if self.first_failure.is_none_or(|(first, _)| i < first) {
            self.first_failure = Some((i, code));
        }
    }
}

/// Checks every name before any upload starts ([`check_file`]), and that no file is
/// given twice (the same device and inode, however it is named: a set, so that 50,000
/// names cost 50,000 lookups, not a comparison of every pair); a file named again is
/// refused the second time, uploaded once. Each refused name is said as it is found
/// ([`report_refused`]); on a terminal a line counts the names checked. A list that
/// cannot be read back ends the command before any upload.
pub(crate) fn check_all(
    names: &AllNames,
    file_type: Option<&str>,
    quiet: bool,
    json: bool,
) -> Result<Checked, Failure> {
    use std::os::unix::fs::MetadataExt;
    let mut checked = Checked {
        refused: Vec::new(),
        files: 0,
        bytes: 0,
        first_failure: None,
        undocumented: BTreeSet::new(),
    };
    let mut seen: HashMap<(u64, u64), usize> = HashMap::new();
    let mut twice: Vec<(usize, usize, PathBuf)> = Vec::new();
    let shown = Counter::new(quiet, names.len());
    for (i, name) in names.iter().enumerate() {
        let path = name?;
        shown.tick(i);
        let refused = match check_file_meta(&path, file_type) {
            Err(refused) => refused,
            Ok(meta) => match seen.entry((meta.dev(), meta.ino())) {
                Entry::Vacant(v) => {
                    v.insert(i);
                    checked.files += 1;
                    checked.bytes += meta.len();
                    let t = file_type.or_else(|| fbup::file_type_from_extension(&path));
                    if let Some(t) = t.filter(|t| !fbup::FILE_TYPES.contains(t)) {
                        checked.undocumented.insert(t.to_string());
                    }
                    continue;
                }
                Entry::Occupied(first) => {
                    // Said after the pass, with the first name read again then: the
                    // names are not kept.
                    twice.push((i, *first.get(), path));
                    continue;
                }
            },
        };
        shown.suspend(|| report_refused(&path, &refused, json))?;
        checked.refuse(i, refused.code);
    }
    shown.done();
    if !twice.is_empty() {
        let wanted: HashSet<usize> = twice.iter().map(|t| t.1).collect();
        let mut firsts: HashMap<usize, PathBuf> = HashMap::with_capacity(wanted.len());
        for (i, name) in names.iter().enumerate() {
            if wanted.contains(&i) {
                firsts.insert(i, name?);
            }
        }
        for (i, first, path) in twice {
            let refused = Failure {
                code: 2,
                message: format!(
                    "{} and {} are the same file; it is uploaded once",
                    crate::out::escaped(
                        &firsts
                            .get(&first)
                            .cloned()
                            .unwrap_or_default()
                            .display()
                            .to_string()
                    ),
                    crate::out::escaped(&path.display().to_string())
                ),
            };
            report_refused(&path, &refused, json)?;
            checked.refuse(i, refused.code);
        }
    }
    Ok(checked)
}

/// The count of names checked, on a terminal, for a list long enough to take a moment.
struct Counter(Option<indicatif::ProgressBar>);

impl Counter {
    /// Shown only past this many names (a few thousand take a blink).
    const SHOWN_FROM: usize = 5_000;

    fn new(quiet: bool, names: usize) -> Counter {
        if quiet || names < Self::SHOWN_FROM || !crate::progress::may_redraw() {
            return Counter(None);
        }
        let bar = indicatif::ProgressBar::new(names as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("checking the files: {human_pos}/{human_len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(10));
        Counter(Some(bar))
    }

    fn tick(&self, i: usize) {
        if let Some(bar) = &self.0 {
            if i % 256 == 0 {
                bar.set_position(i as u64);
            }
        }
    }

    /// Runs `f` (which writes a line) with the count taken off the screen.
    fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Says why a file the checks refused is not uploaded: its line on stderr, and with
/// `--json` its object on stdout (the same keys as a failed upload's), so that a
/// script sees every file it gave.
pub(crate) fn report_refused(file: &Path, refused: &Failure, json: bool) -> Result<(), Failure> {
    crate::out::err(&crate::out::message(&format!("fbup: {}", refused.message)));
    if !json {
        return Ok(());
    }
    let status = Status::ALL
        .into_iter()
        .find(|s| exit_code(*s) == refused.code)
        .unwrap_or(Status::Argument);
    crate::out::result(&format!(
        "{}",
        serde_json::json!({
            "file": file.display().to_string(),
            "session_id": null,
            "error": refused.message,
            "status": status.key(),
            "exit_code": refused.code,
        })
    ))
}
