//! One execution environment: a function's `bootstrap` process and its Runtime API.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use bytes::Bytes;
use nix::{
    sys::signal::{Signal, killpg},
    unistd::Pid,
};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    sync::watch,
    task::JoinHandle,
};

use crate::fabric::{LoopbackSeal, Placement};

use super::{
    LambdaError,
    logs::{LogStore, function_key},
    runtime_api::{self, Invocation, Outcome, RuntimeState},
    runtimes::{self, Launch, Runtime},
    sandbox::{Code, Sandbox},
};

/// AWS gives a function's init phase 10 seconds.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the plug-in sends to start an environment (`PUT /environments/{id}`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EnvironmentSpec {
    /// Qualified function ARN.
    pub(crate) function_arn: String,
    /// Account of the function.
    pub(crate) account: String,
    /// Region of the function.
    pub(crate) region: String,
    /// Function name.
    pub(crate) function_name: String,
    /// Folder holding the unzipped code.
    pub(crate) code_dir: PathBuf,
    /// The zipped code, base64, when the emulator's filesystem is not this machine's.
    #[serde(default)]
    pub(crate) code_zip_base64: Option<String>,
    /// Lambda runtime identifier.
    pub(crate) runtime: Option<String>,
    /// The handler (`module.function` for managed runtimes).
    #[serde(default)]
    pub(crate) handler: Option<String>,
    /// Memory size in MB.
    #[serde(default)]
    pub(crate) memory_size: Option<u64>,
    /// Function timeout.
    pub(crate) timeout_seconds: u64,
    /// The environment variables LocalStack computed (credentials, names, user variables).
    pub(crate) env: BTreeMap<String, String>,
    /// The function's VPC configuration, if it has one.
    #[serde(default)]
    pub(crate) vpc_config: Option<VpcConfig>,
}

/// Subnets and security groups of a VPC function.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct VpcConfig {
    /// Its subnets.
    #[serde(default)]
    pub(crate) subnet_ids: Vec<String>,
    /// Its security groups.
    #[serde(default)]
    pub(crate) security_group_ids: Vec<String>,
}

/// What the plug-in sends to invoke (`POST /environments/{id}/invocations`).
#[derive(Debug, Deserialize)]
pub(crate) struct InvokeRequest {
    #[serde(rename = "invoke-id")]
    request_id: String,
    #[serde(rename = "invoked-function-arn")]
    invoked_function_arn: String,
    payload: String,
    #[serde(rename = "trace-id", default)]
    trace_id: String,
}

/// What the executor answers to an invocation.
#[derive(Debug, Serialize)]
pub(crate) struct InvokeResult {
    request_id: String,
    payload_base64: String,
    is_error: bool,
    logs: String,
}

/// A running environment. Its process group is killed on drop.
#[derive(Debug)]
pub(crate) struct Environment {
    spec: EnvironmentSpec,
    /// The function's user and folders (code, `/tmp`), removed with the environment.
    sandbox: Sandbox,
    /// What runs: the bootstrap, or an interpreter under its runtime interface client.
    launch: Launch,
    state: Arc<RuntimeState>,
    runtime_api: SocketAddr,
    /// Keeps the Runtime API to the function's own user; lifted before the server stops.
    seal: Option<LoopbackSeal>,
    server: JoinHandle<()>,
    process: Mutex<Option<Process>>,
    lines: Arc<Mutex<Vec<String>>>,
    logs: LogStore,
    placement: Placement,
}

#[derive(Debug)]
struct Process {
    pid: Pid,
    exited: watch::Receiver<Option<String>>,
}

