//! `AWS::EC2::VPCEndpoint`, with AWS-shaped `DnsEntries` and real interface ENIs.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{AttributeValue, VpcEndpoint, VpcEndpointType};
use serde_json::Value;

use super::{
    super::{Created, Props, ProviderContext, ProviderError, generated_name},
    eni,
};

/// The hosted zone id AWS gives the DNS names of interface endpoints.
pub(crate) const ENDPOINT_HOSTED_ZONE: &str = "Z7HUB22UULQXV";

/// Creates an endpoint. For an interface endpoint, the result has one ENI per subnet (created
/// here if the emulator made none) and DNS entries named as AWS names them.
pub(crate) async fn create_vpc_endpoint(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let ec2 = &ctx.clients.ec2;
    let service = props.required_str("ServiceName")?;
    let kind = props.str("VpcEndpointType")?.unwrap_or("Gateway");
    let interface = kind == "Interface";
    let subnets = props.strings("SubnetIds")?;
    let groups = props.strings("SecurityGroupIds")?;
    let endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(props.required_str("VpcId")?)
        .service_name(service)
        .vpc_endpoint_type(VpcEndpointType::from(kind))
        .set_route_table_ids(Some(props.strings("RouteTableIds")?))
        .set_subnet_ids(Some(subnets.clone()))
        .set_security_group_ids(Some(groups.clone()))
        .set_private_dns_enabled(props.bool("PrivateDnsEnabled")?)
        .set_policy_document(props.json_string("PolicyDocument"))
        .client_token(generated_name(ctx.stack_name, logical_id, 64))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateVpcEndpoint {service}"), e))?
        .vpc_endpoint
        .ok_or_else(|| {
            ProviderError::Invalid("CreateVpcEndpoint returned no VpcEndpoint".into())
        })?;
    let id = endpoint.vpc_endpoint_id().unwrap_or_default().to_owned();
    let created_at = endpoint
        .creation_timestamp()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut created = Created::new("AWS::EC2::VPCEndpoint", id.clone())
        .with("Id", id.clone())
        .with("CreationTimestamp", created_at);
    if !interface {
        return Ok(created
            .with("DnsEntries", Vec::<Value>::new())
            .with("NetworkInterfaceIds", Vec::<Value>::new()));
    }
    let mut own_enis: Vec<String> = Vec::new();
    let finished = async {
        let enis = interface_enis(ctx, &endpoint, &subnets, &groups, &mut own_enis).await?;
        let entries = aws_dns_entries(ctx, &endpoint, service, &subnets).await?;
        Ok::<_, ProviderError>((enis, entries))
    }
    .await;
    created = created.keep("OwnEnis", own_enis);
    match finished {
        Ok((enis, entries)) => Ok(created
            .with("DnsEntries", entries)
            .with("NetworkInterfaceIds", enis)),
        Err(e) => {
            if let Err(cleanup) = delete_vpc_endpoint(ctx, &created).await {
                tracing::warn!("vpclab: deleting half-created endpoint {id}: {cleanup}");
            }
            Err(e)
        }
    }
}

