//! The payload, the probes and their results.

use std::{
    fmt,
    net::IpAddr,
    time::{Duration, Instant},
};

use lambda_runtime::LambdaEvent;
use serde_json::{Map, Value, json};
use tokio::{io::AsyncReadExt, net::TcpStream};

use crate::classify::{self, ErrorKind};

/// The limit when a payload gives no `timeout_ms`.
const DEFAULT_TIMEOUT_MS: u64 = 3000;
/// The largest `timeout_ms` accepted: Lambda's own 15-minute limit.
const MAX_TIMEOUT_MS: u64 = 900_000;
/// The most of an HTTP body returned.
const MAX_BODY: usize = 16 * 1024;
/// The most of a TCP greeting read.
const MAX_GREETING: usize = 256;

/// The probes and their fields, for error messages.
const PROBES: &str = "probes: http_get {url, timeout_ms?}, tcp_connect {address, timeout_ms?}, \
                      dynamodb_list_tables {timeout_ms?}, resolve {name, timeout_ms?}";

/// One probe, parsed from a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `{"probe":"http_get","url":...}`
    HttpGet {
        /// What to GET.
        url: String,
        /// The limit for the whole request.
        timeout: Duration,
    },
    /// `{"probe":"tcp_connect","address":...}`
    TcpConnect {
        /// `ip:port` or `name:port`.
        address: String,
        /// The limit for connecting and reading the greeting.
        timeout: Duration,
    },
    /// `{"probe":"dynamodb_list_tables"}`
    DynamodbListTables {
        /// The SDK's operation timeout.
        timeout: Duration,
    },
    /// `{"probe":"resolve","name":...}`
    Resolve {
        /// The name to look up.
        name: String,
        /// The limit for the lookup.
        timeout: Duration,
    },
}

/// A payload that is not a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PayloadError(String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid payload: {}; {PROBES}", self.0)
    }
}

impl std::error::Error for PayloadError {}

impl Probe {
    /// Parses a payload, naming the field at fault if it is not a probe.
    pub(crate) fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let fail = |message: String| Err(PayloadError(message));
        let Some(fields) = payload.as_object() else {
            return fail(format!(
                "expected a JSON object such as {{\"probe\":\"resolve\",\"name\":\"ifconfig.me\"}}, got {payload}"
            ));
        };
        let kind = match fields.get("probe") {
            None => return fail("missing field \"probe\"".into()),
            Some(Value::String(kind)) => kind.as_str(),
            Some(other) => return fail(format!("field \"probe\" must be a string, got {other}")),
        };
        let allowed: &[&str] = match kind {
            "http_get" => &["probe", "url", "timeout_ms"],
            "tcp_connect" => &["probe", "address", "timeout_ms"],
            "dynamodb_list_tables" => &["probe", "timeout_ms"],
            "resolve" => &["probe", "name", "timeout_ms"],
            other => return fail(format!("unknown probe {other:?} in field \"probe\"")),
        };
        if let Some(unknown) = fields.keys().find(|key| !allowed.contains(&key.as_str())) {
            return fail(format!("unknown field {unknown:?} for probe {kind:?}"));
        }
        let timeout = timeout_field(fields).map_err(PayloadError)?;
        Ok(match kind {
            "http_get" => Self::HttpGet {
                url: string_field(fields, "url", kind).map_err(PayloadError)?,
                timeout,
            },
            "tcp_connect" => Self::TcpConnect {
                address: string_field(fields, "address", kind).map_err(PayloadError)?,
                timeout,
            },
            "dynamodb_list_tables" => Self::DynamodbListTables { timeout },
            _ => Self::Resolve {
                name: string_field(fields, "name", kind).map_err(PayloadError)?,
                timeout,
            },
        })
    }

    /// The probe's name, as in the payload.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::HttpGet { .. } => "http_get",
            Self::TcpConnect { .. } => "tcp_connect",
            Self::DynamodbListTables { .. } => "dynamodb_list_tables",
            Self::Resolve { .. } => "resolve",
        }
    }

    /// What the probe tries, for the log.
    fn target(&self) -> String {
        match self {
            Self::HttpGet { url, .. } => format!("GET {url}"),
            Self::TcpConnect { address, .. } => format!("connect {address}"),
            Self::DynamodbListTables { .. } => "DynamoDB ListTables".into(),
            Self::Resolve { name, .. } => format!("resolve {name}"),
        }
    }

    fn timeout(&self) -> Duration {
        match self {
            Self::HttpGet { timeout, .. }
            | Self::TcpConnect { timeout, .. }
            | Self::DynamodbListTables { timeout }
            | Self::Resolve { timeout, .. } => *timeout,
        }
    }
}

