//! Every rule of the emulator, over real HTTP on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fbup_emulator::{
    AfterStall, Config, Emulator, Fault, FaultRule, RandomFaults, RequestKind, Storage,
};

fn start() -> Emulator {
    Emulator::start(Config::default()).unwrap()
}

fn start_with(f: impl FnOnce(&mut Config)) -> Emulator {
    let mut c = Config::default();
    f(&mut c);
    Emulator::start(c).unwrap()
}

#[test]
fn create_answers_an_id_with_a_sig_query_part() {
    let emu = start();
    let id = create(emu.url(), 10, "image/png");
    assert!(id.starts_with("upload:"), "{id}");
    let (_, sig) = id.split_once("?sig=AR").expect("?sig=AR in the id");
    assert!(sig.len() >= 20, "{sig}");
    let info = emu.session(&id).unwrap();
    assert_eq!((info.file_length, info.file_offset), (10, 0));
    assert_eq!(info.file_name, "a.bin");
}

#[test]
fn create_takes_form_bodies_headers_and_the_app_alias() {
    let emu = start();
    let a = post(
        &format!("{}/v24.0/1234/uploads", emu.url()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("file_length=5&file_type=application%2Fpdf&access_token={TOKEN}").as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let auth = format!("Bearer {TOKEN}");
    let a = post(
        &format!(
            "{}/v24.0/app/uploads?file_length=5&file_type=video/mp4&session_type=attachment",
            emu.url()
        ),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(emu.sessions().len(), 2);
    assert_eq!(emu.sessions()[0].file_type, "application/pdf");
}

#[test]
fn create_refuses_bad_parameters_with_code_100() {
    let emu = start();
    let base = format!("{}/v24.0/1234/uploads?access_token={TOKEN}", emu.url());
    for (query, needle) in [
        ("&file_type=image/png", "file_length is required"),
        ("&file_length=0&file_type=image/png", "positive integer"),
        ("&file_length=-4&file_type=image/png", "positive integer"),
        ("&file_length=ten&file_type=image/png", "positive integer"),
        ("&file_length=10", "file_type is required"),
        ("&file_length=10&file_type=image/gif", "must be one of"),
        (
            "&file_length=10&file_type=image/png&session_type=other",
            "session_type",
        ),
    ] {
        let a = post(&format!("{base}{query}"), &[], b"");
        assert_eq!(a.status, 400, "{query}");
        assert_eq!(a.error_code(), 100, "{query}");
        let msg = a.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{query}: {msg}");
    }
    assert!(emu.sessions().is_empty());
}

#[test]
fn any_type_accepts_undocumented_types() {
    let emu = start_with(|c| c.any_type = true);
    create(emu.url(), 3, "image/gif");
}

#[test]
fn tokens_and_app_ids_are_checked() {
    let emu = start_with(|c| {
        c.tokens = vec![TOKEN.into()];
        c.app_ids = vec!["1234".into()];
    });
    let url = |app: &str, tok: &str| {
        format!(
            "{}/v24.0/{app}/uploads?file_length=1&file_type=image/png{tok}",
            emu.url()
        )
    };
    let a = post(&url("1234", "&access_token=wrong"), &[], b"");
    assert_eq!((a.status, a.error_code()), (400, 190));
    assert_eq!(a.body["error"]["type"], "OAuthException");
    let a = post(&url("1234", ""), &[], b"");
    assert_eq!((a.status, a.error_code()), (400, 104));
    let a = post(&url("999", &format!("&access_token={TOKEN}")), &[], b"");
    assert_eq!((a.status, a.error_code()), (400, 100));
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nonexisting field (uploads)"));
    let a = post(&url("1234", &format!("&access_token={TOKEN}")), &[], b"");
    assert_eq!(a.status, 200);
}

#[test]
fn every_error_has_the_full_graph_shape() {
    let emu = start();
    let a = upload(emu.url(), "upload:nothing?sig=ARx", 0, b"x");
    assert_eq!(a.status, 400);
    let e = &a.body["error"];
    for field in [
        "message",
        "type",
        "code",
        "error_subcode",
        "is_transient",
        "fbtrace_id",
    ] {
        assert!(!e[field].is_null(), "{field} missing in {e}");
    }
    assert_eq!(e["is_transient"], false);
}

#[test]
fn upload_in_one_request_returns_a_handle_and_keeps_the_bytes() {
    let emu = start();
    let bytes = data(300_000, 1);
    let id = create(emu.url(), bytes.len() as u64, "image/png");
    let a = upload(emu.url(), &id, 0, &bytes);
    assert_eq!(a.status, 200, "{}", a.body);
    let h = a.body["h"].as_str().unwrap();
    assert!(h.starts_with("4::aW1hZ2UvcG5n:AR"), "{h}");
    assert!(h.contains(":e:") && h.contains(":1234:"), "{h}");
    let info = emu.session(&id).unwrap();
    assert!(info.complete);
    assert_eq!(info.sha256.unwrap(), sha256_hex(&bytes));
    assert_eq!(emu.session_bytes(&id).unwrap(), bytes);
    assert_eq!(info.handle.as_deref(), Some(h));
}

#[test]
fn a_short_body_is_accepted_and_the_handle_comes_with_the_last_byte() {
    let emu = start();
    let bytes = data(1000, 2);
    let id = create(emu.url(), 1000, "application/pdf");
    let a = upload(emu.url(), &id, 0, &bytes[..400]);
    assert_eq!(a.status, 200);
    assert!(a.body.get("h").is_none(), "{}", a.body);
    assert_eq!(offset(emu.url(), &id).body["file_offset"], 400);
    let a = upload(emu.url(), &id, 400, &bytes[400..]);
    assert!(a.body["h"].is_string(), "{}", a.body);
    assert_eq!(
        emu.session(&id).unwrap().sha256.unwrap(),
        sha256_hex(&bytes)
    );
}

#[test]
fn video_handles_are_several_joined_by_newlines() {
    let emu = start();
    let id = create(emu.url(), 4, "video/mp4");
    let a = upload(emu.url(), &id, 0, b"mp4!");
    let h = a.body["h"].as_str().unwrap();
    assert_eq!(h.split('\n').count(), 3, "{h:?}");
    assert!(h.split('\n').all(|p| p.starts_with("4::")));
}

#[test]
fn an_empty_post_at_the_end_answers_the_same_handle_again() {
    let emu = start();
    let id = create(emu.url(), 3, "image/jpeg");
    let first = upload(emu.url(), &id, 0, b"abc").body["h"].clone();
    let again = upload(emu.url(), &id, 3, b"");
    assert_eq!(again.status, 200);
    assert_eq!(again.body["h"], first);
}

#[test]
fn upload_rules_offset_length_token_and_framing() {
    let emu = start();
    let id = create(emu.url(), 10, "image/png");
    // Wrong offset: 400, and the message says where to resume.
    let a = upload(emu.url(), &id, 5, b"xx");
    assert_eq!((a.status, a.error_code()), (400, 100));
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("resume from file_offset 0"));
    // Past the end: 400, nothing stored.
    let a = upload(emu.url(), &id, 0, &[7u8; 11]);
    assert_eq!((a.status, a.error_code()), (400, 100));
    assert_eq!(emu.session(&id).unwrap().file_offset, 0);
    // Token only in the query: refused.
    let a = post(
        &format!("{}/v24.0/{id}&access_token={TOKEN}", emu.url()),
        &[("file_offset", "0")],
        b"abc",
    );
    assert_eq!((a.status, a.error_code()), (400, 190));
    // No file_offset header.
    let auth = format!("OAuth {TOKEN}");
    let a = post(
        &format!("{}/v24.0/{id}", emu.url()),
        &[("Authorization", &auth)],
        b"abc",
    );
    assert_eq!((a.status, a.error_code()), (400, 100));
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("file_offset"));
    assert_eq!(emu.session(&id).unwrap().file_offset, 0);
}

#[test]
fn chunked_or_unframed_bodies_get_411() {
    let emu = start();
    let id = create(emu.url(), 10, "image/png");
    let addr = emu.url().trim_start_matches("http://").to_string();
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    let req = format!(
        "POST /v24.0/{id} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: OAuth {TOKEN}\r\n\
         file_offset: 0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 411"), "{head}");
    assert_eq!(emu.session(&id).unwrap().file_offset, 0);
}

