//! `AWS::EC2::VPC`, `AWS::EC2::Subnet`, `AWS::EC2::InternetGateway` and
//! `AWS::EC2::VPCGatewayAttachment`.

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use serde_json::Value;

use super::{
    super::{super::graph::AttributeReads, Created, Props, ProviderContext, ProviderError},
    filter, tag_specification,
};
use crate::aws::{
    blocks,
    cidr::{self, Ipv4Block},
};

/// A boolean attribute value for `Modify*Attribute`.
fn flag(value: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(value).build()
}

/// Creates a VPC, sets its DNS attributes, makes its default security group admit its
/// members and reads back its default ACL when the template reads it.
pub(crate) async fn create_vpc(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
    reads: &AttributeReads,
) -> Result<Created, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let cidr = props.required_str("CidrBlock")?;
    let vpc = ec2
        .create_vpc()
        .cidr_block(cidr)
        .set_instance_tenancy(props.str("InstanceTenancy")?.map(Into::into))
        .set_tag_specifications(tag_specification(props, ResourceType::Vpc)?.map(|t| vec![t]))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateVpc {cidr}"), e))?
        .vpc
        .ok_or_else(|| ProviderError::Invalid("CreateVpc returned no Vpc".into()))?;
    let vpc_id = vpc.vpc_id().unwrap_or_default().to_owned();
    if let Some(block) = vpc.cidr_block().and_then(cidr::parse) {
        blocks::remember(&vpc_id, block);
    }
    set_dns_attributes(ctx, &vpc_id, props).await?;
    let associations: Vec<Value> = vpc
        .cidr_block_association_set()
        .iter()
        .filter_map(|a| a.association_id().map(Value::from))
        .collect();
    let default_group = default_group(ctx, &vpc_id).await?;
    let mut created = Created::new("AWS::EC2::VPC", vpc_id.clone());
    // Finding the default ACL takes a call of its own: made only when the template reads it.
    if reads.reads("DefaultNetworkAcl") {
        created = created.with("DefaultNetworkAcl", default_acl(ctx, &vpc_id).await?);
    }
    Ok(created
        .with("CidrBlock", vpc.cidr_block().unwrap_or(cidr))
        .with("CidrBlockAssociations", associations)
        .with("DefaultSecurityGroup", default_group)
        .with("Ipv6CidrBlocks", Vec::<Value>::new())
        .with("VpcId", vpc_id))
}

/// `EnableDnsSupport` and `EnableDnsHostnames`, one attribute per call, as the API wants.
async fn set_dns_attributes(
    ctx: &ProviderContext<'_>,
    vpc_id: &str,
    props: Props<'_>,
) -> Result<(), ProviderError> {
    let ec2 = &ctx.clients.ec2;
    if let Some(enabled) = props.bool("EnableDnsSupport")? {
        ec2.modify_vpc_attribute()
            .vpc_id(vpc_id)
            .enable_dns_support(flag(enabled))
            .send()
            .await
            .map_err(|e| {
                ProviderError::sdk(
                    &format!("ModifyVpcAttribute {vpc_id} (EnableDnsSupport)"),
                    e,
                )
            })?;
    }
    if let Some(enabled) = props.bool("EnableDnsHostnames")? {
        ec2.modify_vpc_attribute()
            .vpc_id(vpc_id)
            .enable_dns_hostnames(flag(enabled))
            .send()
            .await
            .map_err(|e| {
                ProviderError::sdk(
                    &format!("ModifyVpcAttribute {vpc_id} (EnableDnsHostnames)"),
                    e,
                )
            })?;
    }
    Ok(())
}

/// The VPC's default network ACL.
async fn default_acl(ctx: &ProviderContext<'_>, vpc_id: &str) -> Result<String, ProviderError> {
    Ok(ctx
        .clients
        .ec2
        .describe_network_acls()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("default", "true"))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeNetworkAcls {vpc_id}"), e))?
        .network_acls()
        .first()
        .and_then(|a| a.network_acl_id())
        .unwrap_or_default()
        .to_owned())
}

/// The VPC's default security group, made to admit its own members as AWS's does (the emulator
/// creates it with no inbound rule at all).
async fn default_group(ctx: &ProviderContext<'_>, vpc_id: &str) -> Result<String, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let described = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("group-name", "default"))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeSecurityGroups {vpc_id}"), e))?;
    let default = described.security_groups().first();
    let default_group = default
        .and_then(|g| g.group_id())
        .unwrap_or_default()
        .to_owned();
    if default.is_some_and(|g| g.ip_permissions().is_empty()) && !default_group.is_empty() {
        ec2.authorize_security_group_ingress()
            .group_id(&default_group)
            .ip_permissions(
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("-1")
                    .user_id_group_pairs(
                        aws_sdk_ec2::types::UserIdGroupPair::builder()
                            .group_id(&default_group)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                ProviderError::sdk(
                    &format!("AuthorizeSecurityGroupIngress {default_group} (default group)"),
                    e,
                )
            })?;
    }
    Ok(default_group)
}

