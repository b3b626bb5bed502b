//! `AWS::EC2::EIP` and `AWS::EC2::NatGateway`.

use std::time::Duration;

use aws_sdk_ec2::types::{ConnectivityType, DomainType, NatGatewayState, ResourceType};

use super::{
    super::{Created, Props, ProviderContext, ProviderError, wait_until},
    eni, is_not_found, tag_specification,
};

/// How long a NAT gateway may take to become available, or to go away.
const NAT_WAIT: Duration = Duration::from_secs(120);

/// Allocates an Elastic IP; `Ref` is the address, as CloudFormation's.
pub(crate) async fn create_eip(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let domain = match props.str("Domain")? {
        Some("standard") => DomainType::Standard,
        _ => DomainType::Vpc,
    };
    let allocated = ctx
        .clients
        .ec2
        .allocate_address()
        .domain(domain)
        .set_tag_specifications(tag_specification(props, ResourceType::ElasticIp)?.map(|t| vec![t]))
        .send()
        .await
        .map_err(|e| ProviderError::sdk("AllocateAddress", e))?;
    let ip = allocated
        .public_ip()
        .ok_or_else(|| ProviderError::Invalid("AllocateAddress returned no PublicIp".into()))?
        .to_owned();
    // AWS hands out public addresses only, and the fabric routes Elastic IPs on its internet.
    // Moto draws them from 127/8; vpclab's start-up hook (fidelity.py) fixes that, so an
    // address like this means the hook did not load.
    if !is_public(&ip) {
        let release = ctx.clients.ec2.release_address();
        let release = match allocated.allocation_id() {
            Some(id) => release.allocation_id(id),
            None => release.public_ip(&ip),
        };
        let _ = release.send().await;
        return Err(ProviderError::Invalid(format!(
            "the emulator allocated Elastic IP {ip}, which no network routes; vpclab's \
             LocalStack start-up hook (vpclab_executor.hooks) did not load: re-provision with \
             `cargo run -- provision` after removing ~/.cache/vpclab/localstack"
        )));
    }
    let allocation = allocated.allocation_id().unwrap_or_default().to_owned();
    Ok(Created::new("AWS::EC2::EIP", ip.clone())
        .with("AllocationId", allocation.clone())
        .with("PublicIp", ip)
        .keep("AllocationId", allocation))
}

/// Whether an address could be an AWS public address: not loopback, private, link-local,
/// shared (100.64.0.0/10), documentation, multicast or reserved.
fn is_public(ip: &str) -> bool {
    let Ok(ip) = ip.parse::<std::net::Ipv4Addr>() else {
        return false;
    };
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)))
}

/// Releases an Elastic IP by its allocation id.
pub(crate) async fn delete_eip(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let request = ctx.clients.ec2.release_address();
    let request = match created.kept("AllocationId").filter(|a| !a.is_empty()) {
        Some(allocation) => request.allocation_id(allocation),
        None => request.public_ip(&created.physical_id),
    };
    request
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("ReleaseAddress {}", created.physical_id), e))
}

