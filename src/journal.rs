//! The resume journal: a folder that remembers, for each file being uploaded, the
//! Graph session it goes to, so that a new process (after a crash or `kill -9`) resumes
//! the same session instead of starting over.
//!
//! One entry per file identity (app id, Graph URL and version, canonical path, size,
//! modification time, inode), written atomically (temporary file, fsync, rename), in a
//! versioned JSON format, locked (an open-file-description lock on Linux, `flock`
//! elsewhere) while a session drives it so that two
//! processes never upload the same entry at once. Entries older than a session's
//! lifetime are pruned.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Status};
use crate::files::{read_regular, Links};
use crate::graph::Endpoint;
use crate::source::Identity;

/// The format of an entry; an entry of another version is ignored (and pruned).
const FORMAT_VERSION: u64 = 1;

/// How long an upload session is assumed to live at Graph (Meta does not document it);
/// older entries are pruned.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A pending upload the journal remembers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Where the entry is kept.
    pub entry_path: PathBuf,
    /// The Graph session id, `?sig=` included.
    pub session_id: String,
    /// The app the session belongs to.
    pub app_id: String,
    /// Graph's base URL.
    pub graph_url: String,
    /// The API version.
    pub api_version: String,
    /// The file's canonical path.
    pub file_path: PathBuf,
    /// The file's size in bytes.
    pub file_size: u64,
    /// When the session was created (seconds since the Unix epoch).
    pub created_unix: u64,
    /// A process is driving this entry right now.
    pub in_use: bool,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn journal_error(dir: &Path, what: &str, e: std::io::Error) -> Error {
    Error::new(
        Status::File,
        format!("resume journal '{}': {what}: {e}", dir.display()),
    )
}

/// FNV-1a: a stable name for an identity (the entry itself holds the full identity).
fn fnv1a(data: &str) -> u64 {
    data.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The identity an entry is recorded for, as one string.
fn identity_key(endpoint: &Endpoint, canonical: &Path, id: &Identity) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}.{}\n{}.{}\n{}:{}",
        endpoint.app_id,
        endpoint.graph_url.trim_end_matches('/'),
        endpoint.api_version,
        canonical.display(),
        id.len,
        id.mtime.0,
        id.mtime.1,
        id.ctime.0,
        id.ctime.1,
        id.dev,
        id.ino
    )
}

/// A journal entry held by this process: the lock lives as long as this value.
pub(crate) struct Claim {
    dir: PathBuf,
    entry: PathBuf,
    lock: PathBuf,
    key: String,
    canonical: PathBuf,
    _lock_file: File,
}

impl Claim {
    /// Takes the entry for this file, or fails if another process holds it.
    pub fn take(
        endpoint: &Endpoint,
        dir: &Path,
        file: &Path,
        id: &Identity,
    ) -> Result<Claim, Error> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| journal_error(dir, "cannot create the folder", e))?;
        prune(dir);
        let canonical = fs::canonicalize(file)
            .map_err(|e| journal_error(dir, "cannot resolve the file's path", e))?;
        let key = identity_key(endpoint, &canonical, id);
        let name = format!("{:016x}", fnv1a(&key));
        let lock = dir.join(format!("{name}.lock"));
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock)
            .map_err(|e| journal_error(dir, "cannot open a lock", e))?;
        if !try_lock(&lock_file) {
            return Err(Error::new(
                Status::State,
                format!(
                    "another process is uploading '{}' (its resume journal entry is locked); \
                     wait for it to finish",
                    file.display()
                ),
            ));
        }
        Ok(Claim {
            dir: dir.to_path_buf(),
            entry: dir.join(format!("{name}.json")),
            lock,
            key,
            canonical,
            _lock_file: lock_file,
        })
    }

    /// The session id recorded for this file, if a live one is.
    pub fn recorded(&self) -> Option<String> {
        let json = read_entry(&self.entry)?;
        if json.get("version")?.as_u64()? != FORMAT_VERSION
            || json.get("identity")?.as_str()? != self.key
        {
            return None;
        }
        let created = json.get("created_unix")?.as_u64()?;
        if now_unix().saturating_sub(created) >= SESSION_LIFETIME.as_secs() {
            return None;
        }
        let id = json.get("session_id")?.as_str()?;
        crate::graph::check_session_id(id).ok()?;
        Some(id.to_string())
    }

    /// Records the session for this file: temporary file, fsync, rename, fsync folder.
    pub fn record(
        &self,
        session_id: &str,
        endpoint: &Endpoint,
        file_size: u64,
    ) -> Result<(), Error> {
        let body = serde_json::json!({
            "version": FORMAT_VERSION,
            "identity": self.key,
            "session_id": session_id,
            "app_id": endpoint.app_id,
            "graph_url": endpoint.graph_url,
            "api_version": endpoint.api_version,
            "file_path": self.canonical.to_string_lossy(),
            "file_size": file_size,
            "created_unix": now_unix(),
        });
        let tmp = self
            .entry
            .with_extension(format!("json.tmp.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(body.to_string().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.entry)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            journal_error(&self.dir, "cannot record the session", e)
        })
    }

    /// Forgets the entry: the upload is complete, or its session is gone.
    pub fn forget(&self) {
        let _ = fs::remove_file(&self.entry);
        let _ = fs::remove_file(&self.lock);
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
    }
}

