//! The resume journal: a folder that remembers, for each file being uploaded, the
//! Graph session it goes to, so that a new process (after a crash or `kill -9`) resumes
//! the same session instead of starting over.
//!
//! One entry per file identity (app id, Graph URL and version, canonical path, size,
//! modification time, inode), written atomically (an exclusively created temporary
//! file, renamed over the entry), in a versioned JSON format, locked (an open-file-description
//! lock on Linux, `flock` elsewhere) while a session drives it so that two processes
//! never upload the same entry at once. Entries older than a session's lifetime are
//! pruned.
//!
//! An entry costs no fsync. It guards against a process that ends (a crash, `kill -9`,
//! a lost terminal), and the page cache outlives any process: what was written is read
//! back. Against a power cut, the kernel writes an entry out within its writeback
//! interval (30 s by default), so only an upload younger than that can lose its entry,
//! and then the file is uploaded again in a new session: some bytes again, never wrong
//! ones (an entry left half-written is not JSON, and is replaced). Three fsyncs a file
//! (entry, folder, folder again on removal) made a catalogue of small files three
//! times slower than without the journal; git leaves loose objects to writeback too.
//!
//! The folder is one other processes can reach: it must be this user's and writable by
//! no one else, nothing in it is opened through a link, and nothing read from it
//! decides where the access token is sent (an entry's Graph URL is only shown).

mod folder;
mod listing;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Status};
use crate::files::{read_regular, Links};
use crate::graph::Endpoint;
use crate::source::Identity;

pub(crate) use folder::Refusal;
pub use listing::{list, prune, scan, JournalEntry, Listing, Unreadable};

/// The format of an entry; an entry of another version is ignored (and pruned).
const FORMAT_VERSION: u64 = 1;

/// How long an upload session is assumed to live at Graph (Meta does not document it);
/// older entries are pruned.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The largest entry read: fbup writes a few hundred bytes.
const MAX_ENTRY: u64 = 64 * 1024;

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
    entry: PathBuf,
    lock: PathBuf,
    key: String,
    canonical: PathBuf,
    lock_file: File,
}

impl Claim {
    /// Takes the entry for this file. `Err(Refusal::Unsafe)` for a folder that is not
    /// safe to use, `Err(Refusal::Unavailable)` when the journal cannot be used here;
    /// the error [`Status::State`] when another process holds the entry.
    pub fn take(
        endpoint: &Endpoint,
        dir: &Path,
        file: &Path,
        id: &Identity,
    ) -> Result<Result<Claim, Refusal>, Error> {
        if let Err(r) = folder::prepare(dir) {
            return Ok(Err(r));
        }
        let canonical = match fs::canonicalize(file) {
            Ok(c) => c,
            Err(e) => {
                let why = format!("cannot resolve the file's path: {e}");
                return Ok(Err(Refusal::Unavailable(why)));
            }
        };
        let key = identity_key(endpoint, &canonical, id);
        let name = format!("{:016x}", fnv1a(&key));
        let lock = dir.join(format!("{name}.lock"));
        // A lock removed by its holder as this process opened it locks nothing: take
        // the file that is at the path when the lock is held.
        for _ in 0..8 {
            let lock_file = match folder::open_lock(&lock) {
                Ok(f) => f,
                Err(e) => {
                    let why = format!("cannot open '{}': {}", lock.display(), folder::why(&e));
                    return Ok(Err(Refusal::Unavailable(why)));
                }
            };
            if !folder::try_lock(&lock_file) {
                return Err(Error::new(
                    Status::State,
                    format!(
                        "another process is uploading '{}' (its resume journal entry is \
                         locked); wait for it to finish",
                        file.display()
                    ),
                ));
            }
            if folder::still_at(&lock_file, &lock) {
                return Ok(Ok(Claim {
                    entry: dir.join(format!("{name}.json")),
                    lock,
                    key,
                    canonical,
                    lock_file,
                }));
            }
        }
        Ok(Err(Refusal::Unavailable(format!(
            "the lock '{}' kept being replaced",
            lock.display()
        ))))
    }

