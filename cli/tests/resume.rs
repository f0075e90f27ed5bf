//! Uploads taken up again: the same command after `kill -9`, `fbup offset` and
//! `fbup resume`, a second process on the same file, a handle Graph lost, a resume
//! given another file.

mod common;

use std::process::Stdio;

use common::{fx, p, stdout, Fx, TOKEN};
use fbup_emulator::{AfterStall, Emulator, Fault, FaultRule, RequestKind};

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
    fx.wait_for_offset(len as u64 * 4 / 10);
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let id = fx.emu.sessions()[0].id.clone();

    let listed = fx.run(&["sessions"]);
    assert!(stdout(&listed).contains(&id), "{}", stdout(&listed));
    let held = fx.emu.sessions()[0].file_offset;
    assert!(
        stdout(&listed).contains(&format!("{held} of {len} bytes held by Graph")),
        "{}",
        stdout(&listed)
    );
    let listed = fx.run(&["sessions", "--json"]);
    let entry: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(entry["session_id"], id.as_str());
    assert_eq!(entry["file_offset"], held);

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
    let listed = fx.run(&["sessions"]);
    assert_eq!(stdout(&listed), "", "forgotten once complete");
    assert!(
        String::from_utf8_lossy(&listed.stderr).contains("no pending uploads"),
        "an empty journal says so"
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

#[test]
fn a_second_process_on_the_same_file_gets_exit_20() {
    let fx = fx();
    let (path, _) = fx.file("twice.mp4", 4_000_000);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 1_000_000,
            millis: 20_000,
            then: AfterStall::Close,
        },
    ));
    let child = fx
        .fbup()
        .args(["upload", "--quiet", p(&path)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    fx.wait_for_offset(1_000_000);
    let out = fx.run(&["upload", "--quiet", p(&path)]);
    assert_eq!(
        out.status.code(),
        Some(20),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("another process"));
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait_with_output();
}

#[test]
fn a_lost_handle_is_uploaded_again_unless_no_reupload() {
    let fx = Fx {
        emu: Emulator::start(fbup_emulator::Config {
            tokens: vec![TOKEN.into()],
            unknowns: fbup_emulator::Unknowns {
                refuse_final_empty_post: true,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    let (path, sum) = fx.file("lost.mp4", 300_000);
    fx.emu
        .add_fault(FaultRule::once(RequestKind::Upload, Fault::LoseResponse));
    let out = fx.run(&["upload", "--no-reupload", p(&path)]);
    assert_eq!(
        out.status.code(),
        Some(22),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("handle was lost"));

    fx.emu
        .add_fault(FaultRule::once(RequestKind::Upload, Fault::LoseResponse));
    let out = fx.run(&["upload", p(&path)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("uploading the file again in a new session"),
        "{err}"
    );
    let sessions = fx.emu.sessions();
    let done: Vec<_> = sessions.iter().filter(|s| s.handle.is_some()).collect();
    assert_eq!(
        sessions.len(),
        3,
        "the first run's, and the second run's two"
    );
    let handle = stdout(&out).trim().replace("\\n", "\n");
    assert!(
        done.iter()
            .any(|s| s.handle.as_deref() == Some(handle.as_str())),
        "the printed handle is a real one"
    );
    assert!(sessions
        .iter()
        .all(|s| s.sha256.as_deref() == Some(sum.as_str())));
}

#[test]
fn resuming_with_another_file_says_it_is_probably_not_the_sessions_file() {
    let fx = fx();
    let (big, _) = fx.file("big.mp4", 2_000_000);
    let (small, _) = fx.file("small.mp4", 500_000);
    assert!(fx.run(&["upload", "--quiet", p(&big)]).status.success());
    let id = fx.emu.sessions()[0].id.clone();
    let out = fx.run(&["resume", &id, p(&small)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(18), "{err}");
    assert!(
        err.contains("probably not the file the session was created for"),
        "{err}"
    );
}
