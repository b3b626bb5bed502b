//! The services that live on the fabric's networks: `ifconfig.me`, the AWS service endpoints
//! (TLS terminated with the fabric's CA, then passed to the emulator), and plain TCP services
//! on hosts. Each is a tokio task over a socket bound inside its namespace.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};
use tokio_rustls::TlsAcceptor;

use super::{
    front_door::{Arrival, Door, DoorStream, FrontDoor, is_execute_api_name},
    pass_through,
};

/// `ifconfig.me`: `/ip` (and `/`) answers with the caller's source address, over HTTP or
/// HTTPS depending on `tls`.
pub(crate) fn ifconfig(listener: TcpListener, tls: Option<TlsAcceptor>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve_ifconfig(stream, peer).await;
                        }
                    }
                    None => serve_ifconfig(stream, peer).await,
                }
            });
        }
    })
}

async fn serve_ifconfig<S>(stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| async move {
        let response = match request.uri().path() {
            "/" | "/ip" => Response::builder()
                .header("content-type", "text/plain; charset=utf-8")
                .body(Full::new(Bytes::from(peer.ip().to_string()))),
            _ => Response::builder()
                .status(404)
                .body(Full::new(Bytes::from_static(b"not found\n"))),
        };
        Ok::<_, Infallible>(response.unwrap_or_default())
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A document served over HTTPS at `path` (`ip-ranges.json`); other paths answer 404.
pub(crate) fn document(
    listener: TcpListener,
    tls: TlsAcceptor,
    path: &'static str,
    body: Bytes,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (tls, body) = (tls.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(stream) = tls.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request: Request<Incoming>| {
                    let response = if request.uri().path() == path {
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body.clone()))
                    } else {
                        Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"not found\n")))
                    };
                    async move { Ok::<_, Infallible>(response.unwrap_or_default()) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// The names a VPC endpoint answers for: its service's regional names and its own
/// `vpce-…` names. A request for another service's name is refused, as AWS does (the
/// endpoint's certificate does not cover it).
#[derive(Debug, Clone)]
pub(crate) struct ServiceNames {
    public: String,
    endpoint: String,
}

impl ServiceNames {
    /// The names of `service` (`sqs`, `dynamodb`, ...) in `region`.
    pub(crate) fn new(service: &str, region: &str) -> Self {
        Self {
            public: format!("{service}.{region}.amazonaws.com"),
            endpoint: format!(".{service}.{region}.vpce.amazonaws.com"),
        }
    }

    /// Whether a TLS server name (SNI) belongs to the service.
    pub(crate) fn covers(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name == self.public
            || name.ends_with(&format!(".{}", self.public))
            || name.ends_with(&self.endpoint)
    }
}

/// What a service endpoint answers for, and where `execute-api` connections go.
#[derive(Clone, Default)]
pub(crate) struct Routing {
    /// A VPC endpoint's names (`None`: the internet's endpoint, every service).
    pub(crate) names: Option<ServiceNames>,
    /// The front door for `execute-api` names, and the door this endpoint is: at an
    /// execute-api interface endpoint every connection goes there; on the internet, those
    /// whose server name is an `execute-api` name.
    pub(crate) front_door: Option<(Arc<dyn FrontDoor>, Door)>,
}

impl Routing {
    /// Whether a connection asking for `requested` goes to the front door.
    fn door_for(&self, requested: Option<&str>) -> Option<(Arc<dyn FrontDoor>, Door)> {
        let (front_door, door) = self.front_door.as_ref()?;
        let taken = match door {
            Door::Endpoint { .. } => true,
            Door::Internet => requested.is_some_and(is_execute_api_name),
        };
        taken.then(|| (front_door.clone(), door.clone()))
    }
}

/// An AWS service endpoint: terminates TLS with a certificate for the requested name, then
/// hands `execute-api` connections to the front door and passes the others' requests to the
/// emulator ([`pass_through`]), which routes by the request's signature and host. A VPC
/// endpoint only takes its own service's names.
pub(crate) fn service_endpoint(
    listener: TcpListener,
    tls: TlsAcceptor,
    emulator: SocketAddr,
    routing: Routing,
) -> JoinHandle<()> {
    let upstream = pass_through::upstream();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            // Requests and answers are small writes: without this, Nagle's algorithm and the
            // peer's delayed ACK hold each answer back ~40 ms.
            let _ = stream.set_nodelay(true);
            let (tls, routing, upstream) = (tls.clone(), routing.clone(), upstream.clone());
            tokio::spawn(async move {
                let accepted = tokio::time::timeout(TLS_HANDSHAKE_LIMIT, tls.accept(stream));
                let Ok(Ok(client)) = accepted.await else {
                    return;
                };
                route(client, peer, emulator, &routing, upstream).await;
            });
        }
    })
}

/// How long a client may take to finish its TLS handshake.
const TLS_HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn route(
    mut client: DoorStream,
    peer: SocketAddr,
    emulator: SocketAddr,
    routing: &Routing,
    upstream: pass_through::Upstream,
) {
    let requested = client.get_ref().1.server_name().map(str::to_owned);
    // An execute-api endpoint takes every name (its APIs', private custom domains'): the front
    // door tells them apart. Other endpoints take their own service's names only.
    if let Some((front_door, door)) = routing.door_for(requested.as_deref()) {
        let arrival = Arrival {
            door,
            peer,
            server_name: requested,
        };
        front_door.serve(client, arrival).await;
        return;
    }
    if let (Some(names), Some(requested)) = (&routing.names, &requested)
        && !names.covers(requested)
    {
        let _ = client
            .write_all(b"HTTP/1.1 421 Misdirected Request\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    pass_through::serve(client, emulator, upstream).await;
}

/// A TCP service that greets each client with `greeting` and closes.
pub(crate) fn greeter(listener: TcpListener, greeting: Arc<str>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let greeting = greeting.clone();
            tokio::spawn(async move {
                let _ = stream.write_all(greeting.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::ServiceNames;

    #[test]
    fn an_endpoint_covers_its_own_service_only() {
        let sqs = ServiceNames::new("sqs", "us-east-1");
        assert!(sqs.covers("sqs.us-east-1.amazonaws.com"));
        assert!(sqs.covers("vpce-0abc-1234abcd.sqs.us-east-1.vpce.amazonaws.com"));
        assert!(!sqs.covers("dynamodb.us-east-1.amazonaws.com"));
        assert!(!sqs.covers("sqs.eu-west-1.amazonaws.com"));
    }
}