impl Environment {
    /// Starts the Runtime API and the bootstrap where the fabric placed the function, and
    /// waits for the end of its init phase.
    pub(crate) async fn start(
        spec: EnvironmentSpec,
        logs: LogStore,
        placement: Placement,
    ) -> Result<Self, LambdaError> {
        let runtime = Runtime::of(&spec.function_name, spec.runtime.as_deref())?;
        let sandbox = match &spec.code_zip_base64 {
            Some(zip) => Sandbox::create(&placement.scratch, Code::Zip(&decode(zip)?))?,
            None => Sandbox::create(&placement.scratch, Code::Folder(&spec.code_dir))?,
        };
        let handler = spec.handler.clone().unwrap_or_default();
        let launch =
            runtimes::launch(&spec.function_name, runtime, &handler, &sandbox.task_dir()).await?;
        let state = RuntimeState::new();
        let (runtime_api, seal, server) =
            serve_runtime_api(&placement, sandbox.uid(), state.clone()).await?;
        let environment = Self {
            spec,
            sandbox,
            launch,
            state,
            runtime_api,
            seal: Some(seal),
            server,
            process: Mutex::new(None),
            lines: Arc::default(),
            logs,
            placement,
        };
        environment.spawn_and_init().await?;
        Ok(environment)
    }

    /// Account of the function.
    pub(crate) fn account(&self) -> &str {
        &self.spec.account
    }

    /// The environment's own log so far.
    pub(crate) fn log(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Runs one invocation to its end: response, error, crash or timeout.
    pub(crate) async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResult, LambdaError> {
        if !self.is_alive() {
            // The previous process timed out or crashed: AWS starts a fresh one.
            self.spawn_and_init().await?;
        }
        let exited = self.exit_watch();
        let first_line = self.line_count();
        let timeout = Duration::from_secs(self.spec.timeout_seconds.max(1));
        let request_id = request.request_id.clone();
        self.log_line(format!("START RequestId: {request_id} Version: $LATEST"));
        let started = std::time::Instant::now();
        let deadline = SystemTime::now() + timeout;
        let outcome = self
            .state
            .submit(Invocation {
                request_id: request_id.clone(),
                payload: Bytes::from(request.payload),
                deadline_ms: deadline
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
                invoked_function_arn: request.invoked_function_arn,
                trace_id: request.trace_id,
            })
            .await;
        let ended = tokio::select! {
            outcome = outcome => match outcome {
                Ok(Outcome::Response(body)) => (body, false),
                Ok(Outcome::Error { error_type, body }) => (error_body(error_type, body), true),
                Err(_) => (exit_error("the environment was stopped"), true),
            },
            status = wait_exit(exited) => {
                self.state.abandon_pending();
                (exit_error(&format!("Runtime exited with error: {status}")), true)
            },
            () = tokio::time::sleep(timeout) => {
                self.kill();
                self.state.abandon_pending();
                let message = format!(
                    "{request_id} Task timed out after {:.2} seconds",
                    timeout.as_secs_f64()
                );
                self.log_line(message.clone());
                let body = serde_json::json!({"errorType": "Sandbox.Timedout", "errorMessage": message});
                (Bytes::from(body.to_string()), true)
            },
        };
        self.log_line(format!("END RequestId: {request_id}"));
        self.log_line(format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms",
            started.elapsed().as_secs_f64() * 1000.0
        ));
        let logs = self.lines_since(first_line);
        Ok(InvokeResult {
            request_id,
            payload_base64: base64::engine::general_purpose::STANDARD.encode(&ended.0),
            is_error: ended.1,
            logs,
        })
    }

