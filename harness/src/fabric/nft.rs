//! nftables rules as values: the one table vpclab owns in a namespace, its base chains and
//! their rules. [`super::render`] turns them into the text `nft -f` loads in one transaction.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The family and name of the table vpclab owns in each namespace.
pub(crate) const TABLE: &str = "inet vpclab";

/// The rules of one namespace: everything vpclab filters or translates there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    /// Its base chains.
    pub(crate) chains: Vec<Chain>,
}

/// A base chain: where it hooks, what happens to packets no rule decides, its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    /// The chain's name in the table.
    pub(crate) name: &'static str,
    /// The netfilter hook (and so the chain's type and priority).
    pub(crate) hook: Hook,
    /// The verdict for packets no rule decides.
    pub(crate) policy: Policy,
    /// The rules, in order.
    pub(crate) rules: Vec<Rule>,
}

/// A netfilter hook, with the chain type and priority vpclab uses on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    /// Filters packets for the namespace itself.
    Input,
    /// Filters packets the namespace sends.
    Output,
    /// Filters packets routed through the namespace.
    Forward,
    /// Destination translation before routing.
    Prerouting,
    /// Source translation after routing.
    Postrouting,
}

/// A chain's default verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Let it through.
    Accept,
    /// Drop it silently.
    Drop,
}

/// One rule: all of its matches, then its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    /// What a packet must match (all of it).
    pub(crate) matches: Vec<Match>,
    /// What happens to a matching packet.
    pub(crate) verdict: Verdict,
    /// Who asked for the rule (a security group id, a reason).
    pub(crate) comment: Option<String>,
}

/// Which address of a packet a match looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// `ip saddr`.
    Source,
    /// `ip daddr`.
    Destination,
}

/// Addresses a match compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Addresses {
    /// One address.
    One(Ipv4Addr),
    /// A block.
    Block(Ipv4Net),
    /// An anonymous set of addresses.
    Set(Vec<Ipv4Addr>),
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match {
    /// Arrived on this interface (by index: `iif`).
    InputInterface(&'static str),
    /// Leaves by this interface (by index: `oif`).
    OutputInterface(&'static str),
    /// Arrived on an interface of this name (`iifname`).
    InputName(String),
    /// Leaves by an interface of this name (`oifname`).
    OutputName(String),
    /// Its source or destination is (or, `negated`, is not) one of `addresses`.
    Address {
        /// Which address.
        side: Side,
        /// `!=` instead of `==`.
        negated: bool,
        /// What it is compared with.
        addresses: Addresses,
    },
    /// It belongs to, or relates to, a connection already allowed.
    EstablishedOrRelated,
    /// Its transport protocol is one of these (`meta l4proto`).
    Protocols(Vec<String>),
    /// Its destination port is in `from..=to`, for `protocol` (`tcp dport`).
    DestinationPorts {
        /// `tcp` or `udp`.
        protocol: String,
        /// First port.
        from: u16,
        /// Last port.
        to: u16,
    },
    /// Its destination port, whatever the transport protocol (`th dport`).
    AnyDestinationPort(u16),
}

/// What happens to a matching packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let it through.
    Accept,
    /// Drop it.
    Drop,
    /// Rewrite its source to the outgoing interface's address.
    Masquerade,
    /// Rewrite its source.
    Snat(Ipv4Addr),
    /// Rewrite its destination.
    Dnat(Ipv4Addr),
}

impl Rule {
    /// A rule without a comment.
    pub(crate) fn new(matches: Vec<Match>, verdict: Verdict) -> Self {
        Self {
            matches,
            verdict,
            comment: None,
        }
    }

    /// The same rule, saying who asked for it.
    pub(crate) fn comment(mut self, comment: &str) -> Self {
        self.comment = Some(comment.to_owned());
        self
    }
}

impl Match {
    /// Source is `address`.
    pub(crate) fn source(addresses: Addresses) -> Self {
        Self::Address {
            side: Side::Source,
            negated: false,
            addresses,
        }
    }

    /// Source is not in `addresses`.
    pub(crate) fn source_not(addresses: Addresses) -> Self {
        Self::Address {
            side: Side::Source,
            negated: true,
            addresses,
        }
    }

    /// Destination is `address`.
    pub(crate) fn destination(addresses: Addresses) -> Self {
        Self::Address {
            side: Side::Destination,
            negated: false,
            addresses,
        }
    }
}

impl Chain {
    /// A source-translation chain that lets everything else through.
    pub(crate) fn postrouting(rules: Vec<Rule>) -> Self {
        Self {
            name: "post",
            hook: Hook::Postrouting,
            policy: Policy::Accept,
            rules,
        }
    }

    /// A destination-translation chain that lets everything else through.
    pub(crate) fn prerouting(rules: Vec<Rule>) -> Self {
        Self {
            name: "pre",
            hook: Hook::Prerouting,
            policy: Policy::Accept,
            rules,
        }
    }
}
