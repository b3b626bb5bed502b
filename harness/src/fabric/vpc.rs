//! One VPC as namespaces: a router namespace holding a bridge per subnet, one policy-routing
//! table per route table (subnets look up their table, then fall into a blackhole: no route
//! means a silent drop), the resolver at base + 2, the internet gateway's one-to-one address
//! translation, gateway endpoints as links to a service namespace, and ENI namespaces for NAT
//! gateways and interface endpoints.

use std::{
    collections::HashMap,
    fmt::Write,
    net::{Ipv4Addr, SocketAddr},
};

use ipnet::Ipv4Net;
use tokio::task::JoinHandle;

use super::{
    Fabric, FabricError, Host, State, addressing, dns, internet,
    model::{EndpointKind, RouteTarget, Subnet, Topology, Vpc},
    netns,
    plan::Plan,
    services,
};

/// The table every inbound link (internet gateway, endpoints, peering) looks up: the VPC's
/// subnets.
const LOCAL_TABLE: u32 = 99;

/// What the fabric made of a VPC.
#[derive(Debug, Clone)]
pub(crate) struct RealisedVpc {
    /// The router namespace.
    pub(crate) router: String,
    /// The VPC resolver (base + 2).
    pub(crate) resolver: Ipv4Addr,
    /// Numbers its links in the internet namespace.
    index: u32,
    /// Subnet id -> bridge name in the router.
    bridges: HashMap<String, String>,
    /// Subnet id -> its kernel routing table (filled from the subnet's route table).
    tables: HashMap<String, u32>,
    /// The internet gateway link's router-side address, when one is attached.
    igw_near: Option<Ipv4Addr>,
    /// The internet gateway link's far (internet-side) address, when one is attached.
    igw_far: Option<Ipv4Addr>,
    /// Public addresses routed to this VPC on the internet.
    public_routes: Vec<Ipv4Addr>,
    /// Gateway endpoint id -> (router device, far address).
    gateway_endpoints: HashMap<String, (String, Ipv4Addr)>,
    /// Peering id -> (router device, the peer router's address).
    peer_links: HashMap<String, (String, Ipv4Addr)>,
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
    /// An endpoint passing TLS traffic for `service` to the emulator.
    Endpoint {
        netns: String,
        address: Ipv4Addr,
        service: String,
    },
}

