//! The upload loop: ask Graph's offset when it is not known, send the body from there,
//! and let the ledger say what the answer means and the driver what to do about a
//! failure.

use std::io;
use std::sync::atomic::Ordering;

use crate::error::{Error, Status, Step};
use crate::event::Event;
use crate::graph::{RequestError, UploadAnswer};
use crate::info::Stats;
use crate::pace::Pacer;
use crate::progress::{Progress, ProgressFn};
use crate::trace::Level;

use super::body::BodyReader;
use super::driver::Driver;
use super::ledger::{offset_decides, Ledger, Next, Outcome};
use super::words::handle_lost;
use super::{failed, Session};

impl Session {
    /// Uploads the file from Graph's offset to the end, resuming on its own after
    /// network failures, timeouts, 5xx and transient Graph errors. `progress` is
    /// called with `(bytes_done, bytes_total)`; returning false cancels. On success
    /// returns Graph's handle, byte for byte (it may hold `\n`).
    pub fn upload(&mut self, progress: &mut ProgressFn<'_>) -> Result<&str, Error> {
        if self.handle.is_some() {
            return Err(Error::new(
                Status::State,
                "this upload is already complete; read its handle instead of uploading again",
            ));
        }
        self.stats.running(true);
        let result = self.upload_loop(progress);
        self.stats.running(false);
        if self.cancel.clear() {
            // The cancel shut down the connection this session was using (and no
            // other): the next call opens or takes another and asks Graph first.
            self.plan.trace.log(Level::Debug, || {
                "the cancel shut this session's connections down (no other session's); the \
                 next call uses another"
                    .into()
            });
            self.ledger.stale = true;
        }
        result.map_err(|e| failed(&self.plan, e))?;
        self.plan.trace.log(Level::Info, || {
            let i = self.stats.snapshot();
            format!(
                "complete: Graph holds all {} bytes; {} body bytes sent in {} requests; \
                 retries: {}, resumes: {}, waited {} ms, {} ms in all",
                self.source.len(),
                i.bytes_sent,
                i.requests,
                i.retries,
                i.resumes,
                i.wait.as_millis(),
                i.elapsed.as_millis()
            )
        });
        if let Some(claim) = self.claim.take() {
            claim.forget();
        }
        Ok(self.handle.as_deref().unwrap_or(""))
    }

    fn upload_loop(&mut self, callback: &mut ProgressFn<'_>) -> Result<(), Error> {
        crate::hook::panic_point("session");
        let mut progress = Progress::new(callback, self.source.len());
        let mut driver = Driver::new(&self.plan, self.cancel.clone(), self.stats.clone());
        let p = self.plan.pacing;
        let mut pacer =
            Pacer::new(p.max_send_rate, p.send_buffer).with_shared(self.plan.shared_rate.clone());
        if !progress.update(self.ledger.confirmed) {
            self.cancel.set();
        }
        loop {
            if self.cancelled() {
                return Err(self.cancel_error());
            }
            self.check_file()?;
            if self.ledger.stale && !self.refresh_offset(&mut driver)? {
                continue;
            }
            let next = self.ledger.next(self.sizing.limit());
            let answer = self.send(next, &mut progress, &mut pacer);
            // Whatever happened, only Graph's own offset says where to go on from.
            self.ledger.stale = true;
            match Ledger::judge(next, &answer) {
                Outcome::Complete(h) => {
                    self.source.check_unchanged().map_err(|e| {
                        let m = format!(
                            "{}, after its last byte was read: Graph holds the whole file as \
                             it was, but its handle is not given for a file that changed. \
                             Upload the new file in a new session",
                            e.message
                        );
                        Error::new(e.status, m)
                    })?;
                    self.ledger.complete();
                    self.stats
                        .confirmed
                        .store(self.ledger.total, Ordering::Relaxed);
                    self.handle = Some(h);
                    progress.finish();
                    return Ok(());
                }
                Outcome::HandleLost if self.cancelled() => return Err(self.cancel_error()),
                Outcome::HandleLost => return Err(self.lose_handle(answer.err())),
                Outcome::Accepted(offset) => self.accepted(&mut driver, next, offset)?,
                Outcome::Failed => {
                    let Err(e) = answer else { continue };
                    self.failed_request(&mut driver, e, next)?;
                }
            }
        }
    }

