//! The throttling headers (Retry-After, X-Business-Use-Case-Usage): no panic, no
//! overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (retry_after, usage) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = fbup::fuzzing::wait_hint(retry_after, usage);
});
