//! `explain` against packets (issue 12): over generated topologies, the verdict `explain` gives
//! for each probed path must be what a real TCP connection through the fabric gets. Explain is a
//! model of its own beside the kernel's routes and nftables rules; this is what keeps the two
//! in step.
//!
//! Each topology is a VPC with two subnets, A and B, drawn from a seeded generator: an internet
//! gateway or not, a NAT gateway in B or not, a route table for each subnet (the main one, an
//! empty one, a default route to the internet gateway, or, for A, to the NAT gateway), a
//! DynamoDB gateway endpoint on A's table or not, B's inbound rule (none, port 8080 from A's
//! subnet, from A's group, or another port) and A's outbound rules (all, none, or only port
//! 8080 to B). The topologies are deployed as CloudFormation templates by vpclab's engine,
//! twenty VPCs a template. A test host goes in each subnet, B's serves port 8080, and from A three
//! paths are probed: B on 8080, ifconfig.me on 80 (the internet), DynamoDB on 443.

use std::{fmt::Write as _, net::SocketAddr, time::Duration};

use vpclab_harness::{Host, HostRequest, World, fabric::addressing};

use crate::support;

mod reread;

/// Topologies, and how many go in one template.
const TOPOLOGIES: usize = 200;
const PER_TEMPLATE: usize = 20;
/// The generator's seed: the same topologies on every run.
const SEED: u64 = 0x5eed_0000_0012;
/// How long a connection may take before it counts as blocked (the fabric adds well under a
/// millisecond; a dropped SYN never answers).
const CONNECT_LIMIT: Duration = Duration::from_millis(1500);
const SERVICE_PORT: u16 = 8080;

