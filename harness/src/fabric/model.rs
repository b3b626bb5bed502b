//! The topology as EC2 describes it: what the fabric realises and what `explain` reasons
//! about. Read back from the emulator after a deploy, never from the templates.

use std::net::Ipv4Addr;

use aws_sdk_ec2::{
    Client,
    error::ProvideErrorMetadata,
    types::{Filter, IpPermission},
};
use ipnet::Ipv4Net;

use super::{FabricError, hosted_zones::HostedZone};

/// Every network resource of one account, in the regions the fabric realises.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// VPCs (the default VPC excluded: nothing of a scenario runs there).
    pub vpcs: Vec<Vpc>,
    /// Subnets of those VPCs.
    pub subnets: Vec<Subnet>,
    /// Route tables with their associations and routes.
    pub route_tables: Vec<RouteTable>,
    /// Internet gateways and the VPC each is attached to.
    pub internet_gateways: Vec<InternetGateway>,
    /// NAT gateways that are available.
    pub nat_gateways: Vec<NatGateway>,
    /// Security groups with their rules.
    pub security_groups: Vec<SecurityGroup>,
    /// VPC endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Active peering connections.
    pub peerings: Vec<Peering>,
    /// Network interfaces (ENIs).
    pub interfaces: Vec<Interface>,
    /// EC2 instances that are pending or running.
    pub instances: Vec<Instance>,
    /// Route 53 private hosted zones and the VPCs they are associated with.
    pub hosted_zones: Vec<HostedZone>,
}

/// A VPC.
#[derive(Debug, Clone)]
pub struct Vpc {
    /// `vpc-...`
    pub id: String,
    /// Its region.
    pub region: String,
    /// Its primary CIDR block.
    pub cidr: Ipv4Net,
}

/// A subnet.
#[derive(Debug, Clone)]
pub struct Subnet {
    /// `subnet-...`
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its CIDR block.
    pub cidr: Ipv4Net,
}

/// A route table.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// `rtb-...`
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Whether it is the VPC's main table (used by subnets without an association).
    pub main: bool,
    /// Subnets explicitly associated with it.
    pub subnet_ids: Vec<String>,
    /// Its routes, the local route included.
    pub routes: Vec<Route>,
}

/// One route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Destination CIDR (prefix-list routes are carried by their gateway endpoint).
    pub destination: Ipv4Net,
    /// Where matching packets go.
    pub target: RouteTarget,
}

/// A route's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// The VPC itself.
    Local,
    /// `igw-...`
    InternetGateway(String),
    /// `nat-...`
    NatGateway(String),
    /// `pcx-...`
    Peering(String),
    /// `eni-...` or an instance.
    NetworkInterface(String),
    /// Something the fabric does not realise (transit gateway, ...): packets are dropped.
    Other(String),
}

/// An internet gateway.
#[derive(Debug, Clone)]
pub struct InternetGateway {
    /// `igw-...`
    pub id: String,
    /// The VPC it is attached to.
    pub vpc_id: Option<String>,
}

/// A NAT gateway.
#[derive(Debug, Clone)]
pub struct NatGateway {
    /// `nat-...`
    pub id: String,
    /// The subnet it sits in.
    pub subnet_id: String,
    /// Its private address in that subnet.
    pub private_ip: Ipv4Addr,
    /// Its Elastic IP, as EC2 reports it.
    pub public_ip: Option<Ipv4Addr>,
    /// The allocation of that Elastic IP.
    pub allocation_id: Option<String>,
    /// Its network interface (`NatGatewayAddresses[].NetworkInterfaceId`, or the interface its
    /// Elastic IP is associated with), once [`Topology::read`] found it.
    pub interface_id: Option<String>,
}

/// A security group.
#[derive(Debug, Clone)]
pub struct SecurityGroup {
    /// `sg-...`
    pub id: String,
    /// Its name (`default` for the VPC's default group).
    pub name: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Inbound rules.
    pub ingress: Vec<Rule>,
    /// Outbound rules.
    pub egress: Vec<Rule>,
}

