//! `fbup upload -` and `fbup resume ID -`: the bytes on standard input. A redirected
//! file (`< video.mp4`) is uploaded in place, its size known; a pipe is first spooled
//! to a temporary file, copied through a small buffer (bounded memory whatever its
//! size), which goes when the command ends. Graph is told the name `--name` gives, else
//! `stdin`, and the type `--type` gives, else the name's extension's.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fbup::{Config, Status};

use crate::Failure;

/// The spooled copy of a pipe, kept until the command ends ([`remove_spool`]: a static
/// is never dropped).
static SPOOL: Mutex<Option<tempfile::TempPath>> = Mutex::new(None);

fn spool() -> std::sync::MutexGuard<'static, Option<tempfile::TempPath>> {
    SPOOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `path` is this command's spooled copy of a pipe (which a later command
/// cannot read: resuming needs the same bytes again).
pub(crate) fn is_spool(path: &Path) -> bool {
    spool()
        .as_ref()
        .is_some_and(|s| s.as_ref() as &Path == path)
}

/// Removes the spooled copy, if any: called as the command ends, however it ends.
pub(crate) fn remove_spool() {
    if let Some(path) = spool().take() {
        let _ = path.close();
    }
}

/// What stands for `-`: the file to read, and whether the journal can follow it (a
/// spooled pipe's copy is gone once the command ends).
pub(crate) struct Stdin {
    pub path: PathBuf,
    pub journal: bool,
}

/// Whether `path` stands for standard input (`-`): a redirected file or a spooled pipe.
pub(crate) fn is_stdin(path: &Path) -> bool {
    path == Path::new("/dev/stdin") || is_spool(path)
}

/// Takes standard input for `-`, setting the name and type Graph is told.
pub(crate) fn take(config: &mut Config, name: Option<&str>) -> Result<Stdin, Failure> {
    let name = name.unwrap_or("stdin").to_string();
    if config.file_type.is_none() {
        config.file_type = fbup::file_type_from_extension(Path::new(&name)).map(str::to_string);
    }
    if config.file_type.is_none() {
        return Err(Failure::from_status(
            Status::Argument,
            "-: reading standard input needs --type with its MIME type (image/png, \
             video/mp4...), or --name with an extension that tells it",
        ));
    }
    config.file_name = Some(name);
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::from_status(
            Status::Argument,
            "-: standard input is a terminal: redirect a file (< video.mp4) or pipe one in",
        ));
    }
    let meta = stdin
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .map_err(|e| {
            Failure::from_status(
                Status::File,
                format!("-: cannot look at standard input: {e}"),
            )
        })?;
    if meta.is_file() {
        // A redirected file: read in place (opened anew, from its first byte).
        return Ok(Stdin {
            path: PathBuf::from("/dev/stdin"),
            journal: true,
        });
    }
    let mut copy = tempfile::NamedTempFile::new().map_err(|e| {
        Failure::from_status(
            Status::File,
            format!("-: no temporary file to spool stdin to: {e}"),
        )
    })?;
    std::io::copy(&mut stdin.lock(), copy.as_file_mut()).map_err(|e| {
        Failure::from_status(Status::File, format!("-: cannot spool standard input: {e}"))
    })?;
    let path = copy.into_temp_path();
    let kept = path.to_path_buf();
    *spool() = Some(path);
    Ok(Stdin {
        path: kept,
        journal: false,
    })
}
