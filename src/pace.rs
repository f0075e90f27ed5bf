//! Holds the send rate under `max_send_rate`: a token bucket one send buffer deep, so
//! that over any stretch of time no more than `rate x time + one buffer` bytes go out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest sleep between two looks at the cancel flag.
const SLICE: Duration = Duration::from_millis(50);

pub(crate) struct Pacer {
    /// Bytes per second; 0 means no limit.
    rate: u64,
    /// The most bytes that may leave at once (the bucket's depth).
    burst: u64,
    /// Bytes that may leave now.
    tokens: f64,
    last: Instant,
}

impl Pacer {
    pub fn new(rate: u64, burst: usize) -> Pacer {
        Pacer {
            rate,
            burst: burst.max(1) as u64,
            tokens: burst.max(1) as f64,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate as f64).min(self.burst as f64);
    }

    /// How many of `want` bytes may be read and sent now, after waiting as long as the
    /// limit asks; `None` when `cancelled` was set while waiting. Without a limit, all.
    pub fn take(&mut self, want: usize, cancelled: &AtomicBool) -> Option<usize> {
        if self.rate == 0 || want == 0 {
            return Some(want);
        }
        // Small pieces (a tenth of a second's worth) keep progress smooth at low rates.
        let piece = (want as u64).min(self.burst).min((self.rate / 10).max(1));
        loop {
            if cancelled.load(Ordering::SeqCst) {
                return None;
            }
            self.refill();
            if self.tokens >= piece as f64 {
                self.tokens -= piece as f64;
                return Some(piece as usize);
            }
            let missing = piece as f64 - self.tokens;
            let wait = Duration::from_secs_f64(missing / self.rate as f64);
            std::thread::sleep(wait.min(SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_takes_everything_at_once() {
        let mut p = Pacer::new(0, 65536);
        assert_eq!(p.take(1 << 20, &AtomicBool::new(false)), Some(1 << 20));
    }

    #[test]
    fn the_rate_holds_and_bursts_stay_within_one_buffer() {
        let burst = 4096;
        let rate = 200_000;
        let mut p = Pacer::new(rate, burst);
        let cancel = AtomicBool::new(false);
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < 100_000 {
            sent += p.take(65536, &cancel).unwrap() as u64;
            let allowed = rate as f64 * start.elapsed().as_secs_f64() + burst as f64;
            assert!(sent as f64 <= allowed + 1.0, "{sent} > {allowed}");
        }
        // 100 kB at 200 kB/s: half a second, less the first buffer.
        assert!(
            start.elapsed() >= Duration::from_millis(450),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_cancel_ends_the_wait() {
        let mut p = Pacer::new(1, 1);
        let cancel = AtomicBool::new(false);
        assert_eq!(p.take(10, &cancel), Some(1));
        cancel.store(true, Ordering::SeqCst);
        let start = Instant::now();
        assert_eq!(p.take(10, &cancel), None);
        assert!(start.elapsed() < Duration::from_millis(200));
    }
}
