//! The safe Rust API against the emulator on 127.0.0.1.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fbup::{Config, Session, Status};
use fbup_emulator::{AfterStall, Emulator, Fault, FaultRule, RequestKind};

const TOKEN: &str = "EAAsecret-token-value";

struct Fixture {
    emu: Emulator,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(|_| {})
    }

    fn with(f: impl FnOnce(&mut fbup_emulator::Config)) -> Fixture {
        let mut c = fbup_emulator::Config {
            tokens: vec![TOKEN.into()],
            ..Default::default()
        };
        f(&mut c);
        Fixture {
            emu: Emulator::start(c).unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self) -> Config {
        let mut c = Config::new("1234", TOKEN);
        c.graph_url = self.emu.url().to_string();
        c.retry_base = Duration::from_millis(20);
        c.retry_cap = Duration::from_millis(200);
        c.stall_timeout = Duration::from_secs(5);
        c
    }

    fn file(&self, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
        let bytes = common::test_bytes(len);
        let path = self.dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }
}

use common::sha256_hex as sha;

fn no_progress() -> impl FnMut(u64, u64) -> bool {
    |_, _| true
}

#[test]
fn clean_upload_is_byte_exact_and_sends_what_the_protocol_says() {
    let fx = Fixture::new();
    let (path, bytes) = fx.file("photo.png", 3 * 1024 * 1024 + 17);
    let mut s = Session::create(&fx.config(), &path).unwrap();
    let id = s.id().to_string();
    assert!(id.contains("?sig="));
    let mut calls = Vec::new();
    let handle = s
        .upload(&mut |d, t| {
            calls.push((d, t));
            true
        })
        .unwrap()
        .to_string();
    let info = fx.emu.session(&id).unwrap();
    assert_eq!(info.sha256.unwrap(), sha(&bytes));
    assert_eq!(info.handle.as_deref(), Some(handle.as_str()));
    assert_eq!(info.file_name, "photo.png");
    assert_eq!(info.file_type, "image/png");
    assert_eq!(
        calls.last(),
        Some(&(bytes.len() as u64, bytes.len() as u64))
    );
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));

    let log = fx.emu.requests();
    let create = &log[0];
    assert!(create
        .path_and_query
        .starts_with("/v24.0/1234/uploads?file_name=photo.png&file_length="));
    let upload = log
        .iter()
        .find(|r| r.kind == Some(RequestKind::Upload))
        .unwrap();
    // The id verbatim in the URL, the token only in the header.
    assert_eq!(upload.path_and_query, format!("/v24.0/{id}"));
    assert_eq!(upload.header("authorization"), Some("OAuth REDACTED"));
    assert_eq!(upload.header("file_offset"), Some("0"));
    assert_eq!(
        upload.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_eq!(upload.header("transfer-encoding"), None);
    assert_eq!(upload.header("expect"), None);
    for r in &log {
        assert!(
            !r.path_and_query.contains("access_token"),
            "{}",
            r.path_and_query
        );
    }
}

#[test]
fn a_cut_at_40_percent_resumes_on_its_own() {
    let fx = Fixture::new();
    let (path, bytes) = fx.file("clip.mp4", 5_000_000);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 2_000_000 },
    ));
    let mut s = Session::create(&fx.config(), &path).unwrap();
    let handle = s.upload(&mut no_progress()).unwrap().to_string();
    let info = fx.emu.session(s.id()).unwrap();
    assert_eq!(info.sha256.unwrap(), sha(&bytes));
    assert!(info.upload_requests >= 2);
    // Video handles are several joined by newlines, passed through untouched.
    assert_eq!(handle.split('\n').count(), 3);
    assert_eq!(info.handle.unwrap(), handle);
}

