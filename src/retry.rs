//! Decides whether a failed request is worth another try, and how long to wait first.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Field, Status, Words};
use crate::graph::RequestError;

/// What to do about a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Try again after the usual backoff.
    Retry,
    /// Graph throttles us: try again after a longer wait.
    Throttle,
    /// The token was refused: try again only with a new token.
    Reauthenticate,
    /// Trying again cannot help.
    Stop,
}

/// A failure sorted: what to do, the status to report when it is not retried or the
/// retries run out, and the rule that decided (it goes into the error message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub action: Action,
    pub status: Status,
    pub rule: &'static str,
}

const fn verdict(action: Action, status: Status, rule: &'static str) -> Verdict {
    Verdict {
        action,
        status,
        rule,
    }
}

/// Graph codes that mean "slow down".
const THROTTLE_CODES: [i64; 5] = [4, 17, 32, 341, 613];

/// Graph codes that refuse the token (190) or the session it belongs to (102).
pub(crate) fn is_token_code(code: i64) -> bool {
    matches!(code, 190 | 102)
}

/// Graph codes that refuse a permission (10, 200-299).
pub(crate) fn is_permission_code(code: i64) -> bool {
    matches!(code, 10 | 200..=299)
}

/// Graph codes that throttle the app.
pub(crate) fn is_throttling_code(code: i64) -> bool {
    THROTTLE_CODES.contains(&code)
}

/// Sorts a failure, following Graph's published error codes.
pub(crate) fn classify(e: &RequestError) -> Verdict {
    use Action::*;
    match e {
        RequestError::Network(_) | RequestError::Refused(_) => {
            verdict(Retry, Status::Network, "network errors are retried")
        }
        RequestError::Certificate(_) => verdict(
            Stop,
            Status::Network,
            "a certificate that does not verify is not retried",
        ),
        RequestError::Timeout(_) => verdict(Retry, Status::Timeout, "timeouts are retried"),
        RequestError::Source(_) => verdict(
            Stop,
            Status::File,
            "a file that cannot be read is not retried",
        ),
        RequestError::Protocol { .. } => verdict(
            Stop,
            Status::Protocol,
            "answers outside the protocol are not retried",
        ),
        RequestError::Http { http_status, .. } => match *http_status {
            429 => verdict(
                Throttle,
                Status::Throttled,
                "HTTP 429: throttled, retried after longer waits",
            ),
            500..=599 => verdict(Retry, Status::Network, "HTTP 5xx is retried"),
            _ => verdict(
                Stop,
                Status::Protocol,
                "HTTP error without a Graph error object: not retried",
            ),
        },
        RequestError::Graph {
            http_status, error, ..
        } => match error.code {
            c if is_token_code(c) => verdict(
                Reauthenticate,
                Status::Auth,
                "token refused (code 190/102): not retried without a new token",
            ),
            c if is_throttling_code(c) => verdict(
                Throttle,
                Status::Throttled,
                "throttling (code 4/17/32/341/613): retried after longer waits",
            ),
            _ if *http_status == 429 => verdict(
                Throttle,
                Status::Throttled,
                "HTTP 429: throttled, retried after longer waits",
            ),
            1 | 2 => verdict(
                Retry,
                Status::Graph,
                "temporary Graph error (code 1/2): retried",
            ),
            100 => verdict(
                Stop,
                Status::Graph,
                "parameter error (code 100): not retried",
            ),
            c if is_permission_code(c) => verdict(
                Stop,
                Status::Graph,
                "permission error (code 10/200-299): not retried",
            ),
            368 => verdict(Stop, Status::Graph, "policy block (code 368): not retried"),
            _ if error.is_transient => verdict(Retry, Status::Graph, "is_transient: retried"),
            _ if *http_status >= 500 => verdict(Retry, Status::Graph, "HTTP 5xx is retried"),
            _ => verdict(Stop, Status::Graph, "Graph error: not retried"),
        },
    }
}

