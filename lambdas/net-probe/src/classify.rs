//! Error classification: from an error and its causes to the `error_kind` of a result.

use std::{error::Error as StdError, io};

/// What kind of failure a probe met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// Nothing within the time limit.
    Timeout,
    /// The name could not be resolved.
    Dns,
    /// The connection was refused (RST, or ICMP port unreachable).
    Refused,
    /// No route: host or network unreachable.
    Unreachable,
    /// The connection was reset or aborted.
    Reset,
    /// Another failure to connect.
    Connect,
    /// The TLS handshake failed, or no trust store could be loaded.
    Tls,
    /// The service answered with an error.
    Service,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The `error_kind` value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Dns => "dns",
            Self::Refused => "refused",
            Self::Unreachable => "unreachable",
            Self::Reset => "reset",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Service => "service",
            Self::Other => "other",
        }
    }

    /// The kind in the coarser vocabulary of the HTTP probes: refused, unreachable and reset
    /// are all `connect`.
    pub(crate) fn coarse(self) -> Self {
        match self {
            Self::Refused | Self::Unreachable | Self::Reset => Self::Connect,
            kind => kind,
        }
    }
}

/// One error of a chain: its I/O error kind, if it is an I/O error, and its message.
pub(crate) type Link = (Option<io::ErrorKind>, String);

/// The error and its causes.
pub(crate) fn chain_of(error: &(dyn StdError + 'static)) -> Vec<Link> {
    let mut chain = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let kind = error.downcast_ref::<io::Error>().map(io::Error::kind);
        chain.push((kind, error.to_string()));
        next = error.source();
    }
    chain
}

/// The messages of a chain on one line, leaving out a cause whose text its parent already
/// shows.
pub(crate) fn full_message(chain: &[Link]) -> String {
    let mut message = String::new();
    for (_, text) in chain {
        if text.is_empty() || message.contains(text.as_str()) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(text);
    }
    message
}

/// Classifies a failure from its chain. `timed_out` and `connecting` are what the library
/// reporting the error knows (e.g. reqwest's `is_timeout()` and `is_connect()`); the rest comes
/// from I/O error kinds and, where a library leaves nothing else (DNS, TLS), the messages.
pub(crate) fn classify(timed_out: bool, connecting: bool, chain: &[Link]) -> ErrorKind {
    use io::ErrorKind as Io;
    let has_kind = |kinds: &[Io]| {
        chain
            .iter()
            .any(|(kind, _)| kind.is_some_and(|kind| kinds.contains(&kind)))
    };
    let mentions = |needles: &[&str]| {
        chain.iter().any(|(_, message)| {
            let message = message.to_ascii_lowercase();
            needles.iter().any(|needle| message.contains(needle))
        })
    };
    if timed_out || has_kind(&[Io::TimedOut]) {
        ErrorKind::Timeout
    } else if mentions(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "temporary failure in name resolution",
        "no address associated with hostname",
    ]) {
        ErrorKind::Dns
    } else if has_kind(&[Io::ConnectionRefused]) {
        ErrorKind::Refused
    } else if has_kind(&[Io::HostUnreachable, Io::NetworkUnreachable]) {
        ErrorKind::Unreachable
    } else if has_kind(&[Io::ConnectionReset, Io::ConnectionAborted]) {
        ErrorKind::Reset
    } else if mentions(&["certificate", "tls", "handshake", "alert"]) {
        ErrorKind::Tls
    } else if connecting || has_kind(&[Io::AddrNotAvailable, Io::NotConnected]) {
        ErrorKind::Connect
    } else {
        ErrorKind::Other
    }
}

/// Classifies an I/O error and its causes.
pub(crate) fn classify_io(error: &io::Error) -> (ErrorKind, String) {
    let chain = chain_of(error);
    (classify(false, false, &chain), full_message(&chain))
}

/// Classifies a reqwest error, in the coarse vocabulary.
pub(crate) fn classify_reqwest(error: &reqwest::Error) -> (ErrorKind, String) {
    let chain = chain_of(error);
    let kind = classify(error.is_timeout(), error.is_connect(), &chain).coarse();
    (kind, full_message(&chain))
}

/// Classifies an AWS SDK error, in the coarse vocabulary.
pub(crate) fn classify_sdk<E, R>(
    error: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> (ErrorKind, String)
where
    E: StdError + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_dynamodb::error::SdkError;
    let mut message = full_message(&chain_of(error));
    if let SdkError::ServiceError(failure) = error {
        let code = failure.err().code().unwrap_or("unknown code");
        let text = failure.err().message().unwrap_or_default();
        message = format!("{message}: {code}: {text}");
    }
    let kind = match error {
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        SdkError::DispatchFailure(failure) => match failure.as_connector_error() {
            Some(connector) if connector.is_timeout() => ErrorKind::Timeout,
            Some(connector) => classify(false, connector.is_io(), &chain_of(connector)).coarse(),
            None => ErrorKind::Other,
        },
        SdkError::ServiceError(_) => ErrorKind::Service,
        _ => classify(false, false, &chain_of(error)).coarse(),
    };
    (kind, message)
}

#[cfg(test)]
mod tests {
    use std::io::{Error as IoError, ErrorKind as Io};

    use aws_sdk_dynamodb::{
        error::{ConnectorError, ErrorMetadata, SdkError},
        operation::list_tables::ListTablesError,
    };

