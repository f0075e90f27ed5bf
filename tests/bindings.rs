//! Installs libfbup into a temporary prefix (`make install-files`), then builds and
//! runs each language's test against the emulator, each with a cut to resume from:
//! the C example through pkg-config, the C++ wrapper, the Python and Go bindings.
//!
//! A missing toolchain prints `SKIP: <tool> not found` and passes, unless
//! `FBUP_REQUIRE_ALL=1` (set by `.ci/run`), where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{have, skip, test_file};
use fbup_emulator::{Emulator, Fault, FaultRule, RequestKind};
use sha2::{Digest, Sha256};

const TOKEN: &str = "EAAbindings-secret";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn deps_dir() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `make install-files` of the freshly built library into a prefix of our own.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix = deps_dir().join("fbup-prefix");
        let _ = std::fs::remove_dir_all(&prefix);
        let out = Command::new("make")
            .current_dir(root())
            .arg("install-files")
            .arg(format!("PREFIX={}", prefix.display()))
            .arg(format!("BUILD_DIR={}", deps_dir().display()))
            .output()
            .expect("make runs");
        assert_ok("make install-files", &out);
        for f in [
            "lib/libfbup.so",
            "lib/libfbup.so.0",
            "lib/libfbup.a",
            "include/fbup.h",
            "lib/pkgconfig/fbup.pc",
        ] {
            assert!(prefix.join(f).exists(), "{f} not installed");
        }
        prefix
    })
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An emulator that cuts the first upload at 1 MB, so every binding resumes once.
fn emulator() -> Emulator {
    let emu = Emulator::start(fbup_emulator::Config {
        tokens: vec![TOKEN.into()],
        ..Default::default()
    })
    .unwrap();
    emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 1_000_000 },
    ));
    emu
}

/// Every upload the emulator completed matches a file; at least `n` of them.
fn assert_resumed_and_exact(emu: &Emulator, shas: &[String], n: usize) {
    let done: Vec<_> = emu.sessions().into_iter().filter(|s| s.complete).collect();
    assert!(done.len() >= n, "{} complete uploads", done.len());
    for s in &done {
        let sha = s.sha256.clone().unwrap();
        assert!(
            shas.is_empty() || shas.contains(&sha),
            "unexpected bytes in {}",
            s.id
        );
    }
    assert_eq!(emu.fault_tally().get("cut"), Some(&1), "the cut happened");
}

