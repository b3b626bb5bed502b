//! The AWS emulator behind one interface, [`Emulator`]: LocalStack as a host process (the
//! embedded default, provisioned on first use) or in a container (testcontainers).
//! [`Backend::start`] is the one place that picks a backend's implementation.

pub(crate) mod container;
pub(crate) mod host;
mod localstack_env;

use std::path::{Path, PathBuf};

use crate::{aws::clients, settings::Settings};

/// Where the emulator's Lambda plug-in reaches vpclab's executor, and the secret it sends.
#[derive(Debug, Clone)]
pub(crate) struct ExecutorRegistration {
    /// The executor service's URL as seen from this machine (`http://127.0.0.1:<port>`).
    pub(crate) url: String,
    /// The token every call must carry (`X-Vpclab-Token`).
    pub(crate) token: String,
}

/// A running emulator: its AWS endpoint, its state and its logs. It stops, with everything it
/// started, when [`Emulator::stop`] is called or when it is dropped.
pub(crate) trait Emulator: std::fmt::Debug + Send + Sync {
    /// The backend that runs.
    fn backend(&self) -> Backend;

    /// The AWS endpoint URL, e.g. `http://127.0.0.1:4566`.
    fn endpoint(&self) -> &str;

    /// Whether the emulator still runs.
    fn is_running(&self) -> bool;

    /// The last lines of the emulator's log.
    fn log_tail(&self, lines: usize) -> String;

    /// Whether the emulator ignored the executor registration (LocalStack then silently runs
    /// functions in Docker).
    fn lost_executor(&self) -> bool;

    /// Stops the emulator now; later calls do nothing.
    fn stop(&self);

    /// A diagnosis when something failed: whether the emulator still runs, whether it lost its
    /// Lambda plug-in, and its log's end.
    fn diagnose(&self) -> String {
        let mut out = String::new();
        if !self.is_running() {
            out.push_str("the emulator is no longer running (it died mid-test).\n");
        }
        if self.lost_executor() {
            out.push_str(
                "LocalStack did not load the vpclab Lambda executor and fell back to Docker; \
                 delete the provisioned cache (~/.cache/vpclab/localstack) to reinstall it.\n",
            );
        }
        out.push_str("--- emulator log (last lines) ---\n");
        out.push_str(&self.log_tail(40));
        out
    }
}

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

    /// Starts this backend's emulator, telling it where the executor is.
    pub(crate) async fn start(
        self,
        executor: &ExecutorRegistration,
    ) -> Result<Box<dyn Emulator>, EmulatorError> {
        Ok(match self {
            Self::LocalStackHost => Box::new(host::HostLocalStack::start(executor).await?),
            Self::LocalStackContainer => {
                Box::new(container::ContainerLocalStack::start(executor).await?)
            }
        })
    }

    /// The address the executor service listens on for this backend: loopback for both (the
    /// container shares this machine's network, so its plug-in calls `127.0.0.1` too).
    pub(crate) fn executor_bind_address(self) -> &'static str {
        match self {
            Self::LocalStackHost | Self::LocalStackContainer => "127.0.0.1:0",
        }
    }
}

impl Choice {
    /// The choice of the settings (`VPCLAB_EMULATOR`; unset or blank: automatic).
    pub(crate) fn from_settings(settings: &Settings) -> Result<Self, EmulatorError> {
        match &settings.emulator {
            Some(name) => Ok(Self::Explicit(Backend::parse(name)?)),
            None => Ok(Self::Automatic),
        }
    }

    /// The backend to try first: the named one, else a container when a Docker engine
    /// answers, else the host process.
    pub(crate) fn first_backend(self) -> Backend {
        match self {
            Self::Explicit(backend) => backend,
            Self::Automatic if container::docker_engine_answers() => Backend::LocalStackContainer,
            Self::Automatic => Backend::LocalStackHost,
        }
    }
}

/// Loads the services a deploy needs while the world builds and translates its templates:
/// LocalStack loads each service (and starts DynamoDB Local's JVM) on its first request.
/// One at a time, the cheap and common ones first: loaded all at once they share one
/// interpreter lock, and a user's first call (one queue) waits seconds behind all of them.
/// Best effort: a failure here shows up, with a clear error, in the deploy itself.
pub(crate) async fn warm_up(endpoint: String) {
    let config = clients::sdk_config(&endpoint, "000000000000", "us-east-1");
    let c = clients::Clients::new(&config);
    let started = std::time::Instant::now();
    let _ = c.sqs.list_queues().send().await;
    let _ = c.sns.list_topics().send().await;
    let _ = c.iam.list_roles().send().await;
    // Lambda keeps function code in the emulator's S3: a plain GET of the root loads it.
    let _ = reqwest::Client::new()
        .get(format!("{endpoint}/"))
        .send()
        .await;
    let _ = c.lambda.list_functions().send().await;
    let _ = c.dynamodb.list_tables().send().await;
    let _ = c.ec2.describe_vpcs().send().await;
    let _ = c.apigateway.get_rest_apis().send().await;
    let _ = c.route53.list_hosted_zones().send().await;
    let _ = c.ssm.describe_parameters().send().await;
    let _ = c.secretsmanager.list_secrets().send().await;
    let _ = c.acm.list_certificates().send().await;
    tracing::debug!(
        "vpclab: emulator services loaded in {:?}",
        started.elapsed()
    );
}

/// A Python that runs AWS's SAM translator (`aws-sam-translator`, in the provisioned LocalStack
/// environment, whichever backend runs the emulator), provisioning it on first use.
pub(crate) async fn sam_translator_python() -> Result<PathBuf, EmulatorError> {
    let provisioned = tokio::task::spawn_blocking(host::provision::ensure_provisioned)
        .await
        .map_err(|e| EmulatorError::Provision {
            step: "provisioning task".into(),
            output: e.to_string(),
        })??;
    Ok(provisioned.python)
}

/// The AWS CLI of the provisioned LocalStack environment, if there is one.
pub(crate) fn provisioned_aws_cli() -> Option<PathBuf> {
    host::provision::provisioned_aws_cli()
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
    /// No Docker API answers for the container backend.
    #[error(
        "the container backend needs a Docker API (Docker, or Podman's `podman system service`) \
         and none answers: {tried}. Install and start Podman with \
         `sudo bash ci/install-container-engine.sh` and \
         `export DOCKER_HOST=unix:///run/podman/podman.sock`, or point DOCKER_HOST at another \
         engine that answers; or set VPCLAB_EMULATOR=localstack-host to run \
         LocalStack as a host process instead"
    )]
    NoEngine {
        /// Where the API was looked for, and what happened.
        tried: String,
    },
    /// The container backend could not start its container.
    #[error(
        "the LocalStack container did not start: {reason}. Check the engine (`podman ps -a`, \
         `podman logs`), or set VPCLAB_EMULATOR=localstack-host to run LocalStack as a host \
         process instead"
    )]
    Container {
        /// Why.
        reason: String,
    },
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
