//! What the command's tests share: an emulator with the test's token, a folder for
//! the files and the journal, the `fbup` command aimed at both, and the helpers that
//! read what it printed. Each test file uses a part of it.
#![allow(dead_code)]

pub mod pty;
#[path = "../../../tests/common/skip.rs"]
pub mod skip;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fbup_emulator::{AfterStall, Emulator, Fault, FaultRule, RequestKind};
use sha2::{Digest, Sha256};

/// The token every emulator here accepts; no output may ever hold it.
pub const TOKEN: &str = "EAAcli-secret";

/// An emulator and a folder for one test.
pub struct Fx {
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
}

/// An emulator that accepts [`TOKEN`] and an empty folder.
pub fn fx() -> Fx {
    Fx {
        emu: Emulator::start(fbup_emulator::Config {
            tokens: vec![TOKEN.into()],
            ..Default::default()
        })
        .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fx {
    /// A file of `len` bytes in the test's folder: its path and SHA-256.
    pub fn file(&self, name: &str, len: usize) -> (PathBuf, String) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + (i >> 13)) as u8).collect();
        let path = self.dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        (path, sha(&bytes))
    }

    /// `count` files of 8-64 KiB named `pN.png`.
    pub fn files(&self, count: usize) -> Vec<PathBuf> {
        (0..count)
            .map(|i| {
                let len = 8 * 1024 + (i * 7919) % (56 * 1024);
                let path = self.dir.path().join(format!("p{i}.png"));
                let bytes: Vec<u8> = (0..len).map(|b| (b * 31 + i) as u8).collect();
                std::fs::write(&path, bytes).unwrap();
                path
            })
            .collect()
    }

    /// The journal's folder the command uses.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state/fbup")
    }

    /// `fbup` with the token, the app, this emulator and this folder's journal; no
    /// standard input.
    pub fn fbup(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fbup"));
        c.env("FBUP_ACCESS_TOKEN", TOKEN)
            .env("FBUP_APP_ID", "1234")
            .env("FBUP_GRAPH_URL", self.emu.url())
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("FBUP_STATE_DIR")
            .stdin(Stdio::null());
        c
    }

    /// Runs `fbup ARGS` to its end; the token is in none of its output.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.fbup().args(args).output().unwrap();
        assert!(
            !text(&out).contains(TOKEN),
            "the token leaked: {}",
            text(&out)
        );
        out
    }

    /// A session recorded in the journal and left pending: its id and entry.
    pub fn pending(&self, path: &Path) -> (String, PathBuf) {
        let mut c = fbup::Config::new("1234", TOKEN);
        c.graph_url = self.emu.url().to_string();
        c.state_dir = Some(self.state());
        let mut s = fbup::Session::create(&c, path).unwrap();
        assert!(s.upload(&mut |_, _| false).is_err());
        let entries = fbup::journal::list(&self.state());
        (s.id().to_string(), entries[0].entry_path.clone())
    }

    /// Starts `fbup ARGS` (stdout and stderr piped) against an emulator that stalls the
    /// upload once, for a minute, after `at` body bytes; returns once Graph holds them.
    pub fn stalled_upload(&self, at: u64, args: &[&str]) -> std::process::Child {
        self.emu.add_fault(FaultRule::once(
            RequestKind::Upload,
            Fault::Stall {
                after_bytes: at,
                millis: 60_000,
                then: AfterStall::Close,
            },
        ));
        let child = self
            .fbup()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.wait_for_offset(at);
        child
    }

    /// Waits until the emulator's first session holds `offset` bytes: an upload
    /// running beside the test is then in the middle of the file.
    pub fn wait_for_offset(&self, offset: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.emu.sessions().first().map_or(0, |s| s.file_offset) < offset {
            assert!(
                Instant::now() < deadline,
                "the upload never reached byte {offset}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The SHA-256 of `b`, in hex.
pub fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// What the command wrote on stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What the command wrote on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Stdout then stderr.
pub fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// A path as an argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A server that counts the connections made to it and answers none.
pub fn listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    (url, seen)
}
