//! `AWS::EC2::VPCPeeringConnection`: requested, checked for overlap, and accepted.

use std::time::Duration;

use aws_sdk_ec2::config::{Credentials, Region, SharedCredentialsProvider};

use super::{
    super::{Created, Props, ProviderContext, ProviderError, wait_until},
    vpc::vpc_blocks,
};
use crate::aws::cidr::{BlockExt, Ipv4Block};

/// How long an accepted peering may take to become active.
const ACTIVE_WAIT: Duration = Duration::from_secs(30);

/// An EC2 client for another region and account (the emulator takes the access key id as the
/// account).
pub(crate) fn client_for(
    ec2: &aws_sdk_ec2::Client,
    region: Option<&str>,
    owner: Option<&str>,
) -> aws_sdk_ec2::Client {
    if region.is_none() && owner.is_none() {
        return ec2.clone();
    }
    let mut config = ec2.config().to_builder();
    if let Some(region) = region {
        config = config.region(Region::new(region.to_owned()));
    }
    if let Some(owner) = owner {
        config = config.credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            owner, "test", None, None, "vpclab",
        )));
    }
    aws_sdk_ec2::Client::from_conf(config.build())
}

/// The first pair of overlapping blocks, if any.
pub(crate) fn first_overlap(
    ours: &[Ipv4Block],
    theirs: &[Ipv4Block],
) -> Option<(Ipv4Block, Ipv4Block)> {
    ours.iter()
        .flat_map(|a| theirs.iter().map(move |b| (*a, *b)))
        .find(|(a, b)| a.overlaps(b))
}

/// Requests a peering, refuses overlapping VPCs as AWS does, and accepts it on the peer's side
/// so that it becomes active.
pub(crate) async fn create_peering(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let vpc_id = props.required_str("VpcId")?;
    let peer_vpc_id = props.required_str("PeerVpcId")?;
    let peer_region = props.str("PeerRegion")?;
    let peer_owner = props.str("PeerOwnerId")?;
    let peer = client_for(ec2, peer_region, peer_owner);
    let ours = vpc_blocks(ec2, vpc_id).await?;
    let theirs = vpc_blocks(&peer, peer_vpc_id).await.map_err(|e| {
        if !e.is_not_found() {
            return ProviderError::Invalid(format!("peer VPC: {e}"));
        }
        let region = peer_region.map_or_else(|| "this region".to_owned(), str::to_owned);
        ProviderError::Invalid(format!(
            "peering {logical_id}: peer VPC {peer_vpc_id} does not exist in {region}; give \
             PeerVpcId of an existing VPC, and PeerRegion its region when it is another"
        ))
    })?;
    if let Some((a, b)) = first_overlap(&ours, &theirs) {
        return Err(ProviderError::Invalid(format!(
            "peering {logical_id}: VPC {vpc_id} ({a}) and peer VPC {peer_vpc_id}{} ({b}) have \
             overlapping CIDR blocks; AWS refuses to peer them",
            peer_region.map(|r| format!(" in {r}")).unwrap_or_default()
        )));
    }
    let id = ec2
        .create_vpc_peering_connection()
        .vpc_id(vpc_id)
        .peer_vpc_id(peer_vpc_id)
        .set_peer_region(peer_region.map(str::to_owned))
        .set_peer_owner_id(peer_owner.map(str::to_owned))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateVpcPeeringConnection {vpc_id}"), e))?
        .vpc_peering_connection
        .and_then(|p| p.vpc_peering_connection_id)
        .ok_or_else(|| {
            ProviderError::Invalid("CreateVpcPeeringConnection returned no id".into())
        })?;
    let accepted = accept(ec2, &peer, &id, vpc_id, peer_vpc_id).await;
    if let Err(e) = accepted {
        if let Err(cleanup) = delete_peering(ctx, &id).await {
            tracing::warn!("vpclab: deleting half-created peering {id}: {cleanup}");
        }
        return Err(e);
    }
    Ok(Created::new("AWS::EC2::VPCPeeringConnection", id.clone()).with("Id", id))
}

/// Accepts the peering on the peer's side and waits until it is active.
async fn accept(
    ec2: &aws_sdk_ec2::Client,
    peer: &aws_sdk_ec2::Client,
    id: &str,
    vpc_id: &str,
    peer_vpc_id: &str,
) -> Result<(), ProviderError> {
    // The accepter is the peer's side; fall back to ours where the emulator keeps the
    // connection only in the requester's region.
    let on_peer = peer
        .accept_vpc_peering_connection()
        .vpc_peering_connection_id(id)
        .send()
        .await;
    if let Err(e) = on_peer {
        let peer_error = ProviderError::sdk(&format!("AcceptVpcPeeringConnection {id}"), e);
        ec2.accept_vpc_peering_connection()
            .vpc_peering_connection_id(id)
            .send()
            .await
            .map_err(|_| peer_error)?;
    }
    wait_until(
        &format!("peering {id} between {vpc_id} and {peer_vpc_id} to become active"),
        ACTIVE_WAIT,
        || async {
            match peering_status(ec2, id).await?.as_str() {
                "active" => Ok(Some(())),
                "pending-acceptance" | "provisioning" | "initiating-request" => Ok(None),
                other => Err(ProviderError::Invalid(format!("peering {id} is {other}"))),
            }
        },
    )
    .await
}

/// The status code of a peering connection (empty when the emulator gives none).
async fn peering_status(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<String, ProviderError> {
    let described = ec2
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeVpcPeeringConnections {id}"), e))?;
    Ok(described
        .vpc_peering_connections()
        .first()
        .and_then(|p| p.status())
        .and_then(|s| s.code())
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default())
}

/// Deletes a peering connection.
pub(crate) async fn delete_peering(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .ec2
        .delete_vpc_peering_connection()
        .vpc_peering_connection_id(id)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteVpcPeeringConnection {id}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_vpcs_are_found() {
        let parse = |t: &str| crate::aws::cidr::parse(t).expect(t);
        let ours = [parse("10.0.0.0/16")];
        assert_eq!(
            first_overlap(&ours, &[parse("10.1.0.0/16"), parse("10.0.128.0/17")]),
            Some((parse("10.0.0.0/16"), parse("10.0.128.0/17")))
        );
        assert_eq!(first_overlap(&ours, &[parse("10.1.0.0/16")]), None);
    }
}
