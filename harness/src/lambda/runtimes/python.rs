//! `python3.x`: the handler runs under `awslambdaric` (the client AWS's own base images use),
//! with `boto3` and `botocore` importable, on the installed interpreter of that version.
//!
//! A runtime is provisioned once per interpreter into `<runtimes>/python3.<minor>-<key>/`:
//! `site/` holds the client and the SDK (`PYTHONPATH`, as `/var/runtime` in AWS), and
//! `python/` a linked tree of the interpreter when its own folder is one a function's user
//! cannot cross (pyenv's, under a home folder).

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

use super::{
    Launch,
    interpreters::{self, Interpreter},
};
use crate::lambda::{LambdaError, sandbox};

/// The runtime interface client and the SDK, pinned.
const PACKAGES: [&str; 2] = ["awslambdaric==4.2.2", "boto3==1.42.72"];

/// How to run `handler` (`module.function`, folders as `a/b.handler`) on `python3.<minor>`.
pub(super) fn launch(function: &str, minor: u32, handler: &str) -> Result<Launch, LambdaError> {
    let runtime = format!("python3.{minor}");
    let (interpreter, substitution) = interpreter(function, minor)?;
    let provisioned = provision(function, &runtime, &interpreter)?;
    let mut env = vec![(
        "PYTHONPATH".to_owned(),
        OsString::from(provisioned.site.as_os_str()),
    )];
    if let Some(lib) = provisioned.lib {
        env.push(("LD_LIBRARY_PATH".to_owned(), lib.into_os_string()));
    }
    Ok(Launch {
        program: provisioned.python,
        args: ["-m", "awslambdaric", handler]
            .iter()
            .map(OsString::from)
            .collect(),
        env,
        substitution,
    })
}

/// The interpreter that runs `python3.<minor>`, and the line naming a substitution.
pub(crate) fn interpreter(
    function: &str,
    minor: u32,
) -> Result<(Interpreter, Option<String>), LambdaError> {
    interpreters::choose(
        function,
        &format!("python3.{minor}"),
        (3, minor),
        &installed(),
    )
}

/// Every Python 3 interpreter found: `VPCLAB_PYTHON_3_<minor>`, pyenv's versions, then
/// `python3.<minor>` on `PATH` and in `/usr/bin`.
fn installed() -> Vec<Interpreter> {
    let settings = crate::settings::Settings::get();
    let mut found: Vec<Interpreter> = settings
        .python_versions
        .iter()
        .map(|(minor, path)| Interpreter {
            path: path.clone(),
            version: (3, *minor),
        })
        .collect();
    let mut add = |path: PathBuf, minor: u32| {
        if path.is_file() && !found.iter().any(|i| i.version == (3, minor)) {
            found.push(Interpreter {
                path,
                version: (3, minor),
            });
        }
    };
    if let Some(root) = &settings.pyenv_root {
        let mut versions: Vec<(u32, u32, PathBuf)> = std::fs::read_dir(root.join("versions"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let mut parts = name.split('.');
                let (major, minor) = (parts.next()?, parts.next()?.parse().ok()?);
                let patch = parts.next()?.parse().ok()?;
                (major == "3").then(|| (minor, patch, entry.path()))
            })
            .collect();
        versions.sort_by_key(|(minor, patch, _)| std::cmp::Reverse((*minor, *patch)));
        for (minor, _, dir) in versions {
            add(dir.join(format!("bin/python3.{minor}")), minor);
        }
    }
    for minor in 8..=14 {
        let name = format!("python3.{minor}");
        if let Some(path) = settings.which(&name) {
            add(path, minor);
        }
        add(PathBuf::from("/usr/bin").join(name), minor);
    }
    found
}

/// A provisioned runtime.
struct Provisioned {
    /// The interpreter to run.
    python: PathBuf,
    /// `LD_LIBRARY_PATH` for a linked interpreter tree.
    lib: Option<PathBuf>,
    /// The client and the SDK.
    site: PathBuf,
}

/// Provisions the runtime of `interpreter` (once; later calls find it done).
fn provision(
    function: &str,
    runtime: &str,
    interpreter: &Interpreter,
) -> Result<Provisioned, LambdaError> {
    let failed = |reason: String| LambdaError::Runtime {
        function: function.to_owned(),
        runtime: runtime.to_owned(),
        reason,
    };
    let prefix = base_prefix(&interpreter.path).ok_or_else(|| {
        failed(format!(
            "{} does not run as a Python interpreter",
            interpreter.path.display()
        ))
    })?;
    let key = super::provisioning::key(
        [prefix.to_string_lossy().as_ref()]
            .into_iter()
            .chain(PACKAGES),
    );
    let dir = super::runtimes_dir().join(format!("python3.{}-{key:016x}", interpreter.version.1));
    let linked = !crossable(&prefix);
    let provisioned = Provisioned {
        python: match linked {
            true => dir.join("python").join(
                interpreter
                    .path
                    .canonicalize()
                    .ok()
                    .and_then(|p| p.strip_prefix(&prefix).ok().map(Path::to_path_buf))
                    .unwrap_or_else(|| {
                        PathBuf::from(format!("bin/python3.{}", interpreter.version.1))
                    }),
            ),
            false => interpreter.path.clone(),
        },
        lib: linked.then(|| dir.join("python/lib")),
        site: dir.join("site"),
    };
    super::provisioning::once(&dir, |work| {
        if linked {
            sandbox::link_tree(&prefix, &work.join("python"))
                .map_err(|e| format!("link {} into the runtime: {e}", prefix.display()))?;
        }
        let mut pip = pip_install(interpreter, &work.join("site"));
        pip.args(PACKAGES);
        super::provisioning::run(&mut pip, "pip install of awslambdaric and boto3")
    })
    .map_err(failed)?;
    Ok(provisioned)
}

/// `pip install --target <to>` with `interpreter`, quiet; the packages are added by the caller.
fn pip_install(interpreter: &Interpreter, to: &Path) -> Command {
    let mut pip = Command::new(&interpreter.path);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .args(["--no-warn-script-location", "--target"])
    .arg(to);
    pip
}

/// The interpreter's `sys.base_prefix` (its installation folder).
fn base_prefix(python: &Path) -> Option<PathBuf> {
    let output = Command::new(python)
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.is_empty()).then(|| PathBuf::from(text))
}

/// Whether every folder down to `path` can be crossed by any user.
fn crossable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors()
        .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// `pip install -r requirements.txt --target <to>` with the interpreter of `python3.<minor>`,
/// as `sam build` installs a function's dependencies into its artifact; pip's own error when
/// it fails.
pub(crate) fn install_requirements(
    function: &str,
    minor: u32,
    requirements: &Path,
    to: &Path,
) -> Result<Option<String>, LambdaError> {
    let (interpreter, substitution) = interpreter(function, minor)?;
    let mut pip = pip_install(&interpreter, to);
    pip.arg("-r").arg(requirements);
    super::provisioning::run(
        &mut pip,
        &format!("pip install -r {}", requirements.display()),
    )
    .map_err(|reason| LambdaError::Runtime {
        function: function.to_owned(),
        runtime: format!("python3.{minor}"),
        reason: format!(
            "{reason}\nfix the requirements file (each line must name a package pip can \
                 install)"
        ),
    })?;
    Ok(substitution)
}