#[test]
fn offset_answers_in_both_forms() {
    let emu = start();
    let id = create(emu.url(), 10, "image/png");
    upload(emu.url(), &id, 0, b"12345");
    let a = offset(emu.url(), &id);
    assert_eq!(a.body["file_offset"], 5);
    assert_eq!(a.body["id"], id.as_str());
    // The documentation's own form: the token joined to the id's query with '&'.
    let a = get(
        &format!("{}/v24.0/{id}&access_token={TOKEN}", emu.url()),
        &[],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["file_offset"], 5);

    let emu = start_with(|c| c.offset_as_string = true);
    let id = create(emu.url(), 10, "image/png");
    upload(emu.url(), &id, 0, b"123");
    assert_eq!(offset(emu.url(), &id).body["file_offset"], "3");
}

#[test]
fn mangled_unknown_or_expired_ids_get_code_100_subcode_33() {
    let emu = start();
    let id = create(emu.url(), 10, "image/png");
    let encoded = id
        .replace(':', "%3A")
        .replace('?', "%3F")
        .replace('=', "%3D");
    let (path, _) = id.split_once("?sig=").unwrap();
    let wrong_join = format!("{id}?access_token={TOKEN}");
    for bad in [
        encoded.as_str(),
        path,
        &format!("{path}?sig=ARforged"),
        "upload:unknown?sig=ARx",
        &wrong_join,
    ] {
        let a = offset(emu.url(), bad);
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.error_code(), 100, "{bad}");
        assert_eq!(a.body["error"]["error_subcode"], 33, "{bad}");
        assert_eq!(a.body["error"]["type"], "GraphMethodException");
        let a = upload(emu.url(), bad, 0, b"x");
        assert_eq!(a.body["error"]["error_subcode"], 33, "{bad}");
    }
    let emu = start_with(|c| c.session_ttl = Duration::from_millis(50));
    let id = create(emu.url(), 10, "image/png");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(offset(emu.url(), &id).body["error"]["error_subcode"], 33);
}

