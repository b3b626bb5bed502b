//! Seed 003: a Lambda function in region B calls a private API in region A, over a VPC peering,
//! the API's name answered by a private hosted zone in region B and sent to the region A
//! endpoint. Three templates, deployed in order, each fed the outputs of the one before.
//!
//! What the function observes (the API's answer, a timeout, a 403 body) is compared with what
//! EC2 describes in each region: the endpoint's interfaces, the route tables, the peering.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;
use rstest::{fixture, rstest};
use serde_json::{Value, json};
use vpclab_harness::{Error, Scenario, StackRequest, World};

use crate::support::{self, output};

const SCENARIO: &str = "cross-region-private-api";
const API_STACK: &str = "api-regionA";
const CLIENT_STACK: &str = "client-regionB";
const ROUTE_STACK: &str = "route-regionA";
/// The probe's own bound on a call (DNS, connect, TLS and the answer).
const PROBE_TIMEOUT_MS: u64 = 4000;

fn scenario() -> Scenario {
    Scenario::load(&support::scenarios_dir(), SCENARIO).unwrap_or_else(|e| panic!("{e}"))
}

/// Deploys stack `name` of the scenario, its parameters resolved from the stacks before it,
/// with `overrides` on top.
async fn deploy_stack(world: &mut World, name: &str, overrides: &[(&str, &str)]) {
    let scenario = scenario();
    let stack = scenario.stack(name).unwrap_or_else(|e| panic!("{e}"));
    let mut parameters = scenario
        .parameters_of(stack, &world.outputs())
        .unwrap_or_else(|e| panic!("{e}"));
    for (key, value) in overrides {
        parameters.insert((*key).to_owned(), (*value).to_owned());
    }
    let request = StackRequest {
        name: stack.name.clone(),
        template: scenario.dir().join(&stack.template),
        parameters,
        region: stack.region.clone(),
    };
    if let Err(e) = world.deploy(request).await {
        panic!("deploying {name}: {e}\n{}", world.diagnose());
    }
}

/// A world with the first `stacks` stacks of the scenario deployed, in order.
#[fixture]
async fn cross_region(#[default(3)] stacks: usize) -> World {
    let mut world = support::world().await;
    for stack in scenario().stacks.iter().take(stacks) {
        deploy_stack(&mut world, &stack.name, &[]).await;
    }
    world
}

fn api_region(world: &World) -> String {
    output(world, API_STACK, "Region")
}

fn client_region(world: &World) -> String {
    world
        .stack(CLIENT_STACK)
        .expect("client stack deployed")
        .region()
        .to_owned()
}

/// The private API's resource URL, as the client calls it.
fn hello_url(world: &World) -> String {
    format!(
        "{}/{}/hello",
        output(world, CLIENT_STACK, "ApiUrl"),
        output(world, API_STACK, "StageName")
    )
}

/// Invokes the client function (in region B) with a probe payload.
async fn probe(world: &World, payload: Value) -> Value {
    let function = output(world, CLIENT_STACK, "ClientFunctionName");
    let config = world.sdk_config_in(&client_region(world));
    support::invoke_in(world, &config, &function, payload).await
}

async fn call_api(world: &World) -> Value {
    let url = hello_url(world);
    probe(
        world,
        json!({"probe": "http_get", "url": url, "timeout_ms": PROBE_TIMEOUT_MS}),
    )
    .await
}

async fn resolve_api(world: &World) -> Vec<String> {
    let name = output(world, CLIENT_STACK, "ApiUrl").replace("https://", "");
    let answer = probe(world, json!({"probe": "resolve", "name": name})).await;
    answer["addresses"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn ec2_in(world: &World, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&world.sdk_config_in(region))
}

/// The private addresses of the interfaces of endpoint `endpoint_id`, as EC2 in its region
/// describes them (AWS's description of an endpoint's interfaces names the endpoint).
async fn endpoint_addresses(world: &World, endpoint_id: &str) -> Vec<String> {
    let described = ec2_in(world, &api_region(world))
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("description")
                .values(format!("VPC Endpoint Interface {endpoint_id}"))
                .build(),
        )
        .send()
        .await
        .expect("DescribeNetworkInterfaces");
    let mut addresses: Vec<String> = described
        .network_interfaces()
        .iter()
        .filter_map(|i| i.private_ip_address().map(str::to_owned))
        .collect();
    addresses.sort();
    addresses
}

