//! Seed 002's probe, also used by the security-group tests: invoked directly with a JSON payload
//! naming one probe, it tries to reach something from where the function runs and returns a
//! JSON result describing what it observed. Failing to reach the target is a result
//! (`"ok": false`), not a function error; only a malformed payload is a function error.
//!
//! # Payloads
//!
//! `timeout_ms` is optional in every probe (a positive integer, at most 900000; default 3000).
//! Unknown fields are rejected.
//!
//! * `{"probe":"http_get","url":"https://ifconfig.me/ip","timeout_ms":2000}`: one GET; the
//!   limit covers DNS, connect, TLS and the whole response.
//! * `{"probe":"tcp_connect","address":"10.0.1.5:5432","timeout_ms":2000}`: a TCP connection
//!   (`address` is `ip:port` or `name:port`), then one read of up to 256 bytes, for a server
//!   that speaks first, within what is left of the limit.
//! * `{"probe":"dynamodb_list_tables","timeout_ms":3000}`: one `ListTables` call (first page,
//!   a single attempt, no retries), the limit being the SDK's operation timeout.
//! * `{"probe":"resolve","name":"ifconfig.me","timeout_ms":2000}`: a name lookup.
//!
//! # Results
//!
//! Every result has `ok` and `elapsed_ms` (the probe's duration). On success:
//!
//! * `http_get`: `{"ok":true,"status":200,"body":"..."}` (any HTTP status counts as reached;
//!   `body` is the first 16 KiB, lossily decoded as UTF-8).
//! * `tcp_connect`: `{"ok":true,"peer":"10.0.1.5:5432","greeting":"..."}`; `greeting` is what
//!   the server sent first (lossy UTF-8), `""` if it sent nothing within the limit or closed
//!   the connection; `read_error` is added if the read failed (e.g. reset).
//! * `dynamodb_list_tables`: `{"ok":true,"tables":["..."]}`.
//! * `resolve`: `{"ok":true,"addresses":["203.0.113.7","2001:db8::1"]}` (no duplicates, in
//!   the resolver's order).
//!
//! On failure: `{"ok":false,"error_kind":"...","error":"..."}`, with `error` the error and its
//! causes on one line and `error_kind`:
//!
//! * `http_get` and `dynamodb_list_tables`: `timeout`, `dns`, `connect` (refused, unreachable,
//!   reset), `tls`, `service` (DynamoDB answered with an error, e.g. a bad signature), `other`.
//! * `tcp_connect` and `resolve`: `timeout`, `dns`, `refused`, `unreachable` (no route,
//!   network unreachable), `reset`, `connect` (another connect failure), `other`.
//!
//! A malformed payload fails the invocation with a message naming the field at fault and
//! listing the probes.
//!
//! # Network behaviour
//!
//! Ordinary Lambda code: names go through the system resolver (`getaddrinfo`, so
//! `/etc/resolv.conf`); HTTPS certificates are checked against the platform trust store
//! (reqwest's rustls platform verifier and the AWS SDK's rustls client both read the system
//! store, or the file named by `SSL_CERT_FILE`, through `rustls-native-certs`); the DynamoDB
//! client comes from `aws_config::load_defaults`, so it uses the regional endpoint unless the
//! environment sets `AWS_ENDPOINT_URL`. Every probe uses fresh clients, so no connection is
//! reused from an earlier invocation: each probe observes the network as it is now.
//!
//! Each probe logs one line: what it tried and the outcome.

mod classify;
mod probe;

use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let prober = probe::Prober::new(aws);
    run(service_fn(|event| prober.handle(event))).await
}
