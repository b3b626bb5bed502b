//! The way from an AWS service endpoint to the emulator. Each request is read: one that names
//! an execute-api API (by `Host`, or by the emulator's own `/restapis/…/_user_request_/` and
//! `/_aws/execute-api/` paths) is refused, so that API calls reach the emulator only through the
//! front doors; every other request goes on as it came, its body and answer streamed.

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::{
    HeaderMap, Request, Response, body::Incoming, server::conn::http1, service::service_fn,
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo, TokioTimer},
};

use super::front_door::{DoorStream, is_execute_api_name};

/// A pooled client of the emulator.
pub(crate) type Upstream = Client<HttpConnector, Incoming>;

/// A pooled HTTP/1.1 client of the emulator with Nagle's algorithm off (small requests go out
/// at once), sending bodies of type `B`; the edge uses one too.
pub(crate) fn upstream<B>() -> Client<HttpConnector, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// How long a client may take to send a request's headers.
pub(crate) const HEADER_READ_LIMIT: Duration = Duration::from_secs(30);

/// Serves one connection's requests, passing them to the emulator at `emulator`.
pub(crate) async fn serve(stream: DoorStream, emulator: SocketAddr, upstream: Upstream) {
    let service = service_fn(move |request| {
        let upstream = upstream.clone();
        async move { Ok::<_, Infallible>(pass(request, emulator, &upstream).await) }
    });
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_LIMIT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

type Answer = Response<Either<Incoming, Full<Bytes>>>;

async fn pass(mut request: Request<Incoming>, emulator: SocketAddr, upstream: &Upstream) -> Answer {
    if let Some(refusal) = refusal(&request) {
        return refusal;
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("http://{emulator}{path}").parse() else {
        return plain(400, "a request target the emulator cannot take");
    };
    *request.uri_mut() = uri;
    strip_hop_by_hop(request.headers_mut());
    match upstream.request(request).await {
        Ok(mut response) => {
            strip_hop_by_hop(response.headers_mut());
            response.map(Either::Left)
        }
        Err(e) => {
            tracing::warn!("vpclab: service endpoint cannot reach the emulator: {e}");
            plain(502, "the emulator does not answer")
        }
    }
}

/// The answer to a request that would reach an API around the front doors.
fn refusal(request: &Request<Incoming>) -> Option<Answer> {
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let host = host.split(':').next().unwrap_or(host);
    if is_execute_api_name(host) || host.contains(".execute-api.") {
        // The TLS name was another service's: this connection is not the API's.
        return Some(plain(421, "Misdirected Request"));
    }
    let path = request.uri().path();
    let emulator_route = (path.starts_with("/restapis/") && path.contains("/_user_request_"))
        || path.starts_with("/_aws/execute-api");
    emulator_route.then(|| plain(404, "not a path of this AWS service"))
}

/// A short plain-text answer of the fabric's own.
fn plain(status: u16, text: &'static str) -> Answer {
    let body = Full::new(Bytes::from_static(text.as_bytes()));
    let mut response = Response::new(Either::Right(body));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    response
}

/// Removes the headers that describe one connection (RFC 9110, 7.6.1), not the message: the
/// fixed ones and those the `Connection` header names (the emulator closes every connection:
/// that is its hop, not the caller's).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "te",
        "trailer",
    ] {
        headers.remove(name);
    }
}
