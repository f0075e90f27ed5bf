//! Recovery that does not rest on one guess: each path Meta leaves undocumented is run
//! through the C ABI against the emulator answering each plausible way, and the bytes
//! Graph holds are checked by SHA-256.

mod common;

use std::ffi::{CStr, CString};
use std::ptr;

use fbup::ffi::*;
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind, Unknowns};

/// Uploads `len` bytes through the C ABI; returns the status, the message, the
/// session's id and the file's SHA-256, and shows the trace (`what` names the path).
fn upload(
    emu: &Emulator,
    dir: &std::path::Path,
    len: usize,
    what: &str,
) -> (fbup_status, String, String, String, String) {
    let (path, sha) = common::test_file(dir, "r.mp4", len);
    let strings = common::CConfig::new("1234", "EAArecovery", emu.url());
    let mut cfg = strings.config();
    cfg.retry_base_ms = 1;
    let u = common::c_upload(&cfg, &path);
    let trace = show_trace(what, &u.trace);
    (u.status, u.message, u.session_id, sha, trace)
}

/// Prints a trace under a title (the test's output shows what Graph said and what fbup
/// decided) and returns it as one text to search.
fn show_trace(what: &str, lines: &[String]) -> String {
    eprintln!("--- trace: {what}");
    for l in lines {
        eprintln!("    {l}");
    }
    assert!(!lines.is_empty(), "{what}: the trace is empty");
    lines.join("\n")
}

