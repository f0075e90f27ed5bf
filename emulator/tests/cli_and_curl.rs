//! The emulator's binary, and the documentation's own curl samples against it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;

/// The running binary; killed when dropped.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_binary(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fbup-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the emulator binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("fbup-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Running { child, url }
}

#[test]
fn binary_prints_its_address_and_applies_fault_flags() {
    let emu = run_binary(&[
        "--port",
        "0",
        "--token",
        TOKEN,
        "--offset-as-string",
        "--fault",
        "upload,cut-after=1000",
    ]);
    let bytes = data(5000, 9);
    let id = create(&emu.url, 5000, "image/png");
    assert!(raw_upload(&emu.url, &id, 0, &bytes).is_empty());
    assert_eq!(offset(&emu.url, &id).body["file_offset"], "1000");
    let a = upload(&emu.url, &id, 1000, &bytes[1000..]);
    assert!(a.body["h"].is_string(), "{}", a.body);
    let list = get(&format!("{}/_emulator/sessions", emu.url), &[]);
    assert_eq!(list.body[0]["sha256"], sha256_hex(&bytes).as_str());
}

#[test]
fn binary_rejects_bad_fault_specs() {
    let out = Command::new(env!("CARGO_BIN_EXE_fbup-emulator"))
        .args(["--fault", "upload,explode"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key 'explode'"), "{err}");
}

#[path = "../../tests/common/skip.rs"]
#[allow(dead_code)]
mod skip;

fn curl_available() -> bool {
    skip::have("curl", "--version")
}

fn curl(args: &[&str]) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// The requests of Meta's Resumable Upload API page, as written there, with the host
/// swapped for the emulator's.
#[test]
fn the_documentation_curl_samples_work() {
    if !curl_available() {
        return;
    }
    let emu = run_binary(&["--port", "0", "--token", TOKEN]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sample.pdf");
    let bytes = data(123_457, 11);
    std::fs::write(&file, &bytes).unwrap();
    let base = format!("{}/v24.0", emu.url);

    // Step 1, with the token in the query.
    let (code, body) = curl(&[
        "-X",
        "POST",
        &format!(
            "{base}/1234/uploads?file_name=sample.pdf&file_length={}&file_type=application/pdf&access_token={TOKEN}",
            bytes.len()
        ),
    ]);
    assert_eq!(code, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("upload:") && id.contains("?sig="), "{id}");

    // The interruption check, token joined with '&', before anything was sent.
    let (code, body) = curl(&["-X", "GET", &format!("{base}/{id}&access_token={TOKEN}")]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["file_offset"], 0);

    // Step 2, with the header form of the token and --data-binary.
    let auth = format!("Authorization: OAuth {TOKEN}");
    let (code, body) = curl(&[
        "-X",
        "POST",
        &format!("{base}/{id}"),
        "--header",
        &auth,
        "--header",
        "file_offset: 0",
        "--data-binary",
        &format!("@{}", file.display()),
    ]);
    assert_eq!(code, 200, "{body}");
    let h = body["h"].as_str().unwrap();
    assert!(h.starts_with("4::"), "{h}");

    let (code, body) = curl(&["-X", "GET", &format!("{base}/{id}"), "--header", &auth]);
    assert_eq!(code, 200);
    assert_eq!(body["file_offset"], bytes.len());
    let (_, list) = curl(&[&format!("{}/_emulator/sessions", emu.url)]);
    assert_eq!(list[0]["sha256"], sha256_hex(&bytes).as_str());

    // A percent-encoded id is what real Graph refuses with code 100, subcode 33.
    let encoded = id
        .replace(':', "%3A")
        .replace('?', "%3F")
        .replace('=', "%3D");
    let (code, body) = curl(&["-X", "GET", &format!("{base}/{encoded}"), "--header", &auth]);
    assert_eq!(code, 400);
    assert_eq!(body["error"]["error_subcode"], 33);
}
