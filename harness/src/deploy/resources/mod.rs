//! Resource providers: one module per AWS service, each creating and deleting its resource
//! types through the AWS SDK against whatever emulator runs, and returning what CloudFormation
//! would (`Ref` value and `Fn::GetAtt` attributes).

mod apigateway;
mod dynamodb;
pub(crate) mod ec2;
mod iam;
mod lambda;
mod sns;
mod sqs;

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

use super::artifacts::ArtifactStore;
use aws_sdk_ec2::error::ProvideErrorMetadata;

use crate::{
    aws::{clients::Clients, error::CallError},
    emulator::shared::RunningEmulator,
};

/// The resource types the engine can create. Anything else fails the deploy.
pub(crate) const SUPPORTED_TYPES: &[&str] = &[
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::DynamoDB::Table",
    "AWS::EC2::EIP",
    "AWS::EC2::InternetGateway",
    "AWS::EC2::NatGateway",
    "AWS::EC2::Route",
    "AWS::EC2::RouteTable",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::Subnet",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::VPC",
    "AWS::EC2::VPCEndpoint",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::VPCPeeringConnection",
    "AWS::IAM::Role",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::SNS::Subscription",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
];

/// What a provider created: the physical id (`Ref`) and the attributes (`Fn::GetAtt`).
#[derive(Debug, Clone)]
pub(crate) struct Created {
    /// The resource's type.
    pub(crate) resource_type: String,
    /// What `Ref` returns.
    pub(crate) physical_id: String,
    /// What `Fn::GetAtt` returns, by attribute name.
    pub(crate) attributes: BTreeMap<String, Value>,
    /// What the provider needs to delete the resource, invisible to templates.
    pub(crate) internal: BTreeMap<String, Value>,
}

impl Created {
    fn new(resource_type: &str, physical_id: impl Into<String>) -> Self {
        Self {
            resource_type: resource_type.to_owned(),
            physical_id: physical_id.into(),
            attributes: BTreeMap::new(),
            internal: BTreeMap::new(),
        }
    }

    fn with(mut self, attribute: &str, value: impl Into<Value>) -> Self {
        self.attributes.insert(attribute.to_owned(), value.into());
        self
    }

    /// Keeps a value for the delete call, out of reach of `Fn::GetAtt`.
    fn keep(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.internal.insert(key.to_owned(), value.into());
        self
    }

    /// A value kept by [`Created::keep`], as a string.
    fn kept(&self, key: &str) -> Option<&str> {
        self.internal.get(key).and_then(Value::as_str)
    }
}

/// Everything a provider needs.
#[derive(Debug)]
pub(crate) struct ProviderContext<'a> {
    /// SDK clients of the world's account and region.
    pub(crate) clients: &'a Clients,
    /// The running emulator (for the executor check and diagnostics).
    pub(crate) emulator: &'a RunningEmulator,
    /// Built function code, by artifact key.
    pub(crate) artifacts: &'a ArtifactStore,
    /// The stack's name, used in generated physical names.
    pub(crate) stack_name: &'a str,
}

/// A provider's failure; the stack adds the logical id and type.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    /// An SDK call failed: the operation, the resource and the service's error code.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The provider found something AWS would refuse, or the emulator answered unexpectedly.
    #[error("{0}")]
    Invalid(String),
}

impl ProviderError {
    /// A failed SDK call (`call` is the operation, then optionally the resource), with the
    /// service's error code and the whole error chain.
    pub(crate) fn sdk<E>(call: &str, error: E) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata,
    {
        Self::Call(CallError::new(call, error))
    }

    /// Whether the service said the resource does not exist (decided by its error code).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Call(call) if call.is_not_found())
    }
}

