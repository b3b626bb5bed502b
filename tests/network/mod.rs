//! Network behaviour (seeds 000 and 002): packets take the path AWS would give them through
//! the fabric; each test asserts what a user would see (a page, a probe's result, an address).

use rstest::{fixture, rstest};
use serde_json::{Value, json};
use vpclab_harness::World;

use crate::support::{self, deploy, invoke, output, test_instance};

/// How long a probe waits before it calls a connection attempt a timeout.
const PROBE_TIMEOUT_MS: u64 = 2000;

async fn http_get(world: &World, function: &str, url: &str) -> Value {
    invoke(
        world,
        function,
        json!({"probe": "http_get", "url": url, "timeout_ms": PROBE_TIMEOUT_MS}),
    )
    .await
}

/// A world with seed 000 deployed as stack `getmyip` in `mode`.
#[fixture]
async fn getmyip(#[default("PUBLIC")] mode: &str) -> World {
    let mut world = support::world().await;
    deploy(&mut world, "getmyip", "getmyip", &[("Mode", mode)]).await;
    world
}

/// The getmyip page at the stack's real URL, fetched from the internet (PUBLIC) or from the
/// test instance inside the VPC (PRIVATE), as the seed's user does.
async fn getmyip_page(world: &World, stack: &str, mode: &str) -> support::Answer {
    let url = output(world, stack, "ApiUrl");
    let host = match mode {
        "PUBLIC" => vpclab_harness::INTERNET_HOST.to_owned(),
        _ => test_instance(world, stack),
    };
    support::curl(world, &host, &url, &[]).await.answer()
}

/// The address the page shows (`<p id="ip">…</p>`).
fn shown_ip(page: &str) -> Option<String> {
    let start = page.find(r#"<p id="ip">"#)? + r#"<p id="ip">"#.len();
    let end = page[start..].find("</p>")? + start;
    Some(page[start..end].to_owned())
}

/// The NAT gateway's Elastic IP, as EC2 describes it.
pub(crate) async fn nat_public_ip(world: &World, nat_id: &str) -> String {
    let ec2 = aws_sdk_ec2::Client::new(world.sdk_config());
    let described = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(nat_id)
        .send()
        .await
        .expect("DescribeNatGateways");
    described.nat_gateways()[0].nat_gateway_addresses()[0]
        .public_ip()
        .expect("the NAT gateway has an Elastic IP")
        .to_owned()
}

pub(crate) async fn egress_ip(world: &World, stack: &str, mode: &str) -> String {
    let page = getmyip_page(world, stack, mode).await;
    assert_eq!(page.status, 200, "{page:?}\n{}", world.function_logs());
    shown_ip(&page.body).unwrap_or_else(|| panic!("the page shows no address: {page:?}"))
}

/// The EC2 prefixes AWS publishes for `region`, read from `ip-ranges.json` on the internet.
pub(crate) async fn published_ec2_ranges(world: &World) -> Vec<ipnet::Ipv4Net> {
    let url = "https://ip-ranges.amazonaws.com/ip-ranges.json";
    let answer = support::curl(world, vpclab_harness::INTERNET_HOST, url, &[])
        .await
        .answer();
    assert_eq!(answer.status, 200, "{answer:?}");
    let document: Value = serde_json::from_str(&answer.body).expect("ip-ranges.json is JSON");
    document["prefixes"]
        .as_array()
        .expect("prefixes")
        .iter()
        .filter(|p| p["region"] == world.region() && p["service"] == "EC2")
        .filter_map(|p| p["ip_prefix"].as_str()?.parse().ok())
        .collect()
}

/// PUBLIC: an internet client calls the regional API; the function, outside any VPC, egresses
/// from AWS's published EC2 ranges of the region, and not from the NAT gateway's Elastic IP.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn egress_ip_public_mode(#[future(awt)] getmyip: World) {
    let world = getmyip;
    let ip = egress_ip(&world, "getmyip", "PUBLIC").await;
    let address: std::net::Ipv4Addr = ip.parse().expect("an IPv4 address");
    let ranges = published_ec2_ranges(&world).await;
    assert!(
        ranges.iter().any(|r| r.contains(&address)),
        "{ip} is in none of AWS's EC2 ranges for {}: {ranges:?}",
        world.region()
    );
    assert_ne!(
        ip,
        nat_public_ip(&world, &output(&world, "getmyip", "NatGatewayId")).await
    );
}

