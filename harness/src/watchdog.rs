//! Watchdogs for what vpclab starts (LocalStack's and the Lambda bootstraps' process groups,
//! the fabric's namespaces, the LocalStack container): if this process dies without cleaning
//! up (SIGINT, SIGKILL, an aborted test run), they remove it within a second or two. A process
//! group's watchdog lives in the group it watches, so a normal stop of the group stops it too.
//! A watchdog waits without polling: its stdin is a pipe whose only write end this process
//! holds, and that pipe ends the moment this process is gone. With `VPCLAB_KEEP=1` no watchdog
//! starts: what is kept outlives the process.

use std::{
    ffi::OsStr,
    io::{PipeReader, PipeWriter},
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Stdio},
    sync::OnceLock,
};

use nix::unistd::Pid;

/// A pipe whose write end only this process holds (both ends close on exec, so no child
/// inherits it) and never writes to: a watchdog reading the other end sees end-of-file once
/// this process is gone, however it ends. `None` if no pipe could be made.
static OWNER_PIPE: OnceLock<Option<(PipeReader, PipeWriter)>> = OnceLock::new();

/// A watchdog's stdin: the owner pipe's read end, if there is one.
fn owner_pipe() -> Option<Stdio> {
    let (reader, _writer) = OWNER_PIPE.get_or_init(|| std::io::pipe().ok()).as_ref()?;
    reader.try_clone().ok().map(Stdio::from)
}

/// The shell lines that return once this process is gone: read the owner pipe to its end
/// (nothing is ever written), then make sure with `kill -0`, polling each second; the polling
/// is all there is if the watchdog got no pipe.
fn until_owner_gone() -> String {
    format!(
        "while read -r _; do :; done; while kill -0 {} 2>/dev/null; do sleep 1; done;",
        std::process::id()
    )
}

/// Starts a watchdog that kills process group `group` once this process is gone, and, if
/// `folder` is given (the group's temporary files), one that removes it once the group is
/// gone: removed while its processes still write, a folder can outlive them.
pub(crate) fn watch_group(group: Pid, folder: Option<&Path>) {
    if crate::settings::Settings::get().keep {
        return;
    }
    let script = format!("{} kill -KILL -{group}", until_owner_gone());
    let watched = format!("process group {group}");
    spawn("vpclab-watchdog", &script, &[], group.as_raw(), &watched);
    let Some(folder) = folder else { return };
    // Its own group (the kill above must not reach it). Once this process is gone, nothing
    // is left to do if the folder went with a normal stop; otherwise it waits up to 5 s for
    // the group to go, then removes the folder, retrying for 2 s while the last writes land.
    let script = format!(
        "{} [ -e \"$1\" ] || exit 0; \
         for i in $(seq 1 50); do kill -0 -{group} 2>/dev/null || break; sleep 0.1; done; \
         for i in $(seq 1 20); do rm -rf -- \"$1\" 2>/dev/null; [ -e \"$1\" ] || break; \
         sleep 0.1; done",
        until_owner_gone()
    );
    spawn(
        "vpclab-folder-watchdog",
        &script,
        &[folder.as_os_str()],
        0,
        &format!("folder {}", folder.display()),
    );
}

/// Runs a watchdog `script` (`$0` is `name`, then `args`) in process group `group` (0: a group
/// of its own), reaped on a thread of its own so no zombie is left once it ends.
fn spawn(name: &str, script: &str, args: &[&OsStr], group: i32, watched: &str) {
    let spawned = Command::new("sh")
        .args(["-c", script, name])
        .args(args)
        .stdin(owner_pipe().unwrap_or_else(Stdio::null))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(group)
        .spawn();
    match spawned {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!("vpclab: no watchdog for {watched}: {e}"),
    }
}

/// Deletes the network namespaces named `<prefix>*` (and whatever runs in them), and the
/// fabric's `folder` (its CA), when this process dies without tearing its fabric down.
pub(crate) fn watch_namespaces(prefix: &str, folder: &Path) {
    if crate::settings::Settings::get().keep {
        return;
    }
    let script = format!(
        "{wait} \
         for ns in $(ls /run/netns 2>/dev/null | grep \"^$1-\"); do \
           for pid in $(ip netns pids \"$ns\" 2>/dev/null); do kill -KILL \"$pid\"; done; \
           ip netns delete \"$ns\"; rm -rf \"/etc/netns/$ns\"; \
         done; rm -rf -- \"$2\"",
        wait = until_owner_gone(),
    );
    spawn(
        "vpclab-fabric-watchdog",
        &script,
        &[OsStr::new(prefix), folder.as_os_str()],
        0,
        &format!("namespaces {prefix}*"),
    );
}

/// Kills every process of cgroup `dir` (and its children) once this process is gone, then
/// removes the cgroups, children first, as soon as their processes are reaped (within 4 s).
pub(crate) fn watch_cgroup(dir: &Path) {
    if crate::settings::Settings::get().keep {
        return;
    }
    let script = format!(
        "{wait} \
         echo 1 > \"$1/cgroup.kill\"; \
         for i in $(seq 1 40); do \
           find \"$1\" -depth -type d -exec rmdir {{}} \\; 2>/dev/null; \
           [ -d \"$1\" ] || break; sleep 0.1; \
         done",
        wait = until_owner_gone(),
    );
    spawn(
        "vpclab-cgroup-watchdog",
        &script,
        &[dir.as_os_str()],
        0,
        &format!("cgroup {}", dir.display()),
    );
}

/// Once this process is gone, removes `pid_file` and `others` if `pid_file` still names this
/// process (a record a killed `vpclab up` could not remove; a later `up`'s record stays).
pub fn remove_records_when_gone(pid_file: &Path, others: &[&Path]) {
    if crate::settings::Settings::get().keep {
        return;
    }
    let script = format!(
        "{wait} \
         [ \"$(cat \"$1\" 2>/dev/null)\" = {owner} ] && rm -f -- \"$@\"",
        wait = until_owner_gone(),
        owner = std::process::id(),
    );
    let mut args = vec![pid_file.as_os_str()];
    args.extend(others.iter().map(|p| p.as_os_str()));
    spawn(
        "vpclab-record-watchdog",
        &script,
        &args,
        0,
        &format!("record {}", pid_file.display()),
    );
}

/// Removes container `name` through the engine's API once this process is gone: `curl` with
/// `options` (e.g. `--unix-socket <path>`) on `base` (`http://engine`). A container removed
/// already answers 404, and nothing else is touched: its name is this process's own.
pub(crate) fn watch_container(options: &[String], base: &str, name: &str) {
    let script = format!(
        "name=$1; base=$2; shift 2; {} \
         curl -s -o /dev/null -X DELETE \"$@\" \"$base/containers/$name?force=true\"",
        until_owner_gone()
    );
    let mut args = vec![OsStr::new(name), OsStr::new(base)];
    args.extend(options.iter().map(OsStr::new));
    spawn(
        "vpclab-container-watchdog",
        &script,
        &args,
        0,
        &format!("container {name}"),
    );
}
