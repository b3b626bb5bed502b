//! The PostgreSQL server behind an RDS instance: Debian's `postgresql` binaries, run as the
//! unprivileged `postgres` user inside the instance's ENI namespace, with its data directory
//! in the fabric's scratch folder (removed with the world, by its watchdog too), TLS from the
//! fabric's CA, and password (SCRAM) logins over TLS only, as RDS for PostgreSQL 15 forces.

use std::{
    collections::HashMap,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Mutex,
    time::{Duration, Instant},
};

use tokio::process::{Child, Command};

/// Longest a new server may take to accept connections.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// Longest `initdb` and the database's creation may take.
const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// What a server is started with.
#[derive(Debug)]
pub(crate) struct ServerSpec<'a> {
    /// The registry key (account/region/instance).
    pub(crate) key: String,
    /// The ENI namespace it listens in.
    pub(crate) netns: &'a str,
    /// The world whose cgroup it joins (its fabric's prefix).
    pub(crate) world: &'a str,
    /// The ENI's address.
    pub(crate) address: std::net::Ipv4Addr,
    /// Its TCP port.
    pub(crate) port: u16,
    /// The master user and password.
    pub(crate) user: &'a str,
    pub(crate) password: &'a str,
    /// The database to create, if any.
    pub(crate) database: Option<&'a str>,
    /// Where its data directory goes.
    pub(crate) data_dir: PathBuf,
    /// Its certificate and key (PEM).
    pub(crate) certificate: (String, String),
}

struct Running {
    child: Child,
    data_dir: PathBuf,
}

/// How long each server took from its creation to accepting connections, by instance key.
pub(crate) fn start_times() -> &'static Mutex<Vec<(String, Duration)>> {
    static TIMES: std::sync::OnceLock<Mutex<Vec<(String, Duration)>>> = std::sync::OnceLock::new();
    TIMES.get_or_init(Mutex::default)
}

fn running() -> &'static Mutex<HashMap<String, Running>> {
    static RUNNING: std::sync::OnceLock<Mutex<HashMap<String, Running>>> =
        std::sync::OnceLock::new();
    RUNNING.get_or_init(Mutex::default)
}