/// Exponential backoff with full jitter: retry `n` (from 0) waits a random time
/// between zero and `min(cap, base * 2^n)`; throttling starts eight times higher.
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    rng: u64,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9)
            ^ (&base as *const Duration as u64);
        Backoff {
            base,
            cap,
            rng: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: enough to spread clients apart.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The wait before retry number `retry` (0 for the first). A wait the server asked
    /// for (`Retry-After`, `estimated_time_to_regain_access`) is honoured as it is.
    pub fn delay(
        &mut self,
        retry: u32,
        throttled: bool,
        server_hint: Option<Duration>,
    ) -> Duration {
        if let Some(hint) = server_hint {
            return hint;
        }
        let base = if throttled { self.base * 8 } else { self.base };
        let ceiling = base
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        let ms = ceiling.as_millis() as u64;
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.next_random() % (ms + 1))
    }
}

/// The retry settings of a plan: what [`Budget`] and [`Backoff`] are made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Attempts in a row without progress before giving up.
    pub max_attempts: u32,
    /// Time without progress before giving up.
    pub max_retry: Duration,
    /// The first retry's ceiling (full jitter); each further one doubles it.
    pub base: Duration,
    /// No retry waits longer (unless the server asks for longer).
    pub cap: Duration,
}

/// The two budgets of a run of failures: attempts in a row without progress, and
/// time without progress. Both start again whenever Graph's offset advances.
pub(crate) struct Budget {
    backoff: Backoff,
    failures: u32,
    max_attempts: u32,
    since_progress: Instant,
    max_retry: Duration,
}

impl Budget {
    pub fn new(policy: &Policy) -> Budget {
        Budget {
            backoff: Backoff::new(policy.base, policy.cap),
            failures: 0,
            max_attempts: policy.max_attempts,
            since_progress: Instant::now(),
            max_retry: policy.max_retry,
        }
    }

    /// The most attempts in a row without progress.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Graph's offset advanced: both budgets start again.
    pub fn progressed(&mut self) {
        self.failures = 0;
        self.since_progress = Instant::now();
    }

    /// Failed attempts in the current run without progress.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Counts a failed attempt; false when the attempts are spent.
    pub fn count(&mut self) -> bool {
        self.failures += 1;
        self.failures < self.max_attempts
    }

