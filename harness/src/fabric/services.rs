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

/// An AWS service endpoint: terminates TLS with a certificate for the requested name and
/// passes the bytes to the emulator, which routes by the request's signature and host.
pub(crate) fn service_endpoint(
    listener: TcpListener,
    tls: TlsAcceptor,
    emulator: SocketAddr,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                let Ok(mut client) = tls.accept(stream).await else {
                    return;
                };
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
