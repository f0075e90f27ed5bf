//! fbup against curl and a raw `sendfile` sender, on one emulator (`--discard`, no
//! hash) over loopback, over HTTP and TLS, for a 16 MiB and a 1 GiB file. Runs
//! alternate (fbup, curl -T, curl --data-binary, raw, fbup, ...) after a warm-up; the
//! table shows medians of MB/s, CPU seconds per GiB and peak RSS, each as a ratio to
//! `curl -T` in the same run, with the min-max spread. Then a resume: a cut at 50% of
//! 1 GiB with the default retry policy.
//!
//! On a machine with two CPUs or more, the emulator runs on one and each client on
//! another, and the cipher's own limit (one core sealing TLS records with the crypto
//! provider fbup uses) is measured in the same run, beside the suite each TLS client
//! negotiated.
//!
//! Then many small files over a long round trip (`many.rs`): 40 files of 256 KiB over
//! HTTPS through a latency proxy, against a curl loop, `xargs -P8` curl and a keep-alive
//! Python client.
//!
//! With the portable build of `make dist` there (or `--portable PATH`), it runs as one
//! more client beside the native build: the same code built by zig for glibc 2.17.
//!
//! A catalogue (`catalogue.rs`), with `--catalogue-only`: 1,000 and 20,000 files of
//! 8-64 KiB over HTTPS, fbup `--jobs 8` against eight threads with a `requests.Session`
//! each, and the first request with 50,000 names in a list.
//!
//! Run: `cargo run --release -p fbup-bench [-- --runs N --big-mib M --many-files N
//! --rtt-ms MS --portable PATH]`, or `-- --many-only` for the many-files rows alone, or
//! `-- --catalogue-only [--catalogue 1000,20000 --catalogue-names 50000
//! --catalogue-runs 3]` for the catalogue rows.
//! A benchmark, not a test: it prints figures and asserts nothing about speed.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind, Storage, TlsFiles};

mod catalogue;
mod cpu;
mod many;
mod measure;

use cpu::{allowed_cpus, cipher_rates, pin, CLIENT_CPU};
use measure::{measure, median, spread, Sample};

const TOKEN: &str = "EAAbench";

/// The row of the portable build (`make dist`: cargo-zigbuild for glibc 2.17).
const PORTABLE: &str = "fbup portable (2.17)";

/// The raw sender: the same request written by hand, the body with sendfile(2).
/// Run as `fbup-bench raw HOST:PORT PATH_AND_QUERY FILE`.
fn raw_sender(addr: &str, path: &str, file: &Path) -> Result<(), String> {
    let f = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: OAuth {TOKEN}\r\nfile_offset: 0\r\n\
         Content-Length: {len}\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    let mut offset: libc::off_t = 0;
    while (offset as u64) < len {
        let left = (len - offset as u64).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the duration of the call.
        let n = unsafe { libc::sendfile(s.as_raw_fd(), f.as_raw_fd(), &mut offset, left) };
        if n <= 0 {
            return Err(format!("sendfile: {}", std::io::Error::last_os_error()));
        }
    }
    let mut answer = [0u8; 4096];
    let n = s.read(&mut answer).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer[..n]);
    if !text.starts_with("HTTP/1.1 200") || !text.contains("\"h\"") {
        return Err(format!("unexpected answer: {text}"));
    }
    Ok(())
}

struct Target {
    name: &'static str,
    emu: Emulator,
    cacert: Option<PathBuf>,
}

impl Target {
    /// Creates a session with curl (step 1) and returns its id.
    fn session(&self, len: u64) -> Result<String, String> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", "POST"]);
        if let Some(ca) = &self.cacert {
            cmd.arg("--cacert").arg(ca);
        }
        let out = cmd
            .arg(format!(
                "{}/v24.0/1234/uploads?file_length={len}&file_type=video/mp4&access_token={TOKEN}",
                self.emu.url()
            ))
            .output()
            .map_err(|e| e.to_string())?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "create: {e}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
        json["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("create: {json}"))
    }