    /// Asks Graph's offset before the next send; false when the ask failed and the
    /// driver granted another try.
    fn refresh_offset(&mut self, driver: &mut Driver) -> Result<bool, Error> {
        let before = self.ledger.confirmed;
        match self.graph.offset(&self.id) {
            Ok(off) => {
                self.reconcile(off)?;
                self.ledger.stale = false;
                self.resize(off);
                if off > before {
                    driver.progressed();
                }
                self.resuming(off);
                Ok(true)
            }
            Err(e) => {
                self.retry_or_stop(driver, e, Step::Offset)?;
                Ok(false)
            }
        }
    }

    /// Sends request `next`: the body from its start, or the empty POST at the end.
    fn send(
        &mut self,
        next: Next,
        progress: &mut Progress<'_>,
        pacer: &mut Pacer,
    ) -> Result<UploadAnswer, RequestError> {
        let total = self.source.len();
        let Next::Body { start, len } = next else {
            return self.graph.upload(&self.id, total, 0, &mut io::empty());
        };
        let mut body = BodyReader {
            source: &*self.source,
            pos: start,
            end: start + len,
            progress,
            pacer,
            cancelled: self.cancel.flag(),
            sent: &self.stats.sent,
            checked_at: start,
        };
        let answer = self.graph.upload(&self.id, start, len, &mut body);
        let pos = body.pos;
        self.ledger.sent(pos);
        match &answer {
            // A cut or a stall: Graph's offset will show what it kept. (A cancel or a
            // file that cannot be read says nothing of the link.)
            Err(RequestError::Network(_) | RequestError::Refused(_) | RequestError::Timeout(_)) => {
                self.sizing.cut(start, pos - start)
            }
            Err(_) => {}
            Ok(_) => self.sizing.clean(),
        }
        answer
    }

    /// After a cut, Graph's offset `off` shows how much of the cut request it kept:
    /// when it kept next to nothing, the next requests are bounded.
    fn resize(&mut self, off: u64) {
        if let Some(r) = self.sizing.settle(off) {
            self.plan.trace.log(Level::Info, || {
                let kept = match r.committed {
                    0 => "committed nothing".to_string(),
                    n => format!("committed only {n}"),
                };
                format!(
                    "the cut request {kept} of the {} bytes it sent; next requests at most {} \
                     bytes (rule: size requests by what Graph keeps)",
                    r.sent, r.bound
                )
            });
        }
    }

    /// Graph took the request but not every byte: the offset its answer names is
    /// where the next request starts, or, when it names none, its offset is asked.
    fn accepted(
        &mut self,
        driver: &mut Driver,
        next: Next,
        offset: Option<u64>,
    ) -> Result<(), Error> {
        let start = match next {
            Next::Body { start, .. } => start,
            Next::AskHandle => self.ledger.total,
        };
        match offset {
            Some(off) => {
                self.reconcile(off)?;
                self.ledger.stale = false;
                self.plan.trace.log(Level::Info, || {
                    format!("Graph accepted the request and holds {off} bytes: going on from there")
                });
                if off > start {
                    driver.progressed();
                    return Ok(());
                }
            }
            None => self.plan.trace.log(Level::Info, || {
                "Graph accepted the request without a handle: asking its offset".into()
            }),
        }
        if driver.count() {
            return Ok(());
        }
        Err(Error::new(
            Status::Protocol,
            "Graph accepted request after request without completing the file or moving its \
             offset",
        )
        .at(Step::Upload))
    }