/// One security group rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `tcp`, `udp`, `icmp` or `all`.
    pub protocol: String,
    /// Port range (inclusive), when the protocol has ports and the rule limits them.
    pub ports: Option<(u16, u16)>,
    /// The other side.
    pub peer: Peer,
}

/// The other side of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// An address range.
    Cidr(Ipv4Net),
    /// Every ENI in a security group.
    Group(String),
}

/// Gateway or interface endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// Routes in route tables (S3, DynamoDB).
    Gateway,
    /// ENIs in subnets (PrivateLink).
    Interface,
}

/// A VPC endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `vpce-...`
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// `com.amazonaws.<region>.<service>`
    pub service_name: String,
    /// Gateway or interface.
    pub kind: EndpointKind,
    /// Route tables that carry a gateway endpoint.
    pub route_table_ids: Vec<String>,
    /// ENIs of an interface endpoint.
    pub interface_ids: Vec<String>,
    /// Security groups of an interface endpoint.
    pub group_ids: Vec<String>,
    /// Whether the service's public name resolves to the endpoint inside the VPC.
    pub private_dns: bool,
    /// The endpoint's own DNS names.
    pub dns_names: Vec<String>,
    /// Its policy document (`PolicyDocument`), when it has one.
    pub policy: Option<String>,
}

impl Endpoint {
    /// The service part of the name: `dynamodb`, `execute-api`, ...
    pub fn service(&self) -> &str {
        self.service_name
            .rsplit_once('.')
            .map_or(self.service_name.as_str(), |(_, s)| s)
    }

    /// The region part of the name (`com.amazonaws.<region>.<service>`): the region the
    /// endpoint serves, which is its VPC's.
    pub fn region(&self) -> &str {
        self.service_name.split('.').nth(2).unwrap_or_default()
    }
}

/// An active VPC peering connection.
#[derive(Debug, Clone)]
pub struct Peering {
    /// `pcx-...`
    pub id: String,
    /// The requester's VPC.
    pub requester_vpc_id: String,
    /// The accepter's VPC.
    pub accepter_vpc_id: String,
}

/// A network interface.
#[derive(Debug, Clone)]
pub struct Interface {
    /// `eni-...`
    pub id: String,
    /// Its subnet.
    pub subnet_id: String,
    /// Its primary private address.
    pub private_ip: Ipv4Addr,
    /// Its public address, if it has one.
    pub public_ip: Option<Ipv4Addr>,
    /// The Elastic IP allocation associated with it, if any.
    pub allocation_id: Option<String>,
    /// Its security groups.
    pub group_ids: Vec<String>,
    /// Its description (who made it and for what).
    pub description: String,
}

/// An EC2 instance (pending or running) in one of the scenario's VPCs.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `i-...`
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its subnet.
    pub subnet_id: String,
    /// Its primary private address.
    pub private_ip: Ipv4Addr,
    /// Its public address, if it has one.
    pub public_ip: Option<Ipv4Addr>,
    /// Its security groups.
    pub group_ids: Vec<String>,
    /// Its primary network interface (`DeviceIndex` 0).
    pub interface_id: Option<String>,
    /// The `aws:cloudformation:logical-id` tag: the template's name for it.
    pub logical_id: Option<String>,
}

impl Topology {
    /// Reads the topology of the account in every region of `regions` (region, client), and
    /// its private hosted zones from `route53`.
    pub async fn read_regions(
        regions: &[(String, Client)],
        route53: &aws_sdk_route53::Client,
    ) -> Result<Self, FabricError> {
        let mut all = Self::default();
        for (region, ec2) in regions {
            let mut one = Self::read(ec2, region).await?;
            all.vpcs.append(&mut one.vpcs);
            all.absorb(one);
        }
        all.hosted_zones = super::hosted_zones::read(route53).await?;
        Ok(all)
    }