    fn curl(&self, id: &str, file: &Path, naive: bool) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-f", "-o", "/dev/null", "-X", "POST"]);
        if naive {
            cmd.arg("--data-binary").arg(format!("@{}", file.display()));
        } else {
            cmd.arg("-T").arg(file);
        }
        cmd.args([
            "-H",
            &format!("Authorization: OAuth {TOKEN}"),
            "-H",
            "file_offset: 0",
            "-H",
            "Expect:",
        ]);
        if let Some(ca) = &self.cacert {
            cmd.arg("--cacert").arg(ca);
        }
        cmd.arg(format!("{}/v24.0/{id}", self.emu.url()));
        cmd
    }

    fn fbup(&self, fbup_bin: &Path, file: &Path) -> Command {
        let mut cmd = Command::new(fbup_bin);
        cmd.args(["upload", "--quiet", "--no-resume"])
            .arg(file)
            .env("FBUP_ACCESS_TOKEN", TOKEN)
            .env("FBUP_APP_ID", "1234")
            .env("FBUP_GRAPH_URL", self.emu.url());
        if let Some(ca) = &self.cacert {
            cmd.env("FBUP_CA_FILE", ca);
        }
        cmd
    }
}

fn make_file(dir: &Path, mib: u64) -> PathBuf {
    let path = dir.join(format!("bench-{mib}m.mp4"));
    let mut f = std::fs::File::create(&path).expect("bench file");
    let chunk: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for _ in 0..mib {
        f.write_all(&chunk).expect("bench file");
    }
    f.sync_all().expect("bench file");
    path
}

