//! Network interfaces of managed resources (endpoint interfaces, NAT gateways).
//!
//! LocalStack's EC2 (moto) gives the ENIs it makes for NAT gateways and interface endpoints a
//! random `10.x.y.z` address, usually outside their subnet; the fabric places hosts by these
//! addresses. Such ENIs are replaced by ones vpclab makes, with an address inside the subnet and
//! the description AWS gives them.

use aws_sdk_ec2::types::NetworkInterface;

use super::super::{ProviderContext, ProviderError};
use crate::aws::{cidr, eni};

/// Whether the ENI's address lies inside its subnet.
pub(super) async fn inside_subnet(
    ctx: &ProviderContext<'_>,
    eni: &NetworkInterface,
) -> Result<bool, ProviderError> {
    let (Some(subnet), Some(address)) = (eni.subnet_id(), eni.private_ip_address()) else {
        return Ok(true);
    };
    let block = crate::aws::blocks::subnet_block(&ctx.clients.ec2, subnet).await?;
    Ok(cidr::parse(&format!("{address}/32")).is_some_and(|a| block.contains(&a)))
}

/// Creates an ENI in `subnet` at its first free address (see [`eni::create_interface`]).
pub(super) async fn create_interface(
    ctx: &ProviderContext<'_>,
    subnet: &str,
    description: &str,
    groups: &[String],
) -> Result<NetworkInterface, ProviderError> {
    Ok(eni::create_interface(&ctx.clients.ec2, subnet, description, groups).await?)
}

/// Describes ENIs by id; none when one of them does not exist (EC2 answers
/// `InvalidNetworkInterfaceID.NotFound` for the whole call).
pub(super) async fn describe(
    ctx: &ProviderContext<'_>,
    ids: &[String],
) -> Result<Vec<NetworkInterface>, ProviderError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let described = ctx
        .clients
        .ec2
        .describe_network_interfaces()
        .set_network_interface_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| {
            ProviderError::sdk(&format!("DescribeNetworkInterfaces {}", ids.join(",")), e)
        });
    match described {
        Ok(described) => Ok(described.network_interfaces.unwrap_or_default()),
        Err(e) if super::is_not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
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
        .map_err(|e| ProviderError::sdk(&format!("DeleteNetworkInterface {id}"), e));
    match deleted {
        Err(e) if !super::is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}
