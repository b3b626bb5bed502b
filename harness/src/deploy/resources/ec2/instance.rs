//! `AWS::EC2::Instance`: launched from an image the emulator knows, into its subnet at an
//! address AWS would give, tagged as CloudFormation tags it; the fabric realises it as a host.
//!
//! Moto picks an instance's address from its subnet without looking at the ENIs made with an
//! explicit address (vpclab's NAT, endpoint and Lambda ENIs), so two interfaces could share
//! one; the provider chooses the first free address itself, as for those ENIs, and passes it.
//! Moto also keeps an instance's primary ENI after termination (AWS deletes it): the provider
//! deletes it.

use std::time::Duration;

use aws_sdk_ec2::types::{
    IamInstanceProfileSpecification, Instance, InstanceNetworkInterfaceSpecification,
    InstanceStateName, InstanceType, ResourceType, Tag, TagSpecification,
};
use serde_json::Value;

use super::{
    super::{Created, PropertyProblem, Props, ProviderContext, ProviderError, wait_until},
    eni, is_not_found,
};
use crate::aws::{cidr, eni as addresses};

/// How long an instance may take to be running, or terminated.
const INSTANCE_WAIT: Duration = Duration::from_secs(120);

/// CloudFormation's default `InstanceType`.
const DEFAULT_INSTANCE_TYPE: &str = "m1.small";

/// What a template asks of an instance, read before anything is launched.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Launch {
    /// `ImageId`.
    image_id: String,
    /// `InstanceType`.
    instance_type: String,
    /// `SubnetId`, or the primary interface's.
    subnet_id: Option<String>,
    /// `SecurityGroupIds`, or the primary interface's `GroupSet`.
    group_ids: Vec<String>,
    /// `SecurityGroups` (names).
    group_names: Vec<String>,
    /// `PrivateIpAddress`, or the primary interface's.
    private_ip: Option<String>,
    /// The primary interface's `AssociatePublicIpAddress`.
    associate_public_ip: Option<bool>,
    /// Whether the template gave `NetworkInterfaces` (EC2 then takes subnet and groups there).
    through_interface: bool,
    /// `IamInstanceProfile`: a name or an ARN.
    instance_profile: Option<String>,
    /// `KeyName` (accepted; nothing logs in).
    key_name: Option<String>,
    /// `UserData`, base64 as the template gives it (stored, not run).
    user_data: Option<String>,
    /// `Tags`.
    tags: Vec<(String, String)>,
}

/// Reads an instance's properties; the primary interface (`DeviceIndex` 0) of
/// `NetworkInterfaces` stands for `SubnetId`, `SecurityGroupIds` and `PrivateIpAddress`.
fn launch_of(props: Props<'_>) -> Result<Launch, ProviderError> {
    let mut launch = Launch {
        image_id: props.required_str("ImageId")?.to_owned(),
        instance_type: props
            .str("InstanceType")?
            .unwrap_or(DEFAULT_INSTANCE_TYPE)
            .to_owned(),
        subnet_id: props.str("SubnetId")?.map(str::to_owned),
        group_ids: props.strings("SecurityGroupIds")?,
        group_names: props.strings("SecurityGroups")?,
        private_ip: props.str("PrivateIpAddress")?.map(str::to_owned),
        instance_profile: props.str("IamInstanceProfile")?.map(str::to_owned),
        key_name: props.str("KeyName")?.map(str::to_owned),
        user_data: props.str("UserData")?.map(str::to_owned),
        tags: tags_of(props)?,
        ..Launch::default()
    };
    if let Some(primary) = primary_interface(props)? {
        if launch.subnet_id.is_some() || !launch.group_ids.is_empty() {
            return Err(ProviderError::Invalid(
                "Network interfaces and an instance-level subnet ID or security groups may not \
                 be specified on the same request: give SubnetId and GroupSet in \
                 NetworkInterfaces only"
                    .into(),
            ));
        }
        launch.through_interface = true;
        launch.subnet_id = primary.str("SubnetId")?.map(str::to_owned);
        launch.group_ids = primary.strings("GroupSet")?;
        launch.associate_public_ip = primary.bool("AssociatePublicIpAddress")?;
        if let Some(ip) = primary.str("PrivateIpAddress")? {
            launch.private_ip = Some(ip.to_owned());
        }
    }
    Ok(launch)
}

