//! Hosts on new ENIs: the probes a test places, functions' ENIs and database interfaces.
//!
//! Several hosts are placed in one step: their ENIs are created in EC2 a few at a time, their
//! namespaces are made in one plan, and each VPC's security groups are rewritten once.

use std::{collections::BTreeSet, net::Ipv4Addr};

use futures_util::StreamExt as _;

use crate::aws::{
    eni::{self, Allocation},
    error::CallError,
};

use super::{
    Fabric, FabricError, Host, HostKind, State, Topology, group_ids_or_default, known_subnet,
    model, plan::Plan, vpc,
};

/// How many ENIs a placement creates in EC2 at once (a subnet's own addresses are allocated
/// one at a time whatever this says).
const INTERFACE_CREATIONS_AT_ONCE: usize = 8;

/// A host to place: a test instance on a new ENI.
#[derive(Debug, Clone)]
pub struct HostRequest {
    /// The subnet of its ENI.
    pub subnet_id: String,
    /// Its security groups (none: the VPC's default group, as in AWS).
    pub group_ids: Vec<String>,
    /// Its ENI's description, for people.
    pub description: String,
}

impl HostRequest {
    /// A host in `subnet_id` with `group_ids`, described by `description`.
    pub fn new(
        subnet_id: impl Into<String>,
        group_ids: &[String],
        description: impl Into<String>,
    ) -> Self {
        Self {
            subnet_id: subnet_id.into(),
            group_ids: group_ids.to_vec(),
            description: description.into(),
        }
    }
}

/// What EC2 made for one host: its ENI, its address and its groups.
type Interface = (String, Ipv4Addr, Vec<String>);

impl Fabric {
    /// Places a host (a "test instance") on a new ENI in `subnet_id` with `group_ids`.
    pub async fn add_host(
        &self,
        subnet_id: &str,
        group_ids: &[String],
        description: &str,
    ) -> Result<Host, FabricError> {
        let mut state = self.state.lock().await;
        self.add_host_locked(
            &mut state,
            subnet_id,
            group_ids,
            description,
            HostKind::Probe,
        )
        .await
    }

    /// Places several hosts at once; the hosts come back in the order of `requests`.
    pub async fn add_hosts(&self, requests: &[HostRequest]) -> Result<Vec<Host>, FabricError> {
        let mut state = self.state.lock().await;
        let asked = requests.iter().map(|r| (r, HostKind::Probe)).collect();
        self.add_hosts_locked(&mut state, asked).await
    }

    /// Creates an ENI in EC2 and realises it as a host of `kind`, described by `role`.
    pub(super) async fn add_host_locked(
        &self,
        state: &mut State,
        subnet_id: &str,
        group_ids: &[String],
        role: &str,
        kind: HostKind,
    ) -> Result<Host, FabricError> {
        let request = HostRequest::new(subnet_id, group_ids, role);
        let mut hosts = self.add_hosts_locked(state, vec![(&request, kind)]).await?;
        hosts
            .pop()
            .ok_or_else(|| FabricError::Topology(format!("no host was made for {role}")))
    }

