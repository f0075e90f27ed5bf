//! The release artifacts (`make dist`) where users are: every ELF file needs at most
//! GLIBC_2.17 and has a build-id, and on a Debian 11 root (glibc 2.31, made with
//! `debootstrap` from Debian's own packages, kept in `target/debian11-root` between
//! runs, or at `FBUP_DEBIAN11_ROOT`) the tarball's CLI, a C program built through the
//! tarball's `.pc` alone (dynamically and statically, from a moved copy), the .deb
//! (installed, built against, removed clean) and the wheel (in a venv of the root's own
//! Python) each upload a file byte-exact to the emulator on 127.0.0.1.
//!
//! Needs root (chroot), cargo-zigbuild with zig, cargo-deb and debootstrap: skipped
//! loudly without them, required under `FBUP_REQUIRE_ALL=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{have, skip};
use fbup_emulator::Emulator;

const TOKEN: &str = "EAAdist-token";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const NAME: &str = concat!("fbup-", env!("CARGO_PKG_VERSION"), "-x86_64-linux-gnu");

fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

fn run(what: &str, cmd: &mut Command) -> String {
    ok(
        what,
        &cmd.output().unwrap_or_else(|e| panic!("{what}: {e}")),
    )
}

/// True when everything the test needs is here (else it said SKIP, or failed under
/// `FBUP_REQUIRE_ALL=1`).
fn tools() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("the Debian 11 root runs under chroot, which needs root");
        return false;
    }
    if !have("cargo-zigbuild", "--version") {
        return false;
    }
    have("cargo-deb", "--version")
        && have("debootstrap", "--version")
        && have("objdump", "--version")
        && have("readelf", "--version")
}

