//! Everything a server can answer to the three steps, and error objects: no panic, and
//! what comes out passes the checks the library promises.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = fbup::fuzzing::split(data) else {
        return;
    };
    if let Some(id) = fbup::fuzzing::create_answer(status, &body) {
        assert!(id.starts_with("upload:") && id.len() <= 4096);
        assert!(!id
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()));
        assert!(!id.contains('#') && !id.contains('\\') && !id.contains(".."));
    }
    if let Some(h) = fbup::fuzzing::upload_answer(status, &body) {
        assert!(!h.is_empty() && h.len() <= 64 * 1024);
    }
    let _ = fbup::fuzzing::offset_answer(status, &body);
    let _ = fbup::fuzzing::error_object(&body);
});
