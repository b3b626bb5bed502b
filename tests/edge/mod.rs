//! The edge: who may call a REST API, as API Gateway decides it (seed 000 and the private-API
//! seeds).

use rstest::{fixture, rstest};
use vpclab_harness::{Host, World};

use vpclab_harness::INTERNET_HOST;

use crate::support::{self, Answer, Fetched, curl, deploy, instance_host, output, test_instance};

/// Seed 000 in PRIVATE mode: a private API that admits only its execute-api endpoint.
#[fixture]
async fn private_getmyip() -> World {
    let mut world = support::world().await;
    deploy(&mut world, "getmyip", "getmyip", &[("Mode", "PRIVATE")]).await;
    world
}

/// Seed 000 in PUBLIC mode: a regional API.
#[fixture]
async fn public_getmyip() -> World {
    let mut world = support::world().await;
    deploy(&mut world, "getmyip", "getmyip", &[("Mode", "PUBLIC")]).await;
    world
}

/// A second VPC with an execute-api endpoint of its own (private DNS on), and a host in it.
async fn other_vpc(world: &mut World) -> Host {
    let fixture = support::fixture("vpc-with-api-endpoint.yaml");
    if let Err(e) = world.deploy_template("other-vpc", &fixture, &[]).await {
        panic!("deploying the second VPC: {e}\n{}", world.diagnose());
    }
    let subnet = output(world, "other-vpc", "SubnetId");
    world
        .fabric()
        .add_host(&subnet, &[], "a host in the other VPC")
        .await
        .unwrap_or_else(|e| panic!("placing a host in the other VPC: {e}"))
}

/// The endpoint's first DNS name as EC2 describes it (`vpce-….execute-api.….vpce.amazonaws.com`),
/// and its ENIs' addresses.
async fn described_endpoint(world: &World, vpce: &str) -> (String, Vec<String>) {
    let ec2 = aws_sdk_ec2::Client::new(world.sdk_config());
    let described = ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(vpce)
        .send()
        .await
        .expect("DescribeVpcEndpoints");
    let endpoint = &described.vpc_endpoints()[0];
    let name = endpoint.dns_entries()[0]
        .dns_name()
        .expect("a DNS name")
        .replace(".vpce.localhost.localstack.cloud", ".vpce.amazonaws.com");
    // AWS describes an endpoint's ENIs as "VPC Endpoint Interface <id>" (the emulator keeps
    // stale ids in the endpoint's NetworkInterfaceIds; the description is what both share).
    let description = aws_sdk_ec2::types::Filter::builder()
        .name("description")
        .values(format!("VPC Endpoint Interface {vpce}"))
        .build();
    let interfaces = ec2
        .describe_network_interfaces()
        .filters(description)
        .send()
        .await
        .expect("DescribeNetworkInterfaces");
    let addresses = interfaces
        .network_interfaces()
        .iter()
        .filter_map(|i| i.private_ip_address().map(str::to_owned))
        .collect();
    (name, addresses)
}

/// AWS's `403 ForbiddenException`, exactly.
fn assert_forbidden(answer: &Answer) {
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(
        answer.header("x-amzn-errortype"),
        Some("ForbiddenException"),
        "{answer:?}"
    );
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{answer:?}"
    );
    assert_eq!(answer.body, r#"{"message":"Forbidden"}"#);
}

/// How a caller inside the VPC names the private API.
#[derive(Debug, Clone, Copy)]
enum ApiName {
    /// `{api}.execute-api.{region}.amazonaws.com`, through private DNS.
    PrivateDns,
    /// `{api}-{vpce}.execute-api.{region}.amazonaws.com`.
    ApiAndEndpoint,
    /// The endpoint's own name, with `x-apigw-api-id`.
    EndpointWithHeader,
}

