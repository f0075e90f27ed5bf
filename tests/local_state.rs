//! Local state that cannot be turned against its user: the journal's folder (links,
//! owners, modes, a journal that cannot be written or read), a file rewritten during its
//! upload, `resume` under the journal's lock, a token that is not ASCII.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fbup::{Config, Event, Session, Status};
use fbup_emulator::Emulator;

struct Fx {
    emu: Emulator,
    dir: tempfile::TempDir,
}

impl Fx {
    fn new() -> Fx {
        Fx {
            emu: Emulator::start(Default::default()).unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn config(&self) -> Config {
        let mut c = Config::new("1234", "EAAlocal-state-token");
        c.graph_url = self.emu.url().to_string();
        c.retry_base = Duration::from_millis(5);
        c.state_dir = Some(self.state());
        c
    }

    fn file(&self, name: &str, len: usize) -> (PathBuf, String) {
        common::test_file(self.dir.path(), name, len)
    }

    /// A session recorded in the journal and left pending (its upload cancelled at
    /// once): the entry's path.
    fn pending_entry(&self, path: &Path) -> (String, PathBuf) {
        let mut s = Session::create(&self.config(), path).unwrap();
        let e = s.upload(&mut |_, _| false).unwrap_err();
        assert_eq!(e.status, Status::Cancelled, "{}", e.message);
        let id = s.id().to_string();
        drop(s);
        let entries = fbup::journal::list(&self.state());
        assert_eq!(entries.len(), 1);
        (id, entries[0].entry_path.clone())
    }
}

/// The `JournalOff` events a config's sessions report.
fn journal_events(c: &mut Config) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    c.on_event = Some(Arc::new(move |e: &Event| {
        if let Event::JournalOff { reason } = e {
            s.lock().unwrap().push(reason.clone());
        }
    }));
    seen
}

#[test]
fn a_dangling_lock_link_is_not_followed_and_the_upload_goes_on() {
    let fx = Fx::new();
    let (path, sha) = fx.file("a.png", 300_000);
    let (_, entry) = fx.pending_entry(&path);
    let lock = entry.with_extension("lock");
    let outside = fx.dir.path().join("outside-the-folder");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&outside, &lock).unwrap();
    let mut c = fx.config();
    let said = journal_events(&mut c);
    let mut s = Session::create(&c, &path).unwrap();
    let id = s.id().to_string();
    s.upload(&mut |_, _| true).unwrap();
    assert!(!outside.exists(), "the link's target was created");
    assert!(
        std::fs::symlink_metadata(&lock)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link itself is left alone"
    );
    let said = said.lock().unwrap();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("symbolic link"), "{said:?}");
    assert_eq!(fx.emu.session(&id).unwrap().sha256.as_deref(), Some(&*sha));
}

