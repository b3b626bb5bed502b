//! IPv4 CIDR blocks (`ipnet`), with the checks AWS makes on subnets and peering.

use std::net::Ipv4Addr;

pub(crate) use ipnet::Ipv4Net as Ipv4Block;

/// Parses `a.b.c.d/n` with its host bits cleared; None for anything else (IPv6 included).
pub(crate) fn parse(text: &str) -> Option<Ipv4Block> {
    text.trim()
        .parse::<Ipv4Block>()
        .ok()
        .map(|block| block.trunc())
}

/// What AWS checks on blocks beyond containment.
pub(crate) trait BlockExt {
    /// Whether the two blocks share an address.
    fn overlaps(&self, other: &Self) -> bool;
    /// The addresses AWS lets hosts use: all but the first four and the last.
    fn usable_hosts(&self) -> impl Iterator<Item = Ipv4Addr>;
}

impl BlockExt for Ipv4Block {
    fn overlaps(&self, other: &Self) -> bool {
        self.contains(&other.network()) || other.contains(&self.network())
    }

    fn usable_hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.network()).saturating_add(4)..u32::from(self.broadcast()))
            .map(Ipv4Addr::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> Ipv4Block {
        parse(text).expect(text)
    }

    #[test]
    fn containment_and_overlap() {
        let vpc = block("10.0.0.0/16");
        assert!(vpc.contains(&block("10.0.1.0/24")));
        assert!(vpc.contains(&vpc));
        assert!(!vpc.contains(&block("10.1.0.0/24")));
        assert!(!block("10.0.1.0/24").contains(&vpc));
        assert!(block("10.0.0.0/23").overlaps(&block("10.0.1.0/24")));
        assert!(!block("10.0.0.0/24").overlaps(&block("10.0.1.0/24")));
        assert!(block("0.0.0.0/0").overlaps(&block("192.168.0.0/16")));
        assert_eq!(block("10.0.3.7/22").to_string(), "10.0.0.0/22");
        assert!(parse("fd00::/56").is_none());
        let hosts: Vec<Ipv4Addr> = block("10.0.1.0/28").usable_hosts().collect();
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(10, 0, 1, 4)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(10, 0, 1, 14)));
        assert!(parse("10.0.0.0/33").is_none());
    }
}
