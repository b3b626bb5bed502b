//! Route 53 private hosted zones as Route 53 describes them: the zone, the VPCs it is
//! associated with (in any region), and the records the VPCs' resolvers answer from.

use aws_sdk_route53::{Client, error::ProvideErrorMetadata, types::RrType};

use super::FabricError;

/// A private hosted zone.
#[derive(Debug, Clone)]
pub struct HostedZone {
    /// Its id (`Z…`, without `/hostedzone/`).
    pub id: String,
    /// Its domain, lower case, without the trailing dot (`execute-api.us-east-1.amazonaws.com`).
    pub name: String,
    /// The VPCs associated with it.
    pub vpc_ids: Vec<String>,
    /// Its records (A, CNAME and alias records; the rest is not answered).
    pub records: Vec<ZoneRecord>,
}

/// One record of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRecord {
    /// Its name, lower case, without the trailing dot (`*.` for a wildcard).
    pub name: String,
    /// What it holds.
    pub data: RecordData,
}

/// What a record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// Addresses (`A`).
    A(Vec<std::net::Ipv4Addr>),
    /// Another name (`CNAME`), answered with the chain to its addresses.
    Cname(String),
    /// An alias `A` record: the target name's addresses, answered as the record's own.
    Alias(String),
}

impl HostedZone {
    /// Whether `name` (lower case, no trailing dot) lies in this zone.
    pub fn covers(&self, name: &str) -> bool {
        name == self.name || name.ends_with(&format!(".{}", self.name))
    }
}

fn normal(name: &str) -> String {
    name.trim_end_matches('.')
        .to_lowercase()
        .replace("\\052", "*")
}

fn sdk<E>(call: String) -> impl Fn(E) -> FabricError
where
    E: std::error::Error + ProvideErrorMetadata,
{
    move |e| FabricError::Describe {
        call: call.clone(),
        code: e.code().map(str::to_owned),
        reason: format!("{}", aws_sdk_route53::error::DisplayErrorContext(e)),
    }
}

/// Reads every private hosted zone of the account, with its VPCs and records.
pub(crate) async fn read(route53: &Client) -> Result<Vec<HostedZone>, FabricError> {
    let listed = route53
        .list_hosted_zones()
        .send()
        .await
        .map_err(sdk("ListHostedZones".to_owned()))?;
    let mut zones = Vec::new();
    for zone in listed.hosted_zones() {
        if !zone.config().is_some_and(|c| c.private_zone()) {
            continue;
        }
        let id = zone.id().trim_start_matches("/hostedzone/").to_owned();
        let described = route53
            .get_hosted_zone()
            .id(&id)
            .send()
            .await
            .map_err(sdk(format!("GetHostedZone {id}")))?;
        let vpc_ids = described
            .vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_owned))
            .collect();
        zones.push(HostedZone {
            records: read_records(route53, &id).await?,
            id,
            name: normal(zone.name()),
            vpc_ids,
        });
    }
    Ok(zones)
}

async fn read_records(route53: &Client, id: &str) -> Result<Vec<ZoneRecord>, FabricError> {
    let listed = route53
        .list_resource_record_sets()
        .hosted_zone_id(id)
        .send()
        .await
        .map_err(sdk(format!("ListResourceRecordSets {id}")))?;
    Ok(listed
        .resource_record_sets()
        .iter()
        .filter_map(|set| {
            let values = || set.resource_records().iter().map(|r| r.value().trim());
            let data = match (set.r#type(), set.alias_target()) {
                (RrType::A, Some(alias)) => RecordData::Alias(normal(alias.dns_name())),
                (RrType::A, None) => {
                    RecordData::A(values().filter_map(|v| v.parse().ok()).collect())
                }
                (RrType::Cname, _) => RecordData::Cname(normal(values().next()?)),
                _ => return None,
            };
            Some(ZoneRecord {
                name: normal(set.name()),
                data,
            })
        })
        .collect())
}
