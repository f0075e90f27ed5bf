//! The release artifacts of `make dist` for x86_64 glibc where users are: every ELF
//! file needs at most GLIBC_2.17 and has a build-id, and on a Debian 11 root (glibc
//! 2.31, made with `debootstrap` from Debian's own packages, kept in
//! `target/debian11-root` between runs, or at `FBUP_DEBIAN11_ROOT`) the tarball's CLI,
//! a C program built through the tarball's `.pc` alone (dynamically and statically,
//! from a moved copy), the .deb (installed, built against, removed clean) and the wheel
//! (in a venv of the root's own Python) each upload a file byte-exact to the emulator
//! on 127.0.0.1. The arm64 and musl artifacts: `tests/dist_cross.rs`.
//!
//! Needs root (chroot), cargo-zigbuild with zig, cargo-deb and debootstrap: skipped
//! loudly without them, required under `FBUP_REQUIRE_ALL=1`.

mod common;
mod release;

use std::path::Path;
use std::process::Command;

use fbup_emulator::Emulator;
use release::{
    byte_exact, check_glibc_tree, debian11, emulator, in_root, make_dist, root_dir, run, size,
    tools, tree_name, TOKEN, VERSION,
};

const NAME: &str = concat!("fbup-", env!("CARGO_PKG_VERSION"), "-x86_64-linux-gnu");

#[test]
fn the_release_artifacts_install_and_upload_on_debian_11() {
    if !tools() {
        return;
    }
    let repo = root_dir();
    let dist = make_dist("x86_64-linux-gnu");
    assert_eq!(NAME, tree_name("x86_64-linux-gnu"));
    check_glibc_tree(&dist.join(NAME), "Advanced Micro Devices X86-64");
    let tarball = dist.join(format!("{NAME}.tar.gz"));
    let deb = dist.join(format!("fbup_{VERSION}-1_amd64.deb"));
    let wheel = dist.join(format!(
        "fbup-{VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    ));
    for f in [&tarball, &deb, &wheel] {
        size(f);
    }
    let deb_info = run("dpkg-deb -I", Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(deb_info.contains("Depends: libc6 (>= 2.17)"), "{deb_info}");

    let root = debian11();
    let emu = emulator();
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
echo \"Debian $(cat /etc/debian_version), $(ldd --version | head -n 1)\"
"
    );
    let out = in_root(root, "the tarball on Debian 11", &script);
    let system = out.lines().find(|l| l.starts_with("Debian ")).unwrap_or("");
    eprintln!("dist: the tarball's CLI and C programs uploaded on {system}");
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
