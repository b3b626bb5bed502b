//! The one place where a [`Plan`] becomes command text: `ip -batch` lines, `sysctl` settings,
//! an `nft -f` transaction and a `resolv.conf` per namespace.
//!
//! Rendering is idempotent against what exists: namespaces, veths and bridges are created only
//! if missing, addresses and routes are replaced, policy rules are deleted then added, and the
//! nftables table is replaced whole in one transaction (`table`, `delete table`, `table {…}`),
//! so applying a plan again leaves the same state and does not fail. `iproute2` batches are
//! kept rather than netlink calls: one process per namespace runs every change of a sync, and a
//! sync of about ten namespaces takes 0.2 to 1 s.

use std::{collections::BTreeMap, fmt::Write};

use super::{
    nft::{self, Addresses, Chain, Hook, Match, Policy, Side, Verdict},
    plan::{Existing, Namespace, Plan, PolicyRule, Route, RuleAction},
};

/// A plan as command text.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    /// `ip -batch` lines run outside any namespace: namespaces, then veth pairs.
    pub(crate) global: Vec<String>,
    /// Namespace -> what runs inside it.
    pub(crate) namespaces: BTreeMap<String, NamespaceBatch>,
}

/// What runs inside one namespace, in this order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct NamespaceBatch {
    /// The contents of its `resolv.conf`.
    pub(crate) resolv_conf: Option<String>,
    /// `key=value` kernel parameters.
    pub(crate) sysctls: Vec<String>,
    /// `ip -n <ns> -batch` lines.
    pub(crate) ip: Vec<String>,
    /// The `nft -f` transaction replacing vpclab's table.
    pub(crate) nft: Option<String>,
}

/// Renders `plan` against what `existing` says is there already.
pub(crate) fn render(plan: &Plan, existing: &Existing) -> Batches {
    let mut global: Vec<String> = plan
        .namespaces
        .iter()
        .filter(|(name, n)| n.created && !existing.namespaces.contains(*name))
        .map(|(name, _)| format!("netns add {name}"))
        .collect();
    global.extend(
        plan.veths
            .iter()
            .filter(|v| !existing.has_link(&v.a.netns, &v.a.device))
            .map(|v| {
                format!(
                    "link add {} netns {} type veth peer name {} netns {}",
                    v.a.device, v.a.netns, v.b.device, v.b.netns
                )
            }),
    );
    let namespaces = plan
        .namespaces
        .iter()
        .map(|(name, namespace)| (name.clone(), namespace_batch(name, namespace, existing)))
        .collect();
    Batches { global, namespaces }
}

fn namespace_batch(name: &str, namespace: &Namespace, existing: &Existing) -> NamespaceBatch {
    NamespaceBatch {
        resolv_conf: namespace
            .resolver
            .map(|r| format!("nameserver {r}\noptions timeout:2 attempts:3\n")),
        sysctls: namespace
            .sysctls
            .iter()
            .map(|s| format!("{}={}", s.key, s.value))
            .collect(),
        ip: ip_lines(name, namespace, existing),
        nft: namespace.firewall.as_ref().map(firewall),
    }
}

/// A fixed, locally administered MAC address for `bridge` of `netns`. A bridge given none
/// takes its lowest port's and changes it whenever a lower port joins or that port leaves; a
/// host that learnt the old one (its subnet's router, and the VPC resolver behind it) then
/// sends to a port's address, which the router drops as not its own, until the host's
/// neighbour entry expires.
fn bridge_address(netns: &str, bridge: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (netns, bridge).hash(&mut hasher);
    let [a, b, c, d, e, ..] = hasher.finish().to_be_bytes();
    format!("02:{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}")
}