/// xorshift64*: small, seeded, the same sequence everywhere.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[(self.next() % choices.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Route {
    Main,
    Empty,
    InternetGateway,
    NatGateway,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Inbound {
    None,
    FromSubnetA,
    FromGroupA,
    OtherPort,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outbound {
    All,
    None,
    OnlyToB,
}

/// One generated topology.
#[derive(Debug, Clone)]
struct Topology {
    index: usize,
    internet_gateway: bool,
    nat_gateway: bool,
    route_a: Route,
    route_b: Route,
    dynamodb_endpoint: bool,
    inbound_b: Inbound,
    outbound_a: Outbound,
}

impl Topology {
    fn generate(index: usize, rng: &mut Generator) -> Self {
        let internet_gateway = rng.chance(70);
        // A NAT gateway needs an internet gateway to be created (its Elastic IP does).
        let nat_gateway = internet_gateway && rng.chance(60);
        let mut routes_a = vec![Route::Main, Route::Empty];
        let mut routes_b = vec![Route::Main, Route::Empty];
        if internet_gateway {
            routes_a.push(Route::InternetGateway);
            routes_b.extend([Route::InternetGateway, Route::InternetGateway]);
        }
        if nat_gateway {
            routes_a.extend([Route::NatGateway, Route::NatGateway]);
        }
        let route_a = rng.pick(&routes_a);
        Self {
            index,
            internet_gateway,
            nat_gateway,
            route_a,
            route_b: rng.pick(&routes_b),
            dynamodb_endpoint: route_a != Route::Main && rng.chance(40),
            inbound_b: rng.pick(&[
                Inbound::None,
                Inbound::FromSubnetA,
                Inbound::FromGroupA,
                Inbound::OtherPort,
            ]),
            outbound_a: rng.pick(&[
                Outbound::All,
                Outbound::All,
                Outbound::None,
                Outbound::OnlyToB,
            ]),
        }
    }

    fn cidr(&self, subnet: u8) -> String {
        format!("10.{}.{subnet}.0/24", self.index)
    }

    /// Its resources, as CloudFormation YAML (`T<index>...` logical ids).
    fn resources(&self) -> String {
        let t = format!("T{}", self.index);
        let mut yaml = format!(
            "  {t}Vpc:\n    Type: AWS::EC2::VPC\n    Properties: {{CidrBlock: 10.{}.0.0/16}}\n",
            self.index
        );
        for (name, subnet) in [("A", 1), ("B", 2)] {
            let _ = write!(
                yaml,
                "  {t}Subnet{name}:\n    Type: AWS::EC2::Subnet\n    Properties: {{VpcId: !Ref {t}Vpc, \
                 CidrBlock: {}, AvailabilityZone: !Select [0, !GetAZs '']}}\n",
                self.cidr(subnet)
            );
        }
        if self.internet_gateway {
            let _ = write!(
                yaml,
                "  {t}Igw:\n    Type: AWS::EC2::InternetGateway\n\
                 \x20 {t}IgwAttachment:\n    Type: AWS::EC2::VPCGatewayAttachment\n    Properties: {{VpcId: !Ref {t}Vpc, InternetGatewayId: !Ref {t}Igw}}\n"
            );
        }
        if self.nat_gateway {
            let _ = write!(
                yaml,
                "  {t}Eip:\n    Type: AWS::EC2::EIP\n    DependsOn: {t}IgwAttachment\n    Properties: {{Domain: vpc}}\n\
                 \x20 {t}Nat:\n    Type: AWS::EC2::NatGateway\n    Properties: {{SubnetId: !Ref {t}SubnetB, AllocationId: !GetAtt {t}Eip.AllocationId}}\n"
            );
        }
        for (name, route) in [("A", self.route_a), ("B", self.route_b)] {
            yaml.push_str(&self.route_table(&t, name, route));
        }
        if self.dynamodb_endpoint {
            let _ = write!(
                yaml,
                "  {t}DynamoDb:\n    Type: AWS::EC2::VPCEndpoint\n    Properties: {{VpcId: !Ref {t}Vpc, \
                 VpcEndpointType: Gateway, ServiceName: !Sub 'com.amazonaws.${{AWS::Region}}.dynamodb', \
                 RouteTableIds: [!Ref {t}TableA]}}\n"
            );
        }
        yaml.push_str(&self.groups(&t));
        yaml
    }

    fn route_table(&self, t: &str, subnet: &str, route: Route) -> String {
        if route == Route::Main {
            return String::new();
        }
        let mut yaml = format!(
            "  {t}Table{subnet}:\n    Type: AWS::EC2::RouteTable\n    Properties: {{VpcId: !Ref {t}Vpc}}\n\
             \x20 {t}Association{subnet}:\n    Type: AWS::EC2::SubnetRouteTableAssociation\n    \
             Properties: {{SubnetId: !Ref {t}Subnet{subnet}, RouteTableId: !Ref {t}Table{subnet}}}\n"
        );
        let target = match route {
            Route::InternetGateway => format!("GatewayId: !Ref {t}Igw"),
            Route::NatGateway => format!("NatGatewayId: !Ref {t}Nat"),
            Route::Main | Route::Empty => return yaml,
        };
        let depends = if route == Route::InternetGateway {
            format!("\n    DependsOn: {t}IgwAttachment")
        } else {
            String::new()
        };
        let _ = write!(
            yaml,
            "  {t}Default{subnet}:\n    Type: AWS::EC2::Route{depends}\n    Properties: {{RouteTableId: \
             !Ref {t}Table{subnet}, DestinationCidrBlock: 0.0.0.0/0, {target}}}\n"
        );
        yaml
    }

    fn groups(&self, t: &str) -> String {
        let egress_a = match self.outbound_a {
            Outbound::All => String::new(),
            // CloudFormation's way to leave a group no outbound rule: one that matches nothing.
            Outbound::None => {
                "\n      SecurityGroupEgress: [{IpProtocol: '-1', CidrIp: 127.0.0.1/32}]".into()
            }
            Outbound::OnlyToB => format!(
                "\n      SecurityGroupEgress: [{{IpProtocol: tcp, FromPort: {SERVICE_PORT}, ToPort: {SERVICE_PORT}, CidrIp: {}}}]",
                self.cidr(2)
            ),
        };
        let mut yaml = format!(
            "  {t}GroupA:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: host A\n      \
             VpcId: !Ref {t}Vpc{egress_a}\n\
             \x20 {t}GroupB:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: host B\n      \
             VpcId: !Ref {t}Vpc\n"
        );
        let rule = match self.inbound_b {
            Inbound::None => return yaml,
            Inbound::FromSubnetA => format!(
                "FromPort: {SERVICE_PORT}, ToPort: {SERVICE_PORT}, CidrIp: {}",
                self.cidr(1)
            ),
            Inbound::FromGroupA => format!(
                "FromPort: {SERVICE_PORT}, ToPort: {SERVICE_PORT}, SourceSecurityGroupId: !Ref {t}GroupA"
            ),
            Inbound::OtherPort => format!("FromPort: 9090, ToPort: 9090, CidrIp: {}", self.cidr(1)),
        };
        let _ = write!(
            yaml,
            "  {t}InboundB:\n    Type: AWS::EC2::SecurityGroupIngress\n    Properties: {{GroupId: !Ref {t}GroupB, \
             IpProtocol: tcp, {rule}}}\n"
        );
        yaml
    }

    fn outputs(&self) -> String {
        let t = format!("T{}", self.index);
        ["SubnetA", "SubnetB", "GroupA", "GroupB"]
            .iter()
            .map(|name| format!("  {t}{name}:\n    Value: !Ref {t}{name}\n"))
            .collect()
    }
}

/// A template holding `topologies`.
fn template(topologies: &[Topology]) -> String {
    let mut yaml = String::from(
        "AWSTemplateFormatVersion: '2010-09-09'\nDescription: generated topologies (explain against packets)\nResources:\n",
    );
    for topology in topologies {
        yaml.push_str(&topology.resources());
    }
    yaml.push_str("Outputs:\n");
    for topology in topologies {
        yaml.push_str(&topology.outputs());
    }
    yaml
}

/// One probed path and what both sides said of it.
#[derive(Debug)]
struct Probe {
    what: &'static str,
    explained: bool,
    connected: bool,
    explanation: String,
}

/// The hosts of each deployed topology of `group`, placed in one step: A probes, B serves.
async fn hosts(world: &World, stack: &str, group: &[Topology]) -> Vec<(Host, Host)> {
    let out = |index: usize, name: &str| world.outputs()[stack][&format!("T{index}{name}")].clone();
    let requests: Vec<HostRequest> = group
        .iter()
        .flat_map(|t| {
            ["A", "B"].map(|side| {
                HostRequest::new(
                    out(t.index, &format!("Subnet{side}")),
                    &[out(t.index, &format!("Group{side}"))],
                    format!("generated host {side}"),
                )
            })
        })
        .collect();
    let fabric = world.fabric();
    let placed = fabric
        .add_hosts(&requests)
        .await
        .unwrap_or_else(|e| panic!("the hosts of {stack}: {e}"));
    let mut placed = placed.into_iter();
    let mut pairs = Vec::new();
    while let (Some(a), Some(b)) = (placed.next(), placed.next()) {
        fabric
            .serve_greeting(&b, SERVICE_PORT, "hello from B")
            .unwrap_or_else(|e| panic!("{e}"));
        pairs.push((a, b));
    }
    pairs
}

/// The three paths from A: explain's verdict and a real connection's.
async fn probes(world: &World, a: &Host, b: &Host) -> Vec<Probe> {
    let targets = [
        ("B on 8080", SocketAddr::from((b.address, SERVICE_PORT))),
        (
            "ifconfig.me on 80",
            SocketAddr::from((addressing::IFCONFIG_ME, 80)),
        ),
        (
            "DynamoDB on 443",
            SocketAddr::from((addressing::DYNAMODB, 443)),
        ),
    ];
    futures_util::future::join_all(targets.into_iter().map(|(what, target)| async move {
        let fabric = world.fabric();
        let explanation = fabric
            .explain_from(a, &target.ip().to_string(), target.port())
            .await
            .unwrap_or_else(|e| panic!("explain {what}: {e}"));
        let connected = matches!(
            tokio::time::timeout(CONNECT_LIMIT, fabric.connect_from(a, target)).await,
            Ok(Ok(_))
        );
        Probe {
            what,
            explained: explanation.reachable,
            connected,
            explanation: explanation.to_string(),
        }
    }))
    .await
}

/// Deploys one template of `group` as stack `stack`, puts the hosts in, and probes.
async fn deploy_and_probe(
    world: &mut World,
    stack: &str,
    path: &std::path::Path,
    group: &[Topology],
) -> Vec<(Topology, Probe)> {
    let started = std::time::Instant::now();
    std::fs::write(path, template(group)).expect("write the template");
    if let Err(e) = world.deploy_template(stack, path, &[]).await {
        panic!("deploying {stack}: {e}\n{}", template(group));
    }
    let deployed = started.elapsed();
    let pending: Vec<(Topology, Host, Host)> = group
        .iter()
        .cloned()
        .zip(hosts(world, stack, group).await)
        .map(|(topology, (a, b))| (topology, a, b))
        .collect();
    let probed =
        futures_util::future::join_all(pending.iter().map(|(_, a, b)| probes(world, a, b))).await;
    let sync = world.fabric().sync_durations().last().copied();
    println!(
        "{stack}: deployed in {deployed:?} (the fabric's sync {sync:?}), hosts and probes in {:?}",
        started.elapsed() - deployed
    );
    pending
        .into_iter()
        .zip(probed)
        .flat_map(|((topology, _, _), found)| found.into_iter().map(move |p| (topology.clone(), p)))
        .collect()
}

/// Each disagreement, described with its topology and explanation.
fn disagreements(results: &[(Topology, Probe)]) -> Vec<String> {
    results
        .iter()
        .filter(|(_, p)| p.explained != p.connected)
        .map(|(t, p)| {
            format!(
                "{t:?}\n  {}: explain says {}, the connection {}\n{}",
                p.what,
                if p.explained { "reachable" } else { "blocked" },
                if p.connected { "was made" } else { "was not" },
                p.explanation
            )
        })
        .collect()
}

/// Over 200 generated topologies, explain's verdict equals what the packets do, on every
/// probed path: 0 disagreements. Both verdicts occur on each kind of path, so agreement is not
/// the same answer everywhere.
#[tokio::test(flavor = "multi_thread")]
async fn explain_agrees_with_packets_over_generated_topologies() {
    let mut world = support::world().await;
    let mut rng = Generator(SEED);
    let topologies: Vec<Topology> = (0..TOPOLOGIES)
        .map(|i| Topology::generate(i, &mut rng))
        .collect();
    let folder = tempfile::tempdir().expect("a folder for the templates");
    let mut results: Vec<(Topology, Probe)> = Vec::new();
    for (batch, group) in topologies.chunks(PER_TEMPLATE).enumerate() {
        let stack = format!("generated-{batch}");
        let path = folder.path().join(format!("{stack}.yaml"));
        results.extend(deploy_and_probe(&mut world, &stack, &path, group).await);
    }
    for what in ["B on 8080", "ifconfig.me on 80", "DynamoDB on 443"] {
        let of_kind: Vec<_> = results.iter().filter(|(_, p)| p.what == what).collect();
        let reachable = of_kind.iter().filter(|(_, p)| p.connected).count();
        println!(
            "{what}: {reachable} reachable, {} blocked",
            of_kind.len() - reachable
        );
        assert!(
            reachable > 0 && reachable < of_kind.len(),
            "{what}: both verdicts occur ({reachable} of {})",
            of_kind.len()
        );
    }
    let disagreements = disagreements(&results);
    println!(
        "{} probes over {TOPOLOGIES} topologies: {} disagreements",
        results.len(),
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} probes disagree:\n{}",
        disagreements.len(),
        results.len(),
        disagreements.join("\n")
    );
}