fn tls_files(dir: &Path) -> (TlsFiles, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: a leaf whose subject equals its issuer looks self-signed to OpenSSL.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fbup test CA");
    let ca_key = KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("cert");
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("cert");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("pem");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("pem");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("pem");
    (
        TlsFiles {
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        },
        dir.join("ca.pem"),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("raw") {
        if let Err(e) = raw_sender(&args[2], &args[3], Path::new(&args[4])) {
            eprintln!("raw sender: {e}");
            std::process::exit(1);
        }
        return;
    }
    let opt = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runs = opt("--runs", 7).max(1) as usize;
    let big_mib = opt("--big-mib", 1024);
    let many_files = opt("--many-files", 40).max(1) as usize;
    let rtt = Duration::from_millis(opt("--rtt-ms", 40));
    let self_exe = std::env::current_exe().expect("own path");
    let fbup_bin = self_exe.with_file_name("fbup");
    // The portable build of `make dist` (cargo-zigbuild, glibc 2.17), measured beside
    // the native one when it is there (`--portable PATH` names another).
    let portable = args
        .iter()
        .position(|a| a == "--portable")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| {
            let release = self_exe.parent()?.parent()?;
            Some(release.join("x86_64-unknown-linux-gnu/release/fbup"))
        })
        .filter(|p| p.exists());
    if !fbup_bin.exists() {
        eprintln!("build the fbup command first: cargo build --release -p fbup-cli");
        std::process::exit(2);
    }
    // The emulator on one CPU, each client on another: pin this thread before the
    // emulators start their threads, which inherit it.
    let cpus = allowed_cpus();
    let pinning = if cpus.len() >= 2 && pin(cpus[0]) {
        CLIENT_CPU.get_or_init(|| Some(cpus[1]));
        format!(
            "emulator pinned to CPU {}, each client to CPU {}",
            cpus[0], cpus[1]
        )
    } else {
        CLIENT_CPU.get_or_init(|| None);
        "not pinned (one CPU)".to_string()
    };
    let ciphers = {
        let client_cpu = *CLIENT_CPU.get_or_init(|| None);
        std::thread::spawn(move || {
            if let Some(cpu) = client_cpu {
                pin(cpu);
            }
            cipher_rates()
        })
        .join()
        .expect("cipher rates")
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let catalogue = catalogue::Plan {
        counts: args
            .iter()
            .position(|a| a == "--catalogue")
            .and_then(|i| args.get(i + 1))
            .map_or_else(
                || vec![1_000, 20_000],
                |v| v.split(',').filter_map(|n| n.parse().ok()).collect(),
            ),
        names: opt("--catalogue-names", 50_000) as usize,
        runs: opt("--catalogue-runs", 3).max(1) as usize,
    };
    if args.iter().any(|a| a == "--catalogue-only") {
        let (tls, ca) = tls_files(dir.path());
        catalogue::run(&fbup_bin, tls, ca, dir.path(), &catalogue);
        return;
    }
    if args.iter().any(|a| a == "--many-only") {
        let (tls, ca) = tls_files(dir.path());
        many::run(
            &fbup_bin,
            tls,
            ca,
            dir.path(),
            many_files,
            256 * 1024,
            rtt,
            runs.min(5),
        );
        return;
    }
    let (tls, ca) = tls_files(dir.path());
    let discard = || fbup_emulator::Config {
        storage: Storage::Discard { hash: false },
        ..Default::default()
    };
    let targets = [
        Target {
            name: "HTTP",
            emu: Emulator::start(discard()).expect("emulator"),
            cacert: None,
        },
        Target {
            name: "TLS",
            emu: Emulator::start(fbup_emulator::Config {
                tls: Some(tls),
                ..discard()
            })
            .expect("emulator"),
            cacert: Some(ca),
        },
    ];
    println!("fbup benchmark: {runs} runs of each client after a warm-up, alternating; emulator --discard --no-hash on 127.0.0.1; {pinning}");
    println!(
        "cipher limit: one core sealing 16 KiB records with ring (fbup's TLS provider): {}",
        ciphers
            .iter()
            .map(|(name, _, rate)| format!("{name} {rate:.2} GB/s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(p) = &portable {
        println!(
            "portable build: {} (beside the native target/release/fbup)",
            p.display()
        );
    }
    println!("client                   transport  file      MB/s (min-max)        x curl  CPU s/GiB (min-max)    x curl  peak RSS  x curl");
    for mib in [16, big_mib] {
        let file = make_file(dir.path(), mib);
        let len = mib * 1024 * 1024;
        for t in &targets {
            let mut clients: Vec<&str> = if t.cacert.is_none() {
                vec!["fbup", "curl -T", "curl --data-binary", "raw sendfile"]
            } else {
                vec!["fbup", "curl -T", "curl --data-binary"]
            };
            if portable.is_some() {
                clients.push(PORTABLE);
            }
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); clients.len()];
            let mut failed: Vec<Option<String>> = vec![None; clients.len()];
            let mut suites: Vec<BTreeSet<String>> = vec![BTreeSet::new(); clients.len()];
            for round in 0..=runs {
                for (c, client) in clients.iter().enumerate() {
                    if failed[c].is_some() {
                        continue;
                    }
                    let mut cmd = match *client {
                        "fbup" => t.fbup(&fbup_bin, &file),
                        PORTABLE => t.fbup(portable.as_deref().unwrap_or(&fbup_bin), &file),
                        "curl -T" => t.curl(&t.session(len).expect("session"), &file, false),
                        "curl --data-binary" => {
                            t.curl(&t.session(len).expect("session"), &file, true)
                        }
                        _ => {
                            let id = t.session(len).expect("session");
                            let addr = t.emu.url().trim_start_matches("http://").to_string();
                            let mut c = Command::new(&self_exe);
                            c.arg("raw")
                                .arg(addr)
                                .arg(format!("/v24.0/{id}"))
                                .arg(&file);
                            c
                        }
                    };
                    let before = t.emu.tls_suites();
                    let measured = measure(&mut cmd);
                    suites[c].extend(new_suites(&before, &t.emu.tls_suites()));
                    match measured {
                        // Round 0 is the warm-up.
                        Ok(s) if round > 0 => samples[c].push(s),
                        Ok(_) => {}
                        // What naive scripts do may not work at all: say so in the table.
                        Err(e) if *client == "curl --data-binary" => {
                            let why = e.lines().find(|l| l.contains("curl:")).unwrap_or(&e);
                            failed[c] = Some(
                                why.rsplit("curl: ")
                                    .next()
                                    .unwrap_or(why)
                                    .trim()
                                    .to_string(),
                            );
                        }
                        Err(e) => {
                            eprintln!("{client} over {}: {e}", t.name);
                            std::process::exit(1);
                        }
                    }
                }
            }
            let rate = |s: &[Sample]| {
                s.iter()
                    .map(|x| len as f64 / x.secs / 1e6)
                    .collect::<Vec<_>>()
            };
            let cpu = |s: &[Sample]| {
                s.iter()
                    .map(|x| x.cpu_secs * (1u64 << 30) as f64 / len as f64)
                    .collect::<Vec<_>>()
            };
            let rss = |s: &[Sample]| {
                s.iter()
                    .map(|x| x.max_rss_kib as f64 / 1024.0)
                    .collect::<Vec<_>>()
            };
            let curl = &samples[1];
            let (c_rate, c_cpu, c_rss) = (median(rate(curl)), median(cpu(curl)), median(rss(curl)));
            for (c, client) in clients.iter().enumerate() {
                if let Some(why) = &failed[c] {
                    println!("{client:<24} {:<10} {:>5} MiB  failed: {why}", t.name, mib);
                    continue;
                }
                let r = rate(&samples[c]);
                let (lo, hi) = spread(&r);
                let cpus = cpu(&samples[c]);
                let (c_lo, c_hi) = spread(&cpus);
                let (m_rate, m_cpu, m_rss) =
                    (median(r.clone()), median(cpus), median(rss(&samples[c])));
                println!(
                    "{client:<24} {:<10} {:>5} MiB {m_rate:>7.0} ({lo:>5.0}-{hi:<5.0}) {:>8.2} {m_cpu:>7.3} ({c_lo:>5.3}-{c_hi:<5.3}) {:>7.2} {m_rss:>6.1} MiB {:>6.2}",
                    t.name,
                    mib,
                    m_rate / c_rate,
                    m_cpu / c_cpu,
                    m_rss / c_rss
                );
            }
            if t.cacert.is_some() {
                let mut said = Vec::new();
                for (c, client) in clients.iter().enumerate() {
                    let names: Vec<&str> = suites[c].iter().map(String::as_str).collect();
                    let names = if names.is_empty() {
                        "none (it never connected)".to_string()
                    } else {
                        names.join("+")
                    };
                    said.push(format!("{client} {names}"));
                }
                println!("  negotiated: {}", said.join("; "));
                // fbup against the limit of the suite it negotiated.
                if let Some((name, _, limit)) = ciphers
                    .iter()
                    .find(|(_, suite, _)| suites[0].contains(*suite))
                {
                    let fbup_rate = median(rate(&samples[0])) / 1e3;
                    println!(
                        "  fbup: {fbup_rate:.2} GB/s = {:.0}% of one core's {name} limit",
                        fbup_rate / limit * 100.0
                    );
                }
            }
        }
        std::fs::remove_file(&file).ok();
    }
    resume(&targets[0], &fbup_bin, dir.path(), big_mib);
    limit_rate(&targets[0], &fbup_bin, dir.path());
    let many_dir = tempfile::tempdir().expect("temp dir");
    let (tls, ca) = tls_files(many_dir.path());
    many::run(
        &fbup_bin,
        tls,
        ca,
        many_dir.path(),
        many_files,
        256 * 1024,
        rtt,
        runs.min(5),
    );
}

/// `--limit-rate` over a few seconds: the measured rate against the limit.
fn limit_rate(t: &Target, fbup_bin: &Path, dir: &Path) {
    let mib = 24;
    let limit_mib = 8;
    let file = make_file(dir, mib);
    let mut cmd = t.fbup(fbup_bin, &file);
    cmd.args(["--limit-rate", &format!("{limit_mib}M")]);
    let sample = measure(&mut cmd).expect("fbup upload --limit-rate");
    let measured = (mib << 20) as f64 / sample.secs;
    let limit = (limit_mib << 20) as f64;
    println!(
        "limit-rate: {limit_mib} MiB/s asked for {mib} MiB; {:.2} MiB/s measured over {:.2} s \
         ({:+.1}% of the limit, the whole command included)",
        measured / (1u64 << 20) as f64,
        sample.secs,
        (measured / limit - 1.0) * 100.0
    );
}

/// A cut at 50% with the default policy: bytes re-sent below the server's offset, and
/// the time from the cut to the first resumed byte.
fn resume(t: &Target, fbup_bin: &Path, dir: &Path, mib: u64) {
    let file = make_file(dir, mib);
    let len = mib * 1024 * 1024;
    let emu = Emulator::start(fbup_emulator::Config {
        storage: Storage::Discard { hash: false },
        ..Default::default()
    })
    .expect("emulator");
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: len / 2 },
    ));
    let mut cmd = t.fbup(fbup_bin, &file);
    cmd.env("FBUP_GRAPH_URL", emu.url());
    let sample = measure(&mut cmd).expect("fbup upload with a cut");
    let info = &emu.sessions()[0];
    let cut = emu.hangups()[0];
    let resumed = emu
        .requests()
        .into_iter()
        .filter(|r| r.kind == Some(RequestKind::Upload) && r.at > cut)
        .map(|r| r.at)
        .next()
        .expect("a resumed upload request");
    // What the server read past its own cut is thrown away by the cut, not re-sent:
    // only the rest counts against the client.
    let resent = info
        .bytes_received_total
        .saturating_sub(info.bytes_discarded_by_faults)
        .saturating_sub(len);
    println!(
        "resume: cut at 50% of {mib} MiB; the server read {} bytes for {len}, {} of them thrown \
         away by its cut; {resent} re-sent by the client below the server's offset (must be 0); \
         first resumed byte {:.0} ms after the cut; whole upload {:.2} s",
        info.bytes_received_total,
        info.bytes_discarded_by_faults,
        resumed.duration_since(cut).as_secs_f64() * 1000.0,
        sample.secs
    );
}

/// The suites whose connection counts grew between two snapshots of the emulator's.
fn new_suites(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> Vec<String> {
    after
        .iter()
        .filter(|(k, v)| before.get(*k).copied().unwrap_or(0) < **v)
        .map(|(k, _)| k.clone())
        .collect()
}
