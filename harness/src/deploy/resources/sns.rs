//! `AWS::SNS::Topic` and `AWS::SNS::Subscription`.

use super::{Created, Props, ProviderContext, ProviderError, generated_name};

/// Subscription properties passed as subscription attributes.
const SUBSCRIPTION_ATTRIBUTES: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
];

/// Creates a topic and its inline subscriptions; `Ref` is the topic ARN.
pub(super) async fn create_topic(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let fifo = props.bool("FifoTopic")?.unwrap_or(false);
    let name = match props.str("TopicName")? {
        Some(name) => name.to_owned(),
        None if fifo => format!("{}.fifo", generated_name(ctx.stack_name, logical_id, 251)),
        None => generated_name(ctx.stack_name, logical_id, 256),
    };
    let mut request = ctx.clients.sns.create_topic().name(&name);
    if let Some(display) = props.str("DisplayName")? {
        request = request.attributes("DisplayName", display);
    }
    if fifo {
        request = request.attributes("FifoTopic", "true");
    }
    let arn = request
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateTopic {name}"), e))?
        .topic_arn()
        .ok_or(ProviderError::Incomplete {
            operation: "CreateTopic",
            field: "TopicArn",
        })?
        .to_owned();
    for subscription in props.array("Subscription") {
        let sub = Props(subscription);
        subscribe(
            ctx,
            &arn,
            sub.required_str("Protocol")?,
            sub.required_str("Endpoint")?,
            sub,
        )
        .await?;
    }
    Ok(Created::new("AWS::SNS::Topic", arn.clone())
        .with("TopicArn", arn)
        .with("TopicName", name))
}

/// Deletes a topic (SNS answers success for a topic already gone).
pub(super) async fn delete_topic(
    ctx: &ProviderContext<'_>,
    arn: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .sns
        .delete_topic()
        .topic_arn(arn)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteTopic {arn}"), e))
}

/// Creates a subscription; `Ref` is its ARN.
pub(super) async fn create_subscription(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let arn = subscribe(
        ctx,
        props.required_str("TopicArn")?,
        props.required_str("Protocol")?,
        props.required_str("Endpoint")?,
        props,
    )
    .await?;
    Ok(Created::new("AWS::SNS::Subscription", arn.clone()).with("Arn", arn))
}

/// Subscribes `endpoint` to a topic with the subscription attributes in `props`.
async fn subscribe(
    ctx: &ProviderContext<'_>,
    topic_arn: &str,
    protocol: &str,
    endpoint: &str,
    props: Props<'_>,
) -> Result<String, ProviderError> {
    let mut request = ctx
        .clients
        .sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol(protocol)
        .endpoint(endpoint)
        .return_subscription_arn(true);
    for key in SUBSCRIPTION_ATTRIBUTES {
        if let Some(value) = props.json_string(key) {
            request = request.attributes(*key, value);
        }
    }
    Ok(request
        .send()
        .await
        .map_err(|e| {
            ProviderError::sdk(
                &format!("Subscribe {protocol}:{endpoint} to {topic_arn}"),
                e,
            )
        })?
        .subscription_arn()
        .unwrap_or_default()
        .to_owned())
}

/// Deletes a subscription (SNS answers success for one already gone).
pub(super) async fn delete_subscription(
    ctx: &ProviderContext<'_>,
    arn: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .sns
        .unsubscribe()
        .subscription_arn(arn)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("Unsubscribe {arn}"), e))
}