    use super::*;

    fn kind_of(error: &IoError) -> ErrorKind {
        classify_io(error).0
    }

    #[test]
    fn io_kinds() {
        assert_eq!(kind_of(&Io::TimedOut.into()), ErrorKind::Timeout);
        assert_eq!(kind_of(&Io::ConnectionRefused.into()), ErrorKind::Refused);
        assert_eq!(kind_of(&Io::HostUnreachable.into()), ErrorKind::Unreachable);
        assert_eq!(
            kind_of(&Io::NetworkUnreachable.into()),
            ErrorKind::Unreachable
        );
        assert_eq!(kind_of(&Io::ConnectionReset.into()), ErrorKind::Reset);
        assert_eq!(kind_of(&Io::AddrNotAvailable.into()), ErrorKind::Connect);
        assert_eq!(
            kind_of(&IoError::new(Io::InvalidInput, "invalid socket address")),
            ErrorKind::Other
        );
    }

    #[test]
    fn dns_from_getaddrinfo_messages() {
        // What std reports when getaddrinfo fails, wrapped as hyper-util does.
        let gai = IoError::other("failed to lookup address information: Name or service not known");
        assert_eq!(kind_of(&gai), ErrorKind::Dns);
        let wrapped = IoError::other(IoError::other(
            "failed to lookup address information: Temporary failure in name resolution",
        ));
        assert_eq!(kind_of(&wrapped), ErrorKind::Dns);
        assert_eq!(
            classify(false, true, &[(None, "dns error".into())]),
            ErrorKind::Dns
        );
    }

    #[test]
    fn tls_from_rustls_messages() {
        let bad_cert = IoError::new(Io::InvalidData, "invalid peer certificate: UnknownIssuer");
        assert_eq!(kind_of(&bad_cert), ErrorKind::Tls);
        assert_eq!(
            classify(
                false,
                true,
                &[(None, "received fatal alert: HandshakeFailure".into())]
            ),
            ErrorKind::Tls
        );
    }

    #[test]
    fn timeout_wins_and_flags_count() {
        let chain = [(Some(Io::ConnectionRefused), "refused".to_owned())];
        assert_eq!(classify(true, true, &chain), ErrorKind::Timeout);
        assert_eq!(classify(false, true, &[]), ErrorKind::Connect);
        assert_eq!(classify(false, false, &[]), ErrorKind::Other);
    }

    #[test]
    fn coarse_vocabulary() {
        assert_eq!(ErrorKind::Refused.coarse(), ErrorKind::Connect);
        assert_eq!(ErrorKind::Unreachable.coarse(), ErrorKind::Connect);
        assert_eq!(ErrorKind::Reset.coarse(), ErrorKind::Connect);
        assert_eq!(ErrorKind::Timeout.coarse(), ErrorKind::Timeout);
        assert_eq!(ErrorKind::Dns.coarse(), ErrorKind::Dns);
        assert_eq!(ErrorKind::Tls.coarse(), ErrorKind::Tls);
    }

    #[test]
    fn full_message_leaves_out_repeats() {
        let chain = vec![
            (
                None,
                "error sending request for url (http://10.0.0.1/)".to_owned(),
            ),
            (None, "client error (Connect)".to_owned()),
            (
                Some(Io::ConnectionRefused),
                "Connection refused (os error 111)".to_owned(),
            ),
            (None, "client error (Connect)".to_owned()),
        ];
        assert_eq!(
            full_message(&chain),
            "error sending request for url (http://10.0.0.1/): client error (Connect): \
             Connection refused (os error 111)"
        );
    }

    #[test]
    fn sdk_errors() {
        let timeout: SdkError<ListTablesError, ()> = SdkError::timeout_error("operation timed out");
        assert_eq!(classify_sdk(&timeout).0, ErrorKind::Timeout);
        let refused: SdkError<ListTablesError, ()> = SdkError::dispatch_failure(
            ConnectorError::io(IoError::from(Io::ConnectionRefused).into()),
        );
        assert_eq!(classify_sdk(&refused).0, ErrorKind::Connect);
        let dns: SdkError<ListTablesError, ()> = SdkError::dispatch_failure(ConnectorError::io(
            IoError::other("dns error: failed to lookup address information").into(),
        ));
        assert_eq!(classify_sdk(&dns).0, ErrorKind::Dns);
        let connect_timeout: SdkError<ListTablesError, ()> =
            SdkError::dispatch_failure(ConnectorError::timeout("connect timed out".into()));
        assert_eq!(classify_sdk(&connect_timeout).0, ErrorKind::Timeout);
        let service: SdkError<ListTablesError, ()> = SdkError::service_error(
            ListTablesError::generic(
                ErrorMetadata::builder()
                    .code("UnrecognizedClientException")
                    .message("The security token included in the request is invalid.")
                    .build(),
            ),
            (),
        );
        let (kind, message) = classify_sdk(&service);
        assert_eq!(kind, ErrorKind::Service);
        assert!(message.contains("UnrecognizedClientException"), "{message}");
        assert!(message.contains("token included"), "{message}");
    }

    #[tokio::test]
    async fn refused_reqwest_error_is_connect() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        let (kind, message) = classify_reqwest(&error);
        assert_eq!(kind, ErrorKind::Connect, "{message}");
        assert!(message.contains("refused"), "{message}");
    }
}
