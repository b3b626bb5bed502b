//! Provisioning a runtime folder once: built in a work folder beside it under a lock (parallel
//! worlds provision once), renamed into place when complete, readable by every user.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use crate::emulator::host::provision;

/// A stable key of `parts` (for a runtime folder's name).
pub(super) fn key<'a>(parts: impl Iterator<Item = &'a str>) -> u64 {
    provision::fnv1a(parts)
}

/// Makes `dir` with `build` (given the work folder to fill) unless it exists already.
pub(super) fn once(
    dir: &Path,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    for folder in parent
        .ancestors()
        .take_while(|a| a.starts_with(super::runtimes_dir()))
    {
        let _ = fs::set_permissions(folder, fs::Permissions::from_mode(0o755));
    }
    let sibling = |suffix: &str| {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        dir.with_file_name(format!("{name}.{suffix}"))
    };
    let _lock = provision::lock(&sibling("lock")).map_err(|e| e.to_string())?;
    if dir.is_dir() {
        return Ok(());
    }
    let work: PathBuf = sibling("partial");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir(&work).map_err(|e| format!("create {}: {e}", work.display()))?;
    fs::set_permissions(&work, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("open {}: {e}", work.display()))?;
    if let Err(reason) = build(&work) {
        let _ = fs::remove_dir_all(&work);
        return Err(reason);
    }
    fs::rename(&work, dir).map_err(|e| format!("move {} into place: {e}", work.display()))
}

/// Runs a provisioning step; its failure carries the end of its output.
pub(super) fn run(command: &mut Command, step: &str) -> Result<(), String> {
    provision::run(command, step).map_err(|e| e.to_string())
}
