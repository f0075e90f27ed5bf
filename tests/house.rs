//! The shape of the house, checked: data flows one way between the files of `src/`
//! (no two import each other), the C skin stays in small rooms, and no function of
//! the emulator grows past a screen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    files
}

/// The code of a file without its comments and its `#[cfg(test)]` module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules of the crate a file names: `crate::x`, `crate::{x, y}`, `super::x`
/// (inside `src/ffi/`, the other rooms of the C skin).
fn named(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap().split(',').collect(),
            None => vec![rest],
        };
        for n in names {
            let n: String = n
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !n.is_empty() {
                out.insert(n);
            }
        }
    }
    out
}

fn imports(
    dir: &Path,
    prefix: &str,
    unit: impl Fn(&Path) -> String,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut map = BTreeMap::new();
    for f in rust_files(dir) {
        let me = unit(&f);
        let mut uses = named(&code(&f), prefix);
        uses.remove(&me);
        map.entry(me).or_insert_with(BTreeSet::new).extend(uses);
    }
    map
}

fn two_way(map: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (a, uses) in map {
        for b in uses {
            if a < b && map.get(b).is_some_and(|u| u.contains(a)) {
                pairs.push((a.clone(), b.clone()));
            }
        }
    }
    pairs
}

#[test]
fn no_two_files_of_src_import_each_other() {
    let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    let mut core = imports(&root().join("src"), "crate::", stem);
    core.remove("lib");
    // src/ffi/ counts as one room of the core: what its files name of the core.
    let skin: BTreeSet<String> = rust_files(&root().join("src/ffi"))
        .iter()
        .flat_map(|f| named(&code(f), "crate::"))
        .collect();
    core.insert("ffi".into(), skin);
    assert!(
        core["graph"].contains("trace"),
        "the scan sees imports: {core:?}"
    );
    assert_eq!(two_way(&core), [], "files of src/ that import each other");
    for (room, uses) in &core {
        assert!(
            room == "ffi" || !uses.contains("ffi"),
            "{room}.rs reaches up into the C skin"
        );
    }
    let rooms = imports(&root().join("src/ffi"), "super::", stem);
    assert!(rooms["upload"].contains("session"), "{rooms:?}");
    assert_eq!(
        two_way(&rooms),
        [],
        "rooms of src/ffi/ that import each other"
    );
}

#[test]
fn no_room_of_the_c_skin_is_over_350_lines() {
    for f in rust_files(&root().join("src/ffi")) {
        let lines = std::fs::read_to_string(&f).unwrap().lines().count();
        assert!(lines <= 350, "{} has {lines} lines", f.display());
    }
}

#[test]
fn no_function_of_the_emulator_is_over_80_lines() {
    for f in rust_files(&root().join("emulator/src")) {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_fn = [
                "fn ",
                "async fn ",
                "pub fn ",
                "pub(crate) fn ",
                "pub(crate) async fn ",
                "pub async fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if !is_fn
                || !line.ends_with('{') && !lines[i..].iter().take(8).any(|l| l.ends_with('{'))
            {
                continue;
            }
            let indent = &line[..line.len() - t.len()];
            let close = format!("{indent}}}");
            let Some(len) = lines[i + 1..].iter().position(|l| *l == close) else {
                continue;
            };
            assert!(
                len + 2 <= 80,
                "{}:{}: a function of {} lines",
                f.display(),
                i + 1,
                len + 2
            );
        }
    }
}