#[test]
fn a_temporary_name_planted_as_a_link_is_never_written_through() {
    let fx = Fx::new();
    let (path, _) = fx.file("b.png", 300_000);
    let (_, entry) = fx.pending_entry(&path);
    // The names a writer could use: the old one (`.json.tmp.PID`) for every pid
    // near ours, each a link to a file of the victim's.
    let victim = fx.dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::fs::remove_file(&entry).unwrap();
    let me = std::process::id();
    for pid in me.saturating_sub(2)..me + 3 {
        let tmp = entry.with_extension(format!("json.tmp.{pid}"));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
    }
    let mut s = Session::create(&fx.config(), &path).unwrap();
    s.upload(&mut |_, _| true).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

#[test]
fn a_folder_others_can_write_or_another_user_owns_is_refused() {
    let fx = Fx::new();
    let (path, _) = fx.file("c.png", 1000);
    std::fs::create_dir(fx.state()).unwrap();
    std::fs::set_permissions(fx.state(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = Session::create(&fx.config(), &path).unwrap_err();
    assert_eq!(e.status, Status::File, "{}", e.message);
    assert_eq!(e.field, Some(fbup::Field::StateDir));
    assert!(
        e.message.contains("writable by every user"),
        "{}",
        e.message
    );
    assert!(e.message.contains("chmod 700"), "{}", e.message);
    // Nothing is pruned from it either: what is there is not known to be fbup's.
    let planted = fx.state().join("0123456789abcdef.json");
    std::fs::write(&planted, b"not json").unwrap();
    assert_eq!(fbup::journal::prune(&fx.state()), 0);
    assert!(planted.exists(), "pruned from a folder others can write");
    std::fs::remove_file(&planted).unwrap();
    std::fs::set_permissions(fx.state(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let c = std::ffi::CString::new(fx.state().to_str().unwrap()).unwrap();
        // SAFETY: a valid path; 65534 is the conventional "nobody".
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        let e = Session::create(&fx.config(), &path).unwrap_err();
        assert!(e.message.contains("another user"), "{}", e.message);
    } else {
        eprintln!("SKIP: the folder of another user needs root to make (chown)");
    }
    assert!(fx.emu.sessions().is_empty(), "nothing was asked of Graph");
}

/// Writes `bytes` at `offset` of the file, in place.
fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn a_file_rewritten_during_its_one_request_never_ends_complete_at_graph() {
    let len = 6_000_000;
    type Change = fn(&Path);
    let changes: [(&str, Change); 4] = [
        ("written in place, before and after", |p| {
            write_at(p, 10, b"XXXX");
            write_at(p, 5_900_000, b"YYYY");
        }),
        ("appended to", |p| {
            std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .unwrap()
                .write_all(b"more")
                .unwrap()
        }),
        ("truncated", |p| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(3_000_000)
                .unwrap()
        }),
        ("replaced by a rename", |p| {
            let other = p.with_extension("new");
            std::fs::write(&other, common::test_bytes(6_000_000)).unwrap();
            std::fs::rename(&other, p).unwrap();
        }),
    ];
    for (what, change) in changes {
        let fx = Fx::new();
        let (path, _) = fx.file("torn.png", len);
        let mut c = fx.config();
        c.state_dir = None;
        let mut s = Session::create(&c, &path).unwrap();
        let mut changed = false;
        let e = s
            .upload(&mut |done, _| {
                if done > 1_000_000 && !changed {
                    changed = true;
                    change(&path);
                }
                true
            })
            .unwrap_err();
        assert_eq!(e.status, Status::File, "{what}: {}", e.message);
        let info = fx.emu.session(s.id()).unwrap();
        assert!(!info.complete, "{what}: Graph completed a changed file");
        // What Graph held when asked; bytes still in the sockets' buffers may land
        // after, never the last one.
        let held: u64 = e
            .message
            .split("Graph holds ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{what}: {}", e.message));
        assert!(
            e.message.contains(&format!("of its {len} bytes")),
            "{what}: {}",
            e.message
        );
        assert!(
            held <= info.file_offset && info.file_offset < len as u64,
            "{what}: said {held}, Graph holds {}",
            info.file_offset
        );
        assert!(
            e.message.contains("no complete file"),
            "{what}: {}",
            e.message
        );
        assert!(!e.message.contains("nothing more was sent"), "{what}");
    }
}

#[test]
fn resume_takes_the_journals_lock_and_forgets_the_entry_when_complete() {
    let fx = Fx::new();
    let (path, sha) = fx.file("r.png", 2_000_000);
    let (id, _) = fx.pending_entry(&path);
    let held = Session::create(&fx.config(), &path).unwrap();
    let e = Session::resume(&fx.config(), &path, &id).unwrap_err();
    assert_eq!(e.status, Status::State, "{}", e.message);
    assert!(e.message.contains("another process"), "{}", e.message);
    drop(held);
    let mut s = Session::resume(&fx.config(), &path, &id).unwrap();
    s.upload(&mut |_, _| true).unwrap();
    assert_eq!(fx.emu.session(&id).unwrap().sha256.as_deref(), Some(&*sha));
    assert!(
        fbup::journal::list(&fx.state()).is_empty(),
        "a completed resume leaves no entry"
    );
    assert_eq!(
        std::fs::read_dir(fx.state()).unwrap().count(),
        0,
        "nor a lock"
    );
}

#[test]
fn a_journal_that_cannot_be_written_warns_and_the_upload_goes_on() {
    let fx = Fx::new();
    let (path, sha) = fx.file("w.png", 100_000);
    // The folder cannot be made: a regular file stands where its parent should be.
    std::fs::write(fx.dir.path().join("plain"), b"").unwrap();
    let mut c = fx.config();
    c.state_dir = Some(fx.dir.path().join("plain/state"));
    let said = journal_events(&mut c);
    let mut s = Session::create(&c, &path).unwrap();
    s.upload(&mut |_, _| true).unwrap();
    assert_eq!(
        fx.emu.session(s.id()).unwrap().sha256.as_deref(),
        Some(&*sha)
    );
    let said = said.lock().unwrap();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("cannot create the folder"), "{said:?}");
}

#[test]
fn entries_that_cannot_be_read_are_listed_and_pruned_and_never_replaced() {
    let fx = Fx::new();
    let (path, _) = fx.file("u.png", 300_000);
    let (id, entry) = fx.pending_entry(&path);
    // An entry that is a folder cannot be read: the upload goes on without the
    // journal and leaves it as it is.
    let text = std::fs::read(&entry).unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::fs::create_dir(&entry).unwrap();
    let mut c = fx.config();
    let said = journal_events(&mut c);
    let mut s = Session::create(&c, &path).unwrap();
    assert_ne!(s.id(), id);
    s.upload(&mut |_, _| true).unwrap();
    assert!(said.lock().unwrap()[0].contains("cannot read"), "{said:?}");
    assert!(entry.is_dir(), "left alone");
    let listing = fbup::journal::scan(&fx.state()).unwrap();
    assert!(listing.entries.is_empty());
    assert_eq!(listing.unreadable.len(), 1);
    assert!(listing.unreadable[0].why.contains("regular file"));
    std::fs::remove_dir(&entry).unwrap();
    // A truncated entry is listed with why, then pruned.
    std::fs::write(&entry, &text[..text.len() / 2]).unwrap();
    let listing = fbup::journal::scan(&fx.state()).unwrap();
    assert_eq!(listing.unreadable.len(), 1, "{listing:?}");
    assert_eq!(listing.unreadable[0].path, entry);
    assert!(listing.unreadable[0].why.contains("truncated or corrupt"));
    assert_eq!(fbup::journal::prune(&fx.state()), 1);
    assert_eq!(
        fbup::journal::scan(&fx.state()).unwrap(),
        Default::default()
    );
    // A folder that cannot be read says so.
    let e = fbup::journal::scan(&fx.dir.path().join("u.png")).unwrap_err();
    assert_eq!(e.status, Status::File);
    assert!(e.message.contains("cannot be read"), "{}", e.message);
}

#[test]
fn a_token_that_is_not_ascii_is_refused_before_any_request() {
    let fx = Fx::new();
    let (path, _) = fx.file("t.png", 1000);
    for token in ["EAAtoken\u{e9}", "EAA\u{200b}token", "EAA\ttoken"] {
        let mut c = fx.config();
        c.access_token = token.into();
        let e = Session::create(&c, &path).unwrap_err();
        assert_eq!(e.status, Status::Argument, "{}", e.message);
        assert_eq!(e.field, Some(fbup::Field::AccessToken));
        assert!(!e.message.contains("EAA"), "{}", e.message);
    }
    assert!(fx.emu.requests().is_empty(), "nothing was sent");
}
