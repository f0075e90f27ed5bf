//! The upload's decisions, without I/O: what Graph's offset may be, what the next
//! request is, and what an answer means. The upload loop asks, does the I/O, and
//! tells the ledger what happened; each rule here is tested without a socket.

use crate::error::{Error, Status};
use crate::graph::{RequestError, UploadAnswer};
use crate::retry::{is_permission_code, is_throttling_code, is_token_code};

/// What one session knows of Graph's offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Ledger {
    /// The file's length.
    pub total: u64,
    /// The bytes Graph last said it holds.
    pub confirmed: u64,
    /// The most bytes Graph ever confirmed: it may never report fewer.
    confirmed_max: u64,
    /// The most bytes ever handed to the network: Graph cannot hold more.
    sent_max: u64,
    /// Graph's offset must be asked before the next send.
    pub stale: bool,
    /// Graph was asked for its offset (or confirmed the end) at least once.
    pub asked: bool,
    /// The session was resumed: bytes sent before (perhaps by another process) may
    /// still land late, so no upper bound but the file's length can be checked.
    resumed: bool,
}

/// The request the upload sends next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// `len` bytes of the body from `start` (the rest of the file, unless requests
    /// are bounded).
    Body { start: u64, len: u64 },
    /// Graph holds every byte but its answer with the handle was lost: an empty POST
    /// at the end asks for it again.
    AskHandle,
}

/// What an upload request's outcome means.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The last byte arrived: the handle.
    Complete(String),
    /// Graph took the request without completing the file; the offset it now holds
    /// when its answer says (else it is asked).
    Accepted(Option<u64>),
    /// The empty POST at the end brought no handle: the handle is lost.
    HandleLost,
    /// The request failed: Graph's offset, then the error's class, decide.
    Failed,
}

impl Ledger {
    /// A ledger for a file of `total` bytes; a resumed session asks Graph first.
    pub fn new(total: u64, resumed: bool) -> Ledger {
        Ledger {
            total,
            confirmed: 0,
            confirmed_max: 0,
            sent_max: 0,
            stale: resumed,
            asked: false,
            resumed,
        }
    }

    /// The request to send now, its body at most `limit` bytes.
    pub fn next(&self, limit: Option<u64>) -> Next {
        if self.confirmed == self.total {
            return Next::AskHandle;
        }
        let rest = self.total - self.confirmed;
        Next::Body {
            start: self.confirmed,
            len: limit.map_or(rest, |l| l.clamp(1, rest)),
        }
    }

    /// The network took the body up to `pos`.
    pub fn sent(&mut self, pos: u64) {
        self.sent_max = self.sent_max.max(pos);
    }

    /// What the answer to a request of `next` means.
    pub fn judge(next: Next, answer: &Result<UploadAnswer, RequestError>) -> Outcome {
        match (next, answer) {
            (_, Ok(UploadAnswer::Handle(h))) => Outcome::Complete(h.clone()),
            (Next::AskHandle, _) => Outcome::HandleLost,
            (_, Ok(UploadAnswer::Accepted { offset })) => Outcome::Accepted(*offset),
            (_, Err(_)) => Outcome::Failed,
        }
    }

    /// Graph confirmed the whole file.
    pub fn complete(&mut self) {
        self.confirmed = self.total;
        self.confirmed_max = self.total;
        self.stale = false;
        self.asked = true;
    }

    /// Takes Graph's offset after checking it against what this session knows.
    pub fn reconcile(&mut self, off: u64) -> Result<(), Error> {
        let total = self.total;
        if off > total {
            return Err(Error::new(
                Status::Protocol,
                format!(
                    "Graph reports {off} bytes held, more than the file's {total}: this is \
                     probably not the file the session was created for (a session belongs to \
                     one file: give that file, or upload this one in a new session)"
                ),
            ));
        }
        if off < self.confirmed_max {
            return Err(Error::new(
                Status::Protocol,
                format!(
                    "the server lost data: it reports {off} bytes held after confirming {}",
                    self.confirmed_max
                ),
            ));
        }
        if off > self.sent_max && !self.resumed {
            return Err(Error::new(
                Status::Protocol,
                format!(
                    "Graph reports {off} bytes held but only {} were ever sent: another writer \
                     on this session?",
                    self.sent_max
                ),
            ));
        }
        self.confirmed = off;
        self.confirmed_max = off;
        self.asked = true;
        self.sent_max = self.sent_max.max(off);
        Ok(())
    }
}

