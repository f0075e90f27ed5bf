//! The checks every file passes before any upload starts: a regular, non-empty file
//! of a known type, given once.

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
/// twice. Returns their sizes.
pub(crate) fn check_files(files: &[PathBuf], file_type: Option<&str>) -> Result<Vec<u64>, Failure> {
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
                            crate::out::escaped(&first.display().to_string()),
                            crate::out::escaped(&path.display().to_string())
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
pub(crate) fn refused_objects(files: &[PathBuf], file_type: Option<&str>) -> Result<(), Failure> {
    for file in files {
        if let Err(f) = check_file(file, file_type) {
            let status = Status::ALL
                .into_iter()
                .find(|s| exit_code(*s) == f.code)
                .unwrap_or(Status::Argument);
            crate::out::result(&format!(
                "{}",
                serde_json::json!({
                    "file": file.display().to_string(),
                    "session_id": null,
                    "error": f.message,
                    "status": status.key(),
                    "exit_code": f.code,
                })
            ))?;
        }
    }
    Ok(())
}
