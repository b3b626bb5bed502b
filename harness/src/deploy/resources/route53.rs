//! `AWS::Route53::HostedZone` (public, or private to the VPCs it lists, in any region of the
//! account), `AWS::Route53::RecordSet` and `AWS::Route53::RecordSetGroup` (plain records and
//! alias records). The fabric's resolvers answer from what Route 53 then describes.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord,
    ResourceRecordSet, RrType, Vpc, VpcRegion,
};
use serde_json::Value;

use super::{Created, Props, ProviderContext, ProviderError, ec2::client_for, generated_name};

/// A hosted zone's id without the `/hostedzone/` prefix, as `Ref` returns it.
fn bare_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// A zone's `VPCs` entry: `(VPCId, VPCRegion)`.
fn zone_vpcs(props: Props<'_>) -> Result<Vec<(String, String)>, ProviderError> {
    props
        .array("VPCs")
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let entry = Props(entry);
            let at = |p: &str| format!("VPCs[{i}].{p}");
            let id = entry
                .required_str("VPCId")
                .map_err(|_| ProviderError::missing(&at("VPCId")))?;
            let region = entry
                .required_str("VPCRegion")
                .map_err(|_| ProviderError::missing(&at("VPCRegion")))?;
            Ok((id.to_owned(), region.to_owned()))
        })
        .collect()
}

/// Refuses a VPC that does not exist in the region the zone names for it.
async fn check_vpc(
    ctx: &ProviderContext<'_>,
    zone: &str,
    vpc_id: &str,
    region: &str,
) -> Result<(), ProviderError> {
    let ec2 = client_for(&ctx.clients.ec2, Some(region), None);
    let found = ec2.describe_vpcs().vpc_ids(vpc_id).send().await;
    let exists = match found {
        Ok(out) => !out.vpcs().is_empty(),
        Err(e) => {
            let e = ProviderError::sdk(&format!("DescribeVpcs {vpc_id}"), e);
            if !e.is_not_found() {
                return Err(e);
            }
            false
        }
    };
    if exists {
        return Ok(());
    }
    Err(ProviderError::Invalid(format!(
        "hosted zone {zone}: VPC {vpc_id} does not exist in {region}; associate a VPC of that \
         region (VPCs[].VPCId), or name the VPC's own region (VPCs[].VPCRegion)"
    )))
}

