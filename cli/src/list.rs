//! `--files-from FILE`: the names of the files to upload, one a line (or NUL-separated
//! with `--null`, as `find -print0` writes them), from a file or standard input, as
//! tar, rsync and rclone take them. Names are bytes, not text: any name a file can
//! have is taken as it is.
//!
//! The names are never all held in memory: the list is read once as a stream, each
//! name checked as a name and written to an unnamed temporary file (removed by the
//! system when the command ends, however it ends), which is then read again for the
//! checks of the files and once more as the jobs take them. A list of a million names
//! costs its size on disk, not in memory, and a list that changes or a pipe that is
//! gone after the first reading gives the same names each time.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use fbup::Status;

use crate::Failure;

/// The longest name taken (Linux's PATH_MAX): a longer line is not a name.
const MAX_NAME: usize = 4096;

/// Every name the command was given: those on its command line, then the list's.
pub(crate) struct AllNames {
    args: Vec<PathBuf>,
    list: Option<NameList>,
}

impl AllNames {
    /// The names given on the command line and, with `--files-from`, the list's.
    pub(crate) fn new(args: Vec<PathBuf>, list: Option<NameList>) -> AllNames {
        AllNames { args, list }
    }

    /// How many names there are, refused ones included.
    pub(crate) fn len(&self) -> usize {
        self.args.len() + self.list.as_ref().map_or(0, |l| l.count)
    }

    /// The names in the order given, read anew each time; an error when the list's
    /// copy cannot be read back. One reading at a time: the readings share the copy's
    /// offset (the checks read it, then the jobs, never both at once).
    pub(crate) fn iter(&self) -> impl Iterator<Item = Result<PathBuf, Failure>> + Send + '_ {
        let list = self.list.as_ref().map(|l| match l.names() {
            Ok(names) => Box::new(names) as Box<dyn Iterator<Item = _> + Send>,
            Err(e) => Box::new(std::iter::once(Err(e))),
        });
        self.args
            .iter()
            .cloned()
            .map(Ok)
            .chain(list.into_iter().flatten())
    }
}

/// The checked names of a `--files-from` list, NUL-separated in an unnamed temporary
/// file.
pub(crate) struct NameList {
    copy: std::fs::File,
    count: usize,
    shown: String,
}

impl NameList {
    /// Reads the names in `list` (`-`: standard input), refusing what cannot be a name
    /// (with its line number), into a copy; blank lines are skipped. A list that names
    /// no file is refused.
    pub(crate) fn read(list: &Path, null: bool) -> Result<NameList, Failure> {
        let shown = crate::out::escaped(&list.display().to_string());
        let cannot = |what: &str, e: std::io::Error| {
            Failure::from_status(
                Status::File,
                format!("--files-from {shown}: cannot {what}: {e}"),
            )
        };
        let copy = tempfile::tempfile().map_err(|e| cannot("copy it to a temporary file", e))?;
        let mut out = BufWriter::new(copy);
        let mut count = 0;
        let mut each = |name: PathBuf| {
            count += 1;
            out.write_all(name.as_os_str().as_encoded_bytes())
                .and_then(|()| out.write_all(b"\0"))
                .map_err(|e| cannot("copy it to a temporary file", e))
        };
        if list.as_os_str() == "-" {
            names_in(std::io::stdin().lock(), null, &shown, &mut each)?;
        } else {
            let file = std::fs::File::open(list).map_err(|e| cannot("read it", e))?;
            names_in(file, null, &shown, &mut each)?;
        }
        if count == 0 {
            return Err(Failure::from_status(
                Status::Argument,
                format!("--files-from {shown} names no file"),
            ));
        }
        let copy = out
            .into_inner()
            .map_err(|e| cannot("copy it to a temporary file", e.into_error()))?;
        Ok(NameList { copy, count, shown })
    }

    /// How many names the list holds.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The names, from the start of the copy.
    fn names(&self) -> Result<impl Iterator<Item = Result<PathBuf, Failure>> + Send, Failure> {
        let shown = self.shown.clone();
        let cannot = move |e: std::io::Error| {
            Failure::from_status(
                Status::File,
                format!("--files-from {shown}: cannot read back its copy: {e}"),
            )
        };
        let mut file = self.copy.try_clone().map_err(&cannot)?;
        file.rewind().map_err(&cannot)?;
        let mut reader = BufReader::new(file);
        let mut name = Vec::new();
        Ok(std::iter::from_fn(move || {
            name.clear();
            match reader.read_until(b'\0', &mut name) {
                Ok(0) => None,
                Ok(_) => {
                    name.pop();
                    Some(Ok(PathBuf::from(OsString::from_vec(name.clone()))))
                }
                Err(e) => Some(Err(cannot(e))),
            }
        }))
    }
}

/// Reads names from `input`, giving each to `each`, in order: a line (or with `null`
/// a NUL-ended name) each; blank ones skipped; a listed `-` is `./-`.
fn names_in(
    input: impl Read,
    null: bool,
    shown: &str,
    each: &mut dyn FnMut(PathBuf) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let separator = if null { b'\0' } else { b'\n' };
    let mut reader = BufReader::new(input);
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
        each(if path.as_os_str() == "-" {
            Path::new(".").join(path)
        } else {
            path
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(bytes: &[u8], null: bool) -> Result<Vec<PathBuf>, Failure> {
        let mut got = Vec::new();
        names_in(bytes, null, "list", &mut |p| {
            got.push(p);
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn a_list_is_read_back_the_same_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list");
        std::fs::write(&path, b"a.png\0new\nline.png\0-\0").unwrap();
        let list = NameList::read(&path, true).unwrap();
        // The list may change or go: its copy is what is read.
        std::fs::remove_file(&path).unwrap();
        let all = AllNames::new(vec![PathBuf::from("first.png")], Some(list));
        assert_eq!(all.len(), 4);
        for _ in 0..2 {
            let got: Vec<PathBuf> = all.iter().map(Result::unwrap).collect();
            assert_eq!(
                got,
                [
                    Path::new("first.png"),
                    Path::new("a.png"),
                    Path::new("new\nline.png"),
                    Path::new("./-")
                ]
            );
        }
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