/// PRIVATE: the test instance calls the private API through its endpoint; the function, in
/// the private subnet, egresses through the NAT gateway's Elastic IP.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn egress_ip_private_mode(
    #[future(awt)]
    #[with("PRIVATE")]
    getmyip: World,
) {
    let world = getmyip;
    let ip = egress_ip(&world, "getmyip", "PRIVATE").await;
    let eip = nat_public_ip(&world, &output(&world, "getmyip", "NatGatewayId")).await;
    assert_eq!(ip, eip);
}

/// The same template in both modes, side by side: the two pages differ.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn egress_ip_changes_between_modes(#[future(awt)] getmyip: World) {
    let mut world = getmyip;
    deploy(
        &mut world,
        "getmyip",
        "getmyip-private",
        &[("Mode", "PRIVATE"), ("VpcCidr", "10.1.0.0/16")],
    )
    .await;
    let public = egress_ip(&world, "getmyip", "PUBLIC").await;
    let private = egress_ip(&world, "getmyip-private", "PRIVATE").await;
    assert_ne!(public, private, "PUBLIC and PRIVATE egress differ");
    let eip = nat_public_ip(&world, &output(&world, "getmyip-private", "NatGatewayId")).await;
    assert_eq!(private, eip);
}

async fn networking_world() -> World {
    let mut world = support::world().await;
    deploy(&mut world, "lambda-networking", "net", &[]).await;
    world
}

/// The function resolves the name: a later timeout is the network path, not DNS.
async fn assert_resolves(world: &World, function: &str, name: &str) {
    let resolved = invoke(world, function, json!({"probe": "resolve", "name": name})).await;
    assert_eq!(
        resolved["ok"], true,
        "{function} resolves {name}: {resolved}"
    );
}

/// The function resolves ifconfig.me but its request times out: the network path, not DNS,
/// keeps it from the internet.
async fn assert_no_internet(world: &World, function: &str, scheme: &str, what: &str) {
    assert_resolves(world, function, "ifconfig.me").await;
    let result = http_get(world, function, &format!("{scheme}://ifconfig.me/ip")).await;
    assert_timed_out(&result, what);
}

fn assert_timed_out(result: &Value, what: &str) {
    assert_eq!(result["ok"], false, "{what} must fail: {result}");
    assert_eq!(
        result["error_kind"], "timeout",
        "{what} must time out: {result}"
    );
}

fn assert_logged(world: &World, function: &str, needle: &str) {
    let log = world.function_log(function);
    assert!(log.contains("START RequestId"), "{function}'s log: {log}");
    assert!(
        log.contains(needle),
        "{function}'s log mentions {needle}: {log}"
    );
}

/// The control of the test above: once the gateway endpoint is deleted (DescribeVpcEndpoints
/// found it, DeleteVpcEndpoints removes it), the isolated subnet's route to DynamoDB goes with
/// it, and ListTables from the same function times out.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_gateway_endpoint_removed_leaves_no_path() {
    let world = networking_world().await;
    let function = output(&world, "net", "IsolatedProbe");
    let list_tables = json!({"probe": "dynamodb_list_tables", "timeout_ms": 3000});
    let before = invoke(&world, &function, list_tables.clone()).await;
    assert_eq!(before["ok"], true, "the endpoint works first: {before}");
    support::delete_the_endpoint_of(&world, "dynamodb").await;
    let after = invoke(&world, &function, list_tables).await;
    assert_timed_out(&after, "ListTables without the gateway endpoint");
}

