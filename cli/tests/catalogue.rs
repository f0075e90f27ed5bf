//! Catalogues: many files in one command (issue "a catalogue of 50,000 files"). What
//! grows with the number of files is counted here, never timed: connections opened,
//! descriptors, lines printed.

mod common;

use common::{fx, stderr};

/// At `--jobs 8`, 200 files open at most 2 x 8 + 4 connections: the pool keeps what
/// the jobs use (ureq's default of 3 idle per host made one connection a file).
#[test]
fn a_catalogue_at_jobs_j_opens_at_most_2j_plus_4_connections() {
    let fx = fx();
    let files = fx.files(200);
    let out = fx
        .fbup()
        .args(["upload", "--no-resume", "--jobs", "8"])
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let complete = fx.emu.sessions().iter().filter(|s| s.complete).count();
    assert_eq!(complete, 200);
    let opened = fx.emu.connections();
    eprintln!("200 files at --jobs 8: {opened} connections");
    assert!(
        opened <= 20,
        "{opened} connections for 200 files at --jobs 8"
    );
}

/// A file named twice, by another path, a hard link or a symbolic link, is uploaded
/// once: the check keys files by device and inode, not by how they are written.
#[test]
fn a_file_named_again_by_any_path_is_uploaded_once() {
    let fx = fx();
    let files = fx.files(3);
    let hard = fx.dir.path().join("hard.png");
    std::fs::hard_link(&files[0], &hard).unwrap();
    let soft = fx.dir.path().join("soft.png");
    std::os::unix::fs::symlink(&files[1], &soft).unwrap();
    let dotted = fx.dir.path().join(".").join("p2.png");
    let out = fx
        .fbup()
        .args(["upload", "--no-resume", "--jobs", "2"])
        .args(&files)
        .args([&hard, &soft, &dotted])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("are the same file").count(), 3, "{err}");
    assert_eq!(fx.emu.sessions().len(), 3, "each file once");
}

/// `--files-from -`: 300 names and one missing, read from standard input; the missing
/// one is said and the exit code is not 0, the 300 are uploaded. `--null`: a name with
/// a newline in it, from a NUL-separated list.
#[test]
fn names_come_from_a_list_on_stdin_or_nul_separated() {
    use std::io::Write;
    let fx = fx();
    let files = fx.files(300);
    let mut list: Vec<u8> = Vec::new();
    for f in &files {
        list.extend_from_slice(f.as_os_str().as_encoded_bytes());
        list.push(b'\n');
    }
    list.extend_from_slice(b"missing.png\n");
    let mut child = fx
        .fbup()
        .args(["upload", "--no-resume", "--jobs", "8", "--files-from", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&list).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(err.contains("missing.png: no such file"), "{err}");
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(lines, 300, "a line for each file uploaded");
    let complete = fx.emu.sessions().iter().filter(|s| s.complete).count();
    assert_eq!(complete, 300);

    let odd = fx.dir.path().join("new\nline.png");
    std::fs::copy(&files[0], &odd).unwrap();
    let list0 = fx.dir.path().join("list0");
    let mut names = odd.as_os_str().as_encoded_bytes().to_vec();
    names.push(0);
    std::fs::write(&list0, names).unwrap();
    let out = fx
        .fbup()
        .args(["upload", "--no-resume", "--null", "--files-from"])
        .arg(&list0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fx.emu.sessions().len(), 301);
    // Without --null, the same list is refused, saying why.
    let out = fx
        .fbup()
        .args(["upload", "--no-resume", "--files-from"])
        .arg(&list0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert!(stderr(&out).contains("--null"), "{}", stderr(&out));
}

/// An empty `FBUP_*` variable is unset, as an empty shell variable is: an empty
/// `FBUP_STATE_DIR` is the default folder, not a folder named "".
#[test]
fn an_empty_setting_in_the_environment_is_unset() {
    let fx = fx();
    let files = fx.files(1);
    let out = fx
        .fbup()
        .env("FBUP_STATE_DIR", "")
        .env("FBUP_CA_FILE", "")
        .arg("upload")
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fx.emu.sessions().len(), 1);
    // The journal went to the default folder ($XDG_STATE_HOME/fbup).
    assert!(fx.dir.path().join("state/fbup").is_dir());
}

/// Under a soft limit of 64 descriptors (the hard one higher), `--jobs 32` uploads
/// every file: the command raises its soft limit to the hard one at start (each job
/// holds a file, a connection and a journal entry).
#[test]
fn a_low_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let fx = fx();
    let files = fx.files(120);
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--jobs", "32"]).args(&files);
    descriptor_limit(&mut cmd, 64, 4096);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let complete = fx.emu.sessions().iter().filter(|s| s.complete).count();
    assert_eq!(complete, 120);
}

/// When even the hard limit is too low for `--jobs`, the jobs are fewer and the files
/// wait for one: under a limit of 64 descriptors, `--jobs 64` uploads 120 of 120 (it
/// failed files with `Too many open files` when every job started).
#[test]
fn a_low_hard_descriptor_limit_makes_files_wait_never_fail() {
    let fx = fx();
    let files = fx.files(120);
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--jobs", "64"]).args(&files);
    descriptor_limit(&mut cmd, 64, 64);
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("Too many open files"), "{err}");
    assert!(
        err.contains("not the 64 asked: this process may open 64 descriptors"),
        "{err}"
    );
    let complete = fx.emu.sessions().iter().filter(|s| s.complete).count();
    assert_eq!(complete, 120);
    assert_eq!(out.stdout.iter().filter(|b| **b == b'\n').count(), 120);
}

/// What the journal and the jobs cost is per command, not per file: 100 files at
/// `--jobs 4`, with the journal, make no fsync (there were three a file: 3x slower
/// than without the journal) and start a bounded number of threads (there was one a
/// file, for the session created ahead), counted by strace.
#[test]
fn the_journal_makes_no_fsync_and_the_jobs_no_thread_per_file() {
    if !common::skip::have("strace", "-V") {
        return;
    }
    let fx = fx();
    let files = fx.files(100);
    let report = fx.dir.path().join("strace.txt");
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-f", "-c", "-e", "trace=fsync,fdatasync,clone,clone3", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_fbup"))
        .args(["upload", "--jobs", "4"])
        .args(&files);
    for (k, v) in fx.fbup().get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let complete = fx.emu.sessions().iter().filter(|s| s.complete).count();
    assert_eq!(complete, 100);
    let table = std::fs::read_to_string(&report).unwrap();
    let calls = |name: &str| -> u64 {
        table
            .lines()
            .find(|l| l.split_whitespace().last() == Some(name))
            .and_then(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.get(3).and_then(|c| c.parse().ok())
            })
            .unwrap_or(0)
    };
    // The prune once per command may sync the folder once.
    assert!(calls("fsync") + calls("fdatasync") <= 1, "{table}");
    // Four jobs, their four helpers, and the few of the runtime.
    assert!(calls("clone") + calls("clone3") <= 16, "{table}");
}

/// Starts `cmd` with these soft and hard limits of open descriptors.
fn descriptor_limit(cmd: &mut std::process::Command, soft: u64, hard: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
