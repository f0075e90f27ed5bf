//! Figures about a session's transfers, kept up to date as it runs and readable at any
//! time, from another thread or from the progress callback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a session has done so far (see [`Session::info`](crate::Session::info)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// Graph's offset as last known: bytes it confirmed holding.
    pub bytes_confirmed: u64,
    /// Body bytes handed to the network over all attempts, re-sent ones included.
    pub bytes_sent: u64,
    /// HTTP requests made (create, upload, offset).
    pub requests: u64,
    /// Failed attempts that were tried again.
    pub retries: u64,
    /// Times the upload went on from an offset Graph reported.
    pub resumes: u64,
    /// Time spent waiting before retries.
    pub wait: Duration,
    /// Time spent inside [`Session::upload`](crate::Session::upload).
    pub elapsed: Duration,
}

/// The live counters behind [`Info`].
#[derive(Default)]
pub(crate) struct Stats {
    pub confirmed: AtomicU64,
    pub sent: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub resumes: AtomicU64,
    pub wait_us: AtomicU64,
    elapsed_us: AtomicU64,
    running_since: Mutex<Option<Instant>>,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// An upload starts (`true`) or ends (`false`): elapsed time runs in between.
    pub fn running(&self, on: bool) {
        let mut since = self.running_since.lock().unwrap_or_else(|e| e.into_inner());
        match (on, since.take()) {
            (true, _) => *since = Some(Instant::now()),
            (false, Some(start)) => {
                let us = start.elapsed().as_micros().min(u64::MAX as u128) as u64;
                Stats::add(&self.elapsed_us, us);
            }
            (false, None) => {}
        }
    }

    pub fn snapshot(&self) -> Info {
        let running = self
            .running_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(Duration::ZERO, |s| s.elapsed());
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Info {
            bytes_confirmed: get(&self.confirmed),
            bytes_sent: get(&self.sent),
            requests: get(&self.requests),
            retries: get(&self.retries),
            resumes: get(&self.resumes),
            wait: Duration::from_micros(get(&self.wait_us)),
            elapsed: Duration::from_micros(get(&self.elapsed_us)) + running,
        }
    }
}
