//! Seed 001: API Gateway invokes a Lambda in a VPC that has no internet path; the function
//! reads a real PostgreSQL server (the RDS instance) over its ENI, admitted by the database's
//! security group; the PRIVATE variant answers only through its execute-api endpoint.
//!
//! What the tests compare with: the rows `psql` reads from the database itself (with the
//! master credentials Secrets Manager holds), the security group EC2 describes, the processes
//! and files of the machine.

use std::time::Duration;

use rstest::{fixture, rstest};
use serde_json::{Value, json};
use vpclab_harness::{HostKind, StackRequest, World};

use crate::support::{self, curl, output};

const STACK: &str = "api-vpc-rds";

/// A world with seed 001 deployed in `mode`.
#[fixture]
async fn api_vpc_rds(#[default("PUBLIC")] mode: &str) -> World {
    let mut world = support::world().await;
    support::deploy(&mut world, STACK, STACK, &[("Mode", mode)]).await;
    world
}

/// The database's host in the fabric (its ENI namespace).
async fn database_host(world: &World) -> vpclab_harness::Host {
    let id = output(world, STACK, "DatabaseId");
    world
        .fabric()
        .hosts()
        .await
        .into_iter()
        .find(|h| matches!(&h.kind, HostKind::Database { id: i, .. } if *i == id))
        .unwrap_or_else(|| panic!("DB instance {id} is no host of the fabric"))
}

/// The master credentials, as Secrets Manager holds them.
async fn credentials(world: &World) -> (String, String) {
    let secrets = aws_sdk_secretsmanager::Client::new(world.sdk_config());
    let listed = secrets.list_secrets().send().await.expect("ListSecrets");
    let arn = listed.secret_list()[0].arn().expect("an ARN").to_owned();
    let value = secrets
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .expect("GetSecretValue");
    let parsed: Value = serde_json::from_str(value.secret_string().unwrap_or_default())
        .expect("the secret is JSON");
    (
        parsed["username"].as_str().unwrap_or_default().to_owned(),
        parsed["password"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `psql -At -c sql` run on `host` against the database, over TLS verified with the fabric's
/// CA; the command's output.
async fn psql(world: &World, host: &str, sql: &str, timeout_s: u32) -> std::process::Output {
    let (user, password) = credentials(world).await;
    let connection = format!(
        "host={} port={} dbname=shop user={user} sslmode=verify-full sslrootcert={} \
         connect_timeout={timeout_s}",
        output(world, STACK, "DatabaseAddress"),
        output(world, STACK, "DatabasePort"),
        world.fabric().ca_bundle().display()
    );
    let password = format!("PGPASSWORD={password}");
    world
        .exec(
            host,
            &["env", &password, "psql", &connection, "-At", "-c", sql],
        )
        .await
        .unwrap_or_else(|e| panic!("psql on {host} (apt-get install postgresql-client): {e}"))
}

fn products(answer: &support::Answer) -> Vec<Value> {
    let parsed: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("GET /products answers JSON ({e}): {answer:?}"));
    parsed.as_array().cloned().unwrap_or_default()
}

/// The rows as the database itself holds them (`id|name|price_cents`).
async fn rows_in_the_database(world: &World) -> Vec<Value> {
    let host = database_host(world).await.netns;
    let sql = "SELECT id, name, price_cents FROM products ORDER BY id";
    let output = psql(world, &host, sql, 5).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('|').collect();
            json!({
                "id": fields[0].parse::<i64>().unwrap_or_default(),
                "name": fields[1],
                "price_cents": fields[2].parse::<i64>().unwrap_or_default(),
            })
        })
        .collect()
}

/// From the internet, GET /products answers the rows the database holds, though the VPC has
/// no internet gateway and no NAT gateway (as EC2 describes it).
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn public_api_reaches_vpc_lambda_and_rds(#[future] api_vpc_rds: World) {
    let world = api_vpc_rds.await;
    let url = output(&world, STACK, "ApiUrl");

    let answer = curl(&world, vpclab_harness::INTERNET_HOST, &url, &[])
        .await
        .answer();

    assert_eq!(answer.status, 200, "{answer:?}\n{}", world.diagnose());
    let served = products(&answer);
    assert_eq!(served.len(), 3, "the seeded rows: {served:?}");
    assert_eq!(served, rows_in_the_database(&world).await);
    let ec2 = aws_sdk_ec2::Client::new(world.sdk_config());
    let vpc = output(&world, STACK, "VpcId");
    let vpc_filter = |name: &str| {
        aws_sdk_ec2::types::Filter::builder()
            .name(name)
            .values(&vpc)
            .build()
    };
    let gateways = ec2
        .describe_internet_gateways()
        .filters(vpc_filter("attachment.vpc-id"))
        .send()
        .await
        .expect("DescribeInternetGateways");
    let nats = ec2
        .describe_nat_gateways()
        .filter(vpc_filter("vpc-id"))
        .send()
        .await
        .expect("DescribeNatGateways");
    assert!(
        gateways.internet_gateways().is_empty(),
        "no internet gateway"
    );
    assert!(nats.nat_gateways().is_empty(), "no NAT gateway");
}

