//! The scenario suite: each test deploys a pattern into a world of its own, acts as the
//! pattern's user would, and asserts what that user would observe.
//!
//! The emulator backend comes from `VPCLAB_EMULATOR` (default: LocalStack as a host process,
//! provisioned on first use), so a CI matrix runs the same tests on each backend.

mod container;
mod cross_region;
mod edge;
mod explain;
mod instances;
mod lifecycle;
mod network;
mod private_domain;
mod rds;
mod runtimes;
mod support;

use std::time::Duration;

use rstest::rstest;
use support::{
    PrivateServerless, exactly_notifications, receive, send_all, wait_for_items, world_with,
};
use vpclab_harness::{Error, Scenario};

const DELIVERY: Duration = Duration::from_secs(60);
const QUIET: Duration = Duration::from_secs(4);

/// `{"Insert":"DynamoDB"}` messages become items: every one of them, with id, value, message
/// and timestamp.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn sqs_messages_land_in_dynamodb() {
    let world = world_with("private-serverless").await;
    let app = PrivateServerless::of(&world);
    let bodies = vec![r#"{"Insert":"DynamoDB"}"#; 20];

    let ids = send_all(&world, &app, &bodies).await;

    let items = wait_for_items(&world, &app.table_name, &ids, DELIVERY).await;
    assert_eq!(items.len(), 20, "one item per message, no more");
    for id in &ids {
        let item = &items[id];
        assert_eq!(item["message"].as_s().unwrap(), r#"{"Insert":"DynamoDB"}"#);
        assert!(item["value"].as_n().is_ok(), "value is a number: {item:?}");
        assert!(
            item["timestamp"].as_n().is_ok(),
            "timestamp is a number: {item:?}"
        );
    }
    let stray = receive(&world, &app.inbox_url, 1, QUIET).await;
    assert!(stray.is_empty(), "no notification for inserts: {stray:?}");
}

/// An unknown action, malformed JSON and an empty body (SQS refuses a zero-length body, so a
/// blank one) each bring exactly one notification naming the message and the reason.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn bad_payloads_trigger_sns() {
    let world = world_with("private-serverless").await;
    let app = PrivateServerless::of(&world);
    let bodies = [
        r#"{"Insert":"Dynamoooo"}"#,
        r#"{"Insert": "DynamoDB""#,
        "   ",
    ];

    let ids = send_all(&world, &app, &bodies).await;

    let notifications = exactly_notifications(&world, &app.inbox_url, 3, DELIVERY, QUIET).await;
    let reason_of = |id: &str| {
        let n = notifications
            .iter()
            .find(|n| n.message_id == id)
            .unwrap_or_else(|| panic!("no notification names message {id}: {notifications:?}"));
        assert_eq!(n.subject, "Message not inserted");
        n.reason.clone()
    };
    assert_eq!(reason_of(&ids[0]), r#"unknown insert target "Dynamoooo""#);
    assert!(
        reason_of(&ids[1]).starts_with("malformed JSON"),
        "{notifications:?}"
    );
    assert_eq!(reason_of(&ids[2]), "empty body");
    let items = support::scan(&support::dynamodb(&world), &app.table_name).await;
    assert!(items.is_empty(), "bad payloads insert nothing: {items:?}");
}

/// One batch mixing inserts, bad payloads and a message DynamoDB rejects (an empty key): the
/// inserts land once, the bad payloads notify once, and only the rejected message is retried,
/// ending in the dead-letter queue.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn mixed_batch_splits_correctly() {
    let world = world_with("private-serverless").await;
    let app = PrivateServerless::of(&world);
    let insert = r#"{"Insert":"DynamoDB"}"#;
    let rejected = r#"{"Insert":"DynamoDB","Id":""}"#;
    let bodies = [
        insert,
        "not json",
        insert,
        rejected,
        r#"{"Insert":"S3"}"#,
        insert,
        insert,
    ];

    let ids = send_all(&world, &app, &bodies).await;

    let inserted: Vec<String> = [0, 2, 5, 6].iter().map(|i| ids[*i].clone()).collect();
    wait_for_items(&world, &app.table_name, &inserted, DELIVERY).await;
    let dead = receive(&world, &app.dead_letter_queue_url, 1, DELIVERY).await;
    assert_eq!(
        dead.len(),
        1,
        "the rejected message reaches the DLQ\n{}",
        world.diagnose()
    );
    assert_eq!(dead[0].body, rejected);
    let notifications = exactly_notifications(&world, &app.inbox_url, 2, DELIVERY, QUIET).await;
    let mut notified: Vec<&str> = notifications
        .iter()
        .map(|n| n.message_id.as_str())
        .collect();
    notified.sort();
    let mut expected = vec![ids[1].as_str(), ids[4].as_str()];
    expected.sort();
    assert_eq!(
        notified, expected,
        "each bad payload notifies once, despite the retries"
    );
    let items = support::scan(&support::dynamodb(&world), &app.table_name).await;
    assert_eq!(items.len(), 4, "each insert lands once: {items:?}");
}

