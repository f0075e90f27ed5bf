//! A catalogue: thousands of small files in one command, over HTTPS to the emulator on
//! 127.0.0.1 (no added latency, so that the cost per file shows). fbup (`--jobs 8
//! --files-from LIST`, its journal on, as a user runs it, and without it) beside an uploader of eight
//! threads with a `requests.Session` each (the peer the catalogue issue measured
//! against). For each: files per second, CPU milliseconds per file (user + system of
//! the whole process), TLS handshakes (connections the emulator accepted: each is one),
//! peak RSS, and the time from the start to the first request Graph saw. Then the time
//! to the first request with a list of 50,000 names.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fbup_emulator::{Emulator, Storage, TlsFiles};

use crate::measure::{measure, median, spread, Sample};
use crate::TOKEN;

/// N threads, one `requests.Session` each (keep-alive), create and body per file,
/// names from a list file; the many-files rows use it too.
pub const REQUESTS_PY: &str = r#"import os, sys, concurrent.futures, requests
url, ca, token, jobs, listing = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
with open(listing) as fh:
    files = [line.rstrip("\n") for line in fh if line.strip()]
def worker(chunk):
    s = requests.Session()
    s.trust_env = False  # else REQUESTS_CA_BUNDLE would win over verify
    s.verify = ca
    for f in chunk:
        r = s.post(url + "/v24.0/1234/uploads", params={"file_name": os.path.basename(f),
                   "file_length": os.path.getsize(f), "file_type": "image/png", "access_token": token})
        r.raise_for_status()
        with open(f, "rb") as fh:
            r = s.post(url + "/v24.0/" + r.json()["id"], data=fh.read(),
                       headers={"Authorization": "OAuth " + token, "file_offset": "0"})
        r.raise_for_status()
with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
    list(ex.map(worker, [files[i::jobs] for i in range(jobs)]))
"#;

/// How a client's command is made, once per run.
type MakeCommand<'a> = Box<dyn Fn() -> Command + 'a>;

/// The jobs of both clients.
const JOBS: usize = 8;

/// What the catalogue rows take: the file counts, the names of the first-request row,
/// and the runs of each client.
pub struct Plan {
    pub counts: Vec<usize>,
    pub names: usize,
    pub runs: usize,
}

/// One run of one client: its measure, its handshakes and its first request.
struct Run {
    sample: Sample,
    handshakes: u64,
    first: Option<Duration>,
}

/// Runs the catalogue rows in `dir` (files of 8-64 KiB, made once for the largest count).
pub fn run(fbup_bin: &Path, tls: TlsFiles, ca: PathBuf, dir: &Path, plan: &Plan) {
    let emu = Emulator::start(fbup_emulator::Config {
        storage: Storage::Discard { hash: false },
        tls: Some(tls),
        ..Default::default()
    })
    .expect("emulator");
    let most = plan
        .counts
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(plan.names);
    let files = make_files(dir, most);
    let py = dir.join("catalogue.py");
    std::fs::write(&py, REQUESTS_PY).expect("script");
    let has_requests = Command::new("python3")
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    println!(
        "catalogue: files of 8-64 KiB over HTTPS to the emulator on 127.0.0.1 (no added latency); \
         fbup upload --jobs {JOBS} --files-from LIST (journal on) against {JOBS} threads with a \
         requests.Session each; {} alternating runs, medians (min-max)",
        plan.runs
    );
    if !has_requests {
        println!("  (the requests uploader is left out: python3 cannot import requests; pip install requests)");
    }
    println!(
        "{:<26} {:>6} {:>22} {:>6} {:>12} {:>6} {:>10} {:>9} {:>13}",
        "client",
        "files",
        "files/s (min-max)",
        "x py",
        "CPU ms/file",
        "x py",
        "handshakes",
        "peak RSS",
        "first request"
    );
    for &n in &plan.counts {
        let listing = dir.join(format!("list-{n}.txt"));
        write_list(&listing, &files[..n]);
        let state = dir.join("state");
        let fbup = |journal: bool| {
            let mut c = fbup_command(fbup_bin, &emu, &ca, &listing);
            c.env("FBUP_STATE_DIR", &state);
            if !journal {
                c.arg("--no-resume");
            }
            c
        };
        let python = || {
            let mut c = Command::new("python3");
            c.arg(&py)
                .arg(emu.url())
                .arg(&ca)
                .arg(TOKEN)
                .arg(JOBS.to_string())
                .arg(&listing);
            c
        };
        let mut clients: Vec<(&str, MakeCommand<'_>)> = vec![
            ("fbup upload --jobs 8", Box::new(move || fbup(true))),
            ("  the same, --no-resume", Box::new(move || fbup(false))),
        ];
        if has_requests {
            clients.push(("8 requests.Sessions", Box::new(python)));
        }
        let mut runs: Vec<Vec<Run>> = clients.iter().map(|_| Vec::new()).collect();
        for _ in 0..plan.runs {
            for (c, (name, command)) in clients.iter().enumerate() {
                // A fresh journal each run: every file is a new upload.
                let _ = std::fs::remove_dir_all(&state);
                match one_run(&emu, &mut command()) {
                    Ok(r) => runs[c].push(r),
                    Err(e) => println!("  {name}: failed: {}", e.lines().next().unwrap_or("")),
                }
            }
        }
        let py_median = clients
            .iter()
            .position(|(name, _)| name.contains("requests"))
            .and_then(|c| summary(&runs[c], n));
        for (c, (name, _)) in clients.iter().enumerate() {
            print_row(name, n, &runs[c], py_median.as_ref());
        }
    }
    first_request_with_many_names(&emu, fbup_bin, &ca, dir, &files[..plan.names]);
}

