//! Links the fbup command with a GNU build-id, whatever the linker's default (zig's,
//! which `make dist` uses, has none): debuggers and crash reporters find its symbols by it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-Wl,--build-id=sha1");
    }
}
