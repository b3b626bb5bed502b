//! Finding a Python interpreter that can run LocalStack (3.12 or newer).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{emulator::EmulatorError, settings::Settings};

/// The oldest Python LocalStack 2026.3 runs on (it uses PEP 695 syntax).
const MINIMUM: (u32, u32) = (3, 12);

/// Finds a Python >= 3.12: `VPCLAB_PYTHON`, then `python3.14`..`python3` on `PATH`, then
/// pyenv's versions.
pub(crate) fn find_python() -> Result<PathBuf, EmulatorError> {
    if let Some(explicit) = &Settings::get().python {
        let path = explicit.clone();
        return match version_of(&path) {
            Some(v) if v >= MINIMUM => Ok(path),
            found => Err(EmulatorError::NoPython {
                tried: format!("VPCLAB_PYTHON={} ({})", path.display(), describe(found)),
            }),
        };
    }
    let mut candidates: Vec<PathBuf> = ["python3.14", "python3.13", "python3.12", "python3"]
        .iter()
        .map(PathBuf::from)
        .collect();
    candidates.extend(pyenv_versions());
    let mut tried = Vec::new();
    for candidate in candidates {
        let found = version_of(&candidate);
        if found.is_some_and(|v| v >= MINIMUM) {
            return Ok(candidate);
        }
        tried.push(format!("{} ({})", candidate.display(), describe(found)));
    }
    Err(EmulatorError::NoPython {
        tried: tried.join(", "),
    })
}

fn describe(version: Option<(u32, u32)>) -> String {
    match version {
        Some((major, minor)) => format!("{major}.{minor}"),
        None => "not found".to_owned(),
    }
}

/// Interpreters under pyenv's root, newest first.
fn pyenv_versions() -> Vec<PathBuf> {
    let Some(root) = &Settings::get().pyenv_root else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(root.join("versions")) else {
        return Vec::new();
    };
    let mut found: Vec<((u32, u32), PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let mut parts = name.split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            Some(((major, minor), entry.path().join("bin").join("python3")))
        })
        .filter(|(_, path)| path.exists())
        .collect();
    found.sort();
    found.into_iter().rev().map(|(_, path)| path).collect()
}

/// `(major, minor)` of an interpreter, or `None` when it does not run.
fn version_of(python: &Path) -> Option<(u32, u32)> {
    let output = Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let mut parts = text.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interpreter_has_no_version() {
        assert_eq!(version_of(Path::new("/nonexistent/python3.12")), None);
    }

    #[test]
    fn the_no_python_error_says_how_to_get_one() {
        let message = EmulatorError::NoPython {
            tried: "python3 (3.11)".into(),
        }
        .to_string();
        assert!(message.contains("python3 (3.11)"), "{message}");
        assert!(message.contains("VPCLAB_PYTHON"), "{message}");
    }
}
