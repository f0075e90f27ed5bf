//! Whether a test that needs an optional tool runs: the one place that decides, shared
//! by every test crate of the workspace (the emulator's includes it by path). It uses
//! nothing of fbup, so any test crate can.

use std::process::Command;

/// True when `FBUP_REQUIRE_ALL=1`: a test that would skip for a missing tool fails.
pub fn require_all() -> bool {
    std::env::var("FBUP_REQUIRE_ALL").as_deref() == Ok("1")
}

/// A test that cannot run here says so loudly (`SKIP: why`) and passes, unless
/// `FBUP_REQUIRE_ALL=1`, where it fails: the one place that decides.
pub fn skip(why: &str) {
    assert!(!require_all(), "{why}, and FBUP_REQUIRE_ALL=1");
    eprintln!("SKIP: {why}");
}

/// True when `tool` runs (`tool arg` succeeds). Otherwise prints `SKIP: <tool> not found`
/// and returns false, or fails when `FBUP_REQUIRE_ALL=1`.
pub fn have(tool: &str, arg: &str) -> bool {
    let found = Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(&format!("{tool} not found"));
    }
    found
}
