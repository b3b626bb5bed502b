//! `AWS::RDS::DBSubnetGroup` and `AWS::RDS::DBInstance` (Engine `postgres`). The emulator has
//! no RDS (LocalStack's free edition), so the engine is the control plane: it checks what RDS
//! checks, keeps the subnet groups, and runs each instance as a real PostgreSQL server on an
//! ENI of a subnet of its group, behind its VPC security groups ([`server`]).

mod server;

use std::{collections::HashMap, sync::Mutex};

use super::{Created, Props, ProviderContext, ProviderError, generated_name};

/// The engines vpclab runs.
const ENGINES: &[&str] = &["postgres"];

/// A DB subnet group: its VPC and subnets.
#[derive(Debug, Clone)]
struct SubnetGroup {
    vpc_id: String,
    subnet_ids: Vec<String>,
}

fn groups() -> &'static Mutex<HashMap<String, SubnetGroup>> {
    static GROUPS: std::sync::OnceLock<Mutex<HashMap<String, SubnetGroup>>> =
        std::sync::OnceLock::new();
    GROUPS.get_or_init(Mutex::default)
}

/// `account/region/name`: subnet groups and instances are per account and region.
fn key(ctx: &ProviderContext<'_>, name: &str) -> String {
    let region = ctx
        .clients
        .ec2
        .config()
        .region()
        .map_or_else(String::new, ToString::to_string);
    format!("{}/{region}/{}", ctx.account_id, name.to_lowercase())
}

fn region(ctx: &ProviderContext<'_>) -> String {
    ctx.clients
        .ec2
        .config()
        .region()
        .map_or_else(|| "us-east-1".to_owned(), ToString::to_string)
}

