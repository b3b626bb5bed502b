//! What the scenario tests share: deploying a scenario, acting as its user (sending messages),
//! and bounded waits for what the user would observe.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::Value;
use vpclab_harness::{Scenario, World};

mod curl;
pub use curl::{Answer, Fetched, curl};

/// The repository's `scenarios/` folder.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// The names in folder `dir` (none when it is missing).
pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// A test fixture file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh world; panics with the reason when it cannot start. With `VPCLAB_LOG` set (say
/// `vpclab_harness=debug`), the harness's log goes to the test's output: each resource's
/// create and delete, each fabric sync, with times.
pub async fn world() -> World {
    static LOGS: std::sync::Once = std::sync::Once::new();
    LOGS.call_once(|| {
        if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("VPCLAB_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
    World::start().await.unwrap_or_else(|e| panic!("{e}"))
}

/// A world with a scenario deployed; panics with the harness's diagnosis when it cannot.
pub async fn world_with(scenario: &str) -> World {
    let scenario = Scenario::load(&scenarios_dir(), scenario).unwrap_or_else(|e| panic!("{e}"));
    let mut world = world().await;
    if let Err(e) = world.deploy_scenario(&scenario).await {
        panic!("deploying {}: {e}\n{}", scenario.name, world.diagnose());
    }
    world
}

/// Deploys a scenario's template as a stack with parameters.
pub async fn deploy(world: &mut World, scenario: &str, stack: &str, parameters: &[(&str, &str)]) {
    let template = scenarios_dir().join(scenario).join("template.yaml");
    if let Err(e) = world.deploy_template(stack, &template, parameters).await {
        panic!("deploying {scenario} as {stack}: {e}\n{}", world.diagnose());
    }
}

pub fn output(world: &World, stack: &str, key: &str) -> String {
    world
        .stack(stack)
        .expect("stack deployed")
        .output(key)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_owned()
}

/// The seed's test instance of `stack` (its instance id, a host `World::exec` runs in).
pub fn test_instance(world: &World, stack: &str) -> String {
    output(world, stack, "TestInstanceId")
}

/// The fabric's host of instance `instance_id`.
pub async fn instance_host(world: &World, instance_id: &str) -> vpclab_harness::Host {
    world
        .fabric()
        .hosts()
        .await
        .into_iter()
        .find(|h| matches!(&h.kind, vpclab_harness::HostKind::Instance { id, .. } if id == instance_id))
        .unwrap_or_else(|| panic!("instance {instance_id} is no host of the fabric"))
}

/// Seed 004's stacks as its user sees them: the application's outputs, the inbox that stands
/// in for the e-mail, and the test instance the seed's curl commands run on.
pub struct PrivateServerless {
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    pub table_name: String,
    pub inbox_url: String,
    pub function_name: String,
    /// `https://{CustomDomainName}/send-message`.
    pub send_url: String,
    /// The test instance (a host of `World::exec`).
    pub instance: String,
}

impl PrivateServerless {
    pub fn of(world: &World) -> Self {
        let app = |key| output(world, "private-serverless", key);
        Self {
            queue_url: app("QueueUrl"),
            dead_letter_queue_url: app("DeadLetterQueueUrl"),
            table_name: app("TableName"),
            function_name: app("FunctionName"),
            send_url: app("CustomDomainUrl"),
            inbox_url: output(world, "notification-inbox", "NotificationInboxUrl"),
            instance: output(world, "network", "TestInstanceId"),
        }
    }
}

/// POSTs one body to the private custom domain from the test instance, as the seed's testing
/// steps do (`curl -X POST -H "Content-Type: application/json" -d ... https://{domain}/send-message`).
pub async fn post_message(world: &World, app: &PrivateServerless, body: &str) -> Answer {
    let args = [
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        body,
    ];
    curl(world, &app.instance, &app.send_url, &args)
        .await
        .answer()
}

/// The `MessageId` of SQS's answer that the API passes back.
pub fn message_id(answer: &Answer) -> String {
    let parsed: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("the API answers SQS's JSON ({e}): {answer:?}"));
    parsed["SendMessageResponse"]["SendMessageResult"]["MessageId"]
        .as_str()
        .unwrap_or_else(|| panic!("no MessageId in {answer:?}"))
        .to_owned()
}

/// Sends each body through the private custom domain, in order; returns their SQS message
/// ids in order.
pub async fn send_all(world: &World, app: &PrivateServerless, bodies: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for body in bodies {
        let answer = post_message(world, app, body).await;
        assert_eq!(answer.status, 200, "POST {body:?}: {answer:?}");
        ids.push(message_id(&answer));
    }
    ids
}

pub fn sqs(world: &World) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(world.sdk_config())
}

pub fn dynamodb(world: &World) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(world.sdk_config())
}

/// Asserts that the world's account has no queue left (after a rollback).
pub async fn assert_no_queues(world: &World) {
    let queues = sqs(world).list_queues().send().await.expect("ListQueues");
    assert!(
        queues.queue_urls().is_empty(),
        "the queue was rolled back: {queues:?}"
    );
}