/// All three stacks: the function in region B gets the private API's answer from region A,
/// through the endpoint whose interfaces EC2 describes there.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn cross_region_lambda_reaches_the_private_api(#[future] cross_region: World) {
    let world = cross_region.await;
    assert_ne!(api_region(&world), client_region(&world), "two regions");
    let mut resolved = resolve_api(&world).await;
    resolved.sort();
    let endpoint = output(&world, API_STACK, "VpcEndpointId");
    assert_eq!(
        resolved,
        endpoint_addresses(&world, &endpoint).await,
        "the hosted zone sends the API's name to the region A endpoint's interfaces"
    );

    let answer = call_api(&world).await;

    assert_eq!(answer["ok"], true, "{answer}\n{}", world.diagnose());
    assert_eq!(answer["status"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the API answers JSON ({e}): {answer}"));
    assert_eq!(
        body["message"],
        format!("hello from the private API in {}", api_region(&world)),
        "{answer}"
    );
}

/// Stacks 1 and 2 only: the request goes out over the peering, the replies never come back.
/// The call times out (within the probe's bound) and `explain` names the region A route table
/// that lacks the route back, the one EC2 associates with the endpoint's subnets.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn cross_region_call_fails_without_the_return_route(
    #[future]
    #[with(2)]
    cross_region: World,
) {
    let world = cross_region.await;

    let answer = call_api(&world).await;

    assert_eq!(answer["ok"], false, "no reply comes back: {answer}");
    assert_eq!(answer["error_kind"], "timeout", "{answer}");
    let function = output(&world, CLIENT_STACK, "ClientFunctionName");
    let name = output(&world, CLIENT_STACK, "ApiUrl").replace("https://", "");
    let explanation = world
        .fabric()
        .explain(&function, &name, 443)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!explanation.reachable, "{explanation}");
    let blocked = explanation.blocked_at.clone().unwrap_or_default();
    let subnets = output(&world, API_STACK, "ApiSubnetIds");
    let tables = ec2_in(&world, &api_region(&world))
        .describe_route_tables()
        .filters(
            Filter::builder()
                .name("association.subnet-id")
                .set_values(Some(subnets.split(',').map(str::to_owned).collect()))
                .build(),
        )
        .send()
        .await
        .expect("DescribeRouteTables");
    let table = tables
        .route_tables()
        .first()
        .and_then(|t| t.route_table_id())
        .expect("the API's subnets have a route table");
    let pcx = output(&world, CLIENT_STACK, "PeeringConnectionId");
    assert!(
        blocked.starts_with(&format!("route table {table} ")),
        "names the region A table: {explanation}"
    );
    assert!(
        blocked.contains("has no route back to") && blocked.contains(&pcx),
        "{explanation}"
    );
}

/// Without the private hosted zone the API's name is the public one: from a VPC function in
/// region B it resolves to none of the endpoint's interfaces and leads nowhere.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn cross_region_call_fails_without_the_hosted_zone() {
    let mut world = support::world().await;
    deploy_stack(&mut world, API_STACK, &[]).await;
    deploy_stack(&mut world, CLIENT_STACK, &[("PrivateHostedZone", "false")]).await;
    deploy_stack(&mut world, ROUTE_STACK, &[]).await;
    let endpoint = output(&world, API_STACK, "VpcEndpointId");
    let interfaces = endpoint_addresses(&world, &endpoint).await;

    let resolved = resolve_api(&world).await;
    let answer = call_api(&world).await;

    assert!(!resolved.is_empty(), "the public name exists");
    assert!(
        resolved.iter().all(|a| !interfaces.contains(a)),
        "{resolved:?} are not the endpoint's {interfaces:?}"
    );
    assert_eq!(
        answer["ok"], false,
        "the public name leads nowhere: {answer}"
    );
    assert!(
        ["timeout", "connect"].contains(&answer["error_kind"].as_str().unwrap_or_default()),
        "{answer}"
    );
}

