//! The command's local state as an attacker or a broken machine leaves it: journal
//! entries that name another Graph or cannot be read, a stdout that cannot be written,
//! token files that never end or never come, a token that is not ASCII, `resume`
//! beside `upload`, a journal that cannot be written, names with control characters.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use common::{fx, listener, p, stderr, text, TOKEN};
use fbup_emulator::{AfterStall, Fault, FaultRule, RequestKind};

#[test]
fn sessions_never_sends_the_token_to_a_graph_an_entry_names() {
    let fx = fx();
    let (id, entry) = fx.pending(&fx.file("a.png", 200_000).0);
    let (evil, connections) = listener();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    json["graph_url"] = evil.clone().into();
    std::fs::write(&entry, json.to_string()).unwrap();
    let out = fx.run(&["sessions"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listed.starts_with(&id), "{listed}");
    assert!(
        listed.contains(&format!("recorded for another Graph ({evil}), not asked")),
        "{listed}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the entry's Graph was reached"
    );
    // The Graph the command is configured with is asked, over its own settings.
    json["graph_url"] = fx.emu.url().into();
    std::fs::write(&entry, json.to_string()).unwrap();
    let out = fx.run(&["sessions", "--json"]);
    let o: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(o["file_offset"], 0, "{o}");
}

#[test]
fn a_stdout_that_cannot_be_written_is_exit_3_said_once_never_a_panic() {
    let fx = fx();
    let files: Vec<PathBuf> = (0..4)
        .map(|i| fx.file(&format!("f{i}.png"), 200_000).0)
        .collect();
    let mut args = vec!["upload", "--no-resume"];
    args.extend(files.iter().map(|f| p(f)));
    // A pipe whose reader is gone (`| head -c0`).
    let mut child = fx
        .fbup()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut said = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    assert_eq!(
        said.matches("cannot write to standard output").count(),
        1,
        "{said}"
    );
    let handle = fx.emu.sessions()[0].handle.clone().unwrap();
    assert!(
        said.contains(&format!("not written to standard output: {}", p(&files[0]))),
        "the handle is kept on stderr: {said}"
    );
    assert!(said.contains(&handle.replace('\n', "\\n")), "{said}");
    // A full disk.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = fx.fbup().args(&args).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    // A closed stdout: refused before anything is uploaded.
    let before = fx.emu.sessions().len();
    let mut cmd = fx.fbup();
    cmd.args(&args).stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("standard output is closed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fx.emu.sessions().len(), before, "nothing was uploaded");
}

#[test]
fn a_token_file_that_never_ends_is_refused_and_one_that_never_comes_is_waited_for() {
    let fx = fx();
    let file = fx.file("t.png", 1000).0;
    let t = Instant::now();
    let out = fx.run(&["upload", "--token-file", "/dev/zero", p(&file)]);
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than 16384 bytes"),
        "{}",
        stderr(&out)
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // A FIFO: waited for, saying so, until Ctrl-C.
    let fifo = fx.dir.path().join("token.fifo");
    let c = std::ffi::CString::new(p(&fifo)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let child = fx
        .fbup()
        .args(["upload", "--token-file", p(&fifo), p(&file)])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1800));
    // SAFETY: a signal to the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(19), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("waiting for the token"),
        "{}",
        stderr(&out)
    );
    // A FIFO whose writer comes: the token is read and the upload goes on.
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(format!("{TOKEN}\n").as_bytes()).unwrap();
        })
    };
    let out = fx.run(&["upload", "--no-resume", "--token-file", p(&fifo), p(&file)]);
    writer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_token_that_is_not_ascii_is_an_argument_error_before_any_request() {
    let fx = fx();
    let file = fx.file("n.png", 1000).0;
    let out = fx
        .fbup()
        .env("FBUP_ACCESS_TOKEN", "EAAtok\u{e9}n")
        .args(["upload", p(&file)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert!(stderr(&out).contains("not ASCII"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not valid HTTP"), "{}", stderr(&out));
    assert!(fx.emu.requests().is_empty(), "a request was sent");
}

#[test]
fn resume_takes_the_uploads_lock_and_a_finished_resume_is_forgotten() {
    let fx = fx();
    let file = fx.file("r.png", 3_000_000).0;
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 1_000_000,
            millis: 60_000,
            then: AfterStall::Close,
        },
    ));
    let mut uploading = fx
        .fbup()
        .args(["upload", p(&file)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fx.emu.sessions().first().map_or(0, |s| s.file_offset) < 1_000_000 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = fx.emu.sessions()[0].id.clone();
    let out = fx.run(&["resume", &id, p(&file)]);
    assert_eq!(out.status.code(), Some(20), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another process is uploading"),
        "{}",
        stderr(&out)
    );
    uploading.kill().unwrap();
    uploading.wait().unwrap();
    let out = fx.run(&["resume", &id, p(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = fx.run(&["sessions"]);
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert!(
        stderr(&out).contains("no pending uploads"),
        "{}",
        stderr(&out)
    );
    // The next upload of the file is a new one, not the finished session again.
    let out = fx.run(&["upload", p(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fx.emu.sessions().len(), 2);
}

#[test]
fn a_journal_that_cannot_be_written_is_said_once_and_every_file_uploads() {
    let fx = fx();
    let files: Vec<PathBuf> = (0..3)
        .map(|i| fx.file(&format!("j{i}.png"), 50_000).0)
        .collect();
    let blocker = fx.dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"").unwrap();
    let mut args = vec!["upload"];
    args.extend(files.iter().map(|f| p(f)));
    let out = fx
        .fbup()
        .env("XDG_STATE_HOME", &blocker)
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    assert_eq!(
        stderr(&out).matches("fbup: warning: ").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("cannot resume"), "{}", stderr(&out));
}

#[test]
fn entries_that_cannot_be_read_are_listed_and_pruned_and_an_unreadable_folder_said() {
    let fx = fx();
    let (_, entry) = fx.pending(&fx.file("u.png", 100_000).0);
    let json = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &json[..json.len() / 3]).unwrap();
    let out = fx.run(&["sessions"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.starts_with(&format!("(unreadable)\t{}\tcannot be read: ", p(&entry))),
        "{listed}"
    );
    assert!(
        stderr(&out).contains("--prune removes them"),
        "{}",
        stderr(&out)
    );
    let out = fx.run(&["sessions", "--prune"]);
    assert!(
        stderr(&out).contains("pruned 1 entries"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let out = fx.run(&["sessions", "--state-dir", p(&fx.file("plain", 1).0)]);
    assert_eq!(out.status.code(), Some(12), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
}

#[test]
fn names_with_control_characters_are_escaped_on_stdout_and_stderr() {
    let fx = fx();
    let odd = fx.file("tab\there\nnew\\line.png", 1000).0;
    let esc = fx.file("esc\x1b[2J.png", 1000).0;
    let out = fx.run(&["upload", "--no-resume", p(&odd), p(&esc)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let dir = p(fx.dir.path());
    assert!(
        lines[0].starts_with(&format!("{dir}/tab\\there\\nnew\\\\line.png\t")),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with(&format!("{dir}/esc\\x1b[2J.png\t")),
        "{lines:?}"
    );
    assert!(!text(&out).contains('\x1b'), "{}", text(&out));
}
