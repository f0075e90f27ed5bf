//! TLS verified by default, a private CA through `ca_file`, no redirects followed,
//! hostile answers refused before use, and the token kept out of every message.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fbup::{Config, Session, Status};
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind};

const TOKEN: &str = "EAAsecurity-secret-token";

use common::Pki;

fn file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, (0..len).map(|i| (i % 241) as u8).collect::<Vec<_>>()).unwrap();
    path
}

fn config(url: &str) -> Config {
    let mut c = Config::new("1234", TOKEN);
    c.graph_url = url.to_string();
    c.retry_base = Duration::from_millis(5);
    c.max_attempts = 3;
    c.stall_timeout = Duration::from_secs(5);
    c
}

#[test]
fn https_with_a_private_ca_uploads_and_resumes() {
    let pki = Pki::new();
    let emu = pki.emulator();
    assert!(emu.url().starts_with("https://127.0.0.1:"));
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 1_000_000 },
    ));
    let path = file(pki.dir.path(), "tls.mp4", 3_000_000);
    let mut c = config(emu.url());
    c.ca_file = Some(pki.path("ca.pem"));
    let mut s = Session::create(&c, &path).unwrap();
    s.upload(&mut |_, _| true).unwrap();
    let info = emu.session(s.id()).unwrap();
    assert!(info.complete && info.upload_requests >= 2);
    assert_eq!(
        emu.session_bytes(s.id()).unwrap(),
        std::fs::read(&path).unwrap()
    );
}

#[test]
fn an_untrusted_certificate_is_a_network_error_that_names_verification() {
    let pki = Pki::new();
    let emu = pki.emulator();
    let path = file(pki.dir.path(), "a.png", 100);
    let e = Session::create(&config(emu.url()), &path).unwrap_err();
    assert_eq!(e.status, Status::Network, "{}", e.message);
    assert!(e.message.contains("certificate"), "{}", e.message);
    // Trying again cannot change a certificate: one connection, and the advice
    // names what can (the CA file), not the network.
    assert_eq!(emu.connections(), 1, "not retried: {}", e.message);
    assert!(e.message.contains("ca_file"), "{}", e.message);
    assert!(!e.message.contains("check the network"), "{}", e.message);
    assert!(emu.sessions().is_empty());
    // Another CA does not help either.
    let other = Pki::new();
    let mut c = config(emu.url());
    c.ca_file = Some(other.path("ca.pem"));
    let e = Session::create(&c, &path).unwrap_err();
    assert_eq!(e.status, Status::Network);
    assert_eq!(emu.connections(), 2, "not retried: {}", e.message);
    // A ca_file that is no PEM is refused before any connection.
    c.ca_file = Some(path.clone());
    let e = Session::create(&c, &path).unwrap_err();
    assert_eq!(e.status, Status::Argument);
    assert!(e.message.contains("no PEM certificate"), "{}", e.message);
}

#[test]
fn plain_http_is_refused_for_hosts_that_are_not_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let e = Session::create(&config("http://graph.example.invalid"), &path).unwrap_err();
    assert_eq!(e.status, Status::Argument);
    assert!(e.message.contains("clear text"), "{}", e.message);
}

/// A server that answers every request with `answer` and counts the requests.
struct Hostile {
    url: String,
    requests: Arc<AtomicUsize>,
}

fn hostile(answer: impl Fn(usize) -> Vec<u8> + Send + 'static) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            // Read the request head and any Content-Length body, then answer.
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(&answer(n));
        }
    });
    Hostile { url, requests }
}

fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn redirects_are_not_followed_and_the_token_stays_home() {
    let elsewhere = hostile(|_| http("200 OK", "", b"{\"id\":\"upload:x?sig=AR\"}"));
    let target = format!("{}/v24.0/1234/uploads", elsewhere.url);
    let server = hostile(move |_| http("302 Found", &format!("Location: {target}\r\n"), b""));
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let e = Session::create(&config(&server.url), &path).unwrap_err();
    assert_eq!(e.status, Status::Protocol, "{}", e.message);
    assert!(e.message.contains("redirect"), "{}", e.message);
    assert_eq!(e.http_status, 302);
    assert_eq!(
        elsewhere.requests.load(Ordering::SeqCst),
        0,
        "nothing went to the other host"
    );
}

