//! One VPC as namespaces: a router namespace holding a bridge per subnet, one policy-routing
//! table per subnet (filled from the route table that applies to it; then a blackhole: no route
//! means a silent drop), the resolver at base + 2, and ENI namespaces on the subnets' bridges.
//! Gateways are planned in `gateways`, endpoints in `endpoints`, routes in `routes`.

use std::{
    collections::{HashMap, HashSet},
    net::{Ipv4Addr, SocketAddr},
};

use tokio::task::JoinHandle;

use super::{
    Fabric, FabricError, Host, HostKind, State, addressing, dns, endpoints,
    front_door::Door,
    gateways,
    model::{Subnet, Topology, Vpc},
    names::{self, DeviceKind, LOCAL_TABLE},
    netns,
    plan::{End, Plan, Route},
    services,
};

/// What the fabric made of a VPC.
#[derive(Debug, Clone)]
pub(crate) struct RealisedVpc {
    /// The router namespace.
    pub(crate) router: String,
    /// The VPC resolver (base + 2).
    pub(crate) resolver: Ipv4Addr,
    /// Subnet id -> its bridge and routing table in the router.
    pub(super) subnets: HashMap<String, RealisedSubnet>,
    /// The internet gateway's link, when one is attached.
    pub(super) internet_gateway: Option<TransitLink>,
    /// Public addresses routed to this VPC on the internet.
    pub(super) public_routes: Vec<Ipv4Addr>,
    /// Gateway endpoint id -> its link to the endpoint's service namespace.
    pub(super) gateway_endpoints: HashMap<String, TransitLink>,
    /// Peering id -> its link to the peer's router.
    pub(super) peer_links: HashMap<String, TransitLink>,
}

/// A subnet inside its VPC's router.
#[derive(Debug, Clone)]
pub(super) struct RealisedSubnet {
    /// Its bridge (the subnet's router address sits on it).
    pub(super) bridge: String,
    /// Its kernel routing table.
    pub(super) table: u32,
}

/// A /30 link from a router to something beyond the VPC.
#[derive(Debug, Clone)]
pub(super) struct TransitLink {
    /// The router's device.
    pub(super) device: String,
    /// The router's address on it.
    pub(super) near: Ipv4Addr,
    /// The other side's address.
    pub(super) far: Ipv4Addr,
}

/// A service to start once the namespaces exist.
#[derive(Debug)]
pub(crate) enum Service {
    /// The VPC resolver.
    Resolver {
        netns: String,
        address: Ipv4Addr,
        vpc_id: String,
    },
    /// An endpoint passing TLS traffic for `service` to the emulator, or to the front door
    /// when it is an execute-api endpoint (`door`).
    Endpoint {
        netns: String,
        address: Ipv4Addr,
        service: String,
        region: String,
        door: Option<Door>,
    },
}

/// What one sync plans with: the plan it fills, the state it updates, the topology it reads.
pub(crate) struct Planning<'a> {
    /// The plan being filled.
    pub(crate) plan: &'a mut Plan,
    /// The fabric's state, updated as resources are planned.
    pub(crate) state: &'a mut State,
    /// The topology as EC2 describes it now.
    pub(crate) topology: &'a Topology,
    /// The prefix of every namespace.
    pub(crate) prefix: &'a str,
    /// Services to start once the plan is applied.
    pub(crate) services: &'a mut Vec<Service>,
}

/// Refuses topologies AWS would refuse, naming the resources.
pub(crate) fn validate(topology: &Topology) -> Result<(), FabricError> {
    for (i, a) in topology.subnets.iter().enumerate() {
        if let Some(vpc) = topology.vpc(&a.vpc_id)
            && !vpc.cidr.contains(&a.cidr)
        {
            return Err(FabricError::Topology(format!(
                "subnet {} ({}) is outside its VPC {} ({})",
                a.id, a.cidr, vpc.id, vpc.cidr
            )));
        }
        for b in &topology.subnets[i + 1..] {
            if a.vpc_id == b.vpc_id && (a.cidr.contains(&b.cidr) || b.cidr.contains(&a.cidr)) {
                return Err(FabricError::Topology(format!(
                    "subnets {} ({}) and {} ({}) of {} overlap",
                    a.id, a.cidr, b.id, b.cidr, a.vpc_id
                )));
            }
        }
    }
    for peering in &topology.peerings {
        if let (Some(a), Some(b)) = (
            topology.vpc(&peering.requester_vpc_id),
            topology.vpc(&peering.accepter_vpc_id),
        ) && (a.cidr.contains(&b.cidr.network()) || b.cidr.contains(&a.cidr.network()))
        {
            return Err(FabricError::Topology(format!(
                "peering {} joins {} ({}) and {} ({}), whose CIDRs overlap",
                peering.id, a.id, a.cidr, b.id, b.cidr
            )));
        }
    }
    Ok(())
}

