//! LocalStack as a host process: the embedded default.

mod java;
pub(crate) mod provision;
mod python;

use std::{
    fs,
    net::TcpListener,
    os::unix::{fs::symlink, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, killpg},
    unistd::Pid,
};
use tempfile::TempDir;

use super::{
    Backend, Emulator, EmulatorError, ExecutorRegistration,
    localstack_env::{Ports, localstack_env},
};

/// Longest wait for `/_localstack/health` after the process starts.
const HEALTH_WAIT: Duration = Duration::from_secs(90);
/// Longest wait for LocalStack to exit after SIGTERM before SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// A running LocalStack process; stopped (whole process group) on drop.
#[derive(Debug)]
pub(crate) struct HostLocalStack {
    /// `None` once stopped.
    child: Mutex<Option<Child>>,
    endpoint: String,
    log_path: PathBuf,
    /// Holds `FILESYSTEM_ROOT`, `TMPDIR` and the log; removed on drop.
    _root: TempDir,
}

impl HostLocalStack {
    /// Provisions LocalStack if needed, starts it on a free loopback port and waits until it
    /// reports healthy.
    pub(crate) async fn start(executor: &ExecutorRegistration) -> Result<Self, EmulatorError> {
        let provisioned = tokio::task::spawn_blocking(provision::ensure_provisioned)
            .await
            .map_err(|e| EmulatorError::Provision {
                step: "provisioning task".into(),
                output: e.to_string(),
            })??;
        let root = tempfile::Builder::new()
            .prefix("vpclab-localstack-")
            .tempdir()
            .map_err(|e| EmulatorError::io("create a temp dir", Path::new("/tmp"), e))?;
        let port = free_port()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let log_path = root.path().join("localstack.log");
        let mut command = localstack_command(&provisioned, root.path(), port, executor)?;
        let child = command.spawn().map_err(|e| EmulatorError::Start {
            reason: format!("could not run {}: {e}", provisioned.python.display()),
            log: String::new(),
        })?;
        crate::cgroup::adopt(&emulator_cgroup(child.id()), child.id());
        crate::watchdog::watch_group(Pid::from_raw(child.id() as i32), Some(root.path()));
        let localstack = Self {
            child: Mutex::new(Some(child)),
            endpoint,
            log_path,
            _root: root,
        };
        localstack.wait_healthy().await?;
        Ok(localstack)
    }

