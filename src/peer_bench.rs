//! `vpclab bench --only peer` (issue 14): vpclab's engine against LocalStack's own
//! CloudFormation, deploying the same plain template (`src/peer_bench.yaml`, seed 004's
//! processing path) on the same emulator, three times each; prints the medians and their ratio.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use vpclab_harness::World;

/// Runs of each side.
const RUNS: usize = 3;

/// The times of one side: creation, then deletion.
type Times = Vec<(Duration, Duration)>;

/// Prints the table.
pub(crate) async fn run() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let template = dir.join("peer_bench.yaml");
    let keeper = World::start().await?;
    let python = provisioned_python(&keeper)?;
    let (mut engine, mut peer) = (Times::new(), Times::new());
    for run in 0..RUNS {
        engine.push(engine_run(&template, run).await?);
        peer.push(peer_run(
            &keeper,
            &python,
            &dir.join("peer_cfn.py"),
            &template,
            run,
        )?);
    }
    keeper.shutdown().await?;
    let (engine_create, engine_delete) = medians(&engine);
    let (peer_create, peer_delete) = medians(&peer);
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "\n| seed 004's processing path (median of {RUNS}) | vpclab's engine | LocalStack's CloudFormation | engine / LocalStack |"
    );
    println!("|---|---|---|---|");
    println!(
        "| create | {} | {} | {:.2} |",
        ms(engine_create),
        ms(peer_create),
        ratio(engine_create, peer_create)
    );
    println!(
        "| delete (engine: the teardown of a world holding only this stack) | {} | {} | {:.2} |",
        ms(engine_delete),
        ms(peer_delete),
        ratio(engine_delete, peer_delete)
    );
    Ok(())
}

/// The engine's side: a world of its own, the deploy, its teardown.
async fn engine_run(template: &Path, run: usize) -> anyhow::Result<(Duration, Duration)> {
    let mut world = World::start().await?;
    let started = Instant::now();
    world
        .deploy_template(&format!("peer-engine-{run}"), template, &[])
        .await?;
    let create = started.elapsed();
    let started = Instant::now();
    world.shutdown().await?;
    Ok((create, started.elapsed()))
}

/// LocalStack's side: `src/peer_cfn.py` (boto3) creates and deletes the stack, timing each.
fn peer_run(
    world: &World,
    python: &Path,
    script: &Path,
    template: &Path,
    run: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let output = Command::new(python)
        .arg(script)
        .args([
            world.endpoint_url(),
            world.region(),
            &format!("peer-cfn-{run}"),
        ])
        .arg(template)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "LocalStack's CloudFormation: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let times: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let took = |key: &str| {
        times[key]
            .as_f64()
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .with_context(|| format!("{key} in {times}"))
    };
    Ok((took("create_ms")?, took("delete_ms")?))
}

/// The Python beside the provisioned AWS CLI: it has boto3.
fn provisioned_python(world: &World) -> anyhow::Result<PathBuf> {
    let cli = world
        .aws_cli()
        .context("a provisioned LocalStack environment (cargo run -- provision)")?;
    let python = cli.with_file_name("python");
    anyhow::ensure!(python.exists(), "{} is missing", python.display());
    Ok(python)
}

/// The median creation and deletion times.
fn medians(times: &Times) -> (Duration, Duration) {
    let median = |mut all: Vec<Duration>| {
        all.sort();
        all[all.len() / 2]
    };
    (
        median(times.iter().map(|t| t.0).collect()),
        median(times.iter().map(|t| t.1).collect()),
    )
}