/// The smallest body a cut makes requests shrink to.
pub(super) const FLOOR: u64 = 256 * 1024;

/// Clean requests after which the size that was cut is forgotten, and requests may
/// grow past it again (the link may have been cut once, not at every size).
const FORGET_AFTER: u32 = 8;

/// A bound a cut made: the next requests carry at most `bound` bytes, because the cut
/// one committed `committed` of the `sent` bytes it sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Resize {
    pub bound: u64,
    pub committed: u64,
    pub sent: u64,
}

/// How large one request's body may be: a fixed bound the caller set, or what Graph's
/// offset shows it keeps after a cut. On a link that never cuts, no bound: one request
/// for the rest of the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Sizing {
    /// The caller's bound (`max_request`), never exceeded.
    fixed: Option<u64>,
    /// The bound learnt from cuts.
    learnt: Option<u64>,
    /// The smallest body that was cut and kept almost nothing.
    cut_at: Option<u64>,
    /// Clean requests since the last such cut.
    clean: u32,
    /// A request that got no answer: where it started and how many bytes it sent.
    pending: Option<(u64, u64)>,
}

impl Sizing {
    /// Sizing with the caller's bound (0: none, adaptive).
    pub fn new(max_request: u64) -> Sizing {
        Sizing {
            fixed: (max_request > 0).then_some(max_request),
            ..Sizing::default()
        }
    }

    /// The most bytes the next request's body may carry.
    pub fn limit(&self) -> Option<u64> {
        match (self.fixed, self.learnt) {
            (Some(f), Some(l)) => Some(f.min(l)),
            (f, l) => f.or(l),
        }
    }

    /// A request from `start` sent `sent` body bytes and got no answer (a cut).
    pub fn cut(&mut self, start: u64, sent: u64) {
        self.pending = Some((start, sent));
    }

    /// Graph's offset `off` after a cut: when the cut request committed nothing, or
    /// much less than it sent (less than a sixteenth: bytes still in the sockets'
    /// buffers are not lost to a server that keeps partial requests), the next
    /// requests carry at most half of what was lost, and never less than [`FLOOR`].
    /// Returns what changed, when the bound did.
    pub fn settle(&mut self, off: u64) -> Option<Resize> {
        let (start, sent) = self.pending.take()?;
        let committed = off.saturating_sub(start);
        if sent <= FLOOR || committed.saturating_mul(16) >= sent {
            return None;
        }
        let bound = ((sent - committed) / 2).max(FLOOR);
        self.learnt = Some(self.learnt.map_or(bound, |l| l.min(bound).max(FLOOR)));
        self.cut_at = Some(self.cut_at.map_or(sent, |c| c.min(sent)));
        self.clean = 0;
        Some(Resize {
            bound: self.limit().unwrap_or(bound),
            committed,
            sent,
        })
    }

    /// A request arrived whole: a learnt bound grows back, doubling, below the size
    /// that was cut until enough clean requests make it forget that size.
    pub fn clean(&mut self) {
        self.pending = None;
        let Some(l) = self.learnt else { return };
        self.clean += 1;
        if self.clean >= FORGET_AFTER {
            self.cut_at = None;
        }
        let grown = l.saturating_mul(2);
        self.learnt = Some(match self.cut_at {
            Some(c) => grown.min((c - c / 4).max(l)),
            None => grown,
        });
    }
}