    /// The exit status, once the process has exited (or was stopped).
    fn exited(&self) -> Option<String> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => None,
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Err(e)) => Some(e.to_string()),
            None => Some("stopped".to_owned()),
        }
    }

    async fn wait_healthy(&self) -> Result<(), EmulatorError> {
        let client = reqwest::Client::new();
        let url = format!("{}/_localstack/health", self.endpoint);
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                let log = self.log_tail(30);
                let reason = if log.contains("Address already in use") {
                    format!(
                        "its port is in use ({}); another process took it",
                        self.endpoint
                    )
                } else {
                    format!("LocalStack exited with {status} before it was healthy")
                };
                return Err(EmulatorError::Start { reason, log });
            }
            if let Ok(response) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > HEALTH_WAIT {
                return Err(EmulatorError::Start {
                    reason: format!("{url} did not answer 200 within {HEALTH_WAIT:?}"),
                    log: self.log_tail(30),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the whole process group (SIGTERM, then SIGKILL after [`STOP_WAIT`]) and every
    /// descendant that left it.
    fn stop_child(mut child: Child) {
        // LocalStack starts DynamoDB Local in a session of its own, out of reach of the group
        // signal: note every descendant now, and kill what is left of them at the end.
        let descendants = descendants_of(child.id());
        let cgroup = emulator_cgroup(child.id());
        let group = Pid::from_raw(child.id() as i32);
        if let Err(e) = killpg(group, Signal::SIGTERM) {
            tracing::warn!("vpclab: SIGTERM to LocalStack's process group: {e}");
        }
        let deadline = Instant::now() + STOP_WAIT;
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever is left of the group and of the descendants goes now.
        let _ = killpg(group, Signal::SIGKILL);
        for pid in descendants {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        let _ = child.wait();
        // And whatever escaped both (a server that left the session after the list was taken).
        crate::cgroup::release(&cgroup);
    }
}

/// The cgroup LocalStack (process `pid`) and everything it starts join: one for each
/// LocalStack, so the next one, started while this one stops, is never caught in its kill.
fn emulator_cgroup(pid: u32) -> String {
    format!("emulator-{pid}")
}

impl Emulator for HostLocalStack {
    fn backend(&self) -> Backend {
        Backend::LocalStackHost
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn is_running(&self) -> bool {
        self.exited().is_none()
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        provision::tail(&text, lines)
    }

    fn lost_executor(&self) -> bool {
        fs::read_to_string(&self.log_path)
            .is_ok_and(|t| t.contains("Falling back to \"docker\" runtime executor"))
    }

    fn stop(&self) {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(child) = child {
            Self::stop_child(child);
        }
    }
}

impl Drop for HostLocalStack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The LocalStack process for `root` (its `FILESYSTEM_ROOT`, `TMPDIR` and log) on loopback port
/// `port`, with its Lambda executor registered and the offline packages linked.
fn localstack_command(
    provisioned: &provision::Provisioned,
    root: &Path,
    port: u16,
    executor: &ExecutorRegistration,
) -> Result<Command, EmulatorError> {
    let filesystem_root = root.join("fs");
    let tmp = root.join("tmp");
    link_offline_packages(&filesystem_root, provisioned)?;
    fs::create_dir_all(&tmp).map_err(|e| EmulatorError::io("create", &tmp, e))?;
    let dynamodb_port = free_port()?;
    let log_path = root.join("localstack.log");
    let log = fs::File::create(&log_path).map_err(|e| EmulatorError::io("create", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| EmulatorError::io("open", &log_path, e))?;
    let mut command = Command::new(&provisioned.python);
    command
        .args(["-m", "localstack.runtime.main"])
        .current_dir(root)
        .envs(localstack_env(
            Ports {
                gateway: port,
                dynamodb: dynamodb_port,
            },
            executor,
        ))
        .env("FILESYSTEM_ROOT", &filesystem_root)
        .env("TMPDIR", &tmp)
        .env("JAVA_HOME", &provisioned.java_home)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    Ok(command)
}

/// Puts the offline packages where LocalStack's installers look, so it downloads nothing:
/// `java/21` (any Java >= 17 serves DynamoDB Local) and `dynamodb-local/2`.
fn link_offline_packages(
    filesystem_root: &Path,
    provisioned: &provision::Provisioned,
) -> Result<(), EmulatorError> {
    let libs = filesystem_root.join("var/lib/localstack/lib");
    let links = [
        (provisioned.java_home.as_path(), libs.join("java/21")),
        (
            provisioned.dynamodb_local.as_path(),
            libs.join("dynamodb-local/2"),
        ),
    ];
    for (target, link) in links {
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).map_err(|e| EmulatorError::io("create", parent, e))?;
        }
        symlink(target, &link).map_err(|e| EmulatorError::io("link", &link, e))?;
    }
    Ok(())
}

/// Every process below `root` in the process tree, from `/proc`.
fn descendants_of(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces, so read after the last ')'.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        index += 1;
    }
    found.remove(0);
    found
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, EmulatorError> {
    // A random port below the kernel's ephemeral range: a port the kernel hands out for `:0`
    // is handed out again (to another process's emulator, to an outgoing connection) once
    // released, and LocalStack binds its servers (DynamoDB Local) only when first used.
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|low| *low > 12_000)
        .unwrap_or(32_768);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        ^ (u64::from(std::process::id()) << 20);
    for _ in 0..200 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let port = 10_000 + u16::try_from((seed >> 33) % u64::from(low - 10_000)).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| EmulatorError::io("bind a loopback port", Path::new("127.0.0.1:0"), e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| EmulatorError::io("read the port of", Path::new("127.0.0.1:0"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_are_found_through_the_process_tree() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .expect("sh runs");
        std::thread::sleep(Duration::from_millis(200));
        let found = descendants_of(child.id());
        assert_eq!(found.len(), 2, "two sleeps under sh: {found:?}");
        for pid in found {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        let _ = child.wait();
    }
}
