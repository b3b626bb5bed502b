//! The Lambda Runtime API a function's `bootstrap` talks to (`AWS_LAMBDA_RUNTIME_API`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

/// One invocation handed to the function.
#[derive(Debug)]
pub(crate) struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub(crate) request_id: String,
    /// The event, as JSON.
    pub(crate) payload: Bytes,
    /// `Lambda-Runtime-Deadline-Ms`: milliseconds since the epoch.
    pub(crate) deadline_ms: u128,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub(crate) invoked_function_arn: String,
    /// `Lambda-Runtime-Trace-Id`.
    pub(crate) trace_id: String,
}

/// How an invocation ended, as the function reported it.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `POST /runtime/invocation/{id}/response`.
    Response(Bytes),
    /// `POST /runtime/invocation/{id}/error`, with `Lambda-Runtime-Function-Error-Type`.
    Error {
        /// The error type header, if the function sent one.
        error_type: Option<String>,
        /// The `{errorType, errorMessage}` body.
        body: Bytes,
    },
}

/// State shared between the Runtime API server and the environment that feeds it.
#[derive(Debug)]
pub(crate) struct RuntimeState {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    sender: mpsc::Sender<Invocation>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Becomes true at the function's first `next` call: its init phase is over.
    initialised: watch::Sender<bool>,
    /// The body of `POST /runtime/init/error`, if the function sent one.
    init_error: watch::Sender<Option<String>>,
}

impl RuntimeState {
    /// A state with an empty queue.
    pub(crate) fn new() -> Arc<Self> {
        let (sender, receiver) = mpsc::channel(1);
        Arc::new(Self {
            queue: tokio::sync::Mutex::new(receiver),
            sender,
            pending: Mutex::new(HashMap::new()),
            initialised: watch::Sender::new(false),
            init_error: watch::Sender::new(None),
        })
    }

    /// Queues an invocation; the returned receiver yields the function's outcome.
    pub(crate) async fn submit(&self, invocation: Invocation) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.pending_map().insert(invocation.request_id.clone(), tx);
        // The receiver lives as long as the state, so sending only fails on shutdown, and the
        // caller then sees a closed outcome channel.
        let _ = self.sender.send(invocation).await;
        rx
    }

    /// Forgets every invocation in flight (their callers see a closed channel).
    pub(crate) fn abandon_pending(&self) {
        self.pending_map().clear();
    }

    /// Watches the end of the init phase.
    pub(crate) fn initialised(&self) -> watch::Receiver<bool> {
        self.initialised.subscribe()
    }

    /// Watches `POST /runtime/init/error`.
    pub(crate) fn init_error(&self) -> watch::Receiver<Option<String>> {
        self.init_error.subscribe()
    }

    /// Starts a new init phase (after the process was replaced).
    pub(crate) fn reset_init(&self) {
        self.initialised.send_replace(false);
        self.init_error.send_replace(None);
    }

    fn pending_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Outcome>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn complete(&self, request_id: &str, outcome: Outcome) -> bool {
        match self.pending_map().remove(request_id) {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }
}

/// The Runtime API routes.
pub(crate) fn app(state: Arc<RuntimeState>) -> Router {
    Router::new()
        // GET /2018-06-01/runtime/invocation/next
        .route("/2018-06-01/runtime/invocation/next", get(next))
        // POST /2018-06-01/runtime/invocation/{id}/response
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        // POST /2018-06-01/runtime/invocation/{id}/error
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        // POST /2018-06-01/runtime/init/error
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(state)
}

async fn next(State(state): State<Arc<RuntimeState>>) -> Response {
    state.initialised.send_replace(true);
    let mut queue = state.queue.lock().await;
    let Some(invocation) = queue.recv().await else {
        return (StatusCode::GONE, "environment shutting down").into_response();
    };
    let mut headers = HeaderMap::new();
    let pairs = [
        ("lambda-runtime-aws-request-id", invocation.request_id),
        (
            "lambda-runtime-deadline-ms",
            invocation.deadline_ms.to_string(),
        ),
        (
            "lambda-runtime-invoked-function-arn",
            invocation.invoked_function_arn,
        ),
        ("lambda-runtime-trace-id", invocation.trace_id),
        ("content-type", "application/json".to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn response(
    State(state): State<Arc<RuntimeState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    accepted_or_unknown(state.complete(&id, Outcome::Response(body)), &id)
}

async fn error(
    State(state): State<Arc<RuntimeState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    accepted_or_unknown(
        state.complete(&id, Outcome::Error { error_type, body }),
        &id,
    )
}

async fn init_error(State(state): State<Arc<RuntimeState>>, body: Bytes) -> Response {
    state
        .init_error
        .send_replace(Some(String::from_utf8_lossy(&body).into_owned()));
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

fn accepted_or_unknown(known: bool, id: &str) -> Response {
    if known {
        (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
    } else {
        let body = serde_json::json!({
            "errorType": "InvalidRequestID",
            "errorMessage": format!("no invocation {id} is in flight"),
        });
        (StatusCode::BAD_REQUEST, body.to_string()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve(state: Arc<RuntimeState>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app(state)).await });
        format!("http://{addr}/2018-06-01/runtime")
    }

    #[tokio::test]
    async fn next_hands_out_the_invocation_and_response_completes_it() {
        let state = RuntimeState::new();
        let base = serve(state.clone()).await;
        let outcome = state
            .submit(Invocation {
                request_id: "req-1".into(),
                payload: Bytes::from_static(br#"{"a":1}"#),
                deadline_ms: 42,
                invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
                trace_id: "Root=1-abc".into(),
            })
            .await;
        let client = reqwest::Client::new();
        let next = client
            .get(format!("{base}/invocation/next"))
            .send()
            .await
            .unwrap();
        assert_eq!(next.headers()["lambda-runtime-aws-request-id"], "req-1");
        assert_eq!(next.headers()["lambda-runtime-deadline-ms"], "42");
        assert_eq!(next.text().await.unwrap(), r#"{"a":1}"#);
        assert!(*state.initialised().borrow());
        let posted = client
            .post(format!("{base}/invocation/req-1/response"))
            .body("done")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), StatusCode::ACCEPTED);
        match outcome.await.unwrap() {
            Outcome::Response(body) => assert_eq!(body, "done"),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unknown_request_id_is_refused() {
        let state = RuntimeState::new();
        let base = serve(state).await;
        let posted = reqwest::Client::new()
            .post(format!("{base}/invocation/nope/error"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), StatusCode::BAD_REQUEST);
        assert!(posted.text().await.unwrap().contains("InvalidRequestID"));
    }
}
