//! The checks every file passes before any upload starts: a regular, non-empty file
//! of a known type, given once; a file that fails them is said and left out, the
//! others are uploaded.

use std::collections::hash_map::{Entry, HashMap};
use std::path::{Path, PathBuf};

use fbup::Status;

use crate::{exit_code, Failure};

/// Checks one file: a regular, non-empty file of a known type. Returns its size.
pub(crate) fn check_file(path: &Path, file_type: Option<&str>) -> Result<u64, Failure> {
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
        Ok(m) => Ok(m.len()),
    }
}

/// Checks every file before any upload starts ([`check_file`]), and that none is given
/// twice (the same device and inode, however it is named: a set, so that 50,000 names
/// cost 50,000 lookups, not a comparison of every pair). Returns each file's size, or
/// why it is refused; a file named again is refused the second time, uploaded once.
pub(crate) fn check_files(files: &[PathBuf], file_type: Option<&str>) -> Vec<Result<u64, Failure>> {
    use std::os::unix::fs::MetadataExt;
    let mut seen: HashMap<(u64, u64), &Path> = HashMap::with_capacity(files.len());
    files
        .iter()
        .map(|path| {
            let size = check_file(path, file_type)?;
            let Ok(meta) = std::fs::metadata(path) else {
                return Ok(size);
            };
            match seen.entry((meta.dev(), meta.ino())) {
                Entry::Occupied(first) => Err(Failure {
                    code: 2,
                    message: format!(
                        "{} and {} are the same file; it is uploaded once",
                        crate::out::escaped(&first.get().display().to_string()),
                        crate::out::escaped(&path.display().to_string())
                    ),
                }),
                Entry::Vacant(v) => {
                    v.insert(path);
                    Ok(size)
                }
            }
        })
        .collect()
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
