//! `vpclab bench`, seed 003 part: the deploy of the three stacks (two regions), what each
//! stack's realisation cost the fabric, and a call through the region A execute-api endpoint
//! from region B over the peering against the same call from inside the endpoint's own VPC, in
//! one run.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::pki_types::ServerName;
use vpclab_harness::{Scenario, StackRequest, World};

use crate::edge_bench::{connector, endpoint_address, ms, percentile, timed};

/// Deploys the scenario's stacks one by one, then measures the two calls.
pub(crate) async fn run(scenario: &Scenario) -> anyhow::Result<()> {
    let mut world = World::start().await?;
    let mut deploys = Vec::new();
    let started = Instant::now();
    for stack in &scenario.stacks {
        let parameters = scenario.parameters_of(stack, &world.outputs())?;
        let one = Instant::now();
        world
            .deploy(StackRequest {
                name: stack.name.clone(),
                template: scenario.dir().join(&stack.template),
                parameters,
                region: stack.region.clone(),
            })
            .await
            .with_context(|| format!("deploying {}", stack.name))?;
        deploys.push((stack.name.clone(), stack.region.clone(), one.elapsed()));
    }
    let total = started.elapsed();
    let syncs = world.fabric().sync_durations();
    let (peered, local) = calls(&world).await?;
    world.shutdown().await?;

    println!("\n| seed 003 measurement | value |\n|---|---|");
    println!(
        "| deploy of the three stacks, in order (Lambda build up to date) | {} |",
        ms(total)
    );
    for ((name, region, took), sync) in deploys.iter().zip(&syncs) {
        println!(
            "| stack {name} ({}): deploy, of which the fabric's realisation | {} ({}) |",
            region.as_deref().unwrap_or("home"),
            ms(*took),
            ms(*sync)
        );
    }
    for (what, samples) in [
        ("from region B over the peering", &peered),
        ("from inside the endpoint's VPC (region A)", &local),
    ] {
        println!(
            "| call through the region A endpoint {what}, p50 / p95 (200 calls, one connection) | {} / {} |",
            ms(percentile(samples, 0.5)),
            ms(percentile(samples, 0.95))
        );
    }
    let ratio = percentile(&peered, 0.5).as_secs_f64() / percentile(&local, 0.5).as_secs_f64();
    println!("| cross-region / same-VPC at p50 | ratio {ratio:.2} |");
    Ok(())
}

/// The API's `GET /{stage}/hello`, timed from a host in the client VPC (region B) and from a
/// host in the API's own VPC, both to one ENI of the region A endpoint.
async fn calls(world: &World) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let api = &world.outputs()["api-regionA"];
    let client_region = world
        .stack("client-regionB")
        .context("the client stack")?
        .region()
        .to_owned();
    let endpoint = endpoint_address(world, &api["VpcEndpointId"]).await?;
    let topology = world.fabric().topology().await;
    let client_subnet = topology
        .subnets
        .iter()
        .find(|s| topology.region_of(&s.vpc_id) == client_region)
        .context("a subnet of the client VPC")?;
    let api_subnet = api["ApiSubnetIds"]
        .split(',')
        .next()
        .context("a subnet of the API's VPC")?;
    let host = format!(
        "{}.execute-api.{}.amazonaws.com",
        api["APIGWID"], api["Region"]
    );
    let path = format!("/{}/hello", api["StageName"]);
    let mut samples = Vec::new();
    for (subnet, what) in [
        (client_subnet.id.as_str(), "bench: client in region B"),
        (api_subnet, "bench: client in the API's VPC"),
    ] {
        let client = world.fabric().add_host(subnet, &[], what).await?;
        let stream = world.fabric().connect_from(&client, endpoint).await?;
        let stream = connector(world)?
            .connect(ServerName::try_from(host.clone())?, stream)
            .await?;
        samples.push(
            timed(stream, &host, &path)
                .await
                .with_context(|| what.to_owned())?,
        );
    }
    let local = samples.pop().context("same-VPC samples")?;
    let peered = samples.pop().context("cross-region samples")?;
    Ok((peered, local))
}
