//! Security groups as nftables rule sets, one per ENI namespace: stateful (replies always
//! pass), inbound and outbound rules by CIDR or by referenced group, everything else dropped.
//! Traffic to the VPC resolver is not filtered, as in AWS.

use std::{collections::BTreeMap, net::Ipv4Addr};

use super::{
    model::{Peer, Rule, SecurityGroup},
    nft::{self, Addresses, Chain, Hook, Match, Policy, Side, Verdict},
};

/// The rules for an ENI in `groups`; `members` gives each group's ENI addresses.
pub(crate) fn firewall(
    groups: &[&SecurityGroup],
    members: &BTreeMap<String, Vec<Ipv4Addr>>,
    resolver: Ipv4Addr,
) -> nft::Table {
    let mut input = vec![
        nft::Rule::new(vec![Match::InputInterface("lo")], Verdict::Accept),
        nft::Rule::new(vec![Match::EstablishedOrRelated], Verdict::Accept),
    ];
    let mut output = vec![
        nft::Rule::new(vec![Match::OutputInterface("lo")], Verdict::Accept),
        nft::Rule::new(vec![Match::EstablishedOrRelated], Verdict::Accept),
        nft::Rule::new(
            vec![
                Match::destination(Addresses::One(resolver)),
                Match::Protocols(vec!["tcp".into(), "udp".into()]),
                Match::AnyDestinationPort(53),
            ],
            Verdict::Accept,
        ),
    ];
    for group in groups {
        input.extend(
            group
                .ingress
                .iter()
                .filter_map(|rule| accept(rule, Side::Source, members, &group.id)),
        );
        output.extend(
            group
                .egress
                .iter()
                .filter_map(|rule| accept(rule, Side::Destination, members, &group.id)),
        );
    }
    let chain = |name, hook, rules| Chain {
        name,
        hook,
        policy: Policy::Drop,
        rules,
    };
    nft::Table {
        chains: vec![
            chain("input", Hook::Input, input),
            chain("output", Hook::Output, output),
        ],
    }
}

/// The accept rule for one security group rule, the peer on `side`; None for a group rule
/// whose group has no members yet.
fn accept(
    rule: &Rule,
    side: Side,
    members: &BTreeMap<String, Vec<Ipv4Addr>>,
    group_id: &str,
) -> Option<nft::Rule> {
    let mut matches = Vec::new();
    let peer = match &rule.peer {
        Peer::Cidr(cidr) if cidr.prefix_len() == 0 => None,
        Peer::Cidr(cidr) => Some(Addresses::Block(*cidr)),
        Peer::Group(id) => Some(Addresses::Set(
            members.get(id).filter(|a| !a.is_empty())?.clone(),
        )),
    };
    if let Some(addresses) = peer {
        matches.push(Match::Address {
            side,
            negated: false,
            addresses,
        });
    }
    match (rule.protocol.as_str(), rule.ports) {
        ("all", _) => {}
        (protocol @ ("tcp" | "udp"), Some((from, to))) => {
            matches.push(Match::DestinationPorts {
                protocol: protocol.to_owned(),
                from,
                to,
            });
        }
        (other, _) => matches.push(Match::Protocols(vec![other.to_owned()])),
    }
    Some(nft::Rule::new(matches, Verdict::Accept).comment(group_id))
}

/// Whether `rule` lets `peer` (address and groups) through on `protocol`/`port`.
pub(crate) fn allows(
    rule: &Rule,
    peer: Ipv4Addr,
    peer_groups: &[String],
    protocol: &str,
    port: u16,
) -> bool {
    let peer_matches = match &rule.peer {
        Peer::Cidr(cidr) => cidr.contains(&peer),
        Peer::Group(id) => peer_groups.contains(id),
    };
    let protocol_matches = rule.protocol == "all" || rule.protocol == protocol;
    let port_matches = rule
        .ports
        .is_none_or(|(from, to)| (from..=to).contains(&port));
    peer_matches && protocol_matches && port_matches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(ingress: Vec<Rule>) -> SecurityGroup {
        SecurityGroup {
            id: "sg-1".into(),
            name: "service".into(),
            vpc_id: "vpc-1".into(),
            ingress,
            egress: vec![Rule {
                protocol: "all".into(),
                ports: None,
                peer: Peer::Cidr("0.0.0.0/0".parse().unwrap()),
            }],
        }
    }

    #[test]
    fn renders_cidr_group_and_default_egress_rules() {
        let g = group(vec![
            Rule {
                protocol: "tcp".into(),
                ports: Some((443, 443)),
                peer: Peer::Cidr("10.0.0.0/16".parse().unwrap()),
            },
            Rule {
                protocol: "tcp".into(),
                ports: Some((5000, 5100)),
                peer: Peer::Group("sg-2".into()),
            },
            Rule {
                protocol: "tcp".into(),
                ports: None,
                peer: Peer::Group("sg-empty".into()),
            },
        ]);
        let members = BTreeMap::from([("sg-2".to_owned(), vec![Ipv4Addr::new(10, 0, 2, 7)])]);
        let table = firewall(&[&g], &members, Ipv4Addr::new(10, 0, 0, 2));
        let text = crate::fabric::render::firewall(&table);
        assert!(
            text.contains("ip saddr 10.0.0.0/16 tcp dport 443 accept"),
            "{text}"
        );
        assert!(
            text.contains("ip saddr { 10.0.2.7 } tcp dport 5000-5100 accept"),
            "{text}"
        );
        assert!(!text.contains("sg-empty"), "{text}");
        assert!(text.contains("    accept comment \"sg-1\""), "{text}");
        assert!(text.contains("ip daddr 10.0.0.2"), "{text}");
    }

    #[test]
    fn allows_matches_peer_protocol_and_port() {
        let rule = Rule {
            protocol: "tcp".into(),
            ports: Some((5432, 5432)),
            peer: Peer::Group("sg-app".into()),
        };
        let ip = Ipv4Addr::new(10, 0, 2, 7);
        assert!(allows(&rule, ip, &["sg-app".into()], "tcp", 5432));
        assert!(!allows(&rule, ip, &["sg-other".into()], "tcp", 5432));
        assert!(!allows(&rule, ip, &["sg-app".into()], "tcp", 80));
    }
}
