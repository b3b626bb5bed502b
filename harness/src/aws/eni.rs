//! Network interfaces at free addresses: the engine (NAT gateways, interface endpoints,
//! instances) and the fabric (Lambda ENIs, test hosts) both take addresses here.
//!
//! The emulator picks ENI addresses at random, reserved ones and duplicates included; AWS gives
//! a free address of the subnet, never one of the four it reserves at the start or the last.

use std::{collections::HashMap, net::Ipv4Addr, sync::Arc};

use aws_sdk_ec2::types::{Filter, NetworkInterface};

use super::{
    cidr::{self, BlockExt, Ipv4Block},
    error::CallError,
};

/// The subnet's block, and the addresses its ENIs already use.
pub(crate) async fn subnet_usage(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
) -> Result<(Ipv4Block, Vec<Ipv4Addr>), CallError> {
    let described = ec2
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .map_err(|e| CallError::new(&format!("DescribeSubnets {subnet}"), e))?;
    let block = described
        .subnets()
        .first()
        .and_then(|s| s.cidr_block())
        .and_then(cidr::parse)
        .ok_or_else(|| {
            CallError::local(
                "DescribeSubnets",
                Some(subnet),
                "the subnet has no IPv4 block".into(),
            )
        })?;
    let used = ec2
        .describe_network_interfaces()
        .filters(Filter::builder().name("subnet-id").values(subnet).build())
        .send()
        .await
        .map_err(|e| CallError::new(&format!("DescribeNetworkInterfaces {subnet}"), e))?
        .network_interfaces()
        .iter()
        .filter_map(|n| n.private_ip_address()?.parse().ok())
        .collect();
    Ok((block, used))
}

/// Serialises choosing a free address of `subnet` and taking it: no other creation in that
/// subnet (an ENI, an instance) may interleave; other subnets' go on. Hold the guard until the
/// address is taken.
pub(crate) async fn allocation_guard(subnet: &str) -> tokio::sync::OwnedMutexGuard<()> {
    type Locks = std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;
    static BY_SUBNET: std::sync::OnceLock<Locks> = std::sync::OnceLock::new();
    let lock = BY_SUBNET
        .get_or_init(Locks::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(subnet.to_owned())
        .or_default()
        .clone();
    lock.lock_owned().await
}

/// The first address of `subnet` AWS would give: not reserved, not used by an ENI (call it
/// under [`allocation_guard`]).
pub(crate) async fn free_address(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    operation: &str,
) -> Result<Ipv4Addr, CallError> {
    let (block, used) = subnet_usage(ec2, subnet).await?;
    block
        .usable_hosts()
        .find(|a| !used.contains(a))
        .ok_or_else(|| {
            CallError::local(
                operation,
                Some(subnet),
                format!("the subnet ({block}) has no free address"),
            )
        })
}

/// Creates an ENI in `subnet` at its first free address, with the given description and
/// security groups (none: EC2 puts it in the VPC's default group).
pub(crate) async fn create_interface(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    description: &str,
    groups: &[String],
) -> Result<NetworkInterface, CallError> {
    let _allocating = allocation_guard(subnet).await;
    let address = free_address(ec2, subnet, "CreateNetworkInterface").await?;
    ec2.create_network_interface()
        .subnet_id(subnet)
        .private_ip_address(address.to_string())
        .description(description)
        .set_groups((!groups.is_empty()).then(|| groups.to_vec()))
        .send()
        .await
        .map_err(|e| CallError::new(&format!("CreateNetworkInterface {subnet}"), e))?
        .network_interface
        .ok_or_else(|| {
            CallError::local(
                "CreateNetworkInterface",
                Some(subnet),
                "the answer holds no interface".into(),
            )
        })
}