/// A message that keeps failing is retried until maxReceiveCount, then kept in the DLQ; the
/// function's log says why it failed.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn poison_message_goes_to_dlq() {
    let world = world_with("private-serverless").await;
    let app = PrivateServerless::of(&world);
    let poison = r#"{"Insert":"DynamoDB","Id":""}"#;

    send_all(&world, &app, &[poison]).await;

    let dead = receive(&world, &app.dead_letter_queue_url, 1, DELIVERY).await;
    assert_eq!(
        dead.len(),
        1,
        "the poison message reaches the DLQ\n{}",
        world.diagnose()
    );
    assert_eq!(dead[0].body, poison);
    assert!(
        dead[0].receive_count >= 2,
        "received maxReceiveCount (2) times before the DLQ, got {}",
        dead[0].receive_count
    );
    let log = world.function_log(&app.function_name);
    assert!(
        log.matches("processing failed, SQS will retry").count() >= 2,
        "the function logged each failed attempt:\n{log}"
    );
    let items = support::scan(&support::dynamodb(&world), &app.table_name).await;
    assert!(items.is_empty(), "nothing was inserted: {items:?}");
}

/// A test that panics still leaves nothing behind: its stack's resources are deleted and its
/// function processes are gone.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn world_cleans_up_after_a_panic() {
    // Keeps the emulator up after the panicking world is gone, to look at what remains.
    let observer = support::world().await;
    let doomed = tokio::spawn(async {
        let world = world_with("private-serverless").await;
        let app = PrivateServerless::of(&world);
        let ids = send_all(&world, &app, &[r#"{"Insert":"DynamoDB"}"#]).await;
        wait_for_items(&world, &app.table_name, &ids, DELIVERY).await;
        let running = support::processes_of_function(&app.function_name);
        assert!(!running.is_empty(), "the function runs as a process");
        std::panic::panic_any((world.sdk_config().clone(), app.function_name, app.queue_url));
    });
    let payload = doomed.await.expect_err("the task panicked").into_panic();
    let (config, function_name, queue_url) = *payload
        .downcast::<(aws_config::SdkConfig, String, String)>()
        .expect("the panic carries the world's details");

    assert_eq!(
        support::processes_of_function(&function_name),
        Vec::<u32>::new()
    );
    let lambda = aws_sdk_lambda::Client::new(&config);
    let function = lambda
        .get_function()
        .function_name(&function_name)
        .send()
        .await;
    assert!(function.is_err(), "function {function_name} was deleted");
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .send()
        .await;
    assert!(queue.is_err(), "queue {queue_url} was deleted");
    observer.shutdown().await.expect("observer teardown");
}

/// A resource that fails rolls back what the stack created before it, and the error names the
/// resource, its type and the reason.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn failed_deploy_rolls_back_and_names_the_resource() {
    let mut world = support::world().await;
    let error = world
        .deploy_template("broken", support::fixture("broken-table.yaml"), &[])
        .await
        .expect_err("the table's key is not a defined attribute");
    let message = error.to_string();
    assert!(message.contains("BrokenTable"), "{message}");
    assert!(message.contains("AWS::DynamoDB::Table"), "{message}");
    assert!(
        message.contains("rolled back 1 created resource"),
        "{message}"
    );
    support::assert_no_queues(&world).await;
}

/// An output that cannot be evaluated fails the stack, names the output, and leaves nothing.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn an_output_error_rolls_back_the_stack() {
    let mut world = support::world().await;
    let error = world
        .deploy_template("bad-output", support::fixture("bad-output.yaml"), &[])
        .await
        .expect_err("queues have no attribute Nope");
    let message = error.to_string();
    assert!(message.contains("Outputs.Broken"), "{message}");
    assert!(message.contains("Nope"), "{message}");
    support::assert_no_queues(&world).await;
}

