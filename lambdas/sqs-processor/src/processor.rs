//! The handler: one decision per message, one batch response per batch.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function's configuration, from its environment.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    table_name: String,
    topic_arn: String,
}

/// A setting the function needs is missing.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set; the template must pass it to the function")]
pub(crate) struct MissingSetting(&'static str);

impl Settings {
    /// Reads `TABLE_NAME` and `TOPIC_ARN`.
    pub(crate) fn from_env() -> Result<Self, MissingSetting> {
        let var = |name| std::env::var(name).map_err(|_| MissingSetting(name));
        Ok(Self {
            table_name: var("TABLE_NAME")?,
            topic_arn: var("TOPIC_ARN")?,
        })
    }
}

/// What to do with one message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Store an item; `id` is the client's own `Id` if it sent one, else the message id.
    Insert { id: String },
    /// Publish a notification naming the reason.
    Notify { reason: String },
}

/// Decides from the body alone.
pub(crate) fn decide(message_id: &str, body: Option<&str>) -> Decision {
    let body = body.unwrap_or_default();
    if body.trim().is_empty() {
        return Decision::Notify {
            reason: "empty body".into(),
        };
    }
    let json: Value = match serde_json::from_str(body) {
        Ok(json) => json,
        Err(e) => {
            return Decision::Notify {
                reason: format!("malformed JSON: {e}"),
            };
        }
    };
    match json.get("Insert").and_then(Value::as_str) {
        Some("DynamoDB") => Decision::Insert {
            id: json
                .get("Id")
                .and_then(Value::as_str)
                .map_or_else(|| message_id.to_owned(), str::to_owned),
        },
        Some(other) => Decision::Notify {
            reason: format!("unknown insert target {other:?}"),
        },
        None => Decision::Notify {
            reason: "no \"Insert\" field".into(),
        },
    }
}

/// The processor with its clients.
#[derive(Debug)]
pub(crate) struct Processor {
    dynamodb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    settings: Settings,
}

impl Processor {
    /// A processor using the given SDK configuration.
    pub(crate) fn new(aws: &aws_config::SdkConfig, settings: Settings) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(aws),
            sns: aws_sdk_sns::Client::new(aws),
            settings,
        }
    }

    /// Processes a batch; failed messages are listed so SQS retries only them.
    pub(crate) async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        let mut response = SqsBatchResponse::default();
        for message in &event.payload.records {
            let id = message.message_id.clone().unwrap_or_default();
            if let Err(e) = self.process(&id, message).await {
                tracing::error!(message_id = %id, "processing failed, SQS will retry: {e}");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        Ok(response)
    }

    async fn process(&self, message_id: &str, message: &SqsMessage) -> Result<(), String> {
        let body = message.body.as_deref();
        match decide(message_id, body) {
            Decision::Insert { id } => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                self.dynamodb
                    .put_item()
                    .table_name(&self.settings.table_name)
                    .item("id", AttributeValue::S(id.clone()))
                    .item(
                        "value",
                        AttributeValue::N((now.subsec_nanos() % 1000).to_string()),
                    )
                    .item(
                        "message",
                        AttributeValue::S(body.unwrap_or_default().to_owned()),
                    )
                    .item("timestamp", AttributeValue::N(now.as_millis().to_string()))
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "PutItem {id}: {}",
                            aws_sdk_dynamodb::error::DisplayErrorContext(e)
                        )
                    })?;
                tracing::info!(message_id, item = %id, "inserted");
            }
            Decision::Notify { reason } => {
                let notification = serde_json::json!({
                    "messageId": message_id,
                    "reason": reason,
                    "body": body.unwrap_or_default(),
                });
                self.sns
                    .publish()
                    .topic_arn(&self.settings.topic_arn)
                    .subject("Message not inserted")
                    .message(notification.to_string())
                    .send()
                    .await
                    .map_err(|e| {
                        format!("Publish: {}", aws_sdk_sns::error::DisplayErrorContext(e))
                    })?;
                tracing::info!(message_id, %reason, "notified");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_body() {
        let cases: &[(Option<&str>, Decision)] = &[
            (
                Some(r#"{"Insert":"DynamoDB"}"#),
                Decision::Insert { id: "m1".into() },
            ),
            (
                Some(r#"{"Insert":"DynamoDB","Id":"own-7"}"#),
                Decision::Insert { id: "own-7".into() },
            ),
            (
                Some(r#"{"Insert":"Dynamoooo"}"#),
                Decision::Notify {
                    reason: "unknown insert target \"Dynamoooo\"".into(),
                },
            ),
            (
                Some(r#"{"Other":1}"#),
                Decision::Notify {
                    reason: "no \"Insert\" field".into(),
                },
            ),
            (
                Some(""),
                Decision::Notify {
                    reason: "empty body".into(),
                },
            ),
            (
                None,
                Decision::Notify {
                    reason: "empty body".into(),
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(&decide("m1", *body), expected, "body {body:?}");
        }
    }

    #[test]
    fn malformed_json_names_the_parse_error() {
        match decide("m1", Some("{not json")) {
            Decision::Notify { reason } => {
                assert!(reason.starts_with("malformed JSON"), "{reason}")
            }
            other => panic!("expected a notification, got {other:?}"),
        }
    }
}
