//! `AWS::EC2::RouteTable`, `AWS::EC2::Route` and `AWS::EC2::SubnetRouteTableAssociation`.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::ResourceType;

use super::{
    super::{Created, Props, ProviderContext, ProviderError},
    route_targets::{Target, stored_target, target, target_exists},
    tag_specification,
};

/// Creates a route table.
pub(crate) async fn create_route_table(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let vpc_id = props.required_str("VpcId")?;
    let id = ctx
        .clients
        .ec2
        .create_route_table()
        .vpc_id(vpc_id)
        .set_tag_specifications(
            tag_specification(props, ResourceType::RouteTable)?.map(|t| vec![t]),
        )
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateRouteTable {vpc_id}"), e))?
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
        .map_err(|e| ProviderError::sdk(&format!("DeleteRouteTable {id}"), e))
}

/// Creates a route after checking that its target exists, then checks that the emulator stored
/// the target. `Ref` is `rtb-…|destination`, as CloudFormation's.
pub(crate) async fn create_route(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let table = props.required_str("RouteTableId")?;
    let destination = destination(props)?;
    let target = target(props)?;
    if !target_exists(ctx, target).await? {
        return Err(ProviderError::Invalid(format!(
            "route {logical_id} ({} in {table}): its target {} {} ({}) does not exist",
            destination.1, target.kind, target.id, target.property
        )));
    }
    send_create_route(ctx, table, destination, target).await?;
    let physical_id = format!("{table}|{}", destination.1);
    // LocalStack's own CloudFormation is known to drop route targets: read the route back and
    // refuse a route the fabric could not follow.
    if let Some(problem) = stored_problem(ctx, table, destination.1, target).await? {
        if let Err(e) = delete_route(ctx, &physical_id).await {
            tracing::warn!("vpclab: deleting half-created route {physical_id}: {e}");
        }
        return Err(ProviderError::Invalid(format!(
            "route {logical_id} ({} in {table} to {} {}): the emulator stored {problem}",
            destination.1, target.kind, target.id
        )));
    }
    Ok(Created::new("AWS::EC2::Route", physical_id))
}

/// The route's destination: which property names it, and its value.
fn destination(props: Props<'_>) -> Result<(&'static str, &str), ProviderError> {
    [
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
    })
}

/// `CreateRoute` with the destination and target in the fields they belong to.
async fn send_create_route(
    ctx: &ProviderContext<'_>,
    table: &str,
    destination: (&str, &str),
    target: Target<'_>,
) -> Result<(), ProviderError> {
    let mut request = ctx.clients.ec2.create_route().route_table_id(table);
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
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("CreateRoute {table}|{}", destination.1), e))
}

/// What is wrong with the route the emulator stored for `destination` in `table`, if anything.
async fn stored_problem(
    ctx: &ProviderContext<'_>,
    table: &str,
    destination: &str,
    target: Target<'_>,
) -> Result<Option<String>, ProviderError> {
    let stored = ctx
        .clients
        .ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeRouteTables {table}"), e))?;
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
            .contains(&Some(destination))
        });
    Ok(match route {
        None => Some("no such route".to_owned()),
        Some(route) => match stored_target(route, target.property) {
            Some(stored) if stored == target.id => None,
            Some(other) => Some(format!("target {other}")),
            None => Some("no target".to_owned()),
        },
    })
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
        .map_err(|e| ProviderError::sdk(&format!("DeleteRoute {id}"), e))
}

/// Whether the route (`table|destination`) is in one of `tables`, which go with it.
pub(crate) fn route_goes_with_table(id: &str, tables: &BTreeSet<&str>) -> bool {
    id.split_once('|')
        .is_some_and(|(table, _)| tables.contains(table))
}

/// Associates a subnet (or gateway) with a route table.
pub(crate) async fn create_association(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let (table, subnet) = (
        props.required_str("RouteTableId")?,
        props.required_str("SubnetId")?,
    );
    let id = ctx
        .clients
        .ec2
        .associate_route_table()
        .route_table_id(table)
        .subnet_id(subnet)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("AssociateRouteTable {table} {subnet}"), e))?
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
        .map_err(|e| ProviderError::sdk(&format!("DisassociateRouteTable {id}"), e))
}
