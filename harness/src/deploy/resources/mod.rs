//! Resource providers: one module per AWS service, each creating and deleting its resource
//! types through the AWS SDK against whatever emulator runs, and returning what CloudFormation
//! would (`Ref` value and `Fn::GetAtt` attributes).

mod api_access;
mod apigateway;
mod custom_domain;
mod dynamodb;
pub(crate) mod ec2;
mod iam;
mod lambda;
mod rds;
mod route53;
mod secrets;
mod sns;
mod sqs;
mod ssm;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

use super::{artifacts::ArtifactStore, graph::AttributeReads};
use aws_sdk_ec2::error::ProvideErrorMetadata;

use crate::{
    aws::{clients::Clients, error::CallError},
    edge::Edge,
    emulator::Emulator,
    lambda::service::ExecutorService,
};

/// The resource types the engine can create. Anything else fails the deploy.
pub(crate) const SUPPORTED_TYPES: &[&str] = &[
    "AWS::ApiGateway::BasePathMappingV2",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::DomainNameAccessAssociation",
    "AWS::ApiGateway::DomainNameV2",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::CertificateManager::Certificate",
    "AWS::DynamoDB::Table",
    "AWS::EC2::EIP",
    "AWS::EC2::Instance",
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
    "AWS::IAM::InstanceProfile",
    "AWS::IAM::Role",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBSubnetGroup",
    "AWS::Route53::HostedZone",
    "AWS::Route53::RecordSet",
    "AWS::Route53::RecordSetGroup",
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Subscription",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::SSM::Parameter",
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
    /// A resource of `resource_type` whose `Ref` is `physical_id`.
    fn new(resource_type: &str, physical_id: impl Into<String>) -> Self {
        Self {
            resource_type: resource_type.to_owned(),
            physical_id: physical_id.into(),
            attributes: BTreeMap::new(),
            internal: BTreeMap::new(),
        }
    }

    /// Adds an attribute for `Fn::GetAtt`.
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
    /// The running emulator (for diagnostics).
    pub(crate) emulator: &'a dyn Emulator,
    /// The Lambda executor the emulator hands functions to (to check it was used).
    pub(crate) executor: &'a ExecutorService,
    /// Built function code, by artifact key.
    pub(crate) artifacts: &'a ArtifactStore,
    /// The stack's name, used in generated physical names.
    pub(crate) stack_name: &'a str,
    /// The world's front doors, told of each API deployment.
    pub(crate) edge: &'a Edge,
    /// The world's account id.
    pub(crate) account_id: &'a str,
    /// The world's network fabric (for resources that run in it: databases).
    pub(crate) fabric: &'a crate::fabric::Fabric,
}

/// A provider's failure; the stack adds the logical id and type.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    /// An SDK call failed: the operation, the resource and the service's error code.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A property is missing, of the wrong type, or not supported.
    #[error("property {property}{problem}")]
    Property {
        /// The property's name (within the object that holds it).
        property: String,
        /// What is wrong with it.
        problem: PropertyProblem,
    },
    /// A bounded wait gave up.
    #[error("waited {limit:?} for {what}")]
    Timeout {
        /// What was waited for, e.g. `table orders to become ACTIVE`.
        what: String,
        /// How long it waited.
        limit: Duration,
    },
    /// A resource type the engine cannot create.
    #[error(
        "resource type {resource_type} is not supported by vpclab's engine (supported: {})",
        SUPPORTED_TYPES.join(", ")
    )]
    Unsupported {
        /// The type asked for.
        resource_type: String,
    },
    /// A call succeeded but its answer lacks what AWS always returns.
    #[error("{operation} returned no {field}")]
    Incomplete {
        /// The operation, e.g. `CreateQueue`.
        operation: &'static str,
        /// The missing field, e.g. `QueueUrl`.
        field: &'static str,
    },
    /// The provider found something AWS would refuse, or the emulator answered unexpectedly.
    #[error("{0}")]
    Invalid(String),
    /// A resource policy the edge could not evaluate.
    #[error(transparent)]
    Policy(#[from] crate::edge::policy::PolicyError),
}

