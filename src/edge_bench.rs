//! `vpclab bench`, edge part: what a call pays for the execute-api front doors (TLS at the
//! door, policy evaluation, proxy to the emulator) against the same call made directly to the
//! emulator's data plane, in one run. Both APIs use a MOCK integration, so no function runs.

use std::{
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, client::conn::http1};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use vpclab_harness::{HostKind, World, fabric::addressing};

/// Calls per measurement.
const CALLS: usize = 200;

/// Deploys the bench APIs and measures both doors against direct calls.
pub(crate) async fn run() -> anyhow::Result<()> {
    let mut world = World::start().await?;
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/edge_bench.yaml");
    world.deploy_template("edge-bench", &template, &[]).await?;
    let outputs = &world.outputs()["edge-bench"];
    let (private, public) = (&outputs["PrivateApiId"], &outputs["PublicApiId"]);
    let region = world.region().to_owned();
    let tls = connector(&world)?;

    let endpoint = endpoint_address(&world, &outputs["EndpointId"]).await?;
    let client = world
        .fabric()
        .add_host(&outputs["SubnetId"], &[], "bench: client in the VPC")
        .await?;
    let private_host = format!("{private}.execute-api.{region}.amazonaws.com");
    let stream = world.fabric().connect_from(&client, endpoint).await?;
    let stream = tls
        .connect(ServerName::try_from(private_host.clone())?, stream)
        .await?;
    let through_endpoint = timed(stream, &private_host, "/prod/")
        .await
        .context("calls through the execute-api endpoint")?;

    let public_host = format!("{public}.execute-api.{region}.amazonaws.com");
    let door = SocketAddr::from((addressing::AWS_SERVICES, 443));
    let stream = world.fabric().connect_from_internet(door).await?;
    let stream = tls
        .connect(ServerName::try_from(public_host.clone())?, stream)
        .await?;
    let from_internet = timed(stream, &public_host, "/prod/")
        .await
        .context("calls from the internet")?;

    let emulator = world
        .endpoint_url()
        .trim_start_matches("http://")
        .to_owned();
    let direct_private = direct(&emulator, private)
        .await
        .context("direct calls of the PRIVATE API")?;
    let direct_public = direct(&emulator, public)
        .await
        .context("direct calls of the REGIONAL API")?;
    world.shutdown().await?;

    print_table(
        [&through_endpoint, &direct_private],
        [&from_internet, &direct_public],
    );
    Ok(())
}

/// Prints each door's figures beside its direct call's, then what the edge added.
fn print_table(private: [&[Duration]; 2], public: [&[Duration]; 2]) {
    let [through_endpoint, direct_private] = private;
    let [from_internet, direct_public] = public;
    println!(
        "\n| edge measurement ({CALLS} calls each, one connection) | p50 | p95 |\n|---|---|---|"
    );
    for (what, samples) in [
        (
            "PRIVATE API through its execute-api endpoint (TLS, endpoint + API policy, proxy)",
            through_endpoint,
        ),
        (
            "the same API, directly on the emulator's data plane",
            direct_private,
        ),
        (
            "REGIONAL API with a policy, from the internet (TLS, API policy, proxy)",
            from_internet,
        ),
        (
            "the same API, directly on the emulator's data plane",
            direct_public,
        ),
    ] {
        println!(
            "| {what} | {} | {} |",
            ms(percentile(samples, 0.5)),
            ms(percentile(samples, 0.95))
        );
    }
    for (what, door, direct) in [
        ("PRIVATE, endpoint", through_endpoint, direct_private),
        ("REGIONAL, internet", from_internet, direct_public),
    ] {
        let added = percentile(door, 0.5).saturating_sub(percentile(direct, 0.5));
        let ratio = percentile(door, 0.5).as_secs_f64() / percentile(direct, 0.5).as_secs_f64();
        println!(
            "| added by the edge at p50 ({what}) | {} | ratio {ratio:.2} |",
            ms(added)
        );
    }
}

/// A TLS client that trusts the fabric's CA.
pub(crate) fn connector(world: &World) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(world.fabric().ca_bundle())? {
        roots.add(certificate?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The address of the endpoint's ENI in the fabric.
pub(crate) async fn endpoint_address(world: &World, vpce: &str) -> anyhow::Result<SocketAddr> {
    let hosts = world.fabric().hosts().await;
    let host = hosts
        .iter()
        .find(|h| matches!(&h.kind, HostKind::Endpoint { id } if id == vpce))
        .with_context(|| format!("endpoint {vpce} has no ENI in the fabric"))?;
    Ok(SocketAddr::from((host.address, 443)))
}

/// `CALLS` direct calls of `api` on the emulator's data plane, each on a connection of its
/// own (the emulator closes every connection after one answer; the edge's own connection to
/// it does the same).
async fn direct(emulator: &str, api: &str) -> anyhow::Result<Vec<Duration>> {
    let path = format!("/_aws/execute-api/{api}/prod/");
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        let stream = tokio::net::TcpStream::connect(emulator).await?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("bench connection ended: {e:?}");
            }
        });
        call(&mut sender, emulator, &path).await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(samples)
}

/// One `GET path` on `host`; the answer must be 200.
async fn call(
    sender: &mut http1::SendRequest<Empty<Bytes>>,
    host: &str,
    path: &str,
) -> anyhow::Result<()> {
    let request = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != 200 {
        bail!(
            "GET {path} on {host} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Times `CALLS` sequential `GET path` on one connection; every answer must be 200.
pub(crate) async fn timed<S>(stream: S, host: &str, path: &str) -> anyhow::Result<Vec<Duration>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("bench connection ended: {e:?}");
        }
    });
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let request = Request::get(path)
            .header("host", host)
            .body(Empty::<Bytes>::new())?;
        let started = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        samples.push(started.elapsed());
        if status != 200 {
            bail!(
                "GET {path} on {host} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    samples.sort();
    Ok(samples)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