/// Plans what of `vpc` is not realised yet: its router the first time, then any subnet, NAT
/// gateway, internet gateway or endpoint a later stack added. The internet gateway's
/// translations are rewritten every time.
pub(crate) fn reconcile(planning: &mut Planning<'_>, vpc: &Vpc) -> Result<(), FabricError> {
    if !planning.state.vpcs.contains_key(&vpc.id) {
        let realised = plan_router(planning, vpc);
        planning.state.vpcs.insert(vpc.id.clone(), realised);
    }
    plan_subnets(planning, vpc);
    gateways::plan_nat_gateways(planning, vpc)?;
    plan_instances(planning, vpc)?;
    gateways::plan_internet_gateway(planning, vpc);
    endpoints::plan_endpoints(planning, vpc)?;
    Ok(())
}

/// The router namespace of a new VPC, with its resolver.
fn plan_router(planning: &mut Planning<'_>, vpc: &Vpc) -> RealisedVpc {
    let router = names::namespace(planning.prefix, &vpc.id);
    let plan = &mut *planning.plan;
    plan.namespace(&router);
    plan.sysctls(
        &router,
        &[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.default.send_redirects", "0"),
        ],
    );
    let resolver = addressing::vpc_resolver(vpc.cidr);
    plan.address(&router, "lo", resolver, 32);
    planning.services.push(Service::Resolver {
        netns: router.clone(),
        address: resolver,
        vpc_id: vpc.id.clone(),
    });
    RealisedVpc {
        router,
        resolver,
        subnets: HashMap::new(),
        internet_gateway: None,
        public_routes: Vec::new(),
        gateway_endpoints: HashMap::new(),
        peer_links: HashMap::new(),
    }
}

/// A bridge for each new subnet of `vpc` (the subnet's router address on it), its route in the
/// local table, and a routing table of its own that `routes` fills at each sync.
fn plan_subnets(planning: &mut Planning<'_>, vpc: &Vpc) {
    let Some(realised) = planning.state.vpcs.get_mut(&vpc.id) else {
        return;
    };
    let router = realised.router.clone();
    for subnet in planning
        .topology
        .subnets
        .iter()
        .filter(|s| s.vpc_id == vpc.id)
    {
        if realised.subnets.contains_key(&subnet.id) {
            continue;
        }
        let bridge = names::device(DeviceKind::SubnetBridge, &subnet.id);
        let taken: HashSet<u32> = realised.subnets.values().map(|s| s.table).collect();
        let table = names::routing_table(&subnet.id, &taken);
        let plan = &mut *planning.plan;
        plan.bridge(&router, &bridge);
        plan.address(
            &router,
            &bridge,
            addressing::subnet_router(subnet.cidr),
            subnet.cidr.prefix_len(),
        );
        plan.route(&router, Route::on_link(subnet.cidr, &bridge, LOCAL_TABLE));
        plan.lookup_then_blackhole(&router, &bridge, table);
        realised
            .subnets
            .insert(subnet.id.clone(), RealisedSubnet { bridge, table });
    }
}

/// A host for each instance of `vpc` not realised yet, on its primary ENI: its namespace in
/// its subnet, its security groups (the fabric renders them for every host), the VPC resolver;
/// a public address is translated at the internet gateway.
fn plan_instances(planning: &mut Planning<'_>, vpc: &Vpc) -> Result<(), FabricError> {
    for instance in planning
        .topology
        .instances
        .iter()
        .filter(|i| i.vpc_id == vpc.id)
    {
        let realised =
            |h: &Host| matches!(&h.kind, HostKind::Instance { id, .. } if id == &instance.id);
        if planning.state.hosts.iter().any(realised) {
            continue;
        }
        let Some(subnet) = planning.topology.subnet(&instance.subnet_id) else {
            continue;
        };
        let name = instance
            .logical_id
            .as_deref()
            .map_or(String::new(), |l| format!(" ({l})"));
        let host = Host {
            netns: String::new(),
            eni_id: instance
                .interface_id
                .clone()
                .unwrap_or_else(|| instance.id.clone()),
            vpc_id: vpc.id.clone(),
            subnet_id: subnet.id.clone(),
            address: instance.private_ip,
            public_address: instance.public_ip,
            group_ids: super::group_ids_or_default(planning.topology, &vpc.id, &instance.group_ids),
            role: format!("EC2 instance {}{name}", instance.id),
            kind: HostKind::Instance {
                id: instance.id.clone(),
                logical_id: instance.logical_id.clone(),
            },
        };
        let host = plan_host(planning.plan, planning.state, planning.prefix, subnet, host)?;
        planning.state.hosts.push(host);
    }
    Ok(())
}

/// Whether an endpoint's or NAT gateway's interface is still the emulator's own, at a random
/// address outside `subnet`, which the engine replaces by one inside it while it creates the
/// resource: a sync in the middle of a deploy can see it. AWS never makes one, so it is not
/// realised (the sync after the stack finds the replacement).
pub(crate) fn emulator_placeholder(subnet: &Subnet, address: Ipv4Addr, owner: &str) -> bool {
    let outside = !subnet.cidr.contains(&address);
    if outside {
        tracing::debug!(
            "vpclab: {owner} at {address} is outside subnet {}: not realised yet",
            subnet.id
        );
    }
    outside
}