    /// Counts a failure and returns the wait before the next try, or why there will
    /// be none (the rule that applied and the budget that ran out).
    pub fn next_wait(&mut self, v: &Verdict, hint: Option<Duration>) -> Result<Duration, Words> {
        let rule = Words::default().text(v.rule);
        if matches!(v.action, Action::Stop | Action::Reauthenticate) {
            return Err(rule);
        }
        if !self.count() {
            return Err(rule
                .text(format!(
                    "; gave up after {} attempt{} in a row without progress (",
                    self.failures,
                    if self.failures == 1 { "" } else { "s" }
                ))
                .name(Field::MaxAttempts)
                .text(")"));
        }
        // A server may ask for any wait: none is taken past max_retry (and a wait that
        // long ends the upload below), so no arithmetic on it can overflow.
        let hint = hint.map(|h| h.min(self.max_retry.saturating_add(Duration::from_secs(1))));
        let wait = self
            .backoff
            .delay(self.failures - 1, v.action == Action::Throttle, hint);
        let spent = self.since_progress.elapsed();
        if spent.saturating_add(wait) > self.max_retry {
            return Err(rule
                .text(format!(
                    "; gave up: the next try would come {:.1} s after the last progress, past ",
                    spent.saturating_add(wait).as_secs_f64(),
                ))
                .name(Field::MaxRetry)
                .text(format!(
                    " ({} ms){}",
                    self.max_retry.as_millis(),
                    if hint.is_some() {
                        ", as the server asked to wait"
                    } else {
                        ""
                    }
                )));
        }
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GraphError;

    fn graph(status: u16, code: i64, transient: bool) -> RequestError {
        RequestError::Graph {
            http_status: status,
            error: GraphError {
                code,
                is_transient: transient,
                ..GraphError::default()
            },
            wait_hint: None,
        }
    }

    fn policy(max_retry: Duration) -> Policy {
        Policy {
            max_attempts: 8,
            max_retry,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }

    fn action(e: &RequestError) -> (Action, Status) {
        let v = classify(e);
        (v.action, v.status)
    }

    #[test]
    fn the_business_use_case_wait_is_the_wait_taken() {
        let buc = r#"{"1":[{"type":"pages","estimated_time_to_regain_access":2},{"estimated_time_to_regain_access":1}]}"#;
        let hint = crate::graph::server_wait_hint(None, Some(buc));
        assert_eq!(
            hint,
            Some(Duration::from_secs(120)),
            "the largest, in minutes"
        );
        let mut budget = Budget::new(&policy(Duration::from_secs(15 * 60)));
        let throttled = classify(&graph(400, 32, false));
        assert_eq!(
            budget.next_wait(&throttled, hint),
            Ok(Duration::from_secs(120))
        );
    }

    #[test]
    fn any_server_wait_is_capped_and_never_overflows() {
        let hint = crate::graph::server_wait_hint(Some("18446744073709551615"), None);
        assert_eq!(hint, Some(Duration::from_secs(u64::MAX)));
        let huge = r#"{"1":[{"estimated_time_to_regain_access":18446744073709551615}]}"#;
        assert!(crate::graph::server_wait_hint(None, Some(huge)).is_some());
        let mut budget = Budget::new(&policy(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(5));
        let throttled = classify(&graph(400, 4, false));
        let why = budget.next_wait(&throttled, hint).unwrap_err().to_string();
        assert!(why.contains("max_retry_ms"), "{why}");
    }

    #[test]
    fn classification_follows_graph_codes() {
        use Action::*;
        assert_eq!(action(&graph(500, 2, true)), (Retry, Status::Graph));
        assert_eq!(action(&graph(400, 1, false)), (Retry, Status::Graph));
        assert_eq!(action(&graph(400, 99, true)), (Retry, Status::Graph));
        assert_eq!(action(&graph(500, 99, false)), (Retry, Status::Graph));
        for code in [4, 17, 32, 341, 613] {
            assert_eq!(
                action(&graph(400, code, false)),
                (Throttle, Status::Throttled),
                "{code}"
            );
        }
        assert_eq!(
            action(&graph(429, 99, false)),
            (Throttle, Status::Throttled)
        );
        assert_eq!(
            action(&graph(400, 190, false)),
            (Reauthenticate, Status::Auth)
        );
        assert_eq!(
            action(&graph(400, 102, false)),
            (Reauthenticate, Status::Auth)
        );
        // Codes that are never retried, even when marked transient.
        for code in [100, 10, 200, 250, 299, 368] {
            assert_eq!(
                action(&graph(400, code, true)),
                (Stop, Status::Graph),
                "{code}"
            );
        }
        let http = |s| RequestError::Http {
            http_status: s,
            snippet: String::new(),
            wait_hint: None,
        };
        assert_eq!(action(&http(503)), (Retry, Status::Network));
        assert_eq!(action(&http(429)), (Throttle, Status::Throttled));
        assert_eq!(action(&http(404)), (Stop, Status::Protocol));
        assert_eq!(
            action(&RequestError::Timeout("t".into())),
            (Retry, Status::Timeout)
        );
        assert_eq!(
            action(&RequestError::Network("n".into())),
            (Retry, Status::Network)
        );
        assert!(classify(&graph(400, 368, false)).rule.contains("368"));
    }

    #[test]
    fn backoff_stays_under_its_ceiling_and_honours_the_server() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        for retry in 0..30 {
            let d = b.delay(retry, false, None);
            let ceiling = (100u64 << retry.min(20)).min(1000);
            assert!(d <= Duration::from_millis(ceiling), "{retry}: {d:?}");
        }
        assert_eq!(
            b.delay(0, true, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }
}
