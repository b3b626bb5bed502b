//! vpclab's settings, read from the environment in one place (README's "Environment variables"
//! table lists the same variables).

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// Every setting vpclab reads from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// `VPCLAB_EMULATOR`: the emulator backend's name (`localstack-host`,
    /// `localstack-container`); `None` (unset or blank) chooses automatically.
    pub emulator: Option<String>,
    /// Where LocalStack is provisioned: `VPCLAB_CACHE_DIR`, else `$XDG_CACHE_HOME/vpclab`, else
    /// `~/.cache/vpclab`.
    pub cache_dir: PathBuf,
    /// Per-user runtime files (what `vpclab up` leaves for `vpclab down`):
    /// `$XDG_RUNTIME_DIR/vpclab`, else `<cache_dir>/run`.
    pub runtime_dir: PathBuf,
    /// `VPCLAB_PYTHON`: the Python (>= 3.12) to build LocalStack's environment with.
    pub python: Option<PathBuf>,
    /// pyenv's root (`PYENV_ROOT`, else `~/.pyenv`), searched for a Python >= 3.12.
    pub pyenv_root: Option<PathBuf>,
    /// `JAVA_HOME`, for DynamoDB Local (else the `java` on `PATH`).
    pub java_home: Option<PathBuf>,
    /// `VPCLAB_KEEP=1`: keep worlds and the emulator after the test, for debugging.
    pub keep: bool,
    /// `LOCALSTACK_AUTH_TOKEN`, passed to a LocalStack container.
    pub localstack_auth_token: Option<String>,
    /// `VPCLAB_LOCALSTACK_IMAGE=name:tag`: the container backend's image.
    pub localstack_image: Option<String>,
    /// `DOCKER_HOST`: the Docker API the container backend talks to.
    pub docker_host: Option<String>,
    /// `VPCLAB_SCENARIOS_DIR`: where the CLI finds scenarios.
    pub scenarios_dir: Option<PathBuf>,
    /// `VPCLAB_POSTGRES_BIN`: the folder of PostgreSQL's server programs (`initdb`,
    /// `postgres`) that RDS instances run; default: the newest `/usr/lib/postgresql/*/bin`.
    pub postgres_bin: Option<PathBuf>,
    /// `VPCLAB_RUNTIMES_DIR`: where managed runtimes (Python, Node.js) are provisioned; it
    /// must be crossable by every user (default `/var/cache/vpclab/runtimes`).
    pub runtimes_dir: PathBuf,
    /// `VPCLAB_EXACT_RUNTIME=1`: a function whose interpreter version is not installed fails
    /// instead of running on the nearest one.
    pub exact_runtime: bool,
    /// `VPCLAB_PYTHON_3_<minor>`: the interpreter of that Python version.
    pub python_versions: std::collections::BTreeMap<u32, PathBuf>,
    /// `VPCLAB_NODE_<major>`: the `node` of that Node.js version.
    pub node_versions: std::collections::BTreeMap<u32, PathBuf>,
    /// `CARGO`: the cargo that builds Lambda crates (set by cargo itself), else `cargo`.
    pub cargo: PathBuf,
    /// `PATH`, where tools are looked up.
    pub path: OsString,
    /// What the container image's build passes to its downloads from this machine's
    /// environment: proxies (`HTTPS_PROXY`, ...) and pip's index (`PIP_INDEX_URL`, ...).
    pub download_env: Vec<(String, OsString)>,
}

/// The variables [`Settings::download_env`] takes from the environment.
const DOWNLOAD_VARS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_DEFAULT_TIMEOUT",
];

