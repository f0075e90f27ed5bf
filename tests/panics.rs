//! No panic crosses the C boundary: with the test-only `force-panic` feature, each
//! layer panics on command, and the C functions answer FBUP_E_INTERNAL (or NULL) while
//! the process lives on. Run with `cargo test --features force-panic --test panics`.
#![cfg(feature = "force-panic")]

mod common;

use std::ffi::{CStr, CString};
use std::ptr;

use fbup::ffi::*;
use fbup_emulator::Emulator;

fn set(layer: Option<&str>) {
    match layer {
        Some(l) => std::env::set_var("FBUP_FORCE_PANIC", l),
        None => std::env::remove_var("FBUP_FORCE_PANIC"),
    }
}

#[test]
fn each_layer_panics_inside_and_the_process_lives_on() {
    let emu = Emulator::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.png");
    std::fs::write(&path, vec![1u8; 300_000]).unwrap();
    let path = CString::new(path.to_str().unwrap()).unwrap();
    let strings = common::CConfig::new("1234", "EAApanic", emu.url());
    let cfg = strings.config();
    let errmsg = |s| {
        unsafe { CStr::from_ptr(fbup_errmsg(s)) }
            .to_string_lossy()
            .into_owned()
    };

    // The graph layer, during step 1: the create call answers FBUP_E_INTERNAL.
    set(Some("graph"));
    let mut s = ptr::null_mut();
    assert_eq!(
        unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut s) },
        FBUP_E_INTERNAL
    );
    assert!(
        errmsg(s).contains("forced panic in the graph layer"),
        "{}",
        errmsg(s)
    );
    unsafe { fbup_free(s) };
    set(None);

    let mut s = ptr::null_mut();
    assert_eq!(
        unsafe { fbup_create_session(&cfg, path.as_ptr(), &mut s) },
        FBUP_OK
    );
    for layer in ["session", "source", "ffi"] {
        set(Some(layer));
        let st = unsafe { fbup_upload(s, None, ptr::null_mut()) };
        set(None);
        assert_eq!(st, FBUP_E_INTERNAL, "{layer}");
        if layer != "ffi" {
            assert!(
                errmsg(s).contains(&format!("forced panic in the {layer} layer")),
                "{}",
                errmsg(s)
            );
        }
    }
    // A pointer-returning function answers NULL.
    set(Some("ffi"));
    assert!(unsafe { fbup_session_id(s) }.is_null());
    set(None);
    assert!(!unsafe { fbup_session_id(s) }.is_null());
    // And the same session still works.
    assert_eq!(
        unsafe { fbup_upload(s, None, ptr::null_mut()) },
        FBUP_OK,
        "{}",
        errmsg(s)
    );
    assert!(emu.sessions()[0].complete);
    unsafe { fbup_free(s) };
}
