//! The AWS emulator behind one interface: LocalStack as a host process (the embedded
//! default, provisioned on first use) or in a container (testcontainers). One running
//! emulator is shared by every world of the process and stops with the last of them.

pub(crate) mod container;
pub(crate) mod host;
pub(crate) mod shared;

use std::path::Path;

/// Which emulator backend a world uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backend {
    /// LocalStack as a host process, provisioned into the user's cache on first use.
    LocalStackHost,
    /// LocalStack in a container, through a Docker engine (testcontainers).
    LocalStackContainer,
}

/// How the backend was chosen: by the user, or automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// `VPCLAB_EMULATOR` or the builder named it: no fallback.
    Explicit(Backend),
    /// Container when a Docker engine answers, else the host process.
    Automatic,
}

impl Backend {
    /// The name used in `VPCLAB_EMULATOR` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::LocalStackHost => "localstack-host",
            Self::LocalStackContainer => "localstack-container",
        }
    }

    /// Parses a `VPCLAB_EMULATOR` value.
    pub fn parse(value: &str) -> Result<Self, EmulatorError> {
        match value {
            "localstack-host" | "localstack" | "host" => Ok(Self::LocalStackHost),
            "localstack-container" | "container" => Ok(Self::LocalStackContainer),
            other => Err(EmulatorError::UnknownBackend {
                name: other.to_owned(),
            }),
        }
    }
}

/// Reads the choice from `VPCLAB_EMULATOR` (unset or empty: automatic).
pub(crate) fn choice_from_env() -> Result<Choice, EmulatorError> {
    match std::env::var("VPCLAB_EMULATOR") {
        Ok(value) if !value.trim().is_empty() => {
            Ok(Choice::Explicit(Backend::parse(value.trim())?))
        }
        _ => Ok(Choice::Automatic),
    }
}

/// Errors of the emulator backends.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// No Python >= 3.12 to run LocalStack.
    #[error(
        "LocalStack needs Python 3.12 or newer; tried: {tried}. Install one \
         (`pyenv install 3.12`, or a python3.12 package) or point VPCLAB_PYTHON at it"
    )]
    NoPython {
        /// The interpreters tried, with what they reported.
        tried: String,
    },
    /// No suitable Java for DynamoDB Local.
    #[error(
        "DynamoDB Local needs a Java 17+ JDK; found {found}. Install one \
         (`apt-get install -y openjdk-17-jdk-headless`) or set JAVA_HOME"
    )]
    NoJava {
        /// What was found instead.
        found: String,
    },
    /// A tool needed for provisioning is missing.
    #[error("`{tool}` is needed to {purpose}; install it: {install}")]
    MissingTool {
        /// The missing program.
        tool: String,
        /// What it is needed for.
        purpose: String,
        /// The command that installs it.
        install: String,
    },
    /// A provisioning step failed.
    #[error("provisioning LocalStack failed at step `{step}`:\n{output}")]
    Provision {
        /// The step.
        step: String,
        /// The tool's output.
        output: String,
    },
    /// LocalStack did not start.
    #[error("LocalStack did not start: {reason}\n--- LocalStack log (last lines) ---\n{log}")]
    Start {
        /// Why.
        reason: String,
        /// The end of its log.
        log: String,
    },
    /// `VPCLAB_EMULATOR` names no backend.
    #[error(
        "VPCLAB_EMULATOR={name} names no emulator backend; use `localstack-host` or \
         `localstack-container`"
    )]
    UnknownBackend {
        /// The value given.
        name: String,
    },
    /// The container backend could not start.
    #[error(
        "the LocalStack container did not start: {reason}. The container backend needs a \
         running Docker engine; unset VPCLAB_EMULATOR (or set it to `localstack-host`) to run \
         LocalStack as a host process instead"
    )]
    Container {
        /// Why.
        reason: String,
    },
    /// The Lambda executor service failed.
    #[error(transparent)]
    Executor(#[from] crate::lambda::LambdaError),
    /// A filesystem or socket operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// On which path or address.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl EmulatorError {
    pub(crate) fn io(what: &str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            what: what.to_owned(),
            path: path.display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for backend in [Backend::LocalStackHost, Backend::LocalStackContainer] {
            assert_eq!(Backend::parse(backend.name()).unwrap(), backend);
        }
    }

    #[test]
    fn an_unknown_backend_lists_the_known_ones() {
        let message = Backend::parse("ministack-ng").unwrap_err().to_string();
        assert!(message.contains("ministack-ng"), "{message}");
        assert!(message.contains("localstack-host"), "{message}");
    }
}