impl Settings {
    /// The settings of this process, read from the environment once.
    pub fn get() -> &'static Settings {
        static SETTINGS: OnceLock<Settings> = OnceLock::new();
        SETTINGS.get_or_init(|| Self::from_lookup(|name| std::env::var_os(name)))
    }

    /// Settings from a lookup of environment variables (tests pass a map).
    pub fn from_lookup(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let text = |name: &str| {
            var(name)
                .and_then(|v| v.into_string().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let path = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = path("HOME");
        let cache_dir = path("VPCLAB_CACHE_DIR")
            .or_else(|| path("XDG_CACHE_HOME").map(|d| d.join("vpclab")))
            .unwrap_or_else(|| {
                home.clone()
                    .unwrap_or_else(|| PathBuf::from("/tmp"))
                    .join(".cache/vpclab")
            });
        let runtime_dir = path("XDG_RUNTIME_DIR")
            .map(|d| d.join("vpclab"))
            .unwrap_or_else(|| cache_dir.join("run"));
        Self {
            emulator: text("VPCLAB_EMULATOR"),
            runtime_dir,
            cache_dir,
            python: path("VPCLAB_PYTHON"),
            pyenv_root: path("PYENV_ROOT").or_else(|| home.map(|h| h.join(".pyenv"))),
            java_home: path("JAVA_HOME"),
            keep: text("VPCLAB_KEEP").is_some_and(|v| v == "1"),
            localstack_auth_token: text("LOCALSTACK_AUTH_TOKEN"),
            localstack_image: text("VPCLAB_LOCALSTACK_IMAGE"),
            docker_host: text("DOCKER_HOST"),
            scenarios_dir: path("VPCLAB_SCENARIOS_DIR"),
            postgres_bin: path("VPCLAB_POSTGRES_BIN"),
            runtimes_dir: path("VPCLAB_RUNTIMES_DIR")
                .unwrap_or_else(|| PathBuf::from("/var/cache/vpclab/runtimes")),
            exact_runtime: text("VPCLAB_EXACT_RUNTIME").is_some_and(|v| v == "1"),
            python_versions: (8..=14)
                .filter_map(|minor| Some((minor, path(&format!("VPCLAB_PYTHON_3_{minor}"))?)))
                .collect(),
            node_versions: (18..=30)
                .filter_map(|major| Some((major, path(&format!("VPCLAB_NODE_{major}"))?)))
                .collect(),
            cargo: path("CARGO").unwrap_or_else(|| PathBuf::from("cargo")),
            path: var("PATH").unwrap_or_default(),
            download_env: DOWNLOAD_VARS
                .iter()
                .filter_map(|name| Some(((*name).to_owned(), var(name)?)))
                .collect(),
        }
    }

    /// The first file named `program` in a folder of `PATH`.
    pub fn which(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    }

    /// The cache folder of one kind of thing (`localstack`, ...).
    pub fn cache(&self, kind: impl AsRef<Path>) -> PathBuf {
        self.cache_dir.join(kind)
    }

    /// [`Self::cargo`] for a build started by this process (a Lambda crate, the suite): without
    /// RUSTC_BOOTSTRAP (a test runner may set it for its own flags, libtest's per-test times)
    /// and without what cargo set for the running crate. Build scripts (ring's) ask to rerun
    /// when CARGO_MANIFEST_DIR or CARGO_PKG_NAME changes: a cargo started from a test or from
    /// `cargo run` would rebuild them, and everything above them, for the next build.
    pub fn cargo_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.cargo);
        command.env_remove("RUSTC_BOOTSTRAP");
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(set_by_cargo_for_a_crate) {
                command.env_remove(name);
            }
        }
        command
    }
}

/// Whether cargo sets variable `name` for the crate it builds or runs (a test, `cargo run`),
/// rather than the user for cargo.
fn set_by_cargo_for_a_crate(name: &str) -> bool {
    const EXACT: [&str; 9] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    EXACT.contains(&name) || name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_BIN_EXE_")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn what_cargo_sets_for_a_crate_is_told_from_what_users_set() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_BIN_EXE_vpclab",
            "OUT_DIR",
        ] {
            assert!(set_by_cargo_for_a_crate(name), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_PROFILE_DEV_DEBUG",
            "CARGO",
        ] {
            assert!(!set_by_cargo_for_a_crate(name), "{name}");
        }
    }

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn the_cache_falls_back_from_vpclab_to_xdg_to_home() {
        assert_eq!(
            settings(&[("VPCLAB_CACHE_DIR", "/c"), ("HOME", "/h")]).cache_dir,
            PathBuf::from("/c")
        );
        assert_eq!(
            settings(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]).cache_dir,
            PathBuf::from("/x/vpclab")
        );
        assert_eq!(
            settings(&[("HOME", "/h")]).cache_dir,
            PathBuf::from("/h/.cache/vpclab")
        );
    }

    #[test]
    fn runtime_files_go_to_the_user_runtime_folder_else_the_cache() {
        assert_eq!(
            settings(&[("XDG_RUNTIME_DIR", "/run/user/7"), ("HOME", "/h")]).runtime_dir,
            PathBuf::from("/run/user/7/vpclab")
        );
        assert_eq!(
            settings(&[("HOME", "/h")]).runtime_dir,
            PathBuf::from("/h/.cache/vpclab/run")
        );
    }

    #[test]
    fn blank_values_count_as_unset() {
        let s = settings(&[("VPCLAB_EMULATOR", "  "), ("VPCLAB_KEEP", "0")]);
        assert_eq!(s.emulator, None);
        assert!(!s.keep);
        assert!(settings(&[("VPCLAB_KEEP", "1")]).keep);
        assert_eq!(
            settings(&[("VPCLAB_EMULATOR", " localstack-host ")]).emulator,
            Some("localstack-host".into())
        );
    }

    #[test]
    fn tools_are_found_on_the_path() {
        let s = settings(&[("PATH", "/nonexistent:/bin:/usr/bin")]);
        assert!(s.which("sh").is_some());
        assert!(s.which("no-such-tool-vpclab").is_none());
    }
}
