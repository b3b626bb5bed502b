//! `vpclab bench`, network part: how long the fabric takes to realise each scenario's
//! topology, what a request pays for crossing it, and a Lambda's cold start in a subnet.

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vpclab_harness::{Host, World, fabric::addressing};

/// Round trips per latency measurement.
const ROUND_TRIPS: usize = 200;

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Rows of the table: what was measured, and its value.
type Rows = Vec<(String, String)>;

/// Runs the measurements and prints their table.
pub(crate) async fn run(scenarios_dir: &Path) -> anyhow::Result<()> {
    let mut world = World::start().await?;
    let mut rows = realise(&mut world, scenarios_dir).await?;
    rows.extend(latency(&world).await?);
    rows.extend(vpc_invokes(&world).await?);
    let started = Instant::now();
    world.shutdown().await?;
    rows.push((
        "teardown of both stacks and the fabric".into(),
        ms(started.elapsed()),
    ));

    println!("\n| fabric measurement | value |\n|---|---|");
    for (what, value) in rows {
        println!("| {what} | {value} |");
    }
    Ok(())
}

/// Deploys getmyip (PRIVATE) and lambda-networking: how long the fabric took to realise each.
async fn realise(world: &mut World, scenarios_dir: &Path) -> anyhow::Result<Rows> {
    let mut rows = Rows::new();
    let started = Instant::now();
    world
        .deploy_template(
            "getmyip",
            scenarios_dir.join("getmyip/template.yaml"),
            &[("Mode", "PRIVATE")],
        )
        .await?;
    let deploy = started.elapsed();
    world
        .deploy_template(
            "net",
            scenarios_dir.join("lambda-networking/template.yaml"),
            &[],
        )
        .await?;
    let syncs = world.fabric().sync_durations();
    rows.push((
        "realise getmyip (1 VPC, 2 subnets, IGW, NAT; EC2 read included)".into(),
        ms(syncs[0]),
    ));
    rows.push((
        "realise lambda-networking (3 subnets, IGW, NAT, DynamoDB endpoint)".into(),
        ms(syncs[1]),
    ));
    rows.push((
        "deploy of getmyip PRIVATE, realise included".into(),
        ms(deploy),
    ));

    Ok(rows)
}

/// Round trips from hosts in lambda-networking's subnets: inside one host, across subnets,
/// through the NAT gateway and internet gateway.
async fn latency(world: &World) -> anyhow::Result<Rows> {
    let outputs = world.outputs();
    let net = &outputs["net"];
    let isolated = &net["IsolatedSubnet"];
    let private_subnet = &net["NatSubnet"];
    let mut rows = Rows::new();

    let fabric = world.fabric();
    // Both hosts land in the VPC's default group, which admits its own members.
    let server = fabric.add_host(isolated, &[], "bench: TCP server").await?;
    fabric.serve_greeting(&server, 7000, "hi\n")?;
    fabric.serve_greeting(&server, 7001, "hi\n")?;
    let client = fabric
        .add_host(private_subnet, &[], "bench: client")
        .await?;

    let loopback = round_trips(
        world,
        &server,
        SocketAddr::from((server.address, 7001)),
        false,
    )
    .await;
    let across = round_trips(
        world,
        &client,
        SocketAddr::from((server.address, 7001)),
        false,
    )
    .await;
    let internet = round_trips(
        world,
        &client,
        SocketAddr::from((addressing::IFCONFIG_ME, 80)),
        true,
    )
    .await;
    match (loopback, across, internet) {
        (Ok(loopback), Ok(across), Ok(internet)) => {
            rows.push((
                "TCP connect + reply, loopback inside one host (median of 200)".into(),
                ms(loopback),
            ));
            rows.push((
                "same across subnets: veth, bridge, router, bridge, veth (median)".into(),
                ms(across),
            ));
            rows.push((
                "added by the VPC path".into(),
                ms(across.saturating_sub(loopback)),
            ));
            rows.push((
                "HTTP GET ifconfig.me through NAT gateway + IGW (median)".into(),
                ms(internet),
            ));
            rows.push((
                "added by NAT + IGW path vs loopback".into(),
                ms(internet.saturating_sub(loopback)),
            ));
        }
        (a, b, c) => {
            rows.push((
                "latency".into(),
                format!("not measured: {:?} {:?} {:?}", a.err(), b.err(), c.err()),
            ));
        }
    }

    Ok(rows)
}

/// A VPC function's cold invoke, then warm ones.
async fn vpc_invokes(world: &World) -> anyhow::Result<Rows> {
    let outputs = world.outputs();
    let net = &outputs["net"];
    let mut rows = Rows::new();
    let function = net["IsolatedProbe"].clone();
    let lambda = aws_sdk_lambda::Client::new(world.sdk_config());
    let payload = r#"{"probe":"resolve","name":"ifconfig.me"}"#;
    let mut samples = Vec::new();
    for _ in 0..6 {
        let started = Instant::now();
        let result = lambda
            .invoke()
            .function_name(&function)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_lambda::error::DisplayErrorContext(e)))?;
        anyhow::ensure!(
            result.function_error().is_none(),
            "invoke failed: {:?}",
            result.payload()
        );
        samples.push(started.elapsed());
    }
    rows.push((
        "VPC Lambda invoke, cold: ENI + namespace + process in its subnet".into(),
        ms(samples[0]),
    ));
    rows.push((
        "VPC Lambda invoke, warm (median of 5)".into(),
        ms(median(samples[1..].to_vec())),
    ));

    Ok(rows)
}

/// Median time of a TCP connect plus the first bytes of the answer, from `host`.
async fn round_trips(
    world: &World,
    host: &Host,
    to: SocketAddr,
    http: bool,
) -> anyhow::Result<Duration> {
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        let mut stream = world.fabric().connect_from(host, to).await?;
        if http {
            stream
                .write_all(b"GET /ip HTTP/1.1\r\nHost: ifconfig.me\r\nConnection: close\r\n\r\n")
                .await?;
        }
        let mut buffer = [0_u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .context("no answer within 5 s")??;
        anyhow::ensure!(read > 0, "the server closed without answering");
        samples.push(started.elapsed());
    }
    Ok(median(samples))
}
