//! EC2 instances (the seeds' "test EC2 instance"): deployed from a template, realised as hosts
//! of the fabric in their subnet, and reachable with `World::exec` as a user logged in would be.

use rstest::{fixture, rstest};
use vpclab_harness::{Error, ExecError, World};

use crate::support;

/// A world with `instance-in-subnet.yaml` deployed as stack `instance`.
#[fixture]
async fn instance_world() -> World {
    let mut world = support::world().await;
    let template = support::fixture("instance-in-subnet.yaml");
    if let Err(e) = world.deploy_template("instance", template, &[]).await {
        panic!(
            "deploying instance-in-subnet.yaml: {e}\n{}",
            world.diagnose()
        );
    }
    world
}

/// The instance as EC2 describes it.
async fn described(world: &World, id: &str) -> aws_sdk_ec2::types::Instance {
    aws_sdk_ec2::Client::new(world.sdk_config())
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "DescribeInstances {id}: {}",
                aws_sdk_ec2::error::DisplayErrorContext(e)
            )
        })
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned()
        .unwrap_or_else(|| panic!("EC2 does not describe {id}"))
}

/// The instance's image is the one AWS's public SSM parameter names, and EC2 knows it; inside
/// the instance, `ip addr` shows the address EC2 reports for it, in its subnet.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn instance_is_a_host_in_its_subnet(#[future] instance_world: World) {
    let world = instance_world.await;
    let id = world
        .stack("instance")
        .and_then(|s| s.physical_id("TestInstance"))
        .expect("TestInstance created")
        .to_owned();
    let instance = described(&world, &id).await;
    let address = instance
        .private_ip_address()
        .expect("a private address")
        .to_owned();
    let ec2 = aws_sdk_ec2::Client::new(world.sdk_config());
    let image = instance.image_id().expect("an image");
    let images = ec2
        .describe_images()
        .image_ids(image)
        .send()
        .await
        .expect("DescribeImages");
    assert_eq!(images.images().len(), 1, "EC2 knows image {image}");
    assert!(
        address.starts_with("10.40.1."),
        "{address} is in the subnet 10.40.1.0/24"
    );

    let output = world
        .exec("TestInstance", &["ip", "-4", "-o", "addr"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        shown.contains(&format!("inet {address}/24")),
        "ip addr shows {address}/24: {shown}"
    );
    let by_id = world
        .exec(&id, &["ip", "-4", "-o", "addr"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        by_id.stdout, output.stdout,
        "the instance id names the same host"
    );
}

/// A mistyped host name lists the hosts there are: the instance's logical id, its instance id
/// and its namespace.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn exec_to_an_unknown_host_lists_the_known_ones(#[future] instance_world: World) {
    let world = instance_world.await;
    let id = world
        .stack("instance")
        .and_then(|s| s.physical_id("TestInstance"))
        .expect("TestInstance created")
        .to_owned();

    let error = world
        .exec("TestInstanse", &["true"])
        .await
        .expect_err("no such host");

    let message = error.to_string();
    assert!(
        matches!(error, Error::Exec(ExecError::UnknownHost { .. })),
        "{message}"
    );
    assert!(message.contains("TestInstanse"), "{message}");
    assert!(
        message.contains(&format!("TestInstance = {id} = ")),
        "{message}"
    );
    let host = world
        .hosts()
        .await
        .into_iter()
        .find(|h| h.instance_id.as_deref() == Some(&id))
        .expect("the instance is a host");
    assert!(message.contains(&host.netns), "{message}");
}

/// An instance launched into a subnet that maps public addresses gets one, and the internet
/// (`ifconfig.me`) sees its HTTPS request come from that address, as EC2 reports it.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn instance_with_a_public_ip_reaches_the_internet_from_it() {
    let mut world = support::world().await;
    let template = support::fixture("instance-with-public-ip.yaml");
    if let Err(e) = world.deploy_template("web", template, &[]).await {
        panic!(
            "deploying instance-with-public-ip.yaml: {e}\n{}",
            world.diagnose()
        );
    }
    let id = world
        .stack("web")
        .and_then(|s| s.physical_id("WebInstance"))
        .expect("WebInstance created")
        .to_owned();
    let public = described(&world, &id)
        .await
        .public_ip_address()
        .expect("EC2 gives it a public address")
        .to_owned();

    let output = world
        .exec(
            "WebInstance",
            &["curl", "-s", "-m", "10", "https://ifconfig.me/ip"],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let page = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl failed: {page}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        page.trim(),
        public,
        "ifconfig.me shows the instance's public address"
    );
}
