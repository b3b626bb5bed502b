//! A cgroup (v2) for everything this process starts, with one child a world and one for the
//! emulator: LocalStack and the servers it starts, every function, every database server.
//! Killing a cgroup (`cgroup.kill`) reaches every process in it, whichever session or process
//! group it moved to. A world's cgroup is killed and removed when the world ends; a watchdog
//! kills and removes the process's whole cgroup once this process dies (Ctrl-C, SIGKILL).
//!
//! Without a writable cgroup v2 hierarchy (a container without one, say) nothing is adopted and
//! the process-group and namespace watchdogs remain the only net.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// How long a killed cgroup may take to empty (its processes reaped) and be removed.
const EMPTY_WAIT: Duration = Duration::from_secs(2);

/// This process's cgroup (`<cgroup2 mount>/vpclab-<pid>`), made with its watchdog on first
/// use; `None` where cgroup v2 cannot be written.
fn process_cgroup() -> Option<&'static Path> {
    static CGROUP: OnceLock<Option<PathBuf>> = OnceLock::new();
    CGROUP
        .get_or_init(|| {
            let dir = cgroup2_mount()?.join(format!("vpclab-{}", std::process::id()));
            match fs::create_dir_all(&dir) {
                Ok(()) => {
                    crate::watchdog::watch_cgroup(&dir);
                    Some(dir)
                }
                Err(e) => {
                    tracing::debug!("vpclab: no cgroup at {}: {e}", dir.display());
                    None
                }
            }
        })
        .as_deref()
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified`
/// beside v1 controllers).
fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, at, kind) = (fields.next()?, fields.next()?, fields.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(at))
    })
}

/// The cgroup of `owner` (a world's fabric prefix, or `emulator`) inside this process's.
fn owner_cgroup(owner: &str) -> Option<PathBuf> {
    let dir = process_cgroup()?.join(owner);
    fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// Moves process `pid` (just started, before it starts others) into `owner`'s cgroup.
pub(crate) fn adopt(owner: &str, pid: u32) {
    let Some(dir) = owner_cgroup(owner) else {
        return;
    };
    if let Err(e) = fs::write(dir.join("cgroup.procs"), pid.to_string()) {
        tracing::debug!("vpclab: cgroup {} cannot take {pid}: {e}", dir.display());
    }
}

/// Kills every process of `owner`'s cgroup and removes it (bounded by [`EMPTY_WAIT`]).
pub(crate) fn release(owner: &str) {
    let Some(dir) = process_cgroup().map(|p| p.join(owner)) else {
        return;
    };
    if !dir.is_dir() {
        return;
    }
    let _ = fs::write(dir.join("cgroup.kill"), "1");
    // A killed process leaves the cgroup when it is reaped (its parent, or init for an
    // orphan, may take a moment): until then removal is refused as busy.
    let deadline = Instant::now() + EMPTY_WAIT;
    loop {
        match fs::remove_dir(&dir) {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => {
                let left = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                tracing::warn!(
                    "vpclab: cgroup {} not removed after {EMPTY_WAIT:?}: {e}; processes: {}",
                    dir.display(),
                    left.split_whitespace().collect::<Vec<_>>().join(" ")
                );
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The processes left in `owner`'s cgroup.
#[cfg(test)]
fn processes_of(owner: &str) -> Vec<u32> {
    let Some(dir) = process_cgroup().map(|p| p.join(owner)) else {
        return Vec::new();
    };
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_cgroup_kills_what_left_its_process_group() {
        if cgroup2_mount().is_none() {
            return;
        }
        // Adopted at once, then it starts a process that leaves its session and group, as a
        // daemon does, and exits: the daemon is out of reach of a process-group kill.
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 0.3; setsid sleep 60 >/dev/null 2>&1 & echo $!"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        let owner = "unit-test-owner";
        adopt(owner, shell.id());
        let mut out = String::new();
        std::io::Read::read_to_string(shell.stdout.as_mut().unwrap(), &mut out).unwrap();
        let _ = shell.wait();
        let daemon: u32 = out.trim().parse().expect("the daemon's pid");
        assert_eq!(
            processes_of(owner),
            vec![daemon],
            "the daemon stayed in the cgroup"
        );
        release(owner);
        // Gone, or dead and waiting for its new parent (init) to reap it.
        let state = fs::read_to_string(format!("/proc/{daemon}/stat")).unwrap_or_default();
        let running = state
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'));
        assert!(!running, "the daemon is gone: {state}");
        assert!(!process_cgroup().unwrap().join(owner).exists());
    }
}
