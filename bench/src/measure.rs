//! Measuring a client: wall time, CPU and peak RSS of one run, and the median and
//! spread of several.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cpu::{pin, CLIENT_CPU};

/// One measured run of one client.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) secs: f64,
    pub(crate) cpu_secs: f64,
    pub(crate) max_rss_kib: i64,
}

/// Runs a command to its end and measures it: wall time and CPU (user + system, at
/// microsecond resolution) from wait4's rusage, peak RSS from GNU time's report. Peak
/// RSS cannot come from wait4 here: a child spawned by this process inherits the
/// high-water mark of the memory it was cloned from (this process, emulator included),
/// while GNU time forks the client from its own small image.
pub(crate) fn measure(cmd: &mut Command) -> Result<Sample, String> {
    let report = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    if let Some(cpu) = *CLIENT_CPU.get_or_init(|| None) {
        // SAFETY: between fork and exec, only sched_setaffinity, which is
        // async-signal-safe; GNU time and the client it forks inherit the mask.
        unsafe {
            timed.pre_exec(move || {
                pin(cpu);
                Ok(())
            });
        }
    }
    let start = Instant::now();
    let child = timed
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run /usr/bin/time (Debian package time): {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr {
        let _ = stderr.read_to_string(&mut err);
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{cmd:?} failed (status {status}): {}", err.trim()));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let rss = std::fs::read_to_string(report.path())
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .ok_or("no peak RSS in GNU time's report")?;
    Ok(Sample {
        secs,
        cpu_secs: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: rss,
    })
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub(crate) fn spread(v: &[f64]) -> (f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}
