//! URLs built from session ids: an accepted id never puts a space, a control
//! character, a fragment or a path escape into the URL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(id) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(url) = fbup::fuzzing::session_url(id) {
        assert!(url.starts_with("https://graph.facebook.com/v24.0/upload:"));
        assert!(url.ends_with(id), "the id goes in verbatim");
        assert!(!url
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()));
        assert!(!url.contains('#') && !url.contains(".."));
    }
});