    /// Adds `other`'s resources (not its VPCs or hosted zones; a peering described in two
    /// regions once).
    pub(super) fn absorb(&mut self, other: Self) {
        self.subnets.extend(other.subnets);
        self.route_tables.extend(other.route_tables);
        self.internet_gateways.extend(other.internet_gateways);
        self.nat_gateways.extend(other.nat_gateways);
        self.security_groups.extend(other.security_groups);
        self.endpoints.extend(other.endpoints);
        for peering in other.peerings {
            if !self.peerings.iter().any(|p| p.id == peering.id) {
                self.peerings.push(peering);
            }
        }
        self.interfaces.extend(other.interfaces);
        self.instances.extend(other.instances);
    }

    /// Reads the topology of the client's account in `region`.
    pub async fn read(ec2: &Client, region: &str) -> Result<Self, FabricError> {
        let vpcs = read_vpcs(ec2, region).await?;
        let mut topology = Self::read_of(ec2, Ours::all(&vpcs)).await?;
        topology.vpcs = vpcs;
        topology.link_nat_interfaces();
        topology.link_endpoint_interfaces();
        Ok(topology)
    }

    /// Reads what lies in `vpcs` of the client's region (asking EC2 for those VPCs' only),
    /// with every internet gateway and peering of the region; `vpcs` itself is left empty and
    /// nothing is linked yet.
    pub(super) async fn read_vpcs_in(ec2: &Client, vpcs: &[Vpc]) -> Result<Self, FabricError> {
        if vpcs.is_empty() {
            return Ok(Self {
                internet_gateways: read_internet_gateways(ec2).await?,
                peerings: read_peerings(ec2).await?,
                ..Self::default()
            });
        }
        Self::read_of(ec2, Ours::only(vpcs)).await
    }

    async fn read_of(ec2: &Client, ours: Ours<'_>) -> Result<Self, FabricError> {
        let ours = &ours;
        Ok(Self {
            subnets: read_subnets(ec2, ours).await?,
            route_tables: read_route_tables(ec2, ours).await?,
            internet_gateways: read_internet_gateways(ec2).await?,
            nat_gateways: read_nat_gateways(ec2, ours).await?,
            security_groups: read_security_groups(ec2, ours).await?,
            endpoints: read_endpoints(ec2, ours).await?,
            peerings: read_peerings(ec2).await?,
            interfaces: read_interfaces(ec2, ours).await?,
            instances: read_instances(ec2, ours).await?,
            vpcs: Vec::new(),
            hosted_zones: Vec::new(),
        })
    }

    /// Gives each NAT gateway its network interface, through EC2's own fields: the one its
    /// `NatGatewayAddresses` name, else (the engine replaced the emulator's interface, whose
    /// address lay outside the subnet, and moved the Elastic IP over) the interface its Elastic
    /// IP is associated with. A private NAT gateway has no Elastic IP: its replacement is found
    /// by the description AWS gives the interface, which the emulator keeps. The gateway's
    /// address and subnet are that interface's.
    pub(super) fn link_nat_interfaces(&mut self) {
        for nat in &mut self.nat_gateways {
            let named = nat
                .interface_id
                .as_ref()
                .and_then(|id| self.interfaces.iter().find(|i| &i.id == id));
            let by_address = || {
                let allocation = nat.allocation_id.as_ref()?;
                self.interfaces
                    .iter()
                    .find(|i| i.allocation_id.as_ref() == Some(allocation))
            };
            let private_replacement = || {
                let aws_description = format!("Interface for NAT Gateway {}", nat.id);
                nat.allocation_id
                    .is_none()
                    .then(|| {
                        self.interfaces
                            .iter()
                            .find(|i| i.description == aws_description)
                    })
                    .flatten()
            };
            match named.or_else(by_address).or_else(private_replacement) {
                Some(eni) => {
                    nat.interface_id = Some(eni.id.clone());
                    nat.private_ip = eni.private_ip;
                    nat.subnet_id = eni.subnet_id.clone();
                }
                None => nat.interface_id = None,
            }
        }
    }

