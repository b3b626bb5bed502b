//! Reading again only what a deploy touched. A deploy changes the VPCs it creates and the
//! ones its resources name (a subnet's `VpcId`, a route's table, a rule's group): those are
//! described again, by `vpc-id`; the rest of the account is kept as last read. Internet
//! gateways, peerings and hosted zones are always read whole. When the deploy names an id the
//! result does not hold, nothing is trusted: the caller reads everything.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::Client;

use super::{FabricError, Topology, model::Vpc};

/// The kinds of EC2 id a topology holds, by prefix.
const KINDS: [&str; 9] = [
    "vpc", "subnet", "rtb", "sg", "nat", "eni", "vpce", "i", "pcx",
];

/// More VPCs than this in one read: read everything instead (a filter's values are bounded).
const VPCS_PER_READ: usize = 100;

/// The EC2 ids (of the kinds a topology holds) inside `values`, whole words also found within
/// longer text: an ARN, `rtb-…|0.0.0.0/0`, a list joined by commas.
pub(super) fn ec2_ids<'a>(values: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    values
        .into_iter()
        .flat_map(|v| v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')))
        .filter(|word| is_ec2_id(word))
        .map(str::to_owned)
        .collect()
}

/// Whether `word` is `<kind>-<8 or 17 hex digits>` of a kind in [`KINDS`].
fn is_ec2_id(word: &str) -> bool {
    word.split_once('-').is_some_and(|(kind, hex)| {
        KINDS.contains(&kind)
            && matches!(hex.len(), 8 | 17)
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The VPCs each id of a topology (of any kind in [`KINDS`]) lies in: two for a peering.
type VpcIndex<'t> = BTreeMap<&'t str, Vec<&'t str>>;

impl Topology {
    /// Every id this topology holds, with the VPCs it lies in, built once per read.
    fn vpc_index(&self) -> VpcIndex<'_> {
        let subnet_vpc: BTreeMap<&str, &str> = (self.subnets.iter())
            .map(|s| (s.id.as_str(), s.vpc_id.as_str()))
            .collect();
        let pairs = (self.vpcs.iter().map(|v| (&v.id, &v.id)))
            .chain(self.subnets.iter().map(|s| (&s.id, &s.vpc_id)))
            .chain(self.route_tables.iter().map(|t| (&t.id, &t.vpc_id)))
            .chain(self.security_groups.iter().map(|g| (&g.id, &g.vpc_id)))
            .chain(self.endpoints.iter().map(|e| (&e.id, &e.vpc_id)))
            .chain(self.instances.iter().map(|i| (&i.id, &i.vpc_id)))
            .chain(self.peerings.iter().map(|p| (&p.id, &p.requester_vpc_id)))
            .chain(self.peerings.iter().map(|p| (&p.id, &p.accepter_vpc_id)))
            .map(|(id, vpc)| (id.as_str(), vpc.as_str()));
        let placed = (self.nat_gateways.iter().map(|n| (&n.id, &n.subnet_id)))
            .chain(self.interfaces.iter().map(|i| (&i.id, &i.subnet_id)))
            .filter_map(|(id, subnet)| {
                (subnet_vpc.get(subnet.as_str())).map(|vpc| (id.as_str(), *vpc))
            });
        let mut index: VpcIndex<'_> = BTreeMap::new();
        for (id, vpc) in pairs.chain(placed) {
            index.entry(id).or_default().push(vpc);
        }
        index
    }

    /// What this topology holds of the VPCs in `kept`, internet gateways, peerings and hosted
    /// zones left out.
    fn of_vpcs(&self, kept: &BTreeSet<&str>) -> Self {
        let in_kept = |vpc: &str| kept.contains(vpc);
        let subnet_kept = |subnet: &str| self.subnet(subnet).is_some_and(|s| in_kept(&s.vpc_id));
        Self {
            vpcs: Vec::new(),
            subnets: self
                .subnets
                .iter()
                .filter(|s| in_kept(&s.vpc_id))
                .cloned()
                .collect(),
            route_tables: self
                .route_tables
                .iter()
                .filter(|t| in_kept(&t.vpc_id))
                .cloned()
                .collect(),
            internet_gateways: Vec::new(),
            nat_gateways: self
                .nat_gateways
                .iter()
                .filter(|n| subnet_kept(&n.subnet_id))
                .cloned()
                .collect(),
            security_groups: self
                .security_groups
                .iter()
                .filter(|g| in_kept(&g.vpc_id))
                .cloned()
                .collect(),
            endpoints: self
                .endpoints
                .iter()
                .filter(|e| in_kept(&e.vpc_id))
                .cloned()
                .collect(),
            peerings: Vec::new(),
            interfaces: self
                .interfaces
                .iter()
                .filter(|i| subnet_kept(&i.subnet_id))
                .cloned()
                .collect(),
            instances: self
                .instances
                .iter()
                .filter(|i| in_kept(&i.vpc_id))
                .cloned()
                .collect(),
            hosted_zones: Vec::new(),
        }
    }
}

/// The topology after a deploy that made or named `touched` (the stack's values), read again
/// only where it changed: `None` when that cannot be trusted (too many VPCs changed, or a
/// named id is still unknown), and everything must be read.
pub(super) async fn read_touched(
    previous: &Topology,
    regions: &[(String, Client)],
    route53: &aws_sdk_route53::Client,
    touched: &BTreeSet<String>,
) -> Result<Option<Topology>, FabricError> {
    let named = ec2_ids(touched);
    let index = previous.vpc_index();
    let touched_vpcs: BTreeSet<&str> = (named.iter())
        .filter_map(|id| index.get(id.as_str()))
        .flatten()
        .copied()
        .collect();
    let mut all = Topology::default();
    for (region, ec2) in regions {
        let vpcs = super::model::read_vpcs(ec2, region).await?;
        let (changed, kept): (Vec<Vpc>, Vec<Vpc>) = vpcs.into_iter().partition(|v| {
            previous.vpc(&v.id).is_none()
                || named.contains(&v.id)
                || touched_vpcs.contains(v.id.as_str())
        });
        if changed.len() > VPCS_PER_READ {
            return Ok(None);
        }
        let fresh = Topology::read_vpcs_in(ec2, &changed).await?;
        let kept_ids: BTreeSet<&str> = kept.iter().map(|v| v.id.as_str()).collect();
        all.absorb(previous.of_vpcs(&kept_ids));
        all.absorb(fresh);
        all.vpcs.extend(kept.into_iter().chain(changed));
    }
    all.hosted_zones = super::hosted_zones::read(route53).await?;
    all.link_nat_interfaces();
    all.link_endpoint_interfaces();
    let index = all.vpc_index();
    if let Some(unknown) = named.iter().find(|id| !index.contains_key(id.as_str())) {
        tracing::debug!(
            "vpclab: the deploy names {unknown}, which no VPC read holds: reading everything"
        );
        return Ok(None);
    }
    Ok(Some(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_ids_are_found_inside_other_text() {
        let values = [
            "rtb-0123456789abcdef0|0.0.0.0/0".to_owned(),
            "arn:aws:ec2:us-east-1:000000000000:security-group/sg-01234567".to_owned(),
            "subnet-0123456789abcdef0, subnet-89abcdef".to_owned(),
            "igw-01234567 ami-01234567 i-0123456789abcdef0 sg-xyz12345 vpc-0123".to_owned(),
        ];
        let found: Vec<String> = ec2_ids(&values).into_iter().collect();
        assert_eq!(
            found,
            [
                "i-0123456789abcdef0",
                "rtb-0123456789abcdef0",
                "sg-01234567",
                "subnet-0123456789abcdef0",
                "subnet-89abcdef",
            ]
        );
    }
}