/// Bad templates are refused before anything is created, with what to fix.
#[rstest]
#[case::yaml_syntax("bad-syntax.yaml", "line")]
#[case::runtime_not_served("runtime-java.yaml", "java21 is not supported")]
#[case::handler_module_missing("python-missing-handler.yaml", "no module file main.py")]
#[case::handler_function_missing("python-missing-function.yaml", "no function lambda_handler")]
#[case::requirements_do_not_install(
    "python-bad-requirements.yaml",
    "vpclab-no-such-package-anywhere"
)]
#[case::unknown_tag("unknown-tag.yaml", "!Reff")]
#[case::sam_translator_refuses("sam-event-missing-queue.yaml", "Missing required property 'Queue'")]
#[case::unsupported_type("unsupported-type.yaml", "Bucket (AWS::S3::Bucket)")]
#[case::missing_parameter("missing-parameter.yaml", "TableName")]
#[case::overlapping_subnets("overlapping-subnets.yaml", "NarrowSubnet")]
#[case::subnet_outside_vpc("subnet-outside-vpc.yaml", "StraySubnet")]
#[case::route_to_missing_target("route-to-missing-nat.yaml", "nat-0000000000000000")]
#[case::policy_unknown_operator(
    "policy-unknown-operator.yaml",
    "statement OnlyMyEndpoint of the policy of REST API TypoApi (typo-policy): Unknown operator: StringEqualz"
)]
#[case::policy_names_a_missing_endpoint(
    "policy-missing-endpoint.yaml",
    "statement OnlyMyEndpoint of the policy of REST API LonelyApi (lonely-policy) names VPC endpoint vpce-0123456789abcdef0, which does not exist"
)]
#[case::endpoints_on_a_regional_api(
    "endpoints-on-regional-api.yaml",
    "VPCEndpoints can only be specified with PRIVATE apis."
)]
#[case::policy_malformed(
    "policy-malformed.yaml",
    r#"statement LetEveryoneIn of the policy of REST API SloppyApi (sloppy-policy): Effect must be "Allow" or "Deny", not "Permit""#
)]
#[case::policy_unknown_key(
    "policy-unknown-key.yaml",
    "statement OnlyMyEndpoint of the policy of REST API KeyTypoApi (key-typo-policy)"
)]
#[case::hosted_zone_of_a_missing_vpc(
    "hosted-zone-missing-vpc.yaml",
    "hosted zone internal.example: VPC vpc-0123456789abcdef0 does not exist in us-west-2"
)]
#[case::peering_to_a_missing_vpc(
    "peering-missing-vpc.yaml",
    "peering StrayPeering: peer VPC vpc-0fedcba9876543210 does not exist in eu-west-1"
)]
#[case::certificate_not_covering_the_domain(
    "domain-certificate-mismatch.yaml",
    "domain name private.example.com: certificate arn:aws:acm:"
)]
#[case::mapping_to_a_missing_stage(
    "domain-mapping-missing-stage.yaml",
    "base path mapping StrayMapping of private.example.com: REST API"
)]
#[case::association_to_another_service(
    "domain-association-wrong-service.yaml",
    "is an endpoint of com.amazonaws.us-east-1.sqs, not com.amazonaws.us-east-1.execute-api"
)]
#[case::vpc_id_parameter_that_does_not_exist(
    "vpc-id-parameter-missing.yaml",
    "parameter `VpcId` (AWS::EC2::VPC::Id) names vpc-0123456789abcdef0, which does not exist"
)]
#[case::rds_engine_not_run("rds-engine-mysql.yaml", "engine mysql is not one vpclab runs")]
#[case::rds_subnet_group_across_vpcs(
    "rds-subnets-two-vpcs.yaml",
    "a subnet group's subnets must all be in one VPC"
)]
#[case::rds_password_reference_to_a_missing_key("rds-wrong-secret-key.yaml", "has no key pasword")]
#[case::ssm_image_that_does_not_exist(
    "ssm-image-missing.yaml",
    "parameter `ImageId` refers to SSM parameter `/vpclab/missing/image-id`, which does not exist"
)]
#[tokio::test(flavor = "multi_thread")]
async fn bad_templates_name_what_to_fix(#[case] file: &str, #[case] named: &str) {
    let mut world = support::world().await;
    let error = world
        .deploy_template("bad", support::fixture(file), &[])
        .await
        .expect_err("the template is refused");
    let message = error.to_string();
    assert!(matches!(error, Error::Deploy(_)), "{message}");
    assert!(
        message.contains(file),
        "the error names the template: {message}"
    );
    assert!(
        message.contains(named),
        "the error names {named:?}: {message}"
    );
}

/// A Lambda crate that does not compile fails the deploy with the compiler's message, naming
/// the function and its CodeUri; nothing is created.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn a_lambda_that_does_not_build_names_the_function_and_the_compiler_error() {
    let mut world = support::world().await;
    let error = world
        .deploy_template("broken", support::fixture("broken-lambda.yaml"), &[])
        .await
        .expect_err("the crate does not compile");
    let message = error.to_string();
    assert!(message.contains("BrokenFunction"), "{message}");
    assert!(message.contains("CodeUri broken-lambda"), "{message}");
    assert!(
        message.contains("mismatched types"),
        "the compiler's error: {message}"
    );
    let functions = aws_sdk_lambda::Client::new(world.sdk_config())
        .list_functions()
        .send()
        .await
        .expect("ListFunctions");
    assert!(functions.functions().is_empty(), "nothing was created");
}

/// An unknown scenario name lists the scenarios there are.
#[test]
fn unknown_scenario_lists_known_ones() {
    let error = Scenario::load(&support::scenarios_dir(), "private-serverles").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("private-serverles"), "{message}");
    assert!(message.contains("private-serverless"), "{message}");
}
