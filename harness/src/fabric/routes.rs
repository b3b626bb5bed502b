//! Routes: peering links between realised VPCs, then every subnet's routing table rewritten
//! from the route table that applies to it now, so routes and associations changed by later
//! stacks take effect.

use ipnet::Ipv4Net;

use super::{
    FabricError, Host, State, endpoints,
    model::{EndpointKind, Peering, RouteTarget, Subnet, Topology},
    names::{self, DeviceKind, LOCAL_TABLE},
    plan::{End, Plan, Route},
    vpc::{RealisedVpc, TransitLink},
};

/// Plans new peering links, then the routing table of every realised subnet.
pub(crate) fn plan_routes(
    plan: &mut Plan,
    state: &mut State,
    topology: &Topology,
) -> Result<(), FabricError> {
    for peering in &topology.peerings {
        plan_peering(plan, state, peering);
    }
    for (vpc_id, realised) in &state.vpcs {
        for subnet in topology.subnets.iter().filter(|s| &s.vpc_id == vpc_id) {
            plan_subnet_table(plan, realised, topology, &state.hosts, subnet);
        }
    }
    Ok(())
}

/// A link between the routers of a peering's two VPCs, once both are realised.
fn plan_peering(plan: &mut Plan, state: &mut State, peering: &Peering) {
    if state.peerings.contains(&peering.id) {
        return;
    }
    let (Some(a), Some(b)) = (
        state.vpcs.get(&peering.requester_vpc_id),
        state.vpcs.get(&peering.accepter_vpc_id),
    ) else {
        return;
    };
    let (a, b) = (a.router.clone(), b.router.clone());
    let device = names::device(DeviceKind::Peering, &peering.id);
    let (near, far) = state.links.next();
    plan.veth(End::new(&a, &device), End::new(&b, &device));
    plan.address(&a, &device, near, 30);
    plan.address(&b, &device, far, 30);
    for router in [&a, &b] {
        plan.lookup_then_blackhole(router, &device, LOCAL_TABLE);
    }
    let sides = [
        (&peering.requester_vpc_id, near, far),
        (&peering.accepter_vpc_id, far, near),
    ];
    for (vpc_id, near, far) in sides {
        if let Some(v) = state.vpcs.get_mut(vpc_id) {
            let link = TransitLink {
                device: device.clone(),
                near,
                far,
            };
            v.peer_links.insert(peering.id.clone(), link);
        }
    }
    state.peerings.push(peering.id.clone());
}

/// Rewrites the subnet's routing table from its route table (none: the table stays empty and
/// the blackhole rule drops), gateway endpoints included.
fn plan_subnet_table(
    plan: &mut Plan,
    realised: &RealisedVpc,
    topology: &Topology,
    hosts: &[Host],
    subnet: &Subnet,
) {
    let Some(number) = realised.subnets.get(&subnet.id).map(|s| s.table) else {
        return;
    };
    let router = &realised.router;
    plan.flush_table(router, number);
    let Some(table) = topology.route_table_of(subnet) else {
        return;
    };
    for route in &table.routes {
        for kernel_route in
            kernel_routes(realised, topology, hosts, route.destination, &route.target)
        {
            plan.route(router, kernel_route.in_table(number));
        }
    }
    let carried = topology
        .endpoints
        .iter()
        .filter(|e| e.kind == EndpointKind::Gateway && e.route_table_ids.contains(&table.id));
    for endpoint in carried {
        if let Some(link) = realised.gateway_endpoints.get(&endpoint.id) {
            plan.route(
                router,
                endpoints::gateway_route(link, endpoint).in_table(number),
            );
        }
    }
}

/// The kernel routes (main table; the caller picks the table) for one route of a route table;
/// none for a target the fabric has not realised, so packets are dropped.
fn kernel_routes(
    realised: &RealisedVpc,
    topology: &Topology,
    hosts: &[Host],
    destination: Ipv4Net,
    target: &RouteTarget,
) -> Vec<Route> {
    let via_host = |address, subnet_id: &str| {
        let bridge = &realised.subnets.get(subnet_id)?.bridge;
        Some(Route::via(destination, address, bridge))
    };
    let through = |link: &TransitLink| Route::via(destination, link.far, &link.device);
    match target {
        RouteTarget::Local => topology
            .subnets
            .iter()
            .filter(|s| destination.contains(&s.cidr))
            .filter_map(|s| {
                let bridge = &realised.subnets.get(&s.id)?.bridge;
                Some(Route {
                    destination: s.cidr,
                    via: None,
                    device: Some(bridge.clone()),
                    table: None,
                })
            })
            .collect(),
        RouteTarget::InternetGateway(igw) => {
            let attached = topology
                .internet_gateways
                .iter()
                .any(|g| &g.id == igw && g.vpc_id.is_some());
            match &realised.internet_gateway {
                Some(link) if attached => vec![through(link)],
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
            .map(through)
            .into_iter()
            .collect(),
        RouteTarget::Other(_) => Vec::new(),
    }
}
