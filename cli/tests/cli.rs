//! The `fbup` command against the emulator: outputs, exit codes, and a `kill -9` in
//! the middle of an upload followed by the same command again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fbup_emulator::{AfterStall, Emulator, Fault, FaultRule, RequestKind};
use sha2::{Digest, Sha256};

const TOKEN: &str = "EAAcli-secret";

struct Fx {
    emu: Emulator,
    dir: tempfile::TempDir,
}

fn fx() -> Fx {
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
    fn file(&self, name: &str, len: usize) -> (PathBuf, String) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + (i >> 13)) as u8).collect();
        let path = self.dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        (path, sha(&bytes))
    }

    fn fbup(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fbup"));
        c.env("FBUP_ACCESS_TOKEN", TOKEN)
            .env("FBUP_APP_ID", "1234")
            .env("FBUP_GRAPH_URL", self.emu.url())
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("FBUP_STATE_DIR");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.fbup().args(args).output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(TOKEN), "the token leaked: {all}");
        out
    }
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn one_file_prints_its_handle() {
    let fx = fx();
    let (path, sum) = fx.file("a.png", 300_000);
    let out = fx.run(&["upload", p(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = &fx.emu.sessions()[0];
    assert_eq!(s.sha256.as_deref(), Some(sum.as_str()));
    assert_eq!(stdout(&out), format!("{}\n", s.handle.as_deref().unwrap()));
    // Progress lines on a non-terminal stderr.
    assert!(String::from_utf8_lossy(&out.stderr).contains("a.png: 100%"));
}

#[test]
fn several_files_print_in_order_and_json_keeps_newlines() {
    let fx = fx();
    let (a, _) = fx.file("a.jpg", 200_000);
    let (b, _) = fx.file("b.mp4", 500_000);
    let (c, _) = fx.file("c.pdf", 1_000);
    let out = fx.run(&["upload", "--jobs", "2", "--quiet", p(&a), p(&b), p(&c)]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "--quiet prints nothing");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3);
    for (line, path) in lines.iter().zip([&a, &b, &c]) {
        let (file, handle) = line.split_once('\t').unwrap();
        assert_eq!(file, p(path));
        let real = fx
            .emu
            .sessions()
            .into_iter()
            .find(|s| s.file_name == path.file_name().unwrap().to_str().unwrap())
            .unwrap()
            .handle
            .unwrap();
        assert_eq!(handle.replace("\\n", "\n"), real);
    }
    assert!(lines[1].contains("\\n"), "video handles are several");

    let out = fx.run(&["upload", "--json", "--no-resume", "--quiet", p(&b)]);
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let handle = json["handle"].as_str().unwrap();
    assert_eq!(handle.split('\n').count(), 3);
    assert_eq!(json["file"], p(&b));
    assert!(json["session_id"].as_str().unwrap().contains("?sig="));
}

#[test]
fn exit_codes_say_what_failed() {
    let fx = fx();
    let (png, _) = fx.file("ok.png", 100);
    let (gif, _) = fx.file("anim.gif", 100);
    let out = fx.run(&["upload", p(&gif)]);
    assert_eq!(out.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&out.stderr).contains("file type"));

    let out = fx.run(&["upload", p(&fx.dir.path().join("missing.png"))]);
    assert_eq!(out.status.code(), Some(12));

    let out = fx
        .fbup()
        .env("FBUP_ACCESS_TOKEN", "EAAwrong")
        .args(["upload", p(&png)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("190") && !err.contains("EAAwrong"), "{err}");

    let out = fx
        .fbup()
        .env_remove("FBUP_ACCESS_TOKEN")
        .args(["upload", p(&png)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FBUP_ACCESS_TOKEN"));

    // A token file works where the variable is absent.
    let tf = fx.dir.path().join("token");
    std::fs::write(&tf, format!("{TOKEN}\n")).unwrap();
    let out = fx
        .fbup()
        .env_remove("FBUP_ACCESS_TOKEN")
        .args(["upload", "--token-file", p(&tf), p(&png)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kill_9_mid_upload_then_the_same_command_resumes_the_same_session() {
    let fx = fx();
    let len = 64 * 1024 * 1024;
    let (path, sum) = fx.file("big.mp4", len);
    // Hold the upload at 40% long enough to kill the process there.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: len as u64 * 4 / 10,
            millis: 30_000,
            then: AfterStall::Close,
        },
    ));
    let mut child = fx
        .fbup()
        .args(["upload", "--quiet", p(&path)])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fx.emu.sessions().first().map_or(0, |s| s.file_offset) < len as u64 * 4 / 10 {
        assert!(Instant::now() < deadline, "the upload never reached 40%");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let id = fx.emu.sessions()[0].id.clone();

    let listed = fx.run(&["sessions"]);
    assert!(stdout(&listed).contains(&id), "{}", stdout(&listed));

    let out = fx.run(&["upload", "--quiet", p(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sessions = fx.emu.sessions();
    assert_eq!(sessions.len(), 1, "the same session was resumed");
    let s = &sessions[0];
    assert_eq!(s.id, id);
    assert_eq!(s.sha256.as_deref(), Some(sum.as_str()));
    assert!(
        s.bytes_received_total < len as u64 * 12 / 10,
        "{} bytes received for {len}",
        s.bytes_received_total
    );
    assert_eq!(
        stdout(&fx.run(&["sessions"])),
        "",
        "forgotten once complete"
    );
}

#[test]
fn offset_and_resume_commands() {
    let fx = fx();
    let (path, sum) = fx.file("r.png", 2_000_000);
    fx.emu.add_fault(FaultRule {
        kind: RequestKind::Upload,
        fault: "upload,status=400,code=100"
            .parse::<FaultRule>()
            .unwrap()
            .fault,
        times: Some(1),
        session: None,
    });
    let out = fx.run(&["upload", "--no-resume", "--quiet", p(&path)]);
    assert_eq!(out.status.code(), Some(16));
    let id = fx.emu.sessions()[0].id.clone();
    let out = fx.run(&["offset", &id]);
    assert_eq!(stdout(&out), "0\n");
    let out = fx.run(&["resume", "--quiet", &id, p(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fx.emu.sessions()[0].sha256.as_deref(), Some(sum.as_str()));
    assert_eq!(stdout(&fx.run(&["offset", &id])), "2000000\n");
}
