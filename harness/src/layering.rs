//! The layers of DESIGN.md, checked: a module of `harness/src` may name (`crate::...`) only
//! modules of its own layer or of layers below it.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// The layers, top first; each holds the top-level modules (folders or files) of `harness/src`.
/// The shared bottom comes last: every layer may use it.
const LAYERS: &[(&str, &[&str])] = &[
    ("world", &["world", "lib"]),
    ("deploy", &["deploy"]),
    ("edge", &["edge"]),
    ("lambda", &["lambda"]),
    ("fabric", &["fabric"]),
    ("emulator", &["emulator"]),
    (
        "shared bottom",
        &["aws", "cgroup", "settings", "watchdog", "layering"],
    ),
];

/// Root items of `lib.rs` (the crate's error type) belong to the top.
const ROOT_ITEMS: &[&str] = &["Error"];

/// The rank of a top-level module (0 = top), if it is in [`LAYERS`].
fn rank(module: &str) -> Option<usize> {
    let module = if ROOT_ITEMS.contains(&module) {
        "lib"
    } else {
        module
    };
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The top-level modules a source text names through `crate::`, groups (`crate::{a, b::c}`)
/// included. Comments are not code: lines starting with `//` are skipped.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            found.extend(top_level_names(&group[..end]));
        } else {
            found.extend(leading_identifier(rest));
        }
    }
    found
}

/// The first path segment of each item of a `use` group's body (`a, b::{c, d}, e::f`).
fn top_level_names(group: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut start_of_item = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => start_of_item = true,
            c if start_of_item && depth == 0 && !c.is_whitespace() => {
                start_of_item = false;
                names.extend(leading_identifier(&group[i..]));
            }
            _ => {}
        }
    }
    names
}

fn leading_identifier(text: &str) -> Option<String> {
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level module a file of `src` belongs to (`fabric/vpc.rs` -> `fabric`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("file under src");
    let first = relative.components().next().expect("a component");
    let first = first.as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// Every place a module names a layer above its own, as `file: names module (layer)`.
fn upward_imports(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    // This file's own examples name every layer.
    let checked = rust_files(src)
        .into_iter()
        .filter(|f| f.file_name().is_none_or(|n| n != "layering.rs"));
    for file in checked {
        let module = module_of(src, &file);
        let own = rank(&module).unwrap_or_else(|| {
            panic!(
                "{module} (in {}) is in no layer of layering.rs",
                file.display()
            )
        });
        let text = fs::read_to_string(&file).expect("readable source");
        for named in named_modules(&text) {
            match rank(&named) {
                Some(r) if r < own => found.push(format!(
                    "{}: names crate::{named} ({}), a layer above {}",
                    file.display(),
                    LAYERS[r].0,
                    LAYERS[own].0
                )),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

#[test]
fn layers_only_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let upward = upward_imports(&src);
    assert!(
        upward.is_empty(),
        "layers only point down (DESIGN.md: world, deploy, edge, lambda, fabric, emulator, \
         shared bottom):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_check_sees_groups_and_paths() {
    let text = "use crate::{\n    aws::clients,\n    world::{a, b},\n};\n\
                // crate::deploy in a comment\nlet x = crate::fabric::ip_tool();\n";
    let named = named_modules(text);
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        ["aws", "fabric", "world"]
    );
}

#[test]
fn an_upward_import_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("fabric")).expect("mkdir");
    fs::write(
        dir.path().join("fabric/mod.rs"),
        "use crate::deploy::resources;\n",
    )
    .expect("write");
    let upward = upward_imports(dir.path());
    assert_eq!(upward.len(), 1, "{upward:?}");
    assert!(upward[0].contains("crate::deploy (deploy), a layer above fabric"));
}
