//! The Lambda Runtime API a function's `bootstrap` talks to (`AWS_LAMBDA_RUNTIME_API`).

use std::{
    collections::{HashMap, VecDeque},
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
use tokio::sync::{oneshot, watch};

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

/// The invocations waiting for a `next` call, and the process they are meant for.
///
/// Each bootstrap process is a generation. A `next` call belongs to the generation it arrived
/// in, so a call left hanging by a process that died never takes an invocation meant for its
/// replacement, and a new generation starts with an empty queue: an invocation abandoned with a
/// crashed process is never handed to the next one.
#[derive(Debug, Default)]
struct Inbox {
    generation: u64,
    queue: VecDeque<Invocation>,
}

/// State shared between the Runtime API server and the environment that feeds it.
#[derive(Debug)]
pub(crate) struct RuntimeState {
    inbox: watch::Sender<Inbox>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Becomes true at the function's first `next` call: its init phase is over.
    initialised: watch::Sender<bool>,
    /// The body of `POST /runtime/init/error`, if the function sent one.
    init_error: watch::Sender<Option<String>>,
}

impl RuntimeState {
    /// A state with an empty queue.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            inbox: watch::Sender::new(Inbox::default()),
            pending: Mutex::new(HashMap::new()),
            initialised: watch::Sender::new(false),
            init_error: watch::Sender::new(None),
        })
    }

    /// Queues an invocation; the returned receiver yields the function's outcome.
    pub(crate) async fn submit(&self, invocation: Invocation) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.pending_map().insert(invocation.request_id.clone(), tx);
        self.inbox
            .send_modify(|inbox| inbox.queue.push_back(invocation));
        rx
    }

    /// Forgets every invocation in flight or queued (their callers see a closed channel) and
    /// ends the current process's generation.
    pub(crate) fn abandon_pending(&self) {
        self.inbox.send_modify(|inbox| {
            inbox.generation += 1;
            inbox.queue.clear();
        });
        self.pending_map().clear();
    }

    /// Takes the next invocation for a `next` call of `generation`, waiting for one; `None`
    /// when that generation ended first.
    async fn take(&self, generation: u64) -> Option<Invocation> {
        let mut inbox = self.inbox.subscribe();
        loop {
            // The borrow ends here: taking below needs the value's write lock.
            let ready = inbox
                .wait_for(|i| i.generation != generation || !i.queue.is_empty())
                .await
                .is_ok();
            if !ready {
                return None;
            }
            let mut taken = None;
            let mut ended = false;
            self.inbox.send_if_modified(|i| {
                ended = i.generation != generation;
                if !ended {
                    taken = i.queue.pop_front();
                }
                taken.is_some()
            });
            if ended {
                return None;
            }
            if taken.is_some() {
                return taken;
            }
        }
    }

    /// Watches the end of the init phase.
    pub(crate) fn initialised(&self) -> watch::Receiver<bool> {
        self.initialised.subscribe()
    }

    /// Watches `POST /runtime/init/error`.
    pub(crate) fn init_error(&self) -> watch::Receiver<Option<String>> {
        self.init_error.subscribe()
    }

    /// Starts a new init phase (after the process was replaced): a new generation, with
    /// nothing left over from the one before.
    pub(crate) fn reset_init(&self) {
        self.abandon_pending();
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
    let generation = state.inbox.borrow().generation;
    state.initialised.send_replace(true);
    let Some(invocation) = state.take(generation).await else {
        return (StatusCode::GONE, "this runtime process was replaced").into_response();
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