/// A VPC function without NAT has no internet: the request times out (packets are dropped),
/// and its logs are still delivered.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn vpc_lambda_without_nat_has_no_internet() {
    let world = networking_world().await;
    let function = output(&world, "net", "IsolatedProbe");
    assert_no_internet(&world, &function, "https", "the internet without NAT").await;
    assert_logged(&world, &function, "ifconfig.me");
}

/// A public subnet does not help: a function's ENI has no public address.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn vpc_lambda_in_public_subnet_has_no_internet() {
    let world = networking_world().await;
    let function = output(&world, "net", "PublicProbe");
    assert_no_internet(
        &world,
        &function,
        "https",
        "the internet from a public subnet",
    )
    .await;
    assert_logged(&world, &function, "ifconfig.me");
    let explanation = world
        .fabric()
        .explain(&function, "ifconfig.me", 443)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let blocked = explanation.blocked_at.clone().unwrap_or_default();
    assert!(blocked.contains("no public address"), "{explanation}");
}

/// A NAT gateway gives a VPC function the internet, seen from its Elastic IP.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn vpc_lambda_with_nat_has_internet() {
    let world = networking_world().await;
    let function = output(&world, "net", "NatProbe");
    let result = http_get(&world, &function, "https://ifconfig.me/ip").await;
    assert_eq!(result["ok"], true, "{result}");
    let eip = nat_public_ip(&world, &output(&world, "net", "NatGatewayId")).await;
    assert_eq!(result["body"].as_str().map(str::trim), Some(eip.as_str()));
    assert_logged(&world, &function, "ifconfig.me");
}

/// The isolated subnet reaches DynamoDB through its gateway endpoint, with no NAT, while the
/// internet stays out of reach.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_gateway_endpoint_works_without_nat() {
    let world = networking_world().await;
    let function = output(&world, "net", "IsolatedProbe");
    let table = output(&world, "net", "TableName");
    let result = invoke(
        &world,
        &function,
        json!({"probe": "dynamodb_list_tables", "timeout_ms": 5000}),
    )
    .await;
    assert_eq!(
        result["ok"],
        true,
        "{result}\n{}",
        world.function_log(&function)
    );
    let tables: Vec<&str> = result["tables"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(tables.contains(&table.as_str()), "{table} listed: {result}");
    assert_no_internet(
        &world,
        &function,
        "https",
        "the internet from the endpoint-only subnet",
    )
    .await;
    assert_logged(&world, &function, "dynamodb");
}

/// Inside the VPC, SQS's public name resolves to the interface endpoint's ENI (private DNS),
/// and HTTPS to it works from the isolated subnet, which has no NAT: the endpoint's service
/// answers. The endpoint's own DNS name resolves to the same address.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn interface_endpoint_private_dns_reaches_the_service_without_nat() {
    let world = networking_world().await;
    let function = output(&world, "net", "IsolatedProbe");
    let eni = output(&world, "net", "SqsEndpointInterface");
    let ec2 = aws_sdk_ec2::Client::new(world.sdk_config());
    let described = ec2
        .describe_network_interfaces()
        .network_interface_ids(&eni)
        .send()
        .await
        .expect("DescribeNetworkInterfaces");
    let eni_address = described.network_interfaces()[0]
        .private_ip_address()
        .expect("the endpoint ENI has an address")
        .to_owned();
    for name in [
        format!("sqs.{}.amazonaws.com", world.region()),
        output(&world, "net", "SqsEndpointDnsName"),
    ] {
        let resolved = invoke(&world, &function, json!({"probe": "resolve", "name": name})).await;
        assert_eq!(
            resolved["addresses"],
            json!([eni_address]),
            "{name}: {resolved}"
        );
    }
    // SQS's own answer, not just any HTTP status: the Query API's ListQueues.
    let reached = http_get(
        &world,
        &function,
        &format!(
            "https://sqs.{}.amazonaws.com/?Action=ListQueues&Version=2012-11-05",
            world.region()
        ),
    )
    .await;
    assert_eq!(reached["ok"], true, "HTTPS through the endpoint: {reached}");
    assert_eq!(reached["status"], 200, "SQS answered: {reached}");
    assert!(
        reached["body"]
            .as_str()
            .is_some_and(|b| b.contains("ListQueuesResponse")),
        "the answer is SQS's ListQueues response: {reached}"
    );
}