/// What is wrong with a property; displayed after `property <name>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PropertyProblem {
    /// The property is required and absent.
    #[error(" is required")]
    Missing,
    /// The property holds another type of value.
    #[error(" must be {expected}, found {found}")]
    WrongType {
        /// What it must be, e.g. `a string`.
        expected: &'static str,
        /// The value found, as JSON.
        found: String,
    },
    /// A list property holds something other than strings.
    #[error(" must list strings, found {found}")]
    NotStrings {
        /// The offending element, as JSON.
        found: String,
    },
    /// A number (or numeric string) that is no 32-bit integer.
    #[error(": {value} is not an integer")]
    NotAnInteger {
        /// The value as written (strings quoted).
        value: String,
    },
    /// A property CloudFormation knows and the engine does not implement.
    #[error(" is not supported by vpclab's engine yet")]
    Unsupported,
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

    /// A problem with property `property`.
    pub(crate) fn property(property: &str, problem: PropertyProblem) -> Self {
        Self::Property {
            property: property.to_owned(),
            problem,
        }
    }

    /// The required property `property` is absent.
    pub(crate) fn missing(property: &str) -> Self {
        Self::property(property, PropertyProblem::Missing)
    }

    /// Whether the service said the resource does not exist (decided by its error code).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Self::Call(call) if call.is_not_found())
    }
}

/// `result`, with a "no such resource" answer taken as success: for deletes, where a resource
/// already gone is what was wanted.
pub(crate) fn unless_gone(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// Whether the PostgreSQL server programs DB instances need are installed (the error says how
/// to get them).
pub(crate) fn check_database_binaries() -> Result<(), String> {
    rds::check_binaries()
}

/// How long each DB instance of this process took to accept connections.
pub(crate) fn database_start_times() -> Vec<(String, std::time::Duration)> {
    rds::start_times()
}

/// Creates one resource from its evaluated properties.
pub(crate) async fn create(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    resource_type: &str,
    properties: &Value,
    reads: &AttributeReads,
) -> Result<Created, ProviderError> {
    let props = Props(properties);
    match resource_type {
        "AWS::ApiGateway::BasePathMappingV2" => {
            custom_domain::create_mapping(ctx, logical_id, props).await
        }
        "AWS::ApiGateway::DomainNameAccessAssociation" => {
            custom_domain::create_association(ctx, props).await
        }
        "AWS::ApiGateway::DomainNameV2" => {
            custom_domain::create_domain(ctx, logical_id, props).await
        }
        "AWS::CertificateManager::Certificate" => {
            custom_domain::create_certificate(ctx, props).await
        }
        "AWS::ApiGateway::Deployment" => apigateway::create_deployment(ctx, props).await,
        "AWS::ApiGateway::Method" => apigateway::create_method(ctx, logical_id, props).await,
        "AWS::ApiGateway::Resource" => apigateway::create_resource(ctx, props).await,
        "AWS::ApiGateway::RestApi" => apigateway::create_rest_api(ctx, logical_id, props).await,
        "AWS::ApiGateway::Stage" => apigateway::create_stage(ctx, props).await,
        "AWS::DynamoDB::Table" => dynamodb::create_table(ctx, logical_id, props).await,
        "AWS::EC2::EIP" => ec2::create_eip(ctx, props).await,
        "AWS::EC2::Instance" => ec2::create_instance(ctx, logical_id, props).await,
        "AWS::EC2::InternetGateway" => ec2::create_internet_gateway(ctx, props).await,
        "AWS::EC2::NatGateway" => ec2::create_nat_gateway(ctx, props).await,
        "AWS::EC2::Route" => ec2::create_route(ctx, logical_id, props).await,
        "AWS::EC2::RouteTable" => ec2::create_route_table(ctx, props).await,
        "AWS::EC2::SecurityGroup" => ec2::create_security_group(ctx, logical_id, props).await,
        "AWS::EC2::SecurityGroupEgress" | "AWS::EC2::SecurityGroupIngress" => {
            ec2::create_rule(ctx, logical_id, resource_type, props).await
        }
        "AWS::EC2::Subnet" => ec2::create_subnet(ctx, logical_id, props, reads).await,
        "AWS::EC2::SubnetRouteTableAssociation" => ec2::create_association(ctx, props).await,
        "AWS::EC2::VPC" => ec2::create_vpc(ctx, props, reads).await,
        "AWS::EC2::VPCEndpoint" => ec2::create_vpc_endpoint(ctx, logical_id, props).await,
        "AWS::EC2::VPCGatewayAttachment" => ec2::create_gateway_attachment(ctx, props).await,
        "AWS::EC2::VPCPeeringConnection" => ec2::create_peering(ctx, logical_id, props).await,
        "AWS::IAM::InstanceProfile" => iam::create_instance_profile(ctx, logical_id, props).await,
        "AWS::IAM::Role" => iam::create_role(ctx, logical_id, props).await,
        "AWS::Lambda::EventSourceMapping" => lambda::create_event_source_mapping(ctx, props).await,
        "AWS::Lambda::Function" => lambda::create_function(ctx, logical_id, props).await,
        "AWS::Lambda::Permission" => lambda::create_permission(ctx, logical_id, props).await,
        "AWS::RDS::DBInstance" => rds::create_db_instance(ctx, logical_id, props).await,
        "AWS::RDS::DBSubnetGroup" => rds::create_subnet_group(ctx, logical_id, props).await,
        "AWS::SecretsManager::Secret" => secrets::create_secret(ctx, logical_id, props).await,
        "AWS::Route53::HostedZone" => route53::create_hosted_zone(ctx, logical_id, props).await,
        "AWS::Route53::RecordSet" | "AWS::Route53::RecordSetGroup" => {
            route53::create_records(ctx, logical_id, resource_type, props).await
        }
        "AWS::SNS::Subscription" => sns::create_subscription(ctx, props).await,
        "AWS::SNS::Topic" => sns::create_topic(ctx, logical_id, props).await,
        "AWS::SQS::Queue" => sqs::create_queue(ctx, logical_id, props).await,
        "AWS::SQS::QueuePolicy" => sqs::create_queue_policy(ctx, logical_id, props).await,
        "AWS::SSM::Parameter" => ssm::create_parameter(ctx, logical_id, props).await,
        other => Err(ProviderError::Unsupported {
            resource_type: other.to_owned(),
        }),
    }
}

/// Deletes one resource; an already deleted resource is not an error.
/// The ids of the resources among `deleted` that take others with them when they go: route
/// tables (their routes) and security groups (their rules).
pub(crate) fn parents_among<'a>(deleted: impl Iterator<Item = &'a Created>) -> BTreeSet<&'a str> {
    deleted
        .filter_map(|c| match c.resource_type.as_str() {
            "AWS::EC2::RouteTable" => Some(c.physical_id.as_str()),
            "AWS::EC2::SecurityGroup" => Some(c.kept("GroupId").unwrap_or(&c.physical_id)),
            _ => None,
        })
        .collect()
}

