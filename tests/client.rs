//! One client, many sessions: they share the connection pool (one handshake per pooled
//! connection, not per file) and the token holder, from any threads at once; a cut, a
//! stall or a cancel of one never disturbs another's connection.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fbup::{CancelHandle, Client, Config, Session, Source, Status};
use fbup_emulator::{AfterStall, Emulator, Fault, FaultRule, RandomFaults, RequestKind};

const T1: &str = "EAAclient-first-token";
const T2: &str = "EAAclient-second-token";

fn emulator(random: Option<RandomFaults>) -> Emulator {
    Emulator::start(fbup_emulator::Config {
        tokens: vec![T1.into(), T2.into()],
        random_faults: random,
        ..Default::default()
    })
    .unwrap()
}

fn config(emu: &Emulator) -> Config {
    let mut c = Config::new("1234", T1);
    c.graph_url = emu.url().to_string();
    c.retry_base = Duration::from_millis(5);
    c.retry_cap = Duration::from_millis(50);
    c.max_attempts = 20;
    c.stall_timeout = Duration::from_millis(800);
    c.response_timeout = Duration::from_secs(2);
    c
}

fn upload(client: &Client, path: &std::path::Path) -> Session {
    let mut s = client
        .open(Source::File(path.into()), None, &CancelHandle::new())
        .unwrap();
    s.upload(&mut |_, _| true).unwrap();
    s
}

#[test]
fn sessions_of_one_client_share_its_connections() {
    let emu = emulator(None);
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(&config(&emu)).unwrap();
    for i in 0..10 {
        let (path, sha) = common::test_file(dir.path(), &format!("p{i}.png"), 200_000);
        let s = upload(&client, &path);
        assert_eq!(
            emu.session(s.id()).unwrap().sha256.as_deref(),
            Some(sha.as_str())
        );
    }
    let shared = emu.connections();
    // A session of its own for each file: a connection each.
    let before = emu.connections();
    for i in 0..3 {
        let (path, _) = common::test_file(dir.path(), &format!("q{i}.png"), 1000);
        Session::create(&config(&emu), &path)
            .unwrap()
            .upload(&mut |_, _| true)
            .unwrap();
    }
    eprintln!(
        "10 files through one client: {shared} connection(s); 3 sessions of their own: {}",
        emu.connections() - before
    );
    assert_eq!(shared, 1, "one connection for ten files");
    assert_eq!(emu.connections() - before, 3);
}

#[test]
fn eight_threads_through_one_client_under_random_faults_are_byte_exact() {
    let emu = emulator(Some(RandomFaults {
        seed: 20261202,
        rate: 0.2,
        stall_ms: 1200,
    }));
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(&config(&emu)).unwrap();
    let files: Vec<_> = (0..24)
        .map(|i| common::test_file(dir.path(), &format!("f{i}.mp4"), 50_000 + i * 37_001))
        .collect();
    let files = Arc::new(files);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (client, files) = (client.clone(), files.clone());
            std::thread::spawn(move || {
                let mut done = Vec::new();
                for (path, sha) in files.iter().skip(t).step_by(8) {
                    let s = upload(&client, path);
                    done.push((s.id().to_string(), sha.clone()));
                }
                done
            })
        })
        .collect();
    let mut uploaded = 0;
    for t in threads {
        for (id, sha) in t.join().unwrap() {
            let held = emu.session(&id).unwrap();
            assert_eq!(held.sha256.as_deref(), Some(sha.as_str()), "{id}");
            uploaded += 1;
        }
    }
    assert_eq!(uploaded, 24);
    eprintln!(
        "24 files from 8 threads: {} faults, {} connections",
        emu.faults_injected(),
        emu.connections()
    );
    assert!(emu.faults_injected() >= 3, "faults struck");
}

