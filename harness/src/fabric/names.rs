//! Names of what the fabric creates, derived from the EC2 resources they realise: namespaces
//! (`<prefix>-<resource id>`), interfaces (a kind tag and the id, shortened to Linux's
//! 15-character limit), and kernel routing tables (a number derived from the subnet id).
//! Nothing here depends on the order in which resources were realised.

use std::collections::HashSet;

/// The longest interface name Linux accepts (`IFNAMSIZ` - 1).
pub(crate) const MAX_DEVICE_NAME: usize = 15;

/// What an interface in a router namespace realises; its tag starts the device name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceKind {
    /// A subnet's bridge (`subnet-…`).
    SubnetBridge,
    /// The router side of an ENI's link (`eni-…`), a port of its subnet's bridge.
    EniPort,
    /// An internet gateway's link (`igw-…`), the same name at both ends.
    InternetGateway,
    /// A gateway endpoint's link (`vpce-…`) to its service namespace.
    GatewayEndpoint,
    /// A peering connection's link (`pcx-…`), the same name in both routers.
    Peering,
}

impl DeviceKind {
    /// The tag that starts the device name.
    fn tag(self) -> &'static str {
        match self {
            Self::SubnetBridge => "br-",
            Self::EniPort => "en-",
            Self::InternetGateway => "ig-",
            Self::GatewayEndpoint => "ve-",
            Self::Peering => "pc-",
        }
    }
}

/// The device name for the resource `id` (`subnet-0a1b…` -> `br-<last 12 characters>`): EC2
/// ids end in random hex, so their tail tells them apart.
pub(crate) fn device(kind: DeviceKind, id: &str) -> String {
    let tag = kind.tag();
    let random = id.rsplit_once('-').map_or(id, |(_, tail)| tail);
    let room = MAX_DEVICE_NAME - tag.len();
    let tail = &random[random.len().saturating_sub(room)..];
    format!("{tag}{tail}")
}

/// The namespace that realises the resource `id` (a VPC's router, an ENI, a gateway
/// endpoint's service): namespace names have no length limit that matters here.
pub(crate) fn namespace(prefix: &str, id: &str) -> String {
    format!("{prefix}-{id}")
}

/// The kernel table every inbound link (internet gateway, endpoints, peering) looks up: the
/// VPC's subnets.
pub(crate) const LOCAL_TABLE: u32 = 99;

/// The first number [`routing_table`] hands out.
const FIRST_TABLE: u32 = 1_000;
/// How many numbers [`routing_table`] draws from.
const TABLE_SPAN: u32 = 1_000_000;

/// The kernel routing table of a subnet: a number derived from its id (FNV-1a), moved on to the
/// next free one in the rare case that another subnet of the same router already holds it.
/// The caller remembers the result, so a subnet keeps its table for the fabric's life.
pub(crate) fn routing_table(subnet_id: &str, taken: &HashSet<u32>) -> u32 {
    let mut number = FIRST_TABLE + fnv1a(subnet_id) % TABLE_SPAN;
    while taken.contains(&number) {
        number = FIRST_TABLE + (number - FIRST_TABLE + 1) % TABLE_SPAN;
    }
    number
}

/// The 32-bit FNV-1a hash: stable across runs and platforms.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_fit_linux_and_follow_the_id() {
        let name = device(DeviceKind::SubnetBridge, "subnet-0a1b2c3d4e5f60718");
        assert_eq!(name, "br-c3d4e5f60718");
        assert!(name.len() <= MAX_DEVICE_NAME);
        assert_eq!(device(DeviceKind::Peering, "pcx-1234"), "pc-1234");
        assert_ne!(
            device(DeviceKind::EniPort, "eni-0000000000000aaaa"),
            device(DeviceKind::EniPort, "eni-0000000000000bbbb")
        );
    }

    #[test]
    fn routing_tables_are_stable_and_distinct() {
        let none = HashSet::new();
        let a = routing_table("subnet-a", &none);
        assert_eq!(a, routing_table("subnet-a", &none));
        assert!(a >= FIRST_TABLE && a != LOCAL_TABLE);
        let taken = HashSet::from([a]);
        assert_ne!(routing_table("subnet-a", &taken), a);
    }
}
