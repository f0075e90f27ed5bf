//! The descriptors the command may open. Each job holds up to [`PER_JOB`] of them at
//! once (the file uploading and the one whose session is created ahead, their
//! connections, journal entries and locks); a process that runs out fails files with
//! `Too many open files`. So the soft limit is raised to the hard one at start, and
//! when even that is too small for `--jobs`, the jobs are fewer and the files wait for
//! one: an upload never fails for want of a descriptor.

/// The most descriptors one job holds at once (measured: about 6 with the journal).
pub(crate) const PER_JOB: u64 = 8;

/// Descriptors kept for what is not a job's: the standard ones, the journal's folder,
/// the CA file, the trace, the spool of standard input.
const RESERVE: u64 = 16;

/// Raises the soft limit of open descriptors to the hard one (as far as 65,536), as
/// programs that open many connections do: a shell's soft limit (often 1,024,
/// sometimes 256) is smaller than what `--jobs 64` needs, while the hard one seldom is.
pub(crate) fn raise_limit() {
    const ENOUGH: libc::rlim_t = 65_536;
    let Some(mut limit) = limit() else {
        return;
    };
    let want = limit.rlim_max.min(ENOUGH);
    if limit.rlim_cur < want {
        limit.rlim_cur = want;
        // SAFETY: setrlimit reads the one struct given. Where it is not allowed, the
        // soft limit stays as it was.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
}

/// The process's descriptor limits, if they can be read.
fn limit() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the one struct given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// How many descriptors are open now (the standard ones, and what a parent left open).
fn open_now() -> u64 {
    match std::fs::read_dir("/proc/self/fd") {
        // Less the one reading the folder.
        Ok(dir) => (dir.count() as u64).saturating_sub(1),
        Err(_) => RESERVE,
    }
}

/// The jobs that fit in the descriptors left: `jobs` itself when they all fit, else
/// fewer (one at least) and the soft limit that made them fewer.
pub(crate) fn jobs_that_fit(jobs: usize) -> (usize, Option<u64>) {
    let Some(limit) = limit() else {
        return (jobs, None);
    };
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return (jobs, None);
    }
    jobs_within(jobs, limit.rlim_cur, open_now())
}

/// [`jobs_that_fit`] for a soft limit and the descriptors open already.
fn jobs_within(jobs: usize, soft: u64, open: u64) -> (usize, Option<u64>) {
    let left = soft.saturating_sub(open + RESERVE);
    let fit = usize::try_from(left / PER_JOB).unwrap_or(usize::MAX).max(1);
    if fit >= jobs {
        (jobs, None)
    } else {
        (fit, Some(soft))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_fewer_only_when_their_descriptors_do_not_fit() {
        assert_eq!(jobs_within(8, 1024, 3), (8, None));
        assert_eq!(jobs_within(128, 256, 3), (29, Some(256)));
        assert_eq!(jobs_within(64, 64, 3), (5, Some(64)));
        // One job always runs, however low the limit: its files then wait in turn.
        assert_eq!(jobs_within(4, 10, 3), (1, Some(10)));
        assert_eq!(jobs_within(1, 10, 3), (1, None));
    }
}
