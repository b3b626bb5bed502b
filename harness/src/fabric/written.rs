//! What the fabric last wrote whole into each namespace: its rewritten routing tables and its
//! nftables table. A sync rewrites every subnet's routes and every host's security groups; a
//! plan leaves out the rewrites that would write the same again, so a sync costs what changed,
//! not what exists (the topology grows with every stack of a world).

use std::collections::HashMap;

use super::{
    nft,
    plan::{Plan, Route},
};

/// Rewrites applied so far, by namespace.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// (namespace, table) -> the routes it was rewritten with.
    tables: HashMap<(String, u32), Vec<Route>>,
    /// namespace -> vpclab's nftables table there.
    firewalls: HashMap<String, nft::Table>,
}

impl Written {
    /// Takes out of `plan` the table and firewall rewrites that would write what is there.
    pub(crate) fn skip_unchanged(&self, plan: &mut Plan) {
        for (name, namespace) in &mut plan.namespaces {
            if namespace.firewall.is_some()
                && namespace.firewall.as_ref() == self.firewalls.get(name)
            {
                namespace.firewall = None;
            }
            let unchanged: Vec<u32> = namespace
                .flushed_tables
                .iter()
                .copied()
                .filter(|table| {
                    self.tables.get(&(name.clone(), *table))
                        == Some(&routes_of(&namespace.routes, *table))
                })
                .collect();
            namespace.flushed_tables.retain(|t| !unchanged.contains(t));
            namespace
                .routes
                .retain(|r| !r.table.is_some_and(|t| unchanged.contains(&t)));
        }
    }

    /// What `plan` rewrites whole, to record once it has applied.
    pub(crate) fn of(plan: &Plan) -> Self {
        let mut written = Self::default();
        for (name, namespace) in &plan.namespaces {
            for table in &namespace.flushed_tables {
                let routes = routes_of(&namespace.routes, *table);
                written.tables.insert((name.clone(), *table), routes);
            }
            if let Some(firewall) = &namespace.firewall {
                written.firewalls.insert(name.clone(), firewall.clone());
            }
        }
        written
    }

    /// Records an applied plan: its rewrites, and that tables it only added routes to are no
    /// longer known whole.
    pub(crate) fn record(&mut self, plan_rewrites: Self, added_to: &[(String, u32)]) {
        for key in added_to {
            self.tables.remove(key);
        }
        self.tables.extend(plan_rewrites.tables);
        self.firewalls.extend(plan_rewrites.firewalls);
    }

    /// Forgets what was written in `namespaces` (a plan there failed part way, or they are
    /// gone): their next rewrite is applied whatever it says.
    pub(crate) fn forget(&mut self, namespaces: &[String]) {
        self.tables
            .retain(|(name, _), _| !namespaces.contains(name));
        self.firewalls.retain(|name, _| !namespaces.contains(name));
    }
}

/// The tables `plan` adds routes to without rewriting them whole.
pub(crate) fn added_to(plan: &Plan) -> Vec<(String, u32)> {
    plan.namespaces
        .iter()
        .flat_map(|(name, namespace)| {
            namespace
                .routes
                .iter()
                .filter_map(|r| r.table)
                .filter(|t| !namespace.flushed_tables.contains(t))
                .map(|t| (name.clone(), t))
        })
        .collect()
}

fn routes_of(routes: &[Route], table: u32) -> Vec<Route> {
    routes
        .iter()
        .filter(|r| r.table == Some(table))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_plan(gateway: &str) -> Plan {
        let mut plan = Plan::default();
        plan.flush_table("router", 101);
        plan.route(
            "router",
            Route {
                destination: "0.0.0.0/0".parse().unwrap(),
                via: Some(gateway.parse().unwrap()),
                device: None,
                table: Some(101),
            },
        );
        plan.firewall("host", nft::Table::default());
        plan
    }

    #[test]
    fn the_same_rewrite_is_left_out_and_a_changed_one_kept() {
        let mut written = Written::default();
        let first = table_plan("10.0.0.1");
        written.record(Written::of(&first), &added_to(&first));

        let mut again = table_plan("10.0.0.1");
        written.skip_unchanged(&mut again);
        assert!(again.namespaces["router"].flushed_tables.is_empty());
        assert!(again.namespaces["router"].routes.is_empty());
        assert!(again.namespaces["host"].firewall.is_none());

        let mut changed = table_plan("10.0.0.9");
        written.skip_unchanged(&mut changed);
        assert_eq!(changed.namespaces["router"].flushed_tables, vec![101]);
        assert_eq!(changed.namespaces["router"].routes.len(), 1);
    }

    #[test]
    fn a_forgotten_or_added_to_table_is_rewritten() {
        let mut written = Written::default();
        let first = table_plan("10.0.0.1");
        written.record(Written::of(&first), &added_to(&first));
        written.forget(&["host".to_owned()]);
        let mut again = table_plan("10.0.0.1");
        written.skip_unchanged(&mut again);
        assert!(again.namespaces["host"].firewall.is_some());

        let mut addition = Plan::default();
        addition.route(
            "router",
            Route {
                destination: "10.9.0.0/16".parse().unwrap(),
                via: None,
                device: Some("eth1".into()),
                table: Some(101),
            },
        );
        written.record(Written::of(&addition), &added_to(&addition));
        let mut again = table_plan("10.0.0.1");
        written.skip_unchanged(&mut again);
        assert_eq!(again.namespaces["router"].flushed_tables, vec![101]);
    }
}