/// The hosted zone points at another endpoint of the API's VPC, one the API's policy does not
/// name: the call arrives there (`aws:SourceVpce` is that endpoint) and the policy's deny
/// answers, with AWS's message.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn cross_region_call_denied_through_another_endpoint() {
    let mut world = support::world().await;
    deploy_stack(&mut world, API_STACK, &[]).await;
    let vpc = output(&world, API_STACK, "PeerVpcId");
    let subnets = output(&world, API_STACK, "ApiSubnetIds");
    let subnet = subnets.split(',').next().expect("a subnet").to_owned();
    let other = StackRequest {
        name: "other-endpoint".into(),
        template: support::fixture("second-execute-api-endpoint.yaml"),
        parameters: BTreeMap::from([
            ("VpcId".to_owned(), vpc),
            ("SubnetId".to_owned(), subnet),
            ("ClientVpcCidr".to_owned(), "10.2.0.0/16".to_owned()),
        ]),
        region: Some(api_region(&world)),
    };
    if let Err(e) = world.deploy(other).await {
        panic!("deploying the second endpoint: {e}\n{}", world.diagnose());
    }
    let other_url = output(&world, "other-endpoint", "EndpointUrl");
    deploy_stack(&mut world, CLIENT_STACK, &[("VpcEndpointUrl", &other_url)]).await;
    deploy_stack(&mut world, ROUTE_STACK, &[]).await;

    let answer = call_api(&world).await;

    assert_eq!(answer["ok"], true, "the call arrives: {answer}");
    assert_eq!(answer["status"], 403, "{answer}");
    let account = world.account_id();
    let masked = format!("********{}", &account[account.len() - 4..]);
    let expected = format!(
        r#"{{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:{}:{masked}:{}/{}/GET/hello with an explicit deny"}}"#,
        api_region(&world),
        output(&world, API_STACK, "APIGWID"),
        output(&world, API_STACK, "StageName"),
    );
    assert_eq!(answer["body"], expected, "{answer}");
}

/// Template 3 found the route table through its `AWS::SSM::Parameter::Value<String>` default:
/// EC2 in region A shows the peering route on the table of the API's subnets.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn ssm_parameter_type_resolves_the_route_table(#[future] cross_region: World) {
    let world = cross_region.await;
    let subnets = output(&world, API_STACK, "ApiSubnetIds");
    let pcx = output(&world, CLIENT_STACK, "PeeringConnectionId");
    let client_cidr = output(&world, CLIENT_STACK, "VpcCidr");

    let tables = ec2_in(&world, &api_region(&world))
        .describe_route_tables()
        .filters(
            Filter::builder()
                .name("association.subnet-id")
                .set_values(Some(subnets.split(',').map(str::to_owned).collect()))
                .build(),
        )
        .send()
        .await
        .expect("DescribeRouteTables");

    let table = tables.route_tables().first().expect("a route table");
    assert_eq!(
        output(&world, ROUTE_STACK, "RouteTableId"),
        table.route_table_id().unwrap_or_default()
    );
    assert!(
        table.routes().iter().any(|r| {
            r.destination_cidr_block() == Some(client_cidr.as_str())
                && r.vpc_peering_connection_id() == Some(pcx.as_str())
        }),
        "the route to {client_cidr} through {pcx}: {table:?}"
    );
}

/// Template 3 alone, in a world where template 1 never stored the route table: the SSM
/// parameter its parameter type names does not exist, and the error says which and what to do.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn cross_region_template_3_without_its_ssm_parameter_names_it() {
    let mut world = support::world().await;
    let scenario = scenario();
    let stack = scenario.stack(ROUTE_STACK).expect("stack");
    let error = world
        .deploy(StackRequest {
            name: "route-alone".into(),
            template: scenario.dir().join(&stack.template),
            parameters: BTreeMap::from([
                ("PeeringId".to_owned(), "pcx-0123456789abcdef0".to_owned()),
                ("RemoteVpcCidr".to_owned(), "10.2.0.0/16".to_owned()),
            ]),
            region: stack.region.clone(),
        })
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains(
            "parameter `RouteTableId` refers to SSM parameter \
             `/private-apigw-cross-region/route-table-id`, which does not exist"
        ),
        "{message}"
    );
    assert!(message.contains("template3-regionA.yaml"), "{message}");
}

/// A mistyped output in a parameter reference stops before the stack that holds it, and names
/// the stack, the parameter, the outputs there are and the fix; the stacks before it stay.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn cross_region_mistyped_output_reference_names_the_fix(
    #[future]
    #[with(1)]
    cross_region: World,
) {
    let mut world = cross_region.await;
    let mut scenario = scenario();
    let client = scenario
        .stacks
        .iter_mut()
        .find(|s| s.name == CLIENT_STACK)
        .expect("client stack");
    client
        .parameters
        .insert("ApiId".into(), "${api-regionA.ApiGwId}".into());

    let error = world
        .deploy_scenario_stack(&scenario, CLIENT_STACK)
        .await
        .expect_err("refused");

    assert!(matches!(error, Error::Scenario(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "scenario cross-region-private-api, stack client-regionB, parameter ApiId: \
             `${api-regionA.ApiGwId}`: stack api-regionA has no output ApiGwId; it has: APIGWID,"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("fix the reference in scenario.yaml"),
        "{message}"
    );
    assert!(
        world.stack(CLIENT_STACK).is_none(),
        "nothing of the client stack"
    );
    assert!(world.stack(API_STACK).is_some(), "the API stack stays");
}
