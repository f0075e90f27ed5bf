//! Hostile answers and input, each against a stand-in server of the test's own: the
//! token never in a message (nor a piece of it), every wait bounded as a whole, every
//! path safe to open, every handle byte-exact or refused.

mod common;

use std::ffi::{CStr, CString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fbup::ffi::*;
use fbup::{Config, Session, Status};

const TOKEN: &str = "EAAhostile0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

/// A server that reads each request (head and body) and hands the stream to `answer`
/// with the request's number.
struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
}

fn server(answer: impl Fn(usize, &mut TcpStream) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (counter, answer) = (counter.clone(), answer.clone());
            std::thread::spawn(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                read_request(&stream);
                answer(n, &mut stream);
            });
        }
    });
    Server { url, requests }
}

fn read_request(stream: &TcpStream) {
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
}

fn http(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, common::test_bytes(len)).unwrap();
    path
}

fn config(url: &str) -> Config {
    let mut c = Config::new("1234", TOKEN);
    c.graph_url = url.to_string();
    c.retry_base = Duration::from_millis(5);
    c.max_attempts = 2;
    c.stall_timeout = Duration::from_secs(2);
    c.response_timeout = Duration::from_secs(1);
    c
}

/// True when `text` holds the token or any 12 characters of it in a row.
fn leaks(text: &str) -> bool {
    (0..=TOKEN.len() - 12).any(|i| text.contains(&TOKEN[i..i + 12]))
}

#[test]
fn a_token_graph_quotes_back_is_in_no_message_field_or_c_string() {
    // Graph quotes a bad token back in the message; a hostile one in type and
    // fbtrace_id too, and a code-100 message names access_token=...
    let body = format!(
        r#"{{"error":{{"message":"Malformed access token {TOKEN} (access_token={TOKEN})","type":"OAuthException {TOKEN}","code":190,"fbtrace_id":"{TOKEN}"}}}}"#
    );
    let s = server(move |_, st| {
        let _ = st.write_all(&http("400 Bad Request", &body));
    });
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let e = Session::create(&config(&s.url), &path).unwrap_err();
    assert_eq!(e.status, Status::Auth, "{}", e.message);
    let g = e.graph.as_ref().unwrap();
    for (what, text) in [
        ("message", e.message.as_str()),
        ("graph message", g.message.as_str()),
        ("type", g.error_type.as_str()),
        ("fbtrace_id", g.fbtrace_id.as_str()),
        ("debug", &format!("{e:?}")),
    ] {
        assert!(!leaks(text), "the token is in the {what}: {text}");
    }
    assert!(
        e.message.contains("Malformed access token <token>"),
        "{}",
        e.message
    );

    // The same through the C ABI: fbup_errmsg and every fbup_error_info string.
    let strings = common::CConfig::new("1234", TOKEN, &s.url);
    let cfg = strings.config();
    let c_path = CString::new(path.to_str().unwrap()).unwrap();
    let mut session = std::ptr::null_mut();
    // SAFETY: valid config and path; every string read is owned by the session,
    // which is freed last.
    unsafe {
        assert_eq!(
            fbup_create_session(&cfg, c_path.as_ptr(), &mut session),
            FBUP_E_AUTH
        );
        let msg = CStr::from_ptr(fbup_errmsg(session))
            .to_string_lossy()
            .into_owned();
        let mut info = std::mem::zeroed::<fbup_error>();
        assert_eq!(fbup_error_info(session, &mut info), FBUP_OK);
        for (what, p) in [
            ("errmsg", fbup_errmsg(session)),
            ("message", info.message),
            ("graph_type", info.graph_type),
            ("fbtrace_id", info.fbtrace_id),
        ] {
            let text = CStr::from_ptr(p).to_string_lossy();
            assert!(!leaks(&text), "the token is in {what}: {text}");
        }
        assert!(msg.contains("<token>"), "{msg}");
        fbup_free(session);
    }
}

#[test]
fn pieces_of_the_token_left_by_a_cut_are_not_in_the_trace() {
    // A long HTML answer from a proxy, the token far enough in that the 80-character
    // snippet cuts it.
    let html = format!("<html><body>{} {TOKEN} </body></html>", "x".repeat(40));
    let s = server(move |_, st| {
        let _ = st.write_all(&http("502 Bad Gateway", &html));
    });
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let mut c = config(&s.url);
    c.log = Some(Arc::new(move |_, l: &str| {
        sink.lock().unwrap().push(l.into())
    }));
    let e = Session::create(&c, &path).unwrap_err();
    let all = lines.lock().unwrap().join("\n");
    assert!(all.contains("HTTP 502"), "{all}");
    assert!(!leaks(&all), "a piece of the token is in the trace:\n{all}");
    assert!(!leaks(&e.message), "{}", e.message);
}