/// The folder of PostgreSQL's server programs (`initdb`, `postgres`): `VPCLAB_POSTGRES_BIN`,
/// else the newest major version under `/usr/lib/postgresql`.
pub(crate) fn binaries() -> Result<PathBuf, String> {
    let missing = || {
        "PostgreSQL's server programs (initdb, postgres under /usr/lib/postgresql/<version>/bin, \
         or VPCLAB_POSTGRES_BIN) are not installed: run `bash ci/install-system-deps.sh` (it \
         installs Debian's `postgresql`)"
            .to_owned()
    };
    if let Some(bin) = &crate::settings::Settings::get().postgres_bin {
        let found = bin.join("initdb").exists() && bin.join("postgres").exists();
        return found.then(|| bin.clone()).ok_or_else(missing);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("postgres").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().ok_or_else(missing)
}

/// Runs `program args` as the `postgres` user, bounded, and returns its failure as text.
async fn as_postgres(program: &Path, args: &[&str], limit: Duration) -> Result<(), String> {
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program)
        .args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| format!("{} did not finish within {limit:?}", program.display()))?
        .map_err(|e| format!("run {} as postgres: {e}", program.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed ({}): {}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// Writes `text` to `path`, owned by `postgres`, mode `mode`.
fn write_owned(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    chown_postgres(path)
}

fn chown_postgres(path: &Path) -> Result<(), String> {
    let user = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .ok_or_else(|| "no `postgres` user: install Debian's `postgresql`".to_owned())?;
    nix::unistd::chown(path, Some(user.uid), Some(user.gid))
        .map_err(|e| format!("chown {}: {e}", path.display()))
}

/// Initialises the data directory: the master user with its password, TLS, SCRAM over TLS.
async fn initialise(bin: &Path, spec: &ServerSpec<'_>) -> Result<(), String> {
    let dir = &spec.data_dir;
    if let Some(parent) = dir.parent() {
        // The `postgres` user must reach its folder inside the fabric's (root's) scratch dir.
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| format!("chmod {}: {e}", parent.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    chown_postgres(dir)?;
    let pgdata = dir.join("pgdata");
    let pwfile = dir.join("pwfile");
    write_owned(&pwfile, spec.password, 0o600)?;
    let (pgdata_arg, pwfile_arg) = (pgdata.display().to_string(), pwfile.display().to_string());
    let args = [
        "-D",
        &pgdata_arg,
        "-U",
        spec.user,
        "--pwfile",
        &pwfile_arg,
        "--auth-host=scram-sha-256",
        "--auth-local=trust",
        "-E",
        "UTF8",
        "--no-sync",
    ];
    as_postgres(&bin.join("initdb"), &args, SETUP_LIMIT).await?;
    let _ = std::fs::remove_file(&pwfile);
    write_owned(&pgdata.join("server.crt"), &spec.certificate.0, 0o600)?;
    write_owned(&pgdata.join("server.key"), &spec.certificate.1, 0o600)?;
    let conf = format!(
        "\n# vpclab: the RDS instance's settings\nlisten_addresses = '{}'\nport = {}\n\
         unix_socket_directories = '{}'\nssl = on\npassword_encryption = scram-sha-256\n\
         fsync = off\n",
        spec.address,
        spec.port,
        dir.display()
    );
    append(&pgdata.join("postgresql.conf"), &conf)?;
    // Only TLS logins with a password from the network, as rds.force_ssl does.
    let hba = "local all all trust\nhostssl all all 0.0.0.0/0 scram-sha-256\n";
    write_owned(&pgdata.join("pg_hba.conf"), hba, 0o600)
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("append to {}: {e}", path.display()))
}

/// Starts the server in its namespace and waits until it accepts connections; creates the
/// database. Returns how long the server took to accept connections.
pub(crate) async fn start(spec: ServerSpec<'_>) -> Result<Duration, String> {
    let bin = binaries()?;
    let started = Instant::now();
    initialise(&bin, &spec).await?;
    let pgdata = spec.data_dir.join("pgdata");
    let child = Command::new("ip")
        .args(["netns", "exec", spec.netns, "setpriv"])
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(bin.join("postgres"))
        .arg("-D")
        .arg(&pgdata)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("start postgres in {}: {e}", spec.netns))?;
    if let Some(pid) = child.id() {
        crate::cgroup::adopt(spec.world, pid);
    }
    running().lock().unwrap_or_else(|e| e.into_inner()).insert(
        spec.key.clone(),
        Running {
            child,
            data_dir: spec.data_dir.clone(),
        },
    );
    let socket_dir = spec.data_dir.display().to_string();
    let port = spec.port.to_string();
    let ready = wait_ready(&bin, &socket_dir, &port).await;
    let took = started.elapsed();
    start_times()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((spec.key.clone(), took));
    if let Err(e) = ready {
        stop(&spec.key).await;
        return Err(e);
    }
    if let Some(database) = spec.database {
        let sql = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
        let args = [
            "-h",
            &socket_dir,
            "-p",
            &port,
            "-U",
            spec.user,
            "-d",
            "postgres",
            "-c",
            &sql,
        ];
        if let Err(e) = as_postgres(Path::new("/usr/bin/psql"), &args, SETUP_LIMIT).await {
            stop(&spec.key).await;
            return Err(e);
        }
    }
    Ok(took)
}

async fn wait_ready(bin: &Path, socket_dir: &str, port: &str) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let args = ["-h", socket_dir, "-p", port, "-q"];
        if as_postgres(&bin.join("pg_isready"), &args, Duration::from_secs(5))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if started.elapsed() > READY_LIMIT {
            return Err(format!(
                "the PostgreSQL server did not accept connections within {READY_LIMIT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops the server of `key` (SIGINT, its fast shutdown; SIGKILL after 5 s) and removes its
/// data.
pub(crate) async fn stop(key: &str) {
    let Some(mut server) = running()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(key)
    else {
        return;
    };
    if let Some(pid) = server.child.id() {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    }
    if tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .is_err()
    {
        let _ = server.child.kill().await;
    }
    let _ = std::fs::remove_dir_all(&server.data_dir);
}
