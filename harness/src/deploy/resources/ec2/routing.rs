//! `AWS::EC2::RouteTable`, `AWS::EC2::Route` and `AWS::EC2::SubnetRouteTableAssociation`.

use aws_sdk_ec2::types::{ResourceType, Route};

use super::{
    super::{Created, Props, ProviderContext, ProviderError},
    is_not_found, tag_specification,
};

/// Creates a route table.
pub(crate) async fn create_route_table(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let id = ctx
        .clients
        .ec2
        .create_route_table()
        .vpc_id(props.required_str("VpcId")?)
        .set_tag_specifications(
            tag_specification(props, ResourceType::RouteTable)?.map(|t| vec![t]),
        )
        .send()
        .await
        .map_err(|e| ProviderError::sdk("CreateRouteTable", e))?
        .route_table
        .and_then(|t| t.route_table_id)
        .ok_or_else(|| ProviderError::Invalid("CreateRouteTable returned no id".into()))?;
    Ok(Created::new("AWS::EC2::RouteTable", id.clone()).with("RouteTableId", id))
}

/// Deletes a route table.
pub(crate) async fn delete_route_table(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .ec2
        .delete_route_table()
        .route_table_id(id)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk("DeleteRouteTable", e))
}

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
struct Target<'a> {
    property: &'static str,
    kind: &'static str,
    id: &'a str,
}

/// The one target of a route.
fn target<'a>(props: Props<'a>) -> Result<Target<'a>, ProviderError> {
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
/// gateways and stores them without a target, so this asks before `CreateRoute`.
async fn target_exists(
    ctx: &ProviderContext<'_>,
    target: Target<'_>,
) -> Result<bool, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let id = target.id.to_owned();
    let outcome = match target.property {
        "GatewayId" if id == "local" => return Ok(true),
        "GatewayId" if id.starts_with("vgw-") => ec2
            .describe_vpn_gateways()
            .vpn_gateway_ids(&id)
            .send()
            .await
            .map(|r| {
                r.vpn_gateways()
                    .iter()
                    .any(|g| g.state().is_some_and(|s| s.as_str() != "deleted"))
            })
            .map_err(|e| ProviderError::sdk("DescribeVpnGateways", e)),
        "GatewayId" if id.starts_with("vpce-") => endpoint_exists(ctx, &id).await,
        "GatewayId" => ec2
            .describe_internet_gateways()
            .internet_gateway_ids(&id)
            .send()
            .await
            .map(|r| !r.internet_gateways().is_empty())
            .map_err(|e| ProviderError::sdk("DescribeInternetGateways", e)),
        "NatGatewayId" => ec2
            .describe_nat_gateways()
            .nat_gateway_ids(&id)
            .send()
            .await
            .map(|r| {
                r.nat_gateways().iter().any(|n| {
                    n.state()
                        .is_some_and(|s| !matches!(s.as_str(), "deleted" | "deleting" | "failed"))
                })
            })
            .map_err(|e| ProviderError::sdk("DescribeNatGateways", e)),
        "VpcEndpointId" => endpoint_exists(ctx, &id).await,
        "VpcPeeringConnectionId" => ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(&id)
            .send()
            .await
            .map(|r| {
                r.vpc_peering_connections().iter().any(|p| {
                    p.status()
                        .and_then(|s| s.code())
                        .is_some_and(|c| !matches!(c.as_str(), "deleted" | "rejected" | "failed"))
                })
            })
            .map_err(|e| ProviderError::sdk("DescribeVpcPeeringConnections", e)),
        "NetworkInterfaceId" => ec2
            .describe_network_interfaces()
            .network_interface_ids(&id)
            .send()
            .await
            .map(|r| !r.network_interfaces().is_empty())
            .map_err(|e| ProviderError::sdk("DescribeNetworkInterfaces", e)),
        "InstanceId" => ec2
            .describe_instances()
            .instance_ids(&id)
            .send()
            .await
            .map(|r| r.reservations().iter().any(|r| !r.instances().is_empty()))
            .map_err(|e| ProviderError::sdk("DescribeInstances", e)),
        "TransitGatewayId" => ec2
            .describe_transit_gateways()
            .transit_gateway_ids(&id)
            .send()
            .await
            .map(|r| !r.transit_gateways().is_empty())
            .map_err(|e| ProviderError::sdk("DescribeTransitGateways", e)),
        _ => Ok(true),
    };
    match outcome {
        Err(e) if is_not_found(&e) => Ok(false),
        other => other,
    }
}

async fn endpoint_exists(ctx: &ProviderContext<'_>, id: &str) -> Result<bool, ProviderError> {
    ctx.clients
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
        .map(|r| {
            r.vpc_endpoints().iter().any(|e| {
                e.state()
                    .is_some_and(|s| !matches!(s.as_str(), "deleted" | "deleting" | "failed"))
            })
        })
        .map_err(|e| ProviderError::sdk("DescribeVpcEndpoints", e))
}