/// The `ip` lines of one namespace: links, then addresses, then routes, then rules.
fn ip_lines(name: &str, namespace: &Namespace, existing: &Existing) -> Vec<String> {
    let mut lines: Vec<String> = namespace
        .bridges
        .iter()
        .filter(|bridge| !existing.has_link(name, bridge))
        .map(|bridge| {
            let address = bridge_address(name, bridge);
            format!("link add {bridge} address {address} type bridge")
        })
        .collect();
    lines.extend(namespace.up.iter().map(|d| format!("link set {d} up")));
    lines.extend(
        namespace
            .ports
            .iter()
            .map(|(device, bridge)| format!("link set {device} master {bridge}")),
    );
    lines.extend(
        namespace
            .addresses
            .iter()
            .map(|a| format!("addr replace {} dev {}", a.address, a.device)),
    );
    lines.extend(
        namespace
            .flushed_tables
            .iter()
            .map(|t| format!("route flush table {t}")),
    );
    lines.extend(namespace.routes.iter().map(route));
    for rule in &namespace.rules {
        lines.extend(policy_rule(name, rule, existing));
    }
    lines
}

/// `route replace …`: adds the route, or changes the one with the same destination.
fn route(route: &Route) -> String {
    let mut line = format!("route replace {}", route.destination);
    if let Some(via) = route.via {
        let _ = write!(line, " via {via}");
    }
    if let Some(device) = &route.device {
        let _ = write!(line, " dev {device}");
    }
    if let Some(table) = route.table {
        let _ = write!(line, " table {table}");
    }
    line
}

/// A rule, deleted first if one with its interface and priority exists.
fn policy_rule(netns: &str, rule: &PolicyRule, existing: &Existing) -> Vec<String> {
    let PolicyRule {
        iif,
        priority,
        action,
    } = rule;
    let mut lines = Vec::new();
    if existing.has_rule(netns, *priority, iif) {
        lines.push(format!("rule del iif {iif} pref {priority}"));
    }
    lines.push(match action {
        RuleAction::Lookup(table) => format!("rule add iif {iif} lookup {table} pref {priority}"),
        RuleAction::Blackhole => format!("rule add iif {iif} pref {priority} blackhole"),
    });
    lines
}

/// The transaction that replaces vpclab's table with `table`: the first line creates it if
/// missing, so that deleting it cannot fail.
pub(crate) fn firewall(table: &nft::Table) -> String {
    let name = nft::TABLE;
    let mut text = format!("table {name}\ndelete table {name}\ntable {name} {{\n");
    for chain in &table.chains {
        text.push_str(&chain_text(chain));
    }
    text.push_str("}\n");
    text
}

/// The transaction that removes every rule vpclab put in a namespace: its one table.
#[cfg(test)]
pub(crate) fn firewall_teardown() -> String {
    format!("delete table {}\n", nft::TABLE)
}

fn chain_text(chain: &Chain) -> String {
    let (kind, hook, priority) = match chain.hook {
        Hook::Input => ("filter", "input", "filter"),
        Hook::Output => ("filter", "output", "filter"),
        Hook::Forward => ("filter", "forward", "filter"),
        Hook::Prerouting => ("nat", "prerouting", "dstnat"),
        Hook::Postrouting => ("nat", "postrouting", "srcnat"),
    };
    let policy = match chain.policy {
        Policy::Accept => "accept",
        Policy::Drop => "drop",
    };
    let mut text = format!(
        "  chain {} {{\n    type {kind} hook {hook} priority {priority}; policy {policy};\n",
        chain.name
    );
    for rule in &chain.rules {
        let _ = writeln!(text, "    {}", rule_text(rule));
    }
    text.push_str("  }\n");
    text
}

fn rule_text(rule: &nft::Rule) -> String {
    let mut parts: Vec<String> = rule.matches.iter().map(match_text).collect();
    parts.push(match rule.verdict {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Masquerade => "masquerade".into(),
        Verdict::Snat(to) => format!("snat ip to {to}"),
        Verdict::Dnat(to) => format!("dnat ip to {to}"),
    });
    if let Some(comment) = &rule.comment {
        parts.push(format!("comment \"{comment}\""));
    }
    parts.join(" ")
}

