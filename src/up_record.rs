//! What `vpclab up` leaves for `vpclab down` and `vpclab exec`: its process id and its world's
//! hosts, in the per-user runtime folder (`Settings::runtime_dir`), removed when `up` ends.
//! `down` signals the process, and `exec` trusts the hosts, only if the pid is still a
//! `vpclab up`, so a stale record never signals whatever process took the pid since.

use std::path::PathBuf;

use anyhow::Context as _;
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use vpclab_harness::{Settings, WorldHost};

/// The record of a running `vpclab up`; removed on drop.
#[derive(Debug)]
pub(crate) struct UpRecord {
    path: PathBuf,
}

fn record_path() -> PathBuf {
    Settings::get().runtime_dir.join("up.pid")
}

/// The pid recorded, if the record exists and names a live `vpclab up`.
fn live_up() -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(record_path())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_vpclab_up(pid).then_some(pid)
}

/// Whether process `pid` runs `vpclab up` (from its command line in `/proc`).
fn is_vpclab_up(pid: i32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let mut args = cmdline.split(|b| *b == 0).map(String::from_utf8_lossy);
    let program = args.next().unwrap_or_default();
    let program = program.rsplit('/').next().unwrap_or_default();
    program == "vpclab" && args.next().is_some_and(|a| a == "up")
}

impl UpRecord {
    /// Records this process; refuses when another `vpclab up` is recorded and still runs.
    pub(crate) fn create() -> anyhow::Result<Self> {
        if let Some(pid) = live_up().filter(|pid| *pid != std::process::id() as i32) {
            anyhow::bail!(
                "another `vpclab up` (pid {pid}) keeps a world running; stop it with `vpclab \
                 down` first"
            );
        }
        let path = record_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        std::fs::write(&path, std::process::id().to_string())
            .with_context(|| format!("write {}", path.display()))?;
        // A killed `up` cannot remove its records; a watchdog does.
        vpclab_harness::remove_records_when_gone(&path, &[&hosts_path()]);
        Ok(Self { path })
    }
}

impl Drop for UpRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Asks the recorded `vpclab up` to tear its world down (SIGINT, as Ctrl-C would); returns its
/// pid. A stale record is removed and reported.
pub(crate) fn stop_up() -> anyhow::Result<i32> {
    let path = record_path();
    let recorded = std::fs::read_to_string(&path)
        .with_context(|| format!("no world is up ({} is missing)", path.display()))?;
    let Some(pid) = live_up() else {
        let _ = std::fs::remove_file(&path);
        anyhow::bail!(
            "no world is up: {} named pid {}, which is no longer a `vpclab up` (record removed)",
            path.display(),
            recorded.trim()
        );
    };
    kill(Pid::from_raw(pid), Signal::SIGINT).with_context(|| format!("signal pid {pid}"))?;
    Ok(pid)
}

fn hosts_path() -> PathBuf {
    Settings::get().runtime_dir.join("up-hosts.json")
}

/// The hosts of the world `vpclab up` keeps, for `vpclab exec`; removed on drop.
#[derive(Debug)]
pub(crate) struct HostsRecord {
    path: PathBuf,
}

impl HostsRecord {
    /// A record that [`HostsRecord::write`] fills.
    pub(crate) fn new() -> Self {
        Self { path: hosts_path() }
    }

    /// Replaces the recorded hosts (written aside, then renamed: a reader never sees half).
    pub(crate) fn write(&self, hosts: &[WorldHost]) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(hosts).context("serialise the hosts")?;
        let aside = self.path.with_extension("json.new");
        std::fs::write(&aside, text).with_context(|| format!("write {}", aside.display()))?;
        std::fs::rename(&aside, &self.path)
            .with_context(|| format!("rename {} to {}", aside.display(), self.path.display()))
    }
}

impl Drop for HostsRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The hosts of the world the running `vpclab up` keeps; an error saying how to start one
/// when none runs.
pub(crate) fn running_hosts() -> anyhow::Result<Vec<WorldHost>> {
    let Some(pid) = live_up() else {
        anyhow::bail!(
            "no world is up: start one with `vpclab up <scenario>` (e.g. `cargo run -- up \
             getmyip --mode private`) in another terminal, then run `vpclab exec` again"
        );
    };
    let path = hosts_path();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "vpclab up (pid {pid}) has not recorded its hosts yet ({} is missing): wait until \
             it prints its network fabric",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("read {}", path.display()))
}
