//! The journal's folder as a place other processes can reach: checked before use (our
//! own, writable by no one else), and every file in it opened without following a link,
//! new files created exclusively under names no one can guess, as git does for its
//! lock files.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{words, Error, Field, Status};

/// Why the journal cannot be used for a file.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The folder is not safe to use (another user's, or writable by others): the
    /// upload stops, and the message says what to do.
    Unsafe(Error),
    /// The journal cannot be written or read here (no room, no permission, a link
    /// where a file of ours should be): the upload goes on without it.
    Unavailable(String),
}

/// Creates the folder (mode 0700) where it is missing, then checks that it belongs to
/// this process's user and that no one else can write to it: anyone who could would
/// plant links or entries in it.
pub(crate) fn prepare(dir: &Path) -> Result<(), Refusal> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Refusal::Unavailable(format!("cannot create the folder: {e}")))?;
    safe(dir)
}

/// Checks an existing folder: this user's, and writable by no one else.
pub(crate) fn safe(dir: &Path) -> Result<(), Refusal> {
    let meta = fs::metadata(dir)
        .map_err(|e| Refusal::Unavailable(format!("cannot look at the folder: {e}")))?;
    if !meta.is_dir() {
        return Err(Refusal::Unavailable("it is not a folder".into()));
    }
    check_owner_and_mode(dir, meta.uid(), meta.mode())
}

/// The folder's owner must be this process's user, and its mode must give no one else
/// write permission.
fn check_owner_and_mode(dir: &Path, uid: u32, mode: u32) -> Result<(), Refusal> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let shown = dir.display();
    let why = if uid != me {
        format!(
            "belongs to another user (uid {uid}, this process runs as uid {me}): its owner \
             could plant entries or links in it"
        )
    } else if mode & 0o022 != 0 {
        format!(
            "is writable by {} (mode {:04o}): another user could plant entries or links in \
             it. Make it private (chmod 700 '{shown}')",
            if mode & 0o002 != 0 {
                "every user"
            } else {
                "its group"
            },
            mode & 0o7777
        )
    } else {
        return Ok(());
    };
    Err(Refusal::Unsafe(Error::worded(
        Status::File,
        Field::StateDir,
        words(Field::StateDir).text(format!(
            " '{shown}' {why}; or use a folder of your own, or turn the resume journal off"
        )),
    )))
}

/// Flags for every open in the folder: never through a link, never blocking on a
/// FIFO, never inherited by a child process.
const SAFE: libc::c_int = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;

/// Says what an error opening a file of the folder means, links named for what they
/// are.
pub(crate) fn why(e: &io::Error) -> String {
    if e.raw_os_error() == Some(libc::ELOOP) {
        "it is a symbolic link, and fbup never follows one in its journal folder".into()
    } else {
        e.to_string()
    }
}

/// Opens (creating it, mode 0600, when missing) the lock file at `path`: a regular file,
/// never a link.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(SAFE)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// True when `f`, a lock this process holds, is still the file at `path`: a lock
/// whose file was removed (and perhaps made anew by another process) in between locks
/// nothing.
pub(crate) fn still_at(f: &File, path: &Path) -> bool {
    match (f.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// A temporary file beside `entry`, created exclusively (never over anything, link or
/// file, that is already there) under a name no other process can guess.
pub(crate) fn create_temporary(entry: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        let tmp = entry.with_extension(format!("json.tmp.{:016x}", h.finish()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(SAFE)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The whole-file write lock of an entry, on Linux an open-file-description lock
/// (`F_OFD_SETLK`): held by the open file, released when it closes, and (unlike
/// `flock`) testable with `F_OFD_GETLK` without taking it.
#[cfg(target_os = "linux")]
fn ofd_lock(f: &File, cmd: libc::c_int) -> Option<libc::flock> {
    // SAFETY: a zeroed flock is a valid value; the fields that matter are set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    // SAFETY: fcntl on a descriptor we own, with a flock it may write.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), cmd, &mut fl) };
    (rc == 0).then_some(fl)
}

/// Takes an entry's lock without waiting; false when another process holds it.
pub(crate) fn try_lock(f: &File) -> bool {
    #[cfg(target_os = "linux")]
    {
        ofd_lock(f, libc::F_OFD_SETLK).is_some()
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
    }
}

/// True when a process holds the lock at `lock`. On Linux it only asks, so that
/// listing the journal never makes an upload starting beside it fail. A link or
/// anything but a regular file is never opened, and holds no lock.
pub(crate) fn is_locked(lock: &Path) -> bool {
    let Ok(f) = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(SAFE)
        .open(lock)
    else {
        return false;
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        ofd_lock(&f, libc::F_OFD_GETLK)
            .is_some_and(|fl| fl.l_type != libc::F_UNLCK as libc::c_short)
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Elsewhere the test takes the lock for an instant (released when `f` closes).
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
    }
}

/// Makes the folder's last changes durable: once, after a prune's removals.
pub(crate) fn sync(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_users_folder_or_one_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert!(check_owner_and_mode(dir.path(), me, 0o40700).is_ok());
        for (uid, mode, says) in [
            (me.wrapping_add(1), 0o40700, "belongs to another user"),
            (me, 0o40770, "writable by its group"),
            (me, 0o40777, "writable by every user"),
        ] {
            match check_owner_and_mode(dir.path(), uid, mode) {
                Err(Refusal::Unsafe(e)) => {
                    assert_eq!(e.status, Status::File);
                    assert!(e.message.contains(says), "{}", e.message);
                    assert!(e.message.contains("state_dir"), "{}", e.message);
                }
                other => panic!("{uid} {mode:o}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_link_is_never_opened_nor_created_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        let lock = dir.path().join("a.lock");
        std::os::unix::fs::symlink(&outside, &lock).unwrap();
        let e = open_lock(&lock).unwrap_err();
        assert!(why(&e).contains("symbolic link"), "{}", why(&e));
        assert!(!outside.exists(), "the link's target was created");
        assert!(!is_locked(&lock));
        let (tmp, _) = create_temporary(&dir.path().join("a.json")).unwrap();
        let (tmp2, _) = create_temporary(&dir.path().join("a.json")).unwrap();
        assert_ne!(tmp, tmp2, "two temporary names alike");
    }
}
