//! A realisation plan as values: the namespaces, links, addresses, routes, policy rules,
//! kernel parameters, nftables table and resolver that make part of a topology behave.
//!
//! [`Plan::apply`] looks at what already exists, has [`super::render`] turn the plan into
//! batches, and runs them: one `ip -batch` for the namespaces and links, then per namespace
//! (in parallel) its resolver file, one `sysctl`, one `ip -batch` and one `nft -f`. Applying the
//! same plan twice changes nothing the second time and does not fail.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    net::Ipv4Addr,
};

use futures_util::future::try_join_all;
use ipnet::Ipv4Net;

use super::{FabricError, netns, nft, render};

/// What to create, grouped by namespace.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Namespace name -> what goes inside it.
    pub(crate) namespaces: BTreeMap<String, Namespace>,
    /// veth pairs, each joining two namespaces.
    pub(crate) veths: Vec<Veth>,
}

/// What one namespace holds.
#[derive(Debug, Default)]
pub(crate) struct Namespace {
    /// Whether this plan creates the namespace (it is deleted again if the plan fails).
    pub(crate) created: bool,
    /// Bridges to create.
    pub(crate) bridges: Vec<String>,
    /// Interfaces to bring up (loopback, bridges, veth ends).
    pub(crate) up: Vec<String>,
    /// Interface -> the bridge it becomes a port of.
    pub(crate) ports: Vec<(String, String)>,
    /// Addresses on interfaces.
    pub(crate) addresses: Vec<Address>,
    /// Routing tables emptied before `routes` are added (they are rewritten whole).
    pub(crate) flushed_tables: Vec<u32>,
    /// Routes.
    pub(crate) routes: Vec<Route>,
    /// Policy-routing rules.
    pub(crate) rules: Vec<PolicyRule>,
    /// Kernel parameters.
    pub(crate) sysctls: Vec<Sysctl>,
    /// vpclab's nftables table in this namespace (replaces the one there).
    pub(crate) firewall: Option<nft::Table>,
    /// The resolver `ip netns exec` gives processes here (`/etc/netns/<ns>/resolv.conf`).
    pub(crate) resolver: Option<Ipv4Addr>,
}

/// One end of a veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct End {
    /// The namespace it sits in.
    pub(crate) netns: String,
    /// Its interface name there.
    pub(crate) device: String,
}

/// A veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Veth {
    /// The end created first (its existence says whether the pair exists).
    pub(crate) a: End,
    /// The other end.
    pub(crate) b: End,
}

/// An address on an interface, with the prefix length of its network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// The interface.
    pub(crate) device: String,
    /// The address and prefix length (host bits kept).
    pub(crate) address: Ipv4Net,
}

/// Where a route sends packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The destination block (`0.0.0.0/0` for the default route).
    pub(crate) destination: Ipv4Net,
    /// The next hop, if the destination is not on the link.
    pub(crate) via: Option<Ipv4Addr>,
    /// The outgoing interface, if it must be named.
    pub(crate) device: Option<String>,
    /// The routing table (None: main).
    pub(crate) table: Option<u32>,
}

/// A policy-routing rule for packets arriving on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyRule {
    /// The incoming interface.
    pub(crate) iif: String,
    /// Its priority (`pref`): lower ones are consulted first.
    pub(crate) priority: u32,
    /// What it does.
    pub(crate) action: RuleAction,
}

/// What a policy rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleAction {
    /// Look the destination up in this table.
    Lookup(u32),
    /// Drop silently: no route means no path, as in AWS.
    Blackhole,
}

/// A kernel parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sysctl {
    /// The key (`net.ipv4.ip_forward`).
    pub(crate) key: String,
    /// Its value.
    pub(crate) value: &'static str,
}

/// The priority of rules that look up an interface's table.
pub(crate) const LOOKUP_PRIORITY: u32 = 100;
/// The priority of the blackhole behind them.
pub(crate) const BLACKHOLE_PRIORITY: u32 = 200;

