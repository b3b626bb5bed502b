//! Why a path is open or blocked, hop by hop, as VPC Reachability Analyzer reports it: the
//! security group that has no rule, the route table that has no route, the host without a
//! public address at the internet gateway.

use std::{fmt, net::Ipv4Addr};

use super::{
    Host, HostKind, addressing,
    model::{EndpointKind, RouteTarget, Topology},
    security_group::allows,
};

/// The verdict on one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Whether packets get through.
    pub reachable: bool,
    /// The hops, in order, each saying what let the packet through.
    pub hops: Vec<String>,
    /// Where and why the packet is dropped, when it is.
    pub blocked_at: Option<String>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, hop) in self.hops.iter().enumerate() {
            writeln!(f, "{}. {hop}", i + 1)?;
        }
        match &self.blocked_at {
            Some(blocked) => write!(f, "BLOCKED: {blocked}"),
            None => write!(f, "REACHABLE"),
        }
    }
}

struct Walk {
    hops: Vec<String>,
}

impl Walk {
    fn hop(&mut self, text: String) {
        self.hops.push(text);
    }

    fn blocked(self, reason: String) -> Explanation {
        Explanation {
            reachable: false,
            hops: self.hops,
            blocked_at: Some(reason),
        }
    }

    fn reached(self) -> Explanation {
        Explanation {
            reachable: true,
            hops: self.hops,
            blocked_at: None,
        }
    }
}

/// Explains TCP traffic from `source` (`None`: the AWS-managed Lambda network) to `address`.
pub(crate) fn explain(
    topology: &Topology,
    hosts: &[Host],
    source: Option<&Host>,
    destination: &str,
    address: Ipv4Addr,
    port: u16,
) -> Explanation {
    let mut walk = Walk { hops: Vec::new() };
    walk.hop(format!(
        "destination {destination} is {address}, TCP port {port}"
    ));
    let Some(source) = source else {
        return from_outside_any_vpc(walk, hosts, address);
    };
    walk.hop(format!(
        "source: {} ({}) in {} of {}, groups {}",
        source.eni_id,
        source.address,
        source.subnet_id,
        source.vpc_id,
        source.group_ids.join(", ")
    ));
    let path = Path {
        topology,
        hosts,
        origin: source,
        address,
        port,
    };
    if !source.group_ids.is_empty() {
        if !outbound_allowed(&path) {
            return walk.blocked(format!(
                "security group(s) {} of {} ({}) have no outbound rule allowing TCP {port} to {address}",
                source.group_ids.join(", "),
                source.eni_id,
                source.address
            ));
        }
        walk.hop(format!(
            "security group(s) {} allow outbound TCP {port} to {address}",
            source.group_ids.join(", ")
        ));
    }
    route_from(&path, walk, source, 0)
}

/// A function outside any VPC reaches the internet through AWS's NAT, never a private address.
fn from_outside_any_vpc(mut walk: Walk, hosts: &[Host], address: Ipv4Addr) -> Explanation {
    walk.hop("source: a function outside any VPC, in the AWS-managed network".into());
    if hosts
        .iter()
        .any(|h| h.address == address && h.public_address.is_none())
    {
        return walk.blocked(format!(
            "{address} is a private VPC address: functions outside a VPC have no path into it"
        ));
    }
    walk.hop("out through AWS's NAT to the internet".into());
    walk.reached()
}

/// Whether one of the origin's groups has an outbound rule for the packet.
fn outbound_allowed(path: &Path<'_>) -> bool {
    let target_groups: Vec<String> = path
        .hosts
        .iter()
        .find(|h| h.address == path.address)
        .map(|h| h.group_ids.clone())
        .unwrap_or_default();
    path.origin.group_ids.iter().any(|id| {
        path.topology.security_group(id).is_some_and(|g| {
            g.egress
                .iter()
                .any(|rule| allows(rule, path.address, &target_groups, "tcp", path.port))
        })
    })
}

/// What one explanation walks over: the topology, the hosts, the packet.
struct Path<'a> {
    topology: &'a Topology,
    hosts: &'a [Host],
    /// The host that sent the packet.
    origin: &'a Host,
    /// Its destination address and TCP port.
    address: Ipv4Addr,
    port: u16,
}

/// Follows the packet from `at` (the origin, or a NAT gateway it went through) by the route
/// table of `at`'s subnet.
fn route_from(path: &Path<'_>, mut walk: Walk, at: &Host, depth: usize) -> Explanation {
    let address = path.address;
    let Some(subnet) = path.topology.subnet(&at.subnet_id) else {
        return walk.blocked(format!("subnet {} is not in the topology", at.subnet_id));
    };
    let Some(table) = path.topology.route_table_of(subnet) else {
        return walk.blocked(format!(
            "subnet {} has no route table (no association and no main table)",
            subnet.id
        ));
    };
    let endpoint_route = path.topology.endpoints.iter().find(|e| {
        e.route_table_ids.contains(&table.id)
            && addressing::service_address(e.service()) == address
            && e.kind == EndpointKind::Gateway
    });
    if let Some(endpoint) = endpoint_route {
        walk.hop(format!(
            "route table {} sends {address} (prefix list of {}) to gateway endpoint {}",
            table.id,
            endpoint.service(),
            endpoint.id
        ));
        return walk.reached();
    }
    let best = table
        .routes
        .iter()
        .filter(|r| r.destination.contains(&address))
        .max_by_key(|r| r.destination.prefix_len());
    let Some(route) = best else {
        return walk.blocked(format!(
            "route table {} of subnet {} has no route to {address}: packets are dropped",
            table.id, subnet.id
        ));
    };
    walk.hop(format!(
        "route table {} of subnet {}: {} -> {}",
        table.id,
        subnet.id,
        route.destination,
        target_name(&route.target)
    ));
    follow(path, walk, at, &route.target, depth)
}

