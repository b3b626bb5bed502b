//! IPv4 CIDR blocks: containment and overlap, for the checks AWS makes on subnets and peering.

use std::{fmt, net::Ipv4Addr};

/// An IPv4 block such as `10.0.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ipv4Block {
    /// The first address (host bits cleared).
    network: u32,
    /// The prefix length.
    prefix: u8,
}

impl Ipv4Block {
    /// Parses `a.b.c.d/n`; None for anything else (IPv6 included).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = text.trim().split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        Some(Self {
            network: u32::from(address) & Self::mask(prefix),
            prefix,
        })
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    /// The last address of the block.
    fn last(&self) -> u32 {
        self.network | !Self::mask(self.prefix)
    }

    /// The addresses AWS lets hosts use: all but the first four and the last.
    pub(crate) fn usable_hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let (first, last) = (u64::from(self.network) + 4, u64::from(self.last()));
        (first..last).filter_map(|a| u32::try_from(a).ok().map(Ipv4Addr::from))
    }

    /// Whether `other` lies wholly inside this block.
    pub(crate) fn contains(&self, other: &Ipv4Block) -> bool {
        other.prefix >= self.prefix && other.network & Self::mask(self.prefix) == self.network
    }

    /// Whether the two blocks share an address.
    pub(crate) fn overlaps(&self, other: &Ipv4Block) -> bool {
        self.network <= other.last() && other.network <= self.last()
    }
}

impl fmt::Display for Ipv4Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> Ipv4Block {
        Ipv4Block::parse(text).expect(text)
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
        assert!(Ipv4Block::parse("fd00::/56").is_none());
        let hosts: Vec<Ipv4Addr> = block("10.0.1.0/28").usable_hosts().collect();
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(10, 0, 1, 4)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(10, 0, 1, 14)));
        assert!(Ipv4Block::parse("10.0.0.0/33").is_none());
    }
}
