//! Blocks that never change once made, read once for the process: a subnet's IPv4 block and
//! a VPC's primary block (secondary blocks come and go, and are always described).

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use super::{
    cidr::{self, Ipv4Block},
    error::CallError,
};

/// Known blocks, by subnet or VPC id (the prefixes keep the two apart).
fn known() -> &'static Mutex<HashMap<String, Ipv4Block>> {
    static BLOCKS: OnceLock<Mutex<HashMap<String, Ipv4Block>>> = OnceLock::new();
    BLOCKS.get_or_init(Mutex::default)
}

/// Records the block of `id` (a subnet, or a VPC's primary block) as EC2 gave it.
pub(crate) fn remember(id: &str, block: Ipv4Block) {
    known()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.to_owned(), block);
}

/// Forgets the block of a deleted subnet or VPC.
pub(crate) fn forget(id: &str) {
    known().lock().unwrap_or_else(|e| e.into_inner()).remove(id);
}

/// The block recorded for `id`, if any.
pub(crate) fn known_block(id: &str) -> Option<Ipv4Block> {
    known()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .copied()
}

/// The subnet's IPv4 block, described once.
pub(crate) async fn subnet_block(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
) -> Result<Ipv4Block, CallError> {
    if let Some(block) = known_block(subnet) {
        return Ok(block);
    }
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
    remember(subnet, block);
    Ok(block)
}
