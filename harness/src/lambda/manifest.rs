//! What a Rust Lambda crate's `Cargo.toml` says about its build: the package's name, and the
//! folders a build reads (the crate's own and those of its `path` dependencies).

use std::path::{Path, PathBuf};

use toml_edit::{Document, Item, TableLike};

/// A crate's manifest, parsed.
#[derive(Debug)]
pub(crate) struct Manifest {
    dir: PathBuf,
    document: Document<String>,
}

impl Manifest {
    /// Reads and parses `<crate_dir>/Cargo.toml`; the error names the file and what is wrong.
    pub(crate) fn read(crate_dir: &Path) -> Result<Self, String> {
        let path = crate_dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let document =
            Document::parse(text).map_err(|e| format!("{} is not TOML: {e}", path.display()))?;
        Ok(Self {
            dir: crate_dir.to_path_buf(),
            document,
        })
    }

    /// The `name` of its `[package]` section.
    pub(crate) fn package_name(&self) -> Option<String> {
        self.document
            .get("package")?
            .get("name")?
            .as_str()
            .map(str::to_owned)
    }

    /// The folders of its `path` dependencies (normal and build), whether named here or
    /// inherited with `workspace = true` from the workspace's `[workspace.dependencies]`.
    fn path_dependencies(&self) -> Vec<PathBuf> {
        let workspace = workspace_root(&self.dir);
        let mut found = Vec::new();
        for table in self.dependency_tables() {
            for (name, spec) in table.iter() {
                let path = if spec.get("workspace").and_then(Item::as_bool) == Some(true) {
                    workspace.as_ref().and_then(|(root, doc)| {
                        let declared = doc.get("workspace")?.get("dependencies")?.get(name)?;
                        Some(root.join(declared.get("path")?.as_str()?))
                    })
                } else {
                    spec.get("path")
                        .and_then(Item::as_str)
                        .map(|p| self.dir.join(p))
                };
                found.extend(path);
            }
        }
        found
    }

    /// `[dependencies]`, `[build-dependencies]` and their `[target.<cfg>.…]` forms: what a
    /// build of the crate's binary compiles (dev-dependencies are left out).
    fn dependency_tables(&self) -> Vec<&dyn TableLike> {
        let kinds = ["dependencies", "build-dependencies"];
        let mut tables: Vec<&dyn TableLike> = kinds
            .iter()
            .filter_map(|kind| self.document.get(kind)?.as_table_like())
            .collect();
        if let Some(targets) = self.document.get("target").and_then(Item::as_table_like) {
            for (_, target) in targets.iter() {
                tables.extend(
                    kinds
                        .iter()
                        .filter_map(|kind| target.get(kind)?.as_table_like()),
                );
            }
        }
        tables
    }
}

/// The folders a build of the crate at `crate_dir` reads: its own, then those of its `path`
/// dependencies, theirs, and so on (each once). A manifest that cannot be read adds no
/// folder: cargo reports it when it builds.
pub(crate) fn source_folders(crate_dir: &Path) -> Vec<PathBuf> {
    let mut folders = vec![crate_dir.to_path_buf()];
    let mut next = 0;
    while let Some(dir) = folders.get(next).cloned() {
        next += 1;
        let Ok(manifest) = Manifest::read(&dir) else {
            continue;
        };
        for dependency in manifest.path_dependencies() {
            let dependency = dependency.canonicalize().unwrap_or(dependency);
            if !folders.contains(&dependency) {
                folders.push(dependency);
            }
        }
    }
    folders
}

/// The nearest folder above `crate_dir` whose `Cargo.toml` has a `[workspace]`, with that
/// manifest.
fn workspace_root(crate_dir: &Path) -> Option<(PathBuf, Document<String>)> {
    crate_dir.ancestors().skip(1).find_map(|above| {
        let text = std::fs::read_to_string(above.join("Cargo.toml")).ok()?;
        let document = Document::parse(text).ok()?;
        document
            .get("workspace")
            .is_some()
            .then(|| (above.to_path_buf(), document))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn package_name_is_read_from_the_package_section() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("Cargo.toml"),
            "[workspace]\n[package]\nname = \"sqs-processor\"\nversion = \"0.1.0\"\n",
        );
        let manifest = Manifest::read(dir.path()).unwrap();
        assert_eq!(manifest.package_name().as_deref(), Some("sqs-processor"));
    }

    #[test]
    fn a_malformed_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("Cargo.toml"), "[package\nname = 1\n");
        let error = Manifest::read(dir.path()).unwrap_err();
        assert!(error.contains("Cargo.toml is not TOML"), "{error}");
    }

    #[test]
    fn path_dependencies_are_followed_through_the_workspace_and_further() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        write(
            &root.join("Cargo.toml"),
            "[workspace]\n[workspace.dependencies]\nshared = { path = \"shared\" }\ntokio = \"1\"\n",
        );
        write(
            &root.join("lambdas/f/Cargo.toml"),
            "[package]\nname = \"f\"\n[dependencies]\ntokio.workspace = true\nshared.workspace = true\n\
             [target.'cfg(unix)'.build-dependencies]\nown = { path = \"../own\" }\n\
             [dev-dependencies]\ntesting = { path = \"../testing\" }\n",
        );
        write(
            &root.join("shared/Cargo.toml"),
            "[package]\nname = \"shared\"\n[dependencies]\ndeeper = { path = \"../deeper\" }\n",
        );
        for other in ["lambdas/own", "deeper", "lambdas/testing"] {
            write(
                &root.join(other).join("Cargo.toml"),
                "[package]\nname = \"x\"\n",
            );
        }
        let folders = source_folders(&root.join("lambdas/f"));
        let expected = ["lambdas/f", "shared", "lambdas/own", "deeper"].map(|d| root.join(d));
        assert_eq!(folders, expected);
    }
}
