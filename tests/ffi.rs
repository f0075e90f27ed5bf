//! The C ABI driven from Rust: the contract's rules that are easier to reach from here.

mod common;

use std::ffi::{c_void, CStr, CString};
use std::ptr;
use std::time::{Duration, Instant};

use fbup::ffi::*;
use fbup_emulator::{AfterStall, Emulator, Fault, FaultRule, RequestKind};

const TOKEN: &str = "EAAffi-secret";

fn strings(emu: &Emulator) -> common::CConfig {
    common::CConfig::new("1234", TOKEN, emu.url())
}

fn config(s: &common::CConfig) -> fbup_config {
    s.config()
}

fn errmsg(s: *const fbup_session) -> String {
    unsafe { CStr::from_ptr(fbup_errmsg(s)) }
        .to_string_lossy()
        .into_owned()
}

fn write_file(dir: &tempfile::TempDir, name: &str, len: usize) -> CString {
    let path = dir.path().join(name);
    std::fs::write(&path, vec![42u8; len]).unwrap();
    CString::new(path.to_str().unwrap()).unwrap()
}

#[test]
fn strings_are_copied_so_the_caller_may_free_them_at_once() {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "a.png", 1000);
    let s = strings(&emu);
    let mut cfg = config(&s);
    let name = CString::new("renamed.png").unwrap();
    cfg.file_name = name.as_ptr();
    let mut session = ptr::null_mut();
    assert_eq!(
        unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut session) },
        FBUP_OK
    );
    drop(name);
    drop(s);
    assert_eq!(
        unsafe { fbup_upload(session, None, ptr::null_mut()) },
        FBUP_OK
    );
    assert_eq!(emu.sessions()[0].file_name, "renamed.png");
    let h = unsafe { CStr::from_ptr(fbup_file_handle(session)) };
    assert_eq!(
        h.to_str().unwrap(),
        emu.sessions()[0].handle.as_deref().unwrap()
    );
    unsafe { fbup_free(session) };
}

/// Where the 0.1.0 layout of `fbup_config` ends: after `proxy`, its last field.
const V1_SIZE: usize = std::mem::offset_of!(fbup_config, proxy) + std::mem::size_of::<*const u8>();

extern "C" fn cancel_after_ten_seconds(user: *mut c_void, _done: u64, _total: u64) -> i32 {
    let started = unsafe { &*(user as *const Instant) };
    i32::from(started.elapsed() > Duration::from_secs(10))
}

#[test]
fn a_caller_built_with_the_first_layout_keeps_working() {
    // The 0.1.0 layout exactly, followed by bytes that would read as max_send_rate = 1
    // (one byte a second) if fbup read past struct_size.
    #[repr(C)]
    struct V1Caller {
        cfg: fbup_config,
    }
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "a.png", 300_000);
    let s = strings(&emu);
    let mut caller = V1Caller { cfg: config(&s) };
    caller.cfg.struct_size = V1_SIZE as u32;
    caller.cfg.send_buffer_bytes = 4096;
    caller.cfg.max_send_rate = 1;
    let mut session = ptr::null_mut();
    let st = unsafe { fbup_create_session(&caller.cfg, path.as_ptr(), &mut session) };
    assert_eq!(st, FBUP_OK, "{}", errmsg(session));
    let started = Instant::now();
    let st = unsafe {
        fbup_upload(
            session,
            Some(cancel_after_ten_seconds),
            &started as *const Instant as *mut c_void,
        )
    };
    assert_eq!(
        st,
        FBUP_OK,
        "the limit past struct_size was read: {}",
        errmsg(session)
    );
    assert_eq!(emu.sessions()[0].file_offset, 300_000);
    unsafe { fbup_free(session) };
}

#[test]
fn a_short_struct_size_is_refused_and_a_longer_one_read_in_part() {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "a.png", 10);
    let s = strings(&emu);
    for size in [0u32, 4, V1_SIZE as u32 - 4] {
        let mut cfg = config(&s);
        cfg.struct_size = size;
        let mut session = ptr::null_mut();
        let st = unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut session) };
        assert_eq!(st, FBUP_E_ARGUMENT, "size {size}");
        assert!(
            errmsg(session).contains("struct_size"),
            "{}",
            errmsg(session)
        );
        unsafe { fbup_free(session) };
    }
    // A caller built against a newer header with more fields: fbup reads its part.
    #[repr(C)]
    struct Newer {
        base: fbup_config,
        future: [u64; 4],
    }
    let mut newer = Newer {
        base: config(&s),
        future: [u64::MAX; 4],
    };
    newer.base.struct_size = std::mem::size_of::<Newer>() as u32;
    let mut session = ptr::null_mut();
    let st = unsafe { fbup_create_session(&newer.base, path.as_ptr(), &mut session) };
    assert_eq!(st, FBUP_OK, "{}", errmsg(session));
    unsafe { fbup_free(session) };
}