fn emulator(unknowns: Unknowns) -> Emulator {
    Emulator::start(fbup_emulator::Config {
        unknowns,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn a_cut_resumes_byte_exact_whatever_graph_says_of_a_wrong_offset() {
    for mismatch in [None, Some((6001, 1_363_037)), Some((1, 0))] {
        for lagging in [false, true] {
            let emu = emulator(Unknowns {
                offset_mismatch: mismatch,
                lagging_offset: lagging,
                ..Default::default()
            });
            emu.add_fault(FaultRule::once(
                RequestKind::Upload,
                Fault::CutAt { offset: 1_000_000 },
            ));
            let dir = tempfile::tempdir().unwrap();
            let what = format!("mismatch answered {mismatch:?}, lagging offset {lagging}");
            let (st, msg, id, sha, trace) = upload(&emu, dir.path(), 3_000_000, &what);
            assert_eq!(st, FBUP_OK, "{what}: {msg}");
            assert!(
                trace.contains("Graph holds 1000000 of 3000000 bytes"),
                "{what}"
            );
            let info = emu.session(&id).unwrap();
            assert_eq!(info.sha256.as_deref(), Some(sha.as_str()), "{what}");
            // What was read beyond the file: the faults' leftovers and, with a lagging
            // offset, one refused re-send of the bytes the lag hid.
            let extra = info.bytes_received_total - 3_000_000 - info.bytes_discarded_by_faults;
            eprintln!(
                "{what}: {} upload requests, {extra} bytes re-sent",
                info.upload_requests
            );
            if lagging {
                assert!(info.upload_requests >= 3, "{what}: the lag was met");
                assert!(
                    trace.contains("the refusal was about the offset"),
                    "{what}: the rule shows"
                );
            } else {
                assert_eq!(extra, 0, "{what}: nothing re-sent");
            }
        }
    }
}

#[test]
fn a_lost_final_answer_never_becomes_a_false_success() {
    for refuse in [false, true] {
        let emu = emulator(Unknowns {
            refuse_final_empty_post: refuse,
            ..Default::default()
        });
        emu.add_fault(FaultRule::once(RequestKind::Upload, Fault::LoseResponse));
        let dir = tempfile::tempdir().unwrap();
        let what = format!("final answer lost, empty POST refused: {refuse}");
        let (st, msg, id, sha, trace) = upload(&emu, dir.path(), 500_000, &what);
        assert!(
            trace.contains("file_offset: 500000, body 0 bytes"),
            "the empty POST shows"
        );
        let info = emu.session(&id).unwrap();
        assert_eq!(
            info.sha256.as_deref(),
            Some(sha.as_str()),
            "every byte arrived"
        );
        let empty_posts = emu
            .requests()
            .iter()
            .filter(|r| {
                r.kind == Some(RequestKind::Upload) && r.header("file_offset") == Some("500000")
            })
            .count();
        if refuse {
            // Graph holds every byte but will not give the handle again: an error,
            // after one try of the empty POST, never FBUP_OK without a handle.
            assert_eq!(st, FBUP_E_HANDLE_LOST, "{msg}");
            assert!(
                msg.contains("reached Graph") && msg.contains("new session"),
                "{msg}"
            );
            assert_eq!(empty_posts, 1, "one try at the empty POST");
            assert!(trace.contains("the handle is lost"), "the rule shows");
        } else {
            assert_eq!(st, FBUP_OK, "{msg}");
            assert_eq!(empty_posts, 1);
        }
        eprintln!("empty POST refused {refuse}: status {st}: {msg}");
    }
}

#[test]
fn a_recorded_session_graph_forgot_is_replaced_whatever_graph_says() {
    let answers = [
        Fault::Respond {
            status: 404,
            error: None,
            headers: Vec::new(),
        },
        Fault::Respond {
            status: 400,
            error: None,
            headers: Vec::new(),
        },
        "offset,status=400,code=100,subcode=33"
            .parse::<FaultRule>()
            .unwrap()
            .fault,
        "offset,status=400,code=100,subcode=2018001"
            .parse::<FaultRule>()
            .unwrap()
            .fault,
    ];
    for answer in answers {
        let emu = emulator(Unknowns::default());
        let dir = tempfile::tempdir().unwrap();
        let (path, sha) = common::test_file(dir.path(), "j.mp4", 400_000);
        let strings = common::CConfig::new("1234", "EAArecovery", emu.url());
        let journal = CString::new(dir.path().join("journal").to_str().unwrap()).unwrap();
        let mut cfg = strings.config();
        cfg.state_dir = journal.as_ptr();
        // A session recorded in the journal, never uploaded to (a process that died).
        let file = CString::new(path.to_str().unwrap()).unwrap();
        let mut first = ptr::null_mut();
        let st = unsafe { fbup_create_session(&cfg, file.as_ptr(), &mut first) };
        assert_eq!(st, FBUP_OK);
        let first_id = unsafe { CStr::from_ptr(fbup_session_id(first)) }
            .to_string_lossy()
            .into_owned();
        unsafe { fbup_free(first) };
        emu.add_fault(FaultRule::once(RequestKind::Offset, answer.clone()));
        let u = common::c_upload(&cfg, &path);
        let trace = show_trace(&format!("recorded session forgotten: {answer:?}"), &u.trace);
        assert_eq!(u.status, FBUP_OK, "{answer:?}: {}", u.message);
        assert_ne!(u.session_id, first_id, "{answer:?}: a new session");
        assert!(
            trace.contains("Graph no longer knows the recorded session"),
            "{answer:?}: the trace says why"
        );
        let info = emu.session(&u.session_id).unwrap();
        assert_eq!(info.sha256.as_deref(), Some(sha.as_str()));
    }
}

#[test]
fn resuming_a_session_graph_does_not_know_says_so() {
    let emu = emulator(Unknowns::default());
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = common::test_file(dir.path(), "k.mp4", 1000);
    let strings = common::CConfig::new("1234", "EAArecovery", emu.url());
    let cfg = strings.config();
    let file = CString::new(path.to_str().unwrap()).unwrap();
    for id in [
        "upload:MTpnb25lP2ZpbGVfbGVuZ3RoPTEwMDA=?sig=ARforgotten",
        "upload:x",
    ] {
        let id = CString::new(id).unwrap();
        let mut s = ptr::null_mut();
        let st = unsafe { fbup_resume_session(&cfg, file.as_ptr(), id.as_ptr(), &mut s) };
        let msg = unsafe { CStr::from_ptr(fbup_errmsg(s)) }
            .to_string_lossy()
            .into_owned();
        unsafe { fbup_free(s) };
        assert_eq!(st, FBUP_E_GRAPH, "{msg}");
        assert!(msg.contains("unknown or has expired"), "{msg}");
        assert!(msg.contains("start a new upload"), "{msg}");
    }
}
