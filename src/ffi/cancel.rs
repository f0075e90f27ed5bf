//! `fbup_canceller`: cancels the calls that make a session (`fbup_create_session*`,
//! `fbup_resume_session*`) from another thread, the way `fbup_cancel` cancels an
//! upload. It bounds the call it is given, never the session made afterwards.

use super::panic::boundary;
use super::status::{fbup_status, FBUP_E_ARGUMENT, FBUP_E_INTERNAL, FBUP_OK};
use crate::session::CancelHandle;

/// A cancel for the calls that make a session (opaque). Made by `fbup_canceller_new`,
/// released by `fbup_canceller_free`; set `cfg->canceller` to it.
pub struct fbup_canceller {
    pub(super) handle: CancelHandle,
}

/// Makes a canceller into `*out`. Returns `FBUP_E_ARGUMENT` when `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fbup_canceller_new(out: *mut *mut fbup_canceller) -> fbup_status {
    boundary(FBUP_E_INTERNAL, || {
        let out = try_mut!(out, FBUP_E_ARGUMENT);
        *out = Box::into_raw(Box::new(fbup_canceller {
            handle: CancelHandle::new(),
        }));
        FBUP_OK
    })
}

/// Cancels the create or resume running with this canceller in its config: it returns
/// `FBUP_E_CANCELLED` promptly (a wait between two tries ends within 50 ms; a blocked
/// socket read or write at once). A cancel made while no such call runs cancels the
/// next one at once. Once that call has returned, the canceller is clear again and
/// reaches nothing of the session it made: cancel an upload with `fbup_cancel`. Safe
/// to call from any thread while `c` is alive; does nothing when `c` is NULL.
///
/// # Safety
/// `c` is NULL or a live canceller.
#[no_mangle]
pub unsafe extern "C" fn fbup_canceller_cancel(c: *const fbup_canceller) {
    boundary((), || {
        let c = try_ref!(c);
        c.handle.cancel();
    })
}

/// Releases a canceller; does nothing when `c` is NULL. No call may be running with it.
///
/// # Safety
/// `c` is NULL or a canceller from `fbup_canceller_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fbup_canceller_free(c: *mut fbup_canceller) {
    boundary((), || {
        if !c.is_null() {
            // SAFETY: the caller hands back a canceller of ours, once.
            drop(unsafe { Box::from_raw(c) });
        }
    })
}