#[test]
fn invalid_utf8_and_nulls_are_argument_errors() {
    let emu = Emulator::start(Default::default()).unwrap();
    let s = strings(&emu);
    let mut cfg = config(&s);
    let bad = [0xffu8, 0xfe, 0];
    cfg.app_id = bad.as_ptr().cast();
    let path = CString::new("x.png").unwrap();
    let mut session = ptr::null_mut();
    let st = unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut session) };
    assert_eq!(st, FBUP_E_ARGUMENT);
    assert!(errmsg(session).contains("app_id is not valid UTF-8"));
    unsafe { fbup_free(session) };

    let cfg = config(&s);
    let st = unsafe { fbup_create_session(&cfg, ptr::null(), &mut session) };
    assert_eq!(st, FBUP_E_ARGUMENT);
    assert!(errmsg(session).contains("file_path is NULL"));
    unsafe { fbup_free(session) };
    let mut e = std::mem::MaybeUninit::<fbup_error>::uninit();
    assert_eq!(
        unsafe { fbup_error_info(ptr::null(), e.as_mut_ptr()) },
        FBUP_E_ARGUMENT
    );
}

struct Reentry {
    session: *mut fbup_session,
    id_seen: Option<String>,
    nested_status: Option<fbup_status>,
}

unsafe extern "C" fn reenter(user: *mut c_void, _done: u64, _total: u64) -> i32 {
    let r = &mut *(user as *mut Reentry);
    if r.nested_status.is_none() {
        r.id_seen = Some(
            CStr::from_ptr(fbup_session_id(r.session))
                .to_string_lossy()
                .into(),
        );
        r.nested_status = Some(fbup_upload(r.session, None, ptr::null_mut()));
    }
    0
}

#[test]
fn the_callback_may_read_the_session_but_not_upload_on_it() {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "r.png", 100_000);
    let s = strings(&emu);
    let cfg = config(&s);
    let mut session = ptr::null_mut();
    assert_eq!(
        unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut session) },
        FBUP_OK
    );
    let mut r = Reentry {
        session,
        id_seen: None,
        nested_status: None,
    };
    let st = unsafe {
        fbup_upload(
            session,
            Some(reenter),
            &mut r as *mut Reentry as *mut c_void,
        )
    };
    assert_eq!(st, FBUP_OK);
    assert_eq!(r.nested_status, Some(FBUP_E_STATE));
    assert_eq!(r.id_seen.as_deref(), Some(emu.sessions()[0].id.as_str()));
    unsafe { fbup_free(session) };
}

struct SendPtr(*mut fbup_session);
unsafe impl Send for SendPtr {}

#[test]
fn fbup_cancel_from_another_thread_during_a_stall() {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "big.mp4", 8_000_000);
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 1_000_000,
            millis: 20_000,
            then: AfterStall::Close,
        },
    ));
    let s = strings(&emu);
    let cfg = config(&s);
    let mut session = ptr::null_mut();
    assert_eq!(
        unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut session) },
        FBUP_OK
    );
    let p = SendPtr(session);
    let canceller = std::thread::spawn(move || {
        let p = p;
        std::thread::sleep(Duration::from_millis(700));
        let at = Instant::now();
        unsafe { fbup_cancel(p.0) };
        at
    });
    let st = unsafe { fbup_upload(session, None, ptr::null_mut()) };
    let at = canceller.join().unwrap();
    assert_eq!(st, FBUP_E_CANCELLED, "{}", errmsg(session));
    assert!(
        at.elapsed() < Duration::from_secs(1),
        "returned {:?} after the cancel",
        at.elapsed()
    );
    let mut info = std::mem::MaybeUninit::<fbup_error>::uninit();
    assert_eq!(
        unsafe { fbup_error_info(session, info.as_mut_ptr()) },
        FBUP_OK
    );
    assert_eq!(unsafe { info.assume_init() }.status, FBUP_E_CANCELLED);
    unsafe { fbup_free(session) };
}

