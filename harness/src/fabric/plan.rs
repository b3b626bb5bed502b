//! A realisation plan: the namespaces, links, addresses, routes and rule sets that make part
//! of a topology behave, applied in a few batched commands (one `ip -batch` for the links,
//! then one `ip -batch`, one sysctl and one `nft -f` per namespace, in parallel).

use std::collections::BTreeMap;

use futures_util::future::try_join_all;

use super::{FabricError, netns};

/// What to create, grouped by namespace.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    namespaces: Vec<String>,
    links: Vec<String>,
    inside: BTreeMap<String, NamespacePlan>,
}

#[derive(Debug, Default)]
struct NamespacePlan {
    ip: Vec<String>,
    sysctl: Vec<(&'static str, String)>,
    nft: Option<String>,
    resolver: Option<std::net::Ipv4Addr>,
}

impl Plan {
    /// A new namespace, with its loopback up.
    pub(crate) fn namespace(&mut self, name: &str) {
        self.namespaces.push(name.to_owned());
        self.ip(name, "link set lo up");
    }

    /// The namespaces this plan creates.
    pub(crate) fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// A veth pair: `a_name` in `a`, `b_name` in `b`, both brought up.
    pub(crate) fn veth(&mut self, a: &str, a_name: &str, b: &str, b_name: &str) {
        self.links.push(format!(
            "link add {a_name} netns {a} type veth peer name {b_name} netns {b}"
        ));
        self.ip(a, &format!("link set {a_name} up"));
        self.ip(b, &format!("link set {b_name} up"));
    }

    /// One `ip` command (without the leading `ip`) to run inside `netns`.
    pub(crate) fn ip(&mut self, netns: &str, command: &str) {
        self.entry(netns).ip.push(command.to_owned());
    }

    /// A kernel parameter inside `netns`.
    pub(crate) fn sysctl(&mut self, netns: &str, key: &'static str, value: &str) {
        self.entry(netns).sysctl.push((key, value.to_owned()));
    }

    /// The nftables rule set of `netns` (replaces any earlier one in this plan).
    pub(crate) fn nft(&mut self, netns: &str, ruleset: String) {
        self.entry(netns).nft = Some(ruleset);
    }

    /// The resolver written to `netns`'s `resolv.conf` (used by `ip netns exec`).
    pub(crate) fn resolver(&mut self, netns: &str, address: std::net::Ipv4Addr) {
        self.entry(netns).resolver = Some(address);
    }

    fn entry(&mut self, netns: &str) -> &mut NamespacePlan {
        self.inside.entry(netns.to_owned()).or_default()
    }

    /// Applies the plan. On error the caller deletes `namespaces()`.
    pub(crate) async fn apply(self) -> Result<(), FabricError> {
        let mut global: Vec<String> = self
            .namespaces
            .iter()
            .map(|name| format!("netns add {name}"))
            .collect();
        global.extend(self.links);
        netns::ip_batch(None, &global).await?;
        try_join_all(self.inside.into_iter().map(|(name, plan)| async move {
            if let Some(resolver) = plan.resolver {
                let dir = netns::etc_dir(&name);
                std::fs::create_dir_all(&dir)
                    .and_then(|()| {
                        std::fs::write(
                            dir.join("resolv.conf"),
                            format!("nameserver {resolver}\noptions timeout:2 attempts:3\n"),
                        )
                    })
                    .map_err(|e| FabricError::Command {
                        what: format!("write {}/resolv.conf", dir.display()),
                        stderr: e.to_string(),
                        input: String::new(),
                    })?;
            }
            if !plan.sysctl.is_empty() {
                let settings: Vec<(&str, &str)> =
                    plan.sysctl.iter().map(|(k, v)| (*k, v.as_str())).collect();
                netns::sysctl(&name, &settings).await?;
            }
            netns::ip_batch(Some(&name), &plan.ip).await?;
            if let Some(ruleset) = plan.nft {
                netns::nft(&name, &ruleset).await?;
            }
            Ok::<_, FabricError>(())
        }))
        .await?;
        Ok(())
    }
}