/// The endpoint's ENIs, one per subnet, each inside its subnet: the emulator's where its
/// address is inside the subnet (described as AWS describes them), else one made here in its
/// place. The ids of the ENIs made here are added to `own_enis`.
async fn interface_enis(
    ctx: &ProviderContext<'_>,
    endpoint: &VpcEndpoint,
    subnets: &[String],
    groups: &[String],
    own_enis: &mut Vec<String>,
) -> Result<Vec<String>, ProviderError> {
    let id = endpoint.vpc_endpoint_id().unwrap_or_default();
    let description = format!("VPC Endpoint Interface {id}");
    let emulator_enis = eni::describe(ctx, endpoint.network_interface_ids()).await?;
    let mut enis = Vec::new();
    if emulator_enis.is_empty() {
        // Some emulators store an interface endpoint without ENIs; the fabric places the
        // endpoint by its ENIs, so make them as AWS would.
        for subnet in subnets {
            let made = eni::create_interface(ctx, subnet, &description, groups).await?;
            let made = made.network_interface_id().unwrap_or_default().to_owned();
            own_enis.push(made.clone());
            enis.push(made);
        }
    }
    for emulator_eni in &emulator_enis {
        let eni_id = emulator_eni.network_interface_id().unwrap_or_default();
        let subnet = emulator_eni.subnet_id().unwrap_or_default();
        if eni::inside_subnet(ctx, emulator_eni).await? {
            // moto makes them without description or security groups: give them what AWS
            // gives them, so the fabric can filter by the endpoint's groups.
            describe_eni_as_aws(ctx, eni_id, id, groups).await;
            enis.push(eni_id.to_owned());
            continue;
        }
        // moto's address is random and outside the subnet (see `eni`): replace the ENI. moto
        // keeps listing the one it made in the endpoint's `NetworkInterfaceIds` (no call
        // changes them); the fabric finds the replacement by the description AWS gives it.
        let made = eni::create_interface(ctx, subnet, &description, groups).await?;
        let made = made.network_interface_id().unwrap_or_default().to_owned();
        own_enis.push(made.clone());
        enis.push(made);
        eni::delete_interface(ctx, eni_id).await?;
    }
    Ok(enis)
}

/// The endpoint's `DnsEntries` as AWS names them (see [`dns_entries`]).
async fn aws_dns_entries(
    ctx: &ProviderContext<'_>,
    endpoint: &VpcEndpoint,
    service: &str,
    subnets: &[String],
) -> Result<Vec<String>, ProviderError> {
    let zones = subnet_zones(ctx, subnets).await?;
    let emulator_names: Vec<String> = endpoint
        .dns_entries()
        .iter()
        .filter_map(|e| e.dns_name().map(str::to_owned))
        .collect();
    let region = ctx
        .clients
        .ec2
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let id = endpoint.vpc_endpoint_id().unwrap_or_default();
    Ok(dns_entries(id, service, &region, &emulator_names, &zones))
}

/// Sets the description and security groups AWS gives an endpoint's ENI; a failure is only
/// logged, as the endpoint works without them.
async fn describe_eni_as_aws(ctx: &ProviderContext<'_>, eni: &str, id: &str, groups: &[String]) {
    let ec2 = &ctx.clients.ec2;
    let description = ec2
        .modify_network_interface_attribute()
        .network_interface_id(eni)
        .description(
            AttributeValue::builder()
                .value(format!("VPC Endpoint Interface {id}"))
                .build(),
        )
        .send()
        .await;
    if let Err(e) = description {
        tracing::warn!(
            "vpclab: describing ENI {eni} of {id}: {}",
            ProviderError::sdk(&format!("ModifyNetworkInterfaceAttribute {eni}"), e)
        );
    }
    if groups.is_empty() {
        return;
    }
    let set_groups = ec2
        .modify_network_interface_attribute()
        .network_interface_id(eni)
        .set_groups(Some(groups.to_vec()))
        .send()
        .await;
    if let Err(e) = set_groups {
        tracing::warn!(
            "vpclab: security groups of ENI {eni} of {id}: {}",
            ProviderError::sdk(&format!("ModifyNetworkInterfaceAttribute {eni}"), e)
        );
    }
}

/// The availability zones of the subnets, sorted and without repeats.
async fn subnet_zones(
    ctx: &ProviderContext<'_>,
    subnets: &[String],
) -> Result<Vec<String>, ProviderError> {
    if subnets.is_empty() {
        return Ok(Vec::new());
    }
    let described = ctx
        .clients
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(subnets.to_vec()))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeSubnets {}", subnets.join(",")), e))?;
    let zones: BTreeSet<String> = described
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone().map(str::to_owned))
        .collect();
    Ok(zones.into_iter().collect())
}

