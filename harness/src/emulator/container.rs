//! LocalStack in a container, for machines with a Docker engine (testcontainers).
//!
//! The pinned community image runs without a token; `LOCALSTACK_AUTH_TOKEN` is passed through
//! when set, and `VPCLAB_LOCALSTACK_IMAGE=name:tag` picks another image. The vpclab executor
//! plug-in is copied into the container and installed by a boot hook; functions still run on
//! this machine, so the plug-in ships each function's code to the harness
//! (`VPCLAB_SHIP_CODE=1`).

use std::{os::unix::net::UnixStream, path::PathBuf, time::Duration};

use testcontainers_modules::{
    localstack::LocalStack,
    testcontainers::{ContainerAsync, ImageExt, core::Host, runners::AsyncRunner},
};

use super::{Backend, Emulator, EmulatorError, ExecutorRegistration, host::provision};
use crate::settings::Settings;

/// The community image vpclab pins (the last tags that run without a token).
pub(crate) const IMAGE: (&str, &str) = ("localstack/localstack", "4.5");
const STARTUP_WAIT: Duration = Duration::from_secs(180);
/// A Python boot hook: LocalStack runs it before it starts, with the image's Python.
const BOOT_HOOK: &str = "import subprocess, sys\n\
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', \
    '--no-build-isolation', '/opt/vpclab-executor'])\n";

/// A running LocalStack container; removed when dropped.
pub(crate) struct ContainerLocalStack {
    /// `None` once stopped (dropping the handle removes the container).
    container: std::sync::Mutex<Option<ContainerAsync<LocalStack>>>,
    endpoint: String,
}

impl std::fmt::Debug for ContainerLocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerLocalStack")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Whether a Docker engine answers on its socket (`DOCKER_HOST=unix://...` or the default).
pub(crate) fn docker_engine_answers() -> bool {
    let socket = match &Settings::get().docker_host {
        Some(host) => match host.strip_prefix("unix://") {
            Some(path) => PathBuf::from(path),
            // A TCP engine: let testcontainers try it.
            None => return true,
        },
        None => PathBuf::from("/var/run/docker.sock"),
    };
    UnixStream::connect(socket).is_ok()
}

/// The environment the container gets.
pub(crate) fn container_env(executor_url: &str, auth_token: Option<&str>) -> Vec<(String, String)> {
    // Inside the container the harness is reached through Docker's host gateway.
    let port = executor_url.rsplit(':').next().unwrap_or_default();
    let mut env: Vec<(String, String)> = [
        ("LAMBDA_RUNTIME_EXECUTOR", "vpclab".to_owned()),
        (
            "VPCLAB_EXECUTOR_URL",
            format!("http://host.docker.internal:{port}"),
        ),
        ("VPCLAB_SHIP_CODE", "1".to_owned()),
        ("SQS_ENDPOINT_STRATEGY", "path".to_owned()),
        ("DISABLE_EVENTS", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(token) = auth_token.filter(|t| !t.is_empty()) {
        env.push(("LOCALSTACK_AUTH_TOKEN".to_owned(), token.to_owned()));
    }
    env
}

/// The image to run: `VPCLAB_LOCALSTACK_IMAGE=name:tag`, else the pinned community tag.
pub(crate) fn image_tag(override_value: Option<&str>) -> (String, String) {
    match override_value.and_then(|v| v.rsplit_once(':')) {
        Some((name, tag)) => (name.to_owned(), tag.to_owned()),
        None => (IMAGE.0.to_owned(), IMAGE.1.to_owned()),
    }
}

impl ContainerLocalStack {
    /// Starts the container and waits for LocalStack to be ready.
    pub(crate) async fn start(executor: &ExecutorRegistration) -> Result<Self, EmulatorError> {
        let settings = Settings::get();
        let token = settings.localstack_auth_token.clone();
        let (name, tag) = image_tag(settings.localstack_image.as_deref());
        let mut request = LocalStack::default()
            .with_name(name)
            .with_tag(tag)
            .with_host("host.docker.internal", Host::HostGateway)
            .with_startup_timeout(STARTUP_WAIT)
            .with_copy_to(
                "/etc/localstack/init/boot.d/vpclab.py",
                BOOT_HOOK.as_bytes().to_vec(),
            );
        for (path, body) in provision::plugin_files() {
            request = request.with_copy_to(
                format!("/opt/vpclab-executor/{path}"),
                body.as_bytes().to_vec(),
            );
        }
        for (key, value) in container_env(&executor.url, token.as_deref()) {
            request = request.with_env_var(key, value);
        }
        request = request.with_env_var("VPCLAB_EXECUTOR_TOKEN", &executor.token);
        let container = request
            .start()
            .await
            .map_err(|e| EmulatorError::Container {
                reason: e.to_string(),
            })?;
        let port =
            container
                .get_host_port_ipv4(4566)
                .await
                .map_err(|e| EmulatorError::Container {
                    reason: e.to_string(),
                })?;
        Ok(Self {
            container: std::sync::Mutex::new(Some(container)),
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Emulator for ContainerLocalStack {
    fn backend(&self) -> Backend {
        Backend::LocalStackContainer
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn is_running(&self) -> bool {
        self.container
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    fn log_tail(&self, _lines: usize) -> String {
        "LocalStack runs in a container; see `docker logs` (or `podman logs`).".to_owned()
    }

    fn lost_executor(&self) -> bool {
        false
    }

    fn stop(&self) {
        // Dropping the handle stops and removes the container.
        drop(
            self.container
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_reaches_the_executor_through_the_host_gateway() {
        let env = container_env("http://0.0.0.0:41234", None);
        assert!(env.contains(&("LAMBDA_RUNTIME_EXECUTOR".into(), "vpclab".into())));
        assert!(env.contains(&(
            "VPCLAB_EXECUTOR_URL".into(),
            "http://host.docker.internal:41234".into()
        )));
        assert!(env.contains(&("VPCLAB_SHIP_CODE".into(), "1".into())));
        assert!(!env.iter().any(|(k, _)| k == "LOCALSTACK_AUTH_TOKEN"));
    }

    #[test]
    fn the_auth_token_is_passed_through_when_set() {
        let env = container_env("http://0.0.0.0:1", Some("ls-token"));
        assert!(env.contains(&("LOCALSTACK_AUTH_TOKEN".into(), "ls-token".into())));
    }

    #[test]
    fn the_pinned_community_tag_is_the_default_image() {
        assert_eq!(
            image_tag(None),
            ("localstack/localstack".into(), "4.5".into())
        );
        assert_eq!(
            image_tag(Some("localstack/localstack-pro:2026.3")),
            ("localstack/localstack-pro".into(), "2026.3".into())
        );
    }
}
