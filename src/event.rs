//! What an upload reports as it goes, beside progress: the retries and resumes a
//! person watching it wants to see.

use std::sync::Arc;
use std::time::Duration;

/// Something that happened during an upload, reported to [`Config::on_event`](crate::Config::on_event)
/// as it happens, on the thread running the upload.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A request failed and will be tried again after `wait`.
    Retry {
        /// This retry's number in the current run of failures (from 1).
        attempt: u32,
        /// The most attempts in a row without progress (`max_attempts`).
        max_attempts: u32,
        /// How long fbup waits before the next try.
        wait: Duration,
        /// What failed, in a few words (never the token).
        reason: String,
    },
    /// The upload goes on from the offset Graph reported (after a failure, or when a
    /// recorded or given session is taken up again).
    Resume {
        /// The bytes Graph holds; sending starts there.
        offset: u64,
        /// The file's length.
        total: u64,
    },
    /// The resume journal cannot be used for this file (it cannot be written or read
    /// here: a full disk, no permission, an entry that cannot be read): the upload goes
    /// on, but a later process cannot resume it from the journal.
    JournalOff {
        /// Why, in a few words (the folder or file, and the system's error).
        reason: String,
    },
}

/// Receives [`Event`]s; called synchronously, so it should return quickly.
pub type EventFn = Arc<dyn Fn(&Event) + Send + Sync>;
