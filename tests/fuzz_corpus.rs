//! The fuzz corpus as regression tests: every input in `fuzz/corpus/` (seeds, and
//! anything a fuzzer once found) goes through the same entry points as the fuzz
//! targets, under `cargo test --features fuzzing --test fuzz_corpus`.
#![cfg(feature = "fuzzing")]

use std::path::Path;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no corpus in {}", dir.display());
    out
}

#[test]
fn answers_corpus() {
    let mut parsed = 0;
    for data in inputs("answers") {
        let Some((status, body)) = fbup::fuzzing::split(&data) else {
            continue;
        };
        if let Some(id) = fbup::fuzzing::create_answer(status, &body) {
            assert!(id.starts_with("upload:") && id.len() <= 4096);
            parsed += 1;
        }
        if let Some(h) = fbup::fuzzing::upload_answer(status, &body) {
            assert!(h.len() <= 64 * 1024);
            parsed += 1;
        }
        if fbup::fuzzing::offset_answer(status, &body).is_some() {
            parsed += 1;
        }
        let _ = fbup::fuzzing::error_object(&body);
    }
    assert!(parsed >= 4, "the seeds parse: {parsed}");
}

#[test]
fn session_url_corpus() {
    let mut accepted = 0;
    for data in inputs("session_url") {
        if let Ok(id) = std::str::from_utf8(&data) {
            if let Some(url) = fbup::fuzzing::session_url(id) {
                assert!(url.ends_with(id));
                assert!(!url
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()));
                accepted += 1;
            }
        }
    }
    assert_eq!(accepted, 1, "only the well-formed seed is accepted");
}

#[test]
fn wait_hint_corpus() {
    for data in inputs("wait_hint") {
        let text = String::from_utf8_lossy(&data);
        let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
        let _ = fbup::fuzzing::wait_hint(a, b);
    }
    assert_eq!(
        fbup::fuzzing::wait_hint("120", r#"{"1":[{"estimated_time_to_regain_access":3}]}"#),
        Some(std::time::Duration::from_secs(180))
    );
}