/// The interface of `DeviceIndex` 0, when `NetworkInterfaces` is given; other interfaces, and
/// attaching an existing ENI, are not supported yet.
fn primary_interface<'a>(props: Props<'a>) -> Result<Option<Props<'a>>, ProviderError> {
    let interfaces = props.array("NetworkInterfaces");
    let mut primary = None;
    for interface in interfaces.iter().map(Props) {
        let index = match interface.get("DeviceIndex") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(ProviderError::missing("NetworkInterfaces[].DeviceIndex")),
        };
        if index != "0" {
            return Err(ProviderError::property(
                &format!("NetworkInterfaces (DeviceIndex {index})"),
                PropertyProblem::Unsupported,
            ));
        }
        if interface.get("NetworkInterfaceId").is_some() {
            return Err(ProviderError::property(
                "NetworkInterfaces[].NetworkInterfaceId",
                PropertyProblem::Unsupported,
            ));
        }
        primary = Some(interface);
    }
    Ok(primary)
}

/// The `Tags` property as pairs.
fn tags_of(props: Props<'_>) -> Result<Vec<(String, String)>, ProviderError> {
    props
        .array("Tags")
        .iter()
        .map(|tag| {
            let tag = Props(tag);
            Ok((
                tag.required_str("Key")?.to_owned(),
                tag.str("Value")?.unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// The template's tags and the two CloudFormation puts on what it creates (the emulator takes
/// `aws:` keys, as AWS takes them from CloudFormation).
fn tag_specification(launch: &Launch, stack: &str, logical_id: &str) -> TagSpecification {
    let cloudformation = [
        ("aws:cloudformation:logical-id", logical_id),
        ("aws:cloudformation:stack-name", stack),
    ];
    let tags = launch
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(cloudformation)
        .map(|(key, value)| Tag::builder().key(key).value(value).build());
    TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .set_tags(Some(tags.collect()))
        .build()
}

/// Refuses an image the emulator does not know, with AWS's message.
async fn check_image(ctx: &ProviderContext<'_>, image_id: &str) -> Result<(), ProviderError> {
    let described = ctx
        .clients
        .ec2
        .describe_images()
        .image_ids(image_id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeImages {image_id}"), e));
    match described {
        Ok(answer) if !answer.images().is_empty() => Ok(()),
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Err(ProviderError::Invalid(format!(
            "InvalidAMIID.NotFound: The image id '[{image_id}]' does not exist"
        ))),
    }
}

/// Launches one instance at `private_ip`; returns its id.
async fn run(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    launch: &Launch,
    private_ip: Option<String>,
) -> Result<String, ProviderError> {
    let profile = launch.instance_profile.as_ref().map(|p| {
        let spec = IamInstanceProfileSpecification::builder();
        match p.starts_with("arn:") {
            true => spec.arn(p).build(),
            false => spec.name(p).build(),
        }
    });
    let mut request = ctx
        .clients
        .ec2
        .run_instances()
        .image_id(&launch.image_id)
        .instance_type(InstanceType::from(launch.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .set_key_name(launch.key_name.clone())
        .set_user_data(launch.user_data.clone())
        .set_iam_instance_profile(profile)
        .set_security_groups((!launch.group_names.is_empty()).then(|| launch.group_names.clone()))
        .tag_specifications(tag_specification(launch, ctx.stack_name, logical_id));
    if launch.through_interface || launch.associate_public_ip.is_some() {
        let interface = InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .set_subnet_id(launch.subnet_id.clone())
            .set_groups((!launch.group_ids.is_empty()).then(|| launch.group_ids.clone()))
            .set_private_ip_address(private_ip)
            .set_associate_public_ip_address(launch.associate_public_ip)
            .delete_on_termination(true)
            .build();
        request = request.network_interfaces(interface);
    } else {
        request = request
            .set_subnet_id(launch.subnet_id.clone())
            .set_security_group_ids(
                (!launch.group_ids.is_empty()).then(|| launch.group_ids.clone()),
            )
            .set_private_ip_address(private_ip);
    }
    let what = format!("RunInstances {logical_id} ({})", launch.image_id);
    request
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&what, e))?
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_owned)
        .ok_or(ProviderError::Incomplete {
            operation: "RunInstances",
            field: "InstanceId",
        })
}

/// The instance as EC2 describes it; None when EC2 no longer knows it.
async fn describe(ctx: &ProviderContext<'_>, id: &str) -> Result<Option<Instance>, ProviderError> {
    let described = ctx
        .clients
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeInstances {id}"), e));
    match described {
        Ok(answer) => Ok(answer
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id))
            .cloned()),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Waits until the instance is running; any other settled state is an error.
async fn wait_running(ctx: &ProviderContext<'_>, id: &str) -> Result<Instance, ProviderError> {
    wait_until(
        &format!("instance {id} to be running"),
        INSTANCE_WAIT,
        || async {
            let Some(instance) = describe(ctx, id).await? else {
                return Ok(Some(Err(ProviderError::Invalid(format!(
                    "instance {id} is gone"
                )))));
            };
            Ok(match instance.state().and_then(|s| s.name()) {
                Some(InstanceStateName::Running) => Some(Ok(instance)),
                Some(InstanceStateName::Pending) | None => None,
                Some(other) => Some(Err(ProviderError::Invalid(format!(
                    "instance {id} is {}",
                    other.as_str()
                )))),
            })
        },
    )
    .await?
}

/// Refuses an address AWS would not give: a private one outside the subnet, a public one
/// the fabric does not route (the emulator's own pool: the start-up hook did not load).
async fn check_addresses(
    ctx: &ProviderContext<'_>,
    instance: &Instance,
) -> Result<(), ProviderError> {
    let id = instance.instance_id().unwrap_or_default();
    if let (Some(subnet), Some(ip)) = (instance.subnet_id(), instance.private_ip_address()) {
        let block = crate::aws::blocks::subnet_block(&ctx.clients.ec2, subnet).await?;
        if !cidr::parse(&format!("{ip}/32")).is_some_and(|a| block.contains(&a)) {
            return Err(ProviderError::Invalid(format!(
                "the emulator gave instance {id} address {ip}, outside its subnet {subnet} ({block})"
            )));
        }
    }
    match instance.public_ip_address() {
        Some(ip) if !ip.starts_with("198.18.") && !ip.starts_with("198.19.") => {
            Err(ProviderError::Invalid(format!(
                "the emulator gave instance {id} public address {ip}, which the fabric does not \
                 route; vpclab's LocalStack start-up hook (vpclab_executor.hooks) did not load: \
                 re-provision with `cargo run -- provision` after removing \
                 ~/.cache/vpclab/localstack"
            )))
        }
        _ => Ok(()),
    }
}

/// What `Ref` and `Fn::GetAtt` return for a running instance.
fn created_of(instance: &Instance) -> Created {
    let id = instance.instance_id().unwrap_or_default();
    let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
    let primary = instance
        .network_interfaces()
        .iter()
        .find(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
        .or_else(|| instance.network_interfaces().first())
        .and_then(|n| n.network_interface_id());
    Created::new("AWS::EC2::Instance", id)
        .with("PrivateIp", text(instance.private_ip_address()))
        .with("PublicIp", text(instance.public_ip_address()))
        .with("PrivateDnsName", text(instance.private_dns_name()))
        .with("PublicDnsName", text(instance.public_dns_name()))
        .with(
            "AvailabilityZone",
            text(instance.placement().and_then(|p| p.availability_zone())),
        )
        .keep("PrimaryEni", text(primary))
}

/// Launches an instance and waits until it is running; `Ref` is its id. A failure after the
/// launch terminates it again.
pub(crate) async fn create_instance(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let launch = launch_of(props)?;
    check_image(ctx, &launch.image_id).await?;
    // An address is chosen, and a given one taken, under the subnet's allocation lock.
    let id = match (&launch.private_ip, launch.subnet_id.as_deref()) {
        (None, Some(subnet)) => {
            let mut allocation = addresses::Allocation::lock(&ctx.clients.ec2, [subnet]).await?;
            let ip = allocation.take(subnet, "RunInstances")?;
            run(ctx, logical_id, &launch, Some(ip.to_string())).await?
        }
        (Some(ip), Some(subnet)) => {
            let _allocating = addresses::allocation_guard(subnet).await;
            run(ctx, logical_id, &launch, Some(ip.clone())).await?
        }
        (ip, None) => run(ctx, logical_id, &launch, ip.clone()).await?,
    };
    let running = match wait_running(ctx, &id).await {
        Ok(instance) => check_addresses(ctx, &instance).await.map(|()| instance),
        Err(e) => Err(e),
    };
    match running {
        Ok(instance) => Ok(created_of(&instance)),
        Err(e) => {
            let half = Created::new("AWS::EC2::Instance", id.clone());
            if let Err(cleanup) = delete_instance(ctx, &half).await {
                tracing::warn!("vpclab: terminating half-created instance {id}: {cleanup}");
            }
            Err(e)
        }
    }
}

/// Terminates an instance and waits until it is terminated; then deletes its primary ENI if
/// the emulator kept it.
pub(crate) async fn delete_instance(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let id = created.physical_id.as_str();
    let terminated = ctx
        .clients
        .ec2
        .terminate_instances()
        .instance_ids(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("TerminateInstances {id}"), e));
    match terminated {
        Err(e) if is_not_found(&e) => {}
        other => drop(other?),
    }
    wait_until(
        &format!("instance {id} to be terminated"),
        INSTANCE_WAIT,
        || async {
            let state = describe(ctx, id).await?;
            Ok(match state.as_ref().and_then(|i| i.state()?.name()) {
                None | Some(InstanceStateName::Terminated) => Some(()),
                Some(_) => None,
            })
        },
    )
    .await?;
    match created.kept("PrimaryEni").filter(|e| !e.is_empty()) {
        Some(primary) => eni::delete_interface(ctx, primary).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(properties: Value) -> Result<Launch, ProviderError> {
        launch_of(Props(&properties))
    }

    #[test]
    fn top_level_properties_are_read() {
        let read = launch(serde_json::json!({
            "ImageId": "ami-1", "SubnetId": "subnet-1", "SecurityGroupIds": ["sg-1"],
            "IamInstanceProfile": "profile", "KeyName": "key", "UserData": "ZWNobw==",
            "Tags": [{"Key": "Name", "Value": "test"}]
        }))
        .unwrap();
        assert_eq!(read.image_id, "ami-1");
        assert_eq!(read.instance_type, "m1.small");
        assert_eq!(read.subnet_id.as_deref(), Some("subnet-1"));
        assert_eq!(read.group_ids, ["sg-1"]);
        assert_eq!(read.instance_profile.as_deref(), Some("profile"));
        assert_eq!(read.tags, [("Name".to_owned(), "test".to_owned())]);
        assert!(!read.through_interface);
    }

    #[test]
    fn the_primary_interface_stands_for_subnet_and_groups() {
        let read = launch(serde_json::json!({
            "ImageId": "ami-1", "InstanceType": "t3.micro",
            "NetworkInterfaces": [{"DeviceIndex": "0", "SubnetId": "subnet-2",
                "GroupSet": ["sg-2"], "AssociatePublicIpAddress": "true"}]
        }))
        .unwrap();
        assert_eq!(read.subnet_id.as_deref(), Some("subnet-2"));
        assert_eq!(read.group_ids, ["sg-2"]);
        assert_eq!(read.associate_public_ip, Some(true));
        assert!(read.through_interface);
    }

    #[test]
    fn what_ec2_refuses_or_vpclab_lacks_is_named() {
        let message = |v: Value| launch(v).unwrap_err().to_string();
        assert_eq!(
            message(serde_json::json!({})),
            "property ImageId is required"
        );
        assert!(
            message(serde_json::json!({
                "ImageId": "ami-1", "SubnetId": "subnet-1",
                "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-2"}]
            }))
            .contains("may not be specified on the same request")
        );
        assert_eq!(
            message(serde_json::json!({
                "ImageId": "ami-1", "NetworkInterfaces": [{"DeviceIndex": 1}]
            })),
            "property NetworkInterfaces (DeviceIndex 1) is not supported by vpclab's engine yet"
        );
    }
}