/// Deletes a VPC.
pub(crate) async fn delete_vpc(ctx: &ProviderContext<'_>, id: &str) -> Result<(), ProviderError> {
    ctx.clients
        .ec2
        .delete_vpc()
        .vpc_id(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DeleteVpc {id}"), e))?;
    blocks::forget(id);
    Ok(())
}

/// The IPv4 blocks of a VPC, as AWS stores them.
pub(super) async fn vpc_blocks(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
) -> Result<Vec<Ipv4Block>, ProviderError> {
    let described = ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeVpcs {vpc_id}"), e))?;
    let vpc = described.vpcs().first().ok_or_else(|| {
        // An empty answer is EC2's not-found, as AWS answers it.
        ProviderError::Call(crate::aws::error::CallError {
            operation: "DescribeVpcs".into(),
            resource: Some(vpc_id.to_owned()),
            code: Some("InvalidVpcID.NotFound".into()),
            message: format!("VPC {vpc_id} does not exist"),
        })
    })?;
    if let Some(primary) = vpc.cidr_block().and_then(cidr::parse) {
        blocks::remember(vpc_id, primary);
    }
    let mut found: Vec<Ipv4Block> = vpc
        .cidr_block_association_set()
        .iter()
        .filter_map(|a| a.cidr_block())
        .filter_map(cidr::parse)
        .collect();
    if found.is_empty() {
        found.extend(vpc.cidr_block().and_then(cidr::parse));
    }
    Ok(found)
}

/// Creates a subnet after checking that its block lies inside its VPC's (the emulator does
/// not always refuse one that does not).
pub(crate) async fn create_subnet(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
    reads: &AttributeReads,
) -> Result<Created, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let vpc_id = props.required_str("VpcId")?;
    let cidr = props.required_str("CidrBlock")?;
    check_inside_vpc(ec2, logical_id, vpc_id, cidr).await?;
    let subnet = ec2
        .create_subnet()
        .vpc_id(vpc_id)
        .cidr_block(cidr)
        .set_availability_zone(props.str("AvailabilityZone")?.map(str::to_owned))
        .set_availability_zone_id(props.str("AvailabilityZoneId")?.map(str::to_owned))
        .set_tag_specifications(tag_specification(props, ResourceType::Subnet)?.map(|t| vec![t]))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateSubnet {cidr}"), e))?
        .subnet
        .ok_or_else(|| ProviderError::Invalid("CreateSubnet returned no Subnet".into()))?;
    let subnet_id = subnet.subnet_id().unwrap_or_default().to_owned();
    if let Some(block) = subnet.cidr_block().and_then(cidr::parse) {
        blocks::remember(&subnet_id, block);
    }
    if let Some(public) = props.bool("MapPublicIpOnLaunch")? {
        ec2.modify_subnet_attribute()
            .subnet_id(&subnet_id)
            .map_public_ip_on_launch(flag(public))
            .send()
            .await
            .map_err(|e| {
                ProviderError::sdk(
                    &format!("ModifySubnetAttribute {subnet_id} (MapPublicIpOnLaunch)"),
                    e,
                )
            })?;
    }
    // Finding the ACL association takes a call of its own: made only when the template reads it.
    let acl_association = if reads.reads("NetworkAclAssociationId") {
        acl_association(ctx, &subnet_id).await?
    } else {
        None
    };
    let mut created = Created::new("AWS::EC2::Subnet", subnet_id.clone())
        .with(
            "AvailabilityZone",
            subnet.availability_zone().unwrap_or_default(),
        )
        .with(
            "AvailabilityZoneId",
            subnet.availability_zone_id().unwrap_or_default(),
        )
        .with("CidrBlock", subnet.cidr_block().unwrap_or(cidr))
        .with("Ipv6CidrBlocks", Vec::<Value>::new())
        .with("SubnetId", subnet_id)
        .with("VpcId", vpc_id);
    if let Some(association) = acl_association {
        created = created.with("NetworkAclAssociationId", association);
    }
    Ok(created)
}