/// Plans an ENI namespace on `subnet` for `host` (named after its ENI, joined to the subnet's
/// bridge); returns the host with its namespace.
pub(crate) fn plan_host(
    plan: &mut Plan,
    state: &State,
    prefix: &str,
    subnet: &Subnet,
    mut host: Host,
) -> Result<Host, FabricError> {
    let realised = state.vpcs.get(&subnet.vpc_id).ok_or_else(|| {
        FabricError::Topology(format!(
            "VPC {} of subnet {} is not realised",
            subnet.vpc_id, subnet.id
        ))
    })?;
    let bridge = realised.subnets.get(&subnet.id).ok_or_else(|| {
        FabricError::Topology(format!(
            "subnet {} was added after its VPC {} was realised; vpclab realises a VPC's subnets \
             once, deploy them in the same stack as the VPC",
            subnet.id, subnet.vpc_id
        ))
    })?;
    if !subnet.cidr.contains(&host.address) {
        return Err(FabricError::Topology(format!(
            "{} {} is outside its subnet {} ({})",
            host.eni_id, host.address, subnet.id, subnet.cidr
        )));
    }
    let netns = names::namespace(prefix, &host.eni_id);
    let port = names::device(DeviceKind::EniPort, &host.eni_id);
    plan.namespace(&netns);
    plan.veth(End::new(&realised.router, &port), End::new(&netns, "eth0"));
    plan.port(&realised.router, &port, &bridge.bridge);
    plan.address(&netns, "eth0", host.address, subnet.cidr.prefix_len());
    plan.route(
        &netns,
        Route::default_via(addressing::subnet_router(subnet.cidr)),
    );
    plan.resolver(&netns, realised.resolver);
    host.netns = netns;
    Ok(host)
}

/// Binds and starts the planned services.
pub(crate) fn start_services(
    fabric: &Fabric,
    planned: Vec<Service>,
) -> Result<Vec<JoinHandle<()>>, FabricError> {
    let mut tasks = Vec::new();
    for service in planned {
        match service {
            Service::Resolver {
                netns: ns,
                address,
                vpc_id,
            } => {
                let socket = netns::udp_socket(&ns, SocketAddr::from((address, 53)))?;
                tasks.push(dns::serve(socket, fabric.zones.clone(), Some(vpc_id)));
            }
            Service::Endpoint {
                netns: ns,
                address,
                service,
                region,
                door,
            } => {
                let listener = netns::tcp_listener(&ns, SocketAddr::from((address, 443)))?;
                let routing = services::Routing {
                    names: Some(services::ServiceNames::new(&service, &region)),
                    front_door: door.map(|door| (fabric.front_door.clone(), door)),
                };
                tasks.push(services::service_endpoint(
                    listener,
                    fabric.tls(),
                    fabric.emulator,
                    routing,
                ));
            }
        }
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fabric::model::{Peering, Subnet, Vpc};

    fn topology(subnets: &[(&str, &str)]) -> Topology {
        Topology {
            vpcs: vec![Vpc {
                id: "vpc-1".into(),
                region: "us-east-1".into(),
                cidr: "10.0.0.0/16".parse().unwrap(),
            }],
            subnets: subnets
                .iter()
                .map(|(id, cidr)| Subnet {
                    id: (*id).into(),
                    vpc_id: "vpc-1".into(),
                    cidr: cidr.parse().unwrap(),
                })
                .collect(),
            ..Topology::default()
        }
    }

    #[test]
    fn overlapping_subnets_are_refused_by_name() {
        let error = validate(&topology(&[
            ("subnet-a", "10.0.1.0/24"),
            ("subnet-b", "10.0.1.128/25"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("subnet-a") && error.contains("subnet-b"),
            "{error}"
        );
        assert!(error.contains("overlap"), "{error}");
    }

    #[test]
    fn a_subnet_outside_its_vpc_is_refused() {
        let error = validate(&topology(&[("subnet-x", "10.1.0.0/24")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("subnet-x") && error.contains("10.0.0.0/16"),
            "{error}"
        );
    }

    #[test]
    fn peering_overlapping_vpcs_is_refused() {
        let mut t = topology(&[]);
        t.vpcs.push(Vpc {
            id: "vpc-2".into(),
            region: "us-east-1".into(),
            cidr: "10.0.128.0/17".parse().unwrap(),
        });
        t.peerings.push(Peering {
            id: "pcx-1".into(),
            requester_vpc_id: "vpc-1".into(),
            accepter_vpc_id: "vpc-2".into(),
        });
        let error = validate(&t).unwrap_err().to_string();
        assert!(error.contains("pcx-1"), "{error}");
    }
}