#[test]
fn cancel_from_progress_then_resume_in_a_new_session() {
    let fx = Fixture::new();
    let (path, bytes) = fx.file("doc.pdf", 4_000_000);
    let mut s = Session::create(&fx.config(), &path).unwrap();
    let e = s.upload(&mut |d, _| d < 1_000_000).unwrap_err();
    assert_eq!(e.status, Status::Cancelled);
    let id = s.id().to_string();
    drop(s);
    // Bytes already in flight when the connection closed still land: let them.
    std::thread::sleep(Duration::from_millis(300));
    let held = fx.emu.session(&id).unwrap().file_offset;
    assert!(held < bytes.len() as u64);
    let mut s = Session::resume(&fx.config(), &path, &id).unwrap();
    let mut first = None;
    s.upload(&mut |d, _| {
        first.get_or_insert(d);
        true
    })
    .unwrap();
    assert_eq!(first, Some(held), "resumed from the server's offset");
    assert_eq!(fx.emu.session(&id).unwrap().sha256.unwrap(), sha(&bytes));
}

#[test]
fn cancel_from_another_thread_during_a_stall_returns_within_a_second() {
    let fx = Fixture::new();
    let (path, _) = fx.file("big.png", 8_000_000);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 100_000,
            millis: 10_000,
            then: AfterStall::Close,
        },
    ));
    let mut config = fx.config();
    config.stall_timeout = Duration::from_secs(30);
    let mut s = Session::create(&config, &path).unwrap();
    let cancel = s.cancel_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let at = Instant::now();
        cancel.cancel();
        at
    });
    let e = s.upload(&mut no_progress()).unwrap_err();
    let cancelled_at = t.join().unwrap();
    assert_eq!(e.status, Status::Cancelled, "{}", e.message);
    assert!(cancelled_at.elapsed() < Duration::from_secs(1));
    // Still resumable once the stall is over.
    fx.emu.clear_faults();
    let mut s2 = Session::resume(&config, &path, s.id()).unwrap();
    s2.upload(&mut no_progress()).unwrap();
}

#[test]
fn a_stall_past_the_stall_timeout_is_retried() {
    let fx = Fixture::new();
    let (path, bytes) = fx.file("s.jpg", 2_000_000);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 500_000,
            millis: 3_000,
            then: AfterStall::Close,
        },
    ));
    let mut config = fx.config();
    config.stall_timeout = Duration::from_millis(700);
    let mut s = Session::create(&config, &path).unwrap();
    s.upload(&mut no_progress()).unwrap();
    assert_eq!(fx.emu.session(s.id()).unwrap().sha256.unwrap(), sha(&bytes));
}

#[test]
fn a_lost_final_answer_still_yields_the_handle() {
    let fx = Fixture::new();
    let (path, _) = fx.file("x.jpeg", 100_000);
    fx.emu
        .add_fault(FaultRule::once(RequestKind::Upload, Fault::LoseResponse));
    let mut s = Session::create(&fx.config(), &path).unwrap();
    let h = s.upload(&mut no_progress()).unwrap().to_string();
    assert_eq!(fx.emu.session(s.id()).unwrap().handle.unwrap(), h);
}

#[test]
fn transient_errors_are_retried_and_offsets_may_be_strings() {
    let fx = Fixture::with(|c| c.offset_as_string = true);
    let (path, bytes) = fx.file("t.png", 300_000);
    fx.emu
        .add_fault(FaultRule::once(RequestKind::Upload, Fault::transient_500()));
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Offset,
        Fault::unavailable_503(),
    ));
    let mut s = Session::create(&fx.config(), &path).unwrap();
    s.upload(&mut no_progress()).unwrap();
    assert_eq!(fx.emu.session(s.id()).unwrap().sha256.unwrap(), sha(&bytes));
    assert_eq!(fx.emu.faults_injected(), 2);
}

#[test]
fn a_bad_token_is_an_auth_error_with_code_190_and_no_token_in_the_message() {
    let fx = Fixture::new();
    let (path, _) = fx.file("a.png", 10);
    let mut config = fx.config();
    config.access_token = "EAAwrong-token".into();
    let e = Session::create(&config, &path).unwrap_err();
    assert_eq!(e.status, Status::Auth);
    assert_eq!(e.http_status, 400);
    assert_eq!(e.graph.as_ref().unwrap().code, 190);
    assert!(!e.graph.as_ref().unwrap().fbtrace_id.is_empty());
    assert!(!e.message.contains("EAAwrong-token"), "{}", e.message);
    assert!(e.message.contains("new access token"), "{}", e.message);
}

