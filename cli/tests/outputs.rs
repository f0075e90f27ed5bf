//! What `fbup` prints and how it ends: handles on stdout, progress and the trace on
//! stderr, `--json`, the exit codes and the help that lists them, the flags it refuses,
//! standard input as a file, completions and the manual page.

mod common;

use std::process::{Command, Stdio};

use common::{fx, p, stdout, TOKEN};
use fbup_emulator::{Fault, FaultRule, RequestKind};

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
        let out = fx.run(&["upload", "--json", "--no-resume", "--retries", "0", p(&png)]);
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
