//! The READMEs are tested: every fenced block of `README.md` and `bindings/*/README.md`
//! that is a program or a command sequence runs as written, in a fresh copy of the
//! repository (the files git tracks, plus untracked ones it does not ignore, with no
//! `target/`), against an emulator whose URL is in `FBUP_GRAPH_URL`.
//!
//! A fence says what to do with its block, after the language:
//! - `file=PATH`: write the block to PATH (relative to the README's folder) before the
//!   blocks after it run;
//! - `run`: run it with `bash -eu -o pipefail` in the README's folder; it must exit 0;
//! - `serve`: run it until it prints `listening on http://`, then stop it;
//! - `norun="why"`: not run; the test prints why;
//! - `needs=tool,tool`: with `run`, the tools it needs (a missing one skips the block
//!   with `SKIP:`, or fails under `FBUP_REQUIRE_ALL=1`).
//!
//! A block of `text` is sample output. Any other block without one of these marks fails
//! the test, so a new example cannot go untested by accident.
//!
//! The blocks of one README run as one terminal session would: what a block exports
//! stays set for the blocks after it. They run with `HOME` in a scratch folder (so `make install PREFIX=$HOME/.local`
//! installs there), sample files (`video.mp4`, `clip.mp4`, `photo1.jpg`, `photo2.jpg`)
//! in each README's folder, and `SESSION_ID` set to a session created for `video.mp4`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{skip, test_file};
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind};

/// What a fence asks for.
#[derive(Debug, PartialEq)]
enum Action {
    File(String),
    Run,
    Serve,
    NoRun(String),
    Sample,
}

#[derive(Debug)]
struct Block {
    /// `README.md:LINE` of the opening fence.
    place: String,
    action: Action,
    needs: Vec<String>,
    body: String,
}

/// Splits an info string into its language and `key` / `key=value` / `key="value"` marks.
fn marks(info: &str) -> (String, BTreeMap<String, String>) {
    let info = info.trim();
    let (lang, mut rest) = info.split_once(' ').unwrap_or((info, ""));
    let mut out = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let key_end = rest.find([' ', '=']).unwrap_or(rest.len());
        let key = rest[..key_end].to_string();
        rest = &rest[key_end..];
        let value = if let Some(v) = rest.strip_prefix("=\"") {
            let end = v.find('"').unwrap_or(v.len());
            rest = v.get(end + 1..).unwrap_or("");
            v[..end].to_string()
        } else if let Some(v) = rest.strip_prefix('=') {
            let end = v.find(' ').unwrap_or(v.len());
            rest = &v[end..];
            v[..end].to_string()
        } else {
            String::new()
        };
        out.insert(key, value);
    }
    (lang.to_string(), out)
}

/// The fenced blocks of a Markdown text, each with what its fence asks for; an error
/// names every block whose fence asks for nothing.
fn blocks(name: &str, markdown: &str) -> Result<Vec<Block>, String> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let place = format!("{name}:{}", n + 1);
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.trim_start().starts_with("```"))
            .collect();
        let (lang, marks) = marks(info);
        let action = if let Some(path) = marks.get("file") {
            Action::File(path.clone())
        } else if marks.contains_key("run") {
            Action::Run
        } else if marks.contains_key("serve") {
            Action::Serve
        } else if let Some(why) = marks.get("norun") {
            Action::NoRun(why.clone())
        } else if lang == "text" {
            Action::Sample
        } else {
            errors.push(format!(
                "{place}: a ```{lang} block says neither file=, run, serve nor norun=\"why\""
            ));
            continue;
        };
        let needs = marks
            .get("needs")
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        found.push(Block {
            place,
            action,
            needs,
            body: body.join("\n") + "\n",
        });
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors.join("\n"))
    }
}

#[test]
fn fences_must_say_what_to_do() {
    let ok = "x\n```sh run\necho hi\n```\n```text\nout\n```\n```c file=a.c\nint x;\n```\n\
              ```sh norun=\"needs a phone\"\ndial\n```\n```sh run needs=go,gcc\ngo version\n```\n";
    let b = blocks("R.md", ok).unwrap();
    assert_eq!(b.len(), 5);
    assert_eq!(b[0].action, Action::Run);
    assert_eq!(b[0].body, "echo hi\n");
    assert_eq!(b[1].action, Action::Sample);
    assert_eq!(b[2].action, Action::File("a.c".into()));
    assert_eq!(b[3].action, Action::NoRun("needs a phone".into()));
    assert_eq!(b[4].needs, ["go", "gcc"]);
    let bad = "```sh\nrm -rf /\n```\n```python\nx\n```\n";
    let e = blocks("R.md", bad).unwrap_err();
    assert!(e.contains("R.md:1:") && e.contains("R.md:4:"), "{e}");
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files of the repository as a fresh clone of this working tree would have them.
fn fresh_copy(to: &Path) {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git ls-files failed: this test needs a git checkout"
    );
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let from = root().join(name);
        // Deleted in the working tree but not yet committed: a clone would not have it.
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        let dest = to.join(name);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(&from, &dest).unwrap();
        }
    }
}

/// The environment of a new user's shell: none of cargo's variables for this test,
/// none of fbup's from the developer's shell.
fn user_command(program: &str, cwd: &Path, env: &BTreeMap<String, String>) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let cargo_internal = k.starts_with("CARGO") && k != "CARGO_HOME";
        if cargo_internal || k.starts_with("FBUP_") || k.starts_with("RUST_") || k == "OUT_DIR" {
            cmd.env_remove(&k);
        }
    }
    cmd.current_dir(cwd).envs(env);
    cmd
}