/// From the test instance, each name AWS gives a private API reaches it through the endpoint,
/// and the page comes back.
#[rstest]
#[case::private_dns(ApiName::PrivateDns)]
#[case::api_and_endpoint_name(ApiName::ApiAndEndpoint)]
#[case::endpoint_name_with_api_header(ApiName::EndpointWithHeader)]
#[tokio::test(flavor = "multi_thread")]
async fn private_api_allows_calls_through_its_endpoint(
    #[future(awt)] private_getmyip: World,
    #[case] name: ApiName,
) {
    let world = private_getmyip;
    let (api, vpce) = (
        output(&world, "getmyip", "ApiId"),
        output(&world, "getmyip", "ApiEndpointId"),
    );
    let region = world.region().to_owned();
    let header = format!("x-apigw-api-id: {api}");
    let (url, args) = match name {
        ApiName::PrivateDns => (output(&world, "getmyip", "ApiUrl"), vec![]),
        ApiName::ApiAndEndpoint => (
            format!("https://{api}-{vpce}.execute-api.{region}.amazonaws.com/Prod/getmyip"),
            vec![],
        ),
        ApiName::EndpointWithHeader => {
            let (endpoint_name, _) = described_endpoint(&world, &vpce).await;
            (
                format!("https://{endpoint_name}/Prod/getmyip"),
                vec!["-H", header.as_str()],
            )
        }
    };
    let instance = test_instance(&world, "getmyip");
    let answer = curl(&world, &instance, &url, &args).await.answer();
    assert_eq!(
        answer.status,
        200,
        "{url}: {answer:?}\n{}",
        world.function_logs()
    );
    assert!(answer.body.contains(r#"<p id="ip">"#), "{answer:?}");
}

/// From the internet the private API's URL answers AWS's 403 Forbidden, exactly; the
/// function is never invoked.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_api_denies_calls_from_the_internet(#[future(awt)] private_getmyip: World) {
    let world = private_getmyip;
    let url = output(&world, "getmyip", "ApiUrl");
    let answer = curl(&world, INTERNET_HOST, &url, &[]).await.answer();
    assert_forbidden(&answer);
    let function = output(&world, "getmyip", "FunctionName");
    assert!(
        !world.function_log(&function).contains("START"),
        "the function ran: {}",
        world.function_log(&function)
    );
}

/// The emulator's own routes to an API (`/restapis/{api}/{stage}/_user_request_/…`, or an
/// execute-api `Host` on another service's connection) do not lead around the front door: the
/// private API is not reached from the internet that way either.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_api_denies_calls_around_the_front_door(#[future(awt)] private_getmyip: World) {
    let world = private_getmyip;
    let api = output(&world, "getmyip", "ApiId");
    let region = world.region().to_owned();
    let sqs = format!("https://sqs.{region}.amazonaws.com");
    let host = format!("Host: {api}.execute-api.{region}.amazonaws.com");
    for (url, args, status) in [
        (
            format!("{sqs}/restapis/{api}/Prod/_user_request_/getmyip"),
            vec![],
            404,
        ),
        (
            format!("{sqs}/_aws/execute-api/{api}/Prod/getmyip"),
            vec![],
            404,
        ),
        (
            format!("{sqs}/Prod/getmyip"),
            vec!["-H", host.as_str()],
            421,
        ),
    ] {
        let answer = curl(&world, INTERNET_HOST, &url, &args).await.answer();
        assert_eq!(answer.status, status, "{url} {args:?}: {answer:?}");
    }
    let function = output(&world, "getmyip", "FunctionName");
    assert!(
        !world.function_log(&function).contains("START"),
        "the function ran: {}",
        world.function_log(&function)
    );
}

/// A caller in a second VPC, whose own execute-api endpoint the API's policy does not name,
/// gets AWS's explicit-deny AccessDenied.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_api_denies_an_endpoint_not_in_its_policy(#[future(awt)] private_getmyip: World) {
    let mut world = private_getmyip;
    let host = other_vpc(&mut world).await;
    let (url, api) = (
        output(&world, "getmyip", "ApiUrl"),
        output(&world, "getmyip", "ApiId"),
    );
    let answer = curl(&world, &host.netns, &url, &[]).await.answer();
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(
        answer.header("x-amzn-errortype"),
        Some("AccessDeniedException")
    );
    let account = world.account_id();
    let masked = format!("********{}", &account[account.len() - 4..]);
    let expected = format!(
        r#"{{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:{}:{masked}:{api}/Prod/GET/getmyip with an explicit deny"}}"#,
        world.region()
    );
    assert_eq!(answer.body, expected);
}

