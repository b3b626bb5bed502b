//! The handler: routing, the call to the IP service, the pages.

use std::{error::Error as StdError, fmt, net::IpAddr, time::Duration};

use aws_lambda_events::{
    apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse},
    encodings::Body,
    http::{HeaderValue, header::CONTENT_TYPE},
};
use lambda_runtime::LambdaEvent;

/// The service asked when `IP_SERVICE_URL` is not set.
const DEFAULT_IP_SERVICE_URL: &str = "https://ifconfig.me/ip";
/// The time limit when `HTTP_TIMEOUT_SECONDS` is not set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// The most of the service's answer that is read.
const MAX_BODY: usize = 1024;

/// The function's configuration, from its environment.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    ip_service_url: String,
    timeout: Duration,
}

/// A setting has a value the function cannot use.
#[derive(Debug)]
pub(crate) struct BadSetting {
    name: &'static str,
    value: String,
    expected: &'static str,
}

impl fmt::Display for BadSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {} is {:?}; expected {}",
            self.name, self.value, self.expected
        )
    }
}

impl StdError for BadSetting {}

impl Settings {
    /// Reads `IP_SERVICE_URL` and `HTTP_TIMEOUT_SECONDS`, both optional.
    pub(crate) fn from_env() -> Result<Self, BadSetting> {
        Self::from_vars(
            std::env::var("IP_SERVICE_URL").ok(),
            std::env::var("HTTP_TIMEOUT_SECONDS").ok(),
        )
    }

    fn from_vars(url: Option<String>, timeout: Option<String>) -> Result<Self, BadSetting> {
        let ip_service_url = match url {
            Some(url) if !url.trim().is_empty() => {
                let url = url.trim().to_owned();
                if reqwest::Url::parse(&url).is_err() {
                    return Err(BadSetting {
                        name: "IP_SERVICE_URL",
                        value: url,
                        expected: "an absolute URL such as https://ifconfig.me/ip",
                    });
                }
                url
            }
            _ => DEFAULT_IP_SERVICE_URL.to_owned(),
        };
        let timeout = match timeout {
            Some(text) if !text.trim().is_empty() => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
                .filter(|duration| !duration.is_zero())
                .ok_or(BadSetting {
                    name: "HTTP_TIMEOUT_SECONDS",
                    value: text,
                    expected: "a positive number of seconds",
                })?,
            _ => DEFAULT_TIMEOUT,
        };
        Ok(Self {
            ip_service_url,
            timeout,
        })
    }
}

/// Why the service gave no address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// No complete answer within the time limit.
    Timeout,
    /// The service's name could not be resolved.
    Dns,
    /// No connection: refused, unreachable, reset.
    Connect,
    /// The TLS handshake failed, or no client could be set up to verify certificates.
    Tls,
    /// The service answered with a status other than 2xx.
    Status,
    /// The service's answer was not an IP address.
    UnexpectedBody,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// The label that starts the error text on the page.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Status => "status",
            Self::UnexpectedBody => "unexpected body",
            Self::Other => "other",
        }
    }
}

/// The service gave no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    kind: FailureKind,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)
    }
}

/// Classifies a failed request from its error chain: the flags reqwest sets, then the I/O
/// error kinds and messages of the causes.
fn classify(
    is_timeout: bool,
    is_connect: bool,
    chain: &[(Option<std::io::ErrorKind>, String)],
) -> FailureKind {
    use std::io::ErrorKind as Io;
    if is_timeout || chain.iter().any(|(kind, _)| *kind == Some(Io::TimedOut)) {
        return FailureKind::Timeout;
    }
    let mentions = |needles: &[&str]| {
        chain.iter().any(|(_, message)| {
            let message = message.to_ascii_lowercase();
            needles.iter().any(|needle| message.contains(needle))
        })
    };
    if mentions(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "temporary failure in name resolution",
        "no address associated with hostname",
    ]) {
        return FailureKind::Dns;
    }
    let connect_kinds = [
        Io::ConnectionRefused,
        Io::ConnectionReset,
        Io::ConnectionAborted,
        Io::HostUnreachable,
        Io::NetworkUnreachable,
        Io::NotConnected,
        Io::AddrNotAvailable,
    ];
    if chain
        .iter()
        .any(|(kind, _)| kind.is_some_and(|kind| connect_kinds.contains(&kind)))
    {
        return FailureKind::Connect;
    }
    if mentions(&["certificate", "tls", "handshake", "alert"]) {
        return FailureKind::Tls;
    }
    if is_connect {
        return FailureKind::Connect;
    }
    FailureKind::Other
}

