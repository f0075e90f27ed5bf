//! `fbup_info`: a session's transfer figures, readable at any time.

use std::time::Duration;

use super::panic::boundary;
use super::session::fbup_session;
use super::status::{fbup_status, FBUP_E_ARGUMENT, FBUP_E_INTERNAL, FBUP_E_STATE, FBUP_OK};

/// Figures about a session's transfers, as `fbup_get_info` reports them. Set
/// `struct_size` to `sizeof(fbup_info)` before the call: fbup writes only that many
/// bytes, so a program built against this header keeps working when fields are
/// appended.
#[repr(C)]
pub struct fbup_info {
    /// `sizeof(fbup_info)`, set by the caller.
    pub struct_size: u32,
    /// Graph's offset as last known: bytes it confirmed holding.
    pub bytes_confirmed: u64,
    /// Body bytes written to the network over all attempts, re-sent ones included.
    pub bytes_sent: u64,
    /// HTTP requests made (create, upload, offset).
    pub requests: u64,
    /// Failed attempts that were tried again.
    pub retries: u64,
    /// Times the upload went on from an offset Graph reported.
    pub resumes: u64,
    /// Milliseconds spent waiting before retries.
    pub wait_ms: u64,
    /// Milliseconds spent inside `fbup_upload`.
    pub elapsed_ms: u64,
}

/// The least `struct_size` of an `fbup_info`: its first layout, ending with `elapsed_ms`.
pub(super) const INFO_V1_SIZE: usize = std::mem::size_of::<fbup_info>();

/// Writes the session's transfer figures into `*out`, whose `struct_size` the caller
/// set to `sizeof(fbup_info)`; fbup writes only that many bytes. Valid at any time,
/// also from the progress callback and from another thread while an upload runs;
/// changes nothing on the session (not even its last error). Returns
/// `FBUP_E_ARGUMENT` when `s` or `out` is NULL or `out->struct_size` is smaller than
/// the first layout of `fbup_info`, and `FBUP_E_STATE` for a session whose creation
/// failed.
///
/// # Safety
/// `s` is NULL or a live session; `out` is NULL or points to `out->struct_size`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn fbup_get_info(s: *const fbup_session, out: *mut fbup_info) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        let s = try_ref!(s, FBUP_E_ARGUMENT);
        if out.is_null() {
            return FBUP_E_ARGUMENT;
        }
        // SAFETY: non-NULL; the caller vouches for at least the size field.
        let size = unsafe { std::ptr::read_unaligned(out as *const u32) } as usize;
        if size < INFO_V1_SIZE {
            return FBUP_E_ARGUMENT;
        }
        let Some(stats) = &s.stats else {
            return FBUP_E_STATE;
        };
        let i = stats.snapshot();
        let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
        let info = fbup_info {
            struct_size: size.min(std::mem::size_of::<fbup_info>()) as u32,
            bytes_confirmed: i.bytes_confirmed,
            bytes_sent: i.bytes_sent,
            requests: i.requests,
            retries: i.retries,
            resumes: i.resumes,
            wait_ms: ms(i.wait),
            elapsed_ms: ms(i.elapsed),
        };
        // SAFETY: the caller vouches for `size` writable bytes; no more are written.
        unsafe {
            std::ptr::copy_nonoverlapping(
                &info as *const fbup_info as *const u8,
                out as *mut u8,
                size.min(std::mem::size_of::<fbup_info>()),
            )
        };
        FBUP_OK
    })
}
