//! The fabric's address plan. Every address here lives only inside the fabric's namespaces.
//!
//! - Public side (documentation ranges, never routed on a real network): `ifconfig.me`,
//!   the AWS service endpoints, the AWS-managed Lambda egress addresses, the public resolver.
//! - Transit links between namespaces: /30s from the shared address space 100.64.0.0/10.
//! - VPC addresses are the ones EC2 assigned (subnet CIDRs, ENI addresses, Elastic IPs).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// `ifconfig.me` on the fabric's internet.
pub const IFCONFIG_ME: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 80);
/// The public address of every AWS service endpoint except DynamoDB.
pub const AWS_SERVICES: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
/// The public address of the DynamoDB endpoint; its gateway endpoint's prefix list is this /32.
pub const DYNAMODB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
/// The public address of the S3 endpoint; its gateway endpoint's prefix list is this /32.
pub const S3: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 30);
/// The resolver that functions outside any VPC use.
pub const PUBLIC_RESOLVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
/// `ip-ranges.amazonaws.com`, which publishes AWS's address ranges.
pub const IP_RANGES: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 81);
/// A client on the internet (a laptop calling a public API), at the far end of a /30 whose
/// near end ([`INTERNET_CLIENT_GATEWAY`]) is the internet.
pub const INTERNET_CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The internet's side of the internet client's link.
pub const INTERNET_CLIENT_GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
/// Where Elastic IPs come from (the deploy engine draws them here; see `aws/`).
pub const ELASTIC_IPS: &str = "198.18.0.0/15";

/// The address AWS's pool gives functions outside any VPC in `region`: stable per region,
/// never an Elastic IP (192.0.2.100 to 192.0.2.199).
pub fn aws_lambda_egress(region: &str) -> Ipv4Addr {
    let hash = region.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    Ipv4Addr::new(192, 0, 2, 100 + (hash % 100) as u8)
}

/// The service address for a service name: DynamoDB and S3 have their own (gateway endpoints
/// route them), every other service shares one.
pub(crate) fn service_address(service: &str) -> Ipv4Addr {
    match service {
        "dynamodb" => DYNAMODB,
        "s3" => S3,
        _ => AWS_SERVICES,
    }
}

/// Whether a gateway endpoint exists for this service in AWS (S3 and DynamoDB only).
pub(crate) fn has_gateway_endpoint(service: &str) -> bool {
    matches!(service, "dynamodb" | "s3")
}

/// The subnet's router (`.1`), as in AWS.
pub(crate) fn subnet_router(subnet: Ipv4Net) -> Ipv4Addr {
    nth(subnet, 1)
}

/// The VPC's resolver (base + 2), as in AWS.
pub(crate) fn vpc_resolver(vpc: Ipv4Net) -> Ipv4Addr {
    nth(vpc, 2)
}

fn nth(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

/// Hands out /30 transit links: `(near, far)` addresses.
#[derive(Debug, Default, Clone)]
pub(crate) struct LinkAllocator {
    next: u32,
}

impl LinkAllocator {
    /// The next unused /30 of 100.64.0.0/10.
    pub(crate) fn next(&mut self) -> (Ipv4Addr, Ipv4Addr) {
        let base = u32::from(Ipv4Addr::new(100, 64, 0, 0)) + self.next * 4;
        self.next += 1;
        (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_addresses_follow_the_subnet_rules() {
        let subnet: Ipv4Net = "10.0.2.0/24".parse().unwrap();
        assert_eq!(subnet_router(subnet), Ipv4Addr::new(10, 0, 2, 1));
        let vpc: Ipv4Net = "10.0.0.0/16".parse().unwrap();
        assert_eq!(vpc_resolver(vpc), Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn lambda_egress_is_stable_per_region_and_public() {
        assert_eq!(
            aws_lambda_egress("us-east-1"),
            aws_lambda_egress("us-east-1")
        );
        assert_ne!(
            aws_lambda_egress("us-east-1"),
            aws_lambda_egress("eu-west-1")
        );
        assert_eq!(aws_lambda_egress("us-east-1").octets()[..3], [192, 0, 2]);
    }

    #[test]
    fn links_do_not_overlap() {
        let mut links = LinkAllocator::default();
        let (a, b) = links.next();
        let (c, _) = links.next();
        assert_eq!(
            (a, b),
            (Ipv4Addr::new(100, 64, 0, 1), Ipv4Addr::new(100, 64, 0, 2))
        );
        assert_eq!(c, Ipv4Addr::new(100, 64, 0, 5));
    }
}