/// Whether `created` goes with one of `parents` (see [`parents_among`]) that is deleted in
/// the same step, as AWS removes a table's routes and a group's rules with them: a route of a
/// table in `parents`, a rule of a group in `parents` naming no other group or prefix list
/// (one that does must go first, or its peer could not be deleted).
pub(crate) fn goes_with_parent(created: &Created, parents: &BTreeSet<&str>) -> bool {
    match created.resource_type.as_str() {
        "AWS::EC2::Route" => ec2::route_goes_with_table(&created.physical_id, parents),
        "AWS::EC2::SecurityGroupEgress" | "AWS::EC2::SecurityGroupIngress" => {
            ec2::rule_goes_with_group(created, parents)
        }
        _ => false,
    }
}

/// Deletes a resource by what its creation returned.
pub(crate) async fn delete(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let id = created.physical_id.as_str();
    match created.resource_type.as_str() {
        "AWS::ApiGateway::BasePathMappingV2" => {
            custom_domain::delete_mapping(ctx, created);
            Ok(())
        }
        "AWS::ApiGateway::DomainNameAccessAssociation" => {
            custom_domain::delete_association(ctx, created);
            Ok(())
        }
        "AWS::ApiGateway::DomainNameV2" => {
            custom_domain::delete_domain(ctx, id);
            Ok(())
        }
        "AWS::CertificateManager::Certificate" => custom_domain::delete_certificate(ctx, id).await,
        "AWS::ApiGateway::Deployment" => apigateway::delete_deployment(ctx, created).await,
        "AWS::ApiGateway::Method" => apigateway::delete_method(ctx, created).await,
        "AWS::ApiGateway::Resource" => apigateway::delete_resource(ctx, created).await,
        "AWS::ApiGateway::RestApi" => apigateway::delete_rest_api(ctx, id).await,
        "AWS::ApiGateway::Stage" => apigateway::delete_stage(ctx, created).await,
        "AWS::DynamoDB::Table" => dynamodb::delete_table(ctx, id).await,
        "AWS::EC2::EIP" => ec2::delete_eip(ctx, created).await,
        "AWS::EC2::Instance" => ec2::delete_instance(ctx, created).await,
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
        "AWS::IAM::InstanceProfile" => iam::delete_instance_profile(ctx, id).await,
        "AWS::IAM::Role" => iam::delete_role(ctx, id).await,
        "AWS::Lambda::EventSourceMapping" => lambda::delete_event_source_mapping(ctx, id).await,
        "AWS::Lambda::Function" => lambda::delete_function(ctx, id).await,
        "AWS::Lambda::Permission" => lambda::delete_permission(ctx, created).await,
        "AWS::RDS::DBInstance" => {
            rds::delete_db_instance(ctx, id).await;
            Ok(())
        }
        "AWS::RDS::DBSubnetGroup" => {
            rds::delete_subnet_group(ctx, id);
            Ok(())
        }
        "AWS::SecretsManager::Secret" => secrets::delete_secret(ctx, id).await,
        "AWS::Route53::HostedZone" => route53::delete_hosted_zone(ctx, id).await,
        "AWS::Route53::RecordSet" | "AWS::Route53::RecordSetGroup" => {
            route53::delete_records(ctx, created).await
        }
        "AWS::SNS::Subscription" => sns::delete_subscription(ctx, id).await,
        "AWS::SNS::Topic" => sns::delete_topic(ctx, id).await,
        "AWS::SQS::Queue" => sqs::delete_queue(ctx, id).await,
        "AWS::SQS::QueuePolicy" => sqs::delete_queue_policy(ctx, created).await,
        "AWS::SSM::Parameter" => ssm::delete_parameter(ctx, id).await,
        _ => Ok(()),
    }
}