/// Follows the packet to the route's target.
fn follow(
    path: &Path<'_>,
    mut walk: Walk,
    at: &Host,
    target: &RouteTarget,
    depth: usize,
) -> Explanation {
    let address = path.address;
    match target {
        RouteTarget::Local => match path.hosts.iter().find(|h| h.address == address) {
            Some(target) => inbound(path, walk, target),
            None => walk.blocked(format!(
                "no network interface has {address} in {}",
                at.vpc_id
            )),
        },
        RouteTarget::InternetGateway(igw) => {
            let Some(public) = at.public_address else {
                return walk.blocked(format!(
                    "{} ({}) has no public address: internet gateway {igw} drops its traffic",
                    at.eni_id, at.address
                ));
            };
            walk.hop(format!(
                "internet gateway {igw} translates {} to {public}",
                at.address
            ));
            walk.reached()
        }
        RouteTarget::NatGateway(nat) => through_nat(path, walk, nat, depth),
        RouteTarget::Peering(pcx) => {
            walk.hop(format!("peering connection {pcx}"));
            match path
                .hosts
                .iter()
                .find(|h| h.address == address && h.vpc_id != at.vpc_id)
            {
                Some(target) => match return_route(path, target, pcx) {
                    Ok(hop) => {
                        walk.hop(hop);
                        inbound(path, walk, target)
                    }
                    Err(why) => walk.blocked(why),
                },
                None => walk.blocked(format!("no network interface has {address} across {pcx}")),
            }
        }
        RouteTarget::NetworkInterface(eni) => walk.blocked(format!(
            "the route sends the packet to {eni}; vpclab does not follow paths through \
             appliance ENIs"
        )),
        RouteTarget::Other(other) => walk.blocked(format!(
            "target {other} is not realised by vpclab: packets are dropped"
        )),
    }
}

/// The route that carries replies from `target` back to the origin across peering `pcx`: the
/// target subnet's route table must send the origin's address into the peering, or the replies
/// never come back (as in AWS, where each side routes its own traffic).
fn return_route(path: &Path<'_>, target: &Host, pcx: &str) -> Result<String, String> {
    let origin = path.origin.address;
    let subnet = path
        .topology
        .subnet(&target.subnet_id)
        .ok_or_else(|| format!("subnet {} is not in the topology", target.subnet_id))?;
    let table = path.topology.route_table_of(subnet).ok_or_else(|| {
        format!(
            "subnet {} has no route table: replies to {origin} are dropped",
            subnet.id
        )
    })?;
    let back = table
        .routes
        .iter()
        .filter(|r| r.destination.contains(&origin))
        .max_by_key(|r| r.destination.prefix_len());
    match back {
        Some(route) if route.target == RouteTarget::Peering(pcx.to_owned()) => Ok(format!(
            "route table {} of subnet {} ({}) returns {} through {pcx}",
            table.id, subnet.id, subnet.vpc_id, route.destination
        )),
        Some(route) => Err(format!(
            "route table {} of subnet {} ({}) sends replies to {origin} to {}, not back through \
             {pcx}: they never come back",
            table.id,
            subnet.id,
            subnet.vpc_id,
            target_name(&route.target)
        )),
        None => Err(format!(
            "route table {} of subnet {} ({}) has no route back to {origin} through {pcx}: \
             replies are dropped; add a route to the peer VPC's CIDR through {pcx}",
            table.id, subnet.id, subnet.vpc_id
        )),
    }
}

/// The packet leaves through NAT gateway `nat`, then follows the gateway's route table.
fn through_nat(path: &Path<'_>, mut walk: Walk, nat: &str, depth: usize) -> Explanation {
    let kind = HostKind::NatGateway { id: nat.to_owned() };
    let Some(nat_host) = path.hosts.iter().find(|h| h.kind == kind) else {
        return walk.blocked(format!("NAT gateway {nat} is not available"));
    };
    if depth > 3 {
        return walk.blocked("routing loop".into());
    }
    walk.hop(format!(
        "NAT gateway {nat} ({}) translates the source to its own address",
        nat_host.address
    ));
    route_from(path, walk, nat_host, depth + 1)
}

fn inbound(path: &Path<'_>, mut walk: Walk, target: &Host) -> Explanation {
    let (origin, port) = (path.origin, path.port);
    walk.hop(format!(
        "delivered to {} ({}), {}",
        target.eni_id, target.address, target.role
    ));
    if target.group_ids.is_empty() {
        return walk.reached();
    }
    let allowed = target.group_ids.iter().any(|id| {
        path.topology.security_group(id).is_some_and(|g| {
            g.ingress
                .iter()
                .any(|rule| allows(rule, origin.address, &origin.group_ids, "tcp", port))
        })
    });
    if allowed {
        walk.hop(format!(
            "security group(s) {} allow inbound TCP {port} from {}",
            target.group_ids.join(", "),
            origin.address
        ));
        walk.reached()
    } else {
        walk.blocked(format!(
            "security group(s) {} of {} ({}) have no inbound rule allowing TCP {port} from {} \
             (groups {})",
            target.group_ids.join(", "),
            target.eni_id,
            target.address,
            origin.address,
            origin.group_ids.join(", ")
        ))
    }
}

fn target_name(target: &RouteTarget) -> String {
    match target {
        RouteTarget::Local => "local".into(),
        RouteTarget::InternetGateway(id)
        | RouteTarget::NatGateway(id)
        | RouteTarget::Peering(id)
        | RouteTarget::NetworkInterface(id)
        | RouteTarget::Other(id) => id.clone(),
    }
}
