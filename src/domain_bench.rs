//! `vpclab bench`, seed 004's front: messages POSTed on the private custom domain from the
//! test instance's namespace, on one TLS connection to the address the VPC's resolver gives the
//! domain, as the seed's `curl` does but without a process per message.

use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, client::conn::http1};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use vpclab_harness::{HostKind, World};

use crate::{bench::now_ms, edge_bench::connector};

/// POSTs `count` `{"Insert":"DynamoDB"}` on `url` from instance `instance`; returns each
/// message's SQS id and when it was sent (ms since the epoch).
pub(crate) async fn post_all(
    world: &World,
    url: &str,
    instance: &str,
    count: usize,
) -> anyhow::Result<Vec<(String, u128)>> {
    let (domain, path) = url
        .strip_prefix("https://")
        .and_then(|rest| rest.split_once('/'))
        .with_context(|| format!("{url} is not https://<domain>/<path>"))?;
    let host = world
        .fabric()
        .hosts()
        .await
        .into_iter()
        .find(|h| matches!(&h.kind, HostKind::Instance { id, .. } if id == instance))
        .with_context(|| format!("instance {instance} is no host of the fabric"))?;
    let address = world
        .fabric()
        .resolve(Some(&host.vpc_id), domain)
        .and_then(|a| a.first().copied())
        .with_context(|| format!("{domain} does not resolve in {}", host.vpc_id))?;
    let stream = world
        .fabric()
        .connect_from(&host, (address, 443).into())
        .await?;
    let stream = connector(world)?
        .connect(ServerName::try_from(domain.to_owned())?, stream)
        .await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("bench connection ended: {e:?}");
        }
    });
    let mut sent = Vec::with_capacity(count);
    for _ in 0..count {
        let request = Request::post(format!("/{path}"))
            .header("host", domain)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"Insert":"DynamoDB"}"#)))?;
        let at = now_ms();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != 200 {
            bail!(
                "POST {url} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let answer: serde_json::Value = serde_json::from_slice(&body)?;
        let id = answer["SendMessageResponse"]["SendMessageResult"]["MessageId"]
            .as_str()
            .with_context(|| format!("no MessageId in {answer}"))?;
        sent.push((id.to_owned(), at));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(sent)
}