    /// A failed upload request: Graph's offset first, then the error's class.
    fn failed_request(
        &mut self,
        driver: &mut Driver,
        e: RequestError,
        next: Next,
    ) -> Result<(), Error> {
        if self.cancelled() {
            return Err(self.cancel_error());
        }
        let start = match next {
            Next::Body { start, .. } => start,
            Next::AskHandle => self.ledger.total,
        };
        if offset_decides(&e) && self.offset_settles(start)? {
            // The refusal was about the offset: go on from Graph's.
            if self.ledger.confirmed > start {
                driver.progressed();
                return Ok(());
            }
            if driver.count() {
                return Ok(());
            }
        }
        self.retry_or_stop(driver, e, Step::Upload)
    }

    /// After a failed request: the driver's new token or wait, or the error that ends
    /// the upload.
    fn retry_or_stop(
        &mut self,
        driver: &mut Driver,
        e: RequestError,
        step: Step,
    ) -> Result<(), Error> {
        if let RequestError::Source(_) = e {
            // A file that changed explains a failed read best.
            self.check_file()?;
        }
        driver
            .recover(e, step, &self.id)
            .map_err(|h| self.halted(h))
    }

    /// Fails with [`Status::File`] when the file changed since it was opened, saying
    /// what Graph holds (asked now): never a complete file, as its last bytes are
    /// never sent once the file changed.
    fn check_file(&mut self) -> Result<(), Error> {
        let Err(e) = self.source.check_unchanged() else {
            return Ok(());
        };
        let total = self.source.len();
        let held = match self.graph.offset(&self.id) {
            Ok(off) if off < total => format!(
                "Graph holds {off} of its {total} bytes, sent before the change was seen, and \
                 no complete file (the last bytes were never sent)"
            ),
            Ok(_) => format!("Graph holds all {total} bytes, read before the change"),
            Err(_) => "Graph could not be asked what it holds; it has no complete file (the \
                       last bytes were never sent)"
                .to_string(),
        };
        let m = format!(
            "{}; {held}. Upload the new file in a new session",
            e.message
        );
        Err(Error::new(e.status, m))
    }

    /// Asks Graph's offset after a refusal of the request sent at `start`: true (with
    /// the offset taken) when it differs from that `file_offset`.
    fn offset_settles(&mut self, start: u64) -> Result<bool, Error> {
        let trace = self.plan.trace.clone();
        trace.log(Level::Info, || {
            format!("the request sent at file_offset {start} was refused: asking Graph's offset before deciding")
        });
        match self.graph.offset(&self.id) {
            Ok(off) if off != start => {
                trace.log(Level::Info, || {
                    format!(
                        "Graph's offset {off} differs from the file_offset {start} sent: the \
                         refusal was about the offset (rule: decide from Graph's offset)"
                    )
                });
                self.reconcile(off)?;
                self.ledger.stale = false;
                self.resuming(off);
                Ok(true)
            }
            Ok(_) => {
                trace.log(Level::Info, || {
                    format!(
                        "Graph's offset is the file_offset {start} sent: the error's class decides"
                    )
                });
                Ok(false)
            }
            Err(_) => Ok(false),
        }
    }

    /// Graph holds every byte, but the one empty POST that asks for the handle again
    /// failed (`why`, or an answer without `h`). Never a success without a handle, never
    /// a loop: the session is done for, and its journal entry is forgotten so that a
    /// new upload of the file starts a new session.
    fn lose_handle(&mut self, why: Option<RequestError>) -> Error {
        self.plan.trace.log(Level::Warning, || {
            "Graph holds every byte but the empty POST at file_length brought no handle: the \
             handle is lost (rule: one try at the empty POST, never a success without a handle)"
                .into()
        });
        if let Some(claim) = self.claim.take() {
            claim.forget();
        }
        handle_lost(self.source.len(), why)
    }

    /// Reports (and counts) that the upload goes on from Graph's offset `off`.
    fn resuming(&self, off: u64) {
        let total = self.source.len();
        self.plan.trace.log(Level::Info, || {
            format!("Graph holds {off} of {total} bytes: going on from {off}")
        });
        Stats::add(&self.stats.resumes, 1);
        self.plan.emit(|| Event::Resume { offset: off, total });
    }
}
