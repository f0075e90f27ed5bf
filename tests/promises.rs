//! The README's promises about timeouts, budgets, reconciliation, file changes and
//! throttling, each driven end to end against the emulator (the reconciliation ones
//! through the C ABI's `fbup_upload`).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fbup::ffi::*;
use fbup::{Config, Session, Status};
use fbup_emulator::{AfterStall, Emulator, ErrorSpec, Fault, FaultRule, RequestKind};

struct Fx {
    emu: Emulator,
    dir: tempfile::TempDir,
}

fn fx() -> Fx {
    Fx {
        emu: Emulator::start(Default::default()).unwrap(),
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fx {
    fn config(&self) -> Config {
        let mut c = Config::new("1234", "EAApromises");
        c.graph_url = self.emu.url().to_string();
        c.retry_base = Duration::from_millis(1);
        c.retry_cap = Duration::from_millis(20);
        c
    }

    fn file(&self, name: &str, len: usize) -> (PathBuf, String) {
        common::test_file(self.dir.path(), name, len)
    }
}

fn go_on() -> impl FnMut(u64, u64) -> bool {
    |_, _| true
}

#[test]
fn a_stall_timeout_that_keeps_firing_ends_in_timeout() {
    let fx = fx();
    fx.emu.add_fault(FaultRule::always(
        RequestKind::Upload,
        // At the first byte: no byte ever lands, so no attempt counts as progress.
        Fault::Stall {
            after_bytes: 0,
            millis: 3000,
            then: AfterStall::Close,
        },
    ));
    let (path, _) = fx.file("stall.png", 200_000);
    let mut config = fx.config();
    config.stall_timeout = Duration::from_millis(200);
    config.max_attempts = 2;
    let mut s = Session::create(&config, &path).unwrap();
    let e = s.upload(&mut go_on()).unwrap_err();
    assert_eq!(e.status, Status::Timeout, "{}", e.message);
    assert!(e.message.contains("max_attempts"), "{}", e.message);
}

#[test]
fn response_timeout_fires_when_the_answer_comes_late() {
    let fx = fx();
    // Every upload request stores its bytes, then answers 5 s late.
    fx.emu.add_fault(FaultRule::always(
        RequestKind::Upload,
        Fault::LateAnswer { millis: 5000 },
    ));
    let (path, sha) = fx.file("late.png", 100_000);
    let reasons = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut config = fx.config();
    config.stall_timeout = Duration::from_secs(30);
    config.response_timeout = Duration::from_millis(300);
    let seen = reasons.clone();
    config.on_event = Some(std::sync::Arc::new(move |e: &fbup::Event| {
        if let fbup::Event::Retry { reason, .. } = e {
            seen.lock().unwrap().push(reason.clone());
        }
    }));
    let mut s = Session::create(&config, &path).unwrap();
    let started = Instant::now();
    // The answer never comes in time; fbup gives up waiting after 300 ms, asks Graph,
    // finds every byte held and asks for the handle with an empty POST (answered at
    // once: the emulator delays answers to requests that carry bytes).
    s.upload(&mut go_on()).unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "waited for the late answer: {took:?}"
    );
    let reasons = reasons.lock().unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("timed out"), "{reasons:?}");
    let info = fx.emu.session(s.id()).unwrap();
    assert_eq!(info.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(info.bytes_received_total, 100_000, "nothing sent twice");
}

#[test]
fn connect_timeout_fires_on_a_listener_whose_accept_queue_is_full() {
    // A loopback listener with a backlog of 0 that never accepts: once its queue is
    // full, the kernel drops new SYNs and a connect hangs.
    // SAFETY: plain socket calls on a descriptor this test owns.
    let (fd, addr) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as _;
        sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut got_len = len;
        libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut got_len);
        (
            fd,
            std::net::SocketAddr::from(([127, 0, 0, 1], u16::from_be(got.sin_port))),
        )
    };
    let mut held = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => {
                full = true;
                break;
            }
        }
    }
    assert!(full, "the accept queue never filled");
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = common::test_file(dir.path(), "c.png", 1000);
    let mut config = Config::new("1234", "EAApromises");
    config.graph_url = format!("http://{addr}");
    config.connect_timeout = Duration::from_millis(300);
    config.max_attempts = 1;
    let started = Instant::now();
    let e = Session::create(&config, &path).unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.status, Status::Timeout, "{}", e.message);
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    drop(held);
    // SAFETY: closing the descriptor made above.
    unsafe { libc::close(fd) };
}

#[test]
fn more_cuts_than_max_attempts_succeed_while_the_offset_advances() {
    let fx = fx();
    for i in 1..=5 {
        fx.emu.add_fault(FaultRule::once(
            RequestKind::Upload,
            Fault::CutAt {
                offset: i * 400_000,
            },
        ));
    }
    let (path, sha) = fx.file("budget.mp4", 2_500_000);
    let mut config = fx.config();
    config.max_attempts = 2;
    let mut s = Session::create(&config, &path).unwrap();
    s.upload(&mut go_on()).unwrap();
    assert_eq!(fx.emu.fault_tally().get("cut"), Some(&5));
    assert_eq!(s.info().retries, 5);
    let info = fx.emu.session(s.id()).unwrap();
    assert_eq!(info.sha256.as_deref(), Some(sha.as_str()));
}