/// `fbup upload --quiet --no-reupload --jobs 8 --files-from LIST` to this emulator.
fn fbup_command(fbup_bin: &Path, emu: &Emulator, ca: &Path, listing: &Path) -> Command {
    let mut c = Command::new(fbup_bin);
    c.args(["upload", "--quiet", "--no-reupload", "--jobs"])
        .arg(JOBS.to_string())
        .arg("--files-from")
        .arg(listing)
        .env("FBUP_ACCESS_TOKEN", TOKEN)
        .env("FBUP_APP_ID", "1234")
        .env("FBUP_GRAPH_URL", emu.url())
        .env("FBUP_CA_FILE", ca);
    c
}

/// `n` files of 8-64 KiB, made once.
fn make_files(dir: &Path, n: usize) -> Vec<PathBuf> {
    let folder = dir.join("catalogue");
    std::fs::create_dir_all(&folder).expect("folder");
    (0..n)
        .map(|i| {
            let path = folder.join(format!("product-image-{i:06}.png"));
            if !path.exists() {
                let len = 8 * 1024 + (i * 7919) % (56 * 1024);
                let bytes: Vec<u8> = (0..len).map(|b| (b * 31 + i) as u8).collect();
                std::fs::write(&path, bytes).expect("file");
            }
            path
        })
        .collect()
}

pub fn write_list(path: &Path, files: &[PathBuf]) {
    let mut text = String::new();
    for f in files {
        text.push_str(&f.display().to_string());
        text.push('\n');
    }
    std::fs::write(path, text).expect("list");
}

/// Runs one client to its end, watching for the first request Graph sees.
fn one_run(emu: &Emulator, cmd: &mut Command) -> Result<Run, String> {
    emu.clear_requests();
    let before = emu.connections();
    let start = Instant::now();
    let (seen, done) = (
        Arc::new(std::sync::Mutex::new(None)),
        Arc::new(AtomicBool::new(false)),
    );
    let sample = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if !emu.requests().is_empty() {
                    *seen.lock().unwrap() = Some(start.elapsed());
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let sample = measure(cmd);
        done.store(true, Ordering::SeqCst);
        sample
    })?;
    let first = *seen.lock().unwrap();
    Ok(Run {
        sample,
        handshakes: emu.connections() - before,
        first,
    })
}

/// Medians of a client's runs: files per second and CPU ms per file.
fn summary(runs: &[Run], n: usize) -> Option<(f64, f64)> {
    if runs.is_empty() {
        return None;
    }
    let rate = median(runs.iter().map(|r| n as f64 / r.sample.secs).collect());
    let cpu = median(
        runs.iter()
            .map(|r| r.sample.cpu_secs * 1000.0 / n as f64)
            .collect(),
    );
    Some((rate, cpu))
}

fn print_row(name: &str, n: usize, runs: &[Run], peer: Option<&(f64, f64)>) {
    let Some((rate, cpu)) = summary(runs, n) else {
        println!("{name:<26} {n:>6}  failed");
        return;
    };
    let rates: Vec<f64> = runs.iter().map(|r| n as f64 / r.sample.secs).collect();
    let (lo, hi) = spread(&rates);
    let ratio =
        |mine: f64, theirs: Option<f64>| theirs.map_or("-".into(), |t| format!("{:.2}", mine / t));
    let handshakes = runs.iter().map(|r| r.handshakes).max().unwrap_or(0);
    let rss = runs.iter().map(|r| r.sample.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    let firsts: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.first.map(|d| d.as_secs_f64()))
        .collect();
    let first = if firsts.is_empty() {
        "-".to_string()
    } else {
        format!("{:.3} s", median(firsts))
    };
    println!(
        "{name:<26} {n:>6} {:>22} {:>6} {cpu:>12.2} {:>6} {handshakes:>10} {:>9} {:>13}",
        format!("{rate:.0} ({lo:.0}-{hi:.0})"),
        ratio(rate, peer.map(|p| p.0)),
        ratio(cpu, peer.map(|p| p.1)),
        format!("{rss:.1} MiB"),
        first
    );
}

/// The time from the start to the first request Graph sees, with `files.len()` names
/// in a list (the checks of every name come first); the command is then stopped.
fn first_request_with_many_names(
    emu: &Emulator,
    fbup_bin: &Path,
    ca: &Path,
    dir: &Path,
    files: &[PathBuf],
) {
    if files.is_empty() {
        return;
    }
    let listing = dir.join("list-names.txt");
    write_list(&listing, files);
    emu.clear_requests();
    let start = Instant::now();
    let mut child = fbup_command(fbup_bin, emu, ca, &listing)
        .arg("--no-resume")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("fbup runs");
    let first = loop {
        if !emu.requests().is_empty() {
            break Some(start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(120) || child.try_wait().ok().flatten().is_some() {
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();
    match first {
        Some(d) => println!(
            "first request with {} names in a list: {:.3} s after the start (target: within 1 s)",
            files.len(),
            d.as_secs_f64()
        ),
        None => println!(
            "first request with {} names in a list: none came",
            files.len()
        ),
    }
}