    /// Keeps the interfaces of each endpoint that exist. Where the engine replaced the
    /// emulator's interfaces (moto keeps the endpoint's `NetworkInterfaceIds` pointing at the
    /// ones it made, and offers no call to change them), the replacements are found by the
    /// description AWS gives an endpoint's interfaces, the one field the emulator keeps.
    pub(super) fn link_endpoint_interfaces(&mut self) {
        for endpoint in &mut self.endpoints {
            let existing: Vec<String> = endpoint
                .interface_ids
                .iter()
                .filter(|id| self.interfaces.iter().any(|i| &i.id == *id))
                .cloned()
                .collect();
            if existing.len() == endpoint.interface_ids.len() {
                continue;
            }
            let aws_description = format!("VPC Endpoint Interface {}", endpoint.id);
            let replacements = self
                .interfaces
                .iter()
                .filter(|i| i.description == aws_description && !existing.contains(&i.id))
                .map(|i| i.id.clone())
                .collect::<Vec<_>>();
            endpoint.interface_ids = existing.into_iter().chain(replacements).collect();
        }
    }

    /// The subnet with this id.
    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.id == id)
    }

    /// The VPC with this id.
    pub fn vpc(&self, id: &str) -> Option<&Vpc> {
        self.vpcs.iter().find(|v| v.id == id)
    }

    /// The region of VPC `vpc_id` (empty when the VPC is unknown).
    pub fn region_of(&self, vpc_id: &str) -> &str {
        self.vpc(vpc_id).map_or("", |v| v.region.as_str())
    }

    /// The route table that applies to a subnet: its association, else the VPC's main table.
    pub fn route_table_of(&self, subnet: &Subnet) -> Option<&RouteTable> {
        self.route_tables
            .iter()
            .find(|t| t.subnet_ids.contains(&subnet.id))
            .or_else(|| {
                self.route_tables
                    .iter()
                    .find(|t| t.vpc_id == subnet.vpc_id && t.main)
            })
    }

    /// The security group with this id.
    pub fn security_group(&self, id: &str) -> Option<&SecurityGroup> {
        self.security_groups.iter().find(|g| g.id == id)
    }

    /// The NAT gateway with this id.
    pub fn nat_gateway(&self, id: &str) -> Option<&NatGateway> {
        self.nat_gateways.iter().find(|n| n.id == id)
    }
}

/// The VPCs a read covers: every VPC of a scenario (all but the default one), or some of them,
/// which EC2 is then asked for by id.
struct Ours<'a> {
    vpcs: &'a [Vpc],
    only: bool,
}

impl<'a> Ours<'a> {
    /// Every VPC of the scenario, `vpcs`.
    fn all(vpcs: &'a [Vpc]) -> Self {
        Self { vpcs, only: false }
    }

    /// Only `vpcs`.
    fn only(vpcs: &'a [Vpc]) -> Self {
        Self { vpcs, only: true }
    }

    /// Whether `vpc` is one of them.
    fn contains(&self, vpc: Option<&str>) -> bool {
        vpc.is_some_and(|id| self.vpcs.iter().any(|v| v.id == id))
    }

    /// The filter that asks EC2 for these VPCs' resources alone (none for all of them).
    fn filters(&self) -> Option<Vec<Filter>> {
        self.only.then(|| {
            vec![
                Filter::builder()
                    .name("vpc-id")
                    .set_values(Some(self.vpcs.iter().map(|v| v.id.clone()).collect()))
                    .build(),
            ]
        })
    }
}