/// Creates a subnet group; its subnets must all be in one VPC and cover two zones.
pub(super) async fn create_subnet_group(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    props.required_str("DBSubnetGroupDescription")?;
    let name = match props.str("DBSubnetGroupName")? {
        Some(name) => name.to_lowercase(),
        None => generated_name(ctx.stack_name, logical_id, 255).to_lowercase(),
    };
    let subnet_ids = props.strings("SubnetIds")?;
    let described = ctx
        .clients
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(subnet_ids.clone()))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeSubnets of subnet group {name}"), e))?;
    let subnets: Vec<(String, String, String)> = described
        .subnets()
        .iter()
        .filter_map(|s| {
            Some((
                s.subnet_id()?.to_owned(),
                s.vpc_id()?.to_owned(),
                s.availability_zone().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    let Some((_, vpc_id, _)) = subnets.first().cloned() else {
        return Err(ProviderError::missing("SubnetIds"));
    };
    if let Some((stray, other, _)) = subnets.iter().find(|(_, v, _)| *v != vpc_id) {
        return Err(ProviderError::Invalid(format!(
            "DB subnet group {name}: subnet {stray} is in {other}, outside {vpc_id} where \
             {} is; a subnet group's subnets must all be in one VPC",
            subnets[0].0
        )));
    }
    let mut zones: Vec<&str> = subnets.iter().map(|(_, _, z)| z.as_str()).collect();
    zones.sort_unstable();
    zones.dedup();
    if zones.len() < 2 {
        return Err(ProviderError::Invalid(format!(
            "DB subnet group {name} doesn't meet availability zone coverage requirement: add \
             subnets to cover at least 2 availability zones (it covers {})",
            zones.join(", ")
        )));
    }
    groups()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key(ctx, &name), SubnetGroup { vpc_id, subnet_ids });
    Ok(Created::new("AWS::RDS::DBSubnetGroup", name))
}

/// Forgets a subnet group.
pub(super) fn delete_subnet_group(ctx: &ProviderContext<'_>, name: &str) {
    groups()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key(ctx, name));
}

/// `{id}.{hash}.{region}.rds.amazonaws.com`: the hash is the account's, as in AWS (one per
/// account and region).
fn endpoint_address(ctx: &ProviderContext<'_>, id: &str) -> String {
    let region = region(ctx);
    let seed = format!("{}/{region}", ctx.account_id);
    let mut hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut label = String::new();
    for _ in 0..12 {
        let digit = (hash % 36) as u8;
        label.push(char::from(if digit < 10 {
            b'0' + digit
        } else {
            b'a' + digit - 10
        }));
        hash /= 36;
    }
    format!("{id}.{label}.{region}.rds.amazonaws.com")
}

/// Refuses engines vpclab does not run, and public instances (not modelled yet).
fn check_engine(logical_id: &str, props: Props<'_>) -> Result<(), ProviderError> {
    let engine = props.required_str("Engine")?;
    if !ENGINES.contains(&engine) {
        return Err(ProviderError::Invalid(format!(
            "DB instance {logical_id}: engine {engine} is not one vpclab runs (Engine: {}); \
             use postgres",
            ENGINES.join(", ")
        )));
    }
    if props.bool("PubliclyAccessible")?.unwrap_or(false) {
        return Err(ProviderError::property(
            "PubliclyAccessible",
            super::PropertyProblem::Unsupported,
        ));
    }
    Ok(())
}

/// Creates a DB instance: a PostgreSQL server on an ENI of its subnet group, in its groups.
pub(super) async fn create_db_instance(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    check_engine(logical_id, props)?;
    let id = match props.str("DBInstanceIdentifier")? {
        Some(id) => id.to_lowercase(),
        None => generated_name(ctx.stack_name, logical_id, 63).to_lowercase(),
    };
    let group_name = props.required_str("DBSubnetGroupName")?;
    let group = groups()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key(ctx, group_name))
        .cloned()
        .ok_or_else(|| {
            ProviderError::Invalid(format!(
                "DB instance {logical_id}: DB subnet group {group_name} does not exist; create \
                 an AWS::RDS::DBSubnetGroup and name it (DBSubnetGroupName: !Ref ...)"
            ))
        })?;
    let port = props.i32("Port")?.unwrap_or(5432);
    let port = u16::try_from(port)
        .map_err(|_| ProviderError::Invalid(format!("Port {port} is not a TCP port")))?;
    let user = props.required_str("MasterUsername")?;
    let password = props.required_str("MasterUserPassword")?;
    let groups_of_instance = props.strings("VPCSecurityGroups")?;
    let address = endpoint_address(ctx, &id);
    // The instance's subnets must be realised before its interface can sit in one.
    ctx.fabric
        .sync()
        .await
        .map_err(|e| ProviderError::Invalid(format!("realise {}: {e}", group.vpc_id)))?;
    let host = ctx
        .fabric
        .add_database(&group.subnet_ids[0], &groups_of_instance, &id, &address)
        .await
        .map_err(|e| ProviderError::Invalid(format!("DB instance {id}: {e}")))?;
    let certificate = ctx
        .fabric
        .issue_certificate(&address)
        .map_err(|e| ProviderError::Invalid(e.to_string()))?;
    let spec = server::ServerSpec {
        key: key(ctx, &id),
        netns: &host.netns,
        world: ctx.fabric.prefix(),
        address: host.address,
        port,
        user,
        password,
        database: props.str("DBName")?,
        data_dir: ctx.fabric.scratch_dir().join(format!("rds-{id}")),
        certificate,
    };
    let took = server::start(spec)
        .await
        .map_err(|e| ProviderError::Invalid(format!("DB instance {id}: {e}")))?;
    tracing::debug!("vpclab: DB instance {id} accepted connections {took:?} after its creation");
    let arn = format!("arn:aws:rds:{}:{}:db:{id}", region(ctx), ctx.account_id);
    Ok(Created::new("AWS::RDS::DBInstance", id.clone())
        .with("Endpoint.Address", address)
        .with("Endpoint.Port", port.to_string())
        .with("DBInstanceArn", arn)
        .with("DbiResourceId", format!("db-{}", id.to_uppercase()))
        .keep("ready_ms", took.as_millis() as u64))
}

/// Stops the instance's server and removes its data.
pub(super) async fn delete_db_instance(ctx: &ProviderContext<'_>, id: &str) {
    server::stop(&key(ctx, id)).await;
}

/// Whether the PostgreSQL server programs are installed (the message says how to get them).
pub(crate) fn check_binaries() -> Result<(), String> {
    server::binaries().map(drop)
}

/// How long each DB instance this process created took from `CreateDBInstance` to accepting
/// connections (`account/region/id`, time), oldest first.
pub(crate) fn start_times() -> Vec<(String, std::time::Duration)> {
    server::start_times()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}
