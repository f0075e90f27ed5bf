//! The `fbup` command against the emulator: outputs, exit codes, and a `kill -9` in
//! the middle of an upload followed by the same command again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fbup_emulator::{AfterStall, Emulator, Fault, FaultRule, RequestKind};
use sha2::{Digest, Sha256};

const TOKEN: &str = "EAAcli-secret";

struct Fx {
    emu: Emulator,
    dir: tempfile::TempDir,
}

fn fx() -> Fx {
    Fx {
        emu: Emulator::start(fbup_emulator::Config {
            tokens: vec![TOKEN.into()],
            ..Default::default()
        })
        .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fx {
    fn file(&self, name: &str, len: usize) -> (PathBuf, String) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + (i >> 13)) as u8).collect();
        let path = self.dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        (path, sha(&bytes))
    }

    fn fbup(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fbup"));
        c.env("FBUP_ACCESS_TOKEN", TOKEN)
            .env("FBUP_APP_ID", "1234")
            .env("FBUP_GRAPH_URL", self.emu.url())
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("FBUP_STATE_DIR");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.fbup().args(args).output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(TOKEN), "the token leaked: {all}");
        out
    }
}

impl Fx {
    /// Waits until the emulator's first session holds `offset` bytes: an upload
    /// running beside the test is then in the middle of the file.
    /// Starts `fbup ARGS` (stdout and stderr piped) against an emulator that stalls the
    /// upload once, for a minute, after `at` body bytes; returns once Graph holds them.
    fn stalled_upload(&self, at: u64, args: &[&str]) -> std::process::Child {
        self.emu.add_fault(FaultRule::once(
            RequestKind::Upload,
            Fault::Stall {
                after_bytes: at,
                millis: 60_000,
                then: AfterStall::Close,
            },
        ));
        let child = self
            .fbup()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.wait_for_offset(at);
        child
    }

