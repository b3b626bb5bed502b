//! Managed runtimes: `python3.x` and `nodejs*` handlers run under AWS's own runtime interface
//! clients (`awslambdaric` from PyPI, `aws-lambda-ric` from npm), provisioned once per
//! interpreter version into a folder every function's user can read, and cached there.
//! Custom runtimes (`provided.*`) run their `bootstrap` as they are.

mod interpreters;
mod node;
mod provisioning;
pub(crate) mod python;

use std::{ffi::OsString, path::PathBuf};

use super::LambdaError;

/// The runtimes vpclab serves, as the error for any other names them.
pub(crate) const SERVED: &str = "provided.al2023, provided.al2, python3.9 to python3.14 (under \
     awslambdaric), nodejs18.x and newer (under aws-lambda-ric)";

/// What a Lambda `Runtime` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runtime {
    /// `provided.*`: the zip's `bootstrap`.
    Custom,
    /// `python3.<minor>`.
    Python(u32),
    /// `nodejs<major>.x`.
    Node(u32),
}

impl Runtime {
    /// Reads a runtime identifier; `None` for one vpclab cannot serve.
    pub(crate) fn parse(identifier: &str) -> Option<Self> {
        if identifier.starts_with("provided") {
            return Some(Self::Custom);
        }
        if let Some(minor) = identifier.strip_prefix("python3.") {
            return minor
                .parse()
                .ok()
                .filter(|m| (9..=14).contains(m))
                .map(Self::Python);
        }
        identifier
            .strip_prefix("nodejs")
            .and_then(|rest| rest.strip_suffix(".x"))
            .and_then(|major| major.parse().ok())
            .filter(|major| *major >= 18)
            .map(Self::Node)
    }

    /// The function's runtime, or the error that names it and what vpclab serves.
    pub(crate) fn of(function: &str, identifier: Option<&str>) -> Result<Self, LambdaError> {
        let identifier = identifier.unwrap_or_default();
        Self::parse(identifier).ok_or_else(|| LambdaError::UnsupportedRuntime {
            function: function.to_owned(),
            runtime: identifier.to_owned(),
        })
    }
}

/// How to start a handler: the program, its arguments and the runtime's own environment
/// variables (`PYTHONPATH`, `LD_LIBRARY_PATH`, `NODE_PATH`).
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The interpreter (or the custom runtime's `bootstrap`).
    pub(crate) program: PathBuf,
    /// Its arguments (the runtime interface client and the handler).
    pub(crate) args: Vec<OsString>,
    /// The runtime's environment variables.
    pub(crate) env: Vec<(String, OsString)>,
    /// Set when another interpreter version stands in for the one asked for: one line for the
    /// deploy output and the function's log, naming both.
    pub(crate) substitution: Option<String>,
}

/// How to run `handler` of a function on `runtime` from `task` (its code folder),
/// provisioning the runtime on first use.
pub(crate) async fn launch(
    function: &str,
    runtime: Runtime,
    handler: &str,
    task: &std::path::Path,
) -> Result<Launch, LambdaError> {
    let (function, handler, task) = (function.to_owned(), handler.to_owned(), task.to_owned());
    let plan = move || match runtime {
        Runtime::Custom => Ok(Launch {
            program: task.join("bootstrap"),
            args: Vec::new(),
            env: Vec::new(),
            substitution: None,
        }),
        Runtime::Python(minor) => python::launch(&function, minor, &handler),
        Runtime::Node(major) => node::launch(&function, major, &handler),
    };
    tokio::task::spawn_blocking(plan)
        .await
        .map_err(|e| LambdaError::io("provision the runtime", std::io::Error::other(e)))?
}

/// Checks at deploy time that an interpreter can run `runtime`; the line naming a
/// substitution, for the deploy output.
pub(crate) fn check_installed(
    function: &str,
    runtime: Runtime,
) -> Result<Option<String>, LambdaError> {
    match runtime {
        Runtime::Custom => Ok(None),
        Runtime::Python(minor) => python::interpreter(function, minor).map(|(_, line)| line),
        Runtime::Node(major) => node::interpreter(function, major).map(|(_, line)| line),
    }
}

/// The folder holding the provisioned runtimes: `VPCLAB_RUNTIMES_DIR`, else
/// `/var/cache/vpclab/runtimes` (outside any home folder, which functions' users cannot
/// cross).
pub(crate) fn runtimes_dir() -> PathBuf {
    crate::settings::Settings::get().runtimes_dir.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_identifiers_are_read_as_aws_names_them() {
        assert_eq!(Runtime::parse("provided.al2023"), Some(Runtime::Custom));
        assert_eq!(Runtime::parse("python3.12"), Some(Runtime::Python(12)));
        assert_eq!(Runtime::parse("nodejs20.x"), Some(Runtime::Node(20)));
        assert_eq!(Runtime::parse("python2.7"), None);
        assert_eq!(Runtime::parse("nodejs16.x"), None);
        assert_eq!(Runtime::parse("java21"), None);
    }

    #[test]
    fn an_unserved_runtime_is_named_with_those_served() {
        let error = Runtime::of("fn", Some("java21")).unwrap_err().to_string();
        assert!(error.contains("fn") && error.contains("java21"), "{error}");
        assert!(
            error.contains("python3.9") && error.contains("nodejs18.x"),
            "{error}"
        );
    }
}