    async fn spawn_and_init(&self) -> Result<(), LambdaError> {
        self.state.reset_init();
        if let Some(line) = &self.launch.substitution {
            eprintln!("{line}");
            self.log_line(line.clone());
        }
        let mut child = self
            .bootstrap_command()
            .spawn()
            .map_err(|e| LambdaError::Spawn {
                function: self.spec.function_name.clone(),
                bootstrap: self.launch.program.display().to_string(),
                reason: e.to_string(),
            })?;
        let pid = Pid::from_raw(child.id().unwrap_or_default() as i32);
        crate::cgroup::adopt(&self.placement.world, pid.as_raw().unsigned_abs());
        crate::watchdog::watch_group(pid, None);
        self.capture_output(&mut child);
        let exited = watch_exit(child);
        *self.process.lock().unwrap_or_else(|e| e.into_inner()) = Some(Process {
            pid,
            exited: exited.clone(),
        });
        match self.init_failure(exited).await {
            None => Ok(()),
            Some(reason) => {
                self.kill();
                // Let the readers drain what the process printed before it died.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(LambdaError::Init {
                    function: self.spec.function_name.clone(),
                    reason,
                    log: self.log(),
                })
            }
        }
    }

    /// The `bootstrap` command with the standard Lambda environment, as the function's own
    /// unprivileged user inside its namespace, where it reaches the services by their real
    /// names through its network path and trusts the fabric's CA the standard way.
    fn bootstrap_command(&self) -> Command {
        let mut command = self
            .sandbox
            .command(&self.placement.netns, &self.launch.program);
        let task = self.sandbox.task_dir();
        command
            .args(&self.launch.args)
            .current_dir(&task)
            .env_clear()
            .envs(&self.spec.env)
            .envs(self.runtime_env())
            .envs(self.launch.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api.to_string())
            .env("LAMBDA_TASK_ROOT", &task)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("TMPDIR", self.sandbox.tmp_dir())
            .env("SSL_CERT_FILE", &self.placement.ca_bundle)
            .env("NODE_EXTRA_CA_CERTS", &self.placement.ca_bundle)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for emulator_specific in ["AWS_ENDPOINT_URL", "LOCALSTACK_HOSTNAME", "EDGE_PORT"] {
            command.env_remove(emulator_specific);
        }
        if let Some(value) = std::env::var_os("RUST_LOG") {
            command.env("RUST_LOG", value);
        }
        command
    }

    /// The variables AWS's runtimes set from the function's configuration, where the emulator
    /// did not set them already.
    fn runtime_env(&self) -> Vec<(String, String)> {
        let spec = &self.spec;
        let runtime = spec.runtime.clone().unwrap_or_default();
        [
            ("_HANDLER", spec.handler.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_size.map(|m| m.to_string()),
            ),
            ("AWS_EXECUTION_ENV", Some(format!("AWS_Lambda_{runtime}"))),
            (
                "AWS_LAMBDA_FUNCTION_TIMEOUT",
                Some(spec.timeout_seconds.to_string()),
            ),
        ]
        .into_iter()
        .filter(|(name, _)| !spec.env.contains_key(*name))
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect()
    }

    /// Copies the process's stdout and stderr, line by line, to the environment's log and the
    /// world's log store.
    fn capture_output(&self, child: &mut tokio::process::Child) {
        let streams = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ];
        for stream in streams.into_iter().flatten() {
            let lines = self.lines.clone();
            let logs = self.logs.clone();
            let key = self.log_key();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    logs.push(&key, line.clone());
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
    }

    /// Waits for the end of the init phase; `Some(reason)` when it failed: an init error the
    /// function reported, an exit, or no call to `next` within [`INIT_TIMEOUT`].
    async fn init_failure(&self, exited: watch::Receiver<Option<String>>) -> Option<String> {
        let mut initialised = self.state.initialised();
        let mut init_error = self.state.init_error();
        tokio::select! {
            _ = initialised.wait_for(|done| *done) => None,
            reported = init_error.wait_for(Option::is_some) => {
                Some(format!("the function reported: {}", reported.map(|r| r.clone().unwrap_or_default()).unwrap_or_default()))
            },
            status = wait_exit(exited) => Some(format!("bootstrap exited during init: {status}")),
            () = tokio::time::sleep(INIT_TIMEOUT) => {
                Some(format!("no call to /runtime/invocation/next within {INIT_TIMEOUT:?}"))
            },
        }
    }

    fn is_alive(&self) -> bool {
        let process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        process
            .as_ref()
            .is_some_and(|p| p.exited.borrow().is_none())
    }

    fn exit_watch(&self) -> watch::Receiver<Option<String>> {
        let process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        match process.as_ref() {
            Some(p) => p.exited.clone(),
            None => watch::channel(Some("not started".to_owned())).1,
        }
    }

    /// Kills the bootstrap's whole process group.
    pub(crate) fn kill(&self) {
        // Taken out at once, so an invocation arriving now starts a fresh process.
        let process = self
            .process
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // The whole group, even when its leader already exited (its children and the
        // watchdog may remain); an already empty group is fine.
        if let Some(p) = process.as_ref()
            && let Err(e) = killpg(p.pid, Signal::SIGKILL)
            && e != nix::errno::Errno::ESRCH
        {
            tracing::debug!("vpclab: kill bootstrap {}: {e}", p.pid);
        }
    }

    fn log_key(&self) -> String {
        function_key(
            &self.spec.account,
            &self.spec.region,
            &self.spec.function_name,
        )
    }

    fn log_line(&self, line: String) {
        self.logs.push(&self.log_key(), line.clone());
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    fn line_count(&self) -> usize {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn lines_since(&self, first: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.get(first..).unwrap_or_default().join("\n")
    }
}

/// Serves the Runtime API on the loopback of the namespace the function runs in, to the
/// function's user only: the functions sharing the namespace cannot reach it.
async fn serve_runtime_api(
    placement: &Placement,
    uid: u32,
    state: Arc<RuntimeState>,
) -> Result<(SocketAddr, LoopbackSeal, JoinHandle<()>), LambdaError> {
    let (listener, seal) = crate::fabric::owned_loopback_listener(&placement.netns, uid)
        .await
        .map_err(|e| {
            LambdaError::io("bind the Runtime API", std::io::Error::other(e.to_string()))
        })?;
    let runtime_api = listener
        .local_addr()
        .map_err(|e| LambdaError::io("read the Runtime API address", e))?;
    let app = runtime_api::app(state);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("vpclab: Runtime API server stopped: {e}");
        }
    });
    Ok((runtime_api, seal, server))
}

