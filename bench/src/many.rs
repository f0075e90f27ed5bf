//! Many small files over a long round trip: where an upload costs round trips, not
//! bytes. A latency proxy of its own (a TCP pass-through that delays each direction)
//! stands between the clients and an HTTPS emulator; fbup (one command for all the
//! files, jobs 1 and 8) against a curl loop (two curls a file, as a script would),
//! `xargs -P8` of that, and a keep-alive Python client (`requests.Session`), one and
//! eight of them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fbup_emulator::{Emulator, Storage, TlsFiles};

use crate::measure::{median, spread};
use crate::TOKEN;

/// A TCP pass-through on 127.0.0.1 that holds every chunk for `one_way` before it
/// passes it on, in each direction: a round trip of twice that, at full bandwidth.
pub struct LatencyProxy {
    pub addr: SocketAddr,
}

impl LatencyProxy {
    pub fn start(upstream: SocketAddr, one_way: Duration) -> LatencyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listens");
        let addr = listener.local_addr().expect("proxy address");
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (from, to) = (
                        from.try_clone().expect("clone"),
                        to.try_clone().expect("clone"),
                    );
                    delayed_pipe(from, to, one_way);
                }
            }
        });
        LatencyProxy { addr }
    }
}

/// Copies `from` to `to`, each chunk `delay` after it arrived.
fn delayed_pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Two curls a file, as a shell script would: create, then the body.
const CURL_ONE: &str = r#"f=$1
n=$(stat -c %s "$f")
id=$(curl -sS --cacert "$CA" -X POST "$URL/v24.0/1234/uploads?file_name=$(basename "$f")&file_length=$n&file_type=image/png&access_token=$TOKEN" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
curl -sS -f -o /dev/null --cacert "$CA" -X POST -H "Authorization: OAuth $TOKEN" -H "file_offset: 0" -H "Expect:" --data-binary "@$f" "$URL/v24.0/$id"
"#;

/// A client of the many-files row: its name, how many at once, and its command.
struct Client {
    name: &'static str,
    jobs: usize,
    command: Box<dyn Fn() -> Command>,
}

/// Runs the many-files rows: `n` files of `size` bytes, `rtt` round trip, `runs`
/// alternating runs of each client.
#[allow(clippy::too_many_arguments)]
pub fn run(
    fbup_bin: &Path,
    tls: TlsFiles,
    ca: PathBuf,
    dir: &Path,
    n: usize,
    size: usize,
    rtt: Duration,
    runs: usize,
) {
    let emu = Emulator::start(fbup_emulator::Config {
        storage: Storage::Discard { hash: false },
        tls: Some(tls),
        ..Default::default()
    })
    .expect("emulator");
    let upstream: SocketAddr = emu
        .url()
        .trim_start_matches("https://")
        .parse()
        .expect("address");
    let proxy = LatencyProxy::start(upstream, rtt / 2);
    let url = format!("https://{}", proxy.addr);
    let files: Vec<PathBuf> = (0..n)
        .map(|i| {
            let p = dir.join(format!("many-{i}.png"));
            let bytes: Vec<u8> = (0..size).map(|j| (j * 31 + i * 7) as u8).collect();
            std::fs::write(&p, bytes).expect("file");
            p
        })
        .collect();
    let script = dir.join("curl-one.sh");
    std::fs::write(&script, CURL_ONE).expect("script");
    let py = dir.join("keepalive.py");
    std::fs::write(&py, crate::catalogue::REQUESTS_PY).expect("script");
    let listing = dir.join("many-list.txt");
    crate::catalogue::write_list(&listing, &files);
    let has_requests = Command::new("python3")
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    let clients = clients(
        fbup_bin,
        &url,
        &ca,
        &files,
        &script,
        (&py, &listing),
        has_requests,
    );
    println!(
        "many files: {n} files of {} KiB over HTTPS through a {} ms round trip (a latency proxy \
         delaying each direction by {} ms); {runs} alternating runs, median and spread",
        size / 1024,
        rtt.as_millis(),
        (rtt / 2).as_millis()
    );
    if !has_requests {
        println!("  (the keep-alive Python client is left out: python3 cannot import requests; pip install requests)");
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    for run in 0..=runs {
        for (c, client) in clients.iter().enumerate() {
            let t = Instant::now();
            let out = (client.command)().output().expect("client runs");
            let secs = t.elapsed().as_secs_f64();
            if !out.status.success() {
                println!(
                    "  {}: failed: {}",
                    client.name,
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .next()
                        .unwrap_or("")
                );
                continue;
            }
            if run > 0 {
                samples[c].push(secs);
            }
        }
    }
    print_rows(&clients, &samples, n);
}

fn clients(
    fbup_bin: &Path,
    url: &str,
    ca: &Path,
    files: &[PathBuf],
    script: &Path,
    (py, listing): (&Path, &Path),
    has_requests: bool,
) -> Vec<Client> {
    let fbup = |jobs: usize| {
        let (bin, url, ca, files) = (
            fbup_bin.to_path_buf(),
            url.to_string(),
            ca.to_path_buf(),
            files.to_vec(),
        );
        Box::new(move || {
            let mut c = Command::new(&bin);
            c.args([
                "upload",
                "--quiet",
                "--no-resume",
                "--jobs",
                &jobs.to_string(),
            ])
            .args(&files)
            .env("FBUP_ACCESS_TOKEN", TOKEN)
            .env("FBUP_APP_ID", "1234")
            .env("FBUP_GRAPH_URL", &url)
            .env("FBUP_CA_FILE", &ca);
            c
        }) as Box<dyn Fn() -> Command>
    };
    let curl = |jobs: usize| {
        let (script, url, ca, files) = (
            script.to_path_buf(),
            url.to_string(),
            ca.to_path_buf(),
            files.to_vec(),
        );
        Box::new(move || {
            let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            let line = if jobs == 1 {
                format!(
                    "for f in {}; do bash {} \"$f\"; done",
                    list.join(" "),
                    script.display()
                )
            } else {
                format!(
                    "printf '%s\\n' {} | xargs -P{jobs} -n1 bash {}",
                    list.join(" "),
                    script.display()
                )
            };
            let mut c = Command::new("bash");
            c.args(["-c", &line])
                .env("URL", &url)
                .env("CA", &ca)
                .env("TOKEN", TOKEN);
            c
        }) as Box<dyn Fn() -> Command>
    };
    let python = |jobs: usize| {
        let (py, url, ca, listing) = (
            py.to_path_buf(),
            url.to_string(),
            ca.to_path_buf(),
            listing.to_path_buf(),
        );
        Box::new(move || {
            let mut c = Command::new("python3");
            c.arg(&py)
                .arg(&url)
                .arg(&ca)
                .arg(TOKEN)
                .arg(jobs.to_string())
                .arg(&listing);
            c
        }) as Box<dyn Fn() -> Command>
    };
    let mut out = vec![
        Client {
            name: "fbup upload",
            jobs: 1,
            command: fbup(1),
        },
        Client {
            name: "curl loop (2 curls a file)",
            jobs: 1,
            command: curl(1),
        },
    ];
    if has_requests {
        out.push(Client {
            name: "requests.Session (keep-alive)",
            jobs: 1,
            command: python(1),
        });
    }
    out.push(Client {
        name: "fbup upload --jobs 8",
        jobs: 8,
        command: fbup(8),
    });
    out.push(Client {
        name: "xargs -P8 curl",
        jobs: 8,
        command: curl(8),
    });
    if has_requests {
        out.push(Client {
            name: "8 requests.Sessions",
            jobs: 8,
            command: python(8),
        });
    }
    out
}

fn print_rows(clients: &[Client], samples: &[Vec<f64>], n: usize) {
    println!(
        "{:<32} {:>4} {:>8} {:>17} {:>8} {:>10} {:>10}",
        "client", "jobs", "seconds", "(min-max)", "files/s", "x curl", "x keep-alive"
    );
    let med = |c: usize| (!samples[c].is_empty()).then(|| median(samples[c].clone()));
    for (c, client) in clients.iter().enumerate() {
        let Some(secs) = med(c) else {
            println!("{:<32} {:>4}  failed", client.name, client.jobs);
            continue;
        };
        let (lo, hi) = spread(&samples[c]);
        let peer = |prefix: &str| {
            clients
                .iter()
                .position(|o| o.jobs == client.jobs && o.name.contains(prefix))
                .and_then(med)
                .map_or("-".to_string(), |p| format!("{:.2}", p / secs))
        };
        println!(
            "{:<32} {:>4} {:>8.2} {:>17} {:>8.1} {:>10} {:>10}",
            client.name,
            client.jobs,
            secs,
            format!("({lo:.2}-{hi:.2})"),
            n as f64 / secs,
            peer("curl"),
            peer("requests")
        );
    }
}
