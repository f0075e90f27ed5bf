//! The command leaves the file type to Graph: a TIFF, a WebP and a QuickTime file upload
//! with `--app-id app` to an emulator that takes them, each type warned about once; a
//! type Graph refuses costs one create request and is told in Graph's words; Graph's
//! words for a session it forgot keep the library's advice.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fbup_emulator::{Emulator, RequestKind};

const TOKEN: &str = "EAAtypes-secret";

fn emulator(any_type: bool) -> Emulator {
    Emulator::start(fbup_emulator::Config {
        any_type,
        app_ids: vec!["1234".into()],
        ..Default::default()
    })
    .unwrap()
}

fn fbup(emu: &Emulator) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fbup"));
    c.env("FBUP_ACCESS_TOKEN", TOKEN)
        .env("FBUP_GRAPH_URL", emu.url())
        .env_remove("FBUP_APP_ID")
        .env_remove("FBUP_STATE_DIR");
    c
}

fn file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        (0..100_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    path
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn tiff_webp_and_quicktime_upload_with_the_app_alias() {
    let emu = emulator(true);
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = ["scan.tiff", "photo.webp", "clip.mov", "more.webp"]
        .iter()
        .map(|n| file(dir.path(), n))
        .collect();
    let out = fbup(&emu)
        .args(["upload", "--no-resume", "--app-id", "app"])
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", err(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4);
    let mut types: Vec<String> = emu.sessions().into_iter().map(|s| s.file_type).collect();
    types.sort();
    assert_eq!(
        types,
        ["image/tiff", "image/webp", "image/webp", "video/quicktime"]
    );
    assert!(emu
        .sessions()
        .iter()
        .all(|s| s.complete && s.app_id == "1234"));
    let stderr = err(&out);
    for t in ["image/tiff", "image/webp", "video/quicktime"] {
        let warning = format!("does not list the file type {t};");
        assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
    }
}

#[test]
fn a_type_graph_refuses_is_one_request_and_graphs_words() {
    let emu = emulator(false);
    let dir = tempfile::tempdir().unwrap();
    let webp = file(dir.path(), "photo.webp");
    let out = fbup(&emu)
        .args(["upload", "--no-resume", "--app-id", "1234"])
        .arg(&webp)
        .output()
        .unwrap();
    let stderr = err(&out);
    assert_eq!(out.status.code(), Some(16), "{stderr}");
    assert!(
        stderr.contains("(#100) Param file_type must be one of {"),
        "{stderr}"
    );
    assert!(
        stderr.contains("give --type as one of the types Graph lists"),
        "{stderr}"
    );
    let creates = emu
        .requests()
        .iter()
        .filter(|r| r.kind == Some(RequestKind::Create))
        .count();
    assert_eq!(creates, 1);
    // A session Graph does not know: the library's advice, in the command's output too.
    let png = file(dir.path(), "a.png");
    let out = fbup(&emu)
        .args(["resume", "--no-resume", "--app-id", "1234"])
        .args(["upload:MTpub3NlY3JldA==?sig=ARnope"])
        .arg(&png)
        .output()
        .unwrap();
    let stderr = err(&out);
    assert_eq!(out.status.code(), Some(16), "{stderr}");
    assert!(stderr.contains("it is unknown or has expired"), "{stderr}");
    assert!(
        stderr.contains("start a new upload of the file"),
        "{stderr}"
    );
}