/// Typed access to evaluated properties; errors name the property.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Props<'a>(pub(crate) &'a Value);

impl<'a> Props<'a> {
    /// A property's value; null counts as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A property of the wrong type.
    fn wrong_type(key: &str, expected: &'static str, found: &Value) -> ProviderError {
        ProviderError::property(
            key,
            PropertyProblem::WrongType {
                expected,
                found: found.to_string(),
            },
        )
    }

    /// An optional string property.
    fn str(&self, key: &str) -> Result<Option<&'a str>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Self::wrong_type(key, "a string", other)),
        }
    }

    /// A required string property.
    fn required_str(&self, key: &str) -> Result<&'a str, ProviderError> {
        self.str(key)?.ok_or_else(|| ProviderError::missing(key))
    }

    /// A number given as a number or a numeric string (CloudFormation accepts both).
    fn i32(&self, key: &str) -> Result<Option<i32>, ProviderError> {
        let not_an_integer =
            |value: String| ProviderError::property(key, PropertyProblem::NotAnInteger { value });
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| not_an_integer(n.to_string())),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| not_an_integer(format!("{s:?}"))),
            Some(other) => Err(Self::wrong_type(key, "a number", other)),
        }
    }

    /// A boolean given as a boolean or as `"true"`/`"false"` in any case.
    fn bool(&self, key: &str) -> Result<Option<bool>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(Self::wrong_type(key, "a boolean", other)),
        }
    }

    /// A value given as an object (serialised to JSON) or as a JSON string.
    fn json_string(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// [`Props::json_string`] of a required property.
    fn required_json_string(&self, key: &str) -> Result<String, ProviderError> {
        self.json_string(key)
            .ok_or_else(|| ProviderError::missing(key))
    }

    /// A list of strings; absent is empty.
    fn strings(&self, key: &str) -> Result<Vec<String>, ProviderError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ProviderError::property(
                        key,
                        PropertyProblem::NotStrings {
                            found: other.to_string(),
                        },
                    )),
                })
                .collect(),
            Some(other) => Err(Self::wrong_type(key, "a list", other)),
        }
    }

    /// A list of anything; absent, or not a list, is empty.
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