/// Turns an EC2 error into one that names the call and carries the service's error code.
fn sdk<E>(call: &'static str) -> impl Fn(E) -> FabricError
where
    E: std::error::Error + ProvideErrorMetadata,
{
    move |e| FabricError::Describe {
        call: call.to_owned(),
        code: e.code().map(str::to_owned),
        reason: format!("{}", aws_sdk_ec2::error::DisplayErrorContext(e)),
    }
}

pub(super) async fn read_vpcs(ec2: &Client, region: &str) -> Result<Vec<Vpc>, FabricError> {
    let described = ec2
        .describe_vpcs()
        .send()
        .await
        .map_err(sdk("DescribeVpcs"))?;
    Ok(described
        .vpcs()
        .iter()
        .filter(|v| !v.is_default().unwrap_or(false))
        .filter_map(|v| {
            Some(Vpc {
                id: v.vpc_id()?.to_owned(),
                region: region.to_owned(),
                cidr: v.cidr_block()?.parse().ok()?,
            })
        })
        .collect())
}

async fn read_subnets(ec2: &Client, ours: &Ours<'_>) -> Result<Vec<Subnet>, FabricError> {
    let described = ec2
        .describe_subnets()
        .set_filters(ours.filters())
        .send()
        .await
        .map_err(sdk("DescribeSubnets"))?;
    Ok(described
        .subnets()
        .iter()
        .filter(|s| ours.contains(s.vpc_id()))
        .filter_map(|s| {
            Some(Subnet {
                id: s.subnet_id()?.to_owned(),
                vpc_id: s.vpc_id()?.to_owned(),
                cidr: s.cidr_block()?.parse().ok()?,
            })
        })
        .collect())
}

async fn read_route_tables(ec2: &Client, ours: &Ours<'_>) -> Result<Vec<RouteTable>, FabricError> {
    let described = ec2
        .describe_route_tables()
        .set_filters(ours.filters())
        .send()
        .await
        .map_err(sdk("DescribeRouteTables"))?;
    Ok(described
        .route_tables()
        .iter()
        .filter(|t| ours.contains(t.vpc_id()))
        .filter_map(|t| {
            Some(RouteTable {
                id: t.route_table_id()?.to_owned(),
                vpc_id: t.vpc_id()?.to_owned(),
                main: t.associations().iter().any(|a| a.main().unwrap_or(false)),
                subnet_ids: t
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id().map(str::to_owned))
                    .collect(),
                routes: t.routes().iter().filter_map(route).collect(),
            })
        })
        .collect())
}

async fn read_internet_gateways(ec2: &Client) -> Result<Vec<InternetGateway>, FabricError> {
    let described = ec2
        .describe_internet_gateways()
        .send()
        .await
        .map_err(sdk("DescribeInternetGateways"))?;
    Ok(described
        .internet_gateways()
        .iter()
        .filter_map(|g| {
            Some(InternetGateway {
                id: g.internet_gateway_id()?.to_owned(),
                vpc_id: g
                    .attachments()
                    .iter()
                    .find_map(|a| a.vpc_id().map(str::to_owned)),
            })
        })
        .collect())
}

/// NAT gateways that are not going away, as EC2 describes them (their interfaces are linked
/// afterwards, see [`Topology::read`]).
async fn read_nat_gateways(ec2: &Client, ours: &Ours<'_>) -> Result<Vec<NatGateway>, FabricError> {
    let described = ec2
        .describe_nat_gateways()
        .set_filter(ours.filters())
        .send()
        .await
        .map_err(sdk("DescribeNatGateways"))?;
    Ok(described
        .nat_gateways()
        .iter()
        .filter(|n| ours.contains(n.vpc_id()))
        .filter(|n| {
            !matches!(
                n.state().map(|s| s.as_str()),
                Some("deleted" | "deleting" | "failed")
            )
        })
        .filter_map(|n| {
            let address = n.nat_gateway_addresses().first()?;
            Some(NatGateway {
                id: n.nat_gateway_id()?.to_owned(),
                subnet_id: n.subnet_id()?.to_owned(),
                private_ip: address.private_ip()?.parse().ok()?,
                public_ip: address.public_ip().and_then(|ip| ip.parse().ok()),
                allocation_id: address.allocation_id().map(str::to_owned),
                interface_id: address.network_interface_id().map(str::to_owned),
            })
        })
        .collect())
}

