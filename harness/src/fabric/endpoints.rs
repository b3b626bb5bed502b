//! A VPC's endpoints: a gateway endpoint is a link from the router to a service namespace of
//! its own (the route tables it names send the service's address there); an interface endpoint
//! is an ENI namespace per network interface, answering for the service; their DNS names.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{
    FabricError, Host, HostKind, addressing, dns,
    front_door::Door,
    model::{Endpoint, EndpointKind, Topology, Vpc},
    names::{self, DeviceKind, LOCAL_TABLE},
    plan::{End, Route},
    vpc::{self, Planning, Service, TransitLink},
};

/// Plans the endpoints of `vpc` that are not realised yet.
pub(crate) fn plan_endpoints(planning: &mut Planning<'_>, vpc: &Vpc) -> Result<(), FabricError> {
    for endpoint in planning
        .topology
        .endpoints
        .iter()
        .filter(|e| e.vpc_id == vpc.id)
    {
        match endpoint.kind {
            EndpointKind::Gateway => plan_gateway_endpoint(planning, vpc, endpoint),
            EndpointKind::Interface => plan_interface_endpoint(planning, vpc, endpoint)?,
        }
    }
    Ok(())
}

/// A gateway endpoint's service namespace, holding the service's address, linked to the
/// router; `routes` points the route tables it names at the link.
fn plan_gateway_endpoint(planning: &mut Planning<'_>, vpc: &Vpc, endpoint: &Endpoint) {
    let service = endpoint.service();
    let state = &mut *planning.state;
    let Some(realised) = state.vpcs.get_mut(&vpc.id) else {
        return;
    };
    if !addressing::has_gateway_endpoint(service)
        || realised.gateway_endpoints.contains_key(&endpoint.id)
    {
        return;
    }
    let service_address = addressing::service_address(service);
    let netns = names::namespace(planning.prefix, &endpoint.id);
    let device = names::device(DeviceKind::GatewayEndpoint, &endpoint.id);
    let (near, far) = state.links.next();
    let plan = &mut *planning.plan;
    plan.namespace(&netns);
    plan.veth(
        End::new(&realised.router, &device),
        End::new(&netns, "eth0"),
    );
    plan.address(&realised.router, &device, near, 30);
    plan.lookup_then_blackhole(&realised.router, &device, LOCAL_TABLE);
    plan.address(&netns, "eth0", far, 30);
    plan.address(&netns, "lo", service_address, 32);
    plan.route(
        &netns,
        Route {
            destination: vpc.cidr,
            via: Some(near),
            device: None,
            table: None,
        },
    );
    planning.services.push(Service::Endpoint {
        netns,
        address: service_address,
        service: service.to_owned(),
        region: endpoint.region().to_owned(),
        door: None,
    });
    realised
        .gateway_endpoints
        .insert(endpoint.id.clone(), TransitLink { device, near, far });
}

/// An ENI namespace for each of the endpoint's network interfaces not realised yet, in the
/// endpoint's security groups (else the interface's), answering for the service.
fn plan_interface_endpoint(
    planning: &mut Planning<'_>,
    vpc: &Vpc,
    endpoint: &Endpoint,
) -> Result<(), FabricError> {
    let topology = planning.topology;
    for eni_id in &endpoint.interface_ids {
        if planning.state.hosts.iter().any(|h| &h.eni_id == eni_id) {
            continue;
        }
        let Some(interface) = topology.interfaces.iter().find(|i| &i.id == eni_id) else {
            continue;
        };
        let Some(subnet) = topology
            .subnet(&interface.subnet_id)
            .filter(|s| s.vpc_id == vpc.id)
        else {
            continue;
        };
        let owner = format!("endpoint {} interface {}", endpoint.id, interface.id);
        if vpc::emulator_placeholder(subnet, interface.private_ip, &owner) {
            continue;
        }
        let group_ids = if endpoint.group_ids.is_empty() {
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
            group_ids,
            role: format!("VPC endpoint {} ({})", endpoint.id, endpoint.service()),
            kind: HostKind::Endpoint {
                id: endpoint.id.clone(),
            },
        };
        let host = vpc::plan_host(planning.plan, planning.state, planning.prefix, subnet, host)?;
        planning.services.push(Service::Endpoint {
            netns: host.netns.clone(),
            address: host.address,
            service: endpoint.service().to_owned(),
            region: endpoint.region().to_owned(),
            door: (endpoint.service() == "execute-api").then(|| Door::Endpoint {
                id: endpoint.id.clone(),
                vpc_id: endpoint.vpc_id.clone(),
                region: endpoint.region().to_owned(),
            }),
        });
        planning.state.hosts.push(host);
    }
    Ok(())
}

/// The route a route table gets for a gateway endpoint it carries: the service's address
/// through the endpoint's link.
pub(crate) fn gateway_route(link: &TransitLink, endpoint: &Endpoint) -> Route {
    let service = Ipv4Net::from(addressing::service_address(endpoint.service()));
    Route::via(service, link.far, &link.device)
}

/// Rebuilds the DNS records: endpoint names publicly, private DNS names inside their VPC, and
/// the `{api}-{vpce}.execute-api` names of `aliases` (API id, endpoint id) publicly.
pub(crate) fn add_names(
    zones: &mut dns::Zones,
    topology: &Topology,
    hosts: &[Host],
    aliases: &[(String, String)],
) {
    *zones = dns::Zones::default();
    for zone in &topology.hosted_zones {
        zones.add_hosted_zone(zone);
    }
    for host in hosts {
        if let HostKind::Database { name, .. } = &host.kind {
            zones.add_public(name, vec![host.address]);
        }
    }
    for (api, vpce) in aliases {
        let addresses = endpoint_addresses(hosts, vpce);
        let endpoint = topology.endpoints.iter().find(|e| &e.id == vpce);
        if let Some(region) = endpoint.map(Endpoint::region)
            && !addresses.is_empty()
        {
            zones.add_public(
                &format!("{api}-{vpce}.execute-api.{region}.amazonaws.com"),
                addresses,
            );
        }
    }
    for endpoint in topology
        .endpoints
        .iter()
        .filter(|e| e.kind == EndpointKind::Interface)
    {
        let addresses = endpoint_addresses(hosts, &endpoint.id);
        if addresses.is_empty() {
            continue;
        }
        let region = endpoint.region();
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

/// The ENI addresses of endpoint `id`.
fn endpoint_addresses(hosts: &[Host], id: &str) -> Vec<Ipv4Addr> {
    hosts
        .iter()
        .filter(|h| matches!(&h.kind, HostKind::Endpoint { id: e } if e == id))
        .map(|h| h.address)
        .collect()
}