/// The error and its causes, as (I/O error kind, message) pairs.
fn chain_of(error: &(dyn StdError + 'static)) -> Vec<(Option<std::io::ErrorKind>, String)> {
    let mut chain = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let kind = error
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind);
        chain.push((kind, error.to_string()));
        next = error.source();
    }
    chain
}

/// The message and its causes on one line.
fn full_message(chain: &[(Option<std::io::ErrorKind>, String)]) -> String {
    let mut message = String::new();
    for (_, text) in chain {
        if message.contains(text.as_str()) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(text);
    }
    message
}

/// Turns a reqwest error into a failure.
fn failure_of(error: &reqwest::Error, timeout: Duration) -> Failure {
    let chain = chain_of(error);
    let kind = classify(error.is_timeout(), error.is_connect(), &chain);
    let mut message = full_message(&chain);
    if kind == FailureKind::Timeout {
        message = format!("no answer within {timeout:?} ({message})");
    }
    Failure { kind, message }
}

/// Checks the service's answer: one IP address, surrounding whitespace allowed.
pub(crate) fn parse_address(body: &str) -> Result<IpAddr, Failure> {
    body.trim().parse().map_err(|_| Failure {
        kind: FailureKind::UnexpectedBody,
        message: format!(
            "expected an IP address, got {:?}",
            body.chars().take(200).collect::<String>()
        ),
    })
}

/// Escapes text for HTML element content.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The page for a found address.
pub(crate) fn address_page(address: IpAddr) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>My egress IP</title></head>\n\
         <body>\n<h1>My egress IP</h1>\n<p id=\"ip\">{address}</p>\n</body>\n</html>\n"
    )
}

/// The page for a failure.
pub(crate) fn failure_page(failure: &Failure) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>My egress IP</title></head>\n\
         <body>\n<h1>My egress IP</h1>\n<p id=\"error\">{}</p>\n</body>\n</html>\n",
        escape_html(&failure.to_string())
    )
}

/// Whether the request is for `/getmyip` (the path may carry a stage or other prefix).
pub(crate) fn is_getmyip(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    path == "/getmyip" || path.ends_with("/getmyip")
}

fn response(status: i64, content_type: &'static str, body: String) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.body = Some(Body::Text(body));
    response
}

/// The handler with its HTTP client.
#[derive(Debug)]
pub(crate) struct Handler {
    settings: Settings,
    /// The client, or why none could be built (e.g. no trusted certificates could be loaded);
    /// in that case each request reports it.
    client: Result<reqwest::Client, String>,
}

