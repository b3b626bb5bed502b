//! `AWS::DynamoDB::Table`.

use std::time::Duration;

use aws_sdk_dynamodb::{
    error::BuildError,
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ProvisionedThroughput,
        ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription, TableStatus,
    },
};

use super::{
    Created, PropertyProblem, Props, ProviderContext, ProviderError, generated_name, wait_until,
};

const ACTIVE_WAIT: Duration = Duration::from_secs(60);

/// Creates a table and waits until it is ACTIVE; `Ref` is the table name.
pub(super) async fn create_table(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    for unsupported in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        if props.0.get(unsupported).is_some() {
            return Err(ProviderError::property(
                unsupported,
                PropertyProblem::Unsupported,
            ));
        }
    }
    let name = match props.str("TableName")? {
        Some(name) => name.to_owned(),
        None => generated_name(ctx.stack_name, logical_id, 255),
    };
    let definitions = attribute_definitions(props)?;
    let key_schema = key_schema(props)?;
    let billing = props.str("BillingMode")?.unwrap_or("PROVISIONED");
    ctx.clients
        .dynamodb
        .create_table()
        .table_name(&name)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema))
        .billing_mode(BillingMode::from(billing))
        .set_provisioned_throughput(provisioned_throughput(props)?)
        .set_stream_specification(stream_specification(props)?)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateTable {name}"), e))?;
    let table = wait_until_active(ctx, &name).await?;
    let mut created = Created::new("AWS::DynamoDB::Table", name)
        .with("Arn", table.table_arn().unwrap_or_default());
    if let Some(stream_arn) = table.latest_stream_arn() {
        created = created.with("StreamArn", stream_arn);
    }
    Ok(created)
}

/// An SDK builder's complaint about a missing field.
fn build_error(e: BuildError) -> ProviderError {
    ProviderError::Invalid(e.to_string())
}

/// `AttributeDefinitions`: the key attributes' names and types.
fn attribute_definitions(props: Props<'_>) -> Result<Vec<AttributeDefinition>, ProviderError> {
    props
        .array("AttributeDefinitions")
        .iter()
        .map(|definition| {
            let d = Props(definition);
            AttributeDefinition::builder()
                .attribute_name(d.required_str("AttributeName")?)
                .attribute_type(ScalarAttributeType::from(d.required_str("AttributeType")?))
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// `KeySchema`: the partition key, then the sort key if any.
fn key_schema(props: Props<'_>) -> Result<Vec<KeySchemaElement>, ProviderError> {
    props
        .array("KeySchema")
        .iter()
        .map(|key| {
            let k = Props(key);
            KeySchemaElement::builder()
                .attribute_name(k.required_str("AttributeName")?)
                .key_type(KeyType::from(k.required_str("KeyType")?))
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// `ProvisionedThroughput`, each capacity defaulting to 5.
fn provisioned_throughput(
    props: Props<'_>,
) -> Result<Option<ProvisionedThroughput>, ProviderError> {
    let Some(throughput) = props.0.get("ProvisionedThroughput") else {
        return Ok(None);
    };
    let t = Props(throughput);
    ProvisionedThroughput::builder()
        .read_capacity_units(i64::from(t.i32("ReadCapacityUnits")?.unwrap_or(5)))
        .write_capacity_units(i64::from(t.i32("WriteCapacityUnits")?.unwrap_or(5)))
        .build()
        .map(Some)
        .map_err(build_error)
}

/// `StreamSpecification`: present means the stream is on.
fn stream_specification(props: Props<'_>) -> Result<Option<StreamSpecification>, ProviderError> {
    let Some(stream) = props.0.get("StreamSpecification") else {
        return Ok(None);
    };
    let s = Props(stream);
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(s.required_str("StreamViewType")?))
        .build()
        .map(Some)
        .map_err(build_error)
}

/// Waits until the table is ACTIVE and returns its description.
async fn wait_until_active(
    ctx: &ProviderContext<'_>,
    name: &str,
) -> Result<TableDescription, ProviderError> {
    let dynamodb = &ctx.clients.dynamodb;
    wait_until(
        &format!("table {name} to become ACTIVE"),
        ACTIVE_WAIT,
        || async {
            let described = dynamodb
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| ProviderError::sdk(&format!("DescribeTable {name}"), e))?;
            Ok(described
                .table()
                .filter(|t| t.table_status() == Some(&TableStatus::Active))
                .cloned())
        },
    )
    .await
}

/// Deletes a table.
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
        .map_err(|e| ProviderError::sdk(&format!("DeleteTable {name}"), e))
}
