//! Requests sized by what Graph keeps: against an emulator that keeps only whole
//! requests, and links that cut every request past a size or a time, uploads finish
//! byte-exact through the C ABI; on a link that never cuts, one request carries the
//! whole file.

mod common;

use fbup::ffi::*;
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind, Unknowns};

struct Run {
    status: fbup_status,
    message: String,
    trace: String,
    requests: u64,
    sha_ok: bool,
}

/// Uploads `len` bytes through the C ABI with `max_request` set, against `emu`.
fn upload(emu: &Emulator, len: usize, max_request: u64, what: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = common::test_file(dir.path(), "s.mp4", len);
    let strings = common::CConfig::new("1234", "EAAsizing", emu.url());
    let mut cfg = strings.config();
    cfg.retry_base_ms = 1;
    cfg.max_request_bytes = max_request;
    let u = common::c_upload(&cfg, &path);
    eprintln!("--- trace: {what}");
    for l in &u.trace {
        eprintln!("    {l}");
    }
    let info = emu.session(&u.session_id);
    Run {
        status: u.status,
        message: u.message,
        trace: u.trace.join("\n"),
        requests: info.as_ref().map_or(0, |i| i.upload_requests),
        sha_ok: info.and_then(|i| i.sha256).as_deref() == Some(sha.as_str()),
    }
}

fn emulator(whole_requests_only: bool) -> Emulator {
    Emulator::start(fbup_emulator::Config {
        unknowns: Unknowns {
            whole_requests_only,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn every_request_cut_after_4_mb_and_only_whole_ones_kept_still_finishes_12_mb() {
    let emu = emulator(true);
    emu.add_fault(FaultRule::always(
        RequestKind::Upload,
        Fault::Cut {
            after_bytes: 4_000_000,
        },
    ));
    let r = upload(
        &emu,
        12_000_000,
        0,
        "12 MB, every request cut at 4 MB, whole only",
    );
    assert_eq!(r.status, FBUP_OK, "{}", r.message);
    assert!(r.sha_ok, "byte-exact");
    assert!(
        r.trace.contains("the cut request committed nothing of the"),
        "the decision is traced"
    );
    assert!(r.trace.contains("next requests at most"));
}

#[test]
fn every_request_cut_after_700_kb_finishes_5_mb_whether_or_not_graph_keeps_partial_bytes() {
    for whole in [true, false] {
        let emu = emulator(whole);
        emu.add_fault(FaultRule::always(
            RequestKind::Upload,
            Fault::Cut {
                after_bytes: 700_000,
            },
        ));
        let what = format!("5 MB, every request cut at 700 kB, whole only: {whole}");
        let r = upload(&emu, 5_000_000, 0, &what);
        assert_eq!(r.status, FBUP_OK, "{what}: {}", r.message);
        assert!(r.sha_ok, "{what}: byte-exact");
        // A server that keeps what arrived makes progress at every cut: nothing to learn.
        assert_eq!(
            r.trace.contains("next requests at most"),
            whole,
            "{what}: requests bounded only when Graph kept nothing"
        );
    }
}

#[test]
fn a_request_cut_by_a_time_limit_under_whole_requests_only_finishes() {
    let emu = emulator(true);
    // At most 4 MB/s, a load balancer that cuts every request after 500 ms.
    emu.add_fault(FaultRule::always(
        RequestKind::Upload,
        Fault::CutAfterMillis { millis: 500 },
    ));
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = common::test_file(dir.path(), "t.mp4", 4_000_000);
    let strings = common::CConfig::new("1234", "EAAsizing", emu.url());
    let mut cfg = strings.config();
    cfg.retry_base_ms = 1;
    cfg.max_send_rate = 4 * 1024 * 1024;
    let u = common::c_upload(&cfg, &path);
    assert_eq!(u.status, FBUP_OK, "{}", u.message);
    let info = emu.session(&u.session_id).unwrap();
    assert_eq!(info.sha256.as_deref(), Some(sha.as_str()));
    assert!(
        info.upload_requests >= 3,
        "{} requests",
        info.upload_requests
    );
}

#[test]
fn a_single_cut_under_whole_requests_only_is_recovered_byte_exact() {
    let emu = emulator(true);
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Cut {
            after_bytes: 3_000_000,
        },
    ));
    let r = upload(&emu, 10_000_000, 0, "10 MB, one cut at 3 MB, whole only");
    assert_eq!(r.status, FBUP_OK, "{}", r.message);
    assert!(r.sha_ok);
    assert!(r.trace.contains("the cut request committed nothing"));
}

#[test]
fn a_clean_link_takes_one_upload_request_and_a_fixed_bound_is_kept() {
    let emu = emulator(false);
    let r = upload(&emu, 6_000_000, 0, "6 MB, clean link");
    assert_eq!(r.status, FBUP_OK, "{}", r.message);
    assert!(r.sha_ok);
    assert_eq!(r.requests, 1, "one request for the whole file");
    let emu = emulator(false);
    let r = upload(&emu, 6_000_000, 1_000_000, "6 MB, max_request_bytes 1 MB");
    assert_eq!(r.status, FBUP_OK, "{}", r.message);
    assert!(r.sha_ok);
    assert_eq!(r.requests, 6, "6 requests of 1 MB");
    assert!(
        !r.trace.contains("retry"),
        "bounded requests that each commit are progress, never a retry"
    );
}

#[test]
fn a_caller_built_before_max_request_bytes_gets_one_request_whatever_follows_its_struct() {
    use std::ffi::CString;
    let emu = emulator(false);
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = common::test_file(dir.path(), "old.mp4", 3_000_000);
    let strings = common::CConfig::new("1234", "EAAsizing", emu.url());
    let mut cfg = strings.config();
    // The layout that ended with log_level, then bytes that would read as a 1000-byte
    // bound if fbup read past struct_size.
    cfg.struct_size = std::mem::offset_of!(fbup_config, max_request_bytes) as u32;
    cfg.max_request_bytes = 1000;
    let file = CString::new(path.to_str().unwrap()).unwrap();
    let mut s = std::ptr::null_mut();
    // SAFETY: a valid config and path; the session is freed below.
    unsafe {
        assert_eq!(fbup_create_session(&cfg, file.as_ptr(), &mut s), FBUP_OK);
        assert_eq!(fbup_upload(s, None, std::ptr::null_mut()), FBUP_OK);
        let id = std::ffi::CStr::from_ptr(fbup_session_id(s))
            .to_string_lossy()
            .into_owned();
        fbup_free(s);
        let info = emu.session(&id).unwrap();
        assert_eq!(info.sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(info.upload_requests, 1, "the default: one request");
    }
}