/// Creates one resource from its evaluated properties.
pub(crate) async fn create(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    resource_type: &str,
    properties: &Value,
) -> Result<Created, ProviderError> {
    let props = Props(properties);
    match resource_type {
        "AWS::ApiGateway::Deployment" => apigateway::create_deployment(ctx, props).await,
        "AWS::ApiGateway::Method" => apigateway::create_method(ctx, logical_id, props).await,
        "AWS::ApiGateway::Resource" => apigateway::create_resource(ctx, props).await,
        "AWS::ApiGateway::RestApi" => apigateway::create_rest_api(ctx, logical_id, props).await,
        "AWS::ApiGateway::Stage" => apigateway::create_stage(ctx, props).await,
        "AWS::DynamoDB::Table" => dynamodb::create_table(ctx, logical_id, props).await,
        "AWS::EC2::EIP" => ec2::create_eip(ctx, props).await,
        "AWS::EC2::InternetGateway" => ec2::create_internet_gateway(ctx, props).await,
        "AWS::EC2::NatGateway" => ec2::create_nat_gateway(ctx, props).await,
        "AWS::EC2::Route" => ec2::create_route(ctx, logical_id, props).await,
        "AWS::EC2::RouteTable" => ec2::create_route_table(ctx, props).await,
        "AWS::EC2::SecurityGroup" => ec2::create_security_group(ctx, logical_id, props).await,
        "AWS::EC2::SecurityGroupEgress" | "AWS::EC2::SecurityGroupIngress" => {
            ec2::create_rule(ctx, logical_id, resource_type, props).await
        }
        "AWS::EC2::Subnet" => ec2::create_subnet(ctx, logical_id, props).await,
        "AWS::EC2::SubnetRouteTableAssociation" => ec2::create_association(ctx, props).await,
        "AWS::EC2::VPC" => ec2::create_vpc(ctx, props).await,
        "AWS::EC2::VPCEndpoint" => ec2::create_vpc_endpoint(ctx, logical_id, props).await,
        "AWS::EC2::VPCGatewayAttachment" => ec2::create_gateway_attachment(ctx, props).await,
        "AWS::EC2::VPCPeeringConnection" => ec2::create_peering(ctx, logical_id, props).await,
        "AWS::IAM::Role" => iam::create_role(ctx, logical_id, props).await,
        "AWS::Lambda::EventSourceMapping" => lambda::create_event_source_mapping(ctx, props).await,
        "AWS::Lambda::Function" => lambda::create_function(ctx, logical_id, props).await,
        "AWS::Lambda::Permission" => lambda::create_permission(ctx, logical_id, props).await,
        "AWS::SNS::Subscription" => sns::create_subscription(ctx, props).await,
        "AWS::SNS::Topic" => sns::create_topic(ctx, logical_id, props).await,
        "AWS::SQS::Queue" => sqs::create_queue(ctx, logical_id, props).await,
        "AWS::SQS::QueuePolicy" => sqs::create_queue_policy(ctx, logical_id, props).await,
        other => Err(ProviderError::Invalid(format!(
            "resource type {other} is not supported by vpclab's engine (supported: {})",
            SUPPORTED_TYPES.join(", ")
        ))),
    }
}

/// Deletes one resource; an already deleted resource is not an error.
pub(crate) async fn delete(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let id = created.physical_id.as_str();
    match created.resource_type.as_str() {
        "AWS::ApiGateway::Deployment" => apigateway::delete_deployment(ctx, created).await,
        "AWS::ApiGateway::Method" => apigateway::delete_method(ctx, created).await,
        "AWS::ApiGateway::Resource" => apigateway::delete_resource(ctx, created).await,
        "AWS::ApiGateway::RestApi" => apigateway::delete_rest_api(ctx, id).await,
        "AWS::ApiGateway::Stage" => apigateway::delete_stage(ctx, created).await,
        "AWS::DynamoDB::Table" => dynamodb::delete_table(ctx, id).await,
        "AWS::EC2::EIP" => ec2::delete_eip(ctx, created).await,
        "AWS::EC2::InternetGateway" => ec2::delete_internet_gateway(ctx, id).await,
        "AWS::EC2::NatGateway" => ec2::delete_nat_gateway(ctx, created).await,
        "AWS::EC2::Route" => ec2::delete_route(ctx, id).await,
        "AWS::EC2::RouteTable" => ec2::delete_route_table(ctx, id).await,
        "AWS::EC2::SecurityGroup" => ec2::delete_security_group(ctx, created).await,
        "AWS::EC2::SecurityGroupEgress" | "AWS::EC2::SecurityGroupIngress" => {
            ec2::delete_rule(ctx, created).await
        }
        "AWS::EC2::Subnet" => ec2::delete_subnet(ctx, id).await,
        "AWS::EC2::SubnetRouteTableAssociation" => ec2::delete_association(ctx, id).await,
        "AWS::EC2::VPC" => ec2::delete_vpc(ctx, id).await,
        "AWS::EC2::VPCEndpoint" => ec2::delete_vpc_endpoint(ctx, created).await,
        "AWS::EC2::VPCGatewayAttachment" => ec2::delete_gateway_attachment(ctx, created).await,
        "AWS::EC2::VPCPeeringConnection" => ec2::delete_peering(ctx, id).await,
        "AWS::IAM::Role" => iam::delete_role(ctx, id).await,
        "AWS::Lambda::EventSourceMapping" => lambda::delete_event_source_mapping(ctx, id).await,
        "AWS::Lambda::Function" => lambda::delete_function(ctx, id).await,
        "AWS::Lambda::Permission" => lambda::delete_permission(ctx, created).await,
        "AWS::SNS::Subscription" => sns::delete_subscription(ctx, id).await,
        "AWS::SNS::Topic" => sns::delete_topic(ctx, id).await,
        "AWS::SQS::Queue" => sqs::delete_queue(ctx, id).await,
        "AWS::SQS::QueuePolicy" => sqs::delete_queue_policy(ctx, created).await,
        _ => Ok(()),
    }
}

