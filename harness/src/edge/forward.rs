//! The way on to the emulator's data plane: a request that passed goes on with its method,
//! path, query, headers and body, plus the forwarding headers API Gateway adds; the response,
//! status and headers included, comes back unchanged.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::{Request, Response, body::Incoming, header::HeaderValue};
use hyper_util::client::legacy::{Client, connect::HttpConnector};

use super::answers;
use crate::fabric::strip_hop_by_hop;

/// API Gateway's payload limit (10 MB).
const PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;
/// Longest the emulator may take to answer. AWS's integration timeout is 29 s; a cold
/// function on a busy emulator may take longer here, so the edge waits twice that.
const UPSTREAM_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A response of the front door: the emulator's, or the edge's own.
pub(crate) type Forwarded = Response<Either<Incoming, Full<Bytes>>>;

/// The edge's own answer as a front-door response.
pub(crate) fn answer(response: Response<Full<Bytes>>) -> Forwarded {
    response.map(Either::Right)
}

/// A pooled HTTP/1.1 client to the emulator.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    emulator: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    /// A client of the emulator at `emulator`.
    pub(crate) fn new(emulator: SocketAddr) -> Self {
        Self {
            emulator,
            client: crate::fabric::upstream(),
        }
    }

    /// Forwards `request` from `peer` (through endpoint `through`, if any), with `host` (the
    /// API's own name) as its `Host`.
    pub(crate) async fn forward(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        through: Option<&str>,
        host: &str,
    ) -> Forwarded {
        let (mut parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|length| length > PAYLOAD_LIMIT) {
            return answer(answers::too_large());
        }
        let body = match Limited::new(body, PAYLOAD_LIMIT).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return answer(answers::too_large());
            }
            // The caller went away mid-body: nobody reads the answer.
            Err(_) => return answer(answers::bad_gateway()),
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = format!("http://{}{path}", self.emulator).parse() else {
            return answer(answers::bad_gateway());
        };
        parts.uri = uri;
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(hyper::header::EXPECT);
        add_forwarding_headers(&mut parts.headers, peer, through, host);
        let call = self
            .client
            .request(Request::from_parts(parts, Full::new(body)));
        match tokio::time::timeout(UPSTREAM_LIMIT, call).await {
            Err(_) => {
                tracing::warn!(
                    "vpclab edge: the emulator did not answer within {UPSTREAM_LIMIT:?}"
                );
                answer(answers::timed_out())
            }
            Ok(Ok(mut response)) => {
                // The emulator closes each connection: that is its hop, not the caller's.
                strip_hop_by_hop(response.headers_mut());
                response.map(Either::Left)
            }
            Ok(Err(e)) => {
                tracing::warn!("vpclab edge: the emulator's data plane did not answer: {e}");
                answer(answers::bad_gateway())
            }
        }
    }
}

/// The headers API Gateway adds: `X-Forwarded-For` (the caller's address appended),
/// `X-Forwarded-Proto`, `X-Forwarded-Port`, and `x-amzn-vpce-id` through an endpoint.
fn add_forwarding_headers(
    headers: &mut hyper::HeaderMap,
    peer: SocketAddr,
    through: Option<&str>,
    host: &str,
) {
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("x-forwarded-for", &forwarded_for);
    set("x-forwarded-proto", "https");
    set("x-forwarded-port", "443");
    // Only the edge says which endpoint a call came through.
    set("x-amzn-vpce-id", through.unwrap_or_default());
    set("host", host);
    if through.is_none() {
        headers.remove("x-amzn-vpce-id");
    }
}