    /// The session id recorded for this file, if a live one is: `Ok(None)` when there
    /// is none (or one for another identity, of another format, too old, or not an
    /// entry at all: it is replaced), `Err` with the reason when an entry is there
    /// but cannot be read (it is then left alone, and the journal not used).
    pub fn recorded(&self) -> Result<Option<String>, String> {
        let bytes = match read_regular(&self.entry, MAX_ENTRY, Links::Refuse) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                let why = folder::why(&e);
                return Err(format!("cannot read '{}': {why}", self.entry.display()));
            }
        };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Ok(None);
        };
        Ok(self.live_session(&json))
    }

    /// The session id of an entry's JSON, when it is a live one for this identity.
    fn live_session(&self, json: &serde_json::Value) -> Option<String> {
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

    /// Records the session for this file: an exclusively created temporary file, renamed
    /// over the entry (no fsync: see the module's notes). On failure nothing is left but
    /// the entry as it was.
    pub fn record(
        &self,
        session_id: &str,
        endpoint: &Endpoint,
        file_size: u64,
    ) -> Result<(), String> {
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
        let (tmp, mut f) = folder::create_temporary(&self.entry)
            .map_err(|e| format!("cannot create a file in it: {}", folder::why(&e)))?;
        let mut write = || -> io::Result<()> {
            f.write_all(body.to_string().as_bytes())?;
            fs::rename(&tmp, &self.entry)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("cannot record the session: {e}")
        })
    }

    /// Forgets the entry: the upload is complete, or its session is gone.
    pub fn forget(self) {
        let _ = fs::remove_file(&self.entry);
        // The lock goes with it, on drop (still held: see `take` for why that is safe).
    }
}

impl Drop for Claim {
    /// A lock file that guards no entry (nothing was recorded, or the entry was
    /// forgotten) goes with its claim, so that none is left behind.
    fn drop(&mut self) {
        if fs::symlink_metadata(&self.entry).is_err()
            && folder::still_at(&self.lock_file, &self.lock)
        {
            let _ = fs::remove_file(&self.lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(e: &Endpoint, j: &Path, file: &Path, id: &Identity) -> Claim {
        Claim::take(e, j, file, id).unwrap().unwrap()
    }

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
        let claim = take(&config, &j, &file, &id);
        assert_eq!(claim.recorded().unwrap(), None);
        claim.record("upload:abc?sig=ARx", &config, 3).unwrap();
        assert_eq!(
            claim.recorded().unwrap().as_deref(),
            Some("upload:abc?sig=ARx")
        );
        let entries = list(&j);
        assert_eq!(entries.len(), 1);
        assert!(entries[0].in_use);
        assert_eq!(entries[0].file_size, 3);
        drop(claim);
        assert!(!list(&j)[0].in_use);
        let claim = take(&config, &j, &file, &id);
        assert_eq!(
            claim.recorded().unwrap().as_deref(),
            Some("upload:abc?sig=ARx")
        );
        claim.forget();
        assert!(list(&j).is_empty());
    }

    #[test]
    fn a_held_entry_cannot_be_taken_twice() {
        let (dir, file, id, config) = setup();
        let j = dir.path().join("journal");
        let _held = take(&config, &j, &file, &id);
        let e = Claim::take(&config, &j, &file, &id).err().unwrap();
        assert_eq!(e.status, Status::State);
        assert!(e.message.contains("another process"));
    }

    #[test]
    fn another_identity_or_version_is_not_resumed_and_old_entries_are_pruned() {
        let (dir, file, id, config) = setup();
        let j = dir.path().join("journal");
        let claim = take(&config, &j, &file, &id);
        claim.record("upload:abc?sig=ARx", &config, 3).unwrap();
        // Another app: another entry.
        let other = Endpoint::new("https://graph.facebook.com", "v24.0", "2");
        drop(claim);
        let claim2 = take(&other, &j, &file, &id);
        assert_eq!(claim2.recorded().unwrap(), None);
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
        let claim = take(&config, &j, &file, &id);
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
                Ok(Ok(c)) => drop(c),
                Ok(Err(r)) => panic!("{r:?}"),
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
        let claim = take(&config, &j, &file, &id);
        claim.record("upload:old?sig=ARx", &config, 3).unwrap();
        // What a writer that died before its rename leaves: the temporary file, half
        // written, beside the entry.
        let tmp = claim.entry.with_extension("json.tmp.0123456789abcdef");
        std::fs::write(&tmp, b"{\"version\":1,\"session_id\":\"upload:ne").unwrap();
        assert_eq!(
            claim.recorded().unwrap().as_deref(),
            Some("upload:old?sig=ARx")
        );
        let entries = list(&j);
        assert_eq!(entries.len(), 1, "the temporary file is no entry");
        assert_eq!(entries[0].session_id, "upload:old?sig=ARx");
        // The next record replaces the entry whole.
        claim.record("upload:new?sig=ARy", &config, 3).unwrap();
        assert_eq!(
            claim.recorded().unwrap().as_deref(),
            Some("upload:new?sig=ARy")
        );
        let text = std::fs::read_to_string(&claim.entry).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
    }
}
