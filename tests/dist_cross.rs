//! The release artifacts of `make dist` beyond x86_64 glibc, tested on this machine:
//!
//! - arm64 (`aarch64-linux-gnu`): every ELF file of the tarball is AArch64, needs at
//!   most GLIBC_2.17 and has a build-id; the .deb is `Architecture: arm64` with the
//!   library in `/usr/lib/aarch64-linux-gnu`; auditwheel tags the wheel
//!   manylinux_2_17_aarch64 (manylinux2014). Under `qemu-aarch64` with an arm64
//!   Debian 11 root (glibc 2.31, `debootstrap --foreign`, kept in
//!   `target/debian11-arm64-root` or at `FBUP_DEBIAN11_ARM64_ROOT`), the tarball's CLI
//!   uploads over TLS and a C program cross-compiled with zig against the tarball's
//!   libfbup.so (through its `.pc`) uploads.
//! - musl (`x86_64-linux-musl`): the CLI is statically linked (no interpreter, no
//!   library needed) and uploads from this machine and from the Debian 11 root of
//!   `tests/dist.rs`; a C program linked statically for musl with zig against the
//!   tarball's libfbup.a, with what its `.pc` names, uploads.
//!
//! Every upload is checked byte for byte by the emulator on 127.0.0.1. Needs what
//! `tests/dist.rs` needs, and qemu-aarch64 (Debian's qemu-user), the arm64 strip
//! (binutils-aarch64-linux-gnu), zig, pkg-config and auditwheel: skipped loudly without
//! them, required under `FBUP_REQUIRE_ALL=1`.

mod common;
mod release;

use std::path::Path;
use std::process::Command;

use common::{have, Pki};
use release::{
    byte_exact, check_common_files, check_glibc_tree, debian11, debian11_arm64, emulator, in_root,
    make_dist, root_dir, run, sh, size, tools, tree_name, zig_cc, TOKEN, VERSION,
};