/// AWS's known trap: in a VPC whose execute-api endpoint has private DNS on, a public
/// (regional) API's URL leads to the endpoint, which answers 403 Forbidden; from the internet
/// the same URL works.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn public_api_is_forbidden_through_a_private_dns_endpoint(
    #[future(awt)] public_getmyip: World,
) {
    let mut world = public_getmyip;
    let host = other_vpc(&mut world).await;
    let url = output(&world, "getmyip", "ApiUrl");
    assert_forbidden(&curl(&world, &host.netns, &url, &[]).await.answer());
    let control = curl(&world, INTERNET_HOST, &url, &[]).await.answer();
    assert_eq!(control.status, 200, "{control:?}");
}

/// The endpoint's own names resolve from anywhere to its ENIs' private addresses (as EC2
/// describes them), and from the internet they lead nowhere: no answer at all.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_api_endpoint_names_lead_nowhere_from_outside(
    #[future(awt)] private_getmyip: World,
) {
    let world = private_getmyip;
    let (api, vpce) = (
        output(&world, "getmyip", "ApiId"),
        output(&world, "getmyip", "ApiEndpointId"),
    );
    let (endpoint_name, addresses) = described_endpoint(&world, &vpce).await;
    let alias = format!("{api}-{vpce}.execute-api.{}.amazonaws.com", world.region());
    for name in [&alias, &endpoint_name] {
        let resolved = resolve_in(&world, INTERNET_HOST, name).await;
        assert_eq!(
            resolved, addresses,
            "{name} resolves to the endpoint's ENIs"
        );
        let url = format!("https://{name}/Prod/getmyip");
        let header = format!("x-apigw-api-id: {api}");
        match curl(
            &world,
            INTERNET_HOST,
            &url,
            &["-H", &header, "--connect-timeout", "3"],
        )
        .await
        {
            Fetched::Failed { .. } => {}
            Fetched::Answer(answer) => panic!("{url} answered from the internet: {answer:?}"),
        }
    }
}

/// The explanation names the statement that denied, or the missing endpoint.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn explain_blocked_path_private_api(#[future(awt)] private_getmyip: World) {
    let mut world = private_getmyip;
    let url = output(&world, "getmyip", "ApiUrl");
    let from_internet = world
        .explain_api_call(None, "GET", &url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        from_internet.contains("ForbiddenException")
            && from_internet.contains("only through an execute-api VPC endpoint"),
        "{from_internet}"
    );
    let host = other_vpc(&mut world).await;
    let other_endpoint = output(&world, "other-vpc", "EndpointId");
    let from_other_vpc = world
        .explain_api_call(Some(&host), "GET", &url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        from_other_vpc.contains("AccessDeniedException")
            && from_other_vpc.contains(&other_endpoint)
            && from_other_vpc.contains("statement DenyOtherEndpoints of the API's resource policy"),
        "{from_other_vpc}"
    );
    let instance = instance_host(&world, &test_instance(&world, "getmyip")).await;
    let allowed = world
        .explain_api_call(Some(&instance), "GET", &url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(allowed.contains("through"), "{allowed}");
}

/// The IPv4 addresses `name` resolves to on `host` (`getent ahostsv4`, the host's resolver).
async fn resolve_in(world: &World, host: &str, name: &str) -> Vec<String> {
    let output = world
        .exec(host, &["getent", "ahostsv4", name])
        .await
        .unwrap_or_else(|e| panic!("getent on {host}: {e}"));
    let mut addresses: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    addresses.dedup();
    addresses
}