impl RealisedVpc {
    /// The internet gateway link's name in the internet namespace.
    fn igw_device(&self) -> String {
        format!("g{}", self.index)
    }
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
pub(crate) fn reconcile(
    plan: &mut Plan,
    state: &mut State,
    topology: &Topology,
    vpc: &Vpc,
    prefix: &str,
    services: &mut Vec<Service>,
) -> Result<(), FabricError> {
    if !state.vpcs.contains_key(&vpc.id) {
        let realised = plan_router(plan, state, vpc, prefix, services);
        state.vpcs.insert(vpc.id.clone(), realised);
    }
    let mut realised = state.vpcs[&vpc.id].clone();
    let router = realised.router.clone();
    let subnets: Vec<&Subnet> = topology
        .subnets
        .iter()
        .filter(|s| s.vpc_id == vpc.id)
        .collect();

    // Subnets: a bridge each, and a routing table of their own that `plan_routes` fills from
    // whichever route table applies to the subnet at each sync.
    let new_subnets: Vec<&Subnet> = subnets
        .iter()
        .filter(|s| !realised.bridges.contains_key(&s.id))
        .copied()
        .collect();
    for subnet in new_subnets {
        let bridge = format!("b{}", realised.bridges.len());
        let table = 100 + state.next();
        plan.ip(&router, &format!("link add {bridge} type bridge"));
        plan.ip(
            &router,
            &format!(
                "addr add {}/{} dev {bridge}",
                addressing::subnet_router(subnet.cidr),
                subnet.cidr.prefix_len()
            ),
        );
        plan.ip(&router, &format!("link set {bridge} up"));
        plan.ip(
            &router,
            &format!("route add {} dev {bridge} table {LOCAL_TABLE}", subnet.cidr),
        );
        plan.ip(
            &router,
            &format!("rule add iif {bridge} lookup {table} pref 100"),
        );
        plan.ip(
            &router,
            &format!("rule add iif {bridge} pref 200 blackhole"),
        );
        realised.bridges.insert(subnet.id.clone(), bridge);
        realised.tables.insert(subnet.id.clone(), table);
    }
    state.vpcs.insert(vpc.id.clone(), realised.clone());

    // NAT gateways: ENIs that masquerade; their Elastic IPs are mapped at the internet gateway.
    for nat in &topology.nat_gateways {
        let role = format!("NAT gateway {}", nat.id);
        if state.hosts.iter().any(|h| h.role == role) {
            continue;
        }
        let Some(subnet) = subnets.iter().find(|s| s.id == nat.subnet_id) else {
            continue;
        };
        let host = Host {
            netns: String::new(),
            eni_id: topology
                .interfaces
                .iter()
                .find(|i| i.private_ip == nat.private_ip && i.subnet_id == subnet.id)
                .map_or_else(|| nat.id.clone(), |i| i.id.clone()),
            vpc_id: vpc.id.clone(),
            subnet_id: subnet.id.clone(),
            address: nat.private_ip,
            public_address: nat.public_ip,
            group_ids: Vec::new(),
            role,
        };
        let host = plan_host(plan, state, prefix, subnet, host)?;
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.eth0.send_redirects", "0"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.eth0.rp_filter", "0"),
        ] {
            plan.sysctl(&host.netns, key, value);
        }
        plan.nft(
            &host.netns,
            format!(
                "table ip vpclab_nat {{\n\
                 \x20 chain post {{\n\
                 \x20   type nat hook postrouting priority srcnat; policy accept;\n\
                 \x20   ip saddr != {} masquerade\n\
                 \x20 }}\n\
                 }}\n",
                nat.private_ip
            ),
        );
        state.hosts.push(host);
    }

    // The internet gateway: a link to the internet with one-to-one NAT for public addresses;
    // anything else leaving through it is dropped, as AWS does for hosts without one.
    let attached = topology
        .internet_gateways
        .iter()
        .any(|g| g.vpc_id.as_deref() == Some(&vpc.id));
    let inet = internet::internet_netns(prefix);
    if attached && realised.igw_far.is_none() {
        let (near, far) = state.links.next();
        realised.igw_near = Some(near);
        realised.igw_far = Some(far);
        plan.veth(&router, "igw", &inet, &realised.igw_device());
        plan.ip(&router, &format!("addr add {near}/30 dev igw"));
        plan.ip(
            &inet,
            &format!("addr add {far}/30 dev {}", realised.igw_device()),
        );
        plan.ip(
            &router,
            &format!("rule add iif igw lookup {LOCAL_TABLE} pref 100"),
        );
        plan.ip(&router, "rule add iif igw pref 200 blackhole");
    }
    if let Some(near) = realised.igw_near {
        let public_map: Vec<(Ipv4Addr, Ipv4Addr)> = state
            .hosts
            .iter()
            .filter(|h| h.vpc_id == vpc.id)
            .filter_map(|h| Some((h.address, h.public_address?)))
            .collect();
        for (_, public) in &public_map {
            if !realised.public_routes.contains(public) {
                plan.ip(
                    &inet,
                    &format!(
                        "route add {public}/32 via {near} dev {}",
                        realised.igw_device()
                    ),
                );
                realised.public_routes.push(*public);
            }
        }
        plan.nft(&router, igw_ruleset(&public_map));
    }
    state.vpcs.insert(vpc.id.clone(), realised.clone());

    // Endpoints.
    for endpoint in topology.endpoints.iter().filter(|e| e.vpc_id == vpc.id) {
        let service_address = addressing::service_address(endpoint.service());
        match endpoint.kind {
            EndpointKind::Gateway if !addressing::has_gateway_endpoint(endpoint.service()) => {}
            EndpointKind::Gateway if realised.gateway_endpoints.contains_key(&endpoint.id) => {}
            EndpointKind::Gateway => {
                let n = state.next();
                let ns = format!("{prefix}-e{n}");
                let dev = format!("e{n}");
                let (near, far) = state.links.next();
                plan.namespace(&ns);
                plan.veth(&router, &dev, &ns, "eth0");
                plan.ip(&router, &format!("addr add {near}/30 dev {dev}"));
                plan.ip(
                    &router,
                    &format!("rule add iif {dev} lookup {LOCAL_TABLE} pref 100"),
                );
                plan.ip(&router, &format!("rule add iif {dev} pref 200 blackhole"));
                plan.ip(&ns, &format!("addr add {far}/30 dev eth0"));
                plan.ip(&ns, &format!("addr add {service_address}/32 dev lo"));
                plan.ip(&ns, &format!("route add {} via {near}", vpc.cidr));
                services.push(Service::Endpoint {
                    netns: ns,
                    address: service_address,
                    service: endpoint.service().to_owned(),
                });
                realised
                    .gateway_endpoints
                    .insert(endpoint.id.clone(), (dev, far));
                state.vpcs.insert(vpc.id.clone(), realised.clone());
            }
            EndpointKind::Interface => {
                for eni_id in &endpoint.interface_ids {
                    if state.hosts.iter().any(|h| &h.eni_id == eni_id) {
                        continue;
                    }
                    let Some(interface) = topology.interfaces.iter().find(|i| &i.id == eni_id)
                    else {
                        continue;
                    };
                    let Some(subnet) = subnets.iter().find(|s| s.id == interface.subnet_id) else {
                        continue;
                    };
                    let groups = if endpoint.group_ids.is_empty() {
                        interface.group_ids.clone()
                    } else {
                        endpoint.group_ids.clone()
                    };
                    let host = Host {
                        netns: String::new(),
                        eni_id: interface.id.clone(),
                        vpc_id: vpc.id.clone(),
                        subnet_id: subnet.id.clone(),
                        address: interface.private_ip,
                        public_address: None,
                        group_ids: groups,
                        role: format!("VPC endpoint {} ({})", endpoint.id, endpoint.service()),
                    };
                    let host = plan_host(plan, state, prefix, subnet, host)?;
                    services.push(Service::Endpoint {
                        netns: host.netns.clone(),
                        address: host.address,
                        service: endpoint.service().to_owned(),
                    });
                    state.hosts.push(host);
                }
            }
        }
    }
    Ok(())
}

