//! Network interfaces of managed resources (endpoint interfaces, NAT gateways).
//!
//! LocalStack's EC2 (moto) gives the ENIs it makes for NAT gateways and interface endpoints a
//! random `10.x.y.z` address, usually outside their subnet; the fabric places hosts by these
//! addresses. Such ENIs are replaced by ones vpclab makes, with an address inside the subnet and
//! the description AWS gives them.

use std::net::Ipv4Addr;

use aws_sdk_ec2::types::NetworkInterface;

use super::{
    super::{ProviderContext, ProviderError},
    cidr::{self, BlockExt, Ipv4Block},
    filter,
};

/// The subnet's block, and the addresses its ENIs already use.
async fn subnet_usage(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
) -> Result<(Ipv4Block, Vec<Ipv4Addr>), ProviderError> {
    let described = ec2
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeSubnets {subnet}"), e))?;
    let block = described
        .subnets()
        .first()
        .and_then(|s| s.cidr_block())
        .and_then(cidr::parse)
        .ok_or_else(|| ProviderError(format!("subnet {subnet} has no IPv4 block")))?;
    let used = ec2
        .describe_network_interfaces()
        .filters(filter("subnet-id", subnet))
        .send()
        .await
        .map_err(|e| ProviderError::sdk("DescribeNetworkInterfaces", e))?
        .network_interfaces()
        .iter()
        .filter_map(|n| n.private_ip_address()?.parse().ok())
        .collect();
    Ok((block, used))
}

/// Whether the ENI's address lies inside its subnet.
pub(super) async fn inside_subnet(
    ctx: &ProviderContext<'_>,
    eni: &NetworkInterface,
) -> Result<bool, ProviderError> {
    let (Some(subnet), Some(address)) = (eni.subnet_id(), eni.private_ip_address()) else {
        return Ok(true);
    };
    let (block, _) = subnet_usage(&ctx.clients.ec2, subnet).await?;
    Ok(cidr::parse(&format!("{address}/32")).is_some_and(|a| block.contains(&a)))
}

/// Creates an ENI in `subnet` at its first free address (AWS reserves the first four and the
/// last), with the given description and security groups.
pub(super) async fn create_interface(
    ctx: &ProviderContext<'_>,
    subnet: &str,
    description: &str,
    groups: &[String],
) -> Result<NetworkInterface, ProviderError> {
    create_interface_with(&ctx.clients.ec2, subnet, description, groups).await
}

/// [`create_interface`] with a bare EC2 client (the fabric places Lambda ENIs and hosts with
/// it). The emulator picks ENI addresses at random, reserved ones and duplicates included.
pub(crate) async fn create_interface_with(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    description: &str,
    groups: &[String],
) -> Result<NetworkInterface, ProviderError> {
    // Choosing a free address and taking it must not interleave with another creation.
    static ALLOCATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _allocating = ALLOCATING.lock().await;
    let (block, used) = subnet_usage(ec2, subnet).await?;
    let address = block
        .usable_hosts()
        .find(|a| !used.contains(a))
        .ok_or_else(|| ProviderError(format!("subnet {subnet} ({block}) has no free address")))?;
    ec2.create_network_interface()
        .subnet_id(subnet)
        .private_ip_address(address.to_string())
        .description(description)
        .set_groups((!groups.is_empty()).then(|| groups.to_vec()))
        .send()
        .await
        .map_err(|e| ProviderError::sdk("CreateNetworkInterface", e))?
        .network_interface
        .ok_or_else(|| ProviderError("CreateNetworkInterface returned no interface".into()))
}

/// Describes ENIs by id.
pub(super) async fn describe(
    ctx: &ProviderContext<'_>,
    ids: &[String],
) -> Result<Vec<NetworkInterface>, ProviderError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(ctx
        .clients
        .ec2
        .describe_network_interfaces()
        .set_network_interface_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| ProviderError::sdk("DescribeNetworkInterfaces", e))?
        .network_interfaces
        .unwrap_or_default())
}

/// Deletes an ENI; one already gone is fine.
pub(super) async fn delete_interface(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    let deleted = ctx
        .clients
        .ec2
        .delete_network_interface()
        .network_interface_id(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk("DeleteNetworkInterface", e));
    match deleted {
        Err(e) if !super::is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}
