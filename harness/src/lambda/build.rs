//! Building a Rust Lambda crate for the host and zipping it as `bootstrap`.
//!
//! The crate is built with the cargo that runs the tests, in the workspace's target folder, so
//! it shares compiled dependencies with the harness and is rebuilt only when its sources
//! change. No cargo-lambda and no cross toolchain: functions run on this machine.

use std::{
    collections::BTreeMap,
    hash::{Hash, Hasher},
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use super::{LambdaError, manifest};

/// A built function: its zip, ready for `CreateFunction`.
#[derive(Debug, Clone)]
pub(crate) struct BuiltFunction {
    /// The crate's package name.
    pub(crate) package: String,
    /// The zip holding `bootstrap`.
    pub(crate) zip: Vec<u8>,
}

/// Builds the crate at `crate_dir` and zips its binary as `bootstrap`.
pub(crate) async fn build_function(crate_dir: &Path) -> Result<BuiltFunction, LambdaError> {
    let crate_dir = crate_dir.to_path_buf();
    tokio::task::spawn_blocking(move || build_blocking(&crate_dir))
        .await
        .map_err(|e| LambdaError::io("the build task", std::io::Error::other(e)))?
}

/// Crates this process built, by folder: the fingerprint of their files then, and the build.
static BUILT: Mutex<BTreeMap<PathBuf, (u64, BuiltFunction)>> = Mutex::new(BTreeMap::new());

/// A hash of every file and folder under each of `dirs` (path, size, change time; `target` and
/// hidden folders left out), and of the `Cargo.toml` and `Cargo.lock` of the folders above the
/// first (a workspace's): any edit, rename, deletion or lock update changes it.
fn fingerprint(dirs: &[PathBuf]) -> u64 {
    let mut seen: Vec<(PathBuf, u64, Option<SystemTime>)> = Vec::new();
    let mut folders = dirs.to_vec();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let path = entry.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() && (name == "target" || name.to_string_lossy().starts_with('.')) {
                continue;
            }
            if meta.is_dir() {
                folders.push(path.clone());
            }
            seen.push((path, meta.len(), meta.modified().ok()));
        }
    }
    let above = dirs.first().map(|dir| dir.ancestors().skip(1));
    for above in above.into_iter().flatten() {
        for file in ["Cargo.toml", "Cargo.lock"] {
            let path = above.join(file);
            if let Ok(meta) = std::fs::metadata(&path) {
                seen.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    seen.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    seen.hash(&mut hasher);
    hasher.finish()
}

/// Builds the crate unless this process built it already and nothing it is built from (its
/// folder, its `path` dependencies' folders, the workspace's manifest and lock) has changed
/// since.
fn build_blocking(crate_dir: &Path) -> Result<BuiltFunction, LambdaError> {
    let print = fingerprint(&manifest::source_folders(crate_dir));
    {
        let built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, function)) = built.get(crate_dir)
            && *seen == print
        {
            return Ok(function.clone());
        }
    }
    let function = cargo_build(crate_dir)?;
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    built.insert(crate_dir.to_path_buf(), (print, function.clone()));
    Ok(function)
}