async fn read_security_groups(
    ec2: &Client,
    ours: &Ours<'_>,
) -> Result<Vec<SecurityGroup>, FabricError> {
    let described = ec2
        .describe_security_groups()
        .set_filters(ours.filters())
        .send()
        .await
        .map_err(sdk("DescribeSecurityGroups"))?;
    Ok(described
        .security_groups()
        .iter()
        .filter(|g| ours.contains(g.vpc_id()))
        .filter_map(|g| {
            Some(SecurityGroup {
                id: g.group_id()?.to_owned(),
                name: g.group_name().unwrap_or_default().to_owned(),
                vpc_id: g.vpc_id()?.to_owned(),
                ingress: g.ip_permissions().iter().flat_map(rules).collect(),
                egress: g.ip_permissions_egress().iter().flat_map(rules).collect(),
            })
        })
        .collect())
}

async fn read_endpoints(ec2: &Client, ours: &Ours<'_>) -> Result<Vec<Endpoint>, FabricError> {
    let described = ec2
        .describe_vpc_endpoints()
        .set_filters(ours.filters())
        .send()
        .await
        .map_err(sdk("DescribeVpcEndpoints"))?;
    Ok(described
        .vpc_endpoints()
        .iter()
        .filter(|e| ours.contains(e.vpc_id()))
        // A deleted endpoint stays described for a while (`deleted`, as in AWS): it serves
        // nothing, and its private DNS names are gone.
        .filter(|e| {
            !e.state().is_some_and(|s| {
                matches!(
                    s.as_str().to_ascii_lowercase().as_str(),
                    "deleted" | "deleting" | "failed" | "rejected" | "expired"
                )
            })
        })
        .filter_map(endpoint)
        .collect())
}

fn endpoint(e: &aws_sdk_ec2::types::VpcEndpoint) -> Option<Endpoint> {
    let kind = match e.vpc_endpoint_type().map(|t| t.as_str()) {
        Some("Gateway") => EndpointKind::Gateway,
        Some("Interface") => EndpointKind::Interface,
        _ => return None,
    };
    Some(Endpoint {
        id: e.vpc_endpoint_id()?.to_owned(),
        vpc_id: e.vpc_id()?.to_owned(),
        service_name: e.service_name()?.to_owned(),
        kind,
        route_table_ids: e.route_table_ids().to_vec(),
        interface_ids: e.network_interface_ids().to_vec(),
        group_ids: e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
        private_dns: e.private_dns_enabled().unwrap_or(false),
        dns_names: e
            .dns_entries()
            .iter()
            .filter_map(|d| d.dns_name().map(str::to_owned))
            .collect(),
        policy: e.policy_document().map(str::to_owned),
    })
}

async fn read_peerings(ec2: &Client) -> Result<Vec<Peering>, FabricError> {
    let described = ec2
        .describe_vpc_peering_connections()
        .send()
        .await
        .map_err(sdk("DescribeVpcPeeringConnections"))?;
    Ok(described
        .vpc_peering_connections()
        .iter()
        .filter(|p| {
            p.status()
                .and_then(|s| s.code())
                .is_some_and(|c| c.as_str() == "active")
        })
        .filter_map(|p| {
            Some(Peering {
                id: p.vpc_peering_connection_id()?.to_owned(),
                requester_vpc_id: p.requester_vpc_info()?.vpc_id()?.to_owned(),
                accepter_vpc_id: p.accepter_vpc_info()?.vpc_id()?.to_owned(),
            })
        })
        .collect())
}

