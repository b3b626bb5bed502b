//! `AWS::DynamoDB::Table`.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};

use super::{Created, Props, ProviderContext, ProviderError, generated_name, wait_until};

const ACTIVE_WAIT: Duration = Duration::from_secs(60);

pub(super) async fn create_table(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    for unsupported in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        if props.0.get(unsupported).is_some() {
            return Err(ProviderError::Invalid(format!(
                "property {unsupported} is not supported by vpclab's engine yet"
            )));
        }
    }
    let name = match props.str("TableName")? {
        Some(name) => name.to_owned(),
        None => generated_name(ctx.stack_name, logical_id, 255),
    };
    let build = |e: aws_sdk_dynamodb::error::BuildError| ProviderError::Invalid(e.to_string());
    let mut definitions = Vec::new();
    for definition in props.array("AttributeDefinitions") {
        let d = Props(definition);
        definitions.push(
            AttributeDefinition::builder()
                .attribute_name(d.required_str("AttributeName")?)
                .attribute_type(ScalarAttributeType::from(d.required_str("AttributeType")?))
                .build()
                .map_err(build)?,
        );
    }
    let mut key_schema = Vec::new();
    for key in props.array("KeySchema") {
        let k = Props(key);
        key_schema.push(
            KeySchemaElement::builder()
                .attribute_name(k.required_str("AttributeName")?)
                .key_type(KeyType::from(k.required_str("KeyType")?))
                .build()
                .map_err(build)?,
        );
    }
    let billing = props.str("BillingMode")?.unwrap_or("PROVISIONED");
    let mut request = ctx
        .clients
        .dynamodb
        .create_table()
        .table_name(&name)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema))
        .billing_mode(BillingMode::from(billing));
    if let Some(throughput) = props.0.get("ProvisionedThroughput") {
        let t = Props(throughput);
        request = request.provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(i64::from(t.i32("ReadCapacityUnits")?.unwrap_or(5)))
                .write_capacity_units(i64::from(t.i32("WriteCapacityUnits")?.unwrap_or(5)))
                .build()
                .map_err(build)?,
        );
    }
    if let Some(stream) = props.0.get("StreamSpecification") {
        let s = Props(stream);
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(s.required_str("StreamViewType")?))
                .build()
                .map_err(build)?,
        );
    }
    request
        .send()
        .await
        .map_err(|e| ProviderError::sdk("CreateTable", e))?;
    let dynamodb = &ctx.clients.dynamodb;
    let table = wait_until(
        &format!("table {name} to become ACTIVE"),
        ACTIVE_WAIT,
        || async {
            let described = dynamodb
                .describe_table()
                .table_name(&name)
                .send()
                .await
                .map_err(|e| ProviderError::sdk("DescribeTable", e))?;
            Ok(described
                .table()
                .filter(|t| t.table_status() == Some(&TableStatus::Active))
                .cloned())
        },
    )
    .await?;
    let mut created = Created::new("AWS::DynamoDB::Table", name)
        .with("Arn", table.table_arn().unwrap_or_default());
    if let Some(stream_arn) = table.latest_stream_arn() {
        created = created.with("StreamArn", stream_arn);
    }
    Ok(created)
}

pub(super) async fn delete_table(
    ctx: &ProviderContext<'_>,
    name: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .dynamodb
        .delete_table()
        .table_name(name)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk("DeleteTable", e))
}