/// Creates the zone (private when it lists VPCs) and associates every VPC it lists.
pub(super) async fn create_hosted_zone(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let name = props.required_str("Name")?;
    let vpcs = zone_vpcs(props)?;
    for (vpc_id, region) in &vpcs {
        check_vpc(ctx, name, vpc_id, region).await?;
    }
    let comment = props
        .0
        .get("HostedZoneConfig")
        .and_then(|c| c.get("Comment"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut config = HostedZoneConfig::builder().comment(comment);
    let mut request = ctx
        .clients
        .route53
        .create_hosted_zone()
        .name(name)
        .caller_reference(generated_name(ctx.stack_name, logical_id, 128));
    if let Some((vpc_id, region)) = vpcs.first() {
        config = config.private_zone(true);
        request = request.vpc(vpc(vpc_id, region));
    }
    let created = request
        .hosted_zone_config(config.build())
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateHostedZone {name}"), e))?;
    let zone = created.hosted_zone().ok_or(ProviderError::Incomplete {
        operation: "CreateHostedZone",
        field: "HostedZone",
    })?;
    let id = bare_id(zone.id()).to_owned();
    for (vpc_id, region) in vpcs.iter().skip(1) {
        ctx.clients
            .route53
            .associate_vpc_with_hosted_zone()
            .hosted_zone_id(&id)
            .vpc(vpc(vpc_id, region))
            .send()
            .await
            .map_err(|e| ProviderError::sdk(&format!("AssociateVPCWithHostedZone {id}"), e))?;
    }
    let name_servers: Vec<Value> = created
        .delegation_set()
        .map(|d| {
            d.name_servers()
                .iter()
                .map(|n| Value::from(n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Created::new("AWS::Route53::HostedZone", id.clone())
        .with("Id", id)
        .with("NameServers", Value::Array(name_servers)))
}

fn vpc(id: &str, region: &str) -> Vpc {
    Vpc::builder()
        .vpc_id(id)
        .vpc_region(VpcRegion::from(region))
        .build()
}

/// Deletes the zone after the records it still holds besides its own NS and SOA.
pub(super) async fn delete_hosted_zone(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .route53
        .delete_hosted_zone()
        .id(id)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteHostedZone {id}"), e))
}

/// The zone a record names: `HostedZoneId`, else the zone called `HostedZoneName`.
async fn record_zone(ctx: &ProviderContext<'_>, props: Props<'_>) -> Result<String, ProviderError> {
    if let Some(id) = props.str("HostedZoneId")? {
        return Ok(bare_id(id).to_owned());
    }
    let Some(name) = props.str("HostedZoneName")? else {
        return Err(ProviderError::Invalid(
            "give the record's zone as HostedZoneId or HostedZoneName".into(),
        ));
    };
    let wanted = fqdn(name);
    let zones = ctx
        .clients
        .route53
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("ListHostedZonesByName {name}"), e))?;
    zones
        .hosted_zones()
        .iter()
        .find(|z| fqdn(z.name()) == wanted)
        .map(|z| bare_id(z.id()).to_owned())
        .ok_or_else(|| {
            ProviderError::Invalid(format!(
                "HostedZoneName {name}: no hosted zone of that name in the account; create it \
                 first or give its HostedZoneId"
            ))
        })
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_lowercase())
}

/// One record set from its properties.
fn record_set(props: Props<'_>) -> Result<ResourceRecordSet, ProviderError> {
    let name = props.required_str("Name")?;
    let kind = props.required_str("Type")?;
    let mut record = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::from(kind))
        .set_set_identifier(props.str("SetIdentifier")?.map(str::to_owned))
        .set_weight(props.i32("Weight")?.map(i64::from));
    if let Some(alias) = props.0.get("AliasTarget") {
        let alias = Props(alias);
        let target = AliasTarget::builder()
            .dns_name(alias.required_str("DNSName")?)
            .hosted_zone_id(alias.required_str("HostedZoneId")?)
            .evaluate_target_health(alias.bool("EvaluateTargetHealth")?.unwrap_or(false))
            .build()
            .map_err(|e| ProviderError::Invalid(format!("AliasTarget: {e}")))?;
        record = record.alias_target(target);
    } else {
        let values = props.strings("ResourceRecords")?;
        if values.is_empty() {
            return Err(ProviderError::Invalid(format!(
                "record {name} ({kind}) needs ResourceRecords or an AliasTarget"
            )));
        }
        let ttl = props
            .i32("TTL")?
            .ok_or_else(|| ProviderError::missing("TTL"))?;
        record = record.ttl(i64::from(ttl));
        for value in values {
            let value = ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(|e| ProviderError::Invalid(format!("ResourceRecords: {e}")))?;
            record = record.resource_records(value);
        }
    }
    record
        .build()
        .map_err(|e| ProviderError::Invalid(format!("record {name}: {e}")))
}

/// Applies `action` to `records` in `zone`.
async fn change(
    ctx: &ProviderContext<'_>,
    zone: &str,
    action: ChangeAction,
    records: Vec<ResourceRecordSet>,
) -> Result<(), ProviderError> {
    let what = records
        .iter()
        .map(|r| format!("{} {}", r.name(), r.r#type().as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let changes = records
        .into_iter()
        .map(|r| {
            Change::builder()
                .action(action.clone())
                .resource_record_set(r)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::Invalid(format!("records {what}: {e}")))?;
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .build()
        .map_err(|e| ProviderError::Invalid(format!("records {what}: {e}")))?;
    ctx.clients
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            ProviderError::sdk(
                &format!(
                    "ChangeResourceRecordSets {} {what} in {zone}",
                    action.as_str()
                ),
                e,
            )
        })
}

/// Creates one record (`RecordSet`) or several (`RecordSetGroup`, from `RecordSets`); `Ref`
/// is the record's name, or the group's generated name.
pub(super) async fn create_records(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    resource_type: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let zone = record_zone(ctx, props).await?;
    let (physical_id, sources): (String, Vec<&Value>) = if resource_type.ends_with("Group") {
        let sets = props.array("RecordSets").iter().collect::<Vec<_>>();
        if sets.is_empty() {
            return Err(ProviderError::missing("RecordSets"));
        }
        (generated_name(ctx.stack_name, logical_id, 128), sets)
    } else {
        (props.required_str("Name")?.to_owned(), vec![props.0])
    };
    let records = sources
        .into_iter()
        .map(|v| record_set(Props(v)))
        .collect::<Result<Vec<_>, _>>()?;
    let kept = Value::Array(
        records
            .iter()
            .map(|r| serde_json::to_value(RecordKey::of(r)).unwrap_or_default())
            .collect(),
    );
    change(ctx, &zone, ChangeAction::Create, records).await?;
    Ok(Created::new(resource_type, physical_id)
        .keep("zone", zone)
        .keep("records", kept))
}

/// Deletes the records a create made, as they are now in the zone.
pub(super) async fn delete_records(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let Some(zone) = created.kept("zone") else {
        return Ok(());
    };
    let keys: Vec<RecordKey> = created
        .internal
        .get("records")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let listed = ctx
        .clients
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("ListResourceRecordSets {zone}"), e))?;
    let present: Vec<ResourceRecordSet> = listed
        .resource_record_sets()
        .iter()
        .filter(|r| keys.contains(&RecordKey::of(r)))
        .cloned()
        .collect();
    if present.is_empty() {
        return Ok(());
    }
    change(ctx, zone, ChangeAction::Delete, present).await
}

/// What identifies a record in its zone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct RecordKey {
    name: String,
    kind: String,
    set_identifier: Option<String>,
}

impl RecordKey {
    fn of(record: &ResourceRecordSet) -> Self {
        Self {
            name: fqdn(record.name()),
            kind: record.r#type().as_str().to_owned(),
            set_identifier: record.set_identifier().map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_need_values_or_an_alias() {
        let plain = serde_json::json!({"Name": "a.example.", "Type": "A"});
        let error = record_set(Props(&plain)).unwrap_err().to_string();
        assert!(
            error.contains("needs ResourceRecords or an AliasTarget"),
            "{error}"
        );
        let cname = serde_json::json!({
            "Name": "api.example", "Type": "CNAME", "TTL": "300",
            "ResourceRecords": ["vpce-1.execute-api.us-east-1.vpce.amazonaws.com"]
        });
        let record = record_set(Props(&cname)).unwrap();
        assert_eq!(record.ttl(), Some(300));
        assert_eq!(RecordKey::of(&record).name, "api.example.");
        let alias = serde_json::json!({
            "Name": "api.example", "Type": "A",
            "AliasTarget": {"DNSName": "vpce-1.example", "HostedZoneId": "Z1"}
        });
        assert!(record_set(Props(&alias)).unwrap().alias_target().is_some());
    }

    #[test]
    fn a_zone_vpc_needs_its_region() {
        let props = serde_json::json!({"Name": "z", "VPCs": [{"VPCId": "vpc-1"}]});
        let error = zone_vpcs(Props(&props)).unwrap_err().to_string();
        assert_eq!(error, "property VPCs[0].VPCRegion is required");
    }
}
