//! Decides whether a failed request is worth another try, and how long to wait first.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Status;
use crate::graph::RequestError;

/// What to do about a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Try again after the usual backoff; the status to report when tries run out.
    Retry(Status),
    /// Graph throttles us: try again after a longer wait.
    Throttled,
    /// Trying again cannot help.
    Fatal(Status),
}

/// Graph codes that mean "slow down".
const THROTTLE_CODES: [i64; 5] = [4, 17, 32, 341, 613];

/// Sorts a failure into [`Verdict`]s, following Graph's published error codes.
pub(crate) fn classify(e: &RequestError) -> Verdict {
    match e {
        RequestError::Network(_) => Verdict::Retry(Status::Network),
        RequestError::Timeout(_) => Verdict::Retry(Status::Timeout),
        RequestError::Source(_) => Verdict::Fatal(Status::File),
        RequestError::Protocol { .. } => Verdict::Fatal(Status::Protocol),
        RequestError::Http { http_status, .. } => match *http_status {
            429 => Verdict::Throttled,
            500..=599 => Verdict::Retry(Status::Network),
            _ => Verdict::Fatal(Status::Protocol),
        },
        RequestError::Graph {
            http_status, error, ..
        } => {
            if error.code == 190 || error.code == 102 {
                Verdict::Fatal(Status::Auth)
            } else if THROTTLE_CODES.contains(&error.code) || *http_status == 429 {
                Verdict::Throttled
            } else if error.code == 1
                || error.code == 2
                || error.is_transient
                || (*http_status >= 500 && error.code != 100)
            {
                Verdict::Retry(Status::Graph)
            } else {
                Verdict::Fatal(Status::Graph)
            }
        }
    }
}

/// Exponential backoff with full jitter: attempt `n` (from 0) waits a random time
/// between zero and `min(cap, base * 2^n)`.
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

    /// The wait before retry number `attempt` (0 for the first retry).
    pub fn delay(&mut self, attempt: u32, throttled: bool, retry_after: Option<u64>) -> Duration {
        if let Some(secs) = retry_after {
            return Duration::from_secs(secs).min(self.cap.max(Duration::from_secs(1)) * 10);
        }
        // Throttling wants a longer pause than a network blip.
        let base = if throttled { self.base * 8 } else { self.base };
        let ceiling = base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        let ms = ceiling.as_millis() as u64;
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.next_random() % (ms + 1))
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
            retry_after: None,
        }
    }

    #[test]
    fn classification_follows_graph_codes() {
        assert_eq!(
            classify(&graph(500, 2, true)),
            Verdict::Retry(Status::Graph)
        );
        assert_eq!(
            classify(&graph(400, 1, false)),
            Verdict::Retry(Status::Graph)
        );
        assert_eq!(
            classify(&graph(400, 99, true)),
            Verdict::Retry(Status::Graph)
        );
        for code in [4, 17, 32, 341, 613] {
            assert_eq!(
                classify(&graph(400, code, false)),
                Verdict::Throttled,
                "{code}"
            );
        }
        assert_eq!(
            classify(&graph(400, 190, false)),
            Verdict::Fatal(Status::Auth)
        );
        assert_eq!(
            classify(&graph(400, 102, false)),
            Verdict::Fatal(Status::Auth)
        );
        for code in [100, 10, 200, 299, 368] {
            assert_eq!(
                classify(&graph(400, code, false)),
                Verdict::Fatal(Status::Graph),
                "{code}"
            );
        }
        let http = |s| RequestError::Http {
            http_status: s,
            snippet: String::new(),
            retry_after: None,
        };
        assert_eq!(classify(&http(503)), Verdict::Retry(Status::Network));
        assert_eq!(classify(&http(429)), Verdict::Throttled);
        assert_eq!(classify(&http(404)), Verdict::Fatal(Status::Protocol));
        assert_eq!(
            classify(&RequestError::Timeout("t".into())),
            Verdict::Retry(Status::Timeout)
        );
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        for attempt in 0..30 {
            let d = b.delay(attempt, false, None);
            let ceiling = (100u64 << attempt.min(20)).min(1000);
            assert!(d <= Duration::from_millis(ceiling), "{attempt}: {d:?}");
        }
        assert_eq!(b.delay(0, true, Some(3)), Duration::from_secs(3));
    }
}