#[test]
fn a_cut_keeps_what_arrived() {
    let emu = start();
    let bytes = data(200_000, 3);
    let id = create(emu.url(), bytes.len() as u64, "image/png");
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Cut {
            after_bytes: 70_001,
        },
    ));
    let answer = raw_upload(emu.url(), &id, 0, &bytes);
    assert!(answer.is_empty(), "no answer after a cut");
    let info = emu.session(&id).unwrap();
    assert_eq!(info.file_offset, 70_001);
    assert_eq!(info.sha256.unwrap(), sha256_hex(&bytes[..70_001]));
    // Resume from the offset the server reports.
    let a = upload(emu.url(), &id, 70_001, &bytes[70_001..]);
    assert!(a.body["h"].is_string());
    assert_eq!(emu.session_bytes(&id).unwrap(), bytes);
    assert_eq!(emu.faults_injected(), 1);
}

#[test]
fn a_cut_at_an_absolute_offset() {
    let emu = start();
    let bytes = data(100_000, 4);
    let id = create(emu.url(), bytes.len() as u64, "image/png");
    upload(emu.url(), &id, 0, &bytes[..10_000]);
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 64_000 },
    ));
    raw_upload(emu.url(), &id, 10_000, &bytes[10_000..]);
    assert_eq!(emu.session(&id).unwrap().file_offset, 64_000);
}

#[test]
fn stalls_delay_then_close_or_continue() {
    let emu = start();
    let bytes = data(50_000, 5);
    let id = create(emu.url(), bytes.len() as u64, "image/png");
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 1000,
            millis: 300,
            then: AfterStall::Close,
        },
    ));
    let t = Instant::now();
    let out = raw_upload(emu.url(), &id, 0, &bytes);
    assert!(out.is_empty());
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(emu.session(&id).unwrap().file_offset, 1000);

    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 0,
            millis: 200,
            then: AfterStall::Continue,
        },
    ));
    let t = Instant::now();
    let a = upload(emu.url(), &id, 1000, &bytes[1000..]);
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert!(a.body["h"].is_string());
    assert_eq!(
        emu.session(&id).unwrap().sha256.unwrap(),
        sha256_hex(&bytes)
    );
}