/// A TCP service whose group admits only the client group, on a host in the isolated subnet.
async fn service_host(world: &World) -> vpclab_harness::Host {
    let subnet = output(world, "net", "IsolatedSubnet");
    let group = output(world, "net", "ServiceSecurityGroup");
    let port: u16 = output(world, "net", "ServicePort").parse().expect("port");
    let host = world
        .fabric()
        .add_host(&subnet, &[group], "test instance: TCP service")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    world
        .fabric()
        .serve_greeting(&host, port, "hello from the service\n")
        .unwrap_or_else(|e| panic!("{e}"));
    host
}

async fn connect(world: &World, function: &str, host: &vpclab_harness::Host) -> Value {
    let port = output(world, "net", "ServicePort");
    invoke(
        world,
        function,
        json!({"probe": "tcp_connect", "address": format!("{}:{port}", host.address), "timeout_ms": PROBE_TIMEOUT_MS}),
    )
    .await
}

/// A function whose group the service's inbound rules reference gets the greeting.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn security_group_allows_referenced_group() {
    let world = networking_world().await;
    let host = service_host(&world).await;
    let function = output(&world, "net", "IsolatedProbe");
    let result = connect(&world, &function, &host).await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["greeting"], "hello from the service\n");
}

/// A function in a group the rules do not list, in the same subnet as an admitted one, is
/// dropped: its connection times out while the admitted function's succeeds.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn security_group_blocks_unlisted_source() {
    let world = networking_world().await;
    let host = service_host(&world).await;
    let admitted = connect(&world, &output(&world, "net", "IsolatedProbe"), &host).await;
    assert_eq!(admitted["ok"], true, "the service listens: {admitted}");
    let function = output(&world, "net", "OutsiderProbe");
    let result = connect(&world, &function, &host).await;
    assert_timed_out(&result, "a source the security group does not list");
}

/// The control of the test above: the same outsider connects once an inbound rule of the
/// service's group lists the outsider's group (as Lambda reports the function's groups).
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn security_group_admits_the_outsider_once_a_rule_lists_it() {
    let world = networking_world().await;
    let host = service_host(&world).await;
    let function = output(&world, "net", "OutsiderProbe");
    assert_timed_out(&connect(&world, &function, &host).await, "before the rule");
    let configuration = aws_sdk_lambda::Client::new(world.sdk_config())
        .get_function_configuration()
        .function_name(&function)
        .send()
        .await
        .expect("GetFunctionConfiguration");
    let outsider_group = configuration
        .vpc_config()
        .and_then(|v| v.security_group_ids().first().cloned())
        .expect("the outsider runs in a security group");
    let port: i32 = output(&world, "net", "ServicePort").parse().expect("port");
    let rule = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .user_id_group_pairs(
            aws_sdk_ec2::types::UserIdGroupPair::builder()
                .group_id(&outsider_group)
                .build(),
        )
        .build();
    aws_sdk_ec2::Client::new(world.sdk_config())
        .authorize_security_group_ingress()
        .group_id(output(&world, "net", "ServiceSecurityGroup"))
        .ip_permissions(rule)
        .send()
        .await
        .expect("AuthorizeSecurityGroupIngress");
    world
        .fabric()
        .sync()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let admitted = connect(&world, &function, &host).await;
    assert_eq!(admitted["ok"], true, "admitted by the new rule: {admitted}");
}