async fn read_interfaces(ec2: &Client, ours: &Ours<'_>) -> Result<Vec<Interface>, FabricError> {
    let described = ec2
        .describe_network_interfaces()
        .set_filters(ours.filters())
        .send()
        .await
        .map_err(sdk("DescribeNetworkInterfaces"))?;
    Ok(described
        .network_interfaces()
        .iter()
        .filter(|i| ours.contains(i.vpc_id()))
        .filter_map(|i| {
            Some(Interface {
                id: i.network_interface_id()?.to_owned(),
                subnet_id: i.subnet_id()?.to_owned(),
                private_ip: i.private_ip_address()?.parse().ok()?,
                public_ip: i
                    .association()
                    .and_then(|a| a.public_ip())
                    .and_then(|ip| ip.parse().ok()),
                allocation_id: i
                    .association()
                    .and_then(|a| a.allocation_id())
                    .map(str::to_owned),
                group_ids: i
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_owned))
                    .collect(),
                description: i.description().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

/// Instances that are pending or running in the scenario's VPCs.
async fn read_instances(ec2: &Client, ours: &Ours<'_>) -> Result<Vec<Instance>, FabricError> {
    let described = ec2
        .describe_instances()
        .set_filters(ours.filters())
        .send()
        .await
        .map_err(sdk("DescribeInstances"))?;
    Ok(described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| ours.contains(i.vpc_id()))
        .filter(|i| {
            matches!(
                i.state().and_then(|s| s.name()).map(|s| s.as_str()),
                Some("pending" | "running")
            )
        })
        .filter_map(instance)
        .collect())
}

/// An instance as the fabric needs it; None without a VPC address.
fn instance(i: &aws_sdk_ec2::types::Instance) -> Option<Instance> {
    let primary = i
        .network_interfaces()
        .iter()
        .find(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
        .or_else(|| i.network_interfaces().first());
    Some(Instance {
        id: i.instance_id()?.to_owned(),
        vpc_id: i.vpc_id()?.to_owned(),
        subnet_id: i.subnet_id()?.to_owned(),
        private_ip: i.private_ip_address()?.parse().ok()?,
        public_ip: i.public_ip_address().and_then(|ip| ip.parse().ok()),
        group_ids: i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
        interface_id: primary
            .and_then(|n| n.network_interface_id())
            .map(str::to_owned),
        logical_id: i
            .tags()
            .iter()
            .find(|t| t.key() == Some("aws:cloudformation:logical-id"))
            .and_then(|t| t.value())
            .map(str::to_owned),
    })
}

fn route(route: &aws_sdk_ec2::types::Route) -> Option<Route> {
    let destination: Ipv4Net = route.destination_cidr_block()?.parse().ok()?;
    let target = if let Some(nat) = route.nat_gateway_id() {
        RouteTarget::NatGateway(nat.to_owned())
    } else if let Some(pcx) = route.vpc_peering_connection_id() {
        RouteTarget::Peering(pcx.to_owned())
    } else if let Some(eni) = route.network_interface_id() {
        RouteTarget::NetworkInterface(eni.to_owned())
    } else if let Some(gateway) = route.gateway_id() {
        match gateway {
            "local" => RouteTarget::Local,
            igw if igw.starts_with("igw-") => RouteTarget::InternetGateway(igw.to_owned()),
            other => RouteTarget::Other(other.to_owned()),
        }
    } else if let Some(other) = route.transit_gateway_id().or(route.instance_id()) {
        RouteTarget::Other(other.to_owned())
    } else {
        return None;
    };
    Some(Route {
        destination,
        target,
    })
}

fn rules(permission: &IpPermission) -> Vec<Rule> {
    let protocol = match permission.ip_protocol().unwrap_or("-1") {
        "-1" | "all" => "all".to_owned(),
        "6" => "tcp".to_owned(),
        "17" => "udp".to_owned(),
        "1" => "icmp".to_owned(),
        other => other.to_lowercase(),
    };
    let ports = match (
        protocol.as_str(),
        permission.from_port(),
        permission.to_port(),
    ) {
        ("tcp" | "udp", Some(from), Some(to))
            if from >= 0 && to >= 0 && (from, to) != (0, 65535) =>
        {
            Some((from as u16, to as u16))
        }
        _ => None,
    };
    let mut out = Vec::new();
    for range in permission.ip_ranges() {
        if let Some(cidr) = range.cidr_ip().and_then(|c| c.parse().ok()) {
            out.push(Rule {
                protocol: protocol.clone(),
                ports,
                peer: Peer::Cidr(cidr),
            });
        }
    }
    for pair in permission.user_id_group_pairs() {
        if let Some(group) = pair.group_id() {
            out.push(Rule {
                protocol: protocol.clone(),
                ports,
                peer: Peer::Group(group.to_owned()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(id: &str, ip: [u8; 4], allocation: Option<&str>, description: &str) -> Interface {
        Interface {
            id: id.into(),
            subnet_id: "subnet-1".into(),
            private_ip: Ipv4Addr::from(ip),
            public_ip: None,
            allocation_id: allocation.map(Into::into),
            group_ids: Vec::new(),
            description: description.into(),
        }
    }

    fn nat(interface_id: &str, allocation: Option<&str>) -> NatGateway {
        NatGateway {
            id: "nat-1".into(),
            subnet_id: "subnet-1".into(),
            private_ip: Ipv4Addr::new(10, 77, 3, 9),
            public_ip: Some(Ipv4Addr::new(198, 18, 0, 5)),
            allocation_id: allocation.map(Into::into),
            interface_id: Some(interface_id.into()),
        }
    }

    #[test]
    fn a_nat_gateway_takes_the_interface_its_fields_name() {
        let mut topology = Topology {
            nat_gateways: vec![nat("eni-own", Some("eipalloc-1"))],
            interfaces: vec![interface("eni-own", [10, 0, 1, 4], None, "")],
            ..Topology::default()
        };
        topology.link_nat_interfaces();
        let nat = &topology.nat_gateways[0];
        assert_eq!(nat.interface_id.as_deref(), Some("eni-own"));
        assert_eq!(nat.private_ip, Ipv4Addr::new(10, 0, 1, 4));
    }

    #[test]
    fn a_replaced_nat_interface_is_found_through_its_elastic_ip() {
        // The emulator still names the interface it made, which the engine replaced.
        let mut topology = Topology {
            nat_gateways: vec![nat("eni-gone", Some("eipalloc-1"))],
            interfaces: vec![
                interface(
                    "eni-other",
                    [10, 0, 1, 5],
                    None,
                    "Interface for NAT Gateway nat-1",
                ),
                interface("eni-new", [10, 0, 1, 4], Some("eipalloc-1"), ""),
            ],
            ..Topology::default()
        };
        topology.link_nat_interfaces();
        let nat = &topology.nat_gateways[0];
        assert_eq!(nat.interface_id.as_deref(), Some("eni-new"));
        assert_eq!(nat.private_ip, Ipv4Addr::new(10, 0, 1, 4));
    }

    #[test]
    fn endpoint_interfaces_keep_the_existing_ones_and_find_replacements() {
        let endpoint = Endpoint {
            id: "vpce-1".into(),
            vpc_id: "vpc-1".into(),
            service_name: "com.amazonaws.us-east-1.sqs".into(),
            kind: EndpointKind::Interface,
            route_table_ids: Vec::new(),
            interface_ids: vec!["eni-kept".into(), "eni-gone".into()],
            group_ids: Vec::new(),
            private_dns: true,
            dns_names: Vec::new(),
            policy: None,
        };
        let mut topology = Topology {
            endpoints: vec![endpoint],
            interfaces: vec![
                interface(
                    "eni-kept",
                    [10, 0, 1, 6],
                    None,
                    "VPC Endpoint Interface vpce-1",
                ),
                interface(
                    "eni-new",
                    [10, 0, 2, 6],
                    None,
                    "VPC Endpoint Interface vpce-1",
                ),
                interface(
                    "eni-else",
                    [10, 0, 2, 7],
                    None,
                    "VPC Endpoint Interface vpce-2",
                ),
            ],
            ..Topology::default()
        };
        topology.link_endpoint_interfaces();
        assert_eq!(
            topology.endpoints[0].interface_ids,
            vec!["eni-kept", "eni-new"]
        );
    }
}