#[test]
fn injected_answers_transient_throttled_and_empty() {
    let emu = start();
    let id = create(emu.url(), 10, "image/png");
    emu.add_fault(FaultRule::once(RequestKind::Upload, Fault::transient_500()));
    let a = upload(emu.url(), &id, 0, b"0123456789");
    assert_eq!((a.status, a.error_code()), (500, 2));
    assert_eq!(a.body["error"]["is_transient"], true);
    assert_eq!(emu.session(&id).unwrap().file_offset, 0, "nothing stored");
    assert_eq!(emu.session(&id).unwrap().bytes_received_total, 10);

    emu.add_fault(FaultRule::once(RequestKind::Upload, Fault::throttled()));
    let a = upload(emu.url(), &id, 0, b"0123456789");
    assert_eq!((a.status, a.error_code()), (400, 4));
    assert!(a.header("x-app-usage").unwrap().contains("call_count"));

    emu.add_fault(FaultRule::once(
        RequestKind::Offset,
        Fault::unavailable_503(),
    ));
    let a = offset(emu.url(), &id);
    assert_eq!(a.status, 503);
    assert!(a.body.is_null());
    // Each rule fired once.
    assert_eq!(offset(emu.url(), &id).status, 200);
    assert_eq!(upload(emu.url(), &id, 0, b"0123456789").status, 200);
}

#[test]
fn a_lost_final_response_commits_the_bytes() {
    let emu = start();
    let id = create(emu.url(), 6, "image/png");
    emu.add_fault(FaultRule::once(RequestKind::Upload, Fault::LoseResponse));
    assert!(raw_upload(emu.url(), &id, 0, b"abcdef").is_empty());
    let info = emu.session(&id).unwrap();
    assert!(info.complete);
    let a = upload(emu.url(), &id, 6, b"");
    assert_eq!(a.body["h"].as_str(), info.handle.as_deref());
}

#[test]
fn faults_can_be_scoped_to_a_session_and_a_count() {
    let emu = start();
    let a = create(emu.url(), 4, "image/png");
    let b = create(emu.url(), 4, "image/png");
    emu.add_fault(FaultRule {
        kind: RequestKind::Offset,
        fault: Fault::unavailable_503(),
        times: Some(2),
        session: Some(b.clone()),
    });
    assert_eq!(offset(emu.url(), &a).status, 200);
    assert_eq!(offset(emu.url(), &b).status, 503);
    assert_eq!(offset(emu.url(), &b).status, 503);
    assert_eq!(offset(emu.url(), &b).status, 200);
}

#[test]
fn random_faults_replay_from_the_seed() {
    let run = |seed| {
        // The sessions first: random faults strike creates too.
        let emu = start();
        let ids: Vec<String> = (0..20)
            .map(|_| create(emu.url(), 1000, "image/png"))
            .collect();
        emu.set_random_faults(Some(RandomFaults {
            seed,
            rate: 0.5,
            stall_ms: 20,
        }));
        let mut outcomes = Vec::new();
        for id in &ids {
            let id = id.as_str();
            let out = raw_upload(emu.url(), id, 0, &[1u8; 1000]);
            outcomes.push((out.len().min(12), emu.session(id).unwrap().file_offset));
        }
        (outcomes, emu.faults_injected())
    };
    let (a, na) = run(7);
    let (b, nb) = run(7);
    assert_eq!(a, b);
    assert_eq!(na, nb);
    assert!(na > 3 && na < 18, "{na} faults in 20 at rate 0.5");
}

