//! How fast the emulator swallows an upload: 1 GiB sent by `curl -T` into an emulator
//! in `--discard --no-hash` mode, over loopback. A benchmark, not a test: it prints MB/s.
//!
//! Run: `cargo run --release -p fbup-emulator --example sink_bench [-- SIZE_MIB [RUNS]]`

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use fbup_emulator::{Config, Emulator, Storage};

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let emu = Emulator::start(Config {
        storage: Storage::Discard { hash: false },
        ..Config::default()
    })
    .expect("emulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.mp4");
    let len = mib * 1024 * 1024;
    {
        let mut f = std::fs::File::create(&path).expect("file");
        let chunk: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 31 % 251) as u8).collect();
        for _ in 0..mib {
            f.write_all(&chunk).expect("write");
        }
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut rates = Vec::new();
    for run in 0..runs {
        let url = format!(
            "{}/v24.0/1/uploads?file_length={len}&file_type=video/mp4&access_token=bench",
            emu.url()
        );
        let text = agent
            .post(&url)
            .send_empty()
            .and_then(|r| r.into_body().read_to_string())
            .expect("create");
        let id = serde_json::from_str::<serde_json::Value>(&text).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string();
        let t = Instant::now();
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "POST",
                "-T",
            ])
            .arg(&path)
            .args([
                "-H",
                "Authorization: OAuth bench",
                "-H",
                "file_offset: 0",
                "-H",
                "Expect:",
            ])
            .arg(format!("{}/v24.0/{id}", emu.url()))
            .output()
            .expect("curl runs");
        let secs = t.elapsed().as_secs_f64();
        let code = String::from_utf8_lossy(&out.stdout).to_string();
        let info = emu.session(&id).expect("session");
        assert!(info.complete, "upload incomplete (HTTP {code})");
        let rate = len as f64 / secs / 1e6;
        println!("run {run}: {mib} MiB in {secs:.3} s = {rate:.0} MB/s (HTTP {code})");
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "emulator sink (curl -T, --discard --no-hash): median {:.0} MB/s over {runs} runs",
        rates[rates.len() / 2]
    );
}
