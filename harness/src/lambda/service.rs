//! The executor service: the HTTP API the LocalStack plug-in calls, on its own thread and
//! runtime so that it outlives any one test's runtime.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    thread::JoinHandle,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::fabric::{Fabric, Placement};

use super::{
    LambdaError,
    environment::{Environment, EnvironmentSpec, InvokeRequest},
    logs::LogStore,
};

/// Shared state of the service.
#[derive(Debug, Default)]
struct Shared {
    /// Every request must carry it (`X-Vpclab-Token`): the API starts processes.
    token: String,
    environments: Mutex<BTreeMap<String, Arc<Environment>>>,
    prepared: Mutex<BTreeSet<String>>,
    logs: LogStore,
    /// Each world's fabric, by account: where that account's functions run.
    fabrics: Mutex<BTreeMap<String, Arc<Fabric>>>,
}

/// The running service; it stops, with every environment it runs, on drop.
#[derive(Debug)]
pub(crate) struct ExecutorService {
    url: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ExecutorService {
    /// Starts the service on `bind` (`127.0.0.1:0`: both backends call it on loopback).
    pub(crate) fn start(bind: &str) -> Result<Self, LambdaError> {
        let shared = Arc::new(Shared {
            token: random_token()?,
            ..Shared::default()
        });
        let (listener, url) = bind_listener(bind)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vpclab-executor")
            .enable_all()
            .build()
            .map_err(|e| LambdaError::io("start the executor runtime", e))?;
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vpclab-executor".into())
            .spawn(move || {
                runtime.block_on(serve(listener, serving, shutdown_rx));
                runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            })
            .map_err(|e| LambdaError::io("spawn the executor thread", e))?;
        Ok(Self {
            url,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The secret the plug-in sends with every call (`VPCLAB_EXECUTOR_TOKEN`).
    pub(crate) fn token(&self) -> &str {
        &self.shared.token
    }

    /// The base URL the plug-in calls (`VPCLAB_EXECUTOR_URL`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The functions' logs.
    pub(crate) fn logs(&self) -> &LogStore {
        &self.shared.logs
    }

    /// Whether the plug-in prepared this function (a function that became Active without
    /// it ran on another executor).
    pub(crate) fn was_prepared(&self, function_arn_prefix: &str) -> bool {
        self.shared
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|arn| arn.starts_with(function_arn_prefix))
    }

    /// Runs the functions of `account` in `fabric`'s namespaces from now on.
    pub(crate) fn place_account(&self, account: &str, fabric: Arc<Fabric>) {
        self.shared
            .fabrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.to_owned(), fabric);
    }

    /// Kills every environment of an account (a world ending) and forgets its fabric.
    pub(crate) fn stop_account(&self, account: &str) {
        self.shared
            .fabrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account);
        let mut environments = self
            .shared
            .environments
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        environments.retain(|_, env| {
            let keep = env.account() != account;
            if !keep {
                env.kill();
            }
            keep
        });
    }

    /// How many environments run now.
    pub(crate) fn environment_count(&self) -> usize {
        self.shared
            .environments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Drop for ExecutorService {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("vpclab: the executor thread panicked");
        }
    }
}

/// A non-blocking listener on `bind`, and the service's URL.
fn bind_listener(bind: &str) -> Result<(std::net::TcpListener, String), LambdaError> {
    let listener = std::net::TcpListener::bind(bind)
        .map_err(|e| LambdaError::io("bind the executor service", e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| LambdaError::io("configure the executor service socket", e))?;
    let address = listener
        .local_addr()
        .map_err(|e| LambdaError::io("read the executor service address", e))?;
    Ok((listener, format!("http://{address}")))
}

/// Serves the API until `shutdown` fires, then drops every environment (they hold tasks of
/// this runtime) while the runtime still runs.
async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("vpclab: executor service socket: {e}");
            return;
        }
    };
    let served = axum::serve(listener, app(shared.clone()))
        .with_graceful_shutdown(async {
            let _ = shutdown.await;
        })
        .await;
    if let Err(e) = served {
        tracing::error!("vpclab: executor service stopped: {e}");
    }
    shared
        .environments
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

/// The largest request the plug-in may send (a function's shipped code).
const SHIPPED_CODE_LIMIT: usize = 400 * 1024 * 1024;

fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/environments/{id}",
            put(start_environment).delete(stop_environment),
        )
        .route("/environments/{id}/invocations", post(invoke))
        .route("/environments/{id}/logs", get(environment_logs))
        .route("/versions", post(prepare_version).delete(cleanup_version))
        // A container's plug-in ships the function's code in the body (base64 of a zip; AWS
        // allows 250 MB unzipped): axum's default of 2 MB would refuse every Rust bootstrap.
        .layer(axum::extract::DefaultBodyLimit::max(SHIPPED_CODE_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            require_token,
        ))
        .with_state(shared)
}

/// Refuses calls without the service's token.
async fn require_token(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = request
        .headers()
        .get("x-vpclab-token")
        .and_then(|v| v.to_str().ok());
    if given == Some(shared.token.as_str()) {
        next.run(request).await
    } else {
        failure(
            StatusCode::FORBIDDEN,
            "missing or wrong X-Vpclab-Token".into(),
        )
    }
}

/// 128 random bits, hex.
fn random_token() -> Result<String, LambdaError> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom")
            .map_err(|e| LambdaError::io("open /dev/urandom", e))?,
        &mut bytes,
    )
    .map_err(|e| LambdaError::io("read /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn failure(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Where the fabric of the function's world runs it. There is no unsealed fallback: a
/// function whose account has no fabric is never run on this machine's network.
async fn place(shared: &Shared, spec: &EnvironmentSpec) -> Result<Placement, String> {
    let fabric = shared
        .fabrics
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&spec.account)
        .cloned()
        .ok_or_else(|| {
            format!(
                "function {} cannot run: account {} has no vpclab world, so no network fabric \
                 to place it in (functions never run on this machine's own network); create \
                 the function from a World (World::start, then deploy)",
                spec.function_name, spec.account
            )
        })?;
    let (subnets, groups) = spec
        .vpc_config
        .as_ref()
        .map(|v| (v.subnet_ids.clone(), v.security_group_ids.clone()))
        .unwrap_or_default();
    // `arn:aws:lambda:<region>:<account>:function:<name>`
    let region = spec.function_arn.split(':').nth(3).unwrap_or_default();
    fabric
        .place_function(&spec.function_name, region, &subnets, &groups)
        .await
        .map_err(|e| format!("placing {} in the network fabric: {e}", spec.function_name))
}

async fn start_environment(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(spec): Json<EnvironmentSpec>,
) -> Response {
    tracing::debug!(environment = %id, function = %spec.function_arn, "start");
    let placement = match place(&shared, &spec).await {
        Ok(placement) => placement,
        Err(message) => return failure(StatusCode::INTERNAL_SERVER_ERROR, message),
    };
    match Environment::start(spec, shared.logs.clone(), placement).await {
        Ok(environment) => {
            shared
                .environments
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, Arc::new(environment));
            Json(serde_json::json!({})).into_response()
        }
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn stop_environment(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let removed = shared
        .environments
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    if let Some(environment) = removed {
        environment.kill();
    }
    Json(serde_json::json!({})).into_response()
}

fn environment(shared: &Shared, id: &str) -> Option<Arc<Environment>> {
    shared
        .environments
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .cloned()
}

async fn invoke(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(request): Json<InvokeRequest>,
) -> Response {
    let Some(environment) = environment(&shared, &id) else {
        return failure(StatusCode::NOT_FOUND, format!("no environment {id}"));
    };
    match environment.invoke(request).await {
        Ok(result) => Json(result).into_response(),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn environment_logs(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let logs = environment(&shared, &id)
        .map(|e| e.log())
        .unwrap_or_default();
    Json(serde_json::json!({ "logs": logs })).into_response()
}

#[derive(Debug, Deserialize)]
struct VersionBody {
    function_arn: String,
}

async fn prepare_version(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<VersionBody>,
) -> Response {
    shared
        .prepared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(body.function_arn);
    Json(serde_json::json!({})).into_response()
}

async fn cleanup_version(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<VersionBody>,
) -> Response {
    shared
        .prepared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&body.function_arn);
    Json(serde_json::json!({})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_without_the_token_are_refused() {
        let service = ExecutorService::start("127.0.0.1:0").expect("service starts");
        let client = reqwest::Client::new();
        let url = format!("{}/environments/e1/logs", service.url());
        let anonymous = client.get(&url).send().await.expect("answers");
        assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
        let wrong = client
            .get(&url)
            .header("x-vpclab-token", "guess")
            .send()
            .await
            .expect("answers");
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        let known = client
            .get(&url)
            .header("x-vpclab-token", service.token())
            .send()
            .await
            .expect("answers");
        assert_eq!(known.status(), StatusCode::OK);
    }
}
