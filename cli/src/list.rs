//! `--files-from FILE`: the names of the files to upload, one a line (or NUL-separated
//! with `--null`, as `find -print0` writes them), from a file or standard input, as
//! tar, rsync and rclone take them. Names are bytes, not text: any name a file can
//! have is taken as it is.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use fbup::Status;

use crate::Failure;

/// The longest name taken (Linux's PATH_MAX): a longer line is not a name.
const MAX_NAME: usize = 4096;

/// The names in `list` (`-`: standard input), in order; blank lines are skipped.
pub(crate) fn read_names(list: &Path, null: bool) -> Result<Vec<PathBuf>, Failure> {
    let shown = crate::out::escaped(&list.display().to_string());
    let cannot = |e: std::io::Error| {
        Failure::from_status(
            Status::File,
            format!("--files-from {shown}: cannot read it: {e}"),
        )
    };
    let names = if list.as_os_str() == "-" {
        names_in(std::io::stdin().lock(), null, &shown)
    } else {
        names_in(std::fs::File::open(list).map_err(cannot)?, null, &shown)
    }?;
    if names.is_empty() {
        return Err(Failure::from_status(
            Status::Argument,
            format!("--files-from {shown} names no file"),
        ));
    }
    Ok(names)
}

fn names_in(input: impl Read, null: bool, shown: &str) -> Result<Vec<PathBuf>, Failure> {
    let separator = if null { b'\0' } else { b'\n' };
    let mut reader = BufReader::new(input);
    let mut names = Vec::new();
    let mut name = Vec::new();
    for number in 1.. {
        name.clear();
        // At most one byte past the longest name is read: a file with no separator
        // (/dev/zero) is refused, not read to the end.
        let read = (&mut reader)
            .take(MAX_NAME as u64 + 2)
            .read_until(separator, &mut name)
            .map_err(|e| {
                Failure::from_status(
                    Status::File,
                    format!("--files-from {shown}: cannot read it: {e}"),
                )
            })?;
        if read == 0 {
            break;
        }
        if name.last() == Some(&separator) {
            name.pop();
        }
        let what = if null { "name" } else { "line" };
        if name.len() > MAX_NAME {
            return Err(Failure::from_status(
                Status::Argument,
                format!("--files-from {shown}: {what} {number} is longer than {MAX_NAME} bytes, which no file name is"),
            ));
        }
        if !null && name.contains(&0) {
            return Err(Failure::from_status(
                Status::Argument,
                format!(
                    "--files-from {shown}: line {number} holds a NUL byte; for NUL-separated \
                     names (find -print0) add --null"
                ),
            ));
        }
        if name.is_empty() {
            continue;
        }
        // A listed `-` is a file of that name, never standard input.
        let path = PathBuf::from(OsString::from_vec(name.clone()));
        names.push(if path.as_os_str() == "-" {
            Path::new(".").join(path)
        } else {
            path
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(bytes: &[u8], null: bool) -> Result<Vec<PathBuf>, Failure> {
        names_in(bytes, null, "list")
    }

    #[test]
    fn lines_and_nul_separated_names() {
        let got = names(b"a.png\n\nb c.png\nlast.png", false).unwrap();
        assert_eq!(
            got,
            [
                Path::new("a.png"),
                Path::new("b c.png"),
                Path::new("last.png")
            ]
        );
        let got = names(b"new\nline.png\0-\0", true).unwrap();
        assert_eq!(got, [Path::new("new\nline.png"), Path::new("./-")]);
        let bytes = names(b"caf\xe9.png\n", false).unwrap();
        assert_eq!(bytes[0].as_os_str().as_encoded_bytes(), b"caf\xe9.png");
    }

    #[test]
    fn what_cannot_be_a_name_is_refused_with_its_line() {
        let e = names(b"a.png\nb\0c.png\n", false).unwrap_err();
        assert!(e.message.contains("line 2 holds a NUL byte") && e.message.contains("--null"));
        let long = vec![b'x'; MAX_NAME + 10];
        let e = names(&long, true).unwrap_err();
        assert!(
            e.message.contains("name 1 is longer than 4096 bytes"),
            "{}",
            e.message
        );
        assert_eq!(names(&vec![b'y'; MAX_NAME], false).unwrap().len(), 1);
    }
}