#[test]
fn an_answer_trickled_a_byte_at_a_time_is_cut_off_by_the_response_timeout() {
    // The head in time, then the body one byte every 300 ms.
    let body = r#"{"id":"upload:abc?sig=ARx"}"#;
    let s = server(move |_, st| {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = st.write_all(head.as_bytes());
        for b in body.bytes() {
            if st.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let t = Instant::now();
    let e = Session::create(&config(&s.url), &path).unwrap_err();
    assert_eq!(e.status, Status::Timeout, "{}", e.message);
    // Two attempts of a 1 s answer timeout each, and a short wait between.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Headers trickled the same way.
    let s = server(move |_, st| {
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Slow: yes\r\n\r\n{}" {
            if st.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let t = Instant::now();
    let e = Session::create(&config(&s.url), &path).unwrap_err();
    assert_eq!(e.status, Status::Timeout, "{}", e.message);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_handle_with_a_nul_or_a_control_character_is_refused_not_altered() {
    for bad in [r"4::good\u0000evil", r"4::a\u001b[31mred", r"4::a\rb"] {
        let h = format!(r#"{{"h":"{bad}"}}"#);
        let s = server(move |n, st| {
            let answer = match n {
                0 => http("200 OK", r#"{"id":"upload:abc?sig=ARx"}"#),
                _ => http("200 OK", &h),
            };
            let _ = st.write_all(&answer);
        });
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "a.png", 100);
        let u = common::c_upload(&common::CConfig::new("1234", TOKEN, &s.url).config(), &path);
        assert_eq!(u.status, FBUP_E_PROTOCOL, "{bad}: {}", u.message);
        assert!(
            u.message.contains("control character"),
            "{bad}: {}",
            u.message
        );
    }
}

#[test]
fn answers_that_are_not_http_are_outside_the_protocol_and_not_retried() {
    let cases: [(&str, &[u8]); 3] = [
        ("a bad status line", b"HTTP/1.1 two hundred OK\r\n\r\n"),
        (
            "conflicting lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
        ),
        (
            "a bad chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        ),
    ];
    for (what, answer) in cases {
        let s = server(move |_, st| {
            let _ = st.write_all(answer);
        });
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "a.png", 100);
        let mut c = config(&s.url);
        c.max_attempts = 5;
        let e = Session::create(&c, &path).unwrap_err();
        assert_eq!(e.status, Status::Protocol, "{what}: {}", e.message);
        assert_eq!(s.requests.load(Ordering::SeqCst), 1, "{what}: not retried");
    }
}

#[test]
fn a_ca_file_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let fifo = dir.path().join("ca.pem");
    let c_fifo = CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
    for ca in [fifo, PathBuf::from("/dev/zero")] {
        let mut c = config("http://127.0.0.1:9");
        c.ca_file = Some(ca.clone());
        let t = Instant::now();
        let e = Session::create(&c, &path).unwrap_err();
        assert_eq!(
            e.status,
            Status::Argument,
            "{}: {}",
            ca.display(),
            e.message
        );
        assert!(e.message.contains("regular file"), "{}", e.message);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
}

#[test]
fn strays_in_the_journal_folder_neither_hang_nor_exhaust_nor_get_deleted() {
    let emu = fbup_emulator::Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::fs::create_dir(&journal).unwrap();
    let fifo = journal.join("stray.json");
    let c_fifo = CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
    let zero = journal.join("0123456789abcdef.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let mine = journal.join("notes.json");
    std::fs::write(&mine, "{\"not\":\"fbup's\"}").unwrap();
    let path = file(dir.path(), "a.png", 100_000);
    let mut c = config(emu.url());
    c.state_dir = Some(journal.clone());
    let t = Instant::now();
    let mut s = Session::create(&c, &path).unwrap();
    s.upload(&mut |_, _| true).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(fbup::journal::list(&journal).is_empty());
    fbup::journal::prune(&journal);
    for kept in [&fifo, &zero, &mine] {
        assert!(
            std::fs::symlink_metadata(kept).is_ok(),
            "{} was deleted",
            kept.display()
        );
    }
}

#[test]
fn a_proxy_off_this_machine_for_plain_http_and_unusable_graph_urls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100);
    let mut c = config("http://127.0.0.1:9");
    c.proxy = Some("http://proxy.example:3128".into());
    let e = Session::create(&c, &path).unwrap_err();
    assert_eq!(e.status, Status::Argument, "{}", e.message);
    assert!(e.message.contains("clear text"), "{}", e.message);
    assert_eq!(e.field, Some(fbup::Field::Proxy));
    c.proxy = Some("http://127.0.0.1:3128".into());
    let e = Session::create(&c, &path).unwrap_err();
    assert_ne!(
        e.status,
        Status::Argument,
        "a proxy on this machine: {}",
        e.message
    );
    for bad in [
        "http://evil.invalid\\@127.0.0.1:9",
        "http://user:s3cr3t@127.0.0.1:9",
        "http://127.0.0.1:9/v\r\nX-Evil: 1",
        "http://127.0.0.1:9/\tv",
    ] {
        let e = Session::create(&config(bad), &path).unwrap_err();
        assert_eq!(e.status, Status::Argument, "{bad:?}: {}", e.message);
        assert!(!e.message.contains("s3cr3t"), "{}", e.message);
    }
}

#[test]
fn a_file_rewritten_in_place_with_its_modification_time_set_back_is_noticed() {
    let emu = fbup_emulator::Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "same.mp4", 3_000_000);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut s = Session::create(&config(emu.url()), &path).unwrap();
    let mut rewritten = false;
    let e = s
        .upload(&mut |done, _| {
            if done > 0 && !rewritten {
                rewritten = true;
                // Same size, other bytes, the old modification time put back.
                let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                use std::os::unix::fs::FileExt;
                f.write_all_at(b"other bytes", 2_000_000).unwrap();
                f.set_modified(mtime).unwrap();
            }
            true
        })
        .unwrap_err();
    assert_eq!(e.status, Status::File, "{}", e.message);
    assert!(e.message.contains("status change time"), "{}", e.message);
}

/// A canceller pointer that a test thread may use (fbup_canceller_cancel is safe from
/// any thread).
struct Shared(*mut fbup_canceller);
// SAFETY: the canceller is made for use from any thread; the test frees it last.
unsafe impl Send for Shared {}

#[test]
fn a_create_through_the_c_abi_is_cancelled_within_a_second_and_the_canceller_stays_behind() {
    // A throttled create that asks for a 30 s wait, then one whose answer never comes.
    let throttled = server(|_, st| {
        let body = r#"{"error":{"message":"(#4) limit","type":"OAuthException","code":4}}"#;
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nRetry-After: 30\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = st.write_all(answer.as_bytes());
    });
    let silent = server(|_, _| std::thread::sleep(Duration::from_secs(60)));
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "a.png", 100_000);
    let c_path = CString::new(path.to_str().unwrap()).unwrap();
    let mut canceller = std::ptr::null_mut();
    // SAFETY: a writable out-pointer.
    assert_eq!(unsafe { fbup_canceller_new(&mut canceller) }, FBUP_OK);
    for url in [&throttled.url, &silent.url] {
        let strings = common::CConfig::new("1234", TOKEN, url);
        let mut cfg = strings.config();
        cfg.canceller = canceller;
        let shared = Shared(canceller);
        let t = std::thread::spawn(move || {
            let shared = shared;
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: the canceller is alive until the end of the test.
            unsafe { fbup_canceller_cancel(shared.0) };
            Instant::now()
        });
        let mut s = std::ptr::null_mut();
        // SAFETY: a valid config, path and out-pointer; the session is freed below.
        let st = unsafe { fbup_create_session(&cfg, c_path.as_ptr(), &mut s) };
        let returned = Instant::now();
        let cancelled_at = t.join().unwrap();
        // SAFETY: the session handed out above.
        let msg = unsafe { CStr::from_ptr(fbup_errmsg(s)) }
            .to_string_lossy()
            .into_owned();
        unsafe { fbup_free(s) };
        assert_eq!(st, FBUP_E_CANCELLED, "{url}: {msg}");
        let late = returned.saturating_duration_since(cancelled_at);
        assert!(
            late < Duration::from_secs(1),
            "{url}: returned {late:?} after the cancel"
        );
    }
    // The canceller is clear again: the next create goes through, and a cancel after
    // it reaches nothing of the session.
    let emu = fbup_emulator::Emulator::start(Default::default()).unwrap();
    let strings = common::CConfig::new("1234", TOKEN, emu.url());
    let mut cfg = strings.config();
    cfg.canceller = canceller;
    let mut s = std::ptr::null_mut();
    // SAFETY: as above; the canceller is freed after the session.
    unsafe {
        assert_eq!(fbup_create_session(&cfg, c_path.as_ptr(), &mut s), FBUP_OK);
        fbup_canceller_cancel(canceller);
        assert_eq!(fbup_upload(s, None, std::ptr::null_mut()), FBUP_OK);
        fbup_free(s);
        fbup_canceller_free(canceller);
        fbup_canceller_free(std::ptr::null_mut());
    }
}