#[test]
fn permanent_graph_errors_are_not_retried() {
    let fx = Fixture::new();
    let (path, _) = fx.file("p.png", 1000);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        "upload,status=400,code=200,type=OAuthException,message=(#200) Permissions error"
            .parse::<FaultRule>()
            .unwrap()
            .fault,
    ));
    let mut s = Session::create(&fx.config(), &path).unwrap();
    let e = s.upload(&mut no_progress()).unwrap_err();
    assert_eq!(e.status, Status::Graph);
    assert_eq!(e.graph.unwrap().code, 200);
    assert_eq!(fx.emu.session(s.id()).unwrap().upload_requests, 1);
}

#[test]
fn retries_are_bounded_by_max_attempts() {
    let fx = Fixture::new();
    let (path, _) = fx.file("r.png", 1000);
    fx.emu.add_fault(FaultRule::always(
        RequestKind::Upload,
        Fault::unavailable_503(),
    ));
    let mut config = fx.config();
    config.max_attempts = 3;
    let mut s = Session::create(&config, &path).unwrap();
    let e = s.upload(&mut no_progress()).unwrap_err();
    assert_eq!(e.status, Status::Network);
    assert_eq!(e.http_status, 503);
    assert_eq!(fx.emu.session(s.id()).unwrap().upload_requests, 3);
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let fx = Fixture::new();
    let (odd, _) = fx.file("a.unknownext", 10);
    let e = Session::create(&fx.config(), &odd).unwrap_err();
    assert_eq!(e.status, Status::Argument);
    assert!(e.message.contains("from its extension"), "{}", e.message);
    let (empty, _) = fx.file("e.png", 0);
    assert_eq!(
        Session::create(&fx.config(), &empty).unwrap_err().status,
        Status::Argument
    );
    let e = Session::create(&fx.config(), &fx.dir.path().join("missing.png")).unwrap_err();
    assert_eq!(e.status, Status::File);
    let (png, _) = fx.file("ok.png", 10);
    let e = Session::resume(&fx.config(), &png, "upload:bad id").unwrap_err();
    assert_eq!(e.status, Status::Argument);
    assert!(fx.emu.requests().is_empty());
}

#[test]
fn a_file_that_changes_stops_the_upload() {
    let fx = Fixture::new();
    let (path, _) = fx.file("c.png", 2_000_000);
    let mut s = Session::create(&fx.config(), &path).unwrap();
    let e = s
        .upload(&mut |d, _| {
            if d > 0 {
                std::fs::write(&path, b"something else").unwrap();
            }
            true
        })
        .unwrap_err();
    assert_eq!(e.status, Status::File, "{}", e.message);
    assert!(e.message.contains("changed size"), "{}", e.message);
}

#[test]
fn upload_after_success_is_a_state_error() {
    let fx = Fixture::new();
    let (path, _) = fx.file("d.png", 10);
    let mut s = Session::create(&fx.config(), &path).unwrap();
    s.upload(&mut no_progress()).unwrap();
    assert_eq!(
        s.upload(&mut no_progress()).unwrap_err().status,
        Status::State
    );
    assert_eq!(s.offset().unwrap(), 10);
}