#[test]
fn hostile_answers_are_refused_before_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let long_id = format!("{{\"id\":\"upload:{}?sig=AR\"}}", "A".repeat(5000));
    let big_h = format!("{{\"h\":\"{}\"}}", "h".repeat(70_000));
    let huge = vec![b' '; 2 * 1024 * 1024];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "CRLF in the id",
            http("200 OK", "", br#"{"id":"upload:abc\r\nX-Evil: 1?sig=AR"}"#),
        ),
        (
            "space in the id",
            http("200 OK", "", br#"{"id":"upload:a b?sig=AR"}"#),
        ),
        (
            "dot-dot in the id",
            http("200 OK", "", br#"{"id":"upload:../../me?sig=AR"}"#),
        ),
        ("not an upload id", http("200 OK", "", br#"{"id":"12345"}"#)),
        ("id over 4 KiB", http("200 OK", "", long_id.as_bytes())),
        ("no JSON", http("200 OK", "", b"<html>hello</html>")),
        ("body over 1 MiB", http("200 OK", "", &huge)),
    ];
    for (what, answer) in cases {
        let server = hostile(move |_| answer.clone());
        let e = Session::create(&config(&server.url), &path).unwrap_err();
        assert_eq!(e.status, Status::Protocol, "{what}: {}", e.message);
    }
    // A handle over 64 KiB: create and offset answer well, the upload does not.
    let id = r#"{"id":"upload:abc?sig=AR"}"#;
    let server = hostile(move |n| match n {
        0 => http("200 OK", "", id.as_bytes()),
        _ => http("200 OK", "", big_h.as_bytes()),
    });
    let mut s = Session::create(&config(&server.url), &path).unwrap();
    let e = s.upload(&mut |_, _| true).unwrap_err();
    assert_eq!(e.status, Status::Protocol, "{}", e.message);
    assert!(e.message.contains("65536"), "{}", e.message);
}

#[test]
fn the_token_appears_in_no_message_or_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let png = file(dir.path(), "a.png", 1000);
    let mut messages = Vec::new();
    let emu = Emulator::start(fbup_emulator::Config {
        tokens: vec![TOKEN.into()],
        ..Default::default()
    })
    .unwrap();
    fn shown(r: Result<Session, fbup::Error>) -> String {
        match r {
            Ok(s) => format!("{s:?}"),
            Err(e) => format!("{e:?} {e}"),
        }
    }
    let mut push = |r| messages.push(shown(r));
    // Failure paths: bad input, refused token, unknown session, throttling spent,
    // a permanent Graph error, a dead server, TLS refused, a hostile server.
    push(Session::create(
        &config(emu.url()),
        &dir.path().join("missing.png"),
    ));
    push(Session::create(
        &config(emu.url()),
        &file(dir.path(), "x.unknownext", 10),
    ));
    let mut wrong = config(emu.url());
    wrong.access_token = format!("{TOKEN}-but-wrong");
    push(Session::create(&wrong, &png));
    push(Session::resume(
        &config(emu.url()),
        &png,
        "upload:nope?sig=ARx",
    ));
    push(Session::create(&config("http://127.0.0.1:1"), &png));
    emu.add_fault(FaultRule::always(RequestKind::Upload, Fault::throttled()));
    let mut s = Session::create(&config(emu.url()), &png).unwrap();
    let e = s.upload(&mut |_, _| true).unwrap_err();
    push(Err(e));
    push(Ok(s));
    let pki = Pki::new();
    let tls = pki.emulator();
    push(Session::create(&config(tls.url()), &png));
    let server = hostile(|_| http("500 Internal Server Error", "", b"oops"));
    push(Session::create(&config(&server.url), &png));
    let config_shown = format!("{:?}", config(emu.url()));
    messages.push(config_shown);
    assert!(messages.len() >= 10);
    for m in &messages {
        assert!(!m.contains(TOKEN), "the token leaked: {m}");
    }
    // And the emulator saw it only in the Authorization header.
    for r in emu.requests() {
        assert!(
            !r.path_and_query.contains("access_token"),
            "{}",
            r.path_and_query
        );
    }
}

#[test]
fn a_file_offset_header_lost_on_the_way_is_named() {
    let id = r#"{"id":"upload:abc?sig=AR"}"#;
    let lost = br#"{"error":{"message":"(#100) The header file_offset is required","type":"OAuthException","code":100}}"#;
    let server = hostile(move |n| match n {
        0 => http("200 OK", "", id.as_bytes()),
        _ => http("400 Bad Request", "", lost),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let mut s = Session::create(&config(&server.url), &path).unwrap();
    let e = s.upload(&mut |_, _| true).unwrap_err();
    assert_eq!(e.status, Status::Graph);
    assert!(
        e.message.contains("file_offset header did not reach Graph"),
        "{}",
        e.message
    );
}

#[test]
fn hostile_answers_to_the_offset_request_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let huge = vec![b' '; 2 * 1024 * 1024];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("body over 1 MiB", http("200 OK", "", &huge)),
        ("not JSON", http("200 OK", "", b"offset: 10")),
        (
            "no file_offset",
            http("200 OK", "", br#"{"id":"upload:abc?sig=AR"}"#),
        ),
        (
            "negative file_offset",
            http(
                "200 OK",
                "",
                br#"{"id":"upload:abc?sig=AR","file_offset":-5}"#,
            ),
        ),
        (
            "file_offset past the file's length",
            http(
                "200 OK",
                "",
                br#"{"id":"upload:abc?sig=AR","file_offset":"101"}"#,
            ),
        ),
        (
            "file_offset past u64",
            http(
                "200 OK",
                "",
                br#"{"id":"upload:abc?sig=AR","file_offset":18446744073709551616}"#,
            ),
        ),
    ];
    for (what, answer) in cases {
        let server = hostile(move |_| answer.clone());
        let e = Session::resume(&config(&server.url), &path, "upload:abc?sig=AR").unwrap_err();
        assert_eq!(e.status, Status::Protocol, "{what}: {}", e.message);
    }
}

/// A trace that keeps every line with its level.
fn tracing(c: &mut Config, level: fbup::Level) -> Arc<Mutex<Vec<(fbup::Level, String)>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    c.log = Some(Arc::new(move |l, line: &str| {
        sink.lock().unwrap().push((l, line.to_string()))
    }));
    c.log_level = level;
    lines
}

#[test]
fn the_trace_at_debug_never_holds_a_token_in_success_or_failure() {
    const REFRESHED: &str = "EAArefreshed-secret-token";
    let pki = Pki::new();
    let emu = pki.emulator();
    let path = file(pki.dir.path(), "trace.mp4", 2_000_000);
    let mut c = config(emu.url());
    c.ca_file = Some(pki.path("ca.pem"));
    c.token_refresh = Some(Arc::new(|| Some(REFRESHED.to_string())));
    let lines = tracing(&mut c, fbup::Level::Debug);

    // Success: a cut, a server that echoes the token in its error, a refused token
    // that a refresh replaces.
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 500_000 },
    ));
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Respond {
            status: 500,
            error: Some(fbup_emulator::ErrorSpec {
                message: format!("temporary failure for OAuth {TOKEN}"),
                error_type: "OAuthException".into(),
                code: 2,
                subcode: None,
                is_transient: true,
            }),
            headers: vec![("Retry-After".into(), "0".into())],
        },
    ));
    emu.add_fault(
        "upload,status=401,code=190,subcode=463"
            .parse::<FaultRule>()
            .unwrap(),
    );
    let mut s = Session::create(&c, &path).unwrap();
    s.upload(&mut |_, _| true).unwrap();
    assert_eq!(
        emu.session_bytes(s.id()).unwrap(),
        std::fs::read(&path).unwrap()
    );

    // Failure: the token is refused and no refresh helps.
    c.token_refresh = Some(Arc::new(|| Some(REFRESHED.to_string())));
    let mut failing = Session::create(&c, &path).unwrap();
    emu.add_fault(
        "upload,status=401,code=190,times=always"
            .parse::<FaultRule>()
            .unwrap(),
    );
    let e = failing.upload(&mut |_, _| true).unwrap_err();
    assert_eq!(e.status, Status::Auth, "{}", e.message);

    let lines = lines.lock().unwrap();
    let text: Vec<String> = lines.iter().map(|(l, s)| format!("{l}: {s}")).collect();
    for l in &text {
        eprintln!("    {l}");
    }
    for l in &text {
        assert!(
            !l.contains(TOKEN) && !l.contains(REFRESHED),
            "token in: {l}"
        );
    }
    let all = text.join("\n");
    // The blotted-out echo proves the search would have found it.
    assert!(all.contains("temporary failure for OAuth <token>"), "echo");
    for must in [
        "TLS handshake with 127.0.0.1",
        "connected to 127.0.0.1",
        "reused the open connection",
        "asking the token callback",
        "x-fb-trace-id: ",
        "fbtrace_id: ",
        "retry-after: 0",
        "error: failed (auth)",
    ] {
        assert!(all.contains(must), "the trace lacks '{must}'");
    }
}