/// `fbup_upload` through the C ABI, with quick retries.
fn c_upload(fx: &Fx, path: &std::path::Path) -> (fbup_status, String) {
    let strings = common::CConfig::new("1234", "EAApromises", fx.emu.url());
    let mut cfg = strings.config();
    cfg.retry_base_ms = 1;
    let u = common::c_upload(&cfg, path);
    (u.status, u.message)
}

#[test]
fn fbup_upload_stops_when_graph_reports_less_than_it_confirmed() {
    let fx = fx();
    // Cut at 1 MB; Graph says 1 MB (true); cut at 2 MB; Graph then says 500 kB.
    for rule in [
        FaultRule::once(RequestKind::Upload, Fault::CutAt { offset: 1_000_000 }),
        FaultRule::once(RequestKind::Upload, Fault::CutAt { offset: 2_000_000 }),
        FaultRule::once(
            RequestKind::Offset,
            Fault::ReportOffset { offset: 1_000_000 },
        ),
        FaultRule::once(RequestKind::Offset, Fault::ReportOffset { offset: 500_000 }),
    ] {
        fx.emu.add_fault(rule);
    }
    let (path, _) = fx.file("lost.mp4", 3_000_000);
    let (st, msg) = c_upload(&fx, &path);
    assert_eq!(st, FBUP_E_PROTOCOL, "{msg}");
    assert!(msg.contains("lost data"), "{msg}");
}

#[test]
fn fbup_upload_stops_when_graph_holds_more_than_was_sent() {
    let fx = fx();
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 1_000_000 },
    ));
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Offset,
        Fault::ReportOffset { offset: 39_000_000 },
    ));
    let (path, _) = fx.file("writer.mp4", 40_000_000);
    let (st, msg) = c_upload(&fx, &path);
    assert_eq!(st, FBUP_E_PROTOCOL, "{msg}");
    assert!(msg.contains("another writer"), "{msg}");
}

#[test]
fn a_file_whose_modification_time_alone_changes_stops_the_upload() {
    let fx = fx();
    let (path, _) = fx.file("touched.mp4", 3_000_000);
    let mut s = Session::create(&fx.config(), &path).unwrap();
    let mut touched = false;
    let e = s
        .upload(&mut |done, _| {
            if done > 0 && !touched {
                touched = true;
                let f = std::fs::File::options().write(true).open(&path).unwrap();
                f.set_modified(std::time::SystemTime::now() + Duration::from_secs(3600))
                    .unwrap();
            }
            true
        })
        .unwrap_err();
    assert_eq!(e.status, Status::File, "{}", e.message);
    assert!(e.message.contains("modification time"), "{}", e.message);
}

fn graph_error(status: u16, code: i64) -> Fault {
    Fault::Respond {
        status,
        error: Some(ErrorSpec {
            message: format!("(#{code}) injected"),
            error_type: "OAuthException".into(),
            code,
            subcode: None,
            is_transient: false,
        }),
        headers: Vec::new(),
    }
}

#[test]
fn throttling_codes_and_http_429_are_retried_then_reported_as_throttled() {
    for (status, code) in [(400, 17), (400, 341), (400, 613), (429, 99)] {
        // Once: retried, and the upload completes.
        let once = fx();
        once.emu.add_fault(FaultRule::once(
            RequestKind::Upload,
            graph_error(status, code),
        ));
        let (path, sha) = once.file("t.png", 50_000);
        let mut s = Session::create(&once.config(), &path).unwrap();
        s.upload(&mut go_on()).unwrap();
        assert_eq!(
            once.emu.session(s.id()).unwrap().sha256.as_deref(),
            Some(sha.as_str())
        );
        assert_eq!(s.info().retries, 1, "code {code}");
        // Always: the attempts run out as throttled.
        let always = fx();
        always.emu.add_fault(FaultRule::always(
            RequestKind::Upload,
            graph_error(status, code),
        ));
        let (path, _) = always.file("t.png", 50_000);
        let mut config = always.config();
        config.max_attempts = 2;
        let mut s = Session::create(&config, &path).unwrap();
        let e = s.upload(&mut go_on()).unwrap_err();
        assert_eq!(e.status, Status::Throttled, "code {code}: {}", e.message);
    }
}

#[test]
fn code_102_is_a_token_error() {
    let fx = fx();
    fx.emu
        .add_fault(FaultRule::once(RequestKind::Upload, graph_error(400, 102)));
    let (path, _) = fx.file("s.png", 50_000);
    let mut s = Session::create(&fx.config(), &path).unwrap();
    let e = s.upload(&mut go_on()).unwrap_err();
    assert_eq!(e.status, Status::Auth, "{}", e.message);
    assert_eq!(e.graph.as_ref().map(|g| g.code), Some(102));
}