/// A reachable path is explained hop by hop, and agrees with the packets: the function behind
/// the NAT gets ifconfig.me's answer, and the explanation names its route table (as EC2
/// describes the subnet's association) and the NAT gateway the route leads to.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn explain_reachable_path_through_nat() {
    let world = networking_world().await;
    let function = output(&world, "net", "NatProbe");
    let result = http_get(&world, &function, "https://ifconfig.me/ip").await;
    assert_eq!(result["ok"], true, "the packets get through: {result}");
    let explanation = world
        .fabric()
        .explain(&function, "ifconfig.me", 443)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(explanation.reachable, "{explanation}");
    let subnet = output(&world, "net", "NatSubnet");
    let by_subnet = aws_sdk_ec2::types::Filter::builder()
        .name("association.subnet-id")
        .values(&subnet)
        .build();
    let tables = aws_sdk_ec2::Client::new(world.sdk_config())
        .describe_route_tables()
        .filters(by_subnet)
        .send()
        .await
        .expect("DescribeRouteTables");
    let table = tables.route_tables()[0]
        .route_table_id()
        .expect("a route table id");
    let nat = output(&world, "net", "NatGatewayId");
    let text = explanation.to_string();
    assert!(
        text.contains(&format!("route table {table} of subnet {subnet}")),
        "{text}"
    );
    assert!(text.contains(&format!("NAT gateway {nat}")), "{text}");
    assert!(text.ends_with("REACHABLE"), "{text}");
}

/// No NAT: the explanation names the route table that has no route to the internet.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn explain_blocked_path_without_nat() {
    let world = networking_world().await;
    let function = output(&world, "net", "IsolatedProbe");
    assert_no_internet(&world, &function, "https", "the internet without NAT").await;
    let explanation = world
        .fabric()
        .explain(&function, "ifconfig.me", 443)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!explanation.reachable, "{explanation}");
    let blocked = explanation.blocked_at.clone().unwrap_or_default();
    let subnet = output(&world, "net", "IsolatedSubnet");
    assert!(blocked.starts_with("route table rtb-"), "{explanation}");
    assert!(blocked.contains(&subnet), "{explanation}");
    assert!(blocked.contains("has no route to"), "{explanation}");
    let nat = world
        .fabric()
        .explain(&output(&world, "net", "NatProbe"), "ifconfig.me", 443)
        .await;
    // The NAT probe has not run yet: the fabric says so instead of guessing.
    assert!(nat.is_err());
}

/// A security group drop: the explanation names the group and the missing inbound rule.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn explain_blocked_path_security_group() {
    let world = networking_world().await;
    let host = service_host(&world).await;
    let function = output(&world, "net", "OutsiderProbe");
    let result = connect(&world, &function, &host).await;
    assert_timed_out(&result, "a source the security group does not list");
    let port: u16 = output(&world, "net", "ServicePort").parse().expect("port");
    let explanation = world
        .fabric()
        .explain(&function, &host.address.to_string(), port)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let blocked = explanation.blocked_at.clone().unwrap_or_default();
    let group = output(&world, "net", "ServiceSecurityGroup");
    assert!(blocked.contains(&group), "{explanation}");
    assert!(blocked.contains("no inbound rule"), "{explanation}");
    let allowed = world
        .fabric()
        .explain(
            &output(&world, "net", "IsolatedProbe"),
            &host.address.to_string(),
            port,
        )
        .await;
    assert!(allowed.is_err(), "IsolatedProbe has not run in this world");
}