#[test]
fn max_send_rate_holds_the_average_and_never_bursts_past_one_buffer() {
    let fx = Fixture::new();
    let (path, bytes) = fx.file("limited.mp4", 3_000_000);
    let mut config = fx.config();
    let rate = 1_000_000u64;
    config.max_send_rate = rate;
    config.send_buffer = 64 * 1024;
    let mut s = Session::create(&config, &path).unwrap();
    let started = Instant::now();
    let mut worst_excess = i64::MIN;
    s.upload(&mut |done, _| {
        // Bytes handed to the network may run ahead of the rate by one send buffer.
        let allowed = (rate as f64 * started.elapsed().as_secs_f64()) as i64;
        worst_excess = worst_excess.max(done as i64 - allowed);
        true
    })
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let average = bytes.len() as f64 / secs;
    eprintln!(
        "limit {rate} B/s: average {average:.0} B/s over {secs:.2} s; worst burst {worst_excess} B"
    );
    assert!(
        average <= rate as f64 * 1.10 && average >= rate as f64 * 0.80,
        "average {average:.0} B/s for a limit of {rate}"
    );
    assert!(
        worst_excess <= config.send_buffer as i64,
        "{worst_excess} bytes past the limit"
    );
    let info = fx.emu.session(s.id()).unwrap();
    assert_eq!(info.sha256.as_deref(), Some(sha(&bytes).as_str()));
}

#[test]
fn a_limited_upload_cancels_within_a_second() {
    let fx = Fixture::new();
    let (path, _) = fx.file("slow.mp4", 2_000_000);
    let mut config = fx.config();
    config.max_send_rate = 10_000;
    let mut s = Session::create(&config, &path).unwrap();
    let cancel = s.cancel_handle();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let at = Instant::now();
        cancel.cancel();
        at
    });
    let mut calls = 0;
    let e = s
        .upload(&mut |_, _| {
            calls += 1;
            true
        })
        .unwrap_err();
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(e.status, Status::Cancelled, "{}", e.message);
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(1),
        "returned {:?} after the cancel",
        cancelled_at.elapsed()
    );
    assert!(
        calls >= 2,
        "progress kept coming while limited: {calls} calls"
    );
}

#[test]
fn retries_and_resumes_are_reported_as_events() {
    let fx = Fixture::new();
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 1_000_000 },
    ));
    let (path, bytes) = fx.file("events.mp4", 3_000_000);
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut config = fx.config();
    let seen = events.clone();
    config.on_event = Some(std::sync::Arc::new(move |e: &fbup::Event| {
        seen.lock().unwrap().push(e.clone())
    }));
    let mut s = Session::create(&config, &path).unwrap();
    s.upload(&mut no_progress()).unwrap();
    let events = events.lock().unwrap();
    let retry = events
        .iter()
        .find_map(|e| match e {
            fbup::Event::Retry {
                attempt,
                max_attempts,
                reason,
                ..
            } => Some((*attempt, *max_attempts, reason.clone())),
            _ => None,
        })
        .expect("a retry event");
    assert_eq!((retry.0, retry.1), (1, 8), "{retry:?}");
    assert!(
        retry.2.contains("127.0.0.1:"),
        "the reason names where: {}",
        retry.2
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            fbup::Event::Resume { offset, total } if *offset >= 1_000_000 && *total == 3_000_000
        )),
        "{events:?}"
    );
    let info = fx.emu.session(s.id()).unwrap();
    assert_eq!(info.sha256.as_deref(), Some(sha(&bytes).as_str()));
}

#[test]
fn nothing_listening_names_the_host_and_port_and_gives_no_resume_advice() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    std::fs::write(&path, b"png").unwrap();
    let mut config = Config::new("1234", TOKEN);
    config.graph_url = format!("http://127.0.0.1:{port}");
    config.max_attempts = 2;
    config.retry_base = Duration::from_millis(1);
    let e = Session::create(&config, &path).unwrap_err();
    assert_eq!(e.status, Status::Network);
    let m = &e.message;
    assert!(m.contains(&format!("127.0.0.1:{port}")), "{m}");
    assert!(m.contains("refused"), "{m}");
    assert!(!m.contains("Graph refused"), "{m}");
    assert!(!m.contains("resume"), "no session to resume: {m}");
    assert_eq!(m.matches("network error:").count(), 0, "{m}");
}

#[test]
fn a_directory_is_called_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("clips");
    std::fs::create_dir(&sub).unwrap();
    let e = Session::create(&Config::new("1234", TOKEN), &sub).unwrap_err();
    assert_eq!(e.status, Status::Argument);
    assert!(e.message.contains("is a directory"), "{}", e.message);
}
