//! Builds `tests/c/harness.c` against `include/fbup.h` and the freshly built
//! `libfbup.so`, and runs it against the emulator.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use common::test_file;
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind};

const TOKEN: &str = "EAAharness-secret";

/// The folder that holds this test binary and the cdylib cargo built with it.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

/// A folder where the fresh cdylib answers to its SONAME, `libfbup.so.0`, as an
/// installed one does: programs linked with -lfbup look for that name.
fn lib_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = deps_dir().join("fbup-soname");
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join(format!("libfbup.so.{}", env!("CARGO_PKG_VERSION_MAJOR")));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(deps_dir().join("libfbup.so"), &link).unwrap();
        dir
    })
    .clone()
}

/// How the C programs run: plainly, under valgrind memcheck, or built with
/// AddressSanitizer and UBSan (`FBUP_C_CHECK=valgrind|asan`, set by `.ci/run`).
#[derive(Clone, Copy, PartialEq)]
enum Check {
    Plain,
    Valgrind,
    Asan,
}

fn check() -> Check {
    match std::env::var("FBUP_C_CHECK").as_deref() {
        Ok("valgrind") => Check::Valgrind,
        Ok("asan") => Check::Asan,
        _ => Check::Plain,
    }
}

/// The C compiler the `cc` crate finds, for the target the library was built for.
fn c_compiler() -> cc::Tool {
    cc::Build::new()
        .cargo_metadata(false)
        .opt_level(0)
        .target(env!("FBUP_TEST_TARGET"))
        .host(env!("FBUP_TEST_TARGET"))
        .get_compiler()
}

/// Compiles `tests/c/NAME.c` once per test run, with the compiler the `cc` crate finds.
fn program(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let deps = deps_dir();
    assert!(
        deps.join("libfbup.so").exists(),
        "libfbup.so not found in {}",
        deps.display()
    );
    let suffix = if check() == Check::Asan { "-asan" } else { "" };
    let out = deps.join(format!("fbup-c-{name}{suffix}"));
    let compiler = c_compiler();
    let mut cmd = compiler.to_command();
    cmd.args([
        "-std=c11",
        "-D_DEFAULT_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-g",
    ]);
    if check() == Check::Asan {
        cmd.args([
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=undefined",
        ]);
    }
    let status = cmd
        .arg(root.join(format!("tests/c/{name}.c")))
        .arg("-I")
        .arg(root.join("include"))
        .arg("-L")
        .arg(&deps)
        .arg(format!("-Wl,-rpath,{}", lib_dir().display()))
        .arg("-lfbup")
        .arg("-o")
        .arg(&out)
        .status()
        .expect("the C compiler runs");
    assert!(status.success(), "tests/c/{name}.c does not compile");
    built.push((name.to_string(), out.clone()));
    out
}

/// The command that runs a C program, under valgrind when asked.
fn command(exe: &Path) -> Command {
    let mut c = if check() == Check::Valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite",
        ])
        .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    // cargo test puts target/<profile> on LD_LIBRARY_PATH, where a libfbup.so from an
    // older `cargo build` may sit: load the one built with this test instead.
    c.env("LD_LIBRARY_PATH", lib_dir())
        .env("ASAN_OPTIONS", "detect_leaks=1")
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
    c
}

/// Runs a harness scenario and returns its `key=value` lines.
fn run(scenario: &str, url: &str, file: &Path, token: &str) -> HashMap<String, String> {
    let out = command(&program("harness"))
        .args([scenario, url])
        .arg(file)
        .env("FBUP_TEST_TOKEN", token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "harness {scenario} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(!stdout.contains(token), "the token leaked into the output");
    key_values(&stdout)
}

/// The `key=value` lines a C program printed.
fn key_values(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn emulator() -> Emulator {
    Emulator::start(fbup_emulator::Config {
        tokens: vec![TOKEN.into()],
        ..Default::default()
    })
    .unwrap()
}

/// Checks what every completed upload must show.
fn assert_complete(emu: &Emulator, r: &HashMap<String, String>, sha: &str) {
    assert_eq!(r["upload"], "0", "{r:?}");
    let info = emu.session(&r["id"]).expect("the session exists");
    assert_eq!(
        info.sha256.as_deref(),
        Some(sha),
        "the server has the file's bytes"
    );
    assert_eq!(
        r["handle"].replace("\\n", "\n"),
        info.handle.unwrap(),
        "the handle passes through byte for byte"
    );
    assert_eq!(r["progress_backwards"], "0");
    assert_eq!(r["progress_over"], "0");
    assert_eq!(
        r["progress_at_total"], "1",
        "the total is reported exactly once"
    );
    assert_eq!(r["progress_last"], r["progress_total"]);
    assert_eq!(r["checks_failed"], "0");
}

#[test]
fn c_clean_upload_is_byte_exact() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = test_file(dir.path(), "clean.png", 6 * 1024 * 1024 + 3);
    let r = run("upload", emu.url(), &path, TOKEN);
    assert_complete(&emu, &r, &sha);
}

#[test]
fn c_upload_cut_at_40_percent_completes_on_its_own() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let len = 10 * 1024 * 1024;
    let (path, sha) = test_file(dir.path(), "cut.mp4", len);
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt {
            offset: len as u64 * 4 / 10,
        },
    ));
    let r = run("upload", emu.url(), &path, TOKEN);
    assert_complete(&emu, &r, &sha);
    assert!(r["handle"].contains("\\n"), "video handles hold newlines");
    assert!(emu.session(&r["id"]).unwrap().upload_requests >= 2);
}