#[test]
fn inspection_endpoint_and_redacted_log() {
    let emu = start();
    let id = create(emu.url(), 3, "image/png");
    upload(emu.url(), &id, 0, b"abc");
    get(
        &format!("{}/v24.0/{id}&access_token={TOKEN}", emu.url()),
        &[],
    );
    let a = get(&format!("{}/_emulator/sessions", emu.url()), &[]);
    let list = a.body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let s = &list[0];
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["complete"], true);
    assert_eq!(s["bytes_received_total"], 3);
    assert_eq!(s["upload_requests"], 1);
    assert_eq!(s["sha256"], sha256_hex(b"abc").as_str());

    let log = emu.requests();
    let kinds: Vec<_> = log.iter().map(|r| r.kind).collect();
    assert_eq!(
        &kinds[..3],
        &[
            Some(RequestKind::Create),
            Some(RequestKind::Upload),
            Some(RequestKind::Offset)
        ]
    );
    assert_eq!(log[1].header("authorization"), Some("OAuth REDACTED"));
    assert_eq!(log[1].header("file_offset"), Some("0"));
    for r in &log {
        let all = format!("{r:?}");
        assert!(!all.contains(TOKEN), "token in the log: {all}");
    }
    assert!(log[2].path_and_query.ends_with("&access_token=REDACTED"));
}

#[test]
fn discard_keeps_counts_and_optionally_the_hash() {
    let emu = start_with(|c| c.storage = Storage::Discard { hash: true });
    let id = create(emu.url(), 5, "image/png");
    upload(emu.url(), &id, 0, b"hello");
    let info = emu.session(&id).unwrap();
    assert_eq!(info.sha256.unwrap(), sha256_hex(b"hello"));
    assert!(emu.session_bytes(&id).is_none());

    let emu = start_with(|c| c.storage = Storage::Discard { hash: false });
    let id = create(emu.url(), 5, "image/png");
    upload(emu.url(), &id, 0, b"hello");
    let info = emu.session(&id).unwrap();
    assert!(info.complete && info.sha256.is_none());
}

#[test]
fn store_dir_keeps_one_file_per_session() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start_with(|c| c.storage = Storage::Dir(dir.path().to_path_buf()));
    let id = create(emu.url(), 5, "image/png");
    upload(emu.url(), &id, 0, b"hello");
    let path = emu.session(&id).unwrap().path.unwrap();
    assert!(path.starts_with(dir.path()));
    assert_eq!(std::fs::read(path).unwrap(), b"hello");
}

#[test]
fn unknown_paths_and_versions_are_refused() {
    let emu = start();
    let a = get(&format!("{}/nope", emu.url()), &[]);
    assert_eq!((a.status, a.error_code()), (400, 2500));
    let a = post(
        &format!(
            "{}/latest/1234/uploads?file_length=1&file_type=image/png&access_token=t",
            emu.url()
        ),
        &[],
        b"",
    );
    assert_eq!(a.status, 400);
}

#[test]
fn reject_answers_without_reading_the_body() {
    let emu = start();
    let id = create(emu.url(), 10, "image/png");
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::unavailable_503().early(),
    ));
    let a = upload(emu.url(), &id, 0, b"0123456789");
    assert_eq!(a.status, 503);
    let info = emu.session(&id).unwrap();
    assert_eq!((info.file_offset, info.bytes_received_total), (0, 0));
    assert_eq!(upload(emu.url(), &id, 0, b"0123456789").status, 200);
}

#[test]
fn report_offset_lies_once() {
    let emu = start();
    let id = create(emu.url(), 10, "image/png");
    upload(emu.url(), &id, 0, b"01234");
    emu.add_fault(FaultRule::once(
        RequestKind::Offset,
        Fault::ReportOffset { offset: 2 },
    ));
    assert_eq!(offset(emu.url(), &id).body["file_offset"], 2);
    assert_eq!(offset(emu.url(), &id).body["file_offset"], 5);
}

