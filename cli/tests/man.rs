//! `fbup man` shows a formatted page on a terminal (through `man`) and prints the roff
//! source when piped.

use std::process::Command;

#[path = "../../tests/common/skip.rs"]
mod skip;

#[test]
fn a_page_is_formatted_on_a_terminal_and_roff_when_piped() {
    let fbup = env!("CARGO_BIN_EXE_fbup");
    let piped = Command::new(fbup).args(["man", "upload"]).output().unwrap();
    assert!(piped.status.success());
    let roff = String::from_utf8_lossy(&piped.stdout);
    assert!(
        roff.starts_with(".ie") || roff.contains(".TH fbup-upload 1"),
        "{roff}"
    );
    if !skip::have("man", "--version") || !skip::have("script", "--version") {
        return;
    }
    // `script` gives the command a terminal; MANPAGER=cat keeps the pager from waiting.
    let shown = Command::new("script")
        .args(["-qec", &format!("{fbup} man upload"), "/dev/null"])
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{:?} {}: {text}",
        shown.status,
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(!text.contains(".TH"), "roff on a terminal: {text}");
    // man's own header line (bold comes as overstrike, `NNAAMMEE`).
    assert!(
        text.contains("fbup-upload(1)"),
        "not formatted by man: {text}"
    );
}