fn cargo_build(crate_dir: &Path) -> Result<BuiltFunction, LambdaError> {
    let manifest = crate_dir.join("Cargo.toml");
    let package = manifest::Manifest::read(crate_dir)
        .map_err(|e| LambdaError::Build {
            manifest: manifest.display().to_string(),
            output: format!("{e} (CodeUri must name a Rust crate's folder)"),
        })?
        .package_name()
        .ok_or_else(|| LambdaError::Build {
            manifest: manifest.display().to_string(),
            output: "no `name = \"...\"` in its [package] section".into(),
        })?;
    let settings = crate::settings::Settings::get();
    let cargo = settings.cargo.clone();
    eprintln!("vpclab: building Lambda crate {package} (cargo build; no-op when up to date)");
    let mut command = settings.cargo_command();
    let output = command
        .args(["build", "--message-format=json-render-diagnostics", "--bin"])
        .arg(&package)
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .map_err(|e| LambdaError::Build {
            manifest: manifest.display().to_string(),
            output: format!("could not run {cargo:?}: {e}"),
        })?;
    if !output.status.success() {
        return Err(LambdaError::Build {
            manifest: manifest.display().to_string(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let executable =
        executable_of(&String::from_utf8_lossy(&output.stdout), &package).ok_or_else(|| {
            LambdaError::Build {
                manifest: manifest.display().to_string(),
                output: format!("cargo reported no executable for binary `{package}`"),
            }
        })?;
    let zip = cached_zip(&executable)?;
    Ok(BuiltFunction { package, zip })
}

/// The executable cargo built for `binary`, from its JSON messages.
fn executable_of(messages: &str, binary: &str) -> Option<PathBuf> {
    messages
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == binary)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// The zip of an executable, made again only when the executable is newer than the zip kept
/// beside it (zipping a debug build takes seconds; cargo's no-op build does not).
fn cached_zip(executable: &Path) -> Result<Vec<u8>, LambdaError> {
    let cached = executable.with_extension("vpclab-bootstrap.zip");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if let (Some(zip_time), Some(exe_time)) = (modified(&cached), modified(executable))
        && zip_time >= exe_time
        && let Ok(zip) = std::fs::read(&cached)
    {
        return Ok(zip);
    }
    let zip = zip_bootstrap(executable)?;
    // Written aside and renamed, so a parallel build never reads half a zip.
    let partial = cached.with_extension(format!("partial-{}", std::process::id()));
    if let Err(e) = std::fs::write(&partial, &zip).and_then(|()| std::fs::rename(&partial, &cached))
    {
        tracing::debug!("vpclab: could not keep {}: {e}", cached.display());
    }
    Ok(zip)
}

fn zip_bootstrap(executable: &Path) -> Result<Vec<u8>, LambdaError> {
    let binary = std::fs::read(executable)
        .map_err(|e| LambdaError::io(format!("read {}", executable.display()), e))?;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // Made once per build and sent with every deploy: deflate's default level (6) makes a
    // zip about a ninth smaller than level 1, for under a second more once.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .unix_permissions(0o755);
    let zip_error =
        |e: zip::result::ZipError| LambdaError::io("zip bootstrap", std::io::Error::other(e));
    writer.start_file("bootstrap", options).map_err(zip_error)?;
    writer
        .write_all(&binary)
        .map_err(|e| LambdaError::io("zip bootstrap", e))?;
    let cursor = writer.finish().map_err(zip_error)?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_changes_with_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}").unwrap();
        let dirs = [dir.path().to_path_buf()];
        let before = fingerprint(&dirs);
        assert_eq!(fingerprint(&dirs), before, "nothing changed");
        std::fs::rename(
            dir.path().join("src/main.rs"),
            dir.path().join("src/lib.rs"),
        )
        .unwrap();
        assert_ne!(fingerprint(&dirs), before);
    }

    #[test]
    fn the_fingerprint_changes_with_an_edit_in_a_dependency_folder() {
        let (own, dependency) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(dependency.path().join("lib.rs"), "").unwrap();
        let dirs = [own.path().to_path_buf(), dependency.path().to_path_buf()];
        let before = fingerprint(&dirs);
        std::fs::write(dependency.path().join("lib.rs"), "pub fn f() {}").unwrap();
        assert_ne!(fingerprint(&dirs), before);
    }

    #[test]
    fn executable_is_found_among_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"serde"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"fn"},"executable":"/t/debug/fn"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            executable_of(messages, "fn"),
            Some(PathBuf::from("/t/debug/fn"))
        );
        assert_eq!(executable_of(messages, "other"), None);
    }

    #[test]
    fn the_zip_is_made_again_only_for_a_newer_executable() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("fn");
        std::fs::write(&exe, b"first").unwrap();
        let first = cached_zip(&exe).unwrap();
        assert_eq!(
            cached_zip(&exe).unwrap(),
            first,
            "reused while the executable is older"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&exe, b"second build").unwrap();
        assert_ne!(
            cached_zip(&exe).unwrap(),
            first,
            "made again for a newer executable"
        );
    }

    #[test]
    fn bootstrap_is_zipped_executable() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("fn");
        std::fs::write(&exe, b"#!/bin/sh\n").unwrap();
        let zip = zip_bootstrap(&exe).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let file = archive.by_name("bootstrap").unwrap();
        assert_eq!(file.unix_mode().map(|m| m & 0o777), Some(0o755));
    }
}
