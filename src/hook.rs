//! The test hook that proves no panic crosses the C boundary. It stands on the bottom
//! floor, importing nothing, so that every layer may call it without an arrow that
//! runs up.

/// Test-only (feature `force-panic`): panics when `FBUP_FORCE_PANIC` names `layer`,
/// to prove that no panic crosses the C boundary.
#[cfg(feature = "force-panic")]
pub(crate) fn panic_point(layer: &str) {
    if std::env::var("FBUP_FORCE_PANIC").as_deref() == Ok(layer) {
        panic!("forced panic in the {layer} layer (force-panic feature)");
    }
}

/// Without the `force-panic` feature, nothing.
#[cfg(not(feature = "force-panic"))]
#[inline(always)]
pub(crate) fn panic_point(_layer: &str) {}
