//! Seed 004 whole: a client in the VPC POSTs to `https://{CustomDomainName}/send-message`; the
//! private custom domain (its certificate, its zone's alias record) leads through the
//! execute-api endpoint to the private API, which puts the body on SQS; the function in the
//! private subnets (no NAT) writes to DynamoDB through the gateway endpoint and publishes to
//! SNS through the SNS interface endpoint. Every call below runs `curl` on the seed's test
//! instance, as its testing steps do.

use std::{collections::BTreeMap, time::Duration};

use aws_sdk_ec2::types::Filter;
use rstest::{fixture, rstest};
use vpclab_harness::{HostKind, StackRequest, World};

use crate::support::{
    self, PrivateServerless, delete_the_endpoint_of, exactly_notifications, output, post_message,
    receive, send_all, wait_for_items, world_with,
};

const DELIVERY: Duration = Duration::from_secs(60);
const QUIET: Duration = Duration::from_secs(4);
const DOMAIN: &str = "private.example.com";

/// A world with seed 004's three stacks deployed.
#[fixture]
async fn seed_004() -> World {
    world_with("private-serverless").await
}

/// The private addresses EC2 describes for the interfaces of endpoint `id`.
async fn endpoint_addresses(world: &World, id: &str) -> Vec<String> {
    let described = aws_sdk_ec2::Client::new(world.sdk_config())
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("description")
                .values(format!("VPC Endpoint Interface {id}"))
                .build(),
        )
        .send()
        .await
        .expect("DescribeNetworkInterfaces");
    described
        .network_interfaces()
        .iter()
        .filter_map(|i| i.private_ip_address().map(str::to_owned))
        .collect()
}