unsafe extern "C" fn new_token(user: *mut c_void, buf: *mut std::ffi::c_char, len: usize) -> i32 {
    let calls = &mut *(user as *mut u32);
    *calls += 1;
    let token = b"EAAffi-second\0";
    if len < token.len() {
        return 1;
    }
    ptr::copy_nonoverlapping(token.as_ptr(), buf as *mut u8, token.len());
    0
}

#[test]
fn fbup_token_fn_renews_the_token_and_the_session_goes_on() {
    let emu = Emulator::start(fbup_emulator::Config {
        tokens: vec![TOKEN.into(), "EAAffi-second".into()],
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "t.png", 500_000);
    let s = strings(&emu);
    let mut cfg = config(&s);
    let mut calls = 0u32;
    cfg.token_fn = Some(new_token);
    cfg.token_user_data = &mut calls as *mut u32 as *mut c_void;
    cfg.retry_base_ms = 5;
    let mut session = ptr::null_mut();
    assert_eq!(
        unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut session) },
        FBUP_OK
    );
    // The first token is revoked before the upload: step 2 answers 190.
    emu.revoke_token(TOKEN);
    let st = unsafe { fbup_upload(session, None, ptr::null_mut()) };
    assert_eq!(st, FBUP_OK, "{}", errmsg(session));
    assert_eq!(calls, 1);
    assert!(emu.sessions()[0].complete);
    unsafe { fbup_free(session) };
}

unsafe extern "C" fn read_memory(user: *mut c_void, offset: u64, buf: *mut u8, len: usize) -> i64 {
    let data = &*(user as *const Vec<u8>);
    let start = (offset as usize).min(data.len());
    let n = len.min(data.len() - start);
    ptr::copy_nonoverlapping(data[start..].as_ptr(), buf, n);
    n as i64
}

#[test]
fn a_reader_source_uploads_from_memory_with_a_cut_and_a_resume() {
    let emu = Emulator::start(Default::default()).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 1_000_000 },
    ));
    let s = strings(&emu);
    let mut cfg = config(&s);
    let name = CString::new("memory.pdf").unwrap();
    let kind = CString::new("application/pdf").unwrap();
    cfg.file_name = name.as_ptr();
    cfg.file_type = kind.as_ptr();
    cfg.retry_base_ms = 5;
    let user = &data as *const Vec<u8> as *mut c_void;
    let mut session = ptr::null_mut();
    let st = unsafe {
        fbup_create_session_reader(
            &cfg,
            data.len() as u64,
            Some(read_memory),
            user,
            &mut session,
        )
    };
    assert_eq!(st, FBUP_OK, "{}", errmsg(session));
    // Cancel at once, then go on from the id in a new session.
    unsafe { fbup_cancel(session) };
    assert_eq!(
        unsafe { fbup_upload(session, None, ptr::null_mut()) },
        FBUP_E_CANCELLED
    );
    let id = unsafe { CStr::from_ptr(fbup_session_id(session)) }.to_owned();
    unsafe { fbup_free(session) };
    let mut session = ptr::null_mut();
    let st = unsafe {
        fbup_resume_session_reader(
            &cfg,
            data.len() as u64,
            Some(read_memory),
            user,
            id.as_ptr(),
            &mut session,
        )
    };
    assert_eq!(st, FBUP_OK, "{}", errmsg(session));
    assert_eq!(
        unsafe { fbup_upload(session, None, ptr::null_mut()) },
        FBUP_OK
    );
    let info = &emu.sessions()[0];
    assert_eq!(info.file_name, "memory.pdf");
    assert_eq!(emu.session_bytes(&info.id).unwrap(), data);
    assert!(info.upload_requests >= 2, "the cut happened");
    unsafe { fbup_free(session) };

    // Without a name and type, or without a callback: argument errors.
    let cfg = config(&s);
    let st = unsafe { fbup_create_session_reader(&cfg, 10, Some(read_memory), user, &mut session) };
    assert_eq!(st, FBUP_E_ARGUMENT);
    assert!(errmsg(session).contains("file_name is required"));
    unsafe { fbup_free(session) };
    let st = unsafe { fbup_create_session_reader(&cfg, 10, None, user, &mut session) };
    assert_eq!(st, FBUP_E_ARGUMENT);
    unsafe { fbup_free(session) };
}