fn string_field(fields: &Map<String, Value>, name: &str, kind: &str) -> Result<String, String> {
    match fields.get(name) {
        None => Err(format!("missing field {name:?} for probe {kind:?}")),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Some(Value::String(_)) => Err(format!("field {name:?} is empty")),
        Some(other) => Err(format!("field {name:?} must be a string, got {other}")),
    }
}

fn timeout_field(fields: &Map<String, Value>) -> Result<Duration, String> {
    match fields.get("timeout_ms") {
        None | Some(Value::Null) => Ok(Duration::from_millis(DEFAULT_TIMEOUT_MS)),
        Some(value) => match value.as_u64() {
            Some(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Ok(Duration::from_millis(ms)),
            _ => Err(format!(
                "field \"timeout_ms\" must be an integer from 1 to {MAX_TIMEOUT_MS}, got {value}"
            )),
        },
    }
}

/// What a probe observed: the fields of a success, or a failure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Reached; the result's other fields.
    Reached(Map<String, Value>),
    /// Not reached.
    Failed {
        /// The classification.
        kind: ErrorKind,
        /// The error and its causes.
        error: String,
    },
}

impl Outcome {
    fn reached(fields: Value) -> Self {
        match fields {
            Value::Object(fields) => Self::Reached(fields),
            _ => Self::Reached(Map::new()),
        }
    }

    fn failed((kind, error): (ErrorKind, String)) -> Self {
        Self::Failed { kind, error }
    }

    /// The result returned to the caller.
    pub(crate) fn to_json(&self, elapsed: Duration) -> Value {
        let mut result = Map::new();
        match self {
            Self::Reached(fields) => {
                result.insert("ok".into(), true.into());
                result.extend(fields.clone());
            }
            Self::Failed { kind, error } => {
                result.insert("ok".into(), false.into());
                result.insert("error_kind".into(), kind.label().into());
                result.insert("error".into(), error.clone().into());
            }
        }
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        result.insert("elapsed_ms".into(), elapsed_ms.into());
        Value::Object(result)
    }

    /// The outcome, short, for the log.
    fn summary(&self) -> String {
        match self {
            Self::Reached(fields) => {
                let mut summary = String::from("ok");
                for (key, value) in fields {
                    let mut value = value.to_string();
                    if value.len() > 120 {
                        let mut end = 120;
                        while !value.is_char_boundary(end) {
                            end -= 1;
                        }
                        value.truncate(end);
                        value.push('…');
                    }
                    summary.push_str(&format!(" {key}={value}"));
                }
                summary
            }
            Self::Failed { kind, error } => format!("failed ({}): {error}", kind.label()),
        }
    }
}

/// Runs probes; holds the SDK configuration the DynamoDB probe starts from.
#[derive(Debug)]
pub(crate) struct Prober {
    aws: aws_config::SdkConfig,
}

impl Prober {
    /// A prober using the given SDK configuration.
    pub(crate) fn new(aws: aws_config::SdkConfig) -> Self {
        Self { aws }
    }

    /// Handles one invocation.
    pub(crate) async fn handle(
        &self,
        event: LambdaEvent<Value>,
    ) -> Result<Value, lambda_runtime::Error> {
        let probe = match Probe::parse(&event.payload) {
            Ok(probe) => probe,
            Err(e) => {
                tracing::warn!("rejected payload {}: {e}", event.payload);
                return Err(e.into());
            }
        };
        let started = Instant::now();
        let outcome = self.run(&probe).await;
        let elapsed = started.elapsed();
        tracing::info!(
            "probe {} {} (limit {:?}): {} in {elapsed:?}",
            probe.kind(),
            probe.target(),
            probe.timeout(),
            outcome.summary()
        );
        Ok(outcome.to_json(elapsed))
    }

