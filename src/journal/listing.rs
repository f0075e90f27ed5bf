//! What the journal holds, as `fbup sessions` shows it: every entry, those that cannot
//! be read among them (with why), and pruning of what is stale, unreadable or stray.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Status};
use crate::files::{read_regular, Links};

use super::folder::{is_locked, sync, why};
use super::{now_unix, FORMAT_VERSION, MAX_ENTRY, SESSION_LIFETIME};

/// A pending upload the journal remembers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Where the entry is kept.
    pub entry_path: PathBuf,
    /// The Graph session id, `?sig=` included.
    pub session_id: String,
    /// The app the session belongs to.
    pub app_id: String,
    /// Graph's base URL, as the entry says: only shown, never used to send the token.
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

/// An entry that is there but cannot be read: its path and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// Where it is.
    pub path: PathBuf,
    /// Why it cannot be read (no permission, not a regular file, not an entry's JSON).
    pub why: String,
}

/// Everything the journal's folder holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The entries that could be read, oldest first.
    pub entries: Vec<JournalEntry>,
    /// The entries that could not be.
    pub unreadable: Vec<Unreadable>,
}

/// True for the names fbup gives entries: 16 hex digits and `.json`.
fn is_entry_name(p: &Path) -> bool {
    has_stem(p, ".json")
}

/// True for the names of entries' locks.
fn is_lock_name(p: &Path) -> bool {
    has_stem(p, ".lock")
}

fn has_stem(p: &Path, suffix: &str) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(suffix))
        .is_some_and(|stem| stem.len() == 16 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An entry's JSON object; `Err` says why it cannot be had. Only a regular file (not a
/// link, a FIFO or a device) of at most [`MAX_ENTRY`] bytes is read.
fn read_entry(p: &Path) -> Result<serde_json::Value, String> {
    let bytes = read_regular(p, MAX_ENTRY, Links::Refuse).map_err(|e| why(&e))?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(json) if json.is_object() => Ok(json),
        Ok(_) => Err("not an entry (a JSON object is expected)".into()),
        Err(e) => Err(format!("not an entry's JSON (truncated or corrupt: {e})")),
    }
}

/// The names in the folder; a folder that does not exist holds nothing.
fn names(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(folder_error(dir, e)),
    };
    read.map(|e| e.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| folder_error(dir, e))
}

fn folder_error(dir: &Path, e: io::Error) -> Error {
    Error::new(
        Status::File,
        format!(
            "the resume journal folder '{}' cannot be read: {e}",
            dir.display()
        ),
    )
}

/// Every entry in the journal's folder, those that cannot be read apart; an error
/// when the folder itself cannot be read.
pub fn scan(dir: &Path) -> Result<Listing, Error> {
    let mut listing = Listing::default();
    for p in names(dir)?.into_iter().filter(|p| is_entry_name(p)) {
        match read_entry(&p) {
            Ok(json) => listing.entries.push(entry_of(p, &json)),
            Err(why) => listing.unreadable.push(Unreadable { path: p, why }),
        }
    }
    listing.entries.sort_by_key(|e| e.created_unix);
    listing.unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

/// The readable entries in the journal's folder, oldest first (none when the folder
/// cannot be read: [`scan`] says why).
pub fn list(dir: &Path) -> Vec<JournalEntry> {
    scan(dir).map(|l| l.entries).unwrap_or_default()
}

fn entry_of(p: PathBuf, json: &serde_json::Value) -> JournalEntry {
    let text = |k: &str| {
        json.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let num = |k: &str| json.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    JournalEntry {
        in_use: is_locked(&p.with_extension("lock")),
        entry_path: p,
        session_id: text("session_id"),
        app_id: text("app_id"),
        graph_url: text("graph_url"),
        api_version: text("api_version"),
        file_path: PathBuf::from(text("file_path")),
        file_size: num("file_size"),
        created_unix: num("created_unix"),
    }
}

/// True when an entry has gone stale: of another format, or older than a session
/// lives.
fn stale(json: &serde_json::Value) -> bool {
    let age = now_unix().saturating_sub(
        json.get("created_unix")
            .and_then(|v| v.as_u64())
            .unwrap_or(0),
    );
    json.get("version").and_then(|v| v.as_u64()) != Some(FORMAT_VERSION)
        || age >= SESSION_LIFETIME.as_secs()
}

/// Removes what no process holds and no later upload can use, in a folder that is this
/// user's and writable by no one else: entries older than
/// [`SESSION_LIFETIME`] or of another format, entries that cannot be read (a regular
/// file of a bad shape; a link, a FIFO, a device or a folder of an entry's name is
/// only listed), and locks that guard no entry. Returns how many entries went.
pub fn prune(dir: &Path) -> usize {
    // Nothing is removed from a folder that is not safe to use (another user's, or one
    // others can write): what is in it is not known to be fbup's.
    if super::folder::safe(dir).is_err() {
        return 0;
    }
    let Ok(all) = names(dir) else {
        return 0;
    };
    let mut removed = 0;
    for p in all.iter().filter(|p| is_entry_name(p)) {
        let lock = p.with_extension("lock");
        let gone = match read_entry(p) {
            Ok(json) => stale(&json),
            // Only a regular file of our own is removed: nothing else of that name
            // is ours to delete.
            Err(_) => fs::symlink_metadata(p).is_ok_and(|m| m.is_file()),
        };
        if gone && !is_locked(&lock) && fs::remove_file(p).is_ok() {
            let _ = fs::remove_file(&lock);
            removed += 1;
        }
    }
    for lock in all.iter().filter(|p| is_lock_name(p)) {
        let entry = lock.with_extension("json");
        let stray = fs::symlink_metadata(&entry).is_err()
            && fs::symlink_metadata(lock).is_ok_and(|m| m.is_file());
        if stray && !is_locked(lock) {
            let _ = fs::remove_file(lock);
        }
    }
    let _ = sync(dir);
    removed
}
