//! Finding the Java runtime that DynamoDB Local needs (17 or newer).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{emulator::EmulatorError, settings::Settings};

/// Returns a Java home (a folder with `bin/java`) of version 17 or newer: `JAVA_HOME`, else
/// the `java` on `PATH`.
pub(crate) fn find_java_home() -> Result<PathBuf, EmulatorError> {
    let home = match Settings::get().java_home.clone() {
        Some(home) if home.join("bin/java").exists() => home,
        _ => java_home_from_path().ok_or(EmulatorError::NoJava {
            found: "no java on PATH and no JAVA_HOME".to_owned(),
        })?,
    };
    match major_version(&home.join("bin/java")) {
        Some(v) if v >= 17 => Ok(home),
        Some(v) => Err(EmulatorError::NoJava {
            found: format!("Java {v} at {}", home.display()),
        }),
        None => Err(EmulatorError::NoJava {
            found: format!("{} does not run", home.join("bin/java").display()),
        }),
    }
}

/// A JDK tool (`javac`, `jar`) of the Java home; an error when it is only a JRE.
pub(crate) fn jdk_tool(home: &Path, tool: &str) -> Result<PathBuf, EmulatorError> {
    let path = home.join("bin").join(tool);
    if path.exists() {
        Ok(path)
    } else {
        Err(EmulatorError::NoJava {
            found: format!("a Java runtime at {} without `{tool}`", home.display()),
        })
    }
}

fn java_home_from_path() -> Option<PathBuf> {
    let java = Settings::get().which("java")?;
    let real = std::fs::canonicalize(java).ok()?;
    Some(real.parent()?.parent()?.to_path_buf())
}

fn major_version(java: &Path) -> Option<u32> {
    let output = Command::new(java).arg("-version").output().ok()?;
    // `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` on stderr.
    let text = String::from_utf8_lossy(&output.stderr);
    let quoted = text.split('"').nth(1)?;
    quoted.split('.').next()?.parse().ok()
}
