//! `vpclab bench`: measures what the suite's users wait for, on this machine, and prints a
//! Markdown table for BENCHMARKS.md. Measured here, never asserted in tests.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use aws_sdk_dynamodb::types::AttributeValue;
use vpclab_harness::{Scenario, World};

/// Messages for the SQS -> DynamoDB latency.
const MESSAGES: usize = 100;
/// Cold and warm invocations.
const INVOCATIONS: usize = 5;
const WAIT: Duration = Duration::from_secs(120);

/// One line of a `| measurement | value |` table.
pub(crate) struct Row {
    pub(crate) what: String,
    pub(crate) value: String,
}

impl Row {
    /// A row whose value is a duration, in milliseconds.
    pub(crate) fn took(what: impl Into<String>, took: Duration) -> Self {
        Self {
            what: what.into(),
            value: ms(took),
        }
    }
}

/// Prints `rows` as a `| measurement | value |` table.
pub(crate) fn print_rows(rows: &[Row]) {
    println!("| measurement | value |\n|---|---|");
    for row in rows {
        println!("| {} | {} |", row.what, row.value);
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// An SDK error with its whole chain (the SDK's `Display` says only "service error").
fn sdk<E: std::error::Error + Send + Sync + 'static>(error: E) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_lambda::error::DisplayErrorContext(error))
}

pub(crate) fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Runs every measurement against the scenario and prints the table.
pub(crate) async fn run(scenario: &Scenario) -> anyhow::Result<()> {
    let mut rows = Vec::new();

    let started = Instant::now();
    let mut world = World::start().await?;
    rows.push(Row {
        what: "LocalStack start, provisioned (first world of the process)".into(),
        value: ms(started.elapsed()),
    });

    let started = Instant::now();
    let second = World::start().await?;
    rows.push(Row {
        what: "world up on a running emulator".into(),
        value: ms(started.elapsed()),
    });
    second.shutdown().await?;

    let started = Instant::now();
    world.deploy_scenario(scenario).await?;
    rows.push(Row {
        what: "deploy of the scenario (Lambda build up to date)".into(),
        value: ms(started.elapsed()),
    });

    let stack = scenario
        .stacks
        .iter()
        .filter_map(|s| world.stack(&s.name))
        .find(|s| s.output("QueueUrl").is_ok())
        .context("a stack of the scenario with a QueueUrl output")?;
    let queue = stack.output("QueueUrl")?.to_owned();
    let table = stack.output("TableName")?.to_owned();
    let function = stack.output("FunctionName")?.to_owned();

    let domain_url = stack.output("CustomDomainUrl").ok().map(str::to_owned);
    let (p50, p95) = sqs_to_dynamodb(&world, &queue, &table).await?;
    rows.push(Row {
        what: "SQS -> Lambda -> DynamoDB latency, p50 (100 messages)".into(),
        value: format!("{p50:.0} ms"),
    });
    rows.push(Row {
        what: "SQS -> Lambda -> DynamoDB latency, p95 (100 messages)".into(),
        value: format!("{p95:.0} ms"),
    });
    // After the direct run: both paths then find the function warm.
    rows.extend(domain_rows(&world, scenario, domain_url, &table).await?);

    let event = r#"{"Records":[{"messageId":"bench","body":"{\"Insert\":\"S3\"}","eventSource":"aws:sqs"}]}"#;
    let (cold, warm) = invocations(&world, &function, event).await?;
    rows.push(Row {
        what: "Lambda invoke, cold (new environment; median of 5)".into(),
        value: ms(cold),
    });
    rows.push(Row {
        what: "Lambda invoke, warm (median of 5)".into(),
        value: ms(warm),
    });

    let started = Instant::now();
    world.shutdown().await?;
    rows.push(Row {
        what: "teardown of the world and the emulator".into(),
        value: ms(started.elapsed()),
    });

    print_rows(&rows);
    Ok(())
}

/// Seed 004's front: messages POSTed on the private custom domain from the test instance, to
/// their items; nothing when the scenario has no custom domain.
async fn domain_rows(
    world: &World,
    scenario: &Scenario,
    url: Option<String>,
    table: &str,
) -> anyhow::Result<Vec<Row>> {
    let instance = scenario
        .stacks
        .iter()
        .filter_map(|s| world.stack(&s.name))
        .find_map(|s| s.output("TestInstanceId").ok().map(str::to_owned));
    let (Some(url), Some(instance)) = (url, instance) else {
        return Ok(Vec::new());
    };
    let sent = crate::domain_bench::post_all(world, &url, &instance, MESSAGES).await?;
    let (p50, p95) = item_latencies(world, table, &sent).await?;
    Ok(vec![
        Row {
            what: "POST on the private custom domain (test instance -> endpoint -> edge -> API -> SQS) -> Lambda -> DynamoDB, p50 (100 messages)".into(),
            value: format!("{p50:.0} ms"),
        },
        Row {
            what: "the same, p95".into(),
            value: format!("{p95:.0} ms"),
        },
    ])
}

/// Sends messages one by one and compares each send time with the item's write time.
async fn sqs_to_dynamodb(world: &World, queue: &str, table: &str) -> anyhow::Result<(f64, f64)> {
    let sqs = aws_sdk_sqs::Client::new(world.sdk_config());
    let mut sent = Vec::new();
    for _ in 0..MESSAGES {
        let at = now_ms();
        let id = sqs
            .send_message()
            .queue_url(queue)
            .message_body(r#"{"Insert":"DynamoDB"}"#)
            .send()
            .await
            .map_err(sdk)?
            .message_id()
            .unwrap_or_default()
            .to_owned();
        sent.push((id, at));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    item_latencies(world, table, &sent).await
}

/// For each `(message id, sent at)`, how long until its item was written (the item's own
/// timestamp), p50 and p95.
async fn item_latencies(
    world: &World,
    table: &str,
    sent: &[(String, u128)],
) -> anyhow::Result<(f64, f64)> {
    let dynamodb = aws_sdk_dynamodb::Client::new(world.sdk_config());
    let deadline = Instant::now() + WAIT;
    let mut latencies = Vec::new();
    for (id, at) in sent {
        loop {
            let item = dynamodb
                .get_item()
                .table_name(table)
                .key("id", AttributeValue::S(id.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(sdk)?;
            if let Some(written) = item
                .item()
                .and_then(|i| i.get("timestamp"))
                .and_then(|t| t.as_n().ok())
                .and_then(|t| t.parse::<u128>().ok())
            {
                latencies.push(written.saturating_sub(*at) as f64);
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "waited {WAIT:?} for item {id} in {table}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.95)))
}

/// Median cold and warm invoke times of `function` given `event`: a configuration change
/// forces a new environment.
pub(crate) async fn invocations(
    world: &World,
    function: &str,
    event: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let lambda = aws_sdk_lambda::Client::new(world.sdk_config());
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for round in 0..INVOCATIONS {
        let config = lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(sdk)?;
        let mut variables = config
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        variables.insert("BENCH_ROUND".into(), round.to_string());
        lambda
            .update_function_configuration()
            .function_name(function)
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .set_variables(Some(variables))
                    .build(),
            )
            .send()
            .await
            .map_err(sdk)?;
        wait_updated(&lambda, function).await?;
        for samples in [&mut cold, &mut warm] {
            let started = Instant::now();
            let result = lambda
                .invoke()
                .function_name(function)
                .payload(aws_sdk_lambda::primitives::Blob::new(event))
                .send()
                .await
                .map_err(sdk)?;
            anyhow::ensure!(
                result.function_error().is_none(),
                "invoke failed: {:?}",
                result.payload()
            );
            samples.push(started.elapsed());
        }
    }
    cold.sort();
    warm.sort();
    Ok((cold[cold.len() / 2], warm[warm.len() / 2]))
}

async fn wait_updated(lambda: &aws_sdk_lambda::Client, function: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let config = lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(sdk)?;
        if config.last_update_status() != Some(&aws_sdk_lambda::types::LastUpdateStatus::InProgress)
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "waited {WAIT:?} for {function} to finish updating"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
