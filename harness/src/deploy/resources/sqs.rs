//! `AWS::SQS::Queue` and `AWS::SQS::QueuePolicy`.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;

use super::{Created, Props, ProviderContext, ProviderError, generated_name, unless_gone};

/// Queue properties that map one to one onto SQS queue attributes.
const PLAIN_ATTRIBUTES: &[&str] = &[
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
];

/// Creates a queue; `Ref` is its URL.
pub(super) async fn create_queue(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let fifo = props.bool("FifoQueue")?.unwrap_or(false);
    let name = match props.str("QueueName")? {
        Some(name) => name.to_owned(),
        None if fifo => format!("{}.fifo", generated_name(ctx.stack_name, logical_id, 75)),
        None => generated_name(ctx.stack_name, logical_id, 80),
    };
    let attributes = queue_attributes(props);
    let sqs = &ctx.clients.sqs;
    let created = sqs
        .create_queue()
        .queue_name(&name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateQueue {name}"), e))?;
    let url = created
        .queue_url()
        .ok_or(ProviderError::Incomplete {
            operation: "CreateQueue",
            field: "QueueUrl",
        })?
        .to_owned();
    let described = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("GetQueueAttributes {url}"), e))?;
    let arn = described
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or(ProviderError::Incomplete {
            operation: "GetQueueAttributes",
            field: "QueueArn",
        })?;
    Ok(Created::new("AWS::SQS::Queue", url.clone())
        .with("Arn", arn)
        .with("QueueName", name)
        .with("QueueUrl", url))
}

/// The queue attributes the properties set: plain ones as strings, redrive policies as JSON.
fn queue_attributes(props: Props<'_>) -> HashMap<QueueAttributeName, String> {
    let mut attributes = HashMap::new();
    for key in PLAIN_ATTRIBUTES {
        if let Some(value) = props.0.get(*key).filter(|v| !v.is_null()) {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            attributes.insert(QueueAttributeName::from(*key), text);
        }
    }
    for key in ["RedrivePolicy", "RedriveAllowPolicy"] {
        if let Some(json) = props.json_string(key) {
            attributes.insert(QueueAttributeName::from(key), json);
        }
    }
    attributes
}

/// Deletes a queue.
pub(super) async fn delete_queue(
    ctx: &ProviderContext<'_>,
    url: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .sqs
        .delete_queue()
        .queue_url(url)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteQueue {url}"), e))
}

/// Sets the policy on each queue listed; `Ref` is a generated id.
pub(super) async fn create_queue_policy(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let policy = props.required_json_string("PolicyDocument")?;
    let queues = props.strings("Queues")?;
    for url in &queues {
        ctx.clients
            .sqs
            .set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::Policy, &policy)
            .send()
            .await
            .map_err(|e| ProviderError::sdk(&format!("SetQueueAttributes Policy on {url}"), e))?;
    }
    Ok(Created::new(
        "AWS::SQS::QueuePolicy",
        generated_name(ctx.stack_name, logical_id, 128),
    )
    .with("Queues", queues))
}

/// Removes the policy from each queue listed.
pub(super) async fn delete_queue_policy(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let queues = created
        .attributes
        .get("Queues")
        .and_then(|q| q.as_array())
        .cloned()
        .unwrap_or_default();
    // A queue already gone has no policy left to remove; the others still have theirs.
    for url in queues.iter().filter_map(|q| q.as_str()) {
        let cleared = ctx
            .clients
            .sqs
            .set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::Policy, "")
            .send()
            .await
            .map(drop)
            .map_err(|e| ProviderError::sdk(&format!("SetQueueAttributes Policy on {url}"), e));
        unless_gone(cleared)?;
    }
    Ok(())
}