#[test]
fn a_cancel_of_one_session_leaves_the_others_connection_alone() {
    let emu = emulator(None);
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&emu);
    c.stall_timeout = Duration::from_secs(20);
    let client = Client::new(&c).unwrap();
    let (stalled, _) = common::test_file(dir.path(), "stalled.mp4", 3_000_000);
    let (other, other_sha) = common::test_file(dir.path(), "other.mp4", 6_000_000);
    // The first session's upload stalls for 15 s after 1 MB.
    let cancel = CancelHandle::new();
    let mut s = client
        .open(Source::File(stalled.clone()), None, &cancel)
        .unwrap();
    emu.add_fault(FaultRule {
        session: Some(s.id().to_string()),
        ..FaultRule::once(
            RequestKind::Upload,
            Fault::Stall {
                after_bytes: 1_000_000,
                millis: 15_000,
                then: AfterStall::Close,
            },
        )
    });
    let canceller = cancel.clone();
    let stalled_thread = std::thread::spawn(move || {
        let e = s.upload(&mut |_, _| true).unwrap_err();
        (e.status, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(500));
    // The other session uploads through the same pool meanwhile, at full speed.
    let t = Instant::now();
    let o = upload(&client, &other);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (status, returned) = stalled_thread.join().unwrap();
    assert_eq!(status, Status::Cancelled);
    assert!(returned.duration_since(cancelled_at) < Duration::from_secs(1));
    assert_eq!(
        emu.session(o.id()).unwrap().sha256.as_deref(),
        Some(other_sha.as_str())
    );
    // The pool still works for the next file.
    let (next, next_sha) = common::test_file(dir.path(), "next.png", 100_000);
    let n = upload(&client, &next);
    assert_eq!(
        emu.session(n.id()).unwrap().sha256.as_deref(),
        Some(next_sha.as_str())
    );
}

#[test]
fn a_token_refreshed_by_one_session_is_the_one_the_next_sends() {
    let emu = emulator(None);
    let dir = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let mut c = config(&emu);
    let counter = calls.clone();
    c.token_refresh = Some(Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Some(T2.to_string())
    }));
    let client = Client::new(&c).unwrap();
    emu.revoke_token(T1);
    for i in 0..3 {
        let (path, sha) = common::test_file(dir.path(), &format!("t{i}.png"), 100_000);
        let s = upload(&client, &path);
        assert_eq!(
            emu.session(s.id()).unwrap().sha256.as_deref(),
            Some(sha.as_str())
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one refresh serves every session"
    );
}

/// A client pointer the test's threads share (the `fbup_client_*` calls may run on one
/// client from any number of threads).
#[derive(Clone, Copy)]
struct SharedClient(*const fbup::ffi::fbup_client);
// SAFETY: fbup_client is documented safe to use from several threads at once.
unsafe impl Send for SharedClient {}

#[test]
fn eight_threads_through_one_c_client_are_byte_exact_and_share_connections() {
    use fbup::ffi::*;
    use std::ffi::{CStr, CString};
    let emu = emulator(Some(RandomFaults {
        seed: 7,
        rate: 0.15,
        stall_ms: 1200,
    }));
    let dir = tempfile::tempdir().unwrap();
    let strings = common::CConfig::new("1234", T1, emu.url());
    let mut cfg = strings.config();
    cfg.retry_base_ms = 5;
    cfg.retry_cap_ms = 50;
    cfg.max_attempts = 20;
    cfg.stall_timeout_ms = 800;
    cfg.response_timeout_ms = 2000;
    let mut client = std::ptr::null_mut();
    // SAFETY: a valid config and out-pointer; the client is freed at the end.
    assert_eq!(unsafe { fbup_client_new(&cfg, &mut client) }, FBUP_OK);
    let shared = SharedClient(client);
    let files: Vec<_> = (0..16)
        .map(|i| common::test_file(dir.path(), &format!("c{i}.png"), 40_000 + i * 21_011))
        .collect();
    let files = Arc::new(files);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let files = files.clone();
            std::thread::spawn(move || {
                let client = shared;
                let mut done = Vec::new();
                for (path, sha) in files.iter().skip(t).step_by(8) {
                    let p = CString::new(path.to_str().unwrap()).unwrap();
                    let mut s = std::ptr::null_mut();
                    // SAFETY: a live client, path and out-pointer; the session is freed.
                    unsafe {
                        let st = fbup_client_create_session(
                            client.0,
                            p.as_ptr(),
                            std::ptr::null(),
                            &mut s,
                        );
                        assert_eq!(
                            st,
                            FBUP_OK,
                            "{}",
                            CStr::from_ptr(fbup_errmsg(s)).to_string_lossy()
                        );
                        let st = fbup_upload(s, None, std::ptr::null_mut());
                        assert_eq!(
                            st,
                            FBUP_OK,
                            "{}",
                            CStr::from_ptr(fbup_errmsg(s)).to_string_lossy()
                        );
                        let id = CStr::from_ptr(fbup_session_id(s))
                            .to_string_lossy()
                            .into_owned();
                        fbup_free(s);
                        done.push((id, sha.clone()));
                    }
                }
                done
            })
        })
        .collect();
    let mut n = 0;
    for t in threads {
        for (id, sha) in t.join().unwrap() {
            assert_eq!(
                emu.session(&id).unwrap().sha256.as_deref(),
                Some(sha.as_str())
            );
            n += 1;
        }
    }
    assert_eq!(n, 16);
    eprintln!(
        "16 files from 8 threads through one fbup_client: {} faults, {} connections",
        emu.faults_injected(),
        emu.connections()
    );
    // A client that cannot be made says why, and makes no session.
    let bad = common::CConfig::new("", T1, emu.url());
    let mut broken = std::ptr::null_mut();
    // SAFETY: as above; both clients are freed.
    unsafe {
        assert_eq!(fbup_client_new(&bad.config(), &mut broken), FBUP_E_ARGUMENT);
        let why = CStr::from_ptr(fbup_client_errmsg(broken))
            .to_string_lossy()
            .into_owned();
        assert!(why.contains("app_id"), "{why}");
        let p = CString::new(files[0].0.to_str().unwrap()).unwrap();
        let mut s = std::ptr::null_mut();
        assert_eq!(
            fbup_client_create_session(broken, p.as_ptr(), std::ptr::null(), &mut s),
            FBUP_E_STATE
        );
        fbup_free(s);
        fbup_client_free(broken);
        fbup_client_free(client);
        fbup_client_free(std::ptr::null_mut());
    }
}

