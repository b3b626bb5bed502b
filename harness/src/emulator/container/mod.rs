//! LocalStack in a container, through testcontainers and any Docker API (Docker's, or Podman's
//! `podman system service`, which `ci/install-container-engine.sh` installs and starts).
//!
//! The image is vpclab's own, built on this machine on first use ([`image`]);
//! `VPCLAB_LOCALSTACK_IMAGE=name:tag` picks a registry image instead, with
//! `LOCALSTACK_AUTH_TOKEN` passed through. The container shares this machine's network
//! (host networking): LocalStack listens on a free port of `127.0.0.1` as the host backend does,
//! and its executor plug-in calls the harness's executor on `127.0.0.1` too, so neither
//! listens on an outside address. Functions still run on this machine, in the fabric: the
//! plug-in ships each function's code to the harness (`VPCLAB_SHIP_CODE=1`). The container is
//! removed with the last world, and by a watchdog when this process dies (Ctrl-C, SIGKILL).

pub(crate) mod engine;
pub(crate) mod image;

use std::{
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use testcontainers_modules::testcontainers::{
    ContainerAsync, GenericImage, ImageExt, core::logs::LogFrame, runners::AsyncRunner,
};

use self::engine::Engine;
use super::{
    Backend, Emulator, EmulatorError, ExecutorRegistration,
    host::{free_port, provision},
    localstack_env::{Ports, localstack_env},
};
use crate::settings::Settings;

/// Longest wait for `/_localstack/health` once the container runs.
const HEALTH_WAIT: Duration = Duration::from_secs(120);
/// Longest wait for the engine to remove the container.
const REMOVE_WAIT: Duration = Duration::from_secs(30);
/// The most log text kept in memory for failing tests.
const LOG_LIMIT: usize = 1 << 20;
/// A Python boot hook for registry images: LocalStack runs it before it starts, with the
/// image's Python (vpclab's own image has the plug-in installed).
const BOOT_HOOK: &str = "import subprocess, sys\n\
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', \
    '--no-build-isolation', '/opt/vpclab-executor'])\n";

/// A running LocalStack container; removed when stopped or dropped.
pub(crate) struct ContainerLocalStack {
    /// `None` once stopped.
    container: Mutex<Option<ContainerAsync<GenericImage>>>,
    engine: Engine,
    name: String,
    endpoint: String,
    log: Arc<Mutex<String>>,
}

impl std::fmt::Debug for ContainerLocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerLocalStack")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Whether a Docker API answers where testcontainers looks (`DOCKER_HOST`, else the default).
pub(crate) fn docker_engine_answers() -> bool {
    Engine::find(Settings::get()).is_ok()
}

/// The runtime that drives the engine's client and the container's log stream: its own, so
/// they outlive the runtime of the test that started the shared emulator.
fn engine_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vpclab-engine")
            .enable_all()
            .build()
            .expect("a tokio runtime for the container engine's client")
    })
}

/// The image to run: `VPCLAB_LOCALSTACK_IMAGE=name:tag`, else vpclab's own (built if needed).
/// The second value says whether it is vpclab's own.
async fn image(engine: &Engine) -> Result<(String, String, bool), EmulatorError> {
    if let Some((name, tag)) = Settings::get()
        .localstack_image
        .as_deref()
        .and_then(|v| v.rsplit_once(':'))
    {
        return Ok((name.to_owned(), tag.to_owned(), false));
    }
    let engine = engine.clone();
    let reference = tokio::task::spawn_blocking(move || image::ensure_image(&engine))
        .await
        .map_err(|e| EmulatorError::Provision {
            step: "image build task".into(),
            output: e.to_string(),
        })??;
    let (name, tag) = reference.rsplit_once(':').unwrap_or((&reference, "latest"));
    Ok((name.to_owned(), tag.to_owned(), true))
}

/// Builds vpclab's LocalStack image unless the engine has it (`vpclab provision --backend
/// container`); returns its reference.
pub(crate) async fn provision_image() -> Result<String, EmulatorError> {
    let engine = Engine::find(Settings::get())?;
    let (name, tag, _) = image(&engine).await?;
    Ok(format!("{name}:{tag}"))
}

