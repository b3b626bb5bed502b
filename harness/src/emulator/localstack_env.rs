//! The environment LocalStack runs with, on either backend: the same settings make the host
//! process and the container behave alike (both listen on a loopback port of this machine).

use super::ExecutorRegistration;

/// Where LocalStack listens and what it calls, on this machine's loopback.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    /// The gateway port (the AWS endpoint).
    pub(crate) gateway: u16,
    /// DynamoDB Local's port.
    pub(crate) dynamodb: u16,
}

/// The variables both backends set: the gateway on `127.0.0.1:<port>` (queue URLs and other
/// self-references name the same address), services loaded offline, fast SQS polling, and the
/// vpclab executor with its token.
pub(crate) fn localstack_env(
    ports: Ports,
    executor: &ExecutorRegistration,
) -> Vec<(&'static str, String)> {
    let gateway = format!("127.0.0.1:{}", ports.gateway);
    vec![
        // The host backend runs on a machine that may have `/.dockerenv`; the container runs
        // on the host's network: both behave as a host process.
        ("OVERRIDE_IN_DOCKER", "0".to_owned()),
        ("GATEWAY_LISTEN", gateway.clone()),
        // LocalStack's default server (Twisted) costs less CPU a request than Hypercorn, but
        // ignores the host part of GATEWAY_LISTEN; the plug-in's binds it (server.py).
        ("GATEWAY_SERVER", "vpclab-twisted".to_owned()),
        ("LOCALSTACK_HOST", gateway),
        ("SQS_ENDPOINT_STRATEGY", "path".to_owned()),
        ("DNS_ADDRESS", "0".to_owned()),
        ("SKIP_SSL_CERT_DOWNLOAD", "1".to_owned()),
        ("DISABLE_EVENTS", "1".to_owned()),
        ("DYNAMODB_LOCAL_PORT", ports.dynamodb.to_string()),
        ("DYNAMODB_IN_MEMORY", "1".to_owned()),
        // DynamoDB Local's JVM (the only one LocalStack starts) serves a test's few hundred
        // requests: the quick compiler alone and one GC thread halve its CPU (5.1 s -> 2.9 s
        // over seed 004's four processing tests; BENCHMARKS.md, eighth pass).
        (
            "JDK_JAVA_OPTIONS",
            "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CICompilerCount=1".to_owned(),
        ),
        // AWS long-polls SQS for a mapping, so messages reach functions within tens of
        // milliseconds; the plug-in makes LocalStack's SQS poller do so for a mapping without
        // a batching window (fidelity.py). LocalStack waits 1 s after a batch, backs off up to
        // 10 s after an empty poll and up to 60 s after a failed one (a busy emulator's
        // timeout): shorter pauses here, which pollers that short-poll (streams, SQS with a
        // batching window) pay for when idle: one such mapping used 9% of a core at these
        // settings, 14% with a 0.1 s empty back-off.
        // LocalStack's first back-off after a batch is 0.5 to 1.5 s whatever is set here.
        (
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC",
            "0.1".to_owned(),
        ),
        (
            "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC",
            "0.5".to_owned(),
        ),
        (
            "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_ERROR_SEC",
            "5".to_owned(),
        ),
        ("LAMBDA_RUNTIME_EXECUTOR", "vpclab".to_owned()),
        ("VPCLAB_EXECUTOR_URL", executor.url.clone()),
        ("VPCLAB_EXECUTOR_TOKEN", executor.token.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_and_its_self_references_are_on_loopback() {
        let executor = ExecutorRegistration {
            url: "http://127.0.0.1:9".into(),
            token: "t".into(),
        };
        let ports = Ports {
            gateway: 4510,
            dynamodb: 4511,
        };
        let env = localstack_env(ports, &executor);
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("GATEWAY_LISTEN"), Some("127.0.0.1:4510"));
        assert_eq!(get("LOCALSTACK_HOST"), Some("127.0.0.1:4510"));
        assert_eq!(get("VPCLAB_EXECUTOR_URL"), Some("http://127.0.0.1:9"));
        assert_eq!(get("LAMBDA_RUNTIME_EXECUTOR"), Some("vpclab"));
    }
}