    /// Creates the ENIs of `asked` and realises them; every ENI made is deleted at teardown,
    /// whatever fails after it.
    async fn add_hosts_locked(
        &self,
        state: &mut State,
        asked: Vec<(&HostRequest, HostKind)>,
    ) -> Result<Vec<Host>, FabricError> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(FabricError::Topology(
                "the world is tearing down: no new network interface".into(),
            ));
        }
        let subnets = asked
            .iter()
            .map(|(request, _)| known_subnet(&state.topology, &request.subnet_id))
            .collect::<Result<Vec<_>, _>>()?;
        let made = self
            .create_interfaces(&state.topology, &subnets, &asked)
            .await;
        let mut hosts = Vec::with_capacity(made.len());
        let mut failed = None;
        for (((request, kind), subnet), made) in asked.into_iter().zip(&subnets).zip(made) {
            let (eni_id, address, group_ids) = match made {
                Ok(made) => made,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            let region = state.topology.region_of(&subnet.vpc_id).to_owned();
            state.created_interfaces.push((region, eni_id.clone()));
            hosts.push(Host {
                netns: String::new(),
                eni_id,
                vpc_id: subnet.vpc_id.clone(),
                subnet_id: subnet.id.clone(),
                address,
                public_address: None,
                group_ids,
                role: request.description.clone(),
                kind,
            });
        }
        if let Some(e) = failed {
            return Err(e);
        }
        self.realise_hosts(state, &subnets, hosts).await
    }

    /// Makes the hosts' namespaces in one plan, then rewrites their VPCs' security groups
    /// (the hosts are members now); on failure, nothing of them is left in the fabric.
    async fn realise_hosts(
        &self,
        state: &mut State,
        subnets: &[model::Subnet],
        hosts: Vec<Host>,
    ) -> Result<Vec<Host>, FabricError> {
        let mut plan = Plan::default();
        let hosts = hosts
            .into_iter()
            .zip(subnets)
            .map(|(host, subnet)| vpc::plan_host(&mut plan, state, &self.prefix, subnet, host))
            .collect::<Result<Vec<_>, _>>()?;
        let created = plan.created();
        if let Err(e) = self.apply(plan).await {
            self.forget(&created);
            return Err(e);
        }
        let before = state.hosts.len();
        state.hosts.extend(hosts.iter().cloned());
        let vpcs: BTreeSet<&str> = subnets.iter().map(|s| s.vpc_id.as_str()).collect();
        if let Err(e) = self.refresh_security_groups(state, vpcs).await {
            // A host without its security groups would accept anything: remove them.
            state.hosts.truncate(before);
            self.forget(&created);
            return Err(e);
        }
        Ok(hosts)
    }

    /// Creates the ENIs of `asked`, a few at a time; one outcome per request, in order. The
    /// addresses are chosen first, under each subnet's allocation lock, with one read of
    /// the addresses in use for each region's subnets.
    async fn create_interfaces(
        &self,
        topology: &Topology,
        subnets: &[model::Subnet],
        asked: &[(&HostRequest, HostKind)],
    ) -> Vec<Result<Interface, FabricError>> {
        let (addresses, _allocations) = self.choose_addresses(topology, subnets).await;
        // Owned items: a closure over borrowed ones would make the caller's future not `Send`.
        let owned: Vec<(model::Subnet, HostRequest, Result<Ipv4Addr, FabricError>)> = subnets
            .iter()
            .cloned()
            .zip(asked.iter().map(|(request, _)| (*request).clone()))
            .zip(addresses)
            .map(|((subnet, request), address)| (subnet, request, address))
            .collect();
        futures_util::stream::iter(owned)
            .map(|(subnet, request, address)| async move {
                self.create_interface(topology, &subnet, address?, &request)
                    .await
            })
            .buffered(INTERFACE_CREATIONS_AT_ONCE)
            .collect()
            .await
    }

    /// A free address for each of `subnets` (one per entry, repeats taking the next), and the
    /// allocations that hold the subnets' locks until the ENIs are made.
    async fn choose_addresses(
        &self,
        topology: &Topology,
        subnets: &[model::Subnet],
    ) -> (Vec<Result<Ipv4Addr, FabricError>>, Vec<Allocation>) {
        let regions: BTreeSet<&str> = subnets
            .iter()
            .map(|s| topology.region_of(&s.vpc_id))
            .collect();
        let mut addresses: Vec<Option<Result<Ipv4Addr, FabricError>>> =
            subnets.iter().map(|_| None).collect();
        let mut allocations = Vec::new();
        for region in regions {
            let of_region = |s: &&model::Subnet| topology.region_of(&s.vpc_id) == region;
            let ids = subnets.iter().filter(of_region).map(|s| s.id.as_str());
            let mut allocation = Allocation::lock(&self.ec2(region), ids).await;
            for (subnet, slot) in subnets.iter().zip(&mut addresses) {
                if !of_region(&subnet) {
                    continue;
                }
                let choosing = "choosing its address";
                *slot = Some(match &mut allocation {
                    Ok(allocation) => allocation
                        .take(&subnet.id, "CreateNetworkInterface")
                        .map_err(|e| interface_error(&subnet.id, choosing, &e)),
                    Err(e) => Err(interface_error(&subnet.id, choosing, e)),
                });
            }
            allocations.extend(allocation.ok());
        }
        let addresses = addresses
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(FabricError::Topology("no address chosen".into()))))
            .collect();
        (addresses, allocations)
    }

    /// Creates an ENI in `subnet` at `address` (one AWS would give: inside the subnet, not
    /// reserved, not taken); returns its id, its address and its groups (as in AWS, an ENI
    /// created without groups is in its VPC's default group).
    async fn create_interface(
        &self,
        topology: &Topology,
        subnet: &model::Subnet,
        address: Ipv4Addr,
        request: &HostRequest,
    ) -> Result<Interface, FabricError> {
        let (group_ids, role) = (&request.group_ids, &request.description);
        let ec2 = self.ec2(topology.region_of(&subnet.vpc_id));
        let eni = eni::create_interface_at(&ec2, &subnet.id, address, role, group_ids)
            .await
            .map_err(|e| interface_error(&subnet.id, role, &e))?;
        let address: Ipv4Addr = eni
            .private_ip_address()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                FabricError::Topology(format!(
                    "the ENI created in {} ({role}) has no private address",
                    subnet.id
                ))
            })?;
        let eni_id = eni.network_interface_id().unwrap_or_default().to_owned();
        let assigned: Vec<String> = eni
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect();
        let group_ids = if assigned.is_empty() {
            group_ids_or_default(topology, &subnet.vpc_id, group_ids)
        } else {
            assigned
        };
        Ok((eni_id, address, group_ids))
    }
}

/// A failed ENI creation in `subnet` for `role`, as the fabric reports it.
fn interface_error(subnet: &str, role: &str, e: &CallError) -> FabricError {
    FabricError::Describe {
        call: format!("CreateNetworkInterface in {subnet} ({role})"),
        code: e.code.clone(),
        reason: e.to_string(),
    }
}