/// The state of a NAT gateway; None when the emulator no longer knows it.
async fn nat_state(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<Option<NatGatewayState>, ProviderError> {
    let described = ctx
        .clients
        .ec2
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeNatGateways {id}"), e));
    match described {
        Ok(r) => Ok(r.nat_gateways().first().and_then(|n| n.state().cloned())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates a NAT gateway and waits until it is available.
pub(crate) async fn create_nat_gateway(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let subnet = props.required_str("SubnetId")?;
    let id = ctx
        .clients
        .ec2
        .create_nat_gateway()
        .subnet_id(subnet)
        .set_allocation_id(props.str("AllocationId")?.map(str::to_owned))
        .set_connectivity_type(props.str("ConnectivityType")?.map(ConnectivityType::from))
        .set_private_ip_address(props.str("PrivateIpAddress")?.map(str::to_owned))
        .set_tag_specifications(
            tag_specification(props, ResourceType::Natgateway)?.map(|t| vec![t]),
        )
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateNatGateway {subnet}"), e))?
        .nat_gateway
        .and_then(|n| n.nat_gateway_id)
        .ok_or_else(|| ProviderError::Invalid("CreateNatGateway returned no id".into()))?;
    let available = wait_until(
        &format!("NAT gateway {id} in {subnet} to become available"),
        NAT_WAIT,
        || async {
            match nat_state(ctx, &id).await? {
                Some(NatGatewayState::Available) => Ok(Some(Ok(()))),
                Some(NatGatewayState::Pending) => Ok(None),
                other => Ok(Some(Err(ProviderError::Invalid(format!(
                    "NAT gateway {id} is {}",
                    other.map_or("gone".to_owned(), |s| s.as_str().to_owned())
                ))))),
            }
        },
    )
    .await
    .and_then(|outcome| outcome);
    let mut created =
        Created::new("AWS::EC2::NatGateway", id.clone()).with("NatGatewayId", id.clone());
    let placed = match available {
        Ok(()) => place_interface(ctx, &id, subnet).await,
        Err(e) => Err(e),
    };
    match placed {
        Ok(Some(own)) => created = created.keep("OwnEni", own),
        Ok(None) => {}
        Err(e) => {
            if let Err(cleanup) = delete_nat_gateway(ctx, &created).await {
                tracing::warn!("vpclab: deleting half-created NAT gateway {id}: {cleanup}");
            }
            return Err(e);
        }
    }
    Ok(created)
}

/// Gives the NAT gateway an ENI inside its subnet when the emulator's is outside (see `eni`),
/// moving its Elastic IP over; returns the id of the ENI made here.
async fn place_interface(
    ctx: &ProviderContext<'_>,
    id: &str,
    subnet: &str,
) -> Result<Option<String>, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let described = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeNatGateways {id}"), e))?;
    let Some(address) = described
        .nat_gateways()
        .first()
        .and_then(|n| n.nat_gateway_addresses().first())
    else {
        return Ok(None);
    };
    let emulator_enis = eni::describe(
        ctx,
        &[address
            .network_interface_id()
            .unwrap_or_default()
            .to_owned()],
    )
    .await?;
    let Some(emulator_eni) = emulator_enis.first() else {
        return Ok(None);
    };
    if eni::inside_subnet(ctx, emulator_eni).await? {
        return Ok(None);
    }
    let made =
        eni::create_interface(ctx, subnet, &format!("Interface for NAT Gateway {id}"), &[]).await?;
    let made = made.network_interface_id().unwrap_or_default().to_owned();
    if let Some(allocation) = address.allocation_id() {
        ec2.associate_address()
            .allocation_id(allocation)
            .network_interface_id(&made)
            .allow_reassociation(true)
            .send()
            .await
            .map_err(|e| ProviderError::sdk(&format!("AssociateAddress {allocation}"), e))?;
    }
    eni::delete_interface(ctx, emulator_eni.network_interface_id().unwrap_or_default()).await?;
    Ok(Some(made))
}

/// Deletes a NAT gateway and waits until it is deleted, so its Elastic IP can be released;
/// then deletes the ENI vpclab made for it.
pub(crate) async fn delete_nat_gateway(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let id = created.physical_id.as_str();
    let deleted = ctx
        .clients
        .ec2
        .delete_nat_gateway()
        .nat_gateway_id(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DeleteNatGateway {id}"), e));
    // AWS answers `NatGatewayNotFound` for one already gone.
    match deleted {
        Err(e) if is_not_found(&e) => {}
        other => drop(other?),
    }
    wait_until(
        &format!("NAT gateway {id} to be deleted"),
        NAT_WAIT,
        || async {
            Ok(match nat_state(ctx, id).await? {
                None | Some(NatGatewayState::Deleted) => Some(()),
                Some(_) => None,
            })
        },
    )
    .await?;
    match created.kept("OwnEni") {
        Some(own) => eni::delete_interface(ctx, own).await,
        None => Ok(()),
    }
}
