//! What the release tests (`tests/dist.rs`, `tests/dist_cross.rs`) share: running
//! commands, reading ELF files with binutils, the Debian 11 roots made with
//! `debootstrap`, and checking what the emulator holds.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{have, skip};
use fbup_emulator::Emulator;

pub const TOKEN: &str = "EAAdist-token";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The repository.
pub fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder `make dist` leaves its artifacts in.
pub fn dist_dir() -> PathBuf {
    root_dir().join("target/dist")
}

/// `fbup-VERSION-ARCH`, the name of a tarball's tree.
pub fn tree_name(arch: &str) -> String {
    format!("fbup-{VERSION}-{arch}")
}

fn ok(what: &str, out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// Runs `cmd`; its stdout and stderr, or a failure that shows them.
pub fn run(what: &str, cmd: &mut Command) -> String {
    ok(
        what,
        &cmd.output().unwrap_or_else(|e| panic!("{what}: {e}")),
    )
}

/// Runs `script` with `sh -eu` on this machine, in the folder `dir`.
pub fn sh(what: &str, dir: &Path, script: &str) -> String {
    run(
        what,
        Command::new("/bin/sh")
            .args(["-euc", script])
            .current_dir(dir),
    )
}

/// True when `make dist` and the Debian roots can be made here (else it said SKIP, or
/// failed under `FBUP_REQUIRE_ALL=1`): root (chroot), cargo-zigbuild, cargo-deb,
/// debootstrap and binutils.
pub fn tools() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("the Debian 11 roots are made and entered as root");
        return false;
    }
    have("cargo-zigbuild", "--version")
        && have("cargo-deb", "--version")
        && have("debootstrap", "--version")
        && have("objdump", "--version")
        && have("readelf", "--version")
}

/// One `make dist` at a time in a test binary: tests of two targets share
/// `target/dist` and the Makefile's scratch.
static MAKE_DIST: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `make dist TARGETS=targets`; returns the folder of the artifacts.
pub fn make_dist(targets: &str) -> PathBuf {
    let _one = MAKE_DIST.lock().unwrap_or_else(|e| e.into_inner());
    run(
        "make dist",
        Command::new("make")
            .arg("dist")
            .arg(format!("TARGETS={targets}"))
            .current_dir(root_dir()),
    );
    dist_dir()
}

/// The size of an artifact, printed for the closing note, or a failure when it is missing.
pub fn size(f: &Path) -> u64 {
    let len = std::fs::metadata(f)
        .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        .len();
    eprintln!(
        "dist: {} {len} bytes",
        f.file_name().unwrap().to_string_lossy()
    );
    len
}

