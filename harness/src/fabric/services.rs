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
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::TlsAcceptor;

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

/// An AWS service endpoint: terminates TLS with a certificate for the requested name and
/// passes the bytes to the emulator, which routes by the request's signature and host. A VPC
/// endpoint (`names`) only takes its own service's names.
pub(crate) fn service_endpoint(
    listener: TcpListener,
    tls: TlsAcceptor,
    emulator: SocketAddr,
    names: Option<ServiceNames>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tls = tls.clone();
            let names = names.clone();
            tokio::spawn(async move {
                let Ok(mut client) = tls.accept(stream).await else {
                    return;
                };
                let requested = client.get_ref().1.server_name().map(str::to_owned);
                if let (Some(names), Some(requested)) = (&names, requested)
                    && !names.covers(&requested)
                {
                    let _ = client
                        .write_all(b"HTTP/1.1 421 Misdirected Request\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                }
                match TcpStream::connect(emulator).await {
                    Ok(mut upstream) => {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                    Err(e) => {
                        tracing::warn!("vpclab: service endpoint cannot reach the emulator: {e}");
                        let _ = client
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                            .await;
                    }
                }
            });
        }
    })
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
