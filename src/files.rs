//! The small files a caller names (a CA file, the resume journal's entries): read only
//! when they are regular files, never blocking on a FIFO or a device, never past a
//! size that fits what they hold.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Whether a symbolic link is followed to the file it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Links {
    /// Follow it (a path the caller gave).
    Follow,
    /// Refuse it (a file of a folder fbup keeps).
    Refuse,
}

/// The bytes of the regular file at `path`, at most `max` of them. A FIFO, a socket,
/// a device or a folder is refused at once (opened without blocking, looked at with
/// `fstat` before a byte is read), and so is a file over `max` bytes.
pub(crate) fn read_regular(path: &Path, max: u64, links: Links) -> io::Result<Vec<u8>> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, a device or a folder is never read)",
        ));
    }
    if meta.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} bytes, over the {max} such a file can need", meta.len()),
        ));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    // A file that grows while it is read is still cut at `max`.
    file.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it grew past the {max} bytes such a file can need"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_a_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.pem");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_regular(&f, 5, Links::Follow).unwrap(), b"12345");
        assert!(read_regular(&f, 4, Links::Follow).is_err(), "over the cap");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(read_regular(&link, 5, Links::Follow).is_ok());
        assert!(
            read_regular(&link, 5, Links::Refuse).is_err(),
            "a link refused"
        );
        let fifo = dir.path().join("fifo.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = std::time::Instant::now();
        assert!(
            read_regular(&fifo, 5, Links::Follow).is_err(),
            "a FIFO refused"
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "without blocking"
        );
        assert!(read_regular(Path::new("/dev/zero"), 1 << 20, Links::Follow).is_err());
        assert!(read_regular(dir.path(), 1 << 20, Links::Follow).is_err());
    }
}
