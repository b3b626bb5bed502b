//! `vpclab bench --only worlds` (issue 14): what a user's test waits for, on a running emulator
//! (a keeper world holds it). First the smallest test README's "As a library" allows (one
//! queue, send, receive, shutdown), then every scenario's deploy and teardown, each in a world
//! of its own.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use vpclab_harness::{Scenario, World};

use crate::bench::{Row, print_rows};

/// The scenarios deployed, each with its `Mode` parameter where it has one.
const SCENARIOS: &[(&str, Option<&str>)] = &[
    ("getmyip", Some("PUBLIC")),
    ("getmyip", Some("PRIVATE")),
    ("getmyip-python", Some("PRIVATE")),
    ("lambda-networking", None),
    ("api-vpc-rds", Some("PUBLIC")),
    ("private-serverless", None),
    ("cross-region-private-api", None),
];

/// Prints the table.
pub(crate) async fn run(scenarios_dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let keeper = World::start().await?;
    let mut rows = vec![Row::took(
        "emulator start (the first world of the process)",
        started.elapsed(),
    )];
    rows.extend(one_queue("while the emulator loads its services").await?);
    for (name, mode) in SCENARIOS {
        rows.extend(scenario(scenarios_dir, name, *mode).await?);
    }
    rows.extend(one_queue("again, every service loaded").await?);
    keeper.shutdown().await?;
    print_rows(&rows);
    Ok(())
}

/// The smallest test: a world, one queue, a message sent and received, shutdown; `when`
/// names the emulator's state in the rows.
async fn one_queue(when: &str) -> anyhow::Result<Vec<Row>> {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/one_queue.yaml");
    let whole = Instant::now();
    let (world, up) = timed(World::start()).await;
    let mut world = world?;
    let (queue, deploy) = timed(world.deploy_template("one-queue", &template, &[])).await;
    let url = queue?.output("QueueUrl")?.to_owned();
    let sqs = aws_sdk_sqs::Client::new(world.sdk_config());
    let (sent, act) = timed(async {
        sqs.send_message()
            .queue_url(&url)
            .message_body("hello")
            .send()
            .await?;
        let received = sqs
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(5)
            .send()
            .await?;
        anyhow::ensure!(received.messages().len() == 1, "the message came back");
        Ok(())
    })
    .await;
    sent?;
    let (down, shutdown) = timed(world.shutdown()).await;
    down?;
    Ok(vec![
        Row::took(format!("one-queue test, {when}: world up"), up),
        Row::took(
            format!("one-queue test, {when}: deploy of one AWS::SQS::Queue"),
            deploy,
        ),
        Row::took(format!("one-queue test, {when}: send and receive"), act),
        Row::took(format!("one-queue test, {when}: shutdown"), shutdown),
        Row::took(
            format!("one-queue test, {when}: end to end"),
            whole.elapsed(),
        ),
    ])
}

/// A scenario's deploy and teardown in a world of its own.
async fn scenario(dir: &Path, name: &str, mode: Option<&str>) -> anyhow::Result<Vec<Row>> {
    let mut scenario = Scenario::load(dir, name)?;
    if let Some(mode) = mode {
        for stack in &mut scenario.stacks {
            stack.parameters.insert("Mode".into(), mode.into());
        }
    }
    let label = match mode {
        Some(mode) => format!("{name} {mode}"),
        None => name.to_owned(),
    };
    let mut world = World::start().await?;
    let (deployed, deploy) = timed(world.deploy_scenario(&scenario)).await;
    deployed.with_context(|| format!("deploying {label}"))?;
    let (down, teardown) = timed(world.shutdown()).await;
    down?;
    Ok(vec![
        Row::took(format!("{label}: deploy"), deploy),
        Row::took(format!("{label}: teardown"), teardown),
    ])
}

/// Awaits `work` and says how long it took.
async fn timed<T>(work: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = work.await;
    (out, started.elapsed())
}
