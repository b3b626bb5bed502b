//! A test process with a world on the container backend, for the container tests
//! (`tests/container/`): it starts the world, checks SQS answers inside the container, prints
//! that it is ready, then ends as its one argument says: `normal` (shutdown), `panic` (the
//! world is dropped while panicking) or `kill` (it waits to be SIGKILLed).

use std::time::Duration;

/// What the process prints once its world runs.
const READY: &str = "vpclab-child: world ready";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if !["normal", "panic", "kill"].contains(&mode.as_str()) {
        eprintln!("usage: vpclab-test-container-world normal|panic|kill (got {mode:?})");
        std::process::exit(2);
    }
    let world = vpclab_harness::World::builder()
        .with_backend(vpclab_harness::Backend::LocalStackContainer)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let queues = aws_sdk_sqs::Client::new(world.sdk_config())
        .list_queues()
        .send()
        .await;
    assert!(queues.is_ok(), "SQS answers in the container: {queues:?}");
    println!("{READY}");
    match mode.as_str() {
        "normal" => world.shutdown().await.expect("teardown"),
        "panic" => panic!("a test process that panics with a container world"),
        _ => tokio::time::sleep(Duration::from_secs(600)).await,
    }
}