    fn wait_for_offset(&self, offset: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.emu.sessions().first().map_or(0, |s| s.file_offset) < offset {
            assert!(
                Instant::now() < deadline,
                "the upload never reached byte {offset}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn one_file_prints_its_handle() {
    let fx = fx();
    let (path, sum) = fx.file("a.png", 300_000);
    let out = fx.run(&["upload", p(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = &fx.emu.sessions()[0];
    assert_eq!(s.sha256.as_deref(), Some(sum.as_str()));
    assert_eq!(stdout(&out), format!("{}\n", s.handle.as_deref().unwrap()));
    // Progress lines on a non-terminal stderr, with no figure that cannot be known yet
    // (a rate in the first moments), and a summary of the session's own figures.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a.png: 0% sent (0 B of 292.97 KiB)\n"),
        "{err}"
    );
    assert!(!err.contains("0 B/s") && !err.contains("ETA ?"), "{err}");
    assert!(
        err.contains("a.png: done: Graph holds all 292.97 KiB; 292.97 KiB sent in"),
        "{err}"
    );
    // Resuming a session Graph already holds whole: nothing sent, nothing made up.
    let out = fx.run(&["resume", &s.id, p(&path)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.trim()
            .ends_with("a.png: done: Graph already held all 292.97 KiB; nothing to send"),
        "{err}"
    );
}

#[test]
fn verbose_prints_the_trace_and_twice_adds_connections() {
    let fx = fx();
    let (path, sum) = fx.file("v.mp4", 2_000_000);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 700_000 },
    ));
    // fx.run checks that the token appears nowhere in the output.
    let out = fx.run(&["upload", "-v", "--no-resume", p(&path)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(fx.emu.sessions()[0].sha256.as_deref(), Some(sum.as_str()));
    for must in [
        "fbup: info: -> POST ",
        "file_offset: 0, body 2000000 bytes",
        "fbup: info: <- HTTP 200 to GET ",
        "file_offset 700000",
        "fbup: warning: retry: attempt 1 of 8",
        "x-fb-trace-id: ",
        "fbup: info: complete: Graph holds all 2000000 bytes",
    ] {
        assert!(err.contains(must), "-v lacks '{must}':\n{err}");
    }
    assert!(!err.contains("fbup: debug: "), "{err}");
    let out = fx.run(&["upload", "-vv", "--no-resume", p(&path)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("fbup: debug: connected to 127.0.0.1:"),
        "{err}"
    );
    // Without -v, no trace.
    let out = fx.run(&["upload", "--no-resume", p(&path)]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("fbup: info: "));
}

#[test]
fn several_files_print_in_order_and_json_keeps_newlines() {
    let fx = fx();
    let (a, _) = fx.file("a.jpg", 200_000);
    let (b, _) = fx.file("b.mp4", 500_000);
    let (c, _) = fx.file("c.pdf", 1_000);
    let out = fx.run(&["upload", "--jobs", "2", "--quiet", p(&a), p(&b), p(&c)]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "--quiet prints nothing");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3);
    // Each line comes when its file finishes, so in any order.
    for path in [&a, &b, &c] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{}\t", p(path))))
            .unwrap();
        let (_, handle) = line.split_once('\t').unwrap();
        let real = fx
            .emu
            .sessions()
            .into_iter()
            .find(|s| s.file_name == path.file_name().unwrap().to_str().unwrap())
            .unwrap()
            .handle
            .unwrap();
        assert_eq!(handle.replace("\\n", "\n"), real);
    }
    let video = lines.iter().find(|l| l.starts_with(p(&b))).unwrap();
    assert!(video.contains("\\n"), "video handles are several");

    let out = fx.run(&["upload", "--json", "--no-resume", "--quiet", p(&b)]);
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let handle = json["handle"].as_str().unwrap();
    assert_eq!(handle.split('\n').count(), 3);
    assert_eq!(json["file"], p(&b));
    assert!(json["session_id"].as_str().unwrap().contains("?sig="));
    // The transfer figures ride along.
    assert_eq!(json["info"]["bytes_confirmed"], 500_000);
    assert!(
        json["info"]["bytes_sent"].as_u64().unwrap() >= 500_000,
        "{json}"
    );
    assert!(json["info"]["requests"].as_u64().unwrap() >= 2, "{json}");
}

#[test]
fn exit_codes_say_what_failed() {
    let fx = fx();
    let (png, _) = fx.file("ok.png", 100);
    let (gif, _) = fx.file("anim.unknownext", 100);
    let out = fx.run(&["upload", p(&gif)]);
    assert_eq!(out.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&out.stderr).contains("file type"));

    let out = fx.run(&["upload", p(&fx.dir.path().join("missing.png"))]);
    assert_eq!(out.status.code(), Some(12));

    let out = fx
        .fbup()
        .env("FBUP_ACCESS_TOKEN", "EAAwrong")
        .args(["upload", p(&png)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("190") && !err.contains("EAAwrong"), "{err}");

    let out = fx
        .fbup()
        .env_remove("FBUP_ACCESS_TOKEN")
        .args(["upload", p(&png)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FBUP_ACCESS_TOKEN"));

    // A token file works where the variable is absent.
    let tf = fx.dir.path().join("token");
    std::fs::write(&tf, format!("{TOKEN}\n")).unwrap();
    let out = fx
        .fbup()
        .env_remove("FBUP_ACCESS_TOKEN")
        .args(["upload", "--token-file", p(&tf), p(&png)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kill_9_mid_upload_then_the_same_command_resumes_the_same_session() {
    let fx = fx();
    let len = 64 * 1024 * 1024;
    let (path, sum) = fx.file("big.mp4", len);
    // Hold the upload at 40% long enough to kill the process there.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: len as u64 * 4 / 10,
            millis: 30_000,
            then: AfterStall::Close,
        },
    ));
    let mut child = fx
        .fbup()
        .args(["upload", "--quiet", p(&path)])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    fx.wait_for_offset(len as u64 * 4 / 10);
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let id = fx.emu.sessions()[0].id.clone();

    let listed = fx.run(&["sessions"]);
    assert!(stdout(&listed).contains(&id), "{}", stdout(&listed));
    let held = fx.emu.sessions()[0].file_offset;
    assert!(
        stdout(&listed).contains(&format!("{held} of {len} bytes held by Graph")),
        "{}",
        stdout(&listed)
    );
    let listed = fx.run(&["sessions", "--json"]);
    let entry: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(entry["session_id"], id.as_str());
    assert_eq!(entry["file_offset"], held);

    let out = fx.run(&["upload", "--quiet", p(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sessions = fx.emu.sessions();
    assert_eq!(sessions.len(), 1, "the same session was resumed");
    let s = &sessions[0];
    assert_eq!(s.id, id);
    assert_eq!(s.sha256.as_deref(), Some(sum.as_str()));
    assert!(
        s.bytes_received_total < len as u64 * 12 / 10,
        "{} bytes received for {len}",
        s.bytes_received_total
    );
    let listed = fx.run(&["sessions"]);
    assert_eq!(stdout(&listed), "", "forgotten once complete");
    assert!(
        String::from_utf8_lossy(&listed.stderr).contains("no pending uploads"),
        "an empty journal says so"
    );
}

#[test]
fn offset_and_resume_commands() {
    let fx = fx();
    let (path, sum) = fx.file("r.png", 2_000_000);
    fx.emu.add_fault(FaultRule {
        kind: RequestKind::Upload,
        fault: "upload,status=400,code=100"
            .parse::<FaultRule>()
            .unwrap()
            .fault,
        times: Some(1),
        session: None,
    });
    let out = fx.run(&["upload", "--no-resume", "--quiet", p(&path)]);
    assert_eq!(out.status.code(), Some(16));
    let id = fx.emu.sessions()[0].id.clone();
    let out = fx.run(&["offset", &id]);
    assert_eq!(stdout(&out), "0\n");
    let out = fx.run(&["resume", "--quiet", &id, p(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fx.emu.sessions()[0].sha256.as_deref(), Some(sum.as_str()));
    assert_eq!(stdout(&fx.run(&["offset", &id])), "2000000\n");
}

/// Runs `fbup` with its stderr on a pseudo-terminal of `cols` columns, as a person at
/// a terminal sees it; returns the exit code and the screen's text with the escape
/// sequences removed (each redraw on a line of its own).
fn run_in_terminal(cmd: Command, cols: u16) -> (Option<i32>, String) {
    let (code, raw) = terminal(cmd, cols, None);
    (code, screen_of(&raw))
}

/// Runs `cmd` on a pseudo-terminal of `cols` columns that is its controlling terminal,
/// typing Ctrl-C after `ctrl_c` when given (the terminal then echoes `^C` and signals
/// the command, as a person's keyboard does); the exit code and every byte it wrote to
/// stderr.
fn terminal(mut cmd: Command, cols: u16, ctrl_c: Option<Duration>) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors; the name may be NULL, the terminal
    // settings too, and the window size is read only.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors were just opened and are owned here alone.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave.try_clone().unwrap()))
        .env("TERM", "xterm");
    // SAFETY: between fork and exec only async-signal-safe calls: a new session, whose
    // controlling terminal becomes the pty on stderr.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(2, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(slave);
    drop(cmd);
    let mut keys = std::fs::File::from(master.try_clone().unwrap());
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        // EIO once the child's side is closed ends the screen.
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        raw
    });
    if let Some(after) = ctrl_c {
        std::thread::sleep(after);
        keys.write_all(b"\x03").unwrap();
    }
    let status = child.wait().unwrap();
    drop(keys);
    let raw = reader.join().unwrap();
    (status.code(), String::from_utf8_lossy(&raw).into_owned())
}

/// A terminal's bytes with the escape sequences removed, each redraw on a line.
fn screen_of(text: &str) -> String {
    let mut screen = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-letter
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
                screen.push('\n');
            }
        } else if c == '\r' {
            screen.push('\n');
        } else {
            screen.push(c);
        }
    }
    screen
}

/// The rates a screen shows (`4.51 MiB/s`), in bytes per second.
fn rates_shown(screen: &str) -> Vec<f64> {
    let words: Vec<&str> = screen.split_whitespace().collect();
    let mut rates = Vec::new();
    for pair in words.windows(2) {
        let scale = match pair[1] {
            "B/s" => 1.0,
            "KiB/s" => 1024.0,
            "MiB/s" => 1024.0 * 1024.0,
            "GiB/s" => 1024.0 * 1024.0 * 1024.0,
            _ => continue,
        };
        if let Ok(n) = pair[0].trim_start_matches('(').parse::<f64>() {
            rates.push(n * scale);
        }
    }
    rates
}

#[test]
fn a_terminal_shows_the_retry_the_resume_and_a_sane_rate() {
    let fx = fx();
    let len = 12 * 1024 * 1024;
    let (path, sum) = fx.file("cut.mp4", len);
    // A first run is cut at half the file and gives up (--retries 1): Graph holds half.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt {
            offset: len as u64 / 2,
        },
    ));
    let out = fx.run(&["upload", "--retries", "1", p(&path)]);
    assert_eq!(
        out.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let held = fx.emu.sessions()[0].file_offset;
    assert!(held >= len as u64 / 2);
    // The second run, at a terminal, resumes from there, meets one more cut, and is
    // held to 4 MiB/s: the bytes Graph held before must not count in its rate.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Cut {
            after_bytes: 2 * 1024 * 1024,
        },
    ));
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--limit-rate", "4M", p(&path)]);
    let (code, screen) = run_in_terminal(cmd, 120);
    eprintln!("--- the terminal showed (escapes removed, one redraw a line):\n{screen}");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("resuming at"), "the resume is shown");
    assert!(screen.contains("retry 1/8 in"), "the retry is shown");
    assert!(
        screen.contains("already held by Graph"),
        "the summary says what was held"
    );
    let rates = rates_shown(&screen);
    assert!(rates.len() >= 5, "the rate is shown: {rates:?}");
    let top = rates.iter().copied().fold(0.0, f64::max);
    assert!(
        top <= 4.0 * 1024.0 * 1024.0 * 1.5,
        "a rate of {top:.0} B/s was shown for a 4 MiB/s limit"
    );
    let s = &fx.emu.sessions()[0];
    assert_eq!(s.sha256.as_deref(), Some(sum.as_str()));
}

