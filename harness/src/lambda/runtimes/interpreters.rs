//! Installed interpreters, and the choice of one for a runtime: the exact version when one is
//! installed, else the nearest (unless `VPCLAB_EXACT_RUNTIME=1` makes that an error).

use std::{path::PathBuf, process::Command};

use crate::lambda::LambdaError;

/// An installed interpreter and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interpreter {
    /// The executable.
    pub(crate) path: PathBuf,
    /// Its (major, minor) version.
    pub(crate) version: (u32, u32),
}

/// The interpreter for `wanted` among `installed`, and the substitution line when another
/// version stands in for it (the nearest; between two as near, the newer).
pub(crate) fn choose(
    function: &str,
    runtime: &str,
    wanted: (u32, u32),
    installed: &[Interpreter],
) -> Result<(Interpreter, Option<String>), LambdaError> {
    let distance = |i: &Interpreter| {
        let key = |(major, minor): (u32, u32)| i64::from(major) * 1000 + i64::from(minor);
        (key(i.version) - key(wanted)).abs()
    };
    let best = installed
        .iter()
        .min_by_key(|i| (distance(i), std::cmp::Reverse(i.version)))
        .ok_or_else(|| LambdaError::Runtime {
            function: function.to_owned(),
            runtime: runtime.to_owned(),
            reason: format!("no interpreter is installed; {}", how_to_install(runtime)),
        })?;
    if best.version == wanted {
        return Ok((best.clone(), None));
    }
    let line = format!(
        "vpclab: function {function} asks for {runtime}; {} {}.{} ({}) runs it instead, the \
         nearest installed version",
        language(runtime),
        best.version.0,
        best.version.1,
        best.path.display()
    );
    if crate::settings::Settings::get().exact_runtime {
        return Err(LambdaError::Runtime {
            function: function.to_owned(),
            runtime: runtime.to_owned(),
            reason: format!(
                "no {runtime} interpreter is installed and VPCLAB_EXACT_RUNTIME=1 forbids \
                 running it on another version ({}); {}",
                installed_list(installed),
                how_to_install(runtime)
            ),
        });
    }
    Ok((best.clone(), Some(line)))
}

fn language(runtime: &str) -> &'static str {
    if runtime.starts_with("python") {
        "Python"
    } else {
        "Node.js"
    }
}

fn how_to_install(runtime: &str) -> String {
    if runtime.starts_with("python") {
        let version = runtime.trim_start_matches("python");
        format!(
            "install it (`pyenv install {version}`, or a `python{version}` on PATH) or point \
             VPCLAB_PYTHON_{} at one",
            version.replace('.', "_")
        )
    } else {
        let major = runtime.trim_start_matches("nodejs").trim_end_matches(".x");
        format!("install Node.js {major} (`node` on PATH) or point VPCLAB_NODE_{major} at one")
    }
}

fn installed_list(installed: &[Interpreter]) -> String {
    let versions: Vec<String> = installed
        .iter()
        .map(|i| format!("{}.{} at {}", i.version.0, i.version.1, i.path.display()))
        .collect();
    format!("installed: {}", versions.join(", "))
}

/// The (major, minor) version `program` reports for itself with `args`, read by `parse`.
pub(crate) fn version_of(
    program: &std::path::Path,
    args: &[&str],
    parse: impl Fn(&str) -> Option<(u32, u32)>,
) -> Option<(u32, u32)> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| parse(String::from_utf8_lossy(&output.stdout).trim()))
        .flatten()
}

/// `"3.12"` or `"v20.1.0"` as (major, minor).
pub(crate) fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(version: (u32, u32)) -> Interpreter {
        Interpreter {
            path: PathBuf::from(format!("/opt/python{}.{}", version.0, version.1)),
            version,
        }
    }

    #[test]
    fn the_exact_version_wins_and_says_nothing() {
        let installed = [at((3, 11)), at((3, 12)), at((3, 13))];
        let (chosen, line) = choose("f", "python3.12", (3, 12), &installed).unwrap();
        assert_eq!(chosen.version, (3, 12));
        assert!(line.is_none());
    }

    #[test]
    fn otherwise_the_nearest_stands_in_and_both_versions_are_named() {
        let installed = [at((3, 9)), at((3, 11)), at((3, 13))];
        let (chosen, line) = choose("f", "python3.12", (3, 12), &installed).unwrap();
        assert_eq!(chosen.version, (3, 13), "between two as near, the newer");
        let line = line.unwrap();
        assert!(
            line.contains("python3.12") && line.contains("Python 3.13"),
            "{line}"
        );
    }

    #[test]
    fn no_interpreter_says_how_to_get_one() {
        let error = choose("f", "python3.12", (3, 12), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("pyenv install 3.12"), "{error}");
        assert!(error.contains("VPCLAB_PYTHON_3_12"), "{error}");
    }

    #[test]
    fn versions_are_read_as_interpreters_print_them() {
        assert_eq!(parse_version("3.12"), Some((3, 12)));
        assert_eq!(parse_version("v20.20.2"), Some((20, 20)));
        assert_eq!(parse_version("nonsense"), None);
    }
}