/// `DnsEntries` as CloudFormation returns them: `HOSTEDZONE:name`, the regional name first,
/// then one per availability zone.
///
/// LocalStack names the endpoint `vpce-…-uid.<service>.<region>.vpce.localhost.localstack.cloud:4566`
/// (a port and its own domain), which breaks `Select`/`Split` chains written for AWS: its
/// first label is kept, the rest is named as AWS names it. Without a usable name, one is made
/// up in the same shape.
pub(crate) fn dns_entries(
    endpoint_id: &str,
    service_name: &str,
    region: &str,
    emulator_names: &[String],
    zones: &[String],
) -> Vec<String> {
    let suffix = service_name
        .strip_prefix(&format!("com.amazonaws.{region}."))
        .unwrap_or(service_name);
    let domain = format!("{suffix}.{region}.vpce.amazonaws.com");
    let label = emulator_names
        .iter()
        .filter_map(|name| name.split('.').next())
        .find(|label| label.starts_with(&format!("{endpoint_id}-")))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{endpoint_id}-{}", random_label(8)));
    let mut entries = vec![format!("{ENDPOINT_HOSTED_ZONE}:{label}.{domain}")];
    entries.extend(
        zones
            .iter()
            .map(|zone| format!("{ENDPOINT_HOSTED_ZONE}:{label}-{zone}.{domain}")),
    );
    entries
}

/// `len` random lowercase letters and digits.
fn random_label(len: usize) -> String {
    let mut label = String::new();
    while label.len() < len {
        label.push_str(
            &generated_name("", "", 13)
                .trim_start_matches('-')
                .to_ascii_lowercase(),
        );
    }
    label.truncate(len);
    label
}

/// Deletes the endpoint and the ENIs vpclab made for it.
pub(crate) async fn delete_vpc_endpoint(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let ec2 = &ctx.clients.ec2;
    ec2.delete_vpc_endpoints()
        .vpc_endpoint_ids(&created.physical_id)
        .send()
        .await
        .map_err(|e| {
            ProviderError::sdk(&format!("DeleteVpcEndpoints {}", created.physical_id), e)
        })?;
    let own = created
        .internal
        .get("OwnEnis")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for own_eni in own.iter().filter_map(Value::as_str) {
        eni::delete_interface(ctx, own_eni).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localstack_names_become_aws_names() {
        let names = vec![
            "vpce-0abc-1a2b3c4d.execute-api.us-east-1.vpce.localhost.localstack.cloud:4566"
                .to_owned(),
        ];
        let zones = vec!["us-east-1a".to_owned(), "us-east-1b".to_owned()];
        let entries = dns_entries(
            "vpce-0abc",
            "com.amazonaws.us-east-1.execute-api",
            "us-east-1",
            &names,
            &zones,
        );
        assert_eq!(
            entries,
            vec![
                "Z7HUB22UULQXV:vpce-0abc-1a2b3c4d.execute-api.us-east-1.vpce.amazonaws.com",
                "Z7HUB22UULQXV:vpce-0abc-1a2b3c4d-us-east-1a.execute-api.us-east-1.vpce.amazonaws.com",
                "Z7HUB22UULQXV:vpce-0abc-1a2b3c4d-us-east-1b.execute-api.us-east-1.vpce.amazonaws.com",
            ]
        );
    }

    #[test]
    fn missing_names_are_made_up_in_aws_shape() {
        let entries = dns_entries(
            "vpce-0abc",
            "com.amazonaws.eu-west-1.sqs",
            "eu-west-1",
            &[],
            &[],
        );
        assert_eq!(entries.len(), 1);
        let (zone, name) = entries[0].split_once(':').expect("zone:name");
        assert_eq!(zone, ENDPOINT_HOSTED_ZONE);
        let (label, domain) = name.split_once('.').expect("label.domain");
        assert_eq!(domain, "sqs.eu-west-1.vpce.amazonaws.com");
        let random = label.strip_prefix("vpce-0abc-").expect("endpoint id first");
        assert_eq!(random.len(), 8);
        assert!(
            random
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
