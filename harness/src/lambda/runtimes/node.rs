//! `nodejs*.x`: the handler runs under `aws-lambda-ric` (npm), the client AWS's own Node.js
//! base images use, on the installed `node` of that major version.
//!
//! A runtime is provisioned once per interpreter into `<runtimes>/nodejs<major>-<key>/`, with
//! the client in its `node_modules` (its native addon is compiled then: cmake, autoconf,
//! automake, libtool, g++ and make, which `ci/install-system-deps.sh` installs).

use std::{ffi::OsString, path::PathBuf, process::Command};

use super::{
    Launch,
    interpreters::{self, Interpreter},
};
use crate::lambda::LambdaError;

/// The runtime interface client, pinned (its 4.x needs Node.js 22).
const CLIENT: &str = "aws-lambda-ric@3.3.0";

/// How to run `handler` (`file.function`, folders as `src/app.handler`) on `nodejs<major>.x`.
pub(super) fn launch(function: &str, major: u32, handler: &str) -> Result<Launch, LambdaError> {
    let runtime = format!("nodejs{major}.x");
    let (interpreter, substitution) = interpreter(function, major)?;
    let failed = |reason: String| LambdaError::Runtime {
        function: function.to_owned(),
        runtime: runtime.clone(),
        reason,
    };
    let key =
        super::provisioning::key([interpreter.path.to_string_lossy().as_ref(), CLIENT].into_iter());
    let dir = super::runtimes_dir().join(format!("nodejs{}-{key:016x}", interpreter.version.0));
    let npm = interpreter.path.with_file_name("npm");
    super::provisioning::once(&dir, |work| {
        let mut install = Command::new(if npm.is_file() {
            npm.as_os_str()
        } else {
            "npm".as_ref()
        });
        install
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(work)
            .arg(CLIENT)
            .env("PATH", path_with(&interpreter));
        super::provisioning::run(&mut install, &format!("npm install {CLIENT}"))
    })
    .map_err(failed)?;
    let modules = dir.join("node_modules");
    Ok(Launch {
        program: interpreter.path.clone(),
        args: vec![
            modules
                .join("aws-lambda-ric/bin/index.mjs")
                .into_os_string(),
            OsString::from(handler),
        ],
        env: vec![("NODE_PATH".to_owned(), modules.into_os_string())],
        substitution,
    })
}

/// The `node` that runs `nodejs<major>.x`, and the line naming a substitution.
pub(super) fn interpreter(
    function: &str,
    major: u32,
) -> Result<(Interpreter, Option<String>), LambdaError> {
    interpreters::choose(
        function,
        &format!("nodejs{major}.x"),
        (major, 0),
        &installed(),
    )
}

/// `PATH` with the interpreter's folder first (npm's build scripts run `node`).
fn path_with(interpreter: &Interpreter) -> OsString {
    let folder = interpreter
        .path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let settings = crate::settings::Settings::get();
    std::env::join_paths(std::iter::once(folder).chain(std::env::split_paths(&settings.path)))
        .unwrap_or_else(|_| settings.path.clone())
}

/// Every Node.js found: `VPCLAB_NODE_<major>`, then `node` on `PATH` and in `/usr/bin`.
fn installed() -> Vec<Interpreter> {
    let settings = crate::settings::Settings::get();
    let mut found: Vec<Interpreter> = settings
        .node_versions
        .iter()
        .map(|(major, path)| Interpreter {
            path: path.clone(),
            version: (*major, 0),
        })
        .collect();
    let candidates = settings
        .which("node")
        .into_iter()
        .chain([PathBuf::from("/usr/bin/node")]);
    for path in candidates {
        let version = interpreters::version_of(&path, &["--version"], interpreters::parse_version);
        if let Some((major, _)) = version
            && !found.iter().any(|i| i.version.0 == major)
        {
            found.push(Interpreter {
                path,
                version: (major, 0),
            });
        }
    }
    found
}
