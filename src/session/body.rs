//! The request body: the file streamed from an offset, paced, counted and watched
//! for a cancel.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::graph::SourceFailure;
use crate::pace::Pacer;
use crate::progress::Progress;
use crate::source::ByteSource;

/// Streams the file from `pos` to `end` into the request body, reporting progress.
pub(super) struct BodyReader<'s, 'p> {
    pub source: &'s dyn ByteSource,
    /// The next byte to read; where the body got to, once the request is over.
    pub pos: u64,
    pub end: u64,
    pub progress: &'s mut Progress<'p>,
    pub pacer: &'s mut Pacer,
    pub cancelled: &'s AtomicBool,
    /// The body bytes handed on so far, counted as they go (`fbup_get_info` reads it
    /// while the request runs).
    pub sent: &'s AtomicU64,
    /// Where the file was last checked for a change.
    pub checked_at: u64,
}

/// How many bytes are streamed between two looks at whether the file changed (a
/// `stat` each): few enough to stop a changed file early, too few to cost anything.
const CHECK_EVERY: u64 = 4 << 20;

impl Read for BodyReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(io::Error::other(SourceFailure("cancelled".into())));
        }
        if self.pos >= self.end || buf.is_empty() {
            return Ok(0);
        }
        crate::hook::panic_point("source");
        let want = buf.len().min((self.end - self.pos) as usize);
        let want = self
            .pacer
            .take(want, self.cancelled)
            .ok_or_else(|| io::Error::other(SourceFailure("cancelled".into())))?;
        let n = self
            .source
            .read_at(&mut buf[..want], self.pos)
            .map_err(|e| {
                io::Error::other(SourceFailure(format!(
                    "cannot read the file at offset {}: {e}",
                    self.pos
                )))
            })?;
        if n == 0 {
            // Ending early would leave the request short of its Content-Length.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                SourceFailure(format!(
                    "the file ended at {} bytes, shorter than when the upload started",
                    self.pos
                )),
            ));
        }
        let next = self.pos + n as u64;
        // Graph completes a file with its last byte: those bytes are handed on only
        // once the file is seen unchanged after they were read, so that a file written
        // during its upload never ends complete, and torn, at Graph.
        if next == self.source.len() || next - self.checked_at >= CHECK_EVERY {
            self.checked_at = next;
            self.source
                .check_unchanged()
                .map_err(|e| io::Error::other(SourceFailure(e.message)))?;
        }
        self.pos = next;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        if !self.progress.update(self.pos) {
            self.cancelled.store(true, Ordering::SeqCst);
            return Err(io::Error::other(SourceFailure(
                "cancelled by the progress callback".into(),
            )));
        }
        Ok(n)
    }
}