unsafe extern "C" fn read_fails(_: *mut c_void, _: u64, _: *mut u8, _: usize) -> i64 {
    -5
}

#[test]
fn a_failing_reader_is_a_file_error() {
    let emu = Emulator::start(Default::default()).unwrap();
    let s = strings(&emu);
    let mut cfg = config(&s);
    let name = CString::new("x.png").unwrap();
    let kind = CString::new("image/png").unwrap();
    cfg.file_name = name.as_ptr();
    cfg.file_type = kind.as_ptr();
    let mut session = ptr::null_mut();
    let st = unsafe {
        fbup_create_session_reader(&cfg, 100, Some(read_fails), ptr::null_mut(), &mut session)
    };
    assert_eq!(st, FBUP_OK);
    assert_eq!(
        unsafe { fbup_upload(session, None, ptr::null_mut()) },
        FBUP_E_FILE
    );
    assert!(
        errmsg(session).contains("returned -5"),
        "{}",
        errmsg(session)
    );
    unsafe { fbup_free(session) };
}

#[test]
fn fbup_config_init_sized_never_writes_past_the_callers_struct() {
    // A caller built against an older, shorter fbup_config, followed by guard bytes.
    const OLD: usize = 72;
    let mut buf = [0xAAu8; std::mem::size_of::<fbup_config>() + 16];
    unsafe { fbup_config_init_sized(buf.as_mut_ptr().cast(), OLD) };
    assert_eq!(u32::from_ne_bytes(buf[..4].try_into().unwrap()), OLD as u32);
    assert!(
        buf[OLD..].iter().all(|b| *b == 0xAA),
        "wrote past the struct"
    );
    // The full size gives what fbup_config_init gives.
    let mut full = std::mem::MaybeUninit::<fbup_config>::uninit();
    unsafe { fbup_config_init_sized(full.as_mut_ptr(), std::mem::size_of::<fbup_config>()) };
    let full = unsafe { full.assume_init() };
    assert_eq!(
        full.struct_size as usize,
        std::mem::size_of::<fbup_config>()
    );
    assert_eq!(full.max_attempts, 8);
    unsafe { fbup_config_init_sized(ptr::null_mut(), 100) };
}

#[test]
fn create_with_a_null_out_asks_graph_for_nothing() {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "a.png", 1000);
    let s = strings(&emu);
    let mut cfg = config(&s);
    let state = CString::new(dir.path().join("journal").to_str().unwrap()).unwrap();
    cfg.state_dir = state.as_ptr();
    let st = unsafe { fbup_create_session(&cfg, path.as_ptr(), ptr::null_mut()) };
    assert_eq!(st, FBUP_E_ARGUMENT);
    assert!(emu.sessions().is_empty(), "a Graph session was created");
    assert!(emu.requests().is_empty(), "a request reached Graph");
    assert!(
        !dir.path().join("journal").exists(),
        "a journal entry was made"
    );
}

extern "C" fn read_info_in_progress(user: *mut c_void, _done: u64, _total: u64) -> i32 {
    let (s, seen) = unsafe { &mut *(user as *mut (*const fbup_session, u64)) };
    let mut info: fbup_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<fbup_info>() as u32;
    if unsafe { fbup_get_info(*s, &mut info) } == FBUP_OK {
        *seen = (*seen).max(info.bytes_sent);
    }
    0
}