/// Waits until every id is an item of the table; returns the items by id.
pub async fn wait_for_items(
    world: &World,
    table: &str,
    ids: &[String],
    within: Duration,
) -> HashMap<String, HashMap<String, AttributeValue>> {
    let client = dynamodb(world);
    let started = Instant::now();
    loop {
        let items = scan(&client, table).await;
        let found: HashMap<String, HashMap<String, AttributeValue>> = items
            .into_iter()
            .filter_map(|item| {
                let id = item.get("id")?.as_s().ok()?.clone();
                Some((id, item))
            })
            .collect();
        if ids.iter().all(|id| found.contains_key(id)) {
            return found;
        }
        if started.elapsed() > within {
            let missing: Vec<&String> = ids.iter().filter(|id| !found.contains_key(*id)).collect();
            panic!(
                "waited {within:?} for {} item(s) in table {table}; {} missing: {missing:?}\n{}",
                ids.len(),
                missing.len(),
                world.diagnose()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every item of a table.
pub async fn scan(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Scan {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        })
        .items()
        .to_vec()
}

/// A notification as it reached the inbox subscribed to the topic.
#[derive(Debug, Clone)]
pub struct Notification {
    pub subject: String,
    pub message_id: String,
    pub reason: String,
    pub body: String,
}

/// A message taken from a queue.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub receive_count: u32,
}

/// Receives (and deletes) messages until `count` arrived or `within` passed.
pub async fn receive(
    world: &World,
    queue_url: &str,
    count: usize,
    within: Duration,
) -> Vec<Received> {
    let client = sqs(world);
    let started = Instant::now();
    let mut received = Vec::new();
    while received.len() < count && started.elapsed() < within {
        let batch = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "ReceiveMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            });
        for message in batch.messages() {
            let receive_count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            received.push(Received {
                body: message.body().unwrap_or_default().to_owned(),
                receive_count,
            });
            if let Some(handle) = message.receipt_handle() {
                client
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "DeleteMessage: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        )
                    });
            }
        }
    }
    received
}

/// Receives exactly `count` notifications within `within`, then checks for `quiet` that no
/// further one arrives (a duplicate would mean a message was processed twice).
pub async fn exactly_notifications(
    world: &World,
    inbox_url: &str,
    count: usize,
    within: Duration,
    quiet: Duration,
) -> Vec<Notification> {
    let mut received = receive(world, inbox_url, count, within).await;
    assert!(
        received.len() >= count,
        "waited {within:?} for {count} notification(s) on {inbox_url}; got {}: {received:?}\n{}",
        received.len(),
        world.diagnose()
    );
    received.extend(receive(world, inbox_url, 1, quiet).await);
    assert_eq!(
        received.len(),
        count,
        "expected exactly {count} notification(s), got {}: {received:?}",
        received.len()
    );
    received.iter().map(parse_notification).collect()
}

fn parse_notification(received: &Received) -> Notification {
    let envelope: Value = serde_json::from_str(&received.body)
        .unwrap_or_else(|e| panic!("an SNS envelope is JSON ({e}): {}", received.body));
    let message = envelope["Message"]
        .as_str()
        .expect("the envelope has a Message");
    let inner: Value = serde_json::from_str(message)
        .unwrap_or_else(|e| panic!("the notification is JSON ({e}): {message}"));
    Notification {
        subject: envelope["Subject"].as_str().unwrap_or_default().to_owned(),
        message_id: inner["messageId"].as_str().unwrap_or_default().to_owned(),
        reason: inner["reason"].as_str().unwrap_or_default().to_owned(),
        body: inner["body"].as_str().unwrap_or_default().to_owned(),
    }
}

/// Process ids of running Lambda processes of a function (by its environment).
pub fn processes_of_function(function_name: &str) -> Vec<u32> {
    let needle = format!("AWS_LAMBDA_FUNCTION_NAME={function_name}");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes())
                .then_some(pid)
        })
        .collect()
}

/// The processes whose command line contains `needle`.
pub fn processes_matching(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(needle).then_some(pid)
        })
        .collect()
}

/// Invokes `function` with `payload` (in the world's home region); its JSON result.
pub async fn invoke(world: &World, function: &str, payload: Value) -> Value {
    invoke_in(world, world.sdk_config(), function, payload).await
}

/// [`invoke`] with the SDK configuration of another region of the world.
pub async fn invoke_in(
    world: &World,
    config: &aws_config::SdkConfig,
    function: &str,
    payload: Value,
) -> Value {
    let lambda = aws_sdk_lambda::Client::new(config);
    let response = lambda
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "invoke {function}: {}\n{}",
                aws_sdk_lambda::error::DisplayErrorContext(e),
                world.diagnose()
            )
        });
    let body = response
        .payload()
        .map(|p| p.as_ref().to_vec())
        .unwrap_or_default();
    assert!(
        response.function_error().is_none(),
        "{function} failed: {}\n{}",
        String::from_utf8_lossy(&body),
        world.function_log(function)
    );
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{function} returned non-JSON: {e}"))
}

/// Deletes the one VPC endpoint of `service` (`sns`, `dynamodb`) in the world's home region,
/// found with `DescribeVpcEndpoints`, then syncs the fabric.
pub async fn delete_the_endpoint_of(world: &World, service: &str) {
    let ec2 = aws_sdk_ec2::Client::new(world.sdk_config());
    let name = format!("com.amazonaws.{}.{service}", world.region());
    let described = ec2
        .describe_vpc_endpoints()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("service-name")
                .values(&name)
                .build(),
        )
        .send()
        .await
        .expect("DescribeVpcEndpoints");
    let ids: Vec<String> = described
        .vpc_endpoints()
        .iter()
        .filter_map(|e| e.vpc_endpoint_id().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 1, "one {name} endpoint in the world: {ids:?}");
    ec2.delete_vpc_endpoints()
        .set_vpc_endpoint_ids(Some(ids))
        .send()
        .await
        .expect("DeleteVpcEndpoints");
    world
        .fabric()
        .sync()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