/// A function of another group in the same subnet: its connection to the database times out
/// (bounded by the probe), and `explain` names the database's security group.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn rds_refuses_a_lambda_outside_its_allowed_group(#[future] api_vpc_rds: World) {
    let mut world = api_vpc_rds.await;
    let request = StackRequest {
        name: "outsider".into(),
        template: support::fixture("outsider-probe.yaml"),
        parameters: [
            ("VpcId".to_owned(), output(&world, STACK, "VpcId")),
            (
                "SubnetId".to_owned(),
                output(&world, STACK, "PrivateSubnetId"),
            ),
        ]
        .into(),
        region: None,
    };
    if let Err(e) = world.deploy(request).await {
        panic!("deploying the outsider: {e}\n{}", world.diagnose());
    }
    let function = output(&world, "outsider", "FunctionName");
    let address = format!(
        "{}:{}",
        output(&world, STACK, "DatabaseAddress"),
        output(&world, STACK, "DatabasePort")
    );

    let probe = json!({"probe": "tcp_connect", "address": address, "timeout_ms": 2000});
    let result = support::invoke(&world, &function, probe).await;

    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["error_kind"], "timeout", "{result}");
    let explanation = world
        .fabric()
        .explain(&function, &output(&world, STACK, "DatabaseAddress"), 5432)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let group = output(&world, STACK, "DatabaseSecurityGroupId");
    let blocked = explanation.blocked_at.clone().unwrap_or_default();
    assert!(
        blocked.contains(&group) && blocked.contains("no inbound rule allowing TCP 5432"),
        "{explanation}"
    );
}

/// From the internet the database's name resolves (as RDS's names do) to its private address,
/// which leads nowhere: psql gets no connection at all.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn rds_is_not_reachable_from_the_internet(#[future] api_vpc_rds: World) {
    let world = api_vpc_rds.await;

    let attempt = psql(&world, vpclab_harness::INTERNET_HOST, "SELECT 1", 3).await;

    assert!(
        !attempt.status.success(),
        "the internet reached the database"
    );
    let error = String::from_utf8_lossy(&attempt.stderr);
    let address = database_host(&world).await.address.to_string();
    assert!(
        error.contains(&format!("({address})")),
        "the name resolves to the instance's private address: {error}"
    );
    assert!(
        error.contains("Network is unreachable") || error.contains("timeout expired"),
        "no connection, not even a refusal: {error}"
    );
}

/// PRIVATE: from the internet the API answers 403 Forbidden, and the function never runs.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_variant_denies_non_endpoint_calls(
    #[future]
    #[with("PRIVATE")]
    api_vpc_rds: World,
) {
    let world = api_vpc_rds.await;
    let url = output(&world, STACK, "ApiUrl");

    let answer = curl(&world, vpclab_harness::INTERNET_HOST, &url, &[])
        .await
        .answer();

    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(answer.body, r#"{"message":"Forbidden"}"#);
    let function = output(&world, STACK, "FunctionName");
    assert!(
        !world.function_log(&function).contains("START"),
        "the function never ran: {}",
        world.function_log(&function)
    );
}

/// PRIVATE: from the test instance, through the execute-api endpoint, the rows come back.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn private_variant_allows_calls_through_the_endpoint(
    #[future]
    #[with("PRIVATE")]
    api_vpc_rds: World,
) {
    let world = api_vpc_rds.await;
    let url = output(&world, STACK, "ApiUrl");
    let instance = output(&world, STACK, "TestInstanceId");

    let answer = curl(&world, &instance, &url, &[]).await.answer();

    assert_eq!(answer.status, 200, "{answer:?}\n{}", world.diagnose());
    assert_eq!(products(&answer), rows_in_the_database(&world).await);
}

/// After the world, no postgres process serves its data directory and the directory is gone.
#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn rds_teardown_leaves_no_server(#[future] api_vpc_rds: World) {
    let world = api_vpc_rds.await;
    let data_dir = format!("rds-{}", output(&world, STACK, "DatabaseId"));
    let servers = || support::processes_matching(&format!("{data_dir}/pgdata"));
    let running = servers();
    assert!(!running.is_empty(), "a postgres server runs for {data_dir}");
    let folder = world.fabric().ca_bundle().with_file_name(&data_dir);
    assert!(
        folder.exists(),
        "{} exists while the world does",
        folder.display()
    );

    world.shutdown().await.unwrap_or_else(|e| panic!("{e}"));

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !servers().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(servers(), Vec::<u32>::new(), "no postgres process is left");
    assert!(!folder.exists(), "{} is gone", folder.display());
}

/// Without PostgreSQL's server programs, `vpclab up api-vpc-rds` fails before creating
/// anything, naming the install script.
#[test]
fn rds_without_postgresql_says_how_to_install_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(["up", "api-vpc-rds"])
        .env("VPCLAB_POSTGRES_BIN", "/nonexistent/postgresql/bin")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("vpclab runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "vpclab up fails:\n{stderr}");
    for named in [
        "Database",
        "bash ci/install-system-deps.sh",
        "nothing was created",
    ] {
        assert!(stderr.contains(named), "names {named:?}:\n{stderr}");
    }
}