/// The target id a stored route carries for the given target property.
fn stored_target<'r>(route: &'r Route, property: &str) -> Option<&'r str> {
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

/// Creates a route after checking that its target exists, then checks that the emulator stored
/// the target. `Ref` is `rtb-…|destination`, as CloudFormation's.
pub(crate) async fn create_route(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let table = props.required_str("RouteTableId")?;
    let destination = [
        "DestinationCidrBlock",
        "DestinationIpv6CidrBlock",
        "DestinationPrefixListId",
    ]
    .into_iter()
    .find_map(|key| props.str(key).transpose().map(|v| v.map(|v| (key, v))))
    .transpose()?
    .ok_or_else(|| {
        ProviderError::Invalid(
            "a route needs DestinationCidrBlock, DestinationIpv6CidrBlock or \
             DestinationPrefixListId"
                .into(),
        )
    })?;
    let target = target(props)?;
    if !target_exists(ctx, target).await? {
        return Err(ProviderError::Invalid(format!(
            "route {logical_id} ({} in {table}): its target {} {} ({}) does not exist",
            destination.1, target.kind, target.id, target.property
        )));
    }
    let mut request = ec2.create_route().route_table_id(table);
    request = match destination.0 {
        "DestinationCidrBlock" => request.destination_cidr_block(destination.1),
        "DestinationIpv6CidrBlock" => request.destination_ipv6_cidr_block(destination.1),
        _ => request.destination_prefix_list_id(destination.1),
    };
    let id = target.id;
    request = match target.property {
        "GatewayId" => request.gateway_id(id),
        "NatGatewayId" => request.nat_gateway_id(id),
        "VpcEndpointId" => request.vpc_endpoint_id(id),
        "VpcPeeringConnectionId" => request.vpc_peering_connection_id(id),
        "NetworkInterfaceId" => request.network_interface_id(id),
        "InstanceId" => request.instance_id(id),
        "TransitGatewayId" => request.transit_gateway_id(id),
        _ => request.egress_only_internet_gateway_id(id),
    };
    request
        .send()
        .await
        .map_err(|e| ProviderError::sdk("CreateRoute", e))?;
    let physical_id = format!("{table}|{}", destination.1);
    let created = Created::new("AWS::EC2::Route", physical_id.clone());
    // LocalStack's own CloudFormation is known to drop route targets: read the route back and
    // refuse a route the fabric could not follow.
    let stored = ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .map_err(|e| ProviderError::sdk("DescribeRouteTables", e))?;
    let route = stored
        .route_tables()
        .iter()
        .flat_map(|t| t.routes())
        .find(|r| {
            [
                r.destination_cidr_block(),
                r.destination_ipv6_cidr_block(),
                r.destination_prefix_list_id(),
            ]
            .contains(&Some(destination.1))
        });
    let problem = match route {
        None => Some("no such route".to_owned()),
        Some(route) => match stored_target(route, target.property) {
            Some(stored) if stored == id => None,
            Some(other) => Some(format!("target {other}")),
            None => Some("no target".to_owned()),
        },
    };
    if let Some(problem) = problem {
        if let Err(e) = delete_route(ctx, &physical_id).await {
            tracing::warn!("vpclab: deleting half-created route {physical_id}: {e}");
        }
        return Err(ProviderError::Invalid(format!(
            "route {logical_id} ({} in {table} to {} {id}): the emulator stored {problem}",
            destination.1, target.kind
        )));
    }
    Ok(created)
}

/// Deletes a route named by its `rtb-…|destination` id.
pub(crate) async fn delete_route(ctx: &ProviderContext<'_>, id: &str) -> Result<(), ProviderError> {
    let (table, destination) = id.split_once('|').ok_or_else(|| {
        ProviderError::Invalid(format!("route id {id} is not `table|destination`"))
    })?;
    let request = ctx.clients.ec2.delete_route().route_table_id(table);
    let request = if destination.starts_with("pl-") {
        request.destination_prefix_list_id(destination)
    } else if destination.contains(':') {
        request.destination_ipv6_cidr_block(destination)
    } else {
        request.destination_cidr_block(destination)
    };
    request
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk("DeleteRoute", e))
}

/// Associates a subnet (or gateway) with a route table.
pub(crate) async fn create_association(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let id = ctx
        .clients
        .ec2
        .associate_route_table()
        .route_table_id(props.required_str("RouteTableId")?)
        .subnet_id(props.required_str("SubnetId")?)
        .send()
        .await
        .map_err(|e| ProviderError::sdk("AssociateRouteTable", e))?
        .association_id
        .ok_or_else(|| {
            ProviderError::Invalid("AssociateRouteTable returned no AssociationId".into())
        })?;
    Ok(Created::new("AWS::EC2::SubnetRouteTableAssociation", id.clone()).with("Id", id))
}

/// Removes the association.
pub(crate) async fn delete_association(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .ec2
        .disassociate_route_table()
        .association_id(id)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk("DisassociateRouteTable", e))
}
