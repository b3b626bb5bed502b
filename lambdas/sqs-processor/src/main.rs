//! Seed 004's processor: reads messages from SQS; `{"Insert":"DynamoDB"}` becomes an item in
//! DynamoDB, anything else (other JSON, malformed JSON, an empty body) an SNS notification that
//! names the message and the reason. A message that cannot be processed is reported as a batch
//! item failure, so SQS retries it and, past maxReceiveCount, moves it to the dead-letter queue,
//! while the rest of its batch is processed.

mod processor;

use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = processor::Settings::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let processor = processor::Processor::new(&aws, settings);
    run(service_fn(|event| processor.handle(event))).await
}
