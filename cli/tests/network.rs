//! How `fbup` reaches Graph: the options as sent, proxies and `NO_PROXY`, the CA
//! file, shared connections, request sizes, the send rate, retries, nothing listening,
//! and the probe.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{fx, p, stdout, Fx, TOKEN};
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind};

#[test]
fn options_reach_graph_as_given() {
    let fx = fx();
    let (path, _) = fx.file("opts.mp4", 10_000);
    let state = fx.dir.path().join("elsewhere");
    let out = fx.run(&[
        "upload",
        "--type",
        "video/mp4",
        "--name",
        "shown-name.mp4",
        "--api-version",
        "v23.0",
        "--state-dir",
        p(&state),
        p(&path),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = &fx.emu.sessions()[0];
    assert_eq!(s.file_name, "shown-name.mp4");
    assert_eq!(s.file_type, "video/mp4");
    assert!(
        fx.emu
            .requests()
            .iter()
            .all(|r| r.path_and_query.starts_with("/v23.0/")),
        "every request used --api-version"
    );
    assert!(state.exists(), "--state-dir holds the journal");
    // FBUP_STATE_DIR moves the journal too: an entry of a stalled upload shows there.
    let env_state = fx.dir.path().join("from-env");
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Cut { after_bytes: 100 },
    ));
    let out = fx
        .fbup()
        .env("FBUP_STATE_DIR", &env_state)
        .args(["upload", "--quiet", "--retries", "0", p(&path)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(13));
    let listed = fx
        .fbup()
        .env("FBUP_STATE_DIR", &env_state)
        .args(["sessions"])
        .output()
        .unwrap();
    assert!(stdout(&listed).contains("upload:"), "{}", stdout(&listed));
    // sessions --prune keeps a fresh entry and drops one of another format.
    std::fs::write(env_state.join("0123456789abcdef.json"), b"{\"version\":0}").unwrap();
    let pruned = fx
        .fbup()
        .env("FBUP_STATE_DIR", &env_state)
        .args(["sessions", "--prune"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&pruned.stderr).contains("pruned 1 entries"),
        "{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
    assert!(stdout(&pruned).contains("upload:"), "the fresh entry stays");
}

#[test]
fn proxy_settings_and_no_proxy_are_honoured() {
    let fx = fx();
    let (path, _) = fx.file("p.png", 5_000);
    // Nothing listens on the proxy's port.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let out = fx
        .fbup()
        .args([
            "upload",
            "--no-resume",
            "--retries",
            "0",
            "--proxy",
            &dead,
            p(&path),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(13), "--proxy is used");
    for var in [
        "HTTPS_PROXY",
        "ALL_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "all_proxy",
        "http_proxy",
    ] {
        let out = fx
            .fbup()
            .env(var, &dead)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .args(["upload", "--no-resume", "--retries", "0", p(&path)])
            .output()
            .unwrap();
        let through_proxy = out.status.code() == Some(13);
        if var == "HTTPS_PROXY" || var == "ALL_PROXY" {
            assert!(through_proxy, "{var} is documented and must be used");
        }
        // With NO_PROXY naming the host, the same environment goes direct.
        let direct = fx
            .fbup()
            .env(var, &dead)
            .env("NO_PROXY", "127.0.0.1")
            .args(["upload", "--no-resume", "--retries", "0", p(&path)])
            .output()
            .unwrap();
        if through_proxy {
            assert!(
                direct.status.success(),
                "{var} with NO_PROXY=127.0.0.1: {}",
                String::from_utf8_lossy(&direct.stderr)
            );
        }
        eprintln!(
            "{var}: proxy used {through_proxy}, NO_PROXY direct {}",
            direct.status.success()
        );
    }
}

#[test]
fn ca_file_reaches_the_tls_config() {
    let fx = fx();
    let (path, _) = fx.file("ca.png", 1_000);
    let missing = fx.dir.path().join("no-such-ca.pem");
    let out = fx.run(&["upload", "--ca-file", p(&missing), p(&path)]);
    assert_eq!(out.status.code(), Some(11));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--ca-file") && err.contains("no-such-ca.pem"),
        "{err}"
    );
    let empty = fx.dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let out = fx.run(&["upload", "--ca-file", p(&empty), p(&path)]);
    assert_eq!(out.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PEM certificate"));
    assert!(fx.emu.sessions().is_empty(), "nothing reached Graph");
}

#[test]
fn files_of_one_command_share_their_tls_connections() {
    use std::io::{BufRead, BufReader};
    let fx = fx();
    let pki = tempfile::tempdir().unwrap();
    let mut emu = Command::new(env!("CARGO_BIN_EXE_fbup"))
        .args(["emulate", "--port", "0", "--tls-generate"])
        .arg(pki.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(emu.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .expect("the emulator's URL")
        .to_string();
    let files: Vec<PathBuf> = (0..5)
        .map(|i| fx.file(&format!("tls{i}.png"), 200_000).0)
        .collect();
    let ca = pki.path().join("ca.pem");
    let mut args = vec!["upload", "--no-resume", "-vv", "--ca-file", p(&ca)];
    args.extend(files.iter().map(|f| p(f)));
    let out = fx
        .fbup()
        .env("FBUP_GRAPH_URL", &url)
        .args(&args)
        .output()
        .unwrap();
    let _ = emu.kill();
    let _ = emu.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let handshakes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("TLS handshake with"))
        .collect();
    // One pooled connection carries the bodies, one more the sessions created ahead:
    // a handshake per pooled connection, never one per file.
    assert!(
        (1..=2).contains(&handshakes.len()),
        "two handshakes at most for five files: {handshakes:#?}"
    );
    assert!(err.contains("reused the open connection"), "{err}");
    assert!(!err.contains(TOKEN));
}

#[test]
fn requests_are_sized_by_what_graph_keeps_and_by_max_request() {
    let fx = Fx {
        emu: Emulator::start(fbup_emulator::Config {
            tokens: vec![TOKEN.into()],
            unknowns: fbup_emulator::Unknowns {
                whole_requests_only: true,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    fx.emu.add_fault(FaultRule::always(
        RequestKind::Upload,
        Fault::Cut {
            after_bytes: 4_000_000,
        },
    ));
    let (path, sum) = fx.file("sized.mp4", 12_000_000);
    let out = fx.run(&["upload", "--no-resume", "-v", p(&path)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("the cut request committed nothing"), "{err}");
    let id = fx.emu.sessions()[0].id.clone();
    assert_eq!(
        fx.emu.session(&id).unwrap().sha256.as_deref(),
        Some(sum.as_str())
    );

    // With --max-request under the cut, no request is cut at all.
    fx.emu.clear_requests();
    let (path, sum) = fx.file("bounded.mp4", 12_000_000);
    let out = fx.run(&["upload", "--no-resume", "--max-request", "3M", p(&path)]);
    assert_eq!(out.status.code(), Some(0));
    let bodies: Vec<u64> = fx
        .emu
        .requests()
        .iter()
        .filter(|r| r.kind == Some(RequestKind::Upload))
        .filter_map(|r| r.header("content-length")?.parse().ok())
        .collect();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    assert!(bodies.iter().all(|b| *b <= 3 * 1024 * 1024), "{bodies:?}");
    let s = fx
        .emu
        .sessions()
        .into_iter()
        .find(|s| s.file_name == "bounded.mp4")
        .unwrap();
    assert_eq!(s.sha256.as_deref(), Some(sum.as_str()));
}

#[test]
fn limit_rate_takes_curls_units_and_holds() {
    let fx = fx();
    let (path, sum) = fx.file("rate.mp4", 3 * 1024 * 1024);
    let started = Instant::now();
    let out = fx.run(&["upload", "--quiet", "--limit-rate", "1M", p(&path)]);
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("3 MiB at --limit-rate 1M took {secs:.2} s");
    assert!(secs >= 2.5, "3 MiB at 1 MiB/s took {secs:.2} s");
    assert_eq!(fx.emu.sessions()[0].sha256.as_deref(), Some(sum.as_str()));
    // The limit is the command's: two files at once share it (each alone at 1 MiB/s
    // would be done in 1.5 s).
    let (a, _) = fx.file("rate-a.mp4", 3 * 1024 * 1024 / 2);
    let (b, _) = fx.file("rate-b.mp4", 3 * 1024 * 1024 / 2);
    let started = Instant::now();
    let out = fx.run(&[
        "upload",
        "--quiet",
        "--jobs",
        "2",
        "--limit-rate",
        "1M",
        p(&a),
        p(&b),
    ]);
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("2 x 1.5 MiB at --jobs 2 --limit-rate 1M took {secs:.2} s");
    assert!(
        secs >= 2.5,
        "2 x 1.5 MiB at 1 MiB/s in all took {secs:.2} s"
    );
    for bad in ["10X", "-5", "K", "abc"] {
        let out = fx.run(&["upload", "--limit-rate", bad, p(&path)]);
        assert_eq!(out.status.code(), Some(2), "--limit-rate {bad}");
    }
}

#[test]
fn nothing_listening_is_said_at_once_and_in_the_clis_words() {
    let fx = fx();
    let (ok, _) = fx.file("ok.png", 1000);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = fx
        .fbup()
        .env("FBUP_GRAPH_URL", format!("http://127.0.0.1:{port}"))
        .args(["upload", "--retries", "3", p(&ok)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(13));
    let err = String::from_utf8_lossy(&out.stderr);
    // An address that never answered: two quick tries, not the retry policy's eight
    // (about 51 s before).
    let retries = err.lines().filter(|l| l.contains("; retry ")).count();
    assert_eq!(retries, 1, "one line per retry: {err}");
    assert!(err.contains("retry 1/3 in 0.2 s"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains("Graph refused"), "{err}");
    assert!(
        !err.contains("resume"),
        "no session, no resume advice: {err}"
    );
    assert!(err.contains("check the Graph URL"), "{err}");
}

#[test]
fn probe_names_the_emulator_mode_it_ran_against() {
    use fbup_emulator::Unknowns;
    let modes: [(&str, bool, Unknowns); 6] = [
        ("fbup emulate", false, Unknowns::default()),
        (
            "fbup emulate --whole-requests-only",
            false,
            Unknowns {
                whole_requests_only: true,
                ..Default::default()
            },
        ),
        ("fbup emulate --offset-as-string", true, Unknowns::default()),
        (
            "fbup emulate --offset-mismatch-code 6001,1363037",
            false,
            Unknowns {
                offset_mismatch: Some((6001, 1_363_037)),
                ..Default::default()
            },
        ),
        (
            "fbup emulate --refuse-final-empty-post",
            false,
            Unknowns {
                refuse_final_empty_post: true,
                ..Default::default()
            },
        ),
        (
            "fbup emulate --offset-as-string --offset-mismatch-code 1 --refuse-final-empty-post \
             --whole-requests-only",
            true,
            Unknowns {
                offset_mismatch: Some((1, 0)),
                refuse_final_empty_post: true,
                whole_requests_only: true,
                ..Default::default()
            },
        ),
    ];
    for (mode, offset_as_string, unknowns) in modes {
        let emu = Emulator::start(fbup_emulator::Config {
            tokens: vec![TOKEN.into()],
            offset_as_string,
            unknowns,
            ..Default::default()
        })
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_fbup"))
            .args(["probe", "--json"])
            .env("FBUP_ACCESS_TOKEN", TOKEN)
            .env("FBUP_APP_ID", "1234")
            .env("FBUP_GRAPH_URL", emu.url())
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(
            out.status.success(),
            "{mode}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(TOKEN));
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["emulate"], mode, "{text}");
        assert_eq!(report["unmatched"], false, "{text}");
        let names: Vec<&str> = report["experiments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "first-part",
                "offset-between-parts",
                "wrong-offset",
                "second-part",
                "offset-after-completion",
                "empty-post-after-completion",
                "percent-encoded-id",
                "cut-body",
                "offset-after-cut"
            ]
        );
        // No id, handle or trace id in a shape.
        let sessions = emu.sessions();
        let session = sessions
            .iter()
            .find(|s| s.file_name == "fbup-probe.png")
            .unwrap();
        assert!(
            session.complete,
            "{mode}: the probe's PNG was uploaded whole"
        );
        assert!(!text.contains(&session.id), "{text}");
        assert!(!text.contains(session.handle.as_deref().unwrap()), "{text}");
    }
    // Plain lines name the mode too.
    let fx = fx();
    let out = fx.run(&["probe"]);
    assert!(stdout(&out).contains("This Graph answers like: fbup emulate\n"));
}

/// `--retries N` counts the tries after the first, as curl's `--retry` does: 0 makes
/// one request and 2 make three, each retry told as `retry k/N`.
#[test]
fn retries_counts_the_tries_after_the_first_as_curls_retry_does() {
    let fx = fx();
    let (png, _) = fx.file("r.png", 5_000);
    for (n, requests) in [(0, 1), (2, 3)] {
        fx.emu.clear_faults();
        fx.emu.clear_requests();
        fx.emu
            .add_fault("upload,status=500,code=2,times=always".parse().unwrap());
        let out = fx.run(&[
            "upload",
            "--no-resume",
            "--retries",
            &n.to_string(),
            p(&png),
        ]);
        let err = common::stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{err}");
        let uploads = fx
            .emu
            .requests()
            .iter()
            .filter(|r| r.kind == Some(RequestKind::Upload))
            .count();
        assert_eq!(uploads, requests, "--retries {n}: {err}");
        let retries: Vec<&str> = err.lines().filter(|l| l.contains("; retry ")).collect();
        assert_eq!(retries.len(), n, "{err}");
        if n > 0 {
            assert!(
                retries[n - 1].contains(&format!("retry {n}/{n} in")),
                "{err}"
            );
        }
        assert!(
            err.contains("--retries"),
            "the failure names the option: {err}"
        );
    }
    let out = fx.run(&["upload", "--retries", "-1", p(&png)]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
}