#[test]
fn sigint_cancels_says_what_graph_holds_and_the_same_command_resumes() {
    let fx = fx();
    let len = 8 * 1024 * 1024;
    let (path, sum) = fx.file("int.mp4", len);
    let child = fx.stalled_upload(3 * 1024 * 1024, &["upload", p(&path)]);
    let sent = Instant::now();
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(19), "{err}");
    assert!(took < Duration::from_secs(3), "exit {took:?} after SIGINT");
    let held = fx.emu.sessions()[0].file_offset;
    assert!(
        err.contains(&format!("Graph holds {held} of {len} bytes")),
        "{err}"
    );
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );

    let out = fx.run(&["upload", "--quiet", p(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sessions = fx.emu.sessions();
    assert_eq!(sessions.len(), 1, "the same session was resumed");
    assert_eq!(sessions[0].sha256.as_deref(), Some(sum.as_str()));
}

#[test]
fn files_are_checked_before_any_upload() {
    let fx = fx();
    let (ok, _) = fx.file("ok.png", 1000);
    let dir = fx.dir.path().join("folder.png");
    std::fs::create_dir(&dir).unwrap();
    let out = fx.run(&["upload", "--jobs", "0", p(&ok)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(fx.emu.sessions().is_empty(), "nothing was uploaded");

    // A refused file is said and left out; the others are uploaded.
    let out = fx.run(&["upload", "--no-resume", p(&dir), p(&ok)]);
    assert_eq!(out.status.code(), Some(11));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a directory"), "{err}");
    assert_eq!(fx.emu.sessions().len(), 1, "the good file was uploaded");

    let same = fx.dir.path().join(".").join("ok.png");
    let out = fx.run(&["upload", "--no-resume", p(&ok), p(&same)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("same file"));
    assert_eq!(
        fx.emu.sessions().len(),
        2,
        "the file named twice, uploaded once"
    );

    let out = fx.run(&["upload", "--json", "--type", "image gif", p(&ok)]);
    assert_eq!(out.status.code(), Some(11));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["status"], "argument");
    let message = json["error"].as_str().unwrap();
    assert!(message.contains("--type 'image gif'"), "{message}");
    assert!(!message.contains("file_type"), "{message}");
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
fn completions_and_the_manual_page_come_from_the_same_definitions() {
    let fx = fx();
    for shell in ["bash", "zsh", "fish"] {
        let out = fx.run(&["completions", shell]);
        assert!(out.status.success());
        assert!(stdout(&out).contains("limit-rate"), "{shell}");
    }
    let out = fx.run(&["man"]);
    assert!(out.status.success());
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH fbup"),
        "{page}"
    );
    assert!(page.contains("completions"), "{page}");
    // A page per subcommand, with its options, the environment and the exit codes;
    // every page the top page names can be made.
    let out = fx.run(&["man", "upload"]);
    assert!(out.status.success());
    let upload = stdout(&out);
    for want in [
        ".TH fbup-upload",
        "\\-\\-limit\\-rate",
        ".SH ENVIRONMENT",
        "FBUP_ACCESS_TOKEN",
        "FBUP_STATE_DIR",
        "EXIT STATUS",
        "\\fB22\\fR",
        "With several files, the exit code is the first failure",
    ] {
        assert!(upload.contains(want), "{want}: {upload}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = fx.run(&["man", "--dir", p(dir.path())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let named: Vec<&str> = page
        .split("fbup\\-")
        .skip(1)
        .filter_map(|rest| rest.split_once("(1)").map(|(sub, _)| sub))
        .filter(|sub| sub.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    assert!(named.len() >= 9, "{named:?}");
    for sub in named {
        let file = dir.path().join(format!("fbup-{sub}.1"));
        assert!(
            file.exists(),
            "fbup(1) names fbup-{sub}(1), which --dir did not write"
        );
    }
    assert_eq!(fx.run(&["man", "nope"]).status.code(), Some(2));
    // Each command's help lists what it takes, and no more.
    let offset = stdout(&fx.run(&["offset", "--help"]));
    assert!(
        !offset.contains("--limit-rate") && !offset.contains("--stall-timeout"),
        "{offset}"
    );
    assert!(offset.contains("\"file_offset\": N"), "{offset}");
    let probe = stdout(&fx.run(&["probe", "--help"]));
    assert!(
        !probe.contains("--limit-rate") && !probe.contains("per file"),
        "{probe}"
    );
    // With the environment setting options, the usage does not show them as required.
    let out = fx
        .fbup()
        .args(["upload"])
        .env("FBUP_STATE_DIR", p(dir.path()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Usage: fbup upload [OPTIONS] <FILES>..."),
        "{err}"
    );
    assert!(
        !err.contains("--app-id <ID>") && !err.contains("--state-dir <DIR>"),
        "{err}"
    );
}

#[test]
fn every_reachable_exit_code_and_json_error_objects() {
    let fx = fx();
    let (png, _) = fx.file("e.png", 5_000);
    let rule = |spec: &str| spec.parse::<FaultRule>().unwrap();
    // 14: the stall timeout keeps firing.
    fx.emu
        .add_fault(rule("upload,stall=3000,after=0,times=always"));
    let out = fx.run(&[
        "upload",
        "--no-resume",
        "--stall-timeout",
        "0.2",
        "--retries",
        "2",
        p(&png),
    ]);
    assert_eq!(
        out.status.code(),
        Some(14),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fx.emu.clear_faults();
    // 16 and 17, with --json error objects.
    for (spec, code, key) in [
        ("upload,status=400,code=100", 16, "graph"),
        ("upload,status=400,code=4,times=always", 17, "throttled"),
    ] {
        fx.emu.clear_faults();
        fx.emu.add_fault(rule(spec));
        let out = fx.run(&["upload", "--json", "--no-resume", "--retries", "1", p(&png)]);
        assert_eq!(out.status.code(), Some(code), "{spec}");
        let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(json["status"], key, "{json}");
        assert_eq!(json["exit_code"], code);
        assert!(json["error"].as_str().unwrap().contains("rule:"), "{json}");
        assert!(json["session_id"].as_str().unwrap().starts_with("upload:"));
    }
    fx.emu.clear_faults();
    // 18: a redirect is outside the protocol.
    fx.emu.add_fault(rule(
        "create,status=302,header=Location:http://127.0.0.1:9/",
    ));
    let out = fx.run(&["upload", "--no-resume", p(&png)]);
    assert_eq!(
        out.status.code(),
        Some(18),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fx.emu.clear_faults();
    // With several files, the first one's code wins, whatever finishes first.
    let (missing_type, _) = fx.file("late.png", 3_000);
    fx.emu.add_fault(rule("upload,status=400,code=100"));
    let out = fx.run(&[
        "upload",
        "--no-resume",
        "--jobs",
        "1",
        p(&png),
        p(&missing_type),
    ]);
    assert_eq!(out.status.code(), Some(16));
    let out = fx.run(&[
        "upload",
        "--no-resume",
        "--type",
        "image/gif;q=1",
        p(&png),
        p(&missing_type),
    ]);
    assert_eq!(out.status.code(), Some(11));
}

#[test]
fn a_second_process_on_the_same_file_gets_exit_20() {
    let fx = fx();
    let (path, _) = fx.file("twice.mp4", 4_000_000);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Stall {
            after_bytes: 1_000_000,
            millis: 20_000,
            then: AfterStall::Close,
        },
    ));
    let child = fx
        .fbup()
        .args(["upload", "--quiet", p(&path)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    fx.wait_for_offset(1_000_000);
    let out = fx.run(&["upload", "--quiet", p(&path)]);
    assert_eq!(
        out.status.code(),
        Some(20),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("another process"));
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait_with_output();
}

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
        .args(["upload", "--quiet", "--retries", "1", p(&path)])
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
            "1",
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
            .args(["upload", "--no-resume", "--retries", "1", p(&path)])
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
            .args(["upload", "--no-resume", "--retries", "1", p(&path)])
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
fn a_lost_handle_is_uploaded_again_unless_no_reupload() {
    let fx = Fx {
        emu: Emulator::start(fbup_emulator::Config {
            tokens: vec![TOKEN.into()],
            unknowns: fbup_emulator::Unknowns {
                refuse_final_empty_post: true,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    let (path, sum) = fx.file("lost.mp4", 300_000);
    fx.emu
        .add_fault(FaultRule::once(RequestKind::Upload, Fault::LoseResponse));
    let out = fx.run(&["upload", "--no-reupload", p(&path)]);
    assert_eq!(
        out.status.code(),
        Some(22),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("handle was lost"));

    fx.emu
        .add_fault(FaultRule::once(RequestKind::Upload, Fault::LoseResponse));
    let out = fx.run(&["upload", p(&path)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("uploading the file again in a new session"),
        "{err}"
    );
    let sessions = fx.emu.sessions();
    let done: Vec<_> = sessions.iter().filter(|s| s.handle.is_some()).collect();
    assert_eq!(
        sessions.len(),
        3,
        "the first run's, and the second run's two"
    );
    let handle = stdout(&out).trim().replace("\\n", "\n");
    assert!(
        done.iter()
            .any(|s| s.handle.as_deref() == Some(handle.as_str())),
        "the printed handle is a real one"
    );
    assert!(sessions
        .iter()
        .all(|s| s.sha256.as_deref() == Some(sum.as_str())));
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

#[test]
fn the_help_lists_ten_plus_every_failure_as_its_exit_code() {
    let out = Command::new(env!("CARGO_BIN_EXE_fbup"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let text = help.split("Exit codes:").nth(1).expect("an exit code list");
    let codes: Vec<i32> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("  ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .filter(|c| *c >= 10)
        .collect();
    let want: Vec<i32> = fbup::Status::ALL
        .iter()
        .skip(1)
        .map(|s| 10 + *s as i32)
        .collect();
    assert_eq!(codes, want, "fbup --help's exit codes against the statuses");
    assert!(want.len() >= 12, "{want:?}");
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
fn a_token_graph_quotes_back_is_not_printed_in_stderr_or_json() {
    let fx = fx();
    let (path, _) = fx.file("echo.png", 1000);
    for _ in 0..2 {
        fx.emu.add_fault(FaultRule::once(
            RequestKind::Create,
            Fault::Respond {
                status: 400,
                error: Some(fbup_emulator::ErrorSpec {
                    message: format!("Malformed access token {TOKEN} (access_token={TOKEN})"),
                    error_type: "OAuthException".into(),
                    code: 190,
                    subcode: None,
                    is_transient: false,
                }),
                headers: Vec::new(),
            },
        ));
    }
    // `run` fails the test when the token is anywhere in stdout or stderr.
    let out = fx.run(&["upload", "--no-resume", p(&path)]);
    assert_eq!(out.status.code(), Some(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Malformed access token <token>"), "{err}");
    let out = fx.run(&["upload", "--json", "--no-resume", p(&path)]);
    assert_eq!(out.status.code(), Some(15));
    assert!(stdout(&out).contains("<token>"), "{}", stdout(&out));
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
fn bad_flags_say_what_to_do_before_any_request() {
    let fx = fx();
    let (path, _) = fx.file("flags.png", 1000);
    // What cannot be an app id: refused here, Graph never asked.
    let out = fx
        .fbup()
        .env("FBUP_APP_ID", "a/b")
        .args(["upload", p(&path)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "{err}");
    assert!(err.contains("--app-id 'a/b' is not an app id"), "{err}");
    assert!(fx.emu.requests().is_empty(), "no request reached Graph");
    // An empty token file says so, not that none was given.
    let empty = fx.dir.path().join("token.txt");
    std::fs::write(&empty, "\n").unwrap();
    let out = fx
        .fbup()
        .env_remove("FBUP_ACCESS_TOKEN")
        .args(["upload", "--token-file", p(&empty), p(&path)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "{err}");
    assert!(
        err.contains("is empty: put the access token in it"),
        "{err}"
    );
    // Sizes: `abc` is not one, and 0 is no limit, as curl takes it.
    let out = fx.run(&["upload", "--limit-rate", "abc", p(&path)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("'abc' is not a size"), "{err}");
    let out = fx.run(&["upload", "--limit-rate", "0", p(&path)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_sigterms_in_a_moment_are_one_clean_cancel() {
    let fx = fx();
    let len = 8 * 1024 * 1024;
    let (path, _) = fx.file("term.mp4", len);
    let child = fx.stalled_upload(2 * 1024 * 1024, &["upload", p(&path)]);
    // Graph is slow to say what it holds after the cancel: the second signal comes while
    // the first is still being served.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Offset,
        Fault::LateAnswer { millis: 1500 },
    ));
    // SAFETY: plain kill(2)s of our own child, as GNU timeout sends them.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(19), "{err}");
    assert!(!err.contains("interrupted again"), "{err}");
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
}

#[test]
fn standard_input_is_a_file_redirected_or_a_pipe_spooled() {
    let fx = fx();
    let (path, sum) = fx.file("in.mp4", 1_500_000);
    // A redirected file: read in place, under the name --name gives.
    let out = fx
        .fbup()
        .args(["upload", "--quiet", "--name", "clip.mp4", "-"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A pipe: spooled, then uploaded; --type says what it is; the copy goes.
    let scratch = tempfile::tempdir().unwrap();
    let mut child = fx
        .fbup()
        .env("TMPDIR", scratch.path())
        .args(["upload", "--quiet", "--type", "video/mp4", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for piece in bytes.chunks(100_000) {
            input.write_all(piece).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(left.is_empty(), "the spooled copy stayed: {left:?}");
    let sessions = fx.emu.sessions();
    assert_eq!(sessions.len(), 2);
    let names: Vec<&str> = sessions.iter().map(|s| s.file_name.as_str()).collect();
    assert!(
        names.contains(&"clip.mp4") && names.contains(&"stdin"),
        "{names:?}"
    );
    for s in &sessions {
        assert_eq!(s.sha256.as_deref(), Some(sum.as_str()), "{}", s.file_name);
    }
    // Without a type, and among other files, `-` is refused before any request.
    let out = fx
        .fbup()
        .args(["upload", "-"])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --type"));
    let out = fx.run(&["upload", "--type", "video/mp4", "-", p(&path)]);
    assert_eq!(out.status.code(), Some(11));
    assert_eq!(fx.emu.sessions().len(), 2, "no request was made");
}

#[test]
fn json_gives_an_object_for_every_file_and_the_good_ones_are_uploaded() {
    let fx = fx();
    let (ok, sum) = fx.file("ok.png", 1000);
    let (ok2, _) = fx.file("ok2.png", 2000);
    let empty = fx.dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let missing = fx.dir.path().join("missing.png");
    let args = ["upload", "--json", "--no-resume"];
    let out = fx.run(&[&args[..], &[p(&ok), p(&empty), p(&missing), p(&ok2)]].concat());
    // The first failure in the order given decides the exit code.
    assert_eq!(out.status.code(), Some(11));
    let objects: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 4, "{objects:?}");
    // The refused files are said before any upload starts.
    assert_eq!(objects[0]["file"], p(&empty));
    assert_eq!(objects[0]["status"], "argument");
    assert_eq!(objects[0]["exit_code"], 11);
    assert_eq!(objects[1]["file"], p(&missing));
    assert_eq!(objects[1]["status"], "file");
    assert!(objects[1]["error"]
        .as_str()
        .unwrap()
        .contains("no such file"));
    let uploaded: Vec<&serde_json::Value> = objects[2..].iter().collect();
    assert!(
        uploaded.iter().all(|o| o["handle"].is_string()),
        "{objects:?}"
    );
    let sessions = fx.emu.sessions();
    assert_eq!(sessions.len(), 2, "both good files were uploaded");
    assert!(sessions
        .iter()
        .any(|s| s.sha256.as_deref() == Some(sum.as_str())));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.png: no such file"), "{err}");
}

#[test]
fn ctrl_c_while_graph_is_slow_says_so_at_once_and_names_the_resume_command() {
    let fx = fx();
    let len = 4 * 1024 * 1024;
    let (path, _) = fx.file("slow.mp4", len);
    // The offset request the cancel makes is answered 30 s late.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Offset,
        Fault::LateAnswer { millis: 30_000 },
    ));
    let child = fx.stalled_upload(1024 * 1024, &["upload", "--no-resume", p(&path)]);
    let sent = Instant::now();
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(19), "{err}");
    assert!(took < Duration::from_secs(7), "exit {took:?} after SIGINT");
    let first = err
        .lines()
        .find(|l| !l.contains("% sent"))
        .unwrap_or_default();
    assert!(first.starts_with("fbup: stopping"), "said at once: {err}");
    let id = &fx.emu.sessions()[0].id;
    assert!(
        err.contains(&format!("resume with: fbup resume '{id}' {}", p(&path))),
        "the session and the command to resume it (--no-resume: no journal): {err}"
    );
}

#[test]
fn resuming_with_another_file_says_it_is_probably_not_the_sessions_file() {
    let fx = fx();
    let (big, _) = fx.file("big.mp4", 2_000_000);
    let (small, _) = fx.file("small.mp4", 500_000);
    assert!(fx.run(&["upload", "--quiet", p(&big)]).status.success());
    let id = fx.emu.sessions()[0].id.clone();
    let out = fx.run(&["resume", &id, p(&small)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(18), "{err}");
    assert!(
        err.contains("probably not the file the session was created for"),
        "{err}"
    );
}

#[test]
fn at_80_columns_every_line_fits_and_a_resume_is_told_once() {
    let fx = fx();
    let len = 12 * 1024 * 1024;
    let (path, sum) = fx.file("a-rather-long-file-name-for-the-bar.mp4", len);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Cut {
            after_bytes: 3 * 1024 * 1024,
        },
    ));
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--limit-rate", "6M", p(&path)]);
    let (code, screen) = run_in_terminal(cmd, 80);
    eprintln!("--- an 80-column terminal showed:\n{screen}");
    assert_eq!(code, Some(0), "{screen}");
    // Each drawing of a bar (the messages above the bars may wrap, as any line of
    // text does).
    let bars: Vec<&str> = screen
        .lines()
        .flat_map(|l| l.split("   "))
        .map(str::trim)
        .filter(|piece| piece.contains("] ") && piece.contains(" sent"))
        .collect();
    assert!(bars.len() >= 5, "{screen}");
    for bar in bars {
        assert!(
            bar.chars().count() <= 80,
            "a bar of {} columns: {bar}",
            bar.chars().count()
        );
    }
    assert_eq!(screen.matches("resuming at").count(), 1, "{screen}");
    assert!(
        screen.contains(" sent "),
        "the figure says what it is: {screen}"
    );
    assert_eq!(fx.emu.sessions()[0].sha256.as_deref(), Some(sum.as_str()));
}

#[test]
fn the_demo_says_no_byte_was_sent_twice() {
    let out = Command::new(env!("CARGO_BIN_EXE_fbup"))
        .args(["demo", "--size-mib", "8"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("re-sent by fbup: none (none twice)"),
        "{text}"
    );
    assert!(text.contains("SHA-256 verified by the server"), "{text}");
}

#[test]
fn ctrl_c_at_a_terminal_leaves_no_bar_behind() {
    let fx = fx();
    let (path, _) = fx.file("ctrl-c.mp4", 24 * 1024 * 1024);
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--limit-rate", "8M", p(&path)]);
    let (code, raw) = terminal(cmd, 80, Some(Duration::from_millis(1500)));
    eprintln!("--- the terminal's bytes around the Ctrl-C:\n{raw:?}");
    assert_eq!(code, Some(19), "{raw}");
    // The terminal echoes ^C where the cursor is: on the bar's row, with room left, so
    // that the row the bar is on is the one fbup clears and writes on next. A cursor left
    // at the right edge would have wrapped the ^C onto a row of its own, leaving the bar.
    let (before, after) = raw.split_once("^C").expect("the terminal echoed ^C");
    let row = before.rsplit(['\r', '\n']).next().unwrap_or_default();
    let shown = screen_of(row).replace('\n', "");
    assert!(
        shown.chars().count() + 2 <= 80,
        "^C echoed at column {}: {shown:?}",
        shown.chars().count() + 1
    );
    assert!(after.starts_with("\r\x1b[2K"), "{after:?}");
    assert!(screen_of(after).contains("fbup: stopping"), "{after:?}");
}