/// A short hash of a file's bytes.
fn fingerprint(path: &Path) -> String {
    let digest = Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What `pkg-config ARGS` prints with the installed prefix's `.pc` folder.
fn pkg_config(pc_path: &Path, args: &[&str]) -> String {
    let out = Command::new("pkg-config")
        .args(args)
        .env("PKG_CONFIG_PATH", pc_path)
        .output()
        .unwrap();
    assert_ok(&format!("pkg-config {}", args.join(" ")), &out);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn c_example_builds_with_pkg_config_and_resumes_a_cut() {
    if !have("pkg-config", "--version") || !have("cc", "--version") {
        return;
    }
    let prefix = prefix();
    let pc_path = prefix.join("lib/pkgconfig");
    let flags = pkg_config(&pc_path, &["--cflags", "--libs", "fbup"]);
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("upload");
    let out = Command::new("cc")
        .arg(root().join("examples/c/upload.c"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert_ok("cc $(pkg-config --cflags --libs fbup)", &out);

    let emu = emulator();
    let (file, sha) = test_file(dir.path(), "clip.mp4", 3_000_000);
    let out = Command::new(&exe)
        .arg(&file)
        .arg(emu.url())
        .env("FBUP_APP_ID", "1234")
        .env("FBUP_ACCESS_TOKEN", TOKEN)
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .output()
        .unwrap();
    assert_ok("the C example", &out);
    let s = &emu.sessions()[0];
    assert_eq!(s.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", s.handle.as_deref().unwrap())
    );
    assert_resumed_and_exact(&emu, &[sha], 1);
}

/// Compiles a C++ program with fbup.hpp against the installed libfbup, warnings as errors.
fn build_cpp(source: &Path, exe: &Path) {
    let prefix = prefix();
    let out = Command::new("g++")
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror"])
        .arg(source)
        .arg(format!("-I{}", prefix.join("include").display()))
        .arg(format!("-I{}", root().join("bindings/cpp").display()))
        .arg(format!("-L{}", prefix.join("lib").display()))
        .arg("-lfbup")
        .arg("-o")
        .arg(exe)
        .output()
        .unwrap();
    assert_ok(&format!("g++ {}", source.display()), &out);
}

#[test]
fn cpp_wrapper_resumes_rethrows_and_reports_errors() {
    if !have("g++", "--version") {
        return;
    }
    let prefix = prefix();
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("cpp-test");
    build_cpp(&root().join("bindings/cpp/test.cpp"), &exe);
    let emu = emulator();
    let (file, sha) = test_file(dir.path(), "doc.pdf", 4_000_000);
    // HTTPS with a private CA, which cuts once and refuses the token once.
    let pki = common::Pki::new();
    let tls = pki.emulator();
    tls.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt { offset: 500_000 },
    ));
    tls.add_fault("upload,status=401,code=190,subcode=463".parse().unwrap());
    let out = Command::new(&exe)
        .arg(emu.url())
        .arg(&file)
        .arg(tls.url())
        .arg(pki.path("ca.pem"))
        .env("FBUP_TEST_TOKEN", TOKEN)
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .output()
        .unwrap();
    assert_ok("the C++ test", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("failures=0"), "{stdout}");
    // The file, and the bytes test.cpp uploads through its fbup::client.
    let shared = common::sha256_hex(&[7u8; 300_000]);
    assert_resumed_and_exact(&emu, &[sha, shared], 1);
    // The reader's bytes, as test.cpp makes them, reached the HTTPS emulator whole.
    let data: Vec<u8> = (0..1_500_000usize)
        .map(|i| (i.wrapping_mul(7) + (i >> 9)) as u8)
        .collect();
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tls_id="))
        .expect("the TLS session's id");
    let session = tls.session(id).unwrap();
    assert_eq!(session.sha256, Some(common::sha256_hex(&data)));
    assert!(session.upload_requests >= 3, "a cut and a refused token");
}

#[test]
fn python_binding_passes_its_pytest_suite() {
    if !have("python3", "--version") {
        return;
    }
    let pytest = Command::new("python3")
        .args(["-m", "pytest", "--version"])
        .output();
    if !pytest.is_ok_and(|o| o.status.success()) {
        skip("pytest not found");
        return;
    }
    let Some(emulator) = emulator_binary() else {
        skip("the fbup-emulator binary is not built; run cargo test --workspace");
        return;
    };
    let prefix = prefix();
    // The tests start the emulators they need themselves, from FBUP_EMULATOR.
    let out = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("bindings/python/tests"))
        .env("PYTHONPATH", root().join("bindings/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("FBUP_LIBRARY", prefix.join("lib/libfbup.so.0"))
        .env("FBUP_EMULATOR", &emulator)
        .output()
        .unwrap();
    assert_ok("pytest bindings/python/tests", &out);
    // Every test ran and passed: none skipped (each test file's tests are all there).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" passed") && !summary.contains("skipped") && !summary.contains("failed"),
        "{stdout}"
    );
    for file in ["test_fbup.py", "test_ship.py"] {
        let tests = std::fs::read_to_string(root().join("bindings/python/tests").join(file))
            .unwrap()
            .matches("\ndef test_")
            .count();
        assert!(tests >= 8, "{file} has {tests} tests");
    }
}

/// The emulator binary beside this test, built when it is not there yet.
fn emulator_binary() -> Option<PathBuf> {
    let profile_dir = deps_dir().parent()?.to_path_buf();
    let bin = profile_dir.join("fbup-emulator");
    if !bin.exists() {
        // `cargo test --test bindings` alone does not build other packages' binaries.
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build
            .current_dir(root())
            .args(["build", "-p", "fbup-emulator"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let out = build.output().ok()?;
        assert_ok("cargo build -p fbup-emulator", &out);
    }
    bin.exists().then_some(bin)
}

#[test]
fn go_binding_passes_go_test_against_the_emulator_binary() {
    if !have("go", "version") || !have("pkg-config", "--version") {
        return;
    }
    let Some(emulator) = emulator_binary() else {
        skip("the fbup-emulator binary is not built; run cargo test --workspace");
        return;
    };
    let prefix = prefix();
    let out = Command::new("go")
        // -race: the binding's goroutines (context watchers, Close beside an upload)
        // are checked for data races on every run.
        .args(["test", "-race", "-count=1", "-v", "./..."])
        .current_dir(root().join("bindings/go"))
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .env("CGO_ENABLED", "1")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        // Go's build cache does not notice a changed fbup.h outside the module: key it
        // on the header's bytes, so a new header means a new build.
        .env(
            "CGO_CFLAGS",
            format!(
                "-DFBUP_HEADER_FINGERPRINT={}",
                fingerprint(&prefix.join("include/fbup.h"))
            ),
        )
        .env("FBUP_EMULATOR", &emulator)
        .output()
        .unwrap();
    assert_ok("go test ./...", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for test in [
        "TestUploadWithACutIsByteExact",
        "TestCancellingTheContextCancelsThenResume",
        "TestARefusedTokenIsAnErrorWithGraphFields",
        "TestADeadlineEndsACreateThatNothingAnswers",
        "TestTheTraceAndTheFiguresReachGo",
        "TestHTTPSWithACAFileAReaderAndATokenRefresh",
        "TestADeadlineBoundsTheCallNotTheSession",
        "TestACancelledCreateLeavesNothingRunning",
        "TestAPanicInACallbackIsRaisedHereAndTheSessionGoesOn",
        "TestOffsetTakesAContext",
        "TestTheReadersErrorAndAMissingFileUnwrap",
        "TestGoWordsNamesAndLevels",
        "TestCloseCancelsARunningUpload",
        "ExampleUpload",
        "ExampleCreate_deadline",
        "ExampleResume",
        "ExampleNewClient",
    ] {
        assert!(stdout.contains(&format!("--- PASS: {test}")), "{stdout}");
    }
}

#[test]
fn the_cpp_readme_program_exits_with_a_message_when_the_token_is_unset() {
    if !have("g++", "--version") {
        return;
    }
    let readme = std::fs::read_to_string(root().join("bindings/cpp/README.md")).unwrap();
    let program = readme
        .split("```cpp file=app.cpp\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the README's app.cpp block");
    let prefix = prefix();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.cpp"), program).unwrap();
    let exe = dir.path().join("app-cpp");
    build_cpp(&dir.path().join("app.cpp"), &exe);
    let (file, _) = test_file(dir.path(), "a.png", 1000);
    let out = Command::new(&exe)
        .arg(&file)
        .env_remove("FBUP_ACCESS_TOKEN")
        .env("FBUP_APP_ID", "1234")
        .env("FBUP_GRAPH_URL", "http://127.0.0.1:9")
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An exit with a code, not a crash by a signal, and a message that says why.
    assert_eq!(out.status.code(), Some(1), "{:?}: {stderr}", out.status);
    assert!(
        stderr.contains("FBUP_E_ARGUMENT") && stderr.contains("access_token"),
        "{stderr}"
    );
}

#[test]
fn c_example_links_statically_with_pkg_config_static_and_uploads() {
    if !have("pkg-config", "--version") || !have("cc", "--version") {
        return;
    }
    let prefix = prefix();
    let installed = prefix.join("lib/libfbup.a");
    let built = deps_dir().join("libfbup.a");
    let (installed_len, built_len) = (
        std::fs::metadata(&installed).unwrap().len(),
        std::fs::metadata(&built).unwrap().len(),
    );
    eprintln!("libfbup.a: {built_len} bytes built, {installed_len} installed");
    assert!(
        installed_len < built_len,
        "the installed archive has no debug info"
    );
    let flags = pkg_config(
        &prefix.join("lib/pkgconfig"),
        &["--static", "--cflags", "--libs", "fbup"],
    );
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("upload-static");
    let out = Command::new("cc")
        .arg("-static")
        .arg(root().join("examples/c/upload.c"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert_ok(
        "cc -static $(pkg-config --static --cflags --libs fbup)",
        &out,
    );
    let ldd = Command::new("file").arg(&exe).output();
    if let Ok(o) = ldd {
        let what = String::from_utf8_lossy(&o.stdout);
        assert!(what.contains("statically linked"), "{what}");
    }
    let emu = emulator();
    let (file, sha) = test_file(dir.path(), "static.mp4", 2_000_000);
    let out = Command::new(&exe)
        .arg(&file)
        .arg(emu.url())
        .env("FBUP_APP_ID", "1234")
        .env("FBUP_ACCESS_TOKEN", TOKEN)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert_ok("the static C example", &out);
    assert_resumed_and_exact(&emu, &[sha], 1);
}

#[test]
fn the_cpp_wrapper_names_cxx17_when_compiled_as_cxx14() {
    if !have("g++", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("old.cpp");
    std::fs::write(&src, "#include \"fbup.hpp\"\nint main() { return 0; }\n").unwrap();
    let out = Command::new("g++")
        .args(["-std=c++14", "-fsyntax-only"])
        .arg(format!("-I{}", root().join("bindings/cpp").display()))
        .arg(format!("-I{}", root().join("include").display()))
        .arg(&src)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "compiled as C++14");
    assert!(err.contains("needs C++17"), "{err}");
    // One error, not pages of them.
    assert_eq!(err.matches("error:").count(), 1, "{err}");
}