/// The container's environment: the host backend's, plus where things are in vpclab's image,
/// and the code shipping the plug-in needs (the container's files are not this machine's).
pub(crate) fn container_env(
    ports: Ports,
    executor: &ExecutorRegistration,
    own_image: bool,
    auth_token: Option<&str>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = localstack_env(ports, executor)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.push(("VPCLAB_SHIP_CODE".into(), "1".into()));
    env.push(("TMPDIR".into(), "/tmp".into()));
    if own_image {
        env.push(("FILESYSTEM_ROOT".into(), image::FILESYSTEM_ROOT.into()));
        env.push(("JAVA_HOME".into(), image::JAVA_HOME.into()));
    } else {
        // A registry image runs as it was built (in-docker paths), on the host's network.
        env.retain(|(k, _)| k != "OVERRIDE_IN_DOCKER");
    }
    if let Some(token) = auth_token.filter(|t| !t.is_empty()) {
        env.push(("LOCALSTACK_AUTH_TOKEN".into(), token.into()));
    }
    env
}

impl ContainerLocalStack {
    /// Finds the engine, builds the image if needed, starts the container and waits until
    /// LocalStack reports healthy.
    pub(crate) async fn start(executor: &ExecutorRegistration) -> Result<Self, EmulatorError> {
        let engine = Engine::find(Settings::get())?;
        if Settings::get().which("curl").is_none() {
            return Err(EmulatorError::MissingTool {
                tool: "curl".into(),
                purpose: "let the watchdog remove the container if this process is killed".into(),
                install: "apt-get install -y curl".into(),
            });
        }
        let (name, tag, own_image) = image(&engine).await?;
        let ports = Ports {
            gateway: free_port()?,
            dynamodb: free_port()?,
        };
        let log = Arc::new(Mutex::new(String::new()));
        let token = Settings::get().localstack_auth_token.as_deref();
        let build = |container_name: &str| {
            let mut request = GenericImage::new(&name, &tag)
                .with_container_name(container_name)
                .with_label("vpclab.owner", std::process::id().to_string())
                .with_host_config_modifier(|config| config.network_mode = Some("host".to_owned()))
                .with_log_consumer(log_consumer(log.clone()));
            if !own_image {
                request = request.with_copy_to(
                    "/etc/localstack/init/boot.d/vpclab.py",
                    BOOT_HOOK.as_bytes().to_vec(),
                );
                for (path, body) in provision::plugin_files() {
                    request = request.with_copy_to(
                        format!("/opt/vpclab-executor/{path}"),
                        body.as_bytes().to_vec(),
                    );
                }
            }
            for (key, value) in container_env(ports, executor, own_image, token) {
                request = request.with_env_var(key, value);
            }
            request
        };
        let mut attempt = 0;
        let (container, container_name) = loop {
            let container_name = next_container_name();
            // Before the container exists: a kill during start-up leaves nothing either.
            let (options, base) = engine.address.curl_target();
            crate::watchdog::watch_container(&options, &base, &container_name);
            let started = engine_runtime().spawn(build(&container_name).start()).await;
            let reason = match started {
                Ok(Ok(container)) => break (container, container_name),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            // A container that was created but did not start would outlive the world.
            remove_container(&engine, &container_name);
            attempt += 1;
            if attempt > 1 || !reason.contains("status code 500") {
                return Err(container_error(&engine, &name, &tag, reason));
            }
            tracing::warn!(
                "vpclab: the engine failed to start {container_name} ({reason}); once more"
            );
        };
        let localstack = Self {
            container: Mutex::new(Some(container)),
            engine,
            name: container_name,
            endpoint: format!("http://127.0.0.1:{}", ports.gateway),
            log,
        };
        localstack.wait_healthy().await?;
        Ok(localstack)
    }

    async fn wait_healthy(&self) -> Result<(), EmulatorError> {
        let client = reqwest::Client::new();
        let url = format!("{}/_localstack/health", self.endpoint);
        let started = Instant::now();
        loop {
            if let Ok(response) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(());
            }
            if !self.is_running() {
                return Err(EmulatorError::Start {
                    reason: format!("container {} exited before it was healthy", self.name),
                    log: self.log_tail(40),
                });
            }
            if started.elapsed() > HEALTH_WAIT {
                return Err(EmulatorError::Start {
                    reason: format!(
                        "{url} (container {}) did not answer 200 within {HEALTH_WAIT:?}",
                        self.name
                    ),
                    log: self.log_tail(40),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Keeps the container's output (both streams) for [`Emulator::log_tail`], up to
/// [`LOG_LIMIT`].
fn log_consumer(log: Arc<Mutex<String>>) -> impl Fn(&LogFrame) + Send + Sync + 'static {
    move |frame: &LogFrame| {
        let bytes = match frame {
            LogFrame::StdOut(bytes) | LogFrame::StdErr(bytes) => bytes,
        };
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(&String::from_utf8_lossy(bytes));
        if log.len() > LOG_LIMIT {
            let cut = log.len() - LOG_LIMIT / 2;
            let cut = (cut..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(0);
            log.drain(..cut);
        }
    }
}

/// A start failure, with what the engine said and what to check.
/// A container name of this process not used before.
fn next_container_name() -> String {
    static STARTED: AtomicU32 = AtomicU32::new(0);
    format!(
        "vpclab-localstack-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes container `name` through the engine's API, bounded (`curl --max-time 20`).
fn remove_container(engine: &Engine, name: &str) {
    let (options, base) = engine.address.curl_target();
    let removed = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "20", "-X", "DELETE"])
        .args(&options)
        .arg(format!("{base}/containers/{name}?force=true"))
        .status();
    if !removed.is_ok_and(|s| s.success()) {
        tracing::warn!("vpclab: could not remove container {name} that failed to start");
    }
}

fn container_error(engine: &Engine, name: &str, tag: &str, reason: String) -> EmulatorError {
    EmulatorError::Container {
        reason: format!("{name}:{tag} on {}: {reason}", engine.address),
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
        let held = self
            .container
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        held && self.engine.container_running(&self.name) == Some(true)
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        provision::tail(&log, lines)
    }

    fn lost_executor(&self) -> bool {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.contains("Falling back to \"docker\" runtime executor")
    }

    fn stop(&self) {
        let container = self
            .container
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(container) = container else { return };
        let (done, removed) = std::sync::mpsc::channel();
        engine_runtime().spawn(async move {
            let _ = done.send(container.rm().await);
        });
        match removed.recv_timeout(REMOVE_WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("vpclab: removing container {}: {e}", self.name),
            Err(_) => tracing::warn!(
                "vpclab: container {} was not removed within {REMOVE_WAIT:?}; the watchdog \
                 removes it when this process ends",
                self.name
            ),
        }
    }
}

impl Drop for ContainerLocalStack {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executor() -> ExecutorRegistration {
        ExecutorRegistration {
            url: "http://127.0.0.1:41234".into(),
            token: "secret".into(),
        }
    }

    const PORTS: Ports = Ports {
        gateway: 4600,
        dynamodb: 4601,
    };

    #[test]
    fn the_container_reaches_the_executor_on_loopback_and_ships_code() {
        let env = container_env(PORTS, &executor(), true, None);
        let has = |k: &str, v: &str| env.contains(&(k.to_owned(), v.to_owned()));
        assert!(has("LAMBDA_RUNTIME_EXECUTOR", "vpclab"));
        assert!(has("VPCLAB_EXECUTOR_URL", "http://127.0.0.1:41234"));
        assert!(has("VPCLAB_EXECUTOR_TOKEN", "secret"));
        assert!(has("VPCLAB_SHIP_CODE", "1"));
        assert!(has("GATEWAY_LISTEN", "127.0.0.1:4600"));
        assert!(has("FILESYSTEM_ROOT", image::FILESYSTEM_ROOT));
        assert!(!env.iter().any(|(k, _)| k == "LOCALSTACK_AUTH_TOKEN"));
        assert!(!env.iter().any(|(_, v)| v.contains("0.0.0.0")));
    }

    #[test]
    fn the_auth_token_is_passed_through_when_set() {
        let env = container_env(PORTS, &executor(), false, Some("ls-token"));
        assert!(env.contains(&("LOCALSTACK_AUTH_TOKEN".into(), "ls-token".into())));
        assert!(!env.iter().any(|(k, _)| k == "OVERRIDE_IN_DOCKER"));
    }

    #[test]
    fn the_log_keeps_its_end_within_the_limit() {
        let log = Arc::new(Mutex::new(String::new()));
        let consume = log_consumer(log.clone());
        let line = bytes::Bytes::from(vec![b'x'; 1000]);
        for _ in 0..2000 {
            consume(&LogFrame::StdOut(line.clone()));
        }
        let kept = log.lock().unwrap().len();
        assert!((LOG_LIMIT / 2..=LOG_LIMIT).contains(&kept), "{kept}");
    }
}
