//! The bytes to upload: a regular file read at any offset and watched for changes, or
//! a caller's reader (memory, a custom store, a Go `io.ReaderAt`).

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Status};

/// Random access to the bytes of an upload, for data that is not a file path. Like
/// `pread`: fill `buf` from `offset`, return how many bytes were read (0 only at the
/// end). A resume reads again from any offset, so nothing needs buffering.
pub trait ReadAt: Send + Sync {
    /// Reads bytes at `offset` into `buf`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// Where an upload's bytes come from.
pub(crate) trait ByteSource: Send {
    /// The length fixed when the session was made.
    fn len(&self) -> u64;
    /// Reads at `offset` without moving any cursor.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Fails with [`Status::File`] when the bytes are no longer what they were.
    fn check_unchanged(&self) -> Result<(), Error>;
    /// What the bytes are, for messages.
    fn describe(&self) -> String;
}

/// A caller's reader of a known length.
pub(crate) struct ReaderSource {
    pub reader: Box<dyn ReadAt>,
    pub len: u64,
}

impl ByteSource for ReaderSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.reader.read_at(offset, buf)
    }

    fn check_unchanged(&self) -> Result<(), Error> {
        // Nothing to look at: the reader answers for its own bytes.
        Ok(())
    }

    fn describe(&self) -> String {
        format!("the caller's reader ({} bytes)", self.len)
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.identity.len
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    fn check_unchanged(&self) -> Result<(), Error> {
        FileSource::check_unchanged(self)
    }

    fn describe(&self) -> String {
        format!("'{}'", self.path.display())
    }
}

/// What identifies the file's content for the length of an upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub len: u64,
    pub mtime: (i64, i64),
    /// The status change time: it moves with any write, even one whose modification
    /// time was set back afterwards (`touch -d`, `utimensat`), and no caller can set it.
    pub ctime: (i64, i64),
    pub dev: u64,
    pub ino: u64,
}

impl Identity {
    fn of(m: &Metadata) -> Identity {
        Identity {
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// An open regular file and what it was when opened.
pub(crate) struct FileSource {
    file: File,
    path: PathBuf,
    identity: Identity,
}

impl FileSource {
    /// Opens a file for upload: it must exist, be a regular file, be readable and
    /// hold at least one byte.
    pub fn open(path: &Path) -> Result<FileSource, Error> {
        let shown = path.display();
        if path.as_os_str().is_empty() {
            return Err(Error::new(
                Status::Argument,
                "the file path is empty; pass the path of the file to upload",
            ));
        }
        let file_err = |m: String| Err(Error::new(Status::File, m));
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return file_err(format!("'{shown}' does not exist; check the path"))
            }
            Err(e) => return file_err(format!("cannot look at '{shown}': {e}")),
        };
        if !meta.is_file() {
            let what = if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file (a device, FIFO or socket)"
            };
            return Err(Error::new(
                Status::Argument,
                format!("'{shown}' is {what}; fbup uploads regular files, whose length is known"),
            ));
        }
        if meta.len() == 0 {
            return Err(Error::new(
                Status::Argument,
                format!("'{shown}' is empty; Graph accepts only files of one byte or more"),
            ));
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return file_err(format!("cannot open '{shown}' for reading: {e}")),
        };
        // Take the identity from the open descriptor: that is the file we will read.
        let identity = match file.metadata() {
            Ok(m) => Identity::of(&m),
            Err(e) => return file_err(format!("cannot look at '{shown}': {e}")),
        };
        Ok(FileSource {
            file,
            path: path.to_path_buf(),
            identity,
        })
    }

    /// What identifies the file's content: length, modification and status change
    /// times, device, inode.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// Fails with [`Status::File`] when the file is not what it was when opened:
    /// another length, another modification or status change time, or another file at
    /// the path.
    pub fn check_unchanged(&self) -> Result<(), Error> {
        let shown = self.path.display();
        let now = match std::fs::metadata(&self.path) {
            Ok(m) => Identity::of(&m),
            Err(e) => {
                return Err(Error::new(
                    Status::File,
                    format!("'{shown}' can no longer be found ({e}); upload stopped"),
                ))
            }
        };
        let was = self.identity;
        let change = if (now.dev, now.ino) != (was.dev, was.ino) {
            Some("was replaced by another file".to_string())
        } else if now.len != was.len {
            Some(format!(
                "changed size from {} to {} bytes",
                was.len, now.len
            ))
        } else if now.mtime != was.mtime {
            Some("was modified (its modification time changed)".to_string())
        } else if now.ctime != was.ctime {
            Some(
                "was changed (its status change time moved: written, with its modification \
                 time set back, or its owner or mode changed)"
                    .to_string(),
            )
        } else {
            None
        };
        match change {
            None => Ok(()),
            Some(what) => Err(Error::new(
                Status::File,
                format!("'{shown}' {what} during the upload"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_missing_empty_and_non_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = FileSource::open(&dir.path().join("nope.png"))
            .err()
            .unwrap();
        assert_eq!(e.status, Status::File);
        assert!(e.message.contains("does not exist"));
        let e = FileSource::open(dir.path()).err().unwrap();
        assert_eq!(e.status, Status::Argument);
        assert!(e.message.contains("directory"));
        let empty = dir.path().join("e.png");
        std::fs::write(&empty, b"").unwrap();
        let e = FileSource::open(&empty).err().unwrap();
        assert!(e.message.contains("empty"));
        let e = FileSource::open(Path::new("/dev/zero")).err().unwrap();
        assert_eq!(e.status, Status::Argument);
    }

    #[test]
    fn notices_size_time_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.png");
        std::fs::write(&p, b"hello").unwrap();
        let s = FileSource::open(&p).unwrap();
        assert!(s.check_unchanged().is_ok());
        let s: &dyn ByteSource = &s;
        let mut buf = [0u8; 3];
        assert_eq!(s.read_at(&mut buf, 2).unwrap(), 3);
        assert_eq!(&buf, b"llo");
        std::fs::write(&p, b"hello!").unwrap();
        let e = s.check_unchanged().unwrap_err();
        assert!(
            e.message.contains("changed size from 5 to 6"),
            "{}",
            e.message
        );

        let s = FileSource::open(&p).unwrap();
        let other = dir.path().join("g.png");
        std::fs::write(&other, b"hellO!").unwrap();
        std::fs::rename(&other, &p).unwrap();
        let e = s.check_unchanged().unwrap_err();
        assert!(e.message.contains("replaced"), "{}", e.message);
    }
}
