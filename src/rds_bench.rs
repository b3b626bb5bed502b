//! `vpclab bench`, seed 001 part: how long an RDS instance takes from `CreateDBInstance` to
//! accepting connections (real RDS: 5 to 10 minutes), and `GET /products` from the internet
//! client (front door -> emulator -> Lambda in the VPC -> PostgreSQL over TLS), 200 calls on
//! one connection.

use std::{net::SocketAddr, path::Path};

use anyhow::Context as _;
use rustls::pki_types::ServerName;
use vpclab_harness::{World, fabric::addressing};

use crate::edge_bench::{connector, ms, percentile, timed};

/// Deploys seed 001 (PUBLIC) and prints its table.
pub(crate) async fn run(scenarios_dir: &Path) -> anyhow::Result<()> {
    let mut world = World::start().await?;
    let template = scenarios_dir.join("api-vpc-rds/template.yaml");
    let started = std::time::Instant::now();
    world
        .deploy_template("api-vpc-rds", &template, &[("Mode", "PUBLIC")])
        .await?;
    let deploy = started.elapsed();
    let outputs = world.outputs()["api-vpc-rds"].clone();
    let ready = vpclab_harness::database_start_times()
        .last()
        .map(|(_, took)| *took)
        .context("the instance's start time")?;
    let host = format!(
        "{}.execute-api.{}.amazonaws.com",
        outputs["ApiId"],
        world.region()
    );
    let door = SocketAddr::from((addressing::AWS_SERVICES, 443));
    let stream = world.fabric().connect_from_internet(door).await?;
    let stream = connector(&world)?
        .connect(ServerName::try_from(host.clone())?, stream)
        .await?;
    let calls = timed(stream, &host, "/prod/products")
        .await
        .context("GET /products from the internet")?;
    world.shutdown().await?;
    println!("\n| seed 001 measurement | value |\n|---|---|");
    println!(
        "| deploy of api-vpc-rds (PUBLIC; Lambda build up to date) | {} |",
        ms(deploy)
    );
    println!(
        "| RDS instance: `CreateDBInstance` to accepting connections (initdb, TLS, server start) | {} |",
        ms(ready)
    );
    println!(
        "| GET /products from the internet, p50 / p95 (200 calls, one connection) | {} / {} |",
        ms(percentile(&calls, 0.5)),
        ms(percentile(&calls, 0.95))
    );
    Ok(())
}
