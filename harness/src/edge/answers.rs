//! The answers API Gateway gives a call it refuses: status and body byte for byte, and its
//! headers (HTTP/1.1 sends header names lowercased; they are case-insensitive).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

/// `403 ForbiddenException` `{"message":"Forbidden"}`: a PRIVATE API from the internet, a
/// public API through an endpoint with private DNS, a name that leads to no API.
pub(crate) fn forbidden() -> Response<Full<Bytes>> {
    error(
        403,
        "ForbiddenException",
        r#"{"message":"Forbidden"}"#.to_owned(),
    )
}

/// `403 AccessDeniedException` with AWS's message (`Message`, capital M).
pub(crate) fn access_denied(message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "Message": message }).to_string();
    error(403, "AccessDeniedException", body)
}

/// `413` for a payload over API Gateway's 10 MB.
pub(crate) fn too_large() -> Response<Full<Bytes>> {
    error(
        413,
        "RequestEntityTooLargeException",
        r#"{"message":"Request Too Long"}"#.to_owned(),
    )
}

/// `504`, as API Gateway answers an integration that does not answer in time.
pub(crate) fn timed_out() -> Response<Full<Bytes>> {
    error(
        504,
        "InternalServerErrorException",
        r#"{"message": "Endpoint request timed out"}"#.to_owned(),
    )
}

/// `502` when the emulator's data plane cannot be reached (API Gateway's answer to a broken
/// integration).
pub(crate) fn bad_gateway() -> Response<Full<Bytes>> {
    error(
        502,
        "BadGatewayException",
        r#"{"message":"Internal server error"}"#.to_owned(),
    )
}

fn error(status: u16, kind: &str, body: String) -> Response<Full<Bytes>> {
    let request_id = request_id();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", &request_id)
        .header("x-amzn-errortype", kind)
        .header("x-amz-apigw-id", apigw_id(&request_id))
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// An `x-amz-apigw-id` shaped like AWS's: 16 base64 characters ending in `=`.
fn apigw_id(request_id: &str) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = request_id
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .take(11)
        .collect();
    let mut id = base64::engine::general_purpose::STANDARD.encode(&bytes);
    id.truncate(15);
    id.push('=');
    id
}

/// A request id shaped like AWS's (a UUID), unique within the process.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = (now ^ n.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        mixed >> 32,
        (mixed >> 16) & 0xffff,
        mixed & 0xfff,
        n & 0xfff,
        (now ^ mixed) & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn forbidden_is_aws_s_23_bytes() {
        let response = forbidden();
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["x-amzn-errortype"], "ForbiddenException");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(&body[..], br#"{"message":"Forbidden"}"#);
        assert_eq!(body.len(), 23);
    }

    #[tokio::test]
    async fn access_denied_has_a_capital_m() {
        let response = access_denied("User: anonymous is not authorized");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "AccessDeniedException"
        );
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(
            &body[..],
            br#"{"Message":"User: anonymous is not authorized"}"#
        );
    }
}
