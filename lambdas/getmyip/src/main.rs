//! Seed 000's function: `GET /getmyip` behind an API Gateway REST API (Lambda proxy
//! integration) asks a public "what is my IP" service for the address the function's traffic
//! leaves from, and answers with a small HTML page.
//!
//! # Responses
//!
//! * A path ending in `/getmyip` (any method; a trailing `/` is accepted):
//!   * `200`, `text/html`: a page titled `My egress IP` holding `<p id="ip">203.0.113.7</p>`.
//!   * `502`, `text/html`: the service could not be reached or gave no address; the page holds
//!     `<p id="error">...</p>` whose text starts with the kind of failure, one of `timeout:`,
//!     `dns:`, `connect:`, `tls:`, `status:` (the service answered with a non-2xx status),
//!     `unexpected body:` (the answer was not an IP address) or `other:`, followed by the error.
//! * Any other path: `404`, `text/plain`.
//!
//! # Configuration (environment)
//!
//! * `IP_SERVICE_URL`: the service; default `https://ifconfig.me/ip`. It must answer with the
//!   caller's address as plain text.
//! * `HTTP_TIMEOUT_SECONDS`: the whole request's time limit (DNS, connect, TLS, response), in
//!   seconds, fractions allowed; default 3.
//!
//! # Network behaviour
//!
//! The service's name is resolved through the system resolver (`getaddrinfo`, so
//! `/etc/resolv.conf`), and its certificate is checked against the platform trust store
//! (reqwest's rustls platform verifier, which on Linux reads the system store or the file named
//! by `SSL_CERT_FILE`). Connections are not kept between invocations, so each request opens a
//! new connection along whatever network path the function has at that moment.
//!
//! Each request logs one line with its outcome.

mod handler;

use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = handler::Settings::from_env()?;
    let handler = handler::Handler::new(settings);
    run(service_fn(|event| handler.handle(event))).await
}
