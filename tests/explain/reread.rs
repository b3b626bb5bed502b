//! The topology the fabric and `explain` work from, after later stacks: a deploy reads again
//! only the VPCs it made or named, and what it keeps must be what EC2 describes. Each stack's
//! topology is compared with one read whole from EC2.

use vpclab_harness::{World, fabric::model::Topology};

use crate::support;

/// Every resource of `topology`, one line each, in a stable order.
fn lines(topology: &Topology) -> Vec<String> {
    fn each<T: std::fmt::Debug>(kind: &str, items: &[T], out: &mut Vec<String>) {
        out.extend(items.iter().map(|item| format!("{kind} {item:?}")));
    }
    let mut out = Vec::new();
    each("vpc", &topology.vpcs, &mut out);
    each("subnet", &topology.subnets, &mut out);
    each("route table", &topology.route_tables, &mut out);
    each("internet gateway", &topology.internet_gateways, &mut out);
    each("nat gateway", &topology.nat_gateways, &mut out);
    each("security group", &topology.security_groups, &mut out);
    each("endpoint", &topology.endpoints, &mut out);
    each("peering", &topology.peerings, &mut out);
    each("interface", &topology.interfaces, &mut out);
    each("instance", &topology.instances, &mut out);
    each("hosted zone", &topology.hosted_zones, &mut out);
    out.sort();
    out
}

/// The fabric's topology equals the account's as EC2 describes it now, read whole.
async fn assert_as_described(world: &World, after: &str) {
    let ec2 = aws_sdk_ec2::Client::new(world.sdk_config());
    let route53 = aws_sdk_route53::Client::new(world.sdk_config());
    let region = world.sdk_config().region().expect("a region").to_string();
    let described = Topology::read_regions(&[(region, ec2)], &route53)
        .await
        .unwrap_or_else(|e| panic!("reading the topology whole: {e}"));
    let (kept, described) = (lines(&world.fabric().topology().await), lines(&described));
    let missing: Vec<_> = described.iter().filter(|l| !kept.contains(l)).collect();
    let stale: Vec<_> = kept.iter().filter(|l| !described.contains(l)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "after {after}, the fabric's topology is not EC2's:\nmissing {missing:#?}\nstale {stale:#?}"
    );
}

/// Stack 2 changes stack 1's VPC through ids passed as parameters (a subnet, an association
/// and a route on its table, a rule on its group) and peers it with a VPC of its own; stack 3
/// names nothing of them. After each, the fabric's topology is EC2's, whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_later_stack_is_read_again_where_it_touched_the_topology() {
    let mut world = support::world().await;
    let deploy = async |world: &mut World, stack: &str, file: &str, parameters: &[(&str, &str)]| {
        if let Err(e) = world
            .deploy_template(stack, support::fixture(file), parameters)
            .await
        {
            panic!("deploying {stack}: {e}\n{}", world.diagnose());
        }
    };
    deploy(&mut world, "base", "touched-base.yaml", &[]).await;
    assert_as_described(&world, "the first stack").await;
    let out = |name: &str| world.outputs()["base"][name].clone();
    let (vpc, table, group) = (out("Vpc"), out("Table"), out("Group"));
    let parameters = [("Vpc", vpc.as_str()), ("Table", &table), ("Group", &group)];
    deploy(&mut world, "later", "touched-later.yaml", &parameters).await;
    assert_as_described(&world, "a stack that changed the first's VPC").await;
    let topology = world.fabric().topology().await;
    let routes = &topology
        .route_tables
        .iter()
        .find(|t| t.id == table)
        .expect("the table")
        .routes;
    assert!(
        routes
            .iter()
            .any(|r| r.destination.to_string() == "10.51.0.0/16"),
        "the route stack 2 added to stack 1's table is read: {routes:?}"
    );
    deploy(&mut world, "elsewhere", "touched-elsewhere.yaml", &[]).await;
    assert_as_described(&world, "a stack of its own").await;
}
