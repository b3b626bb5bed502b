//! Nothing outlives a world: `vpclab up` (the host backend, as a user runs it) is stopped with
//! SIGINT, then another with SIGKILL, and every process it started (LocalStack, DynamoDB
//! Local's JVM, functions), every namespace and every temporary folder of its world is gone
//! within seconds.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use nix::{sys::signal::Signal, unistd::Pid};

mod loopback;

/// What `up` prints once its world runs.
const UP: &str = "tears the world down";
/// Longest wait for `up`'s world (a cold LocalStack and a Lambda build).
const UP_WAIT: Duration = Duration::from_secs(600);
/// How soon after the signal nothing may be left: the watchdogs' own bound (1 s to see the
/// owner gone, up to 5 s for the group to go, 2 s to remove its folder), and 2 s to spare.
const GONE_WAIT: Duration = Duration::from_secs(10);

/// SIGINT (a clean teardown) and SIGKILL (the watchdogs): after each, no process descended
/// from `vpclab up` runs (DynamoDB Local's JVM included, which LocalStack starts in a session
/// of its own), no namespace of its world exists, its cgroup (where the kernel lists every
/// process it started) is gone, and so are its records in the runtime folder.
#[test]
fn up_leaves_nothing_after_sigint_or_sigkill() {
    for signal in [Signal::SIGINT, Signal::SIGKILL] {
        let runtime = tempfile::tempdir().expect("a runtime folder for this up");
        let tmp = tempfile::tempdir().expect("a TMPDIR for this up");
        let mut up = Running(start_up(runtime.path(), tmp.path()));
        let pid = up.0.id();
        wait_until_up(&mut up.0);
        let started = descendants_of(pid);
        assert!(
            started
                .iter()
                .any(|(_, cmdline)| cmdline.contains("DynamoDBLocal")),
            "up's world runs DynamoDB Local: {started:?}"
        );
        let prefix = format!("vl{:06}", pid % 1_000_000);
        assert!(!namespaces(&prefix).is_empty(), "up's world has namespaces");
        let cgroup = cgroup_of(pid);
        let members = cgroup_processes(&cgroup);
        for server in ["localstack.runtime.main", "DynamoDBLocal"] {
            let (server_pid, _) = started
                .iter()
                .find(|(_, cmdline)| cmdline.contains(server))
                .unwrap_or_else(|| panic!("up runs {server}: {started:?}"));
            assert!(
                members.contains(&server_pid.to_string()),
                "the kernel lists {server} (pid {server_pid}) in {}: {members:?}",
                cgroup.display()
            );
        }
        let record = runtime.path().join("vpclab/up.pid");
        assert!(
            record.exists(),
            "up recorded its pid in {}",
            record.display()
        );
        nix::sys::signal::kill(Pid::from_raw(pid as i32), signal).expect("signal vpclab up");
        let _ = up.0.wait();
        let deadline = Instant::now() + GONE_WAIT;
        let alive = || {
            started
                .iter()
                .filter(|(p, _)| std::path::Path::new(&format!("/proc/{p}")).exists())
                .cloned()
                .collect::<Vec<_>>()
        };
        let left = || {
            !alive().is_empty()
                || !namespaces(&prefix).is_empty()
                || cgroup.exists()
                || record.exists()
                || !crate::support::entries(tmp.path()).is_empty()
        };
        while left() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(
            alive(),
            Vec::new(),
            "{GONE_WAIT:?} after {signal}, up's processes are gone"
        );
        assert_eq!(
            namespaces(&prefix),
            Vec::<String>::new(),
            "and its namespaces"
        );
        assert!(!cgroup.exists(), "and its cgroup {}", cgroup.display());
        assert!(!record.exists(), "and its record {}", record.display());
        assert_eq!(
            crate::support::entries(tmp.path()),
            Vec::<String>::new(),
            "and its temporary folders (LocalStack's, the fabric's, the functions')"
        );
    }
}

/// The cgroup `vpclab up` (pid `pid`) puts what it starts in, under the cgroup2 mount.
fn cgroup_of(pid: u32) -> std::path::PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("/proc/self/mounts");
    let mount = mounts
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(2) == Some(&"cgroup2")).then(|| fields[1].to_owned())
        })
        .expect("a cgroup2 hierarchy (this test needs one)");
    std::path::Path::new(&mount).join(format!("vpclab-{pid}"))
}

/// Every process in `cgroup` and its children, as the kernel lists them.
fn cgroup_processes(cgroup: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(cgroup).into_iter().flatten().flatten() {
        let procs = std::fs::read_to_string(dir.path().join("cgroup.procs")).unwrap_or_default();
        found.extend(procs.lines().map(str::to_owned));
    }
    found
}

/// A `vpclab up` the test has not stopped yet: killed if the test fails before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_up(runtime: &std::path::Path, tmp: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(["up", "private-serverless"])
        .env("VPCLAB_EMULATOR", "localstack-host")
        .env("XDG_RUNTIME_DIR", runtime)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vpclab up runs")
}

/// Reads `up`'s output until its world runs (then keeps draining it on a thread).
fn wait_until_up(up: &mut Child) {
    let stdout = up.stdout.take().expect("piped stdout");
    let (sender, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(UP) {
                let _ = sender.send(());
            }
        }
    });
    if ready.recv_timeout(UP_WAIT).is_err() {
        let _ = up.kill();
        panic!("vpclab up did not bring its world up within {UP_WAIT:?}");
    }
}

/// Every process descended from `pid`, with its command line.
fn descendants_of(pid: u32) -> Vec<(u32, String)> {
    let processes: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let parent = stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()?;
            let cmdline = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
            Some((p, parent, cmdline.replace('\0', " ")))
        })
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (p, pp, cmdline) in &processes {
            if *pp == parent {
                found.push((*p, cmdline.clone()));
                frontier.push(*p);
            }
        }
    }
    found
}

/// The network namespaces whose names start with `prefix` (`ip netns list`).
fn namespaces(prefix: &str) -> Vec<String> {
    let listed = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}