/// `{"Insert":"DynamoDB"}` POSTed on the custom domain becomes an item; on the instance the
/// domain leads to an interface of the execute-api endpoint EC2 describes.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_custom_domain_insert_lands_in_dynamodb(#[future] seed_004: World) {
    let world = seed_004.await;
    let app = PrivateServerless::of(&world);

    let ids = send_all(&world, &app, &[r#"{"Insert":"DynamoDB"}"#]).await;

    let items = wait_for_items(&world, &app.table_name, &ids, DELIVERY).await;
    assert_eq!(
        items[&ids[0]]["message"].as_s().unwrap(),
        r#"{"Insert":"DynamoDB"}"#
    );
    // The address curl connected to for the domain: what the instance's resolver answered.
    let connected = world
        .exec(
            &app.instance,
            &[
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{remote_ip}",
                "--max-time",
                "10",
                &app.send_url,
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let first = String::from_utf8_lossy(&connected.stdout).trim().to_owned();
    let resolved = String::from_utf8_lossy(&connected.stderr).into_owned();
    let endpoint = output(&world, "private-serverless", "ExecuteApiEndpointId");
    assert!(
        endpoint_addresses(&world, &endpoint).await.contains(&first),
        "{DOMAIN} led curl to {first}, an interface of {endpoint} ({resolved})"
    );
    let host = support::instance_host(&world, &app.instance).await;
    let explained = world
        .explain_api_call(Some(&host), "POST", &app.send_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let api = output(&world, "private-serverless", "ApiId");
    assert!(
        explained.ends_with(&format!("through, to {api} /prod/send-message")),
        "the base path mapping leads to the API's stage: {explained}"
    );
}

/// An unknown target, malformed JSON and a blank body, each POSTed on the domain, bring one
/// notification each, naming the message and the reason.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_custom_domain_bad_payload_notifies_sns(#[future] seed_004: World) {
    let world = seed_004.await;
    let app = PrivateServerless::of(&world);

    let ids = send_all(
        &world,
        &app,
        &[
            r#"{"Insert":"Dynamoooo"}"#,
            r#"{"Insert": "DynamoDB""#,
            "   ",
        ],
    )
    .await;

    let notifications = exactly_notifications(&world, &app.inbox_url, 3, DELIVERY, QUIET).await;
    let reason = |id: &String| {
        notifications
            .iter()
            .find(|n| &n.message_id == id)
            .map(|n| n.reason.clone())
            .unwrap_or_else(|| panic!("no notification for {id}: {notifications:?}"))
    };
    assert_eq!(reason(&ids[0]), r#"unknown insert target "Dynamoooo""#);
    assert!(
        reason(&ids[1]).starts_with("malformed JSON"),
        "{notifications:?}"
    );
    assert_eq!(reason(&ids[2]), "empty body");
}

/// From the internet the custom domain does not resolve at all.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_custom_domain_is_unreachable_from_the_internet(#[future] seed_004: World) {
    let world = seed_004.await;
    let app = PrivateServerless::of(&world);

    let fetched = support::curl(&world, vpclab_harness::INTERNET_HOST, &app.send_url, &[]).await;

    match fetched {
        support::Fetched::Failed { code, error } => {
            assert_eq!(code, Some(6), "curl: could not resolve host: {error}");
        }
        support::Fetched::Answer(answer) => panic!("the internet got an answer: {answer:?}"),
    }
}

/// A second execute-api endpoint in the same VPC, not associated with the domain: a call for
/// the domain that arrives there is refused, 403 Forbidden as for an unknown host, and nothing
/// reaches the queue. The associated endpoint's control is the insert test.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_custom_domain_without_access_association_is_forbidden(#[future] seed_004: World) {
    let mut world = seed_004.await;
    let app = PrivateServerless::of(&world);
    let subnets = output(&world, "network", "SubnetIds");
    let other = StackRequest {
        name: "other-endpoint".into(),
        template: support::fixture("second-execute-api-endpoint.yaml"),
        parameters: BTreeMap::from([
            ("VpcId".to_owned(), output(&world, "network", "VpcId")),
            (
                "SubnetId".to_owned(),
                subnets.split(',').next().unwrap_or_default().to_owned(),
            ),
            ("ClientVpcCidr".to_owned(), "10.40.0.0/16".to_owned()),
        ]),
        region: None,
    };
    if let Err(e) = world.deploy(other).await {
        panic!("deploying the second endpoint: {e}\n{}", world.diagnose());
    }
    let endpoint = output(&world, "other-endpoint", "EndpointId");
    let address = world
        .fabric()
        .hosts()
        .await
        .into_iter()
        .find(|h| matches!(&h.kind, HostKind::Endpoint { id } if *id == endpoint))
        .map(|h| h.address)
        .expect("the second endpoint has an interface");
    let resolve = format!("{DOMAIN}:443:{address}");

    let answer = support::curl(
        &world,
        &app.instance,
        &app.send_url,
        &[
            "--resolve",
            &resolve,
            "-X",
            "POST",
            "--data-binary",
            r#"{"Insert":"DynamoDB"}"#,
        ],
    )
    .await
    .answer();

    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(
        answer.header("x-amzn-errortype"),
        Some("ForbiddenException")
    );
    assert_eq!(answer.body, r#"{"message":"Forbidden"}"#);
    let queued = receive(&world, &app.queue_url, 1, QUIET).await;
    assert!(queued.is_empty(), "nothing reached the queue: {queued:?}");
}

/// Without the SNS endpoint the function has no path to SNS (private subnets, no NAT): a bad
/// payload's notification cannot be published, the message is retried and lands in the DLQ
/// with its body, and no notification arrives: nothing is lost.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn without_the_sns_endpoint_notifications_retry_into_the_dlq(#[future] seed_004: World) {
    let world = seed_004.await;
    let app = PrivateServerless::of(&world);
    delete_the_endpoint_of(&world, "sns").await;
    let bad = r#"{"Insert":"Dynamoooo"}"#;

    post_message(&world, &app, bad).await;

    let dead = receive(&world, &app.dead_letter_queue_url, 1, DELIVERY).await;
    assert_eq!(
        dead.len(),
        1,
        "the message reaches the DLQ\n{}",
        world.diagnose()
    );
    assert_eq!(dead[0].body, bad);
    assert!(
        dead[0].receive_count >= 2,
        "retried: {}",
        dead[0].receive_count
    );
    let notified = receive(&world, &app.inbox_url, 1, QUIET).await;
    assert!(notified.is_empty(), "no notification got out: {notified:?}");
}