    /// Runs one probe.
    pub(crate) async fn run(&self, probe: &Probe) -> Outcome {
        match probe {
            Probe::HttpGet { url, timeout } => http_get(url, *timeout).await,
            Probe::TcpConnect { address, timeout } => tcp_connect(address, *timeout).await,
            Probe::DynamodbListTables { timeout } => self.dynamodb_list_tables(*timeout).await,
            Probe::Resolve { name, timeout } => resolve(name, *timeout).await,
        }
    }

    async fn dynamodb_list_tables(&self, timeout: Duration) -> Outcome {
        use aws_sdk_dynamodb::config::{retry::RetryConfig, timeout::TimeoutConfig};
        // A client of its own: its own HTTP client, so no connection from an earlier probe.
        let config = aws_sdk_dynamodb::config::Builder::from(&self.aws)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout)
                    .operation_timeout(timeout)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        match client.list_tables().send().await {
            Ok(output) => Outcome::reached(json!({ "tables": output.table_names() })),
            Err(e) => Outcome::failed(classify::classify_sdk(&e)),
        }
    }
}

async fn http_get(url: &str, timeout: Duration) -> Outcome {
    // A client of its own, keeping no idle connection: each probe connects anew.
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            let (_, error) = classify::classify_reqwest(&e);
            return Outcome::Failed {
                kind: ErrorKind::Tls,
                error: format!("cannot build an HTTP client: {error}"),
            };
        }
    };
    let mut response = match client.get(url).send().await {
        Ok(response) => response,
        Err(e) => return Outcome::failed(classify::classify_reqwest(&e)),
    };
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Outcome::failed(classify::classify_reqwest(&e)),
        }
    }
    body.truncate(MAX_BODY);
    Outcome::reached(json!({
        "status": status,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn tcp_connect(address: &str, timeout: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stream = match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
        Err(_) => {
            return Outcome::Failed {
                kind: ErrorKind::Timeout,
                error: format!("no connection to {address} within {timeout:?}"),
            };
        }
        Ok(Err(e)) => return Outcome::failed(classify::classify_io(&e)),
        Ok(Ok(stream)) => stream,
    };
    let peer = stream
        .peer_addr()
        .map_or_else(|_| address.to_owned(), |peer| peer.to_string());
    let mut buffer = [0u8; MAX_GREETING];
    let mut fields = json!({ "peer": peer, "greeting": "" });
    match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
        Ok(Ok(read)) => {
            fields["greeting"] = String::from_utf8_lossy(&buffer[..read]).into();
        }
        Ok(Err(e)) => {
            fields["read_error"] = classify::classify_io(&e).1.into();
        }
        // Connected, but the server did not speak first.
        Err(_) => {}
    }
    Outcome::reached(fields)
}

async fn resolve(name: &str, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, tokio::net::lookup_host((name, 0))).await {
        Err(_) => Outcome::Failed {
            kind: ErrorKind::Timeout,
            error: format!("no answer for {name} within {timeout:?}"),
        },
        Ok(Err(e)) => Outcome::failed(classify::classify_io(&e)),
        Ok(Ok(addresses)) => {
            let mut unique: Vec<IpAddr> = Vec::new();
            for address in addresses.map(|address| address.ip()) {
                if !unique.contains(&address) {
                    unique.push(address);
                }
            }
            let addresses: Vec<String> = unique.iter().map(ToString::to_string).collect();
            Outcome::reached(json!({ "addresses": addresses }))
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::{io::AsyncWriteExt, net::TcpListener};

    use super::*;

    fn parse(payload: Value) -> Result<Probe, String> {
        Probe::parse(&payload).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_each_probe() {
        assert_eq!(
            parse(json!({"probe":"http_get","url":"https://ifconfig.me/ip","timeout_ms":2000})),
            Ok(Probe::HttpGet {
                url: "https://ifconfig.me/ip".into(),
                timeout: Duration::from_millis(2000)
            })
        );
        assert_eq!(
            parse(json!({"probe":"tcp_connect","address":"10.0.1.5:5432"})),
            Ok(Probe::TcpConnect {
                address: "10.0.1.5:5432".into(),
                timeout: Duration::from_millis(3000)
            })
        );
        assert_eq!(
            parse(json!({"probe":"dynamodb_list_tables","timeout_ms":3000})),
            Ok(Probe::DynamodbListTables {
                timeout: Duration::from_millis(3000)
            })
        );
        assert_eq!(
            parse(json!({"probe":"resolve","name":"ifconfig.me","timeout_ms":null})),
            Ok(Probe::Resolve {
                name: "ifconfig.me".into(),
                timeout: Duration::from_millis(3000)
            })
        );
    }

    #[test]
    fn errors_name_the_field_and_list_the_probes() {
        let cases = [
            (json!("resolve"), "expected a JSON object"),
            (json!({"name":"x"}), "missing field \"probe\""),
            (json!({"probe":7}), "field \"probe\" must be a string"),
            (json!({"probe":"ping"}), "unknown probe \"ping\""),
            (json!({"probe":"http_get"}), "missing field \"url\""),
            (
                json!({"probe":"http_get","url":3}),
                "field \"url\" must be a string",
            ),
            (
                json!({"probe":"tcp_connect","address":""}),
                "field \"address\" is empty",
            ),
            (
                json!({"probe":"resolve","name":"a","timeout":5}),
                "unknown field \"timeout\"",
            ),
            (
                json!({"probe":"resolve","name":"a","timeout_ms":"5"}),
                "field \"timeout_ms\" must be an integer",
            ),
            (
                json!({"probe":"resolve","name":"a","timeout_ms":0}),
                "field \"timeout_ms\" must be an integer",
            ),
            (
                json!({"probe":"resolve","name":"a","timeout_ms":-1}),
                "field \"timeout_ms\" must be an integer",
            ),
        ];
        for (payload, expected) in cases {
            let message = parse(payload.clone()).unwrap_err();
            assert!(message.contains(expected), "{payload}: {message}");
            for kind in ["http_get", "tcp_connect", "dynamodb_list_tables", "resolve"] {
                assert!(message.contains(kind), "{payload}: {message}");
            }
        }
    }

    #[test]
    fn result_shapes() {
        let reached = Outcome::reached(json!({"status": 200, "body": "203.0.113.7"}));
        assert_eq!(
            reached.to_json(Duration::from_millis(12)),
            json!({"ok": true, "status": 200, "body": "203.0.113.7", "elapsed_ms": 12})
        );
        let failed = Outcome::Failed {
            kind: ErrorKind::Timeout,
            error: "no answer".into(),
        };
        assert_eq!(
            failed.to_json(Duration::from_millis(2001)),
            json!({"ok": false, "error_kind": "timeout", "error": "no answer", "elapsed_ms": 2001})
        );
    }

    #[tokio::test]
    async fn tcp_connect_reads_the_greeting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.write_all(b"SSH-2.0-test\r\n").await.unwrap();
        });
        let outcome = tcp_connect(&address, Duration::from_secs(2)).await;
        let result = outcome.to_json(Duration::ZERO);
        assert_eq!(result["ok"], true, "{result}");
        assert_eq!(result["greeting"], "SSH-2.0-test\r\n");
        assert_eq!(result["peer"], address.as_str());
    }

    #[tokio::test]
    async fn tcp_connect_to_a_silent_server_is_reached() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let outcome = tcp_connect(&address, Duration::from_millis(200)).await;
        let result = outcome.to_json(Duration::ZERO);
        assert_eq!(result["ok"], true, "{result}");
        assert_eq!(result["greeting"], "");
        drop(listener);
    }

    #[tokio::test]
    async fn tcp_connect_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let result = tcp_connect(&address, Duration::from_secs(2))
            .await
            .to_json(Duration::ZERO);
        assert_eq!(result["ok"], false, "{result}");
        assert_eq!(result["error_kind"], "refused", "{result}");
    }

    #[tokio::test]
    async fn resolve_an_address_literal() {
        let result = resolve("127.0.0.1", Duration::from_secs(2))
            .await
            .to_json(Duration::ZERO);
        assert_eq!(result["addresses"], json!(["127.0.0.1"]), "{result}");
    }

    #[tokio::test]
    async fn http_get_from_a_local_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nconnection: close\r\n\r\n198.51.100.9",
                )
                .await
                .unwrap();
        });
        let result = http_get(&format!("http://{address}/ip"), Duration::from_secs(2))
            .await
            .to_json(Duration::ZERO);
        assert_eq!(result["ok"], true, "{result}");
        assert_eq!(result["status"], 200);
        assert_eq!(result["body"], "198.51.100.9");
    }
}