/// First pause between two polls of [`wait_until`]; it doubles up to [`POLL_MAX`]. Most
/// waits end within tens of milliseconds (a function turning Active, a mapping Enabled).
const POLL_FIRST: Duration = Duration::from_millis(25);
/// Longest pause between two polls of [`wait_until`].
const POLL_MAX: Duration = Duration::from_millis(200);

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
    let mut pause = POLL_FIRST;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() > limit {
            return Err(ProviderError::Timeout {
                what: what.to_owned(),
                limit,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(resource_type: &str, physical_id: &str) -> Created {
        Created::new(resource_type, physical_id)
    }

    fn rule(group: &str, rule: serde_json::Value) -> Created {
        made("AWS::EC2::SecurityGroupIngress", "stack-Rule-1")
            .keep("GroupId", group)
            .keep("Rule", rule)
    }

    #[test]
    fn routes_and_plain_rules_go_with_their_table_and_group() {
        let going = [
            made("AWS::EC2::RouteTable", "rtb-1"),
            made("AWS::EC2::SecurityGroup", "stack-Group-1").keep("GroupId", "sg-1"),
            made("AWS::EC2::Subnet", "subnet-1"),
        ];
        let parents = parents_among(going.iter());
        assert_eq!(parents, BTreeSet::from(["rtb-1", "sg-1"]));
        let route = |id: &str| made("AWS::EC2::Route", id);
        assert!(goes_with_parent(&route("rtb-1|0.0.0.0/0"), &parents));
        assert!(!goes_with_parent(&route("rtb-2|0.0.0.0/0"), &parents));
        let cidr = serde_json::json!({"IpProtocol": "tcp", "CidrIp": "10.0.0.0/24"});
        assert!(goes_with_parent(&rule("sg-1", cidr.clone()), &parents));
        assert!(!goes_with_parent(&rule("sg-2", cidr), &parents));
        let from_self = serde_json::json!({"IpProtocol": "-1", "SourceSecurityGroupId": "sg-1"});
        assert!(goes_with_parent(&rule("sg-1", from_self), &parents));
        // A rule naming another group must go first, or that group could not be deleted.
        let from_other = serde_json::json!({"IpProtocol": "-1", "SourceSecurityGroupId": "sg-9"});
        assert!(!goes_with_parent(&rule("sg-1", from_other), &parents));
        assert!(!goes_with_parent(
            &made("AWS::EC2::Subnet", "subnet-1"),
            &parents
        ));
    }

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
        assert!(
            props
                .i32("Timeout")
                .unwrap_err()
                .to_string()
                .contains("Timeout")
        );
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

    #[test]
    fn property_errors_keep_their_messages() {
        let value = serde_json::json!({
            "Timeout": "abc", "Big": 3_000_000_000u64, "Name": 3, "On": "maybe",
            "List": [1], "NotList": "x", "Count": true
        });
        let props = Props(&value);
        let message = |e: ProviderError| e.to_string();
        assert_eq!(
            message(props.i32("Timeout").unwrap_err()),
            r#"property Timeout: "abc" is not an integer"#
        );
        assert_eq!(
            message(props.i32("Big").unwrap_err()),
            "property Big: 3000000000 is not an integer"
        );
        assert_eq!(
            message(props.i32("Count").unwrap_err()),
            "property Count must be a number, found true"
        );
        assert_eq!(
            message(props.str("Name").unwrap_err()),
            "property Name must be a string, found 3"
        );
        assert_eq!(
            message(props.bool("On").unwrap_err()),
            r#"property On must be a boolean, found "maybe""#
        );
        assert_eq!(
            message(props.strings("List").unwrap_err()),
            "property List must list strings, found 1"
        );
        assert_eq!(
            message(props.strings("NotList").unwrap_err()),
            r#"property NotList must be a list, found "x""#
        );
        assert_eq!(
            message(props.required_str("Gone").unwrap_err()),
            "property Gone is required"
        );
        assert!(matches!(
            props.required_str("Gone").unwrap_err(),
            ProviderError::Property { ref property, problem: PropertyProblem::Missing }
                if property == "Gone"
        ));
    }

    #[test]
    fn waits_and_types_keep_their_messages() {
        let timeout = ProviderError::Timeout {
            what: "table t to become ACTIVE".into(),
            limit: Duration::from_secs(60),
        };
        assert_eq!(
            timeout.to_string(),
            "waited 60s for table t to become ACTIVE"
        );
        let unsupported = ProviderError::Unsupported {
            resource_type: "AWS::S3::Bucket".into(),
        };
        assert!(
            unsupported.to_string().starts_with(
                "resource type AWS::S3::Bucket is not supported by vpclab's engine (supported: \
                 AWS::ApiGateway::BasePathMappingV2, AWS::ApiGateway::Deployment, "
            ),
            "{unsupported}"
        );
        assert!(!timeout.is_not_found());
    }

    #[tokio::test]
    async fn a_bounded_wait_names_what_it_waited_for() {
        let waited = wait_until("nothing", Duration::from_millis(1), || async {
            Ok::<Option<()>, ProviderError>(None)
        })
        .await
        .unwrap_err();
        assert!(
            matches!(waited, ProviderError::Timeout { ref what, .. } if what == "nothing"),
            "{waited}"
        );
    }
}