#[test]
fn every_body_byte_is_counted_so_a_client_that_re_sends_shows() {
    let emu = start();
    let len = 400_000u64;
    let file = data(len as usize, 7);
    let id = create(emu.url(), len, "video/mp4");
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 100_000 },
    ));
    // A whole body, cut at 100 kB: what arrived past the cut point counts too.
    raw_upload(emu.url(), &id, 0, &file);
    let after_cut = emu.session(&id).unwrap();
    assert_eq!(after_cut.file_offset, 100_000);
    assert!(after_cut.bytes_received_total >= 100_000);
    // A careless client re-sends from 0: refused (wrong file_offset), read and counted.
    let a = upload(emu.url(), &id, 0, &file);
    assert_eq!((a.status, a.error_code()), (400, 100), "{}", a.body);
    let refused = emu.session(&id).unwrap();
    assert_eq!(refused.file_offset, 100_000, "nothing stored");
    assert_eq!(
        refused.bytes_received_total,
        after_cut.bytes_received_total + len,
        "the refused body was counted"
    );
    // Then the rest, from the right offset: more bytes received than the file holds.
    let a = upload(emu.url(), &id, 100_000, &file[100_000..]);
    assert_eq!(a.status, 200, "{}", a.body);
    let done = emu.session(&id).unwrap();
    assert!(done.complete);
    assert_eq!(done.sha256.as_deref(), Some(sha256_hex(&file).as_str()));
    assert!(
        done.bytes_received_total >= 2 * len,
        "{} received for a {len}-byte file re-sent once",
        done.bytes_received_total
    );
    // A body running past file_length is read and counted too.
    let id2 = create(emu.url(), 10, "image/png");
    let a = upload(emu.url(), &id2, 0, &[1u8; 50]);
    assert_eq!(a.status, 400);
    assert_eq!(emu.session(&id2).unwrap().bytes_received_total, 50);
}

#[test]
fn a_stall_that_goes_on_keeps_every_byte() {
    let emu = start();
    let file = data(2_000_000, 3);
    let id = create(emu.url(), file.len() as u64, "video/mp4");
    // The stall point falls inside a frame: the rest of that frame must be kept.
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 1_001,
            millis: 100,
            then: AfterStall::Continue,
        },
    ));
    let a = upload(emu.url(), &id, 0, &file);
    assert_eq!(a.status, 200, "{}", a.body);
    let info = emu.session(&id).unwrap();
    assert!(info.complete);
    assert_eq!(info.sha256.as_deref(), Some(sha256_hex(&file).as_str()));
    assert_eq!(info.bytes_received_total, file.len() as u64);
}

/// Sends `sent` of a body announced as `announced` bytes, then closes the connection.
fn short_body(base: &str, id: &str, announced: usize, sent: &[u8]) {
    use std::io::Write;
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v24.0/{id} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: OAuth {TOKEN}\r\n\
         file_offset: 0\r\nContent-Length: {announced}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(sent).unwrap();
    drop(s);
    // The server notices the end of the connection on its own time.
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn a_body_cut_short_is_kept_unless_only_whole_requests_count() {
    for whole in [false, true] {
        let emu = start_with(|c| c.unknowns.whole_requests_only = whole);
        let id = create(emu.url(), 1000, "image/png");
        short_body(emu.url(), &id, 1000, &data(400, 1));
        let held = emu.session(&id).unwrap().file_offset;
        assert_eq!(held, if whole { 0 } else { 400 }, "whole only: {whole}");
        // A whole request is kept either way.
        let body = data(1000, 2);
        let a = upload(emu.url(), &id, held, &body[held as usize..]);
        assert_eq!(a.status, 200, "whole only: {whole}");
        assert!(a.body["h"].is_string());
    }
}

#[test]
fn a_request_past_its_time_limit_is_cut_and_whole_only_keeps_none_of_it() {
    let emu = start_with(|c| c.unknowns.whole_requests_only = true);
    emu.add_fault(FaultRule::always(
        RequestKind::Upload,
        Fault::CutAfterMillis { millis: 300 },
    ));
    let id = create(emu.url(), 1000, "image/png");
    let addr = emu.url().trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    let head = format!(
        "POST /v24.0/{id} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: OAuth {TOKEN}\r\n\
         file_offset: 0\r\nContent-Length: 1000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&data(500, 3)).unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut out);
    assert!(out.is_empty(), "no answer, a hangup");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(emu.session(&id).unwrap().file_offset, 0);
    assert_eq!(
        "upload,cut-after-ms=250"
            .parse::<FaultRule>()
            .unwrap()
            .fault,
        Fault::CutAfterMillis { millis: 250 }
    );
}