#[test]
fn fbup_get_info_counts_a_cut_upload_and_reads_during_it() {
    let emu = Emulator::start(Default::default()).unwrap();
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 1_000_000 },
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "a.mp4", 3_000_000);
    let s = strings(&emu);
    let mut cfg = config(&s);
    cfg.retry_base_ms = 1;
    let mut session = ptr::null_mut();
    assert_eq!(
        unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut session) },
        FBUP_OK
    );
    let mut ctx: (*const fbup_session, u64) = (session, 0);
    let st = unsafe {
        fbup_upload(
            session,
            Some(read_info_in_progress),
            &mut ctx as *mut _ as *mut c_void,
        )
    };
    assert_eq!(st, FBUP_OK, "{}", errmsg(session));
    assert!(
        ctx.1 > 0,
        "figures were readable from the progress callback"
    );
    let mut info: fbup_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<fbup_info>() as u32;
    assert_eq!(unsafe { fbup_get_info(session, &mut info) }, FBUP_OK);
    let server = &emu.sessions()[0];
    assert_eq!(info.bytes_confirmed, 3_000_000);
    assert!(info.bytes_sent >= 3_000_000, "{}", info.bytes_sent);
    assert!(info.bytes_sent >= server.bytes_received_total);
    // create, the cut upload, the offset GET, the rest.
    assert!(info.requests >= 4, "{} requests", info.requests);
    assert_eq!((info.retries, info.resumes), (1, 1));
    assert!(info.elapsed_ms >= info.wait_ms);
    // The wrong sizes and NULLs.
    let mut small: fbup_info = unsafe { std::mem::zeroed() };
    small.struct_size = 8;
    assert_eq!(
        unsafe { fbup_get_info(session, &mut small) },
        FBUP_E_ARGUMENT
    );
    assert_eq!(
        unsafe { fbup_get_info(session, ptr::null_mut()) },
        FBUP_E_ARGUMENT
    );
    assert_eq!(
        unsafe { fbup_get_info(ptr::null(), &mut info) },
        FBUP_E_ARGUMENT
    );
    unsafe { fbup_free(session) };
}

/// What the progress callback of `the_figures_move_during_a_single_request_upload`
/// saw: the session, and the largest `bytes_sent` read before the last byte.
struct Watching {
    session: *mut fbup_session,
    sent_midway: u64,
    done_midway: u64,
}

extern "C" fn read_figures(user: *mut c_void, done: u64, total: u64) -> i32 {
    // SAFETY: the test passes a Watching that outlives the upload.
    let w = unsafe { &mut *(user as *mut Watching) };
    if done < total {
        // SAFETY: fbup_get_info may be called from the progress callback.
        let mut info: fbup_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<fbup_info>() as u32;
        assert_eq!(unsafe { fbup_get_info(w.session, &mut info) }, FBUP_OK);
        if info.bytes_sent > w.sent_midway {
            w.sent_midway = info.bytes_sent;
            w.done_midway = done;
        }
    }
    0
}

/// A session made through the C ABI for a file `name` of `len` bytes, against `emu`:
/// the status, the session handed out (the caller frees it) and the file's folder.
fn c_create(
    emu: &Emulator,
    name: &str,
    len: usize,
) -> (fbup_status, *mut fbup_session, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, name, len);
    let s = strings(emu);
    let cfg = config(&s);
    let mut session = ptr::null_mut();
    // SAFETY: a valid config, path and out-pointer; the file is read during the call.
    let st = unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut session) };
    (st, session, dir)
}

#[test]
fn the_figures_move_during_a_single_request_upload() {
    let emu = Emulator::start(Default::default()).unwrap();
    let (st, session, _dir) = c_create(&emu, "live.mp4", 8_000_000);
    assert_eq!(st, FBUP_OK);
    // SAFETY: the session made above; freed below.
    unsafe {
        let mut w = Watching {
            session,
            sent_midway: 0,
            done_midway: 0,
        };
        let st = fbup_upload(
            session,
            Some(read_figures),
            &mut w as *mut Watching as *mut c_void,
        );
        assert_eq!(st, FBUP_OK, "{}", errmsg(session));
        eprintln!(
            "from the progress callback: done={} sent={}",
            w.done_midway, w.sent_midway
        );
        assert!(w.sent_midway > 0, "bytes_sent stayed 0 during the request");
        assert!(
            w.sent_midway >= w.done_midway / 2,
            "{} of {}",
            w.sent_midway,
            w.done_midway
        );
        fbup_free(session);
    }
}

#[test]
fn a_session_whose_creation_failed_keeps_saying_why() {
    let emu = Emulator::start(Default::default()).unwrap();
    let (st, session, _dir) = c_create(&emu, "doc.unknownext", 1000);
    assert_eq!(st, FBUP_E_ARGUMENT);
    // SAFETY: the session handed out above; freed below.
    unsafe {
        let first = errmsg(session);
        assert_eq!(fbup_upload(session, None, ptr::null_mut()), FBUP_E_STATE);
        let later = errmsg(session);
        assert!(later.contains("never created"), "{later}");
        assert!(later.contains(&first), "the first error is kept: {later}");
        fbup_free(session);
    }
}