/// The bytes a reader test serves, at any offset.
extern "C" fn read_bytes(
    user: *mut std::ffi::c_void,
    offset: u64,
    buf: *mut u8,
    len: usize,
) -> i64 {
    // SAFETY: the test passes a Vec<u8> that outlives every session reading it.
    let data = unsafe { &*(user as *const Vec<u8>) };
    let start = (offset as usize).min(data.len());
    let n = len.min(data.len() - start);
    // SAFETY: fbup hands a buffer of `len` writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(data[start..].as_ptr(), buf, n) };
    n as i64
}

extern "C" fn stop_at_a_third(_: *mut std::ffi::c_void, done: u64, total: u64) -> i32 {
    i32::from(done * 3 >= total)
}

#[test]
fn a_reader_session_of_a_c_client_is_cancelled_then_resumed_from_its_id() {
    use fbup::ffi::*;
    use std::ffi::{CStr, CString};
    let emu = emulator(None);
    let strings = common::CConfig::new("1234", T1, emu.url());
    let cfg = strings.config();
    let mut client = std::ptr::null_mut();
    let data = common::test_bytes(3_000_000);
    let user = &data as *const Vec<u8> as *mut std::ffi::c_void;
    let (name, kind) = (
        CString::new("mem.mp4").unwrap(),
        CString::new("video/mp4").unwrap(),
    );
    // SAFETY: a valid config, strings, callbacks and out-pointers; every handle is freed.
    unsafe {
        assert_eq!(fbup_client_new(&cfg, &mut client), FBUP_OK);
        let mut s = std::ptr::null_mut();
        let st = fbup_client_create_session_reader(
            client,
            name.as_ptr(),
            kind.as_ptr(),
            data.len() as u64,
            Some(read_bytes),
            user,
            std::ptr::null(),
            &mut s,
        );
        assert_eq!(st, FBUP_OK);
        assert_eq!(
            fbup_upload(s, Some(stop_at_a_third), std::ptr::null_mut()),
            FBUP_E_CANCELLED
        );
        let id = CString::new(CStr::from_ptr(fbup_session_id(s)).to_bytes()).unwrap();
        fbup_free(s);
        let mut r = std::ptr::null_mut();
        let st = fbup_client_resume_session_reader(
            client,
            name.as_ptr(),
            kind.as_ptr(),
            data.len() as u64,
            Some(read_bytes),
            user,
            id.as_ptr(),
            std::ptr::null(),
            &mut r,
        );
        assert_eq!(
            st,
            FBUP_OK,
            "{}",
            CStr::from_ptr(fbup_errmsg(r)).to_string_lossy()
        );
        assert_eq!(fbup_upload(r, None, std::ptr::null_mut()), FBUP_OK);
        let held = emu.session(id.to_str().unwrap()).unwrap();
        assert_eq!(
            held.sha256.as_deref(),
            Some(common::sha256_hex(&data).as_str())
        );
        assert_eq!(held.file_name, "mem.mp4");
        fbup_free(r);
        fbup_client_free(client);
    }
}

/// A client's `max_send_rate` is the client's, not each session's: four sessions of
/// 500,000 bytes at once through a client limited to 1,000,000 bytes a second take at
/// least about 2 s all together (each session alone would be allowed 1,000,000, and the
/// four would end in about 0.5 s). A lower bound only: a slow machine makes it longer.
#[test]
fn a_clients_send_rate_is_shared_by_its_sessions() {
    let emu = emulator(None);
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&emu);
    c.max_send_rate = 1_000_000;
    c.send_buffer = 64 * 1024;
    let client = Client::new(&c).unwrap();
    let files: Vec<_> = (0..4)
        .map(|i| common::test_file(dir.path(), &format!("r{i}.png"), 500_000))
        .collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (path, _) in &files {
            let client = &client;
            scope.spawn(move || upload(client, path));
        }
    });
    let took = started.elapsed();
    for (_, sha) in &files {
        assert!(emu
            .sessions()
            .iter()
            .any(|s| s.sha256.as_ref() == Some(sha)));
    }
    // 2,000,000 bytes at 1,000,000 a second, less the one send buffer of burst each
    // pacer may start with.
    assert!(
        took >= Duration::from_millis(1_600),
        "4 x 500,000 bytes at a shared 1,000,000 B/s took {took:?}"
    );
}
