//! The edge: who may call a REST API, as API Gateway decides it (seed 000 and the private-API
//! seeds).

use rstest::rstest;
use vpclab_harness::World;

use crate::support;

/// AWS refuses to deploy a PRIVATE API that has no resource policy: the deployment fails with
/// AWS's message, names the resource, and the API is rolled back (API Gateway lists none).
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_api_without_a_policy_cannot_be_deployed() {
    let mut world = World::start().await.unwrap_or_else(|e| panic!("{e}"));
    let error = world
        .deploy_template(
            "private-api",
            support::fixture("private-api-without-policy.yaml"),
            &[],
        )
        .await
        .expect_err("a PRIVATE API without a resource policy cannot be deployed");
    let message = error.to_string();
    assert!(
        message.contains(
            "BadRequestException: Private REST API doesn't have a resource policy attached to it"
        ),
        "{message}"
    );
    assert!(
        message.contains("Deployment (AWS::ApiGateway::Deployment)"),
        "{message}"
    );
    let apis = aws_sdk_apigateway::Client::new(world.sdk_config())
        .get_rest_apis()
        .send()
        .await
        .expect("GetRestApis");
    assert!(apis.items().is_empty(), "the API was rolled back: {apis:?}");
}

/// The control: the same PRIVATE API with a resource policy deploys, and API Gateway holds its
/// stage.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_api_with_a_policy_is_deployed() {
    let mut world = World::start().await.unwrap_or_else(|e| panic!("{e}"));
    let stack = world
        .deploy_template(
            "private-api",
            support::fixture("private-api-with-policy.yaml"),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let api_id = stack.physical_id("PrivateApi").expect("the API").to_owned();
    let stages = aws_sdk_apigateway::Client::new(world.sdk_config())
        .get_stages()
        .rest_api_id(&api_id)
        .send()
        .await
        .expect("GetStages");
    let names: Vec<_> = stages
        .item()
        .iter()
        .filter_map(|s| s.stage_name())
        .collect();
    assert_eq!(names, ["prod"], "{stages:?}");
}