/// Typed access to evaluated properties; errors name the property.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Props<'a>(pub(crate) &'a Value);

impl<'a> Props<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ProviderError::Invalid(format!(
                "property {key} must be a string, found {other}"
            ))),
        }
    }

    fn required_str(&self, key: &str) -> Result<&'a str, ProviderError> {
        self.str(key)?
            .ok_or_else(|| ProviderError::Invalid(format!("property {key} is required")))
    }

    /// A number given as a number or a numeric string (CloudFormation accepts both).
    fn i32(&self, key: &str) -> Result<Option<i32>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| ProviderError::Invalid(format!("property {key}: {n} is not an integer"))),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| ProviderError::Invalid(format!("property {key}: {s:?} is not an integer"))),
            Some(other) => Err(ProviderError::Invalid(format!(
                "property {key} must be a number, found {other}"
            ))),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(ProviderError::Invalid(format!(
                "property {key} must be a boolean, found {other}"
            ))),
        }
    }

    /// A value given as an object (serialised to JSON) or as a JSON string.
    fn json_string(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, ProviderError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ProviderError::Invalid(format!(
                        "property {key} must list strings, found {other}"
                    ))),
                })
                .collect(),
            Some(other) => Err(ProviderError::Invalid(format!(
                "property {key} must be a list, found {other}"
            ))),
        }
    }

    fn array(&self, key: &str) -> &'a [Value] {
        self.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// A physical name as CloudFormation generates it: `{stack}-{logical}-{SUFFIX}`, cut to
/// `max_len`.
pub(crate) fn generated_name(stack: &str, logical_id: &str, max_len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut seed = nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut suffix = String::new();
    for _ in 0..12 {
        let digit = (seed % 36) as u8;
        suffix.push(char::from(if digit < 10 {
            b'0' + digit
        } else {
            b'A' + digit - 10
        }));
        seed /= 36;
        seed ^= nanos.rotate_left(17);
    }
    let prefix: String = format!("{stack}-{logical_id}");
    let keep = max_len.saturating_sub(suffix.len() + 1).min(prefix.len());
    format!("{}-{suffix}", &prefix[..keep])
}

/// Polls `check` until it returns `Some`, at most `limit`; the error says what it waited for.
pub(crate) async fn wait_until<T, F, Fut>(
    what: &str,
    limit: Duration,
    mut check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() > limit {
            return Err(ProviderError::Invalid(format!("waited {limit:?} for {what}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_fit_and_differ() {
        let a = generated_name("stack", "ProcessorFunctionWithAVeryLongLogicalIdIndeed", 64);
        let b = generated_name("stack", "ProcessorFunctionWithAVeryLongLogicalIdIndeed", 64);
        assert!(a.len() <= 64, "{a}");
        assert!(a.starts_with("stack-ProcessorFunction"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn props_name_the_property_in_errors() {
        let value = serde_json::json!({"Timeout": "abc", "Name": 3, "Count": "12"});
        let props = Props(&value);
        assert!(props.i32("Timeout").unwrap_err().to_string().contains("Timeout"));
        assert!(props.str("Name").unwrap_err().to_string().contains("Name"));
        assert_eq!(props.i32("Count").unwrap(), Some(12));
        assert!(
            props
                .required_str("Missing")
                .unwrap_err()
                .to_string()
                .contains("Missing")
        );
    }
}
