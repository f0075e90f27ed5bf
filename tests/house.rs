//! The shape of the house, checked: data flows one way between the rooms of `src/`
//! (no two import each other, the Protocol knows nothing of retries, the test hook
//! stands on the ground floor), the C skin stays in small rooms, and no function of
//! the library, the command or the emulator grows past a screen.

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

/// The rooms of the core: each file of `src/` by its stem, and each folder of it
/// (`graph/`, `session/`, `ffi/`, ...) as one room, with what its files name of the core.
fn core_rooms() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    let mut core = imports(&src, "crate::", stem);
    core.remove("lib");
    for dir in folders(&src) {
        let uses: BTreeSet<String> = all_rust_files(&dir)
            .iter()
            .flat_map(|f| named(&code(f), "crate::"))
            .collect();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut uses = uses;
        uses.remove(&name);
        core.insert(name, uses);
    }
    core
}

fn folders(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Every `.rs` file below `dir`.
fn all_rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = rust_files(dir);
    for d in folders(dir) {
        files.extend(all_rust_files(&d));
    }
    files
}

#[test]
fn no_two_rooms_of_src_import_each_other() {
    let core = core_rooms();
    assert!(
        core["graph"].contains("trace") && core["session"].contains("plan"),
        "the scan sees imports: {core:?}"
    );
    assert_eq!(two_way(&core), [], "rooms of src/ that import each other");
    for (room, uses) in &core {
        assert!(
            room == "ffi" || !uses.contains("ffi"),
            "{room} reaches up into the C skin"
        );
    }
    let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    for dir in folders(&root().join("src")) {
        let rooms = imports(&dir, "super::", stem);
        assert_eq!(
            two_way(&rooms),
            [],
            "files of {} that import each other",
            dir.display()
        );
    }
    let skin = imports(&root().join("src/ffi"), "super::", stem);
    assert!(skin["upload"].contains("session"), "{skin:?}");
}

#[test]
fn the_protocol_knows_nothing_of_retries_and_the_hook_stands_on_the_ground() {
    let core = core_rooms();
    for (room, never) in [
        ("graph", "retry"),
        ("graph", "session"),
        ("retry", "session"),
        ("plan", "session"),
    ] {
        assert!(
            !core[room].contains(never),
            "{room} imports {never}: {:?}",
            core[room]
        );
    }
    assert_eq!(
        core["hook"],
        BTreeSet::new(),
        "the test hook imports nothing"
    );
    assert!(
        core["token"].is_empty(),
        "the token holder imports nothing: {:?}",
        core["token"]
    );
}

#[test]
fn no_room_of_the_c_skin_is_over_350_lines() {
    for f in rust_files(&root().join("src/ffi")) {
        let lines = std::fs::read_to_string(&f).unwrap().lines().count();
        assert!(lines <= 350, "{} has {lines} lines", f.display());
    }
}

/// The functions of `file` longer than `max` lines, as `path:line: N lines`.
fn long_functions(file: &Path, max: usize) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut long = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let is_fn = t
            .split_once("fn ")
            .is_some_and(|(before, _)| before.split_whitespace().all(is_fn_qualifier));
        if !is_fn || !line.ends_with('{') && !lines[i..].iter().take(8).any(|l| l.ends_with('{')) {
            continue;
        }
        let indent = &line[..line.len() - t.len()];
        let close = format!("{indent}}}");
        let Some(len) = lines[i + 1..].iter().position(|l| *l == close) else {
            continue;
        };
        if len + 2 > max {
            let shown = file.strip_prefix(root()).unwrap_or(file);
            long.push(format!("{}:{}: {} lines", shown.display(), i + 1, len + 2));
        }
    }
    long
}

/// What may stand before `fn` on a function's first line.
fn is_fn_qualifier(word: &str) -> bool {
    matches!(
        word,
        "pub" | "pub(crate)" | "pub(super)" | "async" | "unsafe" | "const" | "extern" | "\"C\""
    )
}

#[test]
fn no_function_of_the_library_the_command_or_the_emulator_is_over_80_lines() {
    let mut long = Vec::new();
    for dir in ["src", "cli/src", "emulator/src"] {
        for f in all_rust_files(&root().join(dir)) {
            long.extend(long_functions(&f, 80));
        }
    }
    assert_eq!(long, Vec::<String>::new(), "functions over 80 lines");
    let this = root().join("tests/house.rs");
    assert!(
        !long_functions(&this, 5).is_empty(),
        "the scan finds functions: none over 5 lines in {}",
        this.display()
    );
}