impl Handler {
    /// A handler; builds the HTTP client once, without a pool of idle connections.
    pub(crate) fn new(settings: Settings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| full_message(&chain_of(&e)));
        if let Err(e) = &client {
            tracing::error!("cannot build the HTTP client: {e}");
        }
        Self { settings, client }
    }

    /// Answers one API Gateway request.
    pub(crate) async fn handle(
        &self,
        event: LambdaEvent<ApiGatewayProxyRequest>,
    ) -> Result<ApiGatewayProxyResponse, lambda_runtime::Error> {
        let request = event.payload;
        let path = request
            .path
            .as_deref()
            .or(request.resource.as_deref())
            .unwrap_or_default();
        let method = request.http_method.as_str();
        if !is_getmyip(path) {
            tracing::info!(%method, %path, status = 404, "not found");
            return Ok(response(
                404,
                "text/plain; charset=utf-8",
                format!("Not found: {path}\n"),
            ));
        }
        let url = &self.settings.ip_service_url;
        match self.egress_address().await {
            Ok(address) => {
                tracing::info!(%method, %path, status = 200, %url, %address, "egress address found");
                Ok(response(
                    200,
                    "text/html; charset=utf-8",
                    address_page(address),
                ))
            }
            Err(failure) => {
                tracing::warn!(%method, %path, status = 502, %url, error = %failure, "no egress address");
                Ok(response(
                    502,
                    "text/html; charset=utf-8",
                    failure_page(&failure),
                ))
            }
        }
    }

    async fn egress_address(&self) -> Result<IpAddr, Failure> {
        let client = self.client.as_ref().map_err(|e| Failure {
            kind: FailureKind::Tls,
            message: format!("cannot build an HTTP client: {e}"),
        })?;
        let timeout = self.settings.timeout;
        let mut answer = client
            .get(&self.settings.ip_service_url)
            .send()
            .await
            .map_err(|e| failure_of(&e, timeout))?;
        let status = answer.status();
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match answer.chunk().await.map_err(|e| failure_of(&e, timeout))? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        body.truncate(MAX_BODY);
        let body = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(Failure {
                kind: FailureKind::Status,
                message: format!(
                    "{} answered {status}: {:?}",
                    self.settings.ip_service_url,
                    body.chars().take(200).collect::<String>()
                ),
            });
        }
        parse_address(&body)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Error as IoError, ErrorKind};

    use super::*;

    fn io_chain(error: &IoError) -> Vec<(Option<ErrorKind>, String)> {
        chain_of(error)
    }

    #[test]
    fn settings_default_and_parse() {
        let settings = Settings::from_vars(None, None).unwrap();
        assert_eq!(settings.ip_service_url, "https://ifconfig.me/ip");
        assert_eq!(settings.timeout, Duration::from_secs(3));
        let settings =
            Settings::from_vars(Some("http://10.0.0.1/ip".into()), Some("0.5".into())).unwrap();
        assert_eq!(settings.ip_service_url, "http://10.0.0.1/ip");
        assert_eq!(settings.timeout, Duration::from_millis(500));
        assert!(Settings::from_vars(None, Some("soon".into())).is_err());
        assert!(Settings::from_vars(None, Some("0".into())).is_err());
        assert!(Settings::from_vars(None, Some("-1".into())).is_err());
        assert!(Settings::from_vars(Some("not a url".into()), None).is_err());
    }

    #[test]
    fn paths() {
        assert!(is_getmyip("/getmyip"));
        assert!(is_getmyip("/getmyip/"));
        assert!(is_getmyip("/prod/getmyip"));
        assert!(!is_getmyip("/"));
        assert!(!is_getmyip("/getmyipx"));
        assert!(!is_getmyip("/xgetmyip"));
        assert!(!is_getmyip("/getmyip/more"));
    }

    #[test]
    fn address_parsing() {
        assert_eq!(
            parse_address("203.0.113.7\n").unwrap(),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_address("2001:db8::1").unwrap(),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let failure = parse_address("<html>captive portal</html>").unwrap_err();
        assert_eq!(failure.kind, FailureKind::UnexpectedBody);
    }

    #[test]
    fn pages_are_parseable_and_escaped() {
        let page = address_page("203.0.113.7".parse().unwrap());
        assert!(page.contains("<p id=\"ip\">203.0.113.7</p>"));
        assert!(page.contains("<title>My egress IP</title>"));
        let page = failure_page(&Failure {
            kind: FailureKind::Connect,
            message: "<refused> & \"gone\"".into(),
        });
        assert!(
            page.contains("<p id=\"error\">connect: &lt;refused&gt; &amp; &quot;gone&quot;</p>")
        );
    }

    #[test]
    fn classification() {
        let refused = IoError::from(ErrorKind::ConnectionRefused);
        assert_eq!(
            classify(false, false, &io_chain(&refused)),
            FailureKind::Connect
        );
        let unreachable = IoError::from(ErrorKind::HostUnreachable);
        assert_eq!(
            classify(false, false, &io_chain(&unreachable)),
            FailureKind::Connect
        );
        let timed_out = IoError::from(ErrorKind::TimedOut);
        assert_eq!(
            classify(false, false, &io_chain(&timed_out)),
            FailureKind::Timeout
        );
        assert_eq!(classify(true, true, &[]), FailureKind::Timeout);
        let dns = IoError::other(IoError::other(
            "failed to lookup address information: Name or service not known",
        ));
        assert_eq!(classify(false, true, &io_chain(&dns)), FailureKind::Dns);
        let tls = IoError::new(
            ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        );
        assert_eq!(classify(false, true, &io_chain(&tls)), FailureKind::Tls);
        assert_eq!(classify(false, true, &[]), FailureKind::Connect);
        assert_eq!(
            classify(false, false, &[(None, "body decode".into())]),
            FailureKind::Other
        );
    }

    #[test]
    fn full_message_skips_repeats() {
        let chain = vec![
            (None, "error sending request".to_owned()),
            (None, "client error (Connect)".to_owned()),
            (
                Some(ErrorKind::ConnectionRefused),
                "Connection refused (os error 111)".to_owned(),
            ),
        ];
        assert_eq!(
            full_message(&chain),
            "error sending request: client error (Connect): Connection refused (os error 111)"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_failure() {
        // A port nothing listens on: bind one, learn its number, close it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let settings =
            Settings::from_vars(Some(format!("http://127.0.0.1:{port}/ip")), None).unwrap();
        let failure = Handler::new(settings).egress_address().await.unwrap_err();
        assert_eq!(failure.kind, FailureKind::Connect, "{failure}");
    }

    /// Serves one canned HTTP response on a local port; returns the URL.
    async fn serve_once(response: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            socket.write_all(response.as_bytes()).await.unwrap();
        });
        format!("http://{address}/ip")
    }

    #[tokio::test]
    async fn address_from_the_service() {
        let url = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-length: 12\r\nconnection: close\r\n\r\n198.51.100.9",
        )
        .await;
        let handler = Handler::new(Settings::from_vars(Some(url), None).unwrap());
        assert_eq!(
            handler.egress_address().await.unwrap(),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
    }

    #[tokio::test]
    async fn error_status_from_the_service() {
        let url = serve_once(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
        )
        .await;
        let handler = Handler::new(Settings::from_vars(Some(url), None).unwrap());
        let failure = handler.egress_address().await.unwrap_err();
        assert_eq!(failure.kind, FailureKind::Status, "{failure}");
        assert!(failure.to_string().contains("503"), "{failure}");
    }

    #[tokio::test]
    async fn silent_service_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ip", listener.local_addr().unwrap());
        let handler = Handler::new(Settings::from_vars(Some(url), Some("0.3".into())).unwrap());
        let failure = handler.egress_address().await.unwrap_err();
        assert_eq!(failure.kind, FailureKind::Timeout, "{failure}");
        drop(listener);
    }

    #[tokio::test]
    async fn other_paths_are_not_found() {
        let request: ApiGatewayProxyRequest = serde_json_from(
            r#"{"resource":"/{proxy+}","path":"/elsewhere","httpMethod":"GET","headers":null,
                "multiValueHeaders":null,"queryStringParameters":null,
                "multiValueQueryStringParameters":null,"pathParameters":null,
                "stageVariables":null,"requestContext":{"httpMethod":"GET"},"body":null,
                "isBase64Encoded":false}"#,
        );
        let handler = Handler::new(Settings::from_vars(None, None).unwrap());
        let event = LambdaEvent::new(request, lambda_runtime::Context::default());
        let response = handler.handle(event).await.unwrap();
        assert_eq!(response.status_code, 404);
        assert_eq!(response.headers[CONTENT_TYPE], "text/plain; charset=utf-8");
    }

    fn serde_json_from(text: &str) -> ApiGatewayProxyRequest {
        serde_json::from_str(text).unwrap()
    }
}
