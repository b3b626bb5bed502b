//! A VPC's gateways: NAT gateways as ENI namespaces that masquerade, and the internet gateway
//! as a link to the sealed internet with one-to-one translation for addresses that have a
//! public IP; anything else leaving through it is dropped, as AWS does for hosts without one.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{
    FabricError, Host, HostKind, internet,
    model::Vpc,
    names::{self, DeviceKind, LOCAL_TABLE},
    nft::{Addresses, Chain, Hook, Match, Policy, Rule, Table, Verdict},
    plan::{End, Route},
    vpc::{self, Planning, TransitLink},
};

/// Kernel parameters of a NAT gateway's namespace: it forwards, and answers for addresses that
/// are not its own.
const NAT_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv4.conf.all.send_redirects", "0"),
    ("net.ipv4.conf.eth0.send_redirects", "0"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.eth0.rp_filter", "0"),
];

/// An ENI namespace for each NAT gateway of `vpc` not realised yet, masquerading what it
/// forwards; its Elastic IP is mapped at the internet gateway.
pub(crate) fn plan_nat_gateways(planning: &mut Planning<'_>, vpc: &Vpc) -> Result<(), FabricError> {
    for nat in &planning.topology.nat_gateways {
        let kind = HostKind::NatGateway { id: nat.id.clone() };
        if planning.state.hosts.iter().any(|h| h.kind == kind) {
            continue;
        }
        let Some(subnet) = planning
            .topology
            .subnet(&nat.subnet_id)
            .filter(|s| s.vpc_id == vpc.id)
        else {
            continue;
        };
        let owner = format!("NAT gateway {}", nat.id);
        if vpc::emulator_placeholder(subnet, nat.private_ip, &owner) {
            continue;
        }
        let host = Host {
            netns: String::new(),
            // Without an interface of its own (none described), the gateway's id names it.
            eni_id: nat.interface_id.clone().unwrap_or_else(|| nat.id.clone()),
            vpc_id: vpc.id.clone(),
            subnet_id: subnet.id.clone(),
            address: nat.private_ip,
            public_address: nat.public_ip,
            group_ids: Vec::new(),
            role: format!("NAT gateway {}", nat.id),
            kind,
        };
        let host = vpc::plan_host(planning.plan, planning.state, planning.prefix, subnet, host)?;
        planning.plan.sysctls(&host.netns, NAT_SYSCTLS);
        planning
            .plan
            .firewall(&host.netns, nat_firewall(nat.private_ip));
        planning.state.hosts.push(host);
    }
    Ok(())
}

/// A NAT gateway's rules: what it forwards leaves with its own address.
fn nat_firewall(own: Ipv4Addr) -> Table {
    Table {
        chains: vec![Chain::postrouting(vec![Rule::new(
            vec![Match::source_not(Addresses::One(own))],
            Verdict::Masquerade,
        )])],
    }
}

/// The internet gateway's link the first time one is attached to `vpc`, then at every sync a
/// route on the internet for each new public address and the translation rules for all.
pub(crate) fn plan_internet_gateway(planning: &mut Planning<'_>, vpc: &Vpc) {
    let inet = internet::internet_netns(planning.prefix);
    let attached = planning
        .topology
        .internet_gateways
        .iter()
        .find(|g| g.vpc_id.as_deref() == Some(&vpc.id));
    let state = &mut *planning.state;
    let Some(realised) = state.vpcs.get_mut(&vpc.id) else {
        return;
    };
    let plan = &mut *planning.plan;
    if let Some(igw) = attached
        && realised.internet_gateway.is_none()
    {
        let (near, far) = state.links.next();
        let device = names::device(DeviceKind::InternetGateway, &igw.id);
        plan.veth(
            End::new(&realised.router, &device),
            End::new(&inet, &device),
        );
        plan.address(&realised.router, &device, near, 30);
        plan.address(&inet, &device, far, 30);
        plan.lookup_then_blackhole(&realised.router, &device, LOCAL_TABLE);
        realised.internet_gateway = Some(TransitLink { device, near, far });
    }
    let Some(link) = realised.internet_gateway.clone() else {
        return;
    };
    let public_map: Vec<(Ipv4Addr, Ipv4Addr)> = state
        .hosts
        .iter()
        .filter(|h| h.vpc_id == vpc.id)
        .filter_map(|h| Some((h.address, h.public_address?)))
        .collect();
    for (_, public) in &public_map {
        if !realised.public_routes.contains(public) {
            let destination = Ipv4Net::from(*public);
            plan.route(&inet, Route::via(destination, link.near, &link.device));
            realised.public_routes.push(*public);
        }
    }
    plan.firewall(&realised.router, igw_firewall(&link.device, &public_map));
}

/// The internet gateway's rules on `device`: one-to-one translation for each (private, public)
/// pair, and a drop for anything else leaving through it.
fn igw_firewall(device: &str, public_map: &[(Ipv4Addr, Ipv4Addr)]) -> Table {
    let inbound = Match::InputName(device.to_owned());
    let outbound = Match::OutputName(device.to_owned());
    let dnat = public_map.iter().map(|(private, public)| {
        Rule::new(
            vec![inbound.clone(), Match::destination(Addresses::One(*public))],
            Verdict::Dnat(*private),
        )
    });
    let snat = public_map.iter().map(|(private, public)| {
        Rule::new(
            vec![outbound.clone(), Match::source(Addresses::One(*private))],
            Verdict::Snat(*public),
        )
    });
    let mut no_public = vec![outbound.clone()];
    if !public_map.is_empty() {
        let privates = public_map.iter().map(|(private, _)| *private).collect();
        no_public.push(Match::source_not(Addresses::Set(privates)));
    }
    let forward = Chain {
        name: "forward",
        hook: Hook::Forward,
        policy: Policy::Accept,
        rules: vec![Rule::new(no_public, Verdict::Drop).comment("no public address")],
    };
    Table {
        chains: vec![
            Chain::prerouting(dnat.collect()),
            Chain::postrouting(snat.collect()),
            forward,
        ],
    }
}