/// The router namespace of a new VPC, with its resolver.
fn plan_router(
    plan: &mut Plan,
    state: &mut State,
    vpc: &Vpc,
    prefix: &str,
    services: &mut Vec<Service>,
) -> RealisedVpc {
    let index = state.next();
    let router = format!("{prefix}-r{index}");
    plan.namespace(&router);
    for (key, value) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv4.conf.all.send_redirects", "0"),
        ("net.ipv4.conf.default.send_redirects", "0"),
    ] {
        plan.sysctl(&router, key, value);
    }
    let resolver = addressing::vpc_resolver(vpc.cidr);
    plan.ip(&router, &format!("addr add {resolver}/32 dev lo"));
    services.push(Service::Resolver {
        netns: router.clone(),
        address: resolver,
        vpc_id: vpc.id.clone(),
    });
    RealisedVpc {
        index,
        router,
        resolver,
        bridges: HashMap::new(),
        tables: HashMap::new(),
        igw_near: None,
        igw_far: None,
        public_routes: Vec::new(),
        gateway_endpoints: HashMap::new(),
        peer_links: HashMap::new(),
    }
}

/// The internet gateway's rule set: one-to-one translation for each public address, and a
/// drop for anything else leaving through it.
fn igw_ruleset(public_map: &[(Ipv4Addr, Ipv4Addr)]) -> String {
    let mut dnat = String::new();
    let mut snat = String::new();
    for (private, public) in public_map {
        let _ = writeln!(
            dnat,
            "    iifname \"igw\" ip daddr {public} dnat to {private}"
        );
        let _ = writeln!(
            snat,
            "    oifname \"igw\" ip saddr {private} snat to {public}"
        );
    }
    let allowed = if public_map.is_empty() {
        "    oifname \"igw\" drop comment \"no public address\"\n".to_owned()
    } else {
        let list: Vec<String> = public_map.iter().map(|(p, _)| p.to_string()).collect();
        format!(
            "    oifname \"igw\" ip saddr != {{ {} }} drop comment \"no public address\"\n",
            list.join(", ")
        )
    };
    format!(
        "table ip vpclab_igw\n\
         delete table ip vpclab_igw\n\
         table ip vpclab_igw {{\n\
         \x20 chain pre {{\n\
         \x20   type nat hook prerouting priority dstnat; policy accept;\n\
         {dnat}\
         \x20 }}\n\
         \x20 chain post {{\n\
         \x20   type nat hook postrouting priority srcnat; policy accept;\n\
         {snat}\
         \x20 }}\n\
         \x20 chain forward {{\n\
         \x20   type filter hook forward priority filter; policy accept;\n\
         {allowed}\
         \x20 }}\n\
         }}\n"
    )
}