/// The newest GLIBC_2.N an ELF file needs, from `objdump -T`.
fn glibc_ceiling(file: &Path) -> u32 {
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

/// The artifacts, checked: every ELF file of the tarball needs at most GLIBC_2.17 and
/// has a build-id; the library's SONAME is libfbup.so.0.
fn check_elf_files(stage: &Path) {
    for f in ["bin/fbup", &format!("lib/libfbup.so.{VERSION}")] {
        let path = stage.join(f);
        let ceiling = glibc_ceiling(&path);
        eprintln!("dist: {f}: needs GLIBC_2.{ceiling} at most");
        assert!((1..=17).contains(&ceiling), "{f} needs GLIBC_2.{ceiling}");
        let notes = run("readelf -n", Command::new("readelf").arg("-n").arg(&path));
        assert!(notes.contains("Build ID"), "{f} has no build-id:\n{notes}");
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
    for f in ["include/fbup.h", "lib/libfbup.a", "lib/pkgconfig/fbup.pc"] {
        assert!(stage.join(f).is_file(), "{f} missing");
    }
    assert!(stage.join("share/man/man1/fbup-upload.1").is_file());
    let pc = std::fs::read_to_string(stage.join("lib/pkgconfig/fbup.pc")).unwrap();
    assert!(pc.starts_with("prefix=${pcfiledir}/../..\n"), "{pc}");
}

/// The Debian mirror this machine's apt uses (the root is made from the same one).
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

/// The Debian 11 root, made once (with the compiler, pkg-config and Python it needs).
fn debian11() -> PathBuf {
    let root = std::env::var_os("FBUP_DEBIAN11_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root_dir().join("target/debian11-root"));
    let ready = root.join(".fbup-ready");
    if ready.exists() {
        return root;
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!("dist: making a Debian 11 root in {}", root.display());
    run(
        "debootstrap",
        Command::new("debootstrap")
            .args([
                "--variant=minbase",
                "--include=gcc,libc6-dev,pkg-config,python3,python3-venv",
                "bullseye",
            ])
            .arg(&root)
            .arg(mirror()),
    );
    std::fs::write(&ready, b"").unwrap();
    root
}

/// Runs `script` with `sh -eu` in the root, in a clean environment.
fn in_root(root: &Path, what: &str, script: &str) -> String {
    run(
        what,
        Command::new("chroot")
            .arg(root)
            .args(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin:/usr/sbin:/sbin"])
            .args(["HOME=/root", "LANG=C.UTF-8", "/bin/sh", "-euc", script]),
    )
}

/// Checks that the emulator holds `count` complete sessions, each of `sha`'s bytes.
fn byte_exact(emu: &Emulator, count: usize, sha: &str, what: &str) {
    let sessions = emu.sessions();
    assert_eq!(sessions.len(), count, "{what}: {sessions:?}");
    for s in &sessions {
        assert!(s.complete, "{what}: {s:?}");
        assert_eq!(s.sha256.as_deref(), Some(sha), "{what}: not byte-exact");
    }
}

#[test]
fn the_release_artifacts_install_and_upload_on_debian_11() {
    if !tools() {
        return;
    }
    let repo = root_dir();
    run(
        "make dist",
        Command::new("make").arg("dist").current_dir(&repo),
    );
    let dist = repo.join("target/dist");
    check_elf_files(&dist.join(NAME));
    let tarball = dist.join(format!("{NAME}.tar.gz"));
    let deb = dist.join(format!("fbup_{VERSION}-1_amd64.deb"));
    let wheel = dist.join(format!(
        "fbup-{VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    ));
    for f in [&tarball, &deb, &wheel] {
        let len = std::fs::metadata(f)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            .len();
        eprintln!(
            "dist: {} {len} bytes",
            f.file_name().unwrap().to_string_lossy()
        );
    }
    let deb_info = run("dpkg-deb -I", Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(deb_info.contains("Depends: libc6 (>= 2.17)"), "{deb_info}");

    let root = debian11();
    let emu = Emulator::start(fbup_emulator::Config {
        tokens: vec![TOKEN.into()],
        ..Default::default()
    })
    .unwrap();
    let work = root.join("tmp/fbup-dist");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let (_, sha) = common::test_file(&work, "clip.mp4", 3_000_000);
    for f in [&tarball, &deb, &wheel] {
        std::fs::copy(f, work.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::copy(repo.join("examples/c/upload.c"), work.join("upload.c")).unwrap();
    let env = format!(
        "export FBUP_ACCESS_TOKEN={TOKEN} FBUP_APP_ID=1234 FBUP_GRAPH_URL={}\ncd /tmp/fbup-dist\n",
        emu.url()
    );
    tarball_uploads(&root, &env, &emu, &sha);
    deb_uploads(&root, &env, &emu, &sha);
    wheel_uploads(&root, &env, &emu, &sha);
    std::fs::remove_dir_all(&work).unwrap();
}

/// The tarball, unpacked and moved elsewhere: its CLI, and C programs built through its
/// `.pc` alone, linked to its .so and to its .a.
fn tarball_uploads(root: &Path, env: &str, emu: &Emulator, sha: &str) {
    let script = format!(
        "{env}mkdir unpacked && tar -C unpacked -xzf {NAME}.tar.gz
mv unpacked/{NAME} moved
export PKG_CONFIG_PATH=$PWD/moved/lib/pkgconfig
test \"$(pkg-config --variable=libdir fbup)\" -ef moved/lib
cc upload.c $(pkg-config --cflags --libs fbup) -o up-dynamic
cc upload.c $(pkg-config --cflags fbup) $(pkg-config --libs-only-L fbup) \\
   -Wl,-Bstatic -lfbup -Wl,-Bdynamic $(pkg-config --static --libs-only-l fbup | sed 's/-lfbup//') \\
   -o up-static
LD_LIBRARY_PATH=$(pkg-config --variable=libdir fbup) ./up-dynamic clip.mp4 \"$FBUP_GRAPH_URL\"
! ldd up-static | grep -q libfbup
./up-static clip.mp4 \"$FBUP_GRAPH_URL\"
moved/bin/fbup upload --no-resume clip.mp4
cat /etc/debian_version; ldd --version | head -n 1
"
    );
    let out = in_root(root, "the tarball on Debian 11", &script);
    let system: Vec<&str> = out.lines().rev().take(2).collect();
    eprintln!("dist: tarball on Debian {} ({})", system[1], system[0]);
    byte_exact(emu, 3, sha, "tarball");
}

/// The .deb: installed, a C program built against it with pkg-config, its CLI, then
/// removed with nothing left.
fn deb_uploads(root: &Path, env: &str, emu: &Emulator, sha: &str) {
    let script = format!(
        "{env}dpkg -i fbup_{VERSION}-1_amd64.deb
dpkg -L fbup > installed
test -f /usr/share/man/man1/fbup-upload.1.gz
test -L /usr/lib/x86_64-linux-gnu/libfbup.so.0
cc upload.c $(pkg-config --cflags --libs fbup) -o up-deb
./up-deb clip.mp4 \"$FBUP_GRAPH_URL\"
fbup upload --no-resume clip.mp4
dpkg -r fbup
while read -r f; do if [ -e \"$f\" ] && [ ! -d \"$f\" ]; then echo \"left: $f\"; exit 1; fi; done < installed
! dpkg -s fbup 2>/dev/null | grep -q '^Status: install'
"
    );
    in_root(root, "the .deb on Debian 11", &script);
    byte_exact(emu, 5, sha, "deb");
}

/// The wheel, in a venv of the root's own Python (Debian 11's pip takes its tags).
fn wheel_uploads(root: &Path, env: &str, emu: &Emulator, sha: &str) {
    let wheel = format!("fbup-{VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
    let script = format!(
        "{env}python3 -m venv venv
venv/bin/pip install --no-index --quiet {wheel}
venv/bin/python -c '
import os, fbup
print(fbup.upload(\"clip.mp4\", app_id=\"1234\", access_token=os.environ[\"FBUP_ACCESS_TOKEN\"],
                  graph_url=os.environ[\"FBUP_GRAPH_URL\"]))'
python3 --version
"
    );
    let out = in_root(root, "the wheel on Debian 11", &script);
    eprintln!(
        "dist: wheel on Debian 11: {}",
        out.lines().last().unwrap_or("")
    );
    byte_exact(emu, 6, sha, "wheel");
}
