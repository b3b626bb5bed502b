//! `AWS::EC2::SecurityGroup`, `AWS::EC2::SecurityGroupIngress` and
//! `AWS::EC2::SecurityGroupEgress`.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, UserIdGroupPair,
};
use serde_json::Value;

use super::{
    super::{Created, Props, ProviderContext, ProviderError, generated_name},
    tag_specification,
};

/// Which way a rule points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// The property naming the other group of a rule.
    fn peer_group_property(self) -> &'static str {
        match self {
            Self::Ingress => "SourceSecurityGroupId",
            Self::Egress => "DestinationSecurityGroupId",
        }
    }

    /// The property naming a prefix list of a rule.
    fn prefix_list_property(self) -> &'static str {
        match self {
            Self::Ingress => "SourcePrefixListId",
            Self::Egress => "DestinationPrefixListId",
        }
    }
}

/// One rule as the EC2 API wants it, from CloudFormation's rule properties.
fn permission(rule: Props<'_>, direction: Direction) -> Result<IpPermission, ProviderError> {
    let protocol = match rule.get("IpProtocol") {
        Some(Value::Number(n)) => n.to_string(),
        _ => rule.required_str("IpProtocol")?.to_owned(),
    };
    let description = rule.str("Description")?.map(str::to_owned);
    let mut permission = IpPermission::builder()
        .ip_protocol(protocol)
        .set_from_port(rule.i32("FromPort")?)
        .set_to_port(rule.i32("ToPort")?);
    if let Some(cidr) = rule.str("CidrIp")? {
        permission = permission.ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .set_description(description.clone())
                .build(),
        );
    }
    if let Some(cidr) = rule.str("CidrIpv6")? {
        permission = permission.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(cidr)
                .set_description(description.clone())
                .build(),
        );
    }
    if let Some(group) = rule.str(direction.peer_group_property())? {
        permission = permission.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(group)
                .set_user_id(rule.str("SourceSecurityGroupOwnerId")?.map(str::to_owned))
                .set_description(description.clone())
                .build(),
        );
    }
    if let Some(list) = rule.str(direction.prefix_list_property())? {
        permission = permission.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(list)
                .set_description(description)
                .build(),
        );
    }
    Ok(permission.build())
}

/// Adds rules to a group.
async fn authorize(
    ctx: &ProviderContext<'_>,
    group_id: &str,
    direction: Direction,
    permissions: Vec<IpPermission>,
) -> Result<(), ProviderError> {
    let ec2 = &ctx.clients.ec2;
    match direction {
        Direction::Ingress => ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                ProviderError::sdk(&format!("AuthorizeSecurityGroupIngress {group_id}"), e)
            }),
        Direction::Egress => ec2
            .authorize_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                ProviderError::sdk(&format!("AuthorizeSecurityGroupEgress {group_id}"), e)
            }),
    }
}

/// Removes rules from a group.
async fn revoke(
    ctx: &ProviderContext<'_>,
    group_id: &str,
    direction: Direction,
    permissions: Vec<IpPermission>,
) -> Result<(), ProviderError> {
    let ec2 = &ctx.clients.ec2;
    match direction {
        Direction::Ingress => ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map(drop)
            .map_err(|e| ProviderError::sdk(&format!("RevokeSecurityGroupIngress {group_id}"), e)),
        Direction::Egress => ec2
            .revoke_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map(drop)
            .map_err(|e| ProviderError::sdk(&format!("RevokeSecurityGroupEgress {group_id}"), e)),
    }
}