#[test]
fn c_cancel_from_progress_then_resume_from_the_saved_id() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = test_file(dir.path(), "cancel.pdf", 8 * 1024 * 1024);
    let r = run("cancel_resume", emu.url(), &path, TOKEN);
    assert_eq!(r["first_upload"], "9");
    assert_eq!(r["cancel_status"], "9");
    assert_eq!(r["resume"], "0");
    assert_complete(&emu, &r, &sha);
}

#[test]
fn c_lost_final_response_still_yields_the_handle() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = test_file(dir.path(), "lost.jpg", 500_000);
    emu.add_fault(FaultRule::once(RequestKind::Upload, Fault::LoseResponse));
    let r = run("upload", emu.url(), &path, TOKEN);
    assert_complete(&emu, &r, &sha);
}

#[test]
fn c_bad_token_gives_auth_with_graph_code_190() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = test_file(dir.path(), "a.png", 100);
    let r = run("upload", emu.url(), &path, "EAAnot-the-right-one");
    assert_eq!(r["create"], "5");
    assert_eq!(r["create_status"], "5");
    assert_eq!(r["create_code"], "190");
    assert_eq!(r["create_http"], "400");
    assert_eq!(r["create_type"], "OAuthException");
    assert!(!r["create_fbtrace"].is_empty());
    assert!(!r["create_message"].contains("EAAnot-the-right-one"));
}

#[test]
fn c_unknown_file_type_gives_argument() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = test_file(dir.path(), "anim.unknownext", 100);
    let r = run("upload", emu.url(), &path, TOKEN);
    assert_eq!(r["create"], "1");
    assert!(r["create_message"].contains("file type"), "{r:?}");
    assert!(emu.requests().is_empty(), "nothing was sent");
}

#[test]
fn c_null_pointers_and_static_strings() {
    let r = run("null", "unused", Path::new("unused"), TOKEN);
    assert_eq!(r["null_checks"], "done");
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["checks_failed"], "0");
}

#[test]
fn c_bad_input_table_every_row_answered() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let out = command(&program("bad_input"))
        .arg(emu.url())
        .arg(dir.path())
        .env("FBUP_TEST_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bad input table ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("bad_input: 46 rows, 0 failed"), "{stdout}");
}

/// The header compiles as C89 and as C++98, pedantic, every warning an error: legacy
/// tools build with these flags.
#[test]
fn the_header_compiles_as_c89_ansi_and_cxx98() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("c89.c");
    std::fs::write(
        &src,
        "#include \"fbup.h\"\nint main(void) { return fbup_version() != 0 ? 0 : 1; }\n",
    )
    .unwrap();
    let compiler = c_compiler();
    let flags: [&[&str]; 3] = [
        &["-std=c89", "-pedantic", "-Werror", "-Wall", "-Wextra"],
        &["-ansi", "-pedantic", "-Werror"],
        &["-x", "c++", "-std=c++98", "-pedantic", "-Werror", "-Wall"],
    ];
    for f in flags {
        let out = compiler
            .to_command()
            .args(f)
            .arg("-fsyntax-only")
            .arg("-I")
            .arg(root.join("include"))
            .arg(&src)
            .output()
            .expect("the C compiler runs");
        assert!(
            out.status.success(),
            "include/fbup.h with {f:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The C harness linked statically against `libfbup.a` with the libraries `fbup.pc`
/// names for a static link (`Libs.private`), and run: a program with no libfbup at run
/// time uploads byte-exact.
#[test]
fn the_c_harness_links_statically_and_uploads() {
    if check() != Check::Plain {
        // valgrind and the sanitizers run the dynamic build; one static run is enough.
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let archive = deps_dir().join("libfbup.a");
    assert!(
        archive.exists(),
        "libfbup.a not found in {}",
        deps_dir().display()
    );
    // What `make install` writes into fbup.pc for this machine's target.
    let pc_file = deps_dir().join("fbup-c-harness.pc");
    let made = Command::new("make")
        .args(["--no-print-directory", "-s", "pc", "PC_PREFIX=/usr"])
        .arg(format!("PC_OUT={}", pc_file.display()))
        .current_dir(root)
        .status()
        .expect("make runs");
    assert!(made.success(), "make pc failed");
    let pc = std::fs::read_to_string(&pc_file).unwrap();
    let private: Vec<&str> = pc
        .lines()
        .find_map(|l| l.strip_prefix("Libs.private:"))
        .expect("fbup.pc has Libs.private")
        .split_whitespace()
        .collect();
    let exe = deps_dir().join("fbup-c-harness-static");
    let compiler = c_compiler();
    let out = compiler
        .to_command()
        .args([
            "-static",
            "-std=c11",
            "-D_DEFAULT_SOURCE",
            "-Wall",
            "-Werror",
        ])
        .arg(root.join("tests/c/harness.c"))
        .arg("-I")
        .arg(root.join("include"))
        .arg(&archive)
        .args(&private)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("the C compiler runs");
    assert!(
        out.status.success(),
        "cc -static tests/c/harness.c libfbup.a {}: {}",
        private.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = test_file(dir.path(), "static.png", 2 * 1024 * 1024 + 7);
    let out = Command::new(&exe)
        .args(["upload", emu.url()])
        .arg(&path)
        .env("FBUP_TEST_TOKEN", TOKEN)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = key_values(&stdout);
    assert_complete(&emu, &r, &sha);
}
