//! The resume journal: a new process resumes the same session for the same file.

mod common;

use std::time::Duration;

use fbup::{Config, Session, Status};
use fbup_emulator::Emulator;

fn setup() -> (Emulator, tempfile::TempDir, Config, std::path::PathBuf) {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("movie.mp4");
    std::fs::write(
        &path,
        (0..6_000_000u32)
            .map(|i| (i % 249) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut config = Config::new("1234", "EAAjournal");
    config.graph_url = emu.url().to_string();
    config.retry_base = Duration::from_millis(10);
    config.state_dir = Some(dir.path().join("state"));
    (emu, dir, config, path)
}

#[test]
fn an_interrupted_upload_resumes_the_same_session_and_then_is_forgotten() {
    let (emu, _dir, config, path) = setup();
    let state = config.state_dir.clone().unwrap();
    let mut s = Session::create(&config, &path).unwrap();
    let id = s.id().to_string();
    assert_eq!(
        fbup::journal::list(&state).len(),
        1,
        "recorded as soon as created"
    );
    assert_eq!(fbup::journal::list(&state)[0].session_id, id);
    let e = s.upload(&mut |d, _| d < 2_000_000).unwrap_err();
    assert_eq!(e.status, Status::Cancelled);
    drop(s);

    let mut again = Session::create(&config, &path).unwrap();
    assert_eq!(again.id(), id, "the same session, not a new one");
    again.upload(&mut |_, _| true).unwrap();
    assert_eq!(emu.sessions().len(), 1);
    let info = emu.session(&id).unwrap();
    assert!(info.complete);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(info.sha256, Some(common::sha256_hex(&bytes)), "byte-exact");
    // The cancelled request's last bytes (still in the sockets' buffers when it was
    // cancelled) may land after the new process asked Graph's offset: they are then
    // read but not stored (the new request already wrote there), or the new request is
    // refused whole and goes on from Graph's next offset. Each request beyond the
    // first can so cost at most the rest of the file; nothing is stored twice.
    let extra = info.bytes_received_total - 6_000_000;
    let requests = info.upload_requests;
    assert!(
        extra < (requests - 1) * 6_000_000,
        "{extra} bytes read twice in {requests} requests"
    );
    assert!(
        fbup::journal::list(&state).is_empty(),
        "forgotten once complete"
    );
}

#[test]
fn a_changed_file_gets_a_new_session() {
    let (emu, _dir, config, path) = setup();
    let s = Session::create(&config, &path).unwrap();
    let first = s.id().to_string();
    drop(s);
    std::fs::write(&path, b"another file altogether").unwrap();
    let s = Session::create(&config, &path).unwrap();
    assert_ne!(s.id(), first);
    assert_eq!(emu.sessions().len(), 2);
}

#[test]
fn two_sessions_never_drive_the_same_entry() {
    let (_emu, _dir, config, path) = setup();
    let _first = Session::create(&config, &path).unwrap();
    let e = Session::create(&config, &path).unwrap_err();
    assert_eq!(e.status, Status::State);
    assert!(e.message.contains("another process"), "{}", e.message);
}

#[test]
fn a_session_graph_forgot_is_replaced() {
    let (emu, _dir, config, path) = setup();
    let s = Session::create(&config, &path).unwrap();
    let first = s.id().to_string();
    drop(s);
    // Graph restarts on the same address and no longer knows the recorded session.
    let port = emu.addr().port();
    drop(emu);
    let emu = Emulator::start(fbup_emulator::Config {
        port,
        ..Default::default()
    })
    .unwrap();
    let mut s = Session::create(&config, &path).unwrap();
    assert_ne!(s.id(), first);
    s.upload(&mut |_, _| true).unwrap();
    assert!(emu.sessions()[0].complete);
    let state = config.state_dir.clone().unwrap();
    assert!(fbup::journal::list(&state).is_empty());
}
