//! Keeps the reported numbers honest: never backwards, never past the total, the
//! total reported exactly once and only when Graph has every byte, and no more calls
//! than a few a second or one per percent of the file, whichever comes first.

use std::time::{Duration, Instant};

/// A report is due when this long has passed since the last one...
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// ...or when this many more bytes were sent (with one percent of the file, if more).
const MIN_STEP: u64 = 256 * 1024;

/// The caller's progress function: `(bytes_done, bytes_total) -> keep going`.
pub type ProgressFn<'a> = dyn FnMut(u64, u64) -> bool + 'a;

pub(crate) struct Progress<'a> {
    callback: &'a mut ProgressFn<'a>,
    total: u64,
    reported: Option<u64>,
    last_call: Option<Instant>,
}

impl<'a> Progress<'a> {
    pub fn new(callback: &'a mut ProgressFn<'a>, total: u64) -> Progress<'a> {
        Progress {
            callback,
            total,
            reported: None,
            last_call: None,
        }
    }

    /// Reports `done` bytes if that is news and the last report is old enough.
    /// Until Graph confirms the last byte the figure stays below the total.
    /// Returns false when the caller asked to stop.
    pub fn update(&mut self, done: u64) -> bool {
        let done = done.min(self.total.saturating_sub(1));
        if self.reported.is_some_and(|r| done <= r) {
            return true;
        }
        let step = (self.total / 100).max(MIN_STEP);
        let big_step = self.reported.is_none_or(|r| done - r >= step);
        if !big_step && self.last_call.is_some_and(|t| t.elapsed() < MIN_INTERVAL) {
            return true;
        }
        self.call(done)
    }

    /// Reports the total: Graph holds every byte.
    pub fn finish(&mut self) -> bool {
        if self.reported == Some(self.total) {
            return true;
        }
        self.call(self.total)
    }

    fn call(&mut self, done: u64) -> bool {
        self.reported = Some(done);
        self.last_call = Some(Instant::now());
        (self.callback)(done, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_backwards_never_over_total_once_at_the_end() {
        let mut calls = Vec::new();
        {
            let mut cb = |d: u64, t: u64| {
                calls.push((d, t));
                true
            };
            let mut p = Progress::new(&mut cb, 100);
            p.update(10);
            p.update(11);
            std::thread::sleep(MIN_INTERVAL);
            p.update(5);
            p.update(150);
            std::thread::sleep(MIN_INTERVAL);
            p.update(150);
            p.finish();
            p.finish();
        }
        assert_eq!(calls, vec![(10, 100), (99, 100), (100, 100)]);
    }

    #[test]
    fn large_steps_are_reported_at_once() {
        let mut calls = Vec::new();
        {
            let mut cb = |d: u64, _: u64| {
                calls.push(d);
                true
            };
            let mut p = Progress::new(&mut cb, 100 * MIN_STEP);
            for d in (0..=100 * MIN_STEP).step_by(MIN_STEP as usize / 2) {
                p.update(d);
            }
        }
        assert_eq!(calls.len(), 100, "one call per step of the file");
    }

    #[test]
    fn a_false_return_is_passed_on() {
        let mut cb = |_: u64, _: u64| false;
        let mut p = Progress::new(&mut cb, 10);
        assert!(!p.update(1));
    }
}