/// Refuses a subnet block outside its VPC's blocks (the emulator does not always).
async fn check_inside_vpc(
    ec2: &aws_sdk_ec2::Client,
    logical_id: &str,
    vpc_id: &str,
    cidr: &str,
) -> Result<(), ProviderError> {
    let block = cidr::parse(cidr).ok_or_else(|| {
        ProviderError::Invalid(format!(
            "property CidrBlock: {cidr:?} is not an IPv4 CIDR block"
        ))
    })?;
    // The primary block never changes: a subnet inside it needs no describe.
    if blocks::known_block(vpc_id).is_some_and(|primary| primary.contains(&block)) {
        return Ok(());
    }
    let vpc_blocks = vpc_blocks(ec2, vpc_id).await?;
    if vpc_blocks.iter().any(|b| b.contains(&block)) {
        return Ok(());
    }
    let listed: Vec<String> = vpc_blocks.iter().map(ToString::to_string).collect();
    Err(ProviderError::Invalid(format!(
        "subnet {logical_id}: CIDR {cidr} is not inside the CIDR {} of its VPC {vpc_id}",
        listed.join(", ")
    )))
}

/// The association of the subnet with its network ACL.
async fn acl_association(
    ctx: &ProviderContext<'_>,
    subnet_id: &str,
) -> Result<Option<String>, ProviderError> {
    Ok(ctx
        .clients
        .ec2
        .describe_network_acls()
        .filters(filter("association.subnet-id", subnet_id))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeNetworkAcls {subnet_id}"), e))?
        .network_acls()
        .iter()
        .flat_map(|acl| acl.associations())
        .find(|a| a.subnet_id() == Some(subnet_id))
        .and_then(|a| a.network_acl_association_id())
        .map(str::to_owned))
}

/// Deletes a subnet.
pub(crate) async fn delete_subnet(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .ec2
        .delete_subnet()
        .subnet_id(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DeleteSubnet {id}"), e))?;
    blocks::forget(id);
    Ok(())
}

/// Creates an internet gateway.
pub(crate) async fn create_internet_gateway(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let id = ctx
        .clients
        .ec2
        .create_internet_gateway()
        .set_tag_specifications(
            tag_specification(props, ResourceType::InternetGateway)?.map(|t| vec![t]),
        )
        .send()
        .await
        .map_err(|e| ProviderError::sdk("CreateInternetGateway", e))?
        .internet_gateway
        .and_then(|g| g.internet_gateway_id)
        .ok_or_else(|| ProviderError::Invalid("CreateInternetGateway returned no id".into()))?;
    Ok(Created::new("AWS::EC2::InternetGateway", id.clone()).with("InternetGatewayId", id))
}

/// Deletes an internet gateway.
pub(crate) async fn delete_internet_gateway(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .ec2
        .delete_internet_gateway()
        .internet_gateway_id(id)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteInternetGateway {id}"), e))
}

/// Attaches an internet (or VPN) gateway to a VPC; `Ref` is `IGW|vpc-…` as in CloudFormation.
pub(crate) async fn create_gateway_attachment(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let vpc_id = props.required_str("VpcId")?;
    if let Some(igw) = props.str("InternetGatewayId")? {
        ec2.attach_internet_gateway()
            .internet_gateway_id(igw)
            .vpc_id(vpc_id)
            .send()
            .await
            .map_err(|e| ProviderError::sdk(&format!("AttachInternetGateway {igw}"), e))?;
        return Ok(
            Created::new("AWS::EC2::VPCGatewayAttachment", format!("IGW|{vpc_id}"))
                .keep("InternetGatewayId", igw)
                .keep("VpcId", vpc_id),
        );
    }
    let vgw = props.str("VpnGatewayId")?.ok_or_else(|| {
        ProviderError::Invalid(
            "one of the properties InternetGatewayId or VpnGatewayId is required".into(),
        )
    })?;
    ec2.attach_vpn_gateway()
        .vpn_gateway_id(vgw)
        .vpc_id(vpc_id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("AttachVpnGateway {vgw}"), e))?;
    Ok(
        Created::new("AWS::EC2::VPCGatewayAttachment", format!("VGW|{vpc_id}"))
            .keep("VpnGatewayId", vgw)
            .keep("VpcId", vpc_id),
    )
}

/// Detaches the gateway again.
pub(crate) async fn delete_gateway_attachment(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let vpc_id = created.kept("VpcId").unwrap_or_default();
    if let Some(igw) = created.kept("InternetGatewayId") {
        return ec2
            .detach_internet_gateway()
            .internet_gateway_id(igw)
            .vpc_id(vpc_id)
            .send()
            .await
            .map(drop)
            .map_err(|e| ProviderError::sdk(&format!("DetachInternetGateway {igw}"), e));
    }
    ec2.detach_vpn_gateway()
        .vpn_gateway_id(created.kept("VpnGatewayId").unwrap_or_default())
        .vpc_id(vpc_id)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DetachVpnGateway {vpc_id}"), e))
}
