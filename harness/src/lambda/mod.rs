//! The Lambda executor: LocalStack's `vpclab` runtime-executor plug-in hands each execution
//! environment to the [`service`] here, which runs the function's `bootstrap` as a process
//! ([`environment`]) and serves it the Lambda Runtime API ([`runtime_api`]), enforces its
//! timeout and keeps its logs ([`logs`]). [`build`] compiles and zips Rust functions.

pub(crate) mod build;
pub(crate) mod environment;
pub(crate) mod logs;
pub(crate) mod manifest;
pub(crate) mod package;
pub(crate) mod runtime_api;
pub(crate) mod runtimes;
pub(crate) mod sandbox;
pub(crate) mod service;

/// Errors of the Lambda executor and of function builds.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// The function's `bootstrap` could not be started.
    #[error("function {function}: could not start {bootstrap}: {reason}")]
    Spawn {
        /// Function name.
        function: String,
        /// Path of the bootstrap.
        bootstrap: String,
        /// What went wrong.
        reason: String,
    },
    /// The function failed or timed out during its init phase.
    #[error("function {function}: init failed: {reason}\n--- function log ---\n{log}")]
    Init {
        /// Function name.
        function: String,
        /// What went wrong.
        reason: String,
        /// The function's output so far.
        log: String,
    },
    /// A runtime vpclab does not serve.
    #[error(
        "function {function}: runtime {runtime} is not supported; vpclab serves {}",
        runtimes::SERVED
    )]
    UnsupportedRuntime {
        /// Function name.
        function: String,
        /// Its runtime.
        runtime: String,
    },
    /// A managed runtime could not be found or provisioned, or refused the function's code.
    #[error("function {function} ({runtime}): {reason}")]
    Runtime {
        /// Function name.
        function: String,
        /// Its runtime.
        runtime: String,
        /// What went wrong, and the fix.
        reason: String,
    },
    /// `cargo build` of a Lambda crate failed.
    #[error("building Lambda crate {manifest} failed:\n{output}")]
    Build {
        /// The crate's Cargo.toml.
        manifest: String,
        /// The compiler's output.
        output: String,
    },
    /// A filesystem or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl LambdaError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