/// After Graph refused an upload request (any answer but a token or permission
/// error), or answered it with something outside the protocol, its own offset
/// decides before the error's code does: a refusal is most often about the
/// `file_offset` (late bytes landed, or an offset read right after a cut lagged
/// behind), whatever code, subcode or body Graph chose to say so.
pub(super) fn offset_decides(e: &RequestError) -> bool {
    match e {
        RequestError::Graph { error, .. } => {
            !is_token_code(error.code) && !is_permission_code(error.code)
        }
        RequestError::Http { .. } => true,
        RequestError::Protocol { http_status, .. } => (200..300).contains(http_status),
        _ => false,
    }
}

/// True when Graph's answer to an offset request says it does not know the session
/// (unknown or expired): any 4xx refusal but a token, permission or throttling one,
/// with a Graph error object (code 100 and any subcode, ...) or without (a bare 400,
/// 404 or 410).
pub(super) fn graph_forgot(e: &Error) -> bool {
    if !(400..500).contains(&e.http_status) || e.http_status == 429 {
        return false;
    }
    match &e.graph {
        Some(g) => {
            !is_token_code(g.code) && !is_permission_code(g.code) && !is_throttling_code(g.code)
        }
        None => matches!(e.http_status, 400 | 404 | 410),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GraphError;

    fn graph(http_status: u16, code: i64) -> RequestError {
        RequestError::Graph {
            http_status,
            error: GraphError {
                code,
                ..GraphError::default()
            },
            wait_hint: None,
        }
    }

    #[test]
    fn an_offset_is_never_past_the_file_behind_a_confirmed_one_or_past_what_was_sent() {
        let mut l = Ledger::new(100, false);
        let e = l.reconcile(10).unwrap_err();
        assert!(e.message.contains("another writer"), "{}", e.message);
        l.sent(60);
        l.reconcile(40).unwrap();
        assert_eq!(
            (l.confirmed, l.next(None)),
            (40, Next::Body { start: 40, len: 60 })
        );
        assert_eq!(l.next(Some(25)), Next::Body { start: 40, len: 25 });
        let e = l.reconcile(30).unwrap_err();
        assert!(e.message.contains("lost data"), "{}", e.message);
        let e = l.reconcile(101).unwrap_err();
        assert!(
            e.message.contains("more than the file's 100"),
            "{}",
            e.message
        );
        assert_eq!(l.confirmed, 40, "a refused offset changes nothing");
    }

    #[test]
    fn a_resumed_session_asks_first_and_may_find_bytes_it_did_not_send() {
        let mut l = Ledger::new(100, true);
        assert!(l.stale && !l.asked);
        l.reconcile(70).unwrap();
        assert!(l.asked);
        l.reconcile(100).unwrap();
        assert_eq!(l.next(Some(10)), Next::AskHandle);
    }

    #[test]
    fn only_a_handle_completes_and_an_empty_post_without_one_loses_it() {
        let handle = Ok(UploadAnswer::Handle("4::a\n4::b".into()));
        let body = Next::Body { start: 0, len: 9 };
        assert_eq!(
            Ledger::judge(body, &handle),
            Outcome::Complete("4::a\n4::b".into())
        );
        let accepted = |offset| Ok(UploadAnswer::Accepted { offset });
        assert_eq!(
            Ledger::judge(body, &accepted(Some(5))),
            Outcome::Accepted(Some(5))
        );
        assert_eq!(
            Ledger::judge(body, &accepted(None)),
            Outcome::Accepted(None)
        );
        assert_eq!(
            Ledger::judge(Next::AskHandle, &accepted(None)),
            Outcome::HandleLost
        );
        let cut = Err(RequestError::Network("reset".into()));
        assert_eq!(Ledger::judge(Next::AskHandle, &cut), Outcome::HandleLost);
        assert_eq!(Ledger::judge(body, &cut), Outcome::Failed);
        assert_eq!(
            Ledger::judge(Next::AskHandle, &handle),
            Outcome::Complete("4::a\n4::b".into())
        );
    }

    const MB: u64 = 1_000_000;

    #[test]
    fn a_link_that_never_cuts_sends_the_rest_in_one_request() {
        let mut s = Sizing::new(0);
        assert_eq!(s.limit(), None);
        s.clean();
        assert_eq!(s.limit(), None);
        // A cut that kept what arrived (the socket's buffers held the rest) changes
        // nothing either.
        s.cut(0, 6 * MB);
        assert_eq!(s.settle(4 * MB), None);
        s.cut(4 * MB, 3 * MB);
        assert_eq!(s.settle(4 * MB + 500_000), None, "a sixth committed");
        assert_eq!(s.limit(), None);
    }

    #[test]
    fn a_cut_that_committed_nothing_bounds_the_next_requests_and_they_grow_back() {
        let mut s = Sizing::new(0);
        s.cut(0, 6 * MB);
        assert_eq!(
            s.settle(0).map(|r| r.bound),
            Some(3 * MB),
            "half of what was lost"
        );
        assert_eq!(s.limit(), Some(3 * MB));
        s.clean();
        assert_eq!(
            s.limit(),
            Some(4_500_000),
            "grows, below the size that was cut"
        );
        s.clean();
        assert_eq!(s.limit(), Some(4_500_000));
        for _ in 0..FORGET_AFTER {
            s.clean();
        }
        assert!(s.limit().unwrap() > 6 * MB, "the cut size is forgotten");
        // A small cut never bounds below the floor.
        let mut s = Sizing::new(0);
        s.cut(0, 300_000);
        assert_eq!(s.settle(0).map(|r| r.bound), Some(FLOOR));
        let mut s = Sizing::new(0);
        s.cut(0, 100_000);
        assert_eq!(s.settle(0), None, "under the floor: nothing to learn");
    }

    #[test]
    fn the_callers_bound_is_never_exceeded() {
        let mut s = Sizing::new(2 * MB);
        assert_eq!(s.limit(), Some(2 * MB));
        s.cut(0, 2 * MB);
        assert_eq!(
            s.settle(0),
            Some(Resize {
                bound: MB,
                committed: 0,
                sent: 2 * MB
            })
        );
        assert_eq!(s.limit(), Some(MB));
        for _ in 0..20 {
            s.clean();
        }
        assert_eq!(s.limit(), Some(2 * MB));
    }

    #[test]
    fn graphs_offset_decides_every_refusal_but_token_and_permission() {
        assert!(offset_decides(&graph(400, 100)));
        assert!(offset_decides(&graph(400, 6001)));
        assert!(!offset_decides(&graph(400, 190)));
        assert!(!offset_decides(&graph(403, 200)));
        let http = RequestError::Http {
            http_status: 409,
            snippet: String::new(),
            wait_hint: None,
        };
        assert!(offset_decides(&http));
        let odd = |s| RequestError::Protocol {
            http_status: s,
            message: String::new(),
        };
        assert!(offset_decides(&odd(200)) && !offset_decides(&odd(0)));
        assert!(!offset_decides(&RequestError::Timeout("t".into())));
    }

    #[test]
    fn a_forgotten_session_is_a_4xx_that_is_not_token_permission_or_throttling() {
        let with = |status, code| {
            let mut e = Error::new(Status::Graph, "x");
            e.http_status = status;
            e.graph = Some(Box::new(GraphError {
                code,
                ..GraphError::default()
            }));
            e
        };
        assert!(graph_forgot(&with(400, 100)));
        assert!(!graph_forgot(&with(400, 190)));
        assert!(!graph_forgot(&with(400, 4)));
        assert!(!graph_forgot(&with(403, 10)));
        assert!(!graph_forgot(&with(500, 1)));
        let bare = |s| {
            let mut e = Error::new(Status::Protocol, "x");
            e.http_status = s;
            e
        };
        assert!(graph_forgot(&bare(404)) && graph_forgot(&bare(410)));
        assert!(!graph_forgot(&bare(409)) && !graph_forgot(&bare(429)));
    }
}