/// Reaps the process in the background; the receiver holds its exit status once it exits.
fn watch_exit(mut child: tokio::process::Child) -> watch::Receiver<Option<String>> {
    let (exit_tx, exited) = watch::channel(None);
    tokio::spawn(async move {
        let status = match child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        };
        exit_tx.send_replace(Some(status));
    });
    exited
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.kill();
        self.state.abandon_pending();
        drop(self.seal.take());
        self.server.abort();
    }
}

async fn wait_exit(mut exited: watch::Receiver<Option<String>>) -> String {
    match exited.wait_for(Option::is_some).await {
        Ok(status) => status.clone().unwrap_or_default(),
        Err(_) => "unknown status".to_owned(),
    }
}

fn exit_error(message: &str) -> Bytes {
    let body = serde_json::json!({"errorType": "Runtime.ExitError", "errorMessage": message});
    Bytes::from(body.to_string())
}

fn error_body(error_type: Option<String>, body: Bytes) -> Bytes {
    if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
        return body;
    }
    let body = serde_json::json!({
        "errorType": error_type.unwrap_or_else(|| "Unhandled".to_owned()),
        "errorMessage": String::from_utf8_lossy(&body),
    });
    Bytes::from(body.to_string())
}

/// The zip the emulator sent, decoded.
fn decode(zip_base64: &str) -> Result<Vec<u8>, LambdaError> {
    base64::engine::general_purpose::STANDARD
        .decode(zip_base64)
        .map_err(|e| LambdaError::io("decode the function's code", std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    //! The executor against a real process: a small Python custom runtime that speaks the
    //! Runtime API with the standard library only, in a network namespace of the test's own.

    use std::{
        os::unix::fs::PermissionsExt,
        sync::atomic::{AtomicU32, Ordering},
    };

    use super::*;

    /// A custom runtime: answers `{"pid", "uid", "caps", "env", "headers", "event"}`;
    /// `"sleep"` sleeps 30 s, `"exit"` exits mid-invocation, `"linger"` answers then exits
    /// without asking for the next invocation, `"fail"` posts an error, `{"steal": port}`
    /// asks the Runtime API on that port for an invocation.
    const BOOTSTRAP: &str = r#"#!/usr/bin/python3
import json, os, sys, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
if os.environ.get("FAIL_INIT"):
    print("init is failing on purpose", flush=True)
    urllib.request.urlopen(urllib.request.Request(api + "/init/error", data=b'{"errorType":"Init.Test","errorMessage":"no"}', method="POST"))
    sys.exit(1)
while True:
    with urllib.request.urlopen(api + "/invocation/next") as r:
        headers = {k.lower(): v for k, v in r.headers.items()}
        event = json.loads(r.read())
    rid = headers["lambda-runtime-aws-request-id"]
    print("handling", event, flush=True)
    if event == "sleep":
        time.sleep(30)
    if event == "exit":
        sys.exit(3)
    if isinstance(event, dict) and "steal" in event:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/2018-06-01/runtime/invocation/next" % event["steal"], timeout=2)
            event = "stole an invocation"
        except Exception as e:
            event = "refused: " + str(e)
    if event == "fail":
        body, path = b'{"errorType":"Handler.Test","errorMessage":"asked to fail"}', "/error"
    else:
        env = {k: os.environ.get(k) for k in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "AWS_ENDPOINT_URL", "LAMBDA_TASK_ROOT", "TMPDIR")}
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        caps = {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")}
        answer = {"pid": os.getpid(), "uid": os.getuid(), "caps": caps, "env": env, "headers": headers, "event": event}
        body, path = json.dumps(answer).encode(), "/response"
    urllib.request.urlopen(urllib.request.Request(api + "/invocation/" + rid + path, data=body, method="POST"))
    if event == "linger":
        time.sleep(0.5)
        sys.exit(4)
"#;

    /// A network namespace of the test's own (loopback up) and a folder for the environments,
    /// both removed on drop.
    struct TestPlace {
        netns: String,
        scratch: tempfile::TempDir,
    }

    impl TestPlace {
        fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let netns = format!(
                "vpclab-unit-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let ip = |args: &[&str]| {
                let status = std::process::Command::new(crate::fabric::ip_tool())
                    .args(args)
                    .status()
                    .expect("ip runs (these tests need root and iproute2)");
                assert!(status.success(), "ip {args:?}");
            };
            ip(&["netns", "add", &netns]);
            ip(&["-n", &netns, "link", "set", "lo", "up"]);
            let scratch = tempfile::tempdir().expect("temp dir");
            std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o711))
                .expect("chmod");
            Self { netns, scratch }
        }

        fn placement(&self) -> Placement {
            Placement {
                netns: self.netns.clone(),
                address: std::net::Ipv4Addr::LOCALHOST,
                ca_bundle: self.scratch.path().join("ca.pem"),
                scratch: self.scratch.path().join("functions"),
                world: self.netns.clone(),
                description: "a test namespace".into(),
            }
        }
    }

    impl Drop for TestPlace {
        fn drop(&mut self) {
            crate::cgroup::release(&self.netns);
            let _ = std::process::Command::new(crate::fabric::ip_tool())
                .args(["netns", "delete", &self.netns])
                .status();
        }
    }

    fn spec(
        code_dir: &std::path::Path,
        timeout_seconds: u64,
        env: &[(&str, &str)],
    ) -> EnvironmentSpec {
        let mut vars: BTreeMap<String, String> = [
            ("AWS_LAMBDA_FUNCTION_NAME", "probe"),
            ("AWS_REGION", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        EnvironmentSpec {
            function_arn: "arn:aws:lambda:us-east-1:000000000001:function:probe:$LATEST".into(),
            account: "000000000001".into(),
            region: "us-east-1".into(),
            function_name: "probe".into(),
            code_dir: code_dir.to_path_buf(),
            code_zip_base64: None,
            runtime: Some("provided.al2023".into()),
            handler: None,
            memory_size: Some(128),
            timeout_seconds,
            env: vars,
            vpc_config: None,
        }
    }

    fn code_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bootstrap");
        std::fs::write(&path, BOOTSTRAP).expect("write bootstrap");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        dir
    }

    fn request(id: &str, event: &str) -> InvokeRequest {
        InvokeRequest {
            request_id: id.into(),
            invoked_function_arn: "arn:aws:lambda:us-east-1:000000000001:function:probe".into(),
            payload: event.into(),
            trace_id: "Root=1-00000000-000000000000000000000001".into(),
        }
    }

    fn payload(result: &InvokeResult) -> serde_json::Value {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&result.payload_base64)
            .expect("base64");
        serde_json::from_slice(&bytes).expect("JSON payload")
    }

    async fn start(
        place: &TestPlace,
        dir: &tempfile::TempDir,
        timeout: u64,
        env: &[(&str, &str)],
    ) -> Environment {
        Environment::start(
            spec(dir.path(), timeout, env),
            LogStore::default(),
            place.placement(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn the_function_gets_the_runtime_api_headers_and_lambda_environment() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let environment = start(&place, &dir, 5, &[]).await;
        let result = environment
            .invoke(request("req-1", r#""hello""#))
            .await
            .unwrap();
        assert!(!result.is_error);
        let answer = payload(&result);
        assert_eq!(answer["event"], "hello");
        assert_eq!(answer["headers"]["lambda-runtime-aws-request-id"], "req-1");
        assert_eq!(
            answer["headers"]["lambda-runtime-invoked-function-arn"],
            "arn:aws:lambda:us-east-1:000000000001:function:probe"
        );
        assert!(
            answer["headers"]["lambda-runtime-deadline-ms"]
                .as_str()
                .is_some()
        );
        assert!(
            answer["headers"]["lambda-runtime-trace-id"]
                .as_str()
                .is_some()
        );
        assert_eq!(answer["env"]["AWS_LAMBDA_FUNCTION_NAME"], "probe");
        assert_eq!(
            answer["env"]["AWS_ENDPOINT_URL"],
            serde_json::Value::Null,
            "functions reach the services by their real names"
        );
        assert!(
            answer["env"]["LAMBDA_TASK_ROOT"]
                .as_str()
                .is_some_and(|root| root.ends_with("/task")),
            "{answer}"
        );
        assert!(
            result.logs.contains("START RequestId: req-1"),
            "{}",
            result.logs
        );
        assert!(
            result.logs.contains("REPORT RequestId: req-1"),
            "{}",
            result.logs
        );
    }

    #[tokio::test]
    async fn warm_invocations_reuse_the_process() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let environment = start(&place, &dir, 5, &[]).await;
        let first = payload(&environment.invoke(request("a", "1")).await.unwrap());
        let second = payload(&environment.invoke(request("b", "2")).await.unwrap());
        assert_eq!(first["pid"], second["pid"]);
    }

    #[tokio::test]
    async fn a_timeout_is_an_error_and_the_next_invocation_gets_a_fresh_process() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let environment = start(&place, &dir, 1, &[]).await;
        let before = payload(&environment.invoke(request("a", "1")).await.unwrap());
        let timed_out = environment
            .invoke(request("slow", r#""sleep""#))
            .await
            .unwrap();
        assert!(timed_out.is_error);
        assert_eq!(payload(&timed_out)["errorType"], "Sandbox.Timedout");
        assert_eq!(
            payload(&timed_out)["errorMessage"],
            "slow Task timed out after 1.00 seconds"
        );
        let after = payload(&environment.invoke(request("b", "2")).await.unwrap());
        assert_ne!(
            before["pid"], after["pid"],
            "a timed-out process is replaced"
        );
    }

    #[tokio::test]
    async fn a_handler_error_and_a_crash_are_reported_as_errors() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let environment = start(&place, &dir, 5, &[]).await;
        let failed = environment.invoke(request("f", r#""fail""#)).await.unwrap();
        assert!(failed.is_error);
        assert_eq!(payload(&failed)["errorType"], "Handler.Test");
        let crashed = environment.invoke(request("c", r#""exit""#)).await.unwrap();
        assert!(crashed.is_error);
        assert_eq!(payload(&crashed)["errorType"], "Runtime.ExitError");
        let recovered = environment.invoke(request("r", "3")).await.unwrap();
        assert!(!recovered.is_error, "a crashed process is replaced");
    }

    #[tokio::test]
    async fn an_init_error_fails_the_start_and_carries_the_functions_output() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let error = Environment::start(
            spec(dir.path(), 5, &[("FAIL_INIT", "1")]),
            LogStore::default(),
            place.placement(),
        )
        .await
        .expect_err("init fails");
        let message = error.to_string();
        assert!(message.contains("init failed"), "{message}");
        assert!(message.contains("init is failing on purpose"), "{message}");
    }

    #[tokio::test]
    async fn a_runtime_vpclab_cannot_serve_is_refused_with_those_it_can() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let mut spec = spec(dir.path(), 5, &[]);
        spec.runtime = Some("java21".into());
        let error = Environment::start(spec, LogStore::default(), place.placement())
            .await
            .expect_err("java21 is not served");
        let message = error.to_string();
        assert!(
            message.contains("java21") && message.contains("python3.9"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn the_function_runs_as_its_own_user_without_capabilities() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let environment = start(&place, &dir, 5, &[]).await;
        let answer = payload(&environment.invoke(request("a", "1")).await.unwrap());
        assert_ne!(answer["uid"], 0, "{answer}");
        for set in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(answer["caps"][set], "0000000000000000", "{set}: {answer}");
        }
        let tmp = std::fs::metadata(answer["env"]["TMPDIR"].as_str().unwrap()).unwrap();
        assert_eq!(
            serde_json::json!(std::os::unix::fs::MetadataExt::uid(&tmp)),
            answer["uid"],
            "/tmp is the function's own"
        );
    }

    #[tokio::test]
    async fn a_function_cannot_reach_another_environments_runtime_api() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let thief = start(&place, &dir, 5, &[]).await;
        let victim = start(&place, &dir, 5, &[]).await;
        let steal = format!(r#"{{"steal": {}}}"#, victim.runtime_api.port());
        let answer = payload(&thief.invoke(request("t", &steal)).await.unwrap());
        let event = answer["event"].as_str().unwrap_or_default();
        assert!(event.contains("refused"), "{answer}");
        let served = victim.invoke(request("v", r#""mine""#)).await.unwrap();
        assert_eq!(
            payload(&served)["event"],
            "mine",
            "the owner is still served"
        );
    }

    #[tokio::test]
    async fn an_invocation_abandoned_by_a_crash_is_not_handed_to_the_replacement() {
        let (place, dir) = (TestPlace::new(), code_dir());
        let environment = start(&place, &dir, 5, &[]).await;
        let lingered = environment
            .invoke(request("l", r#""linger""#))
            .await
            .unwrap();
        assert!(!lingered.is_error);
        // Queued while the process is still alive, which exits without asking for it.
        let abandoned = environment
            .invoke(request("x", r#""abandoned""#))
            .await
            .unwrap();
        assert!(abandoned.is_error);
        assert_eq!(payload(&abandoned)["errorType"], "Runtime.ExitError");
        let next = environment
            .invoke(request("y", r#""fresh""#))
            .await
            .unwrap();
        assert!(!next.is_error, "{}", next.logs);
        let answer = payload(&next);
        assert_eq!(answer["event"], "fresh");
        assert_eq!(answer["headers"]["lambda-runtime-aws-request-id"], "y");
    }
}
