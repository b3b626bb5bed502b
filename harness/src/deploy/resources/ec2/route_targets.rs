//! The target of an `AWS::EC2::Route`: which property names it, whether it exists, and what
//! the emulator stored for it.

use aws_sdk_ec2::types::Route;

use super::{
    super::{Props, ProviderContext, ProviderError},
    is_not_found,
};

/// The kinds of route target: the property, what it is called in messages.
const TARGETS: &[(&str, &str)] = &[
    ("GatewayId", "gateway"),
    ("NatGatewayId", "NAT gateway"),
    ("VpcEndpointId", "VPC endpoint"),
    ("VpcPeeringConnectionId", "VPC peering connection"),
    ("NetworkInterfaceId", "network interface"),
    ("InstanceId", "instance"),
    ("TransitGatewayId", "transit gateway"),
    (
        "EgressOnlyInternetGatewayId",
        "egress-only internet gateway",
    ),
];

/// A route's target: which property named it, and the id.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    /// The property (`NatGatewayId`).
    pub(super) property: &'static str,
    /// What it is called in messages (`NAT gateway`).
    pub(super) kind: &'static str,
    /// Its id.
    pub(super) id: &'a str,
}

/// The one target of a route.
pub(super) fn target<'a>(props: Props<'a>) -> Result<Target<'a>, ProviderError> {
    let mut found = Vec::new();
    for (property, kind) in TARGETS {
        if let Some(id) = props.str(property)? {
            found.push(Target { property, kind, id });
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(ProviderError::Invalid(format!(
            "a route needs a target: one of {}",
            TARGETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
        ))),
        many => Err(ProviderError::Invalid(format!(
            "a route takes one target, found {}",
            many.iter()
                .map(|t| format!("{} {}", t.property, t.id))
                .collect::<Vec<_>>()
                .join(" and ")
        ))),
    }
}

/// Whether the target exists (and is not deleted). The emulator accepts routes to missing NAT
/// gateways and stores them without a target, so this asks before `CreateRoute`. A describe
/// answering a not-found code (`InvalidInternetGatewayID.NotFound`, AWS's
/// `NatGatewayNotFound`) means no; the emulator answers an unknown NAT gateway with an empty
/// list, which means no too.
pub(super) async fn target_exists(
    ctx: &ProviderContext<'_>,
    target: Target<'_>,
) -> Result<bool, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let id = target.id;
    let outcome = match target.property {
        "GatewayId" if id == "local" => return Ok(true),
        "GatewayId" if id.starts_with("vgw-") => vpn_gateway_exists(ec2, id).await,
        "GatewayId" if id.starts_with("vpce-") => endpoint_exists(ec2, id).await,
        "GatewayId" => internet_gateway_exists(ec2, id).await,
        "NatGatewayId" => nat_gateway_exists(ec2, id).await,
        "VpcEndpointId" => endpoint_exists(ec2, id).await,
        "VpcPeeringConnectionId" => peering_exists(ec2, id).await,
        "NetworkInterfaceId" => interface_exists(ec2, id).await,
        "InstanceId" => instance_exists(ec2, id).await,
        "TransitGatewayId" => transit_gateway_exists(ec2, id).await,
        _ => Ok(true),
    };
    match outcome {
        Err(e) if is_not_found(&e) => Ok(false),
        other => other,
    }
}

/// Whether a state means the resource is going or gone.
fn gone(state: &str) -> bool {
    matches!(state, "deleted" | "deleting" | "failed")
}

async fn vpn_gateway_exists(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<bool, ProviderError> {
    ec2.describe_vpn_gateways()
        .vpn_gateway_ids(id)
        .send()
        .await
        .map(|r| {
            r.vpn_gateways()
                .iter()
                .any(|g| g.state().is_some_and(|s| s.as_str() != "deleted"))
        })
        .map_err(|e| ProviderError::sdk(&format!("DescribeVpnGateways {id}"), e))
}

async fn internet_gateway_exists(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<bool, ProviderError> {
    ec2.describe_internet_gateways()
        .internet_gateway_ids(id)
        .send()
        .await
        .map(|r| !r.internet_gateways().is_empty())
        .map_err(|e| ProviderError::sdk(&format!("DescribeInternetGateways {id}"), e))
}

async fn nat_gateway_exists(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<bool, ProviderError> {
    ec2.describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await
        .map(|r| {
            r.nat_gateways()
                .iter()
                .any(|n| n.state().is_some_and(|s| !gone(s.as_str())))
        })
        .map_err(|e| ProviderError::sdk(&format!("DescribeNatGateways {id}"), e))
}

async fn endpoint_exists(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<bool, ProviderError> {
    ec2.describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .map(|r| {
            r.vpc_endpoints()
                .iter()
                .any(|e| e.state().is_some_and(|s| !gone(s.as_str())))
        })
        .map_err(|e| ProviderError::sdk(&format!("DescribeVpcEndpoints {id}"), e))
}

async fn peering_exists(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<bool, ProviderError> {
    ec2.describe_vpc_peering_connections()
        .vpc_peering_connection_ids(id)
        .send()
        .await
        .map(|r| {
            r.vpc_peering_connections().iter().any(|p| {
                p.status()
                    .and_then(|s| s.code())
                    .is_some_and(|c| !matches!(c.as_str(), "deleted" | "rejected" | "failed"))
            })
        })
        .map_err(|e| ProviderError::sdk(&format!("DescribeVpcPeeringConnections {id}"), e))
}

async fn interface_exists(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<bool, ProviderError> {
    ec2.describe_network_interfaces()
        .network_interface_ids(id)
        .send()
        .await
        .map(|r| !r.network_interfaces().is_empty())
        .map_err(|e| ProviderError::sdk(&format!("DescribeNetworkInterfaces {id}"), e))
}

async fn instance_exists(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<bool, ProviderError> {
    ec2.describe_instances()
        .instance_ids(id)
        .send()
        .await
        .map(|r| r.reservations().iter().any(|r| !r.instances().is_empty()))
        .map_err(|e| ProviderError::sdk(&format!("DescribeInstances {id}"), e))
}

async fn transit_gateway_exists(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<bool, ProviderError> {
    ec2.describe_transit_gateways()
        .transit_gateway_ids(id)
        .send()
        .await
        .map(|r| !r.transit_gateways().is_empty())
        .map_err(|e| ProviderError::sdk(&format!("DescribeTransitGateways {id}"), e))
}

/// The target id a stored route carries for the given target property.
pub(super) fn stored_target<'r>(route: &'r Route, property: &str) -> Option<&'r str> {
    match property {
        "GatewayId" | "VpcEndpointId" => route.gateway_id(),
        "NatGatewayId" => route.nat_gateway_id(),
        "VpcPeeringConnectionId" => route.vpc_peering_connection_id(),
        "NetworkInterfaceId" => route.network_interface_id(),
        "InstanceId" => route.instance_id(),
        "TransitGatewayId" => route.transit_gateway_id(),
        "EgressOnlyInternetGatewayId" => route.egress_only_internet_gateway_id(),
        _ => None,
    }
}
