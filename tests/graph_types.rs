//! What real Graph takes: file types beyond the docs' five go to Graph (types from a
//! well-kept table of extensions), `app` is an app id, and a type Graph refuses costs
//! one create request and is told in Graph's words. Through the Rust API and the C ABI.

mod common;

use fbup::{Config, Session, Status};
use fbup_emulator::{Emulator, RequestKind};

const TOKEN: &str = "EAAgraph-types";

fn emulator(any_type: bool) -> Emulator {
    Emulator::start(fbup_emulator::Config {
        any_type,
        app_ids: vec!["1234".into()],
        ..Default::default()
    })
    .unwrap()
}

/// A TIFF, a WebP and a QuickTime file, each with the type its extension tells.
const FILES: [(&str, &str); 3] = [
    ("scan.tif", "image/tiff"),
    ("photo.webp", "image/webp"),
    ("clip.mov", "video/quicktime"),
];

#[test]
fn types_beyond_the_docs_upload_with_the_app_alias_through_rust_and_c() {
    let emu = emulator(true);
    let dir = tempfile::tempdir().unwrap();
    for (name, file_type) in FILES {
        let (path, sha) = common::test_file(dir.path(), name, 300_000);
        assert_eq!(fbup::file_type_from_extension(&path), Some(file_type));
        // Rust.
        let mut c = Config::new("app", TOKEN);
        c.graph_url = emu.url().to_string();
        let mut s = Session::create(&c, &path).unwrap();
        s.upload(&mut |_, _| true).unwrap();
        let info = emu.session(s.id()).unwrap();
        assert_eq!(
            (info.file_type.as_str(), info.app_id.as_str()),
            (file_type, "1234")
        );
        assert_eq!(info.sha256.as_deref(), Some(sha.as_str()));
        // C, the trace saying once that the docs do not list the type.
        let strings = common::CConfig::new("app", TOKEN, emu.url());
        let mut cc = strings.config();
        cc.log_level = 3;
        let u = common::c_upload(&cc, &path);
        assert_eq!(u.status, fbup::ffi::FBUP_OK, "{}", u.message);
        let info = emu.session(&u.session_id).unwrap();
        assert_eq!(info.file_type, file_type);
        assert_eq!(info.sha256.as_deref(), Some(sha.as_str()));
        let said: Vec<_> = u
            .trace
            .iter()
            .filter(|l| l.contains("is not one of the five Graph's documentation lists"))
            .collect();
        assert_eq!(said.len(), 1, "{:?}", u.trace);
    }
}

#[test]
fn a_type_graph_refuses_costs_one_create_and_is_told_in_graphs_words() {
    let emu = emulator(false);
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = common::test_file(dir.path(), "photo.webp", 1000);
    let mut c = Config::new("1234", TOKEN);
    c.graph_url = emu.url().to_string();
    let e = Session::create(&c, &path).unwrap_err();
    assert_eq!(e.status, Status::Graph, "{}", e.message);
    assert_eq!(e.graph.as_ref().map(|g| g.code), Some(100));
    assert!(
        e.message.contains("Param file_type must be one of {"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("does not take the file type image/webp"),
        "{}",
        e.message
    );
    let creates = emu
        .requests()
        .iter()
        .filter(|r| r.kind == Some(RequestKind::Create))
        .count();
    assert_eq!(creates, 1, "a refused type is not retried");
    // An app Graph does not know: what to check.
    let mut c = Config::new("999", TOKEN);
    c.graph_url = emu.url().to_string();
    let (png, _) = common::test_file(dir.path(), "a.png", 1000);
    let e = Session::create(&c, &png).unwrap_err();
    assert!(
        e.message.contains("nonexisting field (uploads)"),
        "{}",
        e.message
    );
    assert!(e.message.contains("has a role on the app"), "{}", e.message);
}

#[test]
fn what_cannot_be_a_type_or_an_app_id_is_refused_before_any_request() {
    let emu = emulator(true);
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = common::test_file(dir.path(), "a.png", 1000);
    for bad in [
        "image",
        "image/png; q=1",
        "/png",
        "image/",
        "im age/png",
        "image/p\u{e9}g",
    ] {
        let mut c = Config::new("1234", TOKEN);
        c.graph_url = emu.url().to_string();
        c.file_type = Some(bad.into());
        let e = Session::create(&c, &path).unwrap_err();
        assert_eq!(e.status, Status::Argument, "{bad}: {}", e.message);
        assert!(
            e.message.contains("is not a MIME type"),
            "{bad}: {}",
            e.message
        );
    }
    for bad in ["", "a b", "12/34", "1\n2"] {
        let mut c = Config::new(bad, TOKEN);
        c.graph_url = emu.url().to_string();
        let e = Session::create(&c, &path).unwrap_err();
        assert_eq!(e.status, Status::Argument, "{bad:?}: {}", e.message);
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
    for (ext, t) in [
        ("gif", "image/gif"),
        ("heic", "image/heic"),
        ("mp3", "audio/mpeg"),
        ("csv", "text/csv"),
        ("json", "application/json"),
        (
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("JPG", "image/jpeg"),
    ] {
        let name = format!("f.{ext}");
        assert_eq!(
            fbup::file_type_from_extension(name.as_ref()),
            Some(t),
            "{ext}"
        );
    }
}