/// The largest entry read: fbup writes a few hundred bytes.
const MAX_ENTRY: u64 = 64 * 1024;

/// True for the names fbup gives entries: 16 hex digits and `.json`.
fn is_entry_name(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".json"))
        .is_some_and(|stem| stem.len() == 16 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An entry's JSON object: only a regular file (not a link, a FIFO or a device) of at
/// most [`MAX_ENTRY`] bytes is read.
fn read_entry(p: &Path) -> Option<serde_json::Value> {
    let bytes = read_regular(p, MAX_ENTRY, Links::Refuse).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json.is_object().then_some(json)
}

/// Every entry in the journal folder, oldest first.
pub fn list(dir: &Path) -> Vec<JournalEntry> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<JournalEntry> = read
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| is_entry_name(p))
        .filter_map(|p| {
            let json = read_entry(&p)?;
            let text = |k: &str| {
                json.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let num = |k: &str| json.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
            Some(JournalEntry {
                in_use: is_locked(&p.with_extension("lock")),
                entry_path: p,
                session_id: text("session_id"),
                app_id: text("app_id"),
                graph_url: text("graph_url"),
                api_version: text("api_version"),
                file_path: PathBuf::from(text("file_path")),
                file_size: num("file_size"),
                created_unix: num("created_unix"),
            })
        })
        .collect();
    out.sort_by_key(|e| e.created_unix);
    out
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
fn try_lock(f: &File) -> bool {
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

/// True when a process holds the entry's lock. On Linux it only asks, so that listing
/// the journal never makes an upload starting beside it fail.
fn is_locked(lock: &Path) -> bool {
    let Ok(f) = OpenOptions::new().read(true).write(true).open(lock) else {
        return false;
    };
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

/// Removes entries older than [`SESSION_LIFETIME`], or of another format, that no
/// process holds. Returns how many went.
pub fn prune(dir: &Path) -> usize {
    let mut removed = 0;
    let Ok(read) = fs::read_dir(dir) else {
        return 0;
    };
    for p in read.filter_map(|e| e.ok()).map(|e| e.path()) {
        // Only what fbup wrote goes: an entry's name, a regular file (never a link,
        // a FIFO or a device), and an object with the version field every entry has.
        if !is_entry_name(&p) {
            continue;
        }
        let Some(j) = read_entry(&p).filter(|j| j.get("version").is_some()) else {
            continue;
        };
        let stale = j.get("version").and_then(|v| v.as_u64()) != Some(FORMAT_VERSION)
            || now_unix()
                .saturating_sub(j.get("created_unix").and_then(|v| v.as_u64()).unwrap_or(0))
                >= SESSION_LIFETIME.as_secs();
        let lock = p.with_extension("lock");
        if stale && !is_locked(&lock) {
            let _ = fs::remove_file(&p);
            let _ = fs::remove_file(&lock);
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, Identity, Endpoint) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.png");
        std::fs::write(&file, b"abc").unwrap();
        let id = crate::source::FileSource::open(&file).unwrap().identity();
        (
            dir,
            file,
            id,
            Endpoint::new("https://graph.facebook.com", "v24.0", "1"),
        )
    }

    #[test]
    fn records_reads_and_forgets() {
        let (dir, file, id, config) = setup();
        let j = dir.path().join("journal");
        let claim = Claim::take(&config, &j, &file, &id).unwrap();
        assert_eq!(claim.recorded(), None);
        claim.record("upload:abc?sig=ARx", &config, 3).unwrap();
        assert_eq!(claim.recorded().as_deref(), Some("upload:abc?sig=ARx"));
        let entries = list(&j);
        assert_eq!(entries.len(), 1);
        assert!(entries[0].in_use);
        assert_eq!(entries[0].file_size, 3);
        drop(claim);
        assert!(!list(&j)[0].in_use);
        let claim = Claim::take(&config, &j, &file, &id).unwrap();
        assert_eq!(claim.recorded().as_deref(), Some("upload:abc?sig=ARx"));
        claim.forget();
        assert!(list(&j).is_empty());
    }

    #[test]
    fn a_held_entry_cannot_be_taken_twice() {
        let (dir, file, id, config) = setup();
        let j = dir.path().join("journal");
        let _held = Claim::take(&config, &j, &file, &id).unwrap();
        let e = Claim::take(&config, &j, &file, &id).err().unwrap();
        assert_eq!(e.status, Status::State);
        assert!(e.message.contains("another process"));
    }

    #[test]
    fn another_identity_or_version_is_not_resumed_and_old_entries_are_pruned() {
        let (dir, file, id, config) = setup();
        let j = dir.path().join("journal");
        let claim = Claim::take(&config, &j, &file, &id).unwrap();
        claim.record("upload:abc?sig=ARx", &config, 3).unwrap();
        // Another app: another entry.
        let other = Endpoint::new("https://graph.facebook.com", "v24.0", "2");
        drop(claim);
        let claim2 = Claim::take(&other, &j, &file, &id).unwrap();
        assert_eq!(claim2.recorded(), None);
        drop(claim2);
        // An old entry is pruned.
        let entry = list(&j)[0].entry_path.clone();
        let text = std::fs::read_to_string(&entry).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["created_unix"] = 1.into();
        std::fs::write(&entry, json.to_string()).unwrap();
        assert_eq!(prune(&j), 1);
        assert!(list(&j).is_empty());
    }

    #[test]
    fn listing_the_journal_never_makes_an_upload_beside_it_fail() {
        let (dir, file, id, config) = setup();
        let j = dir.path().join("journal");
        let claim = Claim::take(&config, &j, &file, &id).unwrap();
        claim.record("upload:abc?sig=ARx", &config, 3).unwrap();
        drop(claim);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lister = {
            let (j, stop) = (j.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut looks = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    looks += list(&j).len() as u64;
                }
                looks
            })
        };
        let mut refused = 0;
        for _ in 0..3000 {
            match Claim::take(&config, &j, &file, &id) {
                Ok(c) => drop(c),
                Err(_) => refused += 1,
            }
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let looks = lister.join().unwrap();
        assert!(looks > 100, "the lister looked {looks} times");
        assert_eq!(
            refused, 0,
            "{refused} of 3000 takes were refused while listing"
        );
    }

    #[test]
    fn a_crash_between_write_and_rename_leaves_the_old_entry() {
        let (dir, file, id, config) = setup();
        let j = dir.path().join("journal");
        let claim = Claim::take(&config, &j, &file, &id).unwrap();
        claim.record("upload:old?sig=ARx", &config, 3).unwrap();
        // What a writer that died before its rename leaves: the temporary file, half
        // written, beside the entry.
        let tmp = claim.entry.with_extension("json.tmp.999999");
        std::fs::write(&tmp, b"{\"version\":1,\"session_id\":\"upload:ne").unwrap();
        assert_eq!(claim.recorded().as_deref(), Some("upload:old?sig=ARx"));
        let entries = list(&j);
        assert_eq!(entries.len(), 1, "the temporary file is no entry");
        assert_eq!(entries[0].session_id, "upload:old?sig=ARx");
        // The next record replaces the entry whole.
        claim.record("upload:new?sig=ARy", &config, 3).unwrap();
        assert_eq!(claim.recorded().as_deref(), Some("upload:new?sig=ARy"));
        let text = std::fs::read_to_string(&claim.entry).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
    }
}