fn match_text(m: &Match) -> String {
    match m {
        Match::InputInterface(device) => format!("iif \"{device}\""),
        Match::OutputInterface(device) => format!("oif \"{device}\""),
        Match::InputName(device) => format!("iifname \"{device}\""),
        Match::OutputName(device) => format!("oifname \"{device}\""),
        Match::Address {
            side,
            negated,
            addresses,
        } => {
            let field = match side {
                Side::Source => "saddr",
                Side::Destination => "daddr",
            };
            let operator = if *negated { "!= " } else { "" };
            format!("ip {field} {operator}{}", addresses_text(addresses))
        }
        Match::EstablishedOrRelated => "ct state established,related".into(),
        Match::Protocols(protocols) => match protocols.as_slice() {
            [one] => format!("meta l4proto {one}"),
            many => format!("meta l4proto {{ {} }}", many.join(", ")),
        },
        Match::DestinationPorts { protocol, from, to } if from == to => {
            format!("{protocol} dport {from}")
        }
        Match::DestinationPorts { protocol, from, to } => format!("{protocol} dport {from}-{to}"),
        Match::AnyDestinationPort(port) => format!("th dport {port}"),
    }
}

fn addresses_text(addresses: &Addresses) -> String {
    match addresses {
        Addresses::One(address) => address.to_string(),
        Addresses::Block(block) => block.to_string(),
        Addresses::Set(set) => {
            let list: Vec<String> = set.iter().map(ToString::to_string).collect();
            format!("{{ {} }}", list.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::{HashMap, HashSet},
        net::Ipv4Addr,
    };

    use super::*;
    use crate::fabric::{
        nft::{Rule, Table},
        plan::End,
    };

    /// A router with one subnet bridge and a host on it, the shapes a sync plans.
    fn router_and_host() -> Plan {
        let mut plan = Plan::default();
        plan.namespace("t-router");
        plan.namespace("t-host");
        plan.bridge("t-router", "br-1");
        plan.address("t-router", "br-1", Ipv4Addr::new(10, 0, 1, 1), 24);
        plan.veth(End::new("t-router", "en-1"), End::new("t-host", "eth0"));
        plan.port("t-router", "en-1", "br-1");
        plan.flush_table("t-router", 1234);
        plan.route(
            "t-router",
            Route::via(
                "0.0.0.0/0".parse().unwrap(),
                Ipv4Addr::new(10, 0, 1, 9),
                "br-1",
            )
            .in_table(1234),
        );
        plan.lookup_then_blackhole("t-router", "br-1", 1234);
        plan.sysctls("t-router", &[("net.ipv4.ip_forward", "1")]);
        plan.address("t-host", "eth0", Ipv4Addr::new(10, 0, 1, 5), 24);
        plan.route("t-host", Route::default_via(Ipv4Addr::new(10, 0, 1, 1)));
        plan.resolver("t-host", Ipv4Addr::new(10, 0, 0, 2));
        plan.firewall(
            "t-host",
            Table {
                chains: vec![Chain::postrouting(vec![Rule::new(
                    vec![Match::source_not(Addresses::One(Ipv4Addr::new(
                        10, 0, 1, 5,
                    )))],
                    Verdict::Masquerade,
                )])],
            },
        );
        plan
    }

    #[test]
    fn a_new_plan_creates_everything_once() {
        let batches = render(&router_and_host(), &Existing::default());
        assert_eq!(
            batches.global,
            vec![
                "netns add t-host",
                "netns add t-router",
                "link add en-1 netns t-router type veth peer name eth0 netns t-host",
            ]
        );
        let router = &batches.namespaces["t-router"];
        assert_eq!(
            router.ip,
            vec![
                format!(
                    "link add br-1 address {} type bridge",
                    bridge_address("t-router", "br-1")
                )
                .as_str(),
                "link set lo up",
                "link set br-1 up",
                "link set en-1 up",
                "link set en-1 master br-1",
                "addr replace 10.0.1.1/24 dev br-1",
                "route flush table 1234",
                "route replace 0.0.0.0/0 via 10.0.1.9 dev br-1 table 1234",
                "rule add iif br-1 lookup 1234 pref 100",
                "rule add iif br-1 pref 200 blackhole",
            ]
        );
        assert_eq!(router.sysctls, vec!["net.ipv4.ip_forward=1"]);
        let host = &batches.namespaces["t-host"];
        assert!(
            host.ip
                .contains(&"route replace 0.0.0.0/0 via 10.0.1.1".to_owned())
        );
        assert_eq!(
            host.resolv_conf.as_deref(),
            Some("nameserver 10.0.0.2\noptions timeout:2 attempts:3\n")
        );
        assert_eq!(
            host.nft.as_deref(),
            Some(
                "table inet vpclab\n\
                 delete table inet vpclab\n\
                 table inet vpclab {\n\
                 \x20 chain post {\n\
                 \x20   type nat hook postrouting priority srcnat; policy accept;\n\
                 \x20   ip saddr != 10.0.1.5 masquerade\n\
                 \x20 }\n\
                 }\n"
            )
        );
    }

    #[test]
    fn what_exists_is_not_created_again_and_rules_are_replaced() {
        let existing = Existing {
            namespaces: HashSet::from(["t-router".to_owned(), "t-host".to_owned()]),
            links: HashMap::from([(
                "t-router".to_owned(),
                HashSet::from(["lo".to_owned(), "br-1".to_owned(), "en-1".to_owned()]),
            )]),
            rules: HashMap::from([(
                "t-router".to_owned(),
                HashSet::from([(100, "br-1".to_owned()), (200, "br-1".to_owned())]),
            )]),
        };
        let batches = render(&router_and_host(), &existing);
        assert!(batches.global.is_empty(), "{:?}", batches.global);
        let router = &batches.namespaces["t-router"].ip;
        assert!(
            !router.iter().any(|l| l.starts_with("link add")),
            "{router:?}"
        );
        let rules: Vec<&String> = router.iter().filter(|l| l.starts_with("rule")).collect();
        assert_eq!(
            rules,
            vec![
                "rule del iif br-1 pref 100",
                "rule add iif br-1 lookup 1234 pref 100",
                "rule del iif br-1 pref 200",
                "rule add iif br-1 pref 200 blackhole",
            ]
        );
    }

    #[test]
    fn every_match_and_verdict_renders_as_nft_reads_it() {
        let rule = Rule::new(
            vec![
                Match::InputName("ig-1".into()),
                Match::destination(Addresses::Set(vec![
                    Ipv4Addr::new(198, 18, 0, 1),
                    Ipv4Addr::new(198, 18, 0, 2),
                ])),
                Match::DestinationPorts {
                    protocol: "tcp".into(),
                    from: 5000,
                    to: 5100,
                },
            ],
            Verdict::Dnat(Ipv4Addr::new(10, 0, 1, 5)),
        )
        .comment("why");
        assert_eq!(
            rule_text(&rule),
            "iifname \"ig-1\" ip daddr { 198.18.0.1, 198.18.0.2 } tcp dport 5000-5100 \
             dnat ip to 10.0.1.5 comment \"why\""
        );
        let rule = Rule::new(
            vec![
                Match::Protocols(vec!["tcp".into(), "udp".into()]),
                Match::AnyDestinationPort(53),
            ],
            Verdict::Snat(Ipv4Addr::new(192, 0, 2, 1)),
        );
        assert_eq!(
            rule_text(&rule),
            "meta l4proto { tcp, udp } th dport 53 snat ip to 192.0.2.1"
        );
        assert_eq!(firewall_teardown(), "delete table inet vpclab\n");
    }
}
