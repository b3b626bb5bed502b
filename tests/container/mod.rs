//! The container backend (`VPCLAB_EMULATOR=localstack-container`): it leaves no container
//! and no temporary folder behind, however its test process ends, and without an engine it says how to get one.
//!
//! Each case runs in a child process of its own (`vpclab-test-container-world`, or the `vpclab`
//! CLI), so it holds whatever the suite's own backend is, and a killed process can be
//! simulated. They need
//! a Docker API (`sudo bash ci/install-container-engine.sh`); without one they fail with the
//! harness's message, which says so.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// What the child prints once its world runs.
const READY: &str = "vpclab-child: world ready";
/// Longest wait for a child's world (the first one may build the image: minutes).
const CHILD_WAIT: Duration = Duration::from_secs(15 * 60);
/// Longest wait for the watchdog to remove a killed child's container.
const WATCHDOG_WAIT: Duration = Duration::from_secs(30);

/// A normal end, a panic and a killed test process: `podman ps -a` shows none of the child's
/// containers afterwards.
#[test]
fn container_backend_leaves_no_container() {
    for mode in ["normal", "panic"] {
        let tmp = tempfile::tempdir().expect("a TMPDIR for the child");
        let mut child = spawn_child(mode, tmp.path());
        let pid = child.id();
        let (lines, output) = read_lines(&mut child);
        let ready = wait_for_line(&lines, READY, CHILD_WAIT);
        let status = wait_for_exit(&mut child, CHILD_WAIT);
        let output = output.join().unwrap_or_default();
        assert!(ready, "the {mode} child never ran its world:\n{output}");
        assert_eq!(
            status.success(),
            mode == "normal",
            "the {mode} child's exit ({status}):\n{output}"
        );
        assert_eq!(
            containers_of(pid),
            Vec::<String>::new(),
            "after a {mode} end, no container of process {pid} remains:\n{output}"
        );
        assert_eq!(
            crate::support::entries(tmp.path()),
            Vec::<String>::new(),
            "nor a temporary folder"
        );
    }

    let tmp = tempfile::tempdir().expect("a TMPDIR for the child");
    let mut child = spawn_child("kill", tmp.path());
    let pid = child.id();
    let (lines, output) = read_lines(&mut child);
    let ready = wait_for_line(&lines, READY, CHILD_WAIT);
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the child never ran its world:\n{}",
            output.join().unwrap_or_default()
        );
    }
    assert_eq!(containers_of(pid).len(), 1, "the child's container runs");
    child.kill().expect("SIGKILL the child test process");
    let _ = child.wait();
    let deadline = Instant::now() + WATCHDOG_WAIT;
    let left = || !containers_of(pid).is_empty() || !crate::support::entries(tmp.path()).is_empty();
    while left() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        containers_of(pid),
        Vec::<String>::new(),
        "within {WATCHDOG_WAIT:?} of a SIGKILL, the watchdog removed the container"
    );
    assert_eq!(
        crate::support::entries(tmp.path()),
        Vec::<String>::new(),
        "and the watchdogs its temporary folders"
    );
}

/// With `DOCKER_HOST` on a socket nobody serves, `vpclab up` fails at once and the error names
/// the socket and the fix.
#[test]
fn container_backend_without_an_engine_says_how_to_get_one() {
    let socket = std::env::temp_dir().join(format!("vpclab-no-engine-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    // A socket file that nothing listens on.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind a socket"));
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(["up", "private-serverless"])
        .env("VPCLAB_EMULATOR", "localstack-container")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .stdin(Stdio::null())
        .output()
        .expect("vpclab runs");
    let _ = std::fs::remove_file(&socket);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "vpclab up fails:\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "it fails at once"
    );
    for named in [
        socket.display().to_string().as_str(),
        "ci/install-container-engine.sh",
        "DOCKER_HOST",
        "VPCLAB_EMULATOR=localstack-host",
    ] {
        assert!(
            stderr.contains(named),
            "the error names {named:?}:\n{stderr}"
        );
    }
}

/// The child test process (`tests/bin/container_world.rs`), ending as `mode` says, with its
/// temporary files in `tmp`.
fn spawn_child(mode: &str, tmp: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vpclab-test-container-world"))
        .arg(mode)
        .env("TMPDIR", tmp)
        .env("VPCLAB_EMULATOR", "localstack-container")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test binary runs")
}

/// The child's stdout lines as they come, and its whole output once it ends.
fn read_lines(child: &mut Child) -> (mpsc::Receiver<String>, std::thread::JoinHandle<String>) {
    let (sender, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let errors = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });
    let output = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = sender.send(line);
        }
        all.push_str("--- stderr ---\n");
        all.push_str(&errors.join().unwrap_or_default());
        all
    });
    (lines, output)
}

/// Whether `wanted` shows up within `wait` (false as soon as the output ends).
fn wait_for_line(lines: &mpsc::Receiver<String>, wanted: &str, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(wanted) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

fn wait_for_exit(child: &mut Child, wait: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not end within {wait:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The names of the containers (running or not) that process `pid` started, from
/// `podman ps -a` (or `docker ps -a`).
fn containers_of(pid: u32) -> Vec<String> {
    let cli = ["podman", "docker"]
        .iter()
        .flat_map(|tool| {
            ["/usr/bin", "/usr/local/bin", "/bin"]
                .iter()
                .map(move |dir| PathBuf::from(dir).join(tool))
        })
        .find(|path| path.exists())
        .expect("podman or docker, to list containers (sudo bash ci/install-container-engine.sh)");
    let output = Command::new(&cli)
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .arg("--filter")
        .arg(format!("label=vpclab.owner={pid}"))
        .output()
        .expect("list containers");
    assert!(
        output.status.success(),
        "{} ps -a: {}",
        cli.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}