/// Plans an ENI namespace on `subnet` for `host`; returns the host with its namespace.
pub(crate) fn plan_host(
    plan: &mut Plan,
    state: &mut State,
    prefix: &str,
    subnet: &Subnet,
    mut host: Host,
) -> Result<Host, FabricError> {
    let realised = state.vpcs.get(&subnet.vpc_id).cloned().ok_or_else(|| {
        FabricError::Topology(format!(
            "VPC {} of subnet {} is not realised",
            subnet.vpc_id, subnet.id
        ))
    })?;
    let bridge = realised.bridges.get(&subnet.id).cloned().ok_or_else(|| {
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
    let n = state.next();
    let ns = format!("{prefix}-h{n}");
    let port = format!("h{n}");
    plan.namespace(&ns);
    plan.veth(&realised.router, &port, &ns, "eth0");
    plan.ip(
        &realised.router,
        &format!("link set {port} master {bridge}"),
    );
    plan.ip(
        &ns,
        &format!(
            "addr add {}/{} dev eth0",
            host.address,
            subnet.cidr.prefix_len()
        ),
    );
    plan.ip(
        &ns,
        &format!(
            "route add default via {}",
            addressing::subnet_router(subnet.cidr)
        ),
    );
    plan.resolver(&ns, realised.resolver);
    host.netns = ns;
    Ok(host)
}

/// Plans peering links between realised VPCs, then rewrites every subnet's routing table from
/// the route table that applies to it now, so routes and associations changed by later stacks
/// take effect.
pub(crate) fn plan_routes(
    plan: &mut Plan,
    state: &mut State,
    topology: &Topology,
) -> Result<(), FabricError> {
    for peering in &topology.peerings {
        if state.peerings.contains(&peering.id) {
            continue;
        }
        let (Some(a), Some(b)) = (
            state.vpcs.get(&peering.requester_vpc_id).cloned(),
            state.vpcs.get(&peering.accepter_vpc_id).cloned(),
        ) else {
            continue;
        };
        let n = state.next();
        let dev = format!("p{n}");
        let (near, far) = state.links.next();
        plan.veth(&a.router, &dev, &b.router, &dev);
        plan.ip(&a.router, &format!("addr add {near}/30 dev {dev}"));
        plan.ip(&b.router, &format!("addr add {far}/30 dev {dev}"));
        for router in [&a.router, &b.router] {
            plan.ip(
                router,
                &format!("rule add iif {dev} lookup {LOCAL_TABLE} pref 100"),
            );
            plan.ip(router, &format!("rule add iif {dev} pref 200 blackhole"));
        }
        if let Some(v) = state.vpcs.get_mut(&peering.requester_vpc_id) {
            v.peer_links.insert(peering.id.clone(), (dev.clone(), far));
        }
        if let Some(v) = state.vpcs.get_mut(&peering.accepter_vpc_id) {
            v.peer_links.insert(peering.id.clone(), (dev.clone(), near));
        }
        state.peerings.push(peering.id.clone());
    }
    for (vpc_id, realised) in &state.vpcs {
        for subnet in topology.subnets.iter().filter(|s| &s.vpc_id == vpc_id) {
            let Some(number) = realised.tables.get(&subnet.id) else {
                continue;
            };
            plan.ip(&realised.router, &format!("route flush table {number}"));
            // No route table at all: the table stays empty and the blackhole rule drops.
            let Some(table) = topology.route_table_of(subnet) else {
                continue;
            };
            for route in &table.routes {
                for line in route_lines(
                    realised,
                    topology,
                    &state.hosts,
                    route.destination,
                    &route.target,
                ) {
                    plan.ip(&realised.router, &format!("{line} table {number}"));
                }
            }
            for endpoint in topology.endpoints.iter().filter(|e| {
                e.kind == EndpointKind::Gateway && e.route_table_ids.contains(&table.id)
            }) {
                if let Some((dev, far)) = realised.gateway_endpoints.get(&endpoint.id) {
                    plan.ip(
                        &realised.router,
                        &format!(
                            "route replace {}/32 via {far} dev {dev} table {number}",
                            addressing::service_address(endpoint.service())
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

fn route_lines(
    realised: &RealisedVpc,
    topology: &Topology,
    hosts: &[Host],
    destination: Ipv4Net,
    target: &RouteTarget,
) -> Vec<String> {
    let via_host = |address: Ipv4Addr, subnet_id: &str| {
        realised
            .bridges
            .get(subnet_id)
            .map(|bridge| format!("route replace {destination} via {address} dev {bridge}"))
    };
    match target {
        RouteTarget::Local => topology
            .subnets
            .iter()
            .filter(|s| destination.contains(&s.cidr))
            .filter_map(|s| {
                realised
                    .bridges
                    .get(&s.id)
                    .map(|bridge| format!("route replace {} dev {bridge}", s.cidr))
            })
            .collect(),
        RouteTarget::InternetGateway(igw) => {
            let attached = topology
                .internet_gateways
                .iter()
                .any(|g| &g.id == igw && g.vpc_id.is_some());
            match realised.igw_far {
                Some(far) if attached => {
                    vec![format!("route replace {destination} via {far} dev igw")]
                }
                _ => Vec::new(),
            }
        }
        RouteTarget::NatGateway(nat) => topology
            .nat_gateway(nat)
            .and_then(|n| via_host(n.private_ip, &n.subnet_id))
            .into_iter()
            .collect(),
        RouteTarget::NetworkInterface(eni) => hosts
            .iter()
            .find(|h| &h.eni_id == eni)
            .and_then(|h| via_host(h.address, &h.subnet_id))
            .into_iter()
            .collect(),
        RouteTarget::Peering(pcx) => realised
            .peer_links
            .get(pcx)
            .map(|(dev, peer)| format!("route replace {destination} via {peer} dev {dev}"))
            .into_iter()
            .collect(),
        RouteTarget::Other(_) => Vec::new(),
    }
}

/// Rebuilds the DNS records: endpoint names publicly, private DNS names inside their VPC.
pub(crate) fn add_names(zones: &mut dns::Zones, topology: &Topology, hosts: &[Host], region: &str) {
    *zones = dns::Zones::default();
    for endpoint in topology
        .endpoints
        .iter()
        .filter(|e| e.kind == EndpointKind::Interface)
    {
        let addresses: Vec<Ipv4Addr> = hosts
            .iter()
            .filter(|h| endpoint.interface_ids.contains(&h.eni_id))
            .map(|h| h.address)
            .collect();
        if addresses.is_empty() {
            continue;
        }
        // The engine reports AWS-shaped names (`vpce-….<service>.<region>.vpce.amazonaws.com`,
        // plus one per zone); the emulator describes them under its own domain.
        for name in &endpoint.dns_names {
            let name = name.split(':').next().unwrap_or(name);
            let name = name.replace(".vpce.localhost.localstack.cloud", ".vpce.amazonaws.com");
            zones.add_public(&name, addresses.clone());
        }
        zones.add_public(
            &format!("*.{}.{region}.vpce.amazonaws.com", endpoint.service()),
            addresses.clone(),
        );
        if endpoint.private_dns {
            let service = endpoint.service();
            zones.add_private(
                &endpoint.vpc_id,
                &format!("{service}.{region}.amazonaws.com"),
                addresses.clone(),
            );
            zones.add_private(
                &endpoint.vpc_id,
                &format!("*.{service}.{region}.amazonaws.com"),
                addresses,
            );
        }
    }
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
            } => {
                let listener = netns::tcp_listener(&ns, SocketAddr::from((address, 443)))?;
                tasks.push(services::service_endpoint(
                    listener,
                    fabric.tls(),
                    fabric.emulator,
                    Some(services::ServiceNames::new(&service, &fabric.region)),
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
