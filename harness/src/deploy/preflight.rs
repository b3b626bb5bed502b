//! Checks over the template before anything is created: mistakes AWS would refuse, found while
//! nothing needs rolling back. A value that cannot be known before creation is skipped here
//! and checked by its provider instead.

use std::collections::BTreeMap;

use serde_json::Value;

use super::intrinsics::ResourceLookup;
use crate::aws::cidr::{self, BlockExt, Ipv4Block};

/// What `Ref` returns for a resource during the pre-flight: a marker naming it.
const MARKER: &str = "vpclab-preflight:";

/// Stands in for the stack's resources: `Ref` is a marker, `Fn::GetAtt VPC.CidrBlock` is the
/// VPC's declared block; other attributes are unknown.
pub(crate) struct PreflightLookup<'a> {
    /// The declared CIDR block of each VPC, by logical id.
    pub(crate) vpc_blocks: &'a BTreeMap<String, String>,
}

impl ResourceLookup for PreflightLookup<'_> {
    fn physical_id(&self, logical_id: &str) -> Option<Value> {
        Some(Value::String(format!("{MARKER}{logical_id}")))
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> Result<Value, String> {
        match attribute {
            "CidrBlock" => self
                .vpc_blocks
                .get(logical_id)
                .map(|b| Value::String(b.clone()))
                .ok_or_else(|| "unknown before creation".to_owned()),
            _ => Err("unknown before creation".to_owned()),
        }
    }
}

/// A subnet as declared: its logical id, its `VpcId` and `CidrBlock` as evaluated.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredSubnet {
    /// The subnet's logical id.
    pub(crate) logical_id: String,
    /// Its `VpcId`: a marker for a VPC of this template, or a literal id.
    pub(crate) vpc: String,
    /// Its `CidrBlock`.
    pub(crate) cidr: String,
}

/// A problem found: the resource to fix and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The resource's logical id.
    pub(crate) logical_id: String,
    /// What is wrong.
    pub(crate) reason: String,
}

/// Subnet blocks that are not IPv4 blocks, lie outside their VPC's block, or overlap another
/// subnet of the same VPC. `vpc_blocks` holds the declared block of each VPC of the template.
pub(crate) fn check_subnets(
    vpc_blocks: &BTreeMap<String, String>,
    subnets: &[DeclaredSubnet],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut parsed: Vec<(&DeclaredSubnet, Ipv4Block)> = Vec::new();
    for subnet in subnets {
        let Some(block) = cidr::parse(&subnet.cidr) else {
            problems.push(Problem {
                logical_id: subnet.logical_id.clone(),
                reason: format!(
                    "subnet {}: CidrBlock {:?} is not an IPv4 CIDR block such as 10.0.1.0/24",
                    subnet.logical_id, subnet.cidr
                ),
            });
            continue;
        };
        let vpc_logical = subnet.vpc.strip_prefix(MARKER);
        if let Some((vpc, vpc_cidr)) = vpc_logical.and_then(|v| vpc_blocks.get(v).map(|c| (v, c)))
            && let Some(vpc_block) = cidr::parse(vpc_cidr)
            && !vpc_block.contains(&block)
        {
            problems.push(Problem {
                logical_id: subnet.logical_id.clone(),
                reason: format!(
                    "subnet {}: CIDR {} is not inside the CIDR {vpc_cidr} of its VPC {vpc}",
                    subnet.logical_id, subnet.cidr
                ),
            });
        }
        for (other, other_block) in &parsed {
            if other.vpc == subnet.vpc && other_block.overlaps(&block) {
                let vpc = vpc_logical.unwrap_or(&subnet.vpc);
                problems.push(Problem {
                    logical_id: subnet.logical_id.clone(),
                    reason: format!(
                        "subnets {} ({}) and {} ({}) of VPC {vpc} overlap",
                        other.logical_id, other.cidr, subnet.logical_id, subnet.cidr
                    ),
                });
            }
        }
        parsed.push((subnet, block));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(logical_id: &str, vpc: &str, cidr: &str) -> DeclaredSubnet {
        DeclaredSubnet {
            logical_id: logical_id.to_owned(),
            vpc: vpc.to_owned(),
            cidr: cidr.to_owned(),
        }
    }

    fn vpcs() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("Vpc".to_owned(), "10.0.0.0/16".to_owned()),
            ("Other".to_owned(), "10.1.0.0/16".to_owned()),
        ])
    }

    #[test]
    fn sound_subnets_pass() {
        let subnets = [
            subnet("A", "vpclab-preflight:Vpc", "10.0.0.0/24"),
            subnet("B", "vpclab-preflight:Vpc", "10.0.1.0/24"),
            subnet("C", "vpclab-preflight:Other", "10.1.0.0/24"),
            subnet("D", "vpc-0123", "172.16.0.0/24"),
        ];
        assert_eq!(check_subnets(&vpcs(), &subnets), Vec::new());
    }

    #[test]
    fn overlapping_subnets_name_both() {
        let subnets = [
            subnet("Public", "vpclab-preflight:Vpc", "10.0.0.0/23"),
            subnet("Private", "vpclab-preflight:Vpc", "10.0.1.0/24"),
            // The same block in another VPC is fine.
            subnet("Elsewhere", "vpc-0123", "10.0.1.0/24"),
        ];
        let problems = check_subnets(&vpcs(), &subnets);
        assert_eq!(
            problems,
            vec![Problem {
                logical_id: "Private".to_owned(),
                reason: "subnets Public (10.0.0.0/23) and Private (10.0.1.0/24) of VPC Vpc \
                         overlap"
                    .to_owned(),
            }]
        );
    }

    #[test]
    fn subnet_outside_its_vpc_names_both_blocks() {
        let subnets = [subnet("Stray", "vpclab-preflight:Vpc", "10.2.0.0/24")];
        let problems = check_subnets(&vpcs(), &subnets);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].logical_id, "Stray");
        assert_eq!(
            problems[0].reason,
            "subnet Stray: CIDR 10.2.0.0/24 is not inside the CIDR 10.0.0.0/16 of its VPC Vpc"
        );
    }

    #[test]
    fn malformed_block_is_named() {
        let problems = check_subnets(&vpcs(), &[subnet("Bad", "vpc-1", "10.0.0/24")]);
        assert!(problems[0].reason.contains("\"10.0.0/24\""), "{problems:?}");
    }
}
