//! Security groups as nftables rule sets, one per ENI namespace: stateful (replies always
//! pass), inbound and outbound rules by CIDR or by referenced group, everything else dropped.
//! Traffic to the VPC resolver is not filtered, as in AWS.

use std::{collections::BTreeMap, fmt::Write, net::Ipv4Addr};

use super::model::{Peer, Rule, SecurityGroup};

/// The rule set for an ENI in `groups`; `members` gives each group's ENI addresses.
pub(crate) fn ruleset(
    groups: &[&SecurityGroup],
    members: &BTreeMap<String, Vec<Ipv4Addr>>,
    resolver: Ipv4Addr,
) -> String {
    let mut input = String::new();
    let mut output = String::new();
    for group in groups {
        for rule in &group.ingress {
            if let Some(line) = render(rule, "saddr", members) {
                let _ = writeln!(input, "    {line} accept comment \"{}\"", group.id);
            }
        }
        for rule in &group.egress {
            if let Some(line) = render(rule, "daddr", members) {
                let _ = writeln!(output, "    {line} accept comment \"{}\"", group.id);
            }
        }
    }
    format!(
        "table inet vpclab_sg\n\
         delete table inet vpclab_sg\n\
         table inet vpclab_sg {{\n\
         \x20 chain input {{\n\
         \x20   type filter hook input priority filter; policy drop;\n\
         \x20   iif \"lo\" accept\n\
         \x20   ct state established,related accept\n\
         {input}\
         \x20 }}\n\
         \x20 chain output {{\n\
         \x20   type filter hook output priority filter; policy drop;\n\
         \x20   oif \"lo\" accept\n\
         \x20   ct state established,related accept\n\
         \x20   ip daddr {resolver} meta l4proto {{ tcp, udp }} th dport 53 accept\n\
         {output}\
         \x20 }}\n\
         }}\n"
    )
}

fn render(
    rule: &Rule,
    direction: &str,
    members: &BTreeMap<String, Vec<Ipv4Addr>>,
) -> Option<String> {
    let peer = match &rule.peer {
        Peer::Cidr(cidr) if cidr.prefix_len() == 0 => String::new(),
        Peer::Cidr(cidr) => format!("ip {direction} {cidr} "),
        Peer::Group(id) => {
            let addresses = members.get(id).filter(|a| !a.is_empty())?;
            let list: Vec<String> = addresses.iter().map(Ipv4Addr::to_string).collect();
            format!("ip {direction} {{ {} }} ", list.join(", "))
        }
    };
    let protocol = match (rule.protocol.as_str(), rule.ports) {
        ("all", _) => String::new(),
        (proto @ ("tcp" | "udp"), Some((from, to))) if from == to => {
            format!("{proto} dport {from} ")
        }
        (proto @ ("tcp" | "udp"), Some((from, to))) => format!("{proto} dport {from}-{to} "),
        (proto @ ("tcp" | "udp" | "icmp"), None) => format!("meta l4proto {proto} "),
        (other, _) => format!("meta l4proto {other} "),
    };
    Some(format!("{peer}{protocol}").trim_end().to_owned())
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
        let text = ruleset(&[&g], &members, Ipv4Addr::new(10, 0, 0, 2));
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