/// The newest GLIBC_2.N an ELF file needs, from `objdump -T` (0 when it needs none).
pub fn glibc_ceiling(file: &Path) -> u32 {
    let text = run("objdump -T", Command::new("objdump").arg("-T").arg(file));
    text.split("GLIBC_2.")
        .skip(1)
        .filter_map(|r| {
            let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// `readelf -h`'s Machine line of an ELF file (`AArch64`, `Advanced Micro Devices X86-64`).
pub fn machine(file: &Path) -> String {
    let header = run("readelf -h", Command::new("readelf").arg("-h").arg(file));
    header
        .lines()
        .find_map(|l| l.trim().strip_prefix("Machine:"))
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| panic!("{}: no Machine in\n{header}", file.display()))
}

/// Checks that an ELF file of a glibc tarball was built for `machine`, needs at most
/// GLIBC_2.17 and has a build-id.
pub fn check_glibc_elf(stage: &Path, f: &str, want: &str) {
    let path = stage.join(f);
    let ceiling = glibc_ceiling(&path);
    let found = machine(&path);
    eprintln!("dist: {f}: {found}, needs GLIBC_2.{ceiling} at most");
    assert_eq!(found, want, "{f} is built for another machine");
    assert!((1..=17).contains(&ceiling), "{f} needs GLIBC_2.{ceiling}");
    let notes = run("readelf -n", Command::new("readelf").arg("-n").arg(&path));
    assert!(notes.contains("Build ID"), "{f} has no build-id:\n{notes}");
}

/// The tree of a glibc tarball, checked: its ELF files (see [`check_glibc_elf`]), the
/// library's SONAME libfbup.so.0 and its links, the header, the archive, the man pages,
/// and a relocatable fbup.pc.
pub fn check_glibc_tree(stage: &Path, want: &str) {
    for f in ["bin/fbup", &format!("lib/libfbup.so.{VERSION}")] {
        check_glibc_elf(stage, f, want);
    }
    let dynamic = run(
        "readelf -d",
        Command::new("readelf")
            .arg("-d")
            .arg(stage.join(format!("lib/libfbup.so.{VERSION}"))),
    );
    assert!(dynamic.contains("[libfbup.so.0]"), "{dynamic}");
    for link in ["lib/libfbup.so.0", "lib/libfbup.so"] {
        assert!(stage.join(link).is_symlink(), "{link} is no link");
    }
    check_common_files(stage);
}

/// What every tarball holds besides its ELF files.
pub fn check_common_files(stage: &Path) {
    for f in ["include/fbup.h", "lib/libfbup.a", "lib/pkgconfig/fbup.pc"] {
        assert!(stage.join(f).is_file(), "{f} missing");
    }
    assert!(stage.join("share/man/man1/fbup-upload.1").is_file());
    let pc = std::fs::read_to_string(stage.join("lib/pkgconfig/fbup.pc")).unwrap();
    assert!(pc.starts_with("prefix=${pcfiledir}/../..\n"), "{pc}");
}

/// The Debian mirror this machine's apt uses (the roots are made from the same one).
fn mirror() -> String {
    let mut texts = Vec::new();
    for f in [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ] {
        texts.push(std::fs::read_to_string(f).unwrap_or_default());
    }
    for text in &texts {
        for line in text.lines().map(str::trim) {
            let uri = line
                .strip_prefix("URIs:")
                .or_else(|| line.strip_prefix("deb "))
                .and_then(|r| r.split_whitespace().find(|w| w.contains("://")));
            if let Some(u) = uri.filter(|u| !u.contains("security")) {
                return u.to_string();
            }
        }
    }
    panic!("no Debian mirror in this machine's apt sources")
}

/// A Debian 11 root, made once with `debootstrap` and kept in `target/NAME` (or at the
/// path the environment variable `var` names) between runs.
fn debian11_root(name: &str, var: &str, args: &[&str]) -> PathBuf {
    let root = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| root_dir().join("target").join(name));
    let ready = root.join(".fbup-ready");
    if ready.exists() {
        return root;
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!("dist: making a Debian 11 root in {}", root.display());
    run(
        "debootstrap",
        Command::new("debootstrap")
            .args(args)
            .arg("bullseye")
            .arg(&root)
            .arg(mirror()),
    );
    std::fs::write(&ready, b"").unwrap();
    root
}

/// The x86_64 Debian 11 root, with the compiler, pkg-config and Python the tests use
/// (`target/debian11-root`, or `FBUP_DEBIAN11_ROOT`).
pub fn debian11() -> PathBuf {
    debian11_root(
        "debian11-root",
        "FBUP_DEBIAN11_ROOT",
        &[
            "--variant=minbase",
            "--include=gcc,libc6-dev,pkg-config,python3,python3-venv",
        ],
    )
}

/// The arm64 Debian 11 root (`target/debian11-arm64-root`, or
/// `FBUP_DEBIAN11_ARM64_ROOT`): the first stage only, unpacked, which is all that
/// `qemu-aarch64 -L ROOT` needs to run a program with its dynamic loader and libc.
pub fn debian11_arm64() -> PathBuf {
    debian11_root(
        "debian11-arm64-root",
        "FBUP_DEBIAN11_ARM64_ROOT",
        &["--arch=arm64", "--foreign", "--variant=minbase"],
    )
}

/// Runs `script` with `sh -eu` in `root`, in a clean environment.
pub fn in_root(root: &Path, what: &str, script: &str) -> String {
    run(
        what,
        Command::new("chroot")
            .arg(root)
            .args(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin:/usr/sbin:/sbin"])
            .args(["HOME=/root", "LANG=C.UTF-8", "/bin/sh", "-euc", script]),
    )
}

/// Checks that the emulator holds `count` complete sessions, each of `sha`'s bytes.
pub fn byte_exact(emu: &Emulator, count: usize, sha: &str, what: &str) {
    let sessions = emu.sessions();
    assert_eq!(sessions.len(), count, "{what}: {sessions:?}");
    for s in &sessions {
        assert!(s.complete, "{what}: {s:?}");
        assert_eq!(s.sha256.as_deref(), Some(sha), "{what}: not byte-exact");
    }
}

/// An emulator that takes the tests' token.
pub fn emulator() -> Emulator {
    Emulator::start(fbup_emulator::Config {
        tokens: vec![TOKEN.into()],
        ..Default::default()
    })
    .unwrap()
}

/// zig's C compiler (`zig cc`, from PATH or the `ziglang` Python package), as a shell
/// word, or None (after SKIP) when there is none.
pub fn zig_cc() -> Option<String> {
    if Command::new("zig")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Some("zig cc".into());
    }
    if have("python3", "--version") && have_ziglang() {
        return Some("python3 -m ziglang cc".into());
    }
    None
}

fn have_ziglang() -> bool {
    let found = Command::new("python3")
        .args(["-m", "ziglang", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip("zig not found (neither on PATH nor as the ziglang Python package)");
    }
    found
}
