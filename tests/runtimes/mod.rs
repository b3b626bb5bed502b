//! Managed runtimes (issue 15): Python and Node.js functions run unchanged under AWS's runtime
//! interface clients, unprivileged, in their subnets, exactly like the Rust ones.

use rstest::{fixture, rstest};
use serde_json::{Value, json};
use vpclab_harness::World;

use crate::{
    network::{egress_ip, nat_public_ip, published_ec2_ranges},
    support::{self, deploy, invoke, output},
};

/// A world with seed 000 on managed runtimes (`getmyip-python`) deployed in `mode`.
#[fixture]
async fn getmyip_python(#[default("PUBLIC")] mode: &str) -> World {
    let mut world = support::world().await;
    deploy(&mut world, "getmyip-python", "getmyip", &[("Mode", mode)]).await;
    world
}

/// A world with the inline-source functions of `tests/fixtures/inline-python.yaml`.
#[fixture]
async fn inline_python() -> World {
    let mut world = support::world().await;
    let template = support::fixture("inline-python.yaml");
    if let Err(e) = world.deploy_template("inline", template, &[]).await {
        panic!("deploying inline-python.yaml: {e}\n{}", world.diagnose());
    }
    world
}

/// PUBLIC: seed 000's handler in Python, called from the internet, egresses from AWS's
/// published EC2 ranges of the region and not from the NAT gateway's Elastic IP.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn python_function_egress_ip_public_mode(#[future(awt)] getmyip_python: World) {
    let world = getmyip_python;
    let ip = egress_ip(&world, "getmyip", "PUBLIC").await;
    let address: std::net::Ipv4Addr = ip.parse().expect("an IPv4 address");
    let ranges = published_ec2_ranges(&world).await;
    assert!(
        ranges.iter().any(|r| r.contains(&address)),
        "{ip} is in none of AWS's EC2 ranges for {}",
        world.region()
    );
    let nat = nat_public_ip(&world, &output(&world, "getmyip", "NatGatewayId")).await;
    assert_ne!(ip, nat);
}

/// PRIVATE: the Python function in the private subnet egresses through the NAT gateway, whose
/// Elastic IP `DescribeNatGateways` reports; the test instance calls the private API.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn python_function_egress_ip_private_mode(
    #[future(awt)]
    #[with("PRIVATE")]
    getmyip_python: World,
) {
    let world = getmyip_python;
    let ip = egress_ip(&world, "getmyip", "PRIVATE").await;
    let nat = nat_public_ip(&world, &output(&world, "getmyip", "NatGatewayId")).await;
    assert_eq!(ip, nat);
}

/// The Node.js function in the private subnet: ifconfig.me sees the NAT gateway's Elastic IP;
/// it runs on the interpreter of its major version, as a user other than root.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn nodejs_function_runs_in_its_subnet(
    #[future(awt)]
    #[with("PRIVATE")]
    getmyip_python: World,
) {
    let world = getmyip_python;
    let function = output(&world, "getmyip", "NodeFunctionName");
    let answer = invoke(&world, &function, json!({})).await;
    let nat = nat_public_ip(&world, &output(&world, "getmyip", "NatGatewayId")).await;
    assert_eq!(answer["ip"], nat, "{answer}");
    assert_ne!(answer["uid"], 0, "{answer}");
    assert_eq!(
        answer["memory"], "128",
        "the context's memory size: {answer}"
    );
    let remaining = answer["remainingMs"].as_u64().unwrap_or_default();
    assert!(remaining > 0 && remaining <= 10_000, "{answer}");
    assert!(
        world.function_log(&function).contains("node probe: egress"),
        "{}",
        world.function_log(&function)
    );
}

/// `InlineCode` (SAM) and `Code.ZipFile` (CloudFormation) run as `index.py`; the context
/// carries the function's memory size and time left; boto3 and botocore import.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn inline_python_function_runs(#[future(awt)] inline_python: World) {
    let world = inline_python;
    let function = output(&world, "inline", "InlineFunctionName");
    let answer = invoke(&world, &function, json!({"hello": "world"})).await;
    assert_eq!(answer["event"], json!({"hello": "world"}));
    assert_eq!(answer["function"], function);
    assert_eq!(answer["memory"], "256", "{answer}");
    let remaining = answer["remaining_ms"].as_u64().unwrap_or_default();
    assert!(remaining > 0 && remaining <= 7_000, "{answer}");
    assert!(
        answer["boto3"]
            .as_str()
            .is_some_and(|v| v.starts_with("1."))
    );
    assert!(
        answer["botocore"]
            .as_str()
            .is_some_and(|v| v.starts_with("1."))
    );
    assert_ne!(answer["uid"], 0);
    let zipfile = output(&world, "inline", "ZipFileFunctionName");
    let answer = invoke(&world, &zipfile, json!([1, 2])).await;
    assert_eq!(answer, json!({"zipfile": true, "echo": [1, 2]}));
}

/// An unhandled exception comes back as AWS shapes it: `FunctionError: Unhandled`, a payload
/// of `errorMessage`, `errorType` and `stackTrace` (the frames, innermost last).
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn python_function_error_is_shaped_as_aws(#[future(awt)] inline_python: World) {
    let world = inline_python;
    let function = output(&world, "inline", "FailingFunctionName");
    let response = aws_sdk_lambda::Client::new(world.sdk_config())
        .invoke()
        .function_name(&function)
        .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"value": 7}"#))
        .send()
        .await
        .expect("Invoke");
    assert_eq!(response.function_error(), Some("Unhandled"));
    let body: Value = serde_json::from_slice(response.payload().expect("a payload").as_ref())
        .expect("a JSON error");
    assert_eq!(body["errorType"], "ValueError", "{body}");
    assert_eq!(body["errorMessage"], "no good: 7", "{body}");
    let trace: Vec<&str> = body["stackTrace"]
        .as_array()
        .expect("stackTrace is a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        trace.last().is_some_and(|frame| frame.contains("in check")),
        "the innermost frame is last: {body}"
    );
    assert!(
        world.function_log(&function).contains("ValueError"),
        "the log shows the error: {}",
        world.function_log(&function)
    );
}

/// A `requirements.txt` beside the handler is installed into the artifact, as `sam build`
/// does: the package imports from the function's own code folder.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn python_function_with_requirements() {
    let mut world = support::world().await;
    let template = support::fixture("python-requirements.yaml");
    if let Err(e) = world.deploy_template("reqs", template, &[]).await {
        panic!(
            "deploying python-requirements.yaml: {e}\n{}",
            world.diagnose()
        );
    }
    let function = output(&world, "reqs", "FunctionName");
    let answer = invoke(&world, &function, json!({"name": "bücher.example"})).await;
    assert_eq!(answer["encoded"], "xn--bcher-kva.example", "{answer}");
    let module = answer["module"].as_str().unwrap_or_default();
    assert!(
        module.contains("/task/idna/"),
        "imported from the artifact: {answer}"
    );
}