/// What exists already where a plan is applied.
#[derive(Debug, Default)]
pub(crate) struct Existing {
    /// Namespaces that exist.
    pub(crate) namespaces: HashSet<String>,
    /// Namespace -> its interfaces.
    pub(crate) links: HashMap<String, HashSet<String>>,
    /// Namespace -> its policy rules as (priority, incoming interface).
    pub(crate) rules: HashMap<String, HashSet<(u32, String)>>,
}

impl Existing {
    /// Whether `device` exists in `netns`.
    pub(crate) fn has_link(&self, netns: &str, device: &str) -> bool {
        self.links.get(netns).is_some_and(|l| l.contains(device))
    }

    /// Whether a rule for `iif` at `priority` exists in `netns`.
    pub(crate) fn has_rule(&self, netns: &str, priority: u32, iif: &str) -> bool {
        self.rules
            .get(netns)
            .is_some_and(|r| r.contains(&(priority, iif.to_owned())))
    }
}

impl End {
    /// The end `device` in `netns`.
    pub(crate) fn new(netns: &str, device: &str) -> Self {
        Self {
            netns: netns.to_owned(),
            device: device.to_owned(),
        }
    }
}

impl Route {
    /// `destination` is on the link `device`, in `table`.
    pub(crate) fn on_link(destination: Ipv4Net, device: &str, table: u32) -> Self {
        Self {
            destination,
            via: None,
            device: Some(device.to_owned()),
            table: Some(table),
        }
    }

    /// `destination` is reached through `via` on `device` (main table until [`Route::in_table`]).
    pub(crate) fn via(destination: Ipv4Net, via: Ipv4Addr, device: &str) -> Self {
        Self {
            destination,
            via: Some(via),
            device: Some(device.to_owned()),
            table: None,
        }
    }

    /// The default route of the main table, through `via`.
    pub(crate) fn default_via(via: Ipv4Addr) -> Self {
        Self {
            destination: Ipv4Net::default(),
            via: Some(via),
            device: None,
            table: None,
        }
    }

    /// The same route in `table`.
    pub(crate) fn in_table(self, table: u32) -> Self {
        Self {
            table: Some(table),
            ..self
        }
    }
}

impl Plan {
    /// A new namespace, with its loopback up.
    pub(crate) fn namespace(&mut self, name: &str) {
        let namespace = self.entry(name);
        namespace.created = true;
        namespace.up.push("lo".into());
    }