/// Creates a security group with its inline rules. Given egress rules replace the default
/// allow-all egress rule, as CloudFormation does.
pub(crate) async fn create_security_group(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let name = match props.str("GroupName")? {
        Some(name) => name.to_owned(),
        None => generated_name(ctx.stack_name, logical_id, 255),
    };
    let vpc_id = props.str("VpcId")?;
    let ingress = inline_rules(props, "SecurityGroupIngress", Direction::Ingress)?;
    let egress = inline_rules(props, "SecurityGroupEgress", Direction::Egress)?;
    let group_id = ctx
        .clients
        .ec2
        .create_security_group()
        .group_name(&name)
        .description(props.required_str("GroupDescription")?)
        .set_vpc_id(vpc_id.map(str::to_owned))
        .set_tag_specifications(
            tag_specification(props, ResourceType::SecurityGroup)?.map(|t| vec![t]),
        )
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateSecurityGroup {name}"), e))?
        .group_id
        .ok_or_else(|| ProviderError::Invalid("CreateSecurityGroup returned no GroupId".into()))?;
    let rules = authorize_inline(ctx, &group_id, ingress, egress).await;
    if let Err(e) = rules {
        if let Err(cleanup) = delete_security_group(ctx, &group_id).await {
            tracing::warn!("vpclab: deleting half-created security group {group_id}: {cleanup}");
        }
        return Err(e);
    }
    // CloudFormation's `Ref` is the id for a VPC group, the name otherwise.
    let reference = if vpc_id.is_some() {
        group_id.clone()
    } else {
        name.clone()
    };
    Ok(Created::new("AWS::EC2::SecurityGroup", reference)
        .with("GroupId", group_id.clone())
        .with("VpcId", vpc_id.unwrap_or_default())
        .keep("GroupId", group_id))
}

/// The inline rules of `property` as the EC2 API wants them.
fn inline_rules(
    props: Props<'_>,
    property: &str,
    direction: Direction,
) -> Result<Vec<IpPermission>, ProviderError> {
    props
        .array(property)
        .iter()
        .map(|r| permission(Props(r), direction))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::Invalid(format!("{property}: {e}")))
}

/// Adds a new group's inline rules; given egress rules replace the default allow-all one.
async fn authorize_inline(
    ctx: &ProviderContext<'_>,
    group_id: &str,
    ingress: Vec<IpPermission>,
    egress: Vec<IpPermission>,
) -> Result<(), ProviderError> {
    if !ingress.is_empty() {
        authorize(ctx, group_id, Direction::Ingress, ingress).await?;
    }
    if !egress.is_empty() {
        let allow_all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        revoke(ctx, group_id, Direction::Egress, vec![allow_all]).await?;
        authorize(ctx, group_id, Direction::Egress, egress).await?;
    }
    Ok(())
}

/// Deletes a security group by id.
async fn delete_security_group(
    ctx: &ProviderContext<'_>,
    group_id: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .ec2
        .delete_security_group()
        .group_id(group_id)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteSecurityGroup {group_id}"), e))
}

/// Deletes a security group by what [`create_security_group`] returned.
pub(crate) async fn delete_security_group_created(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    delete_security_group(ctx, created.kept("GroupId").unwrap_or(&created.physical_id)).await
}

/// Adds a standalone ingress (`AWS::EC2::SecurityGroupIngress`) or egress rule.
pub(crate) async fn create_rule(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    resource_type: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let direction = if resource_type.ends_with("Egress") {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    let group_id = props.required_str("GroupId")?;
    let rule = permission(props, direction)?;
    authorize(ctx, group_id, direction, vec![rule]).await?;
    Ok(Created::new(
        resource_type,
        generated_name(ctx.stack_name, logical_id, 128),
    )
    .keep("GroupId", group_id)
    .keep("Rule", props.0.clone()))
}

/// Whether the standalone rule belongs to one of `groups` and names no other group or prefix
/// list: deleting its group removes it.
pub(crate) fn rule_goes_with_group(created: &Created, groups: &BTreeSet<&str>) -> bool {
    let Some(group) = created.kept("GroupId") else {
        return false;
    };
    let Some(rule) = created.internal.get("Rule") else {
        return false;
    };
    let names_another = [
        "SourceSecurityGroupId",
        "SourceSecurityGroupName",
        "DestinationSecurityGroupId",
        "SourcePrefixListId",
        "DestinationPrefixListId",
    ]
    .iter()
    .any(|key| {
        rule.get(key)
            .is_some_and(|peer| peer.as_str() != Some(group))
    });
    groups.contains(group) && !names_another
}

/// Revokes a standalone rule.
pub(crate) async fn delete_rule(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let direction = if created.resource_type.ends_with("Egress") {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    let group_id = created.kept("GroupId").unwrap_or_default();
    let rule = created
        .internal
        .get("Rule")
        .ok_or_else(|| ProviderError::Invalid("the rule's properties were not kept".into()))?;
    revoke(
        ctx,
        group_id,
        direction,
        vec![permission(Props(rule), direction)?],
    )
    .await
}
