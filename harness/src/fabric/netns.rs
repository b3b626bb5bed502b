//! Linux network namespaces through iproute2 and nftables: create them in batches, run rule
//! sets inside them, bind sockets inside them, and delete them with whatever runs there.

use std::{collections::HashSet, fs::File, path::PathBuf, process::Stdio};

use nix::sched::{CloneFlags, setns};
use tokio::{io::AsyncWriteExt, process::Command};

use super::FabricError;

/// Where iproute2 keeps per-namespace files (`resolv.conf`) that `ip netns exec` mounts over
/// `/etc`.
pub(crate) fn etc_dir(netns: &str) -> PathBuf {
    PathBuf::from("/etc/netns").join(netns)
}

/// Runs `ip [-n netns] -batch -` with `lines` on its standard input.
pub(crate) async fn ip_batch(netns: Option<&str>, lines: &[String]) -> Result<(), FabricError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut command = Command::new(super::ip_tool());
    if let Some(netns) = netns {
        command.args(["-n", netns]);
    }
    command.args(["-batch", "-"]);
    let what = match netns {
        Some(netns) => format!("ip -n {netns} -batch"),
        None => "ip -batch".to_owned(),
    };
    run_with_input(command, &what, &lines.join("\n")).await
}

/// Loads an nftables rule set inside `netns` (`ip netns exec <netns> nft -f -`).
pub(crate) async fn nft(netns: &str, ruleset: &str) -> Result<(), FabricError> {
    let mut command = Command::new(super::ip_tool());
    command.args(["netns", "exec", netns, "nft", "-f", "-"]);
    run_with_input(command, &format!("nft -f in {netns}"), ruleset).await
}

/// Sets kernel parameters (`key=value`) inside `netns`.
pub(crate) async fn sysctl(netns: &str, settings: &[String]) -> Result<(), FabricError> {
    let mut command = Command::new(super::ip_tool());
    command.args(["netns", "exec", netns, "sysctl", "-q", "-w"]);
    command.args(settings);
    run_with_input(command, &format!("sysctl in {netns}"), "").await
}

/// Whether the namespace exists.
pub(crate) fn exists(netns: &str) -> bool {
    PathBuf::from("/run/netns").join(netns).exists()
}

/// The interface names inside `netns` (`ip -j link show`).
pub(crate) async fn links(netns: &str) -> Result<HashSet<String>, FabricError> {
    let listed = show_json(netns, "link").await?;
    Ok(listed
        .iter()
        .filter_map(|link| link.get("ifname")?.as_str().map(str::to_owned))
        .collect())
}

/// The policy rules inside `netns` that match an incoming interface, as (priority, interface).
pub(crate) async fn rules(netns: &str) -> Result<HashSet<(u32, String)>, FabricError> {
    let listed = show_json(netns, "rule").await?;
    Ok(listed
        .iter()
        .filter_map(|rule| {
            let priority = u32::try_from(rule.get("priority")?.as_u64()?).ok()?;
            Some((priority, rule.get("iif")?.as_str()?.to_owned()))
        })
        .collect())
}

/// `ip -j -n <netns> <object> show`, parsed.
async fn show_json(netns: &str, object: &str) -> Result<Vec<serde_json::Value>, FabricError> {
    let what = format!("ip -j -n {netns} {object} show");
    let output = Command::new(super::ip_tool())
        .args(["-j", "-n", netns, object, "show"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| FabricError::Tool {
            tool: tool_of(&what),
            reason: e.to_string(),
        })?;
    let failed = |stderr: String| FabricError::Command {
        what: what.clone(),
        stderr,
        input: String::new(),
    };
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| failed(format!("its output: {e}")))
}

async fn run_with_input(mut command: Command, what: &str, input: &str) -> Result<(), FabricError> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| FabricError::Tool {
        tool: tool_of(what),
        reason: e.to_string(),
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .await
            .map_err(|e| FabricError::Command {
                what: what.to_owned(),
                stderr: format!("writing its input: {e}"),
                input: input.to_owned(),
            })?;
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| FabricError::Command {
            what: what.to_owned(),
            stderr: "did not finish within 30 s".into(),
            input: input.to_owned(),
        })?
        .map_err(|e| FabricError::Command {
            what: what.to_owned(),
            stderr: e.to_string(),
            input: input.to_owned(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(FabricError::Command {
            what: what.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            input: input.to_owned(),
        })
    }
}

fn tool_of(what: &str) -> &'static str {
    if what.starts_with("nft") {
        "nft (Debian package nftables)"
    } else if what.starts_with("sysctl") {
        "sysctl (Debian package procps)"
    } else {
        "ip (Debian package iproute2)"
    }
}

