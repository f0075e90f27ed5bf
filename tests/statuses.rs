//! One source for the list of statuses: `include/fbup.h`, generated from the Rust enum
//! (whose own test ties it to the C constants). Every other copy (the Go and Python
//! bindings, the README) is checked here against the header, names and values, so that
//! a status added in Rust and forgotten elsewhere fails. The CLI's exit codes are made
//! from the library's table; `cli/tests/outputs.rs` checks `fbup --help` against it.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// `(FBUP_E_NAME, value)` for every `#define FBUP_OK` / `#define FBUP_E_*` of the header.
fn header() -> Vec<(String, i32)> {
    let statuses: Vec<(String, i32)> = read("include/fbup.h")
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("#define ")?.split_whitespace();
            let name = w.next()?;
            let value = w.next()?.parse().ok()?;
            (name == "FBUP_OK" || name.starts_with("FBUP_E_")).then(|| (name.to_string(), value))
        })
        .collect();
    assert!(statuses.len() >= 13, "{statuses:?}");
    let values: Vec<i32> = statuses.iter().map(|(_, v)| *v).collect();
    assert_eq!(
        values,
        (0..statuses.len() as i32).collect::<Vec<_>>(),
        "0, 1, 2, ... in order"
    );
    statuses
}

/// `FBUP_E_HANDLE_LOST` -> `HANDLE_LOST`; `FBUP_OK` -> `OK`.
fn short(name: &str) -> &str {
    name.strip_prefix("FBUP_E_")
        .or_else(|| name.strip_prefix("FBUP_"))
        .unwrap()
}

#[test]
fn go_names_every_status_and_no_other() {
    // Each Go constant is written as its value with the C name beside it (what `go doc`
    // shows); fbup.go's compile-time check ties the value to the header's constant.
    let go = read("bindings/go/fbup.go");
    for (name, value) in header() {
        let line = go
            .lines()
            .find(|l| l.trim_end().ends_with(&format!("// {name}")) && l.contains(" Status = "))
            .unwrap_or_else(|| panic!("bindings/go/fbup.go lacks a constant for {name}"));
        assert!(
            line.contains(&format!(" Status = {value} ")),
            "Go's {name} is not {value}: {line}"
        );
        assert_eq!(
            go.matches(&format!("-C.{name}]\n")).count(),
            1,
            "fbup.go does not check {name} against the header at compile time"
        );
    }
    assert_eq!(
        go.lines()
            .filter(|l| l.contains(" Status = ") && l.contains("// FBUP_"))
            .count(),
        header().len(),
        "Go names a status the header does not have"
    );
}

#[test]
fn python_has_every_status_with_its_value() {
    let py = read("bindings/python/fbup/errors.py");
    let class = py
        .split("class Status")
        .nth(1)
        .expect("a Status class")
        .split("\n\n\n")
        .next()
        .unwrap();
    let members: Vec<(String, i32)> = class
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(" = ")?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect();
    let want: Vec<(String, i32)> = header()
        .iter()
        .map(|(n, v)| (short(n).to_string(), *v))
        .collect();
    assert_eq!(members, want, "Python's Status against the header");
}

#[test]
fn the_readme_lists_every_status_its_exit_code_and_its_json_key() {
    let readme = read("README.md");
    for (name, value) in header() {
        assert!(
            readme.contains(&format!("| {value} | `{name}` |")),
            "the README's Statuses table lacks {value} {name}"
        );
        if value == 0 {
            continue;
        }
        let key = short(&name).to_ascii_lowercase();
        assert!(
            readme.contains(&format!("`\"{key}\"`")),
            "the README's --json status keys lack \"{key}\""
        );
        let exit_codes = readme
            .split("- **Exit codes**")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        assert!(
            exit_codes.contains(&format!(" {} ", 10 + value)),
            "the README's exit codes lack {}",
            10 + value
        );
        // The Rust key is the header's name, in lower case.
        let status = fbup::Status::from_code(value).unwrap();
        assert_eq!(status.key(), key);
    }
}