/// The arm64 artifacts' checks, then uploads under qemu-aarch64.
#[test]
fn the_arm64_artifacts_upload_under_qemu() {
    if !(tools()
        && have("qemu-aarch64", "--version")
        && have("aarch64-linux-gnu-strip", "--version")
        && have("pkg-config", "--version")
        && have("auditwheel", "--version"))
    {
        return;
    }
    let Some(cc) = zig_cc() else { return };
    let dist = make_dist("aarch64-linux-gnu");
    let name = tree_name("aarch64-linux-gnu");
    check_glibc_tree(&dist.join(&name), "AArch64");
    let tarball = dist.join(format!("{name}.tar.gz"));
    let deb = dist.join(format!("fbup_{VERSION}-1_arm64.deb"));
    let wheel = dist.join(format!(
        "fbup-{VERSION}-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    ));
    for f in [&tarball, &deb, &wheel] {
        size(f);
    }
    check_arm64_deb(&deb);
    let shown = run(
        "auditwheel show",
        Command::new("auditwheel").arg("show").arg(&wheel),
    );
    assert!(shown.contains("\"manylinux_2_17_aarch64\""), "{shown}");

    let root = debian11_arm64();
    let pki = Pki::new();
    let tls = pki.emulator();
    let plain = emulator();
    let work = tempfile::tempdir().unwrap();
    let (_, sha) = common::test_file(work.path(), "clip.mp4", 8_000_000);
    std::fs::copy(
        root_dir().join("examples/c/upload.c"),
        work.path().join("upload.c"),
    )
    .unwrap();
    let script = format!(
        "tar -xzf {tarball}
export PKG_CONFIG_PATH=$PWD/{name}/lib/pkgconfig FBUP_ACCESS_TOKEN={TOKEN} FBUP_APP_ID=1234
qemu-aarch64 -L {root} {name}/bin/fbup upload --no-resume --graph-url {tls} --ca-file {ca} clip.mp4
{cc} -target aarch64-linux-gnu.2.17 upload.c $(pkg-config --cflags --libs fbup) -o up-arm64
readelf -h up-arm64 | grep -q AArch64
qemu-aarch64 -L {root} -E LD_LIBRARY_PATH=$PWD/{name}/lib ./up-arm64 clip.mp4 {plain} >/dev/null
qemu-aarch64 --version | head -n 1
",
        tarball = tarball.display(),
        root = root.display(),
        tls = tls.url(),
        ca = pki.path("ca.pem").display(),
        plain = plain.url(),
    );
    let out = sh("the arm64 tarball under qemu-aarch64", work.path(), &script);
    for line in out.lines() {
        if line.contains("done:") || line.starts_with("qemu-aarch64 version") {
            eprintln!("dist: arm64 under qemu: {line}");
        }
    }
    byte_exact(&tls, 1, &sha, "the arm64 CLI over TLS");
    byte_exact(&plain, 1, &sha, "a C program on the arm64 libfbup.so");
}

/// The arm64 .deb: its architecture, what it depends on, and where its library goes.
fn check_arm64_deb(deb: &Path) {
    let info = run("dpkg-deb -I", Command::new("dpkg-deb").arg("-I").arg(deb));
    assert!(info.contains("Architecture: arm64"), "{info}");
    assert!(info.contains("Depends: libc6 (>= 2.17)"), "{info}");
    let files = run("dpkg-deb -c", Command::new("dpkg-deb").arg("-c").arg(deb));
    for f in [
        format!("./usr/lib/aarch64-linux-gnu/libfbup.so.{VERSION}"),
        "./usr/lib/aarch64-linux-gnu/libfbup.so.0 -> ".into(),
        "./usr/lib/aarch64-linux-gnu/pkgconfig/fbup.pc".into(),
        "./usr/bin/fbup".into(),
        "./usr/share/man/man1/fbup-upload.1.gz".into(),
    ] {
        assert!(files.contains(&f), "the arm64 .deb has no {f}:\n{files}");
    }
}

/// True when `readelf` finds that an ELF file is linked statically: no interpreter,
/// no library needed.
fn is_static(file: &Path) -> bool {
    let headers = run("readelf -l", Command::new("readelf").arg("-l").arg(file));
    let dynamic = run("readelf -d", Command::new("readelf").arg("-d").arg(file));
    !headers.contains("INTERP") && !dynamic.contains("(NEEDED)")
}

/// The musl tarball: a static CLI that uploads here and on Debian 11, and a C program
/// linked statically against its libfbup.a through its `.pc`.
#[test]
fn the_musl_artifacts_are_static_and_upload() {
    if !(tools() && have("pkg-config", "--version")) {
        return;
    }
    let Some(cc) = zig_cc() else { return };
    let dist = make_dist("x86_64-linux-musl");
    let name = tree_name("x86_64-linux-musl");
    let stage = dist.join(&name);
    let tarball = dist.join(format!("{name}.tar.gz"));
    size(&tarball);
    check_common_files(&stage);
    let cli = stage.join("bin/fbup");
    assert!(is_static(&cli), "the musl CLI is not static");
    assert!(
        !stage.join("lib/libfbup.so").exists(),
        "a musl libfbup.so was shipped, untested"
    );
    let pc = std::fs::read_to_string(stage.join("lib/pkgconfig/fbup.pc")).unwrap();
    assert!(pc.contains("Libs.private: -lunwind -lc\n"), "{pc}");

    let emu = emulator();
    let root = debian11();
    let work = root.join("tmp/fbup-musl");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let (_, sha) = common::test_file(&work, "clip.mp4", 3_000_000);
    std::fs::copy(
        root_dir().join("examples/c/upload.c"),
        work.join("upload.c"),
    )
    .unwrap();
    let script = format!(
        "tar -xzf {tarball}
export PKG_CONFIG_PATH=$PWD/{name}/lib/pkgconfig FBUP_ACCESS_TOKEN={TOKEN} FBUP_APP_ID=1234
{name}/bin/fbup upload --no-resume --graph-url {url} clip.mp4 2>/dev/null
{cc} -target x86_64-linux-musl -static upload.c $(pkg-config --static --cflags --libs fbup) -o up-musl
./up-musl clip.mp4 {url} >/dev/null
",
        tarball = tarball.display(),
        url = emu.url(),
    );
    sh("the musl tarball on this machine", &work, &script);
    assert!(
        is_static(&work.join("up-musl")),
        "the C program is not static"
    );
    byte_exact(&emu, 2, &sha, "the musl CLI and C program here");
    let out = in_root(
        &root,
        "the musl CLI on Debian 11",
        &format!(
            "cd /tmp/fbup-musl
export FBUP_ACCESS_TOKEN={TOKEN} FBUP_APP_ID=1234
{name}/bin/fbup upload --no-resume --graph-url {url} clip.mp4 2>/dev/null
./up-musl clip.mp4 {url} >/dev/null
echo \"Debian $(cat /etc/debian_version), $(ldd --version | head -n 1)\"",
            url = emu.url(),
        ),
    );
    let system = out.lines().find(|l| l.starts_with("Debian ")).unwrap_or("");
    eprintln!("dist: the musl CLI and C program uploaded on {system}");
    byte_exact(&emu, 4, &sha, "the musl CLI and C program on Debian 11");
    std::fs::remove_dir_all(&work).unwrap();
}
