//! The trace's promises: lines come on the calling thread and never after the call
//! returns, the level filters them, a cancel is told at debug, and through the C ABI
//! the fields are read only by callers that know them.

mod common;

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fbup::ffi::*;
use fbup::{Config, Level, Session};
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind};

type Lines = Arc<Mutex<Vec<(Level, String)>>>;

fn traced(emu: &Emulator, level: Level) -> (Config, Lines) {
    let mut c = Config::new("1234", "EAAtrace-test-token");
    c.graph_url = emu.url().to_string();
    c.retry_base = std::time::Duration::from_millis(1);
    let lines: Lines = Default::default();
    let sink = lines.clone();
    c.log = Some(Arc::new(move |l, line: &str| {
        sink.lock().unwrap().push((l, line.to_string()))
    }));
    c.log_level = level;
    (c, lines)
}

#[test]
fn lines_come_on_the_calling_thread_and_never_after_the_call_returns() {
    let emu = Emulator::start(Default::default()).unwrap();
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 300_000 },
    ));
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = common::test_file(dir.path(), "t.mp4", 1_000_000);
    let (mut c, lines) = traced(&emu, Level::Debug);
    let caller = std::thread::current().id();
    let returned = Arc::new(AtomicBool::new(false));
    let (wrong_thread, late) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let inner = c.log.take().unwrap();
    let (r, w, l) = (returned.clone(), wrong_thread.clone(), late.clone());
    c.log = Some(Arc::new(move |level, line: &str| {
        if std::thread::current().id() != caller {
            w.store(true, Ordering::SeqCst);
        }
        if r.load(Ordering::SeqCst) {
            l.store(true, Ordering::SeqCst);
        }
        inner(level, line)
    }));
    let mut s = Session::create(&c, &path).unwrap();
    s.upload(&mut |_, _| true).unwrap();
    returned.store(true, Ordering::SeqCst);
    drop(s);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !wrong_thread.load(Ordering::SeqCst),
        "a line on another thread"
    );
    assert!(
        !late.load(Ordering::SeqCst),
        "a line after the call returned"
    );
    let n = lines.lock().unwrap().len();
    assert!(n >= 8, "{n} lines");
}

#[test]
fn the_level_filters_lines_and_a_cancel_is_told_at_debug() {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = common::test_file(dir.path(), "l.mp4", 2_000_000);

    // Warning: the retry shows, no request line does.
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 100_000 },
    ));
    let (c, lines) = traced(&emu, Level::Warning);
    Session::create(&c, &path)
        .unwrap()
        .upload(&mut |_, _| true)
        .unwrap();
    let got = lines.lock().unwrap().clone();
    assert!(got.iter().all(|(l, _)| *l <= Level::Warning), "{got:?}");
    assert!(got
        .iter()
        .any(|(_, s)| s.starts_with("retry: attempt 1 of 8")));

    // Debug: a cancel from the progress callback is told, with the error.
    let (c, lines) = traced(&emu, Level::Debug);
    let mut s = Session::create(&c, &path).unwrap();
    let e = s.upload(&mut |done, _| done < 500_000).unwrap_err();
    assert_eq!(e.status, fbup::Status::Cancelled);
    let got = lines.lock().unwrap().clone();
    let text: Vec<&str> = got.iter().map(|(_, s)| s.as_str()).collect();
    assert!(
        text.iter()
            .any(|s| s.contains("the cancel shut this session's connections down")),
        "{text:#?}"
    );
    assert!(
        got.iter()
            .any(|(l, s)| *l == Level::Error && s.starts_with("failed (cancelled)")),
        "{text:#?}"
    );
}

#[test]
fn c_callers_get_the_trace_and_bad_levels_are_refused() {
    let emu = Emulator::start(Default::default()).unwrap();
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 200_000 },
    ));
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = common::test_file(dir.path(), "c.mp4", 600_000);
    let strings = common::CConfig::new("1234", "EAAtrace-test-token", emu.url());
    let mut cfg = strings.config();
    cfg.retry_base_ms = 1;
    let u = common::c_upload(&cfg, &path);
    assert_eq!(u.status, FBUP_OK, "{}", u.message);
    assert_eq!(
        emu.session(&u.session_id).unwrap().sha256.as_deref(),
        Some(sha.as_str())
    );
    // The default level is info: requests, answers and decisions, no debug lines.
    assert!(u.trace.iter().all(|l| !l.starts_with("4:")));
    assert!(u.trace.iter().any(|l| l.starts_with("3: -> POST ")));
    assert!(u.trace.iter().any(|l| l.starts_with("2: retry: ")));

    for bad in [-1, 5, 99] {
        cfg.log_level = bad;
        let file = CString::new(path.to_str().unwrap()).unwrap();
        let mut s = std::ptr::null_mut();
        let st = unsafe { fbup_create_session(&cfg, file.as_ptr(), &mut s) };
        let msg = unsafe { std::ffi::CStr::from_ptr(fbup_errmsg(s)) }
            .to_string_lossy()
            .into_owned();
        unsafe { fbup_free(s) };
        assert_eq!(st, FBUP_E_ARGUMENT, "level {bad}");
        assert!(msg.contains("log_level"), "{msg}");
    }
}

#[test]
fn a_caller_built_before_the_trace_fields_gets_no_trace_and_works() {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = common::test_file(dir.path(), "o.mp4", 300_000);
    let strings = common::CConfig::new("1234", "EAAtrace-test-token", emu.url());
    // The layout that ended with max_send_rate, then garbage where log_fn would be:
    // a level no fbup accepts, and a function pointer that must never be called.
    #[repr(C)]
    struct Older {
        head: fbup_config,
    }
    let mut older = Older {
        head: strings.config(),
    };
    older.head.struct_size = std::mem::offset_of!(fbup_config, log_fn) as u32;
    older.head.log_level = 77;
    unsafe extern "C" fn never(_: *mut std::ffi::c_void, _: i32, _: *const std::ffi::c_char) {
        std::process::abort();
    }
    older.head.log_fn = Some(never);
    let file = CString::new(path.to_str().unwrap()).unwrap();
    let mut s = std::ptr::null_mut();
    unsafe {
        assert_eq!(
            fbup_create_session(&older.head, file.as_ptr(), &mut s),
            FBUP_OK
        );
        assert_eq!(fbup_upload(s, None, std::ptr::null_mut()), FBUP_OK);
        let id = std::ffi::CStr::from_ptr(fbup_session_id(s))
            .to_string_lossy()
            .into_owned();
        fbup_free(s);
        assert_eq!(
            emu.session(&id).unwrap().sha256.as_deref(),
            Some(sha.as_str())
        );
    }
}
