//! Holds the send rate under `max_send_rate`: a token bucket one send buffer deep, so
//! that over any stretch of time no more than `rate x time + one buffer` bytes go out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest sleep between two looks at the cancel flag.
const SLICE: Duration = Duration::from_millis(50);

/// A token bucket: `rate` bytes per second, at most `burst` at once.
#[derive(Debug)]
pub(crate) struct Bucket {
    /// Bytes per second; 0 means no limit.
    rate: u64,
    /// The most bytes that may leave at once (the bucket's depth).
    burst: u64,
    /// Bytes that may leave now.
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: u64, burst: usize) -> Bucket {
        Bucket {
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

    /// The piece of `want` bytes to ask for: a tenth of a second's worth at most, so
    /// that progress stays smooth at low rates.
    fn piece(&self, want: usize) -> u64 {
        (want as u64).min(self.burst).min((self.rate / 10).max(1))
    }

    /// Takes `piece` bytes if they may leave now; else how long until they may.
    fn try_take(&mut self, piece: u64) -> Result<(), Duration> {
        self.refill();
        if self.tokens >= piece as f64 {
            self.tokens -= piece as f64;
            return Ok(());
        }
        let missing = piece as f64 - self.tokens;
        Err(Duration::from_secs_f64(missing / self.rate as f64))
    }
}

/// A rate shared by several sessions (a client's): each draws from one bucket, so
/// that together they send at most the rate.
#[derive(Clone, Debug)]
pub(crate) struct SharedRate(Arc<Mutex<Bucket>>);

impl SharedRate {
    pub fn new(rate: u64, burst: usize) -> SharedRate {
        SharedRate(Arc::new(Mutex::new(Bucket::new(rate, burst))))
    }
}

/// One upload's pacing: its own bucket, or a share of a client's.
pub(crate) struct Pacer {
    own: Bucket,
    shared: Option<SharedRate>,
}

impl Pacer {
    pub fn new(rate: u64, burst: usize) -> Pacer {
        Pacer {
            own: Bucket::new(rate, burst),
            shared: None,
        }
    }

    /// A pacer that also draws from `shared` (when set): both limits hold.
    pub fn with_shared(mut self, shared: Option<SharedRate>) -> Pacer {
        self.shared = shared.filter(|s| lock(s).rate > 0);
        self
    }

    /// How many of `want` bytes may be read and sent now, after waiting as long as the
    /// limits ask; `None` when `cancelled` was set while waiting. Without a limit, all.
    pub fn take(&mut self, want: usize, cancelled: &AtomicBool) -> Option<usize> {
        if want == 0 || (self.own.rate == 0 && self.shared.is_none()) {
            return Some(want);
        }
        let mut piece = want as u64;
        if self.own.rate > 0 {
            piece = self.own.piece(want);
        }
        if let Some(s) = &self.shared {
            piece = piece.min(lock(s).piece(want));
        }
        if self.own.rate > 0 {
            wait_for(|| self.own.try_take(piece), cancelled)?;
        }
        if let Some(s) = &self.shared {
            wait_for(|| lock(s).try_take(piece), cancelled)?;
        }
        Some(piece as usize)
    }
}

fn lock(s: &SharedRate) -> std::sync::MutexGuard<'_, Bucket> {
    s.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tries `take` until it succeeds, sleeping as long as it says (in slices, looking at
/// `cancelled` between); `None` once cancelled.
fn wait_for(mut take: impl FnMut() -> Result<(), Duration>, cancelled: &AtomicBool) -> Option<()> {
    loop {
        if cancelled.load(Ordering::SeqCst) {
            return None;
        }
        match take() {
            Ok(()) => return Some(()),
            Err(wait) => std::thread::sleep(wait.min(SLICE)),
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
    fn pacers_sharing_a_rate_send_no_more_than_it_together() {
        let rate = 400_000;
        let shared = SharedRate::new(rate, 4096);
        let cancel = AtomicBool::new(false);
        let start = Instant::now();
        let sent: u64 = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..4)
                .map(|_| {
                    let shared = shared.clone();
                    let cancel = &cancel;
                    scope.spawn(move || {
                        let mut p = Pacer::new(0, 65536).with_shared(Some(shared));
                        let mut sent = 0u64;
                        while sent < 50_000 {
                            sent += p.take(65536, cancel).unwrap() as u64;
                        }
                        sent
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).sum()
        });
        // 200 kB at 400 kB/s between the four: half a second, less the first buffer;
        // each alone would have taken no time at all.
        let took = start.elapsed().as_secs_f64();
        assert!(sent >= 200_000);
        assert!(
            took >= 0.45,
            "{sent} bytes in {took:.2} s: more than {rate} B/s together"
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
