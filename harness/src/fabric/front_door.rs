//! The hook through which the layer above serves `execute-api` names: the fabric terminates
//! TLS where the packets arrive (the public regional endpoint on the sealed internet, or an
//! execute-api interface endpoint's ENI) and hands the stream to a [`FrontDoor`], with where it
//! arrived and from whom. The fabric does not know what an API is; the edge does.

use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc};

/// A TLS stream the fabric accepted, ready for HTTP.
pub type DoorStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// Where a connection to an `execute-api` name arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Door {
    /// The public regional endpoint, on the sealed internet.
    Internet,
    /// An ENI of an execute-api interface endpoint.
    Endpoint {
        /// `vpce-…`
        id: String,
        /// The endpoint's VPC.
        vpc_id: String,
        /// The region it serves (its VPC's).
        region: String,
    },
}

/// One connection at a door.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The door it came through.
    pub door: Door,
    /// The caller's address as the door sees it (a public address on the internet, the
    /// caller's private address at an endpoint).
    pub peer: SocketAddr,
    /// The TLS server name the client asked for.
    pub server_name: Option<String>,
}

/// A boxed future of a served connection.
pub type Served = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves the `execute-api` connections the fabric accepts.
pub trait FrontDoor: Send + Sync + 'static {
    /// Serves one connection until it closes.
    fn serve(self: Arc<Self>, stream: DoorStream, arrival: Arrival) -> Served;

    /// The `{api}-{vpce}` names to publish: each API id with an endpoint it lists in its
    /// `VpcEndpointIds`.
    fn endpoint_aliases(&self) -> Vec<(String, String)>;
}

/// Whether a TLS server name is an `execute-api` name of the public regional endpoint
/// (`{api}.execute-api.{region}.amazonaws.com`, `{api}-{vpce}.execute-api...`), which the
/// internet's service address hands to the front door instead of the emulator.
pub(crate) fn is_execute_api_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains(".execute-api.")
        && name.ends_with(".amazonaws.com")
        && !name.ends_with(".vpce.amazonaws.com")
}

#[cfg(test)]
mod tests {
    use super::is_execute_api_name;

    #[test]
    fn execute_api_names_are_told_apart_from_other_services() {
        assert!(is_execute_api_name(
            "abc123.execute-api.us-east-1.amazonaws.com"
        ));
        assert!(is_execute_api_name(
            "abc123-vpce-0a1b.execute-api.eu-west-2.amazonaws.com"
        ));
        assert!(!is_execute_api_name("sqs.us-east-1.amazonaws.com"));
        assert!(!is_execute_api_name("apigateway.us-east-1.amazonaws.com"));
        assert!(!is_execute_api_name(
            "vpce-0a1b-1234.execute-api.us-east-1.vpce.amazonaws.com"
        ));
    }
}