    /// The namespaces this plan creates.
    pub(crate) fn created(&self) -> Vec<String> {
        self.namespaces
            .iter()
            .filter(|(_, n)| n.created)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// A veth pair joining `a` and `b`, both ends brought up.
    pub(crate) fn veth(&mut self, a: End, b: End) {
        self.entry(&a.netns).up.push(a.device.clone());
        self.entry(&b.netns).up.push(b.device.clone());
        self.veths.push(Veth { a, b });
    }

    /// A bridge in `netns`, brought up.
    pub(crate) fn bridge(&mut self, netns: &str, name: &str) {
        let namespace = self.entry(netns);
        namespace.bridges.push(name.to_owned());
        namespace.up.push(name.to_owned());
    }

    /// Makes `device` a port of `bridge`.
    pub(crate) fn port(&mut self, netns: &str, device: &str, bridge: &str) {
        self.entry(netns)
            .ports
            .push((device.to_owned(), bridge.to_owned()));
    }

    /// An address (with its network's prefix length) on `device`.
    pub(crate) fn address(&mut self, netns: &str, device: &str, address: Ipv4Addr, len: u8) {
        let address = Ipv4Net::new(address, len).unwrap_or_else(|_| Ipv4Net::from(address));
        self.entry(netns).addresses.push(Address {
            device: device.to_owned(),
            address,
        });
    }

    /// A route.
    pub(crate) fn route(&mut self, netns: &str, route: Route) {
        self.entry(netns).routes.push(route);
    }

    /// Empties `table` before this plan's routes are added to it.
    pub(crate) fn flush_table(&mut self, netns: &str, table: u32) {
        self.entry(netns).flushed_tables.push(table);
    }

    /// Packets arriving on `iif` look up `table`, then fall into a blackhole.
    pub(crate) fn lookup_then_blackhole(&mut self, netns: &str, iif: &str, table: u32) {
        let rules = &mut self.entry(netns).rules;
        for (priority, action) in [
            (LOOKUP_PRIORITY, RuleAction::Lookup(table)),
            (BLACKHOLE_PRIORITY, RuleAction::Blackhole),
        ] {
            rules.push(PolicyRule {
                iif: iif.to_owned(),
                priority,
                action,
            });
        }
    }

    /// Kernel parameters inside `netns`.
    pub(crate) fn sysctls(&mut self, netns: &str, settings: &[(&str, &'static str)]) {
        self.entry(netns)
            .sysctls
            .extend(settings.iter().map(|(key, value)| Sysctl {
                key: (*key).to_owned(),
                value,
            }));
    }

    /// vpclab's nftables table in `netns` (replaces any earlier one in this plan).
    pub(crate) fn firewall(&mut self, netns: &str, table: nft::Table) {
        self.entry(netns).firewall = Some(table);
    }

    /// The resolver written to `netns`'s `resolv.conf` (used by `ip netns exec`).
    pub(crate) fn resolver(&mut self, netns: &str, address: Ipv4Addr) {
        self.entry(netns).resolver = Some(address);
    }

    fn entry(&mut self, netns: &str) -> &mut Namespace {
        self.namespaces.entry(netns.to_owned()).or_default()
    }

    /// Namespaces whose links or rules must be known to render this plan idempotently.
    fn probed(&self) -> BTreeSet<&str> {
        let veth_ends = self.veths.iter().map(|v| v.a.netns.as_str());
        let with_state = self
            .namespaces
            .iter()
            .filter(|(_, n)| !n.bridges.is_empty() || !n.rules.is_empty())
            .map(|(name, _)| name.as_str());
        veth_ends.chain(with_state).collect()
    }

    /// Applies the plan. On error the caller deletes `created()`.
    pub(crate) async fn apply(self) -> Result<(), FabricError> {
        let existing = existing(&self).await?;
        let batches = render::render(&self, &existing);
        netns::ip_batch(None, &batches.global).await?;
        try_join_all(
            batches
                .namespaces
                .into_iter()
                .map(|(name, batch)| async move {
                    if let Some(resolv_conf) = &batch.resolv_conf {
                        write_resolv_conf(&name, resolv_conf)?;
                    }
                    if !batch.sysctls.is_empty() {
                        netns::sysctl(&name, &batch.sysctls).await?;
                    }
                    netns::ip_batch(Some(&name), &batch.ip).await?;
                    if let Some(ruleset) = &batch.nft {
                        netns::nft(&name, ruleset).await?;
                    }
                    Ok::<_, FabricError>(())
                }),
        )
        .await?;
        Ok(())
    }
}

/// What of `plan` exists already: its namespaces, and the links and rules of those it probes.
async fn existing(plan: &Plan) -> Result<Existing, FabricError> {
    let mut existing = Existing {
        namespaces: plan
            .namespaces
            .keys()
            .chain(plan.veths.iter().flat_map(|v| [&v.a.netns, &v.b.netns]))
            .filter(|name| netns::exists(name))
            .cloned()
            .collect(),
        ..Existing::default()
    };
    let probed: Vec<&str> = plan
        .probed()
        .into_iter()
        .filter(|name| existing.namespaces.contains(*name))
        .collect();
    let found = try_join_all(probed.iter().map(|name| async move {
        let links = netns::links(name).await?;
        let rules = netns::rules(name).await?;
        Ok::<_, FabricError>((name.to_string(), links, rules))
    }))
    .await?;
    for (name, links, rules) in found {
        existing.links.insert(name.clone(), links);
        existing.rules.insert(name, rules);
    }
    Ok(existing)
}

/// Writes the resolver file `ip netns exec` mounts over `/etc/resolv.conf`: left alone when it
/// already says `text`, else replaced whole (a new file renamed over it), so that a process
/// starting in the namespace never reads it empty or half written.
fn write_resolv_conf(netns: &str, text: &str) -> Result<(), FabricError> {
    let dir = netns::etc_dir(netns);
    let path = dir.join("resolv.conf");
    if std::fs::read_to_string(&path).is_ok_and(|current| current == text) {
        return Ok(());
    }
    let staged = dir.join(".resolv.conf.vpclab");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&staged, text))
        .and_then(|()| std::fs::rename(&staged, &path))
        .map_err(|e| FabricError::Command {
            what: format!("write {}/resolv.conf", dir.display()),
            stderr: e.to_string(),
            input: String::new(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fabric::nft::{Addresses, Chain, Match, Rule, Verdict};

    /// Two scratch namespaces joined by a veth, with a bridge, routes, rules, kernel
    /// parameters, a firewall and a resolver: everything a sync plans.
    fn scratch_plan(a: &str, b: &str) -> Plan {
        let mut plan = Plan::default();
        plan.namespace(a);
        plan.namespace(b);
        plan.sysctls(a, &[("net.ipv4.ip_forward", "1")]);
        plan.bridge(a, "br-test");
        plan.address(a, "br-test", Ipv4Addr::new(10, 9, 1, 1), 24);
        plan.veth(End::new(a, "en-test"), End::new(b, "eth0"));
        plan.port(a, "en-test", "br-test");
        plan.flush_table(a, 4321);
        plan.route(
            a,
            Route::via(
                "0.0.0.0/0".parse().unwrap(),
                Ipv4Addr::new(10, 9, 1, 5),
                "br-test",
            )
            .in_table(4321),
        );
        plan.lookup_then_blackhole(a, "br-test", 4321);
        plan.address(b, "eth0", Ipv4Addr::new(10, 9, 1, 5), 24);
        plan.route(b, Route::default_via(Ipv4Addr::new(10, 9, 1, 1)));
        plan.resolver(b, Ipv4Addr::new(10, 9, 0, 2));
        plan.firewall(
            b,
            nft::Table {
                chains: vec![Chain::postrouting(vec![Rule::new(
                    vec![Match::source_not(Addresses::One(Ipv4Addr::new(
                        10, 9, 1, 5,
                    )))],
                    Verdict::Masquerade,
                )])],
            },
        );
        plan
    }

    /// Two namespace names of this test process; these tests create namespaces, so they need
    /// root, and fail (never skip) without it.
    fn scratch_names(a: &str, b: &str) -> (String, String) {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test creates network namespaces: run it as root"
        );
        let name = |tag| format!("vlplantest{}-{tag}", std::process::id());
        (name(a), name(b))
    }

    /// Runs `nft list table` inside `netns`.
    fn vpclab_table(netns: &str) -> std::process::Output {
        std::process::Command::new(super::super::ip_tool())
            .args([
                "netns", "exec", netns, "nft", "list", "table", "inet", "vpclab",
            ])
            .output()
            .expect("run nft")
    }

    /// Needs root (it creates namespaces), like the fabric; fails, never skips, without it.
    #[tokio::test]
    async fn applying_a_plan_twice_leaves_the_same_state() {
        let (a, b) = scratch_names("a", "b");
        let names = vec![a.clone(), b.clone()];
        let outcome = async {
            scratch_plan(&a, &b).apply().await?;
            let rules_once = netns::rules(&a).await?;
            scratch_plan(&a, &b).apply().await?;
            let rules_twice = netns::rules(&a).await?;
            Ok::<_, FabricError>((rules_once, rules_twice, netns::links(&a).await?))
        }
        .await;
        let listed = vpclab_table(&b);
        let teardown = std::process::Command::new(super::super::ip_tool())
            .args(["netns", "exec", &b, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(render::firewall_teardown().as_bytes())?;
                child.wait()
            });
        let after_teardown = vpclab_table(&b);
        let problems = netns::delete_all(&names);
        let (rules_once, rules_twice, links) = outcome.unwrap_or_else(|e| panic!("{e}"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(rules_once, rules_twice);
        assert_eq!(rules_once.len(), 2, "{rules_once:?}");
        assert!(
            links.contains("br-test") && links.contains("en-test"),
            "{links:?}"
        );
        assert!(listed.status.success(), "the table exists once applied");
        let text = String::from_utf8_lossy(&listed.stdout);
        assert_eq!(text.matches("masquerade").count(), 1, "{text}");
        assert!(
            teardown.is_ok_and(|s| s.success()),
            "one delete removes the rules"
        );
        assert!(!after_teardown.status.success(), "no vpclab table is left");
    }

    /// A sync that fails part way (here a kernel setting that does not exist, after the links
    /// were made) leaves what it made in a state the same plan applies over: the retry
    /// succeeds, with no "File exists".
    #[tokio::test]
    async fn a_plan_that_failed_part_way_applies_on_retry() {
        let (a, b) = scratch_names("c", "d");
        let mut broken = scratch_plan(&a, &b);
        broken.sysctls(&b, &[("net.ipv4.vpclab_no_such_setting", "1")]);
        let failed = broken.apply().await;
        let retried = scratch_plan(&a, &b).apply().await;
        let links = netns::links(&a).await;
        let problems = netns::delete_all(&[a.clone(), b.clone()]);
        assert!(failed.is_err(), "the broken plan fails");
        retried.unwrap_or_else(|e| panic!("the retry applies: {e}"));
        let links = links.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            links.contains("br-test") && links.contains("en-test"),
            "{links:?}"
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    /// `ip -n <netns> <args>`; `args` back when it failed.
    fn ip_in(netns: &str, args: &str) -> Option<String> {
        let status = std::process::Command::new(super::super::ip_tool())
            .args(["-n", netns])
            .args(args.split_whitespace())
            .status();
        (!status.is_ok_and(|s| s.success())).then(|| args.to_owned())
    }

    /// A TCP connection from `from` to `to` (a bounded attempt): whether it was accepted.
    fn connects(from: &str, to: std::net::SocketAddr) -> bool {
        netns::inside(from, move || {
            std::net::TcpStream::connect_timeout(&to, std::time::Duration::from_secs(2))
        })
        .is_ok()
    }

    /// A host keeps reaching its subnet's router after a port with a lower MAC address joins
    /// the subnet's bridge (a function's ENI placed beside a test instance). A bridge that
    /// followed its lowest port would change its address, and the host, still holding the old
    /// one, would send to a port's address, which the router drops as not its own.
    #[tokio::test]
    async fn a_host_reaches_its_router_after_a_lower_port_joins_the_bridge() {
        let (a, b) = scratch_names("e", "f");
        let outcome = async {
            scratch_plan(&a, &b).apply().await?;
            netns::tcp_listener(&a, "10.9.1.1:8080".parse().expect("address"))
        }
        .await;
        let router = "10.9.1.1:8080".parse().expect("address");
        let (mut reached, mut failed) = (Vec::new(), Vec::new());
        if outcome.is_ok() {
            // The host's port has a high address and an earlier port a low one, as ENIs get.
            let mut ip = |args: &str| failed.extend(ip_in(&a, args));
            ip("link set en-test address fe:00:00:00:00:10");
            ip("link add en-mid address 00:00:00:00:00:05 type veth peer name pe-mid");
            ip("link set pe-mid up");
            ip("link set en-mid master br-test up");
            reached.push(connects(&b, router));
            ip("link add en-low address 00:00:00:00:00:01 type veth peer name pe-low");
            ip("link set pe-low up");
            ip("link set en-low master br-test up");
            reached.push(connects(&b, router));
        }
        let problems = netns::delete_all(&[a.clone(), b.clone()]);
        let _listener = outcome.unwrap_or_else(|e| panic!("{e}"));
        assert!(problems.is_empty(), "{problems:?}");
        assert!(failed.is_empty(), "ip commands failed: {failed:?}");
        assert_eq!(
            reached,
            [true, true],
            "the host reaches its router before and after the lower port joins"
        );
    }
}