/// Runs a block as the next command sequence of one terminal session: the variables
/// that earlier blocks of the same README exported (kept in `exports`) are set again,
/// and its own are kept for the blocks after it.
fn run_block(block: &Block, cwd: &Path, env: &BTreeMap<String, String>, exports: &Path) {
    let script = format!(
        "[ -f '{0}' ] && . '{0}'\nset -eu -o pipefail\n{1}\nexport -p > '{0}'\n",
        exports.display(),
        block.body
    );
    let started = Instant::now();
    let out = user_command("bash", cwd, env)
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "README block {} ran in {:.1} s: exit {:?}",
        block.place,
        started.elapsed().as_secs_f64(),
        out.status.code()
    );
    assert!(
        out.status.success(),
        "README block {} failed ({:?}):\n{}\n--- stdout\n{}\n--- stderr\n{}",
        block.place,
        out.status,
        block.body,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a server block until it says where it listens, then stops it and all its
/// children.
fn serve_block(block: &Block, cwd: &Path, env: &BTreeMap<String, String>, exports: &Path) {
    let mut child = user_command("bash", cwd, env)
        .arg("-c")
        .arg(format!(
            "[ -f '{0}' ] && . '{0}'\nset -eu\n{1}",
            exports.display(),
            block.body
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The block may build first (cargo run).
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = Vec::new();
    let listening = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening on http://") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    // SAFETY: pgid is the process group this test created for the block.
    unsafe { libc::killpg(pgid, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let Some(line) = listening else {
        panic!(
            "README block {} never said where it listens:\n{}\n--- stdout\n{}\n--- stderr\n{}",
            block.place,
            block.body,
            seen.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    eprintln!("README block {} served: {line}", block.place);
}

fn tool_found(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_readme_block_runs_as_written_on_a_fresh_copy() {
    let mut readmes = vec![PathBuf::from("README.md")];
    let mut bindings: Vec<_> = std::fs::read_dir(root().join("bindings"))
        .unwrap()
        .map(|e| e.unwrap().path().join("README.md"))
        .filter(|p| p.exists())
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    bindings.sort();
    readmes.extend(bindings);
    // Every fence is checked before anything runs.
    let mut all = Vec::new();
    for readme in &readmes {
        let text = std::fs::read_to_string(root().join(readme)).unwrap();
        all.push((
            readme,
            blocks(&readme.display().to_string(), &text).unwrap(),
        ));
    }

    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("fbup");
    fresh_copy(&copy);
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    // The first upload of the run is cut at 1 MB, so a resume happens under the
    // README's commands too.
    let emu = Emulator::start(fbup_emulator::Config::default()).unwrap();
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 1_000_000 },
    ));
    let mut shas = Vec::new();
    for readme in &readmes {
        let dir = copy.join(readme.parent().unwrap());
        for (name, len) in [
            ("video.mp4", 3_000_000),
            ("clip.mp4", 2_000_000),
            ("photo1.jpg", 200_000),
            ("photo2.jpg", 300_000),
        ] {
            shas.push(test_file(&dir, name, len).1);
        }
    }
    let mut config = fbup::Config::new("1234567890", "EAAB-readme");
    config.graph_url = emu.url().to_string();
    let session = fbup::Session::create(&config, &copy.join("video.mp4")).unwrap();

    let env: BTreeMap<String, String> = [
        ("HOME", home.display().to_string()),
        ("FBUP_GRAPH_URL", emu.url().to_string()),
        ("SESSION_ID", session.id().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    let mut ran = 0;
    for (n, (readme, blocks)) in all.iter().enumerate() {
        let dir = copy.join(readme.parent().unwrap());
        let exports = scratch.path().join(format!("exports-{n}.sh"));
        for block in blocks {
            match &block.action {
                Action::Sample => {}
                Action::NoRun(why) => eprintln!("README block {} not run: {why}", block.place),
                Action::File(path) => {
                    let dest = dir.join(path);
                    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                    std::fs::write(dest, &block.body).unwrap();
                }
                Action::Run | Action::Serve => {
                    let missing: Vec<_> = block.needs.iter().filter(|t| !tool_found(t)).collect();
                    if !missing.is_empty() {
                        skip(&format!("README block {} needs {missing:?}", block.place));
                        continue;
                    }
                    if block.action == Action::Run {
                        run_block(block, &dir, &env, &exports);
                    } else {
                        serve_block(block, &dir, &env, &exports);
                    }
                    ran += 1;
                }
            }
        }
    }
    assert!(ran >= 8, "only {ran} README blocks ran");

    // What the README's commands uploaded reached the emulator byte for byte.
    let done: Vec<_> = emu.sessions().into_iter().filter(|s| s.complete).collect();
    assert!(done.len() >= 8, "{} uploads completed", done.len());
    // `fbup probe` uploads a PNG of its own making, whole.
    let probes = done
        .iter()
        .filter(|s| s.file_name == "fbup-probe.png")
        .count();
    assert_eq!(probes, 1, "fbup probe ran once and completed its upload");
    for s in done.iter().filter(|s| s.file_name != "fbup-probe.png") {
        let sha = s.sha256.clone().unwrap();
        assert!(
            shas.contains(&sha),
            "session {} holds bytes of no sample file",
            s.id
        );
    }
    assert_eq!(emu.fault_tally().get("cut"), Some(&1), "the cut happened");
    let resumed = emu.session(session.id()).unwrap();
    assert!(
        resumed.complete,
        "fbup resume \"$SESSION_ID\" finished the session"
    );
}