/// The processes running in these namespaces.
fn processes_in(namespaces: &[String]) -> Vec<u32> {
    namespaces
        .iter()
        .flat_map(|ns| {
            let output = std::process::Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .expect("ip netns pids");
            String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// A world that panics leaves no namespace, no `/etc/netns` folder, no process and no ENI it
/// created behind.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn fabric_teardown_leaves_nothing_after_a_panic() {
    // Keeps the emulator up after the panicking world is gone, to ask EC2 about its ENIs.
    let observer = support::world().await;
    let doomed = tokio::spawn(async {
        let mut world = support::world().await;
        deploy(&mut world, "getmyip", "getmyip", &[("Mode", "PRIVATE")]).await;
        let _ = egress_ip(&world, "getmyip", "PRIVATE").await;
        let prefix = world.fabric().prefix().to_owned();
        let namespaces = vpclab_harness::fabric::leftover_namespaces(&prefix);
        assert!(
            namespaces.len() >= 4,
            "the fabric made namespaces: {namespaces:?}"
        );
        let processes = processes_in(&namespaces);
        assert!(!processes.is_empty(), "the function runs in a namespace");
        let enis: Vec<String> = world
            .fabric()
            .hosts()
            .await
            .into_iter()
            .filter(|h| h.role.starts_with("AWS Lambda VPC ENI"))
            .map(|h| h.eni_id)
            .collect();
        assert!(!enis.is_empty(), "the function has an ENI");
        let config = world.sdk_config().clone();
        std::panic::panic_any((prefix, namespaces, processes, enis, config));
    });
    let payload = doomed.await.expect_err("the task panicked").into_panic();
    let (prefix, namespaces, processes, enis, config) = *payload
        .downcast::<(
            String,
            Vec<String>,
            Vec<u32>,
            Vec<String>,
            aws_config::SdkConfig,
        )>()
        .expect("the panic carries the fabric's details");
    for pid in processes {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} of the fabric was killed"
        );
    }
    let ec2 = aws_sdk_ec2::Client::new(&config);
    for eni in enis {
        // By filter: a deleted ENI is an empty list, and any error fails the test.
        let by_id = aws_sdk_ec2::types::Filter::builder()
            .name("network-interface-id")
            .values(&eni)
            .build();
        let listed = ec2
            .describe_network_interfaces()
            .filters(by_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeNetworkInterfaces {eni}: {e:?}"))
            .network_interfaces()
            .len();
        assert_eq!(listed, 0, "the function's ENI {eni} was deleted");
    }
    assert_eq!(
        vpclab_harness::fabric::leftover_namespaces(&prefix),
        Vec::<String>::new()
    );
    for name in namespaces {
        let etc = std::path::Path::new("/etc/netns").join(&name);
        assert!(!etc.exists(), "{} removed", etc.display());
    }
    drop(observer);
}

/// A NAT gateway and route that a later stack adds to a VPC already realised take effect:
/// the function that had no internet now reaches it from the new Elastic IP.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn a_nat_gateway_from_a_later_stack_gives_internet() {
    let mut world = support::world().await;
    if let Err(e) = world
        .deploy_template("late-net", support::fixture("late-nat-network.yaml"), &[])
        .await
    {
        panic!("{e}\n{}", world.diagnose());
    }
    let function = output(&world, "late-net", "Probe");
    assert_no_internet(
        &world,
        &function,
        "http",
        "the internet before the NAT gateway exists",
    )
    .await;
    let subnet = output(&world, "late-net", "PublicSubnet");
    let table = output(&world, "late-net", "PrivateRouteTable");
    if let Err(e) = world
        .deploy_template(
            "late-nat",
            support::fixture("late-nat-gateway.yaml"),
            &[("PublicSubnet", &subnet), ("PrivateRouteTable", &table)],
        )
        .await
    {
        panic!("{e}\n{}", world.diagnose());
    }
    let after = http_get(&world, &function, "http://ifconfig.me/ip").await;
    assert_eq!(after["ok"], true, "{after}");
    let eip = nat_public_ip(&world, &output(&world, "late-nat", "NatGatewayId")).await;
    assert_eq!(after["body"].as_str().map(str::trim), Some(eip.as_str()));
}
