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
        .map_err(|e| ProviderError::sdk("CreateTopic", e))?
        .topic_arn()
        .ok_or_else(|| ProviderError::Invalid("CreateTopic returned no TopicArn".into()))?
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
        .map_err(|e| ProviderError::sdk("DeleteTopic", e))
}

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
        .map_err(|e| ProviderError::sdk("Subscribe", e))?
        .subscription_arn()
        .unwrap_or_default()
        .to_owned())
}

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
        .map_err(|e| ProviderError::sdk("Unsubscribe", e))
}
