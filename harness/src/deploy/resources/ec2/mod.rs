//! EC2 networking resources: the VPC topology that the network fabric later realises.
//!
//! The emulator's EC2 only stores these resources; providers here check what AWS would refuse
//! (CIDRs outside their VPC, routes to missing targets, overlapping peers) and make the stored
//! state AWS-shaped where the emulator is not (route targets, endpoint DNS entries and ENIs,
//! instances' addresses).

mod endpoint;
mod eni;
mod instance;
mod nat;
mod peering;
mod route_targets;
mod routing;
mod security_group;
mod vpc;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::{Props, ProviderError};

pub(super) use endpoint::{create_vpc_endpoint, delete_vpc_endpoint};
pub(super) use instance::{create_instance, delete_instance};
pub(super) use nat::{create_eip, create_nat_gateway, delete_eip, delete_nat_gateway};
pub(crate) use peering::client_for;
pub(super) use peering::{create_peering, delete_peering};
pub(super) use routing::{
    create_association, create_route, create_route_table, delete_association, delete_route,
    delete_route_table, route_goes_with_table,
};
pub(super) use security_group::{
    create_rule, create_security_group, delete_rule,
    delete_security_group_created as delete_security_group, rule_goes_with_group,
};
pub(super) use vpc::{
    create_gateway_attachment, create_internet_gateway, create_subnet, create_vpc,
    delete_gateway_attachment, delete_internet_gateway, delete_subnet, delete_vpc,
};

/// The `Tags` property (a list of `{Key, Value}`) as a tag specification, if there are tags.
fn tag_specification(
    props: Props<'_>,
    resource_type: ResourceType,
) -> Result<Option<TagSpecification>, ProviderError> {
    let mut tags = Vec::new();
    for tag in props.array("Tags") {
        let tag = Props(tag);
        tags.push(
            Tag::builder()
                .key(tag.required_str("Key")?)
                .value(tag.str("Value")?.unwrap_or_default())
                .build(),
        );
    }
    Ok((!tags.is_empty()).then(|| {
        TagSpecification::builder()
            .resource_type(resource_type)
            .set_tags(Some(tags))
            .build()
    }))
}

/// A describe filter.
fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Whether an SDK error says the resource does not exist.
fn is_not_found(error: &ProviderError) -> bool {
    error.is_not_found()
}