/// Runs `make` on a thread that has entered `netns`: sockets it creates belong to that
/// namespace for their whole life, whichever thread uses them later.
pub(crate) fn inside<T: Send + 'static>(
    netns: &str,
    make: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, FabricError> {
    let path = PathBuf::from("/run/netns").join(netns);
    let name = netns.to_owned();
    std::thread::spawn(move || -> Result<T, FabricError> {
        let file = File::open(&path).map_err(|e| FabricError::Enter {
            netns: name.clone(),
            reason: e.to_string(),
        })?;
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| FabricError::Enter {
            netns: name.clone(),
            reason: e.to_string(),
        })?;
        make().map_err(|e| FabricError::Enter {
            netns: name,
            reason: e.to_string(),
        })
    })
    .join()
    .unwrap_or_else(|_| {
        Err(FabricError::Enter {
            netns: netns.to_owned(),
            reason: "the thread panicked".into(),
        })
    })
}

/// A TCP listener bound inside `netns`, ready for tokio.
pub(crate) fn tcp_listener(
    netns: &str,
    address: std::net::SocketAddr,
) -> Result<tokio::net::TcpListener, FabricError> {
    let listener = inside(netns, move || {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    })?;
    tokio::net::TcpListener::from_std(listener).map_err(|e| FabricError::Enter {
        netns: netns.to_owned(),
        reason: format!("listener for {address}: {e}"),
    })
}

/// A UDP socket bound inside `netns`, ready for tokio.
pub(crate) fn udp_socket(
    netns: &str,
    address: std::net::SocketAddr,
) -> Result<tokio::net::UdpSocket, FabricError> {
    let socket = inside(netns, move || {
        let socket = std::net::UdpSocket::bind(address)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    })?;
    tokio::net::UdpSocket::from_std(socket).map_err(|e| FabricError::Enter {
        netns: netns.to_owned(),
        reason: format!("socket for {address}: {e}"),
    })
}

/// Namespaces whose name starts with `prefix`.
pub(crate) fn list(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Kills whatever still runs in each namespace, deletes the namespaces and their `/etc/netns`
/// folders. Synchronous: it runs from `Drop`, on panic too. One pass over `/proc` finds the
/// processes and one `ip -force -batch` deletes the namespaces, however many there are.
pub(crate) fn delete_all(names: &[String]) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    kill_inside(names);
    let mut problems = Vec::new();
    let batch: String = names
        .iter()
        .map(|n| format!("netns delete {n}\n"))
        .collect();
    let stderr = match run_blocking_batch(&batch) {
        Ok(stderr) => stderr,
        Err(e) => {
            problems.push(format!("ip -batch (netns delete): {e}"));
            String::new()
        }
    };
    for name in names {
        // Gone already (deleted by an earlier teardown or the watchdog) is fine too.
        if PathBuf::from("/run/netns").join(name).exists() {
            let why = stderr
                .lines()
                .find(|l| l.contains(name.as_str()))
                .unwrap_or(stderr.trim());
            problems.push(format!("ip netns delete {name}: {why}"));
        }
        let etc = etc_dir(name);
        if etc.exists()
            && let Err(e) = std::fs::remove_dir_all(&etc)
        {
            problems.push(format!("remove {}: {e}", etc.display()));
        }
    }
    problems
}

/// SIGKILLs every process whose network namespace is one of `names` (what `ip netns pids`
/// finds, for all of them in one pass).
fn kill_inside(names: &[String]) {
    use std::os::unix::fs::MetadataExt as _;
    let identity = |path: PathBuf| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let targets: HashSet<(u64, u64)> = names
        .iter()
        .filter_map(|n| identity(PathBuf::from("/run/netns").join(n)))
        .collect();
    if targets.is_empty() {
        return;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in processes.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid.unsigned_abs() == std::process::id() {
            continue;
        }
        if identity(entry.path().join("ns/net")).is_some_and(|id| targets.contains(&id)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// `ip -force -batch -` with `batch` on its input (synchronously); returns its error output.
fn run_blocking_batch(batch: &str) -> std::io::Result<String> {
    use std::io::Write as _;
    let mut child = std::process::Command::new(super::ip_tool())
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(batch.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    Ok(String::from_utf8_lossy(&output.stderr).into_owned())
}
