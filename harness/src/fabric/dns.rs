//! The fabric's DNS: the public names (`ifconfig.me`, AWS service endpoints, endpoint names)
//! and, per VPC, the Route 53 private hosted zones associated with it and the private names
//! its interface endpoints add (private DNS). One resolver listens in each VPC at base + 2 and
//! one on the public side.
//!
//! A private hosted zone answers every name under its domain inside its VPCs, ahead of the
//! public names: a name it lacks is NXDOMAIN there, as Route 53 Resolver answers. CNAME chains
//! are followed (the answer carries each link), alias records answer with their target's
//! addresses.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::{Arc, RwLock},
};

use hickory_proto::{
    op::{Message, MessageType, ResponseCode},
    rr::{Name, RData, Record, RecordType, rdata::A, rdata::CNAME},
};
use tokio::{net::UdpSocket, task::JoinHandle};

use super::{
    addressing,
    hosted_zones::{HostedZone, RecordData},
};

/// How many CNAME or alias links a chain may have before it counts as a loop.
const CHAIN_LIMIT: usize = 8;

/// Name records by view: the public view and one per VPC.
#[derive(Debug, Default)]
pub(crate) struct Zones {
    public: Vec<(String, Vec<Ipv4Addr>)>,
    private: HashMap<String, Vec<(String, Vec<Ipv4Addr>)>>,
    /// Private hosted zones by associated VPC.
    hosted: HashMap<String, Vec<HostedZone>>,
}

/// A name's answer: the CNAME links on the way (`name -> target`), then the addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Each CNAME followed, in order.
    pub(crate) links: Vec<(String, String)>,
    /// The addresses at the end of the chain.
    pub(crate) addresses: Vec<Ipv4Addr>,
}

impl Zones {
    /// Adds a private hosted zone, seen from each VPC associated with it.
    pub(crate) fn add_hosted_zone(&mut self, zone: &HostedZone) {
        for vpc_id in &zone.vpc_ids {
            self.hosted
                .entry(vpc_id.clone())
                .or_default()
                .push(zone.clone());
        }
    }

    /// The most specific hosted zone of `view` that covers `name`.
    fn hosted_zone(&self, view: Option<&str>, name: &str) -> Option<&HostedZone> {
        self.hosted
            .get(view?)?
            .iter()
            .filter(|z| z.covers(name))
            .max_by_key(|z| z.name.len())
    }

    /// The answer for `name` seen from `view`, CNAMEs followed; `None` when the name does not
    /// exist (or its chain ends nowhere or loops).
    pub(crate) fn answer(&self, view: Option<&str>, name: &str) -> Option<Answer> {
        self.chain(view, &name.trim_end_matches('.').to_lowercase(), 0)
    }

    fn chain(&self, view: Option<&str>, name: &str, depth: usize) -> Option<Answer> {
        if depth > CHAIN_LIMIT {
            return None;
        }
        let Some(zone) = self.hosted_zone(view, name) else {
            return self.resolve_plain(view, name).map(|addresses| Answer {
                links: Vec::new(),
                addresses,
            });
        };
        let record = zone.records.iter().find(|r| r.name == name).or_else(|| {
            zone.records.iter().find(|r| {
                r.name
                    .strip_prefix("*.")
                    .is_some_and(|suffix| name.ends_with(&format!(".{suffix}")))
            })
        })?;
        match &record.data {
            RecordData::A(addresses) => Some(Answer {
                links: Vec::new(),
                addresses: addresses.clone(),
            }),
            RecordData::Cname(target) => {
                let mut rest = self.chain(view, target, depth + 1)?;
                rest.links.insert(0, (name.to_owned(), target.clone()));
                Some(rest)
            }
            RecordData::Alias(target) => {
                let addresses = self.chain(view, target, depth + 1)?.addresses;
                Some(Answer {
                    links: Vec::new(),
                    addresses,
                })
            }
        }
    }
    /// Adds a public name (`*.suffix` for a wildcard).
    pub(crate) fn add_public(&mut self, pattern: &str, addresses: Vec<Ipv4Addr>) {
        self.public.push((pattern.to_lowercase(), addresses));
    }

    /// Adds a name that only resolves inside `vpc_id`, ahead of the public one.
    pub(crate) fn add_private(&mut self, vpc_id: &str, pattern: &str, addresses: Vec<Ipv4Addr>) {
        self.private
            .entry(vpc_id.to_owned())
            .or_default()
            .push((pattern.to_lowercase(), addresses));
    }

    /// The addresses of `name` seen from `view` (a VPC id, or `None` for the public view);
    /// `None` when the name does not exist.
    pub(crate) fn resolve(&self, view: Option<&str>, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.answer(view, name).map(|a| a.addresses)
    }

    /// [`Zones::resolve`] outside the hosted zones: endpoint private DNS, then public names.
    fn resolve_plain(&self, view: Option<&str>, name: &str) -> Option<Vec<Ipv4Addr>> {
        let name = name.to_owned();
        let private = view.and_then(|v| self.private.get(v));
        if let Some(found) = private.and_then(|records| lookup(records, &name)) {
            return Some(found);
        }
        if let Some(found) = lookup(&self.public, &name) {
            return Some(found);
        }
        if name == "ifconfig.me" {
            return Some(vec![addressing::IFCONFIG_ME]);
        }
        if name == "ip-ranges.amazonaws.com" {
            return Some(vec![addressing::IP_RANGES]);
        }
        if let Some(service_name) = name.strip_suffix(".amazonaws.com") {
            // `dynamodb.us-east-1.amazonaws.com`, `bucket.s3.us-east-1.amazonaws.com`, ...
            let labels: Vec<&str> = service_name.split('.').collect();
            let service = if labels.contains(&"s3") {
                "s3"
            } else {
                labels.first().copied().unwrap_or_default()
            };
            return Some(vec![addressing::service_address(service)]);
        }
        None
    }
}

fn lookup(records: &[(String, Vec<Ipv4Addr>)], name: &str) -> Option<Vec<Ipv4Addr>> {
    records
        .iter()
        .find(|(pattern, _)| pattern == name)
        .or_else(|| {
            records.iter().find(|(pattern, _)| {
                pattern
                    .strip_prefix("*.")
                    .is_some_and(|suffix| name.ends_with(&format!(".{suffix}")))
            })
        })
        .map(|(_, addresses)| addresses.clone())
}

/// Serves DNS on `socket` for `view` until the task is aborted.
pub(crate) fn serve(
    socket: UdpSocket,
    zones: Arc<RwLock<Zones>>,
    view: Option<String>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buffer = vec![0_u8; 4096];
        loop {
            let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                continue;
            };
            let Ok(request) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            let response = {
                let zones = zones.read().unwrap_or_else(|e| e.into_inner());
                answer(&zones, view.as_deref(), &request)
            };
            if let Ok(bytes) = response.to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    })
}

fn answer(zones: &Zones, view: Option<&str>, request: &Message) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    let mut code = ResponseCode::NoError;
    for query in request.queries() {
        response.add_query(query.clone());
        match zones.answer(view, &query.name().to_ascii()) {
            None => code = ResponseCode::NXDomain,
            Some(answer) if query.query_type() == RecordType::A => {
                let mut owner = query.name().clone();
                for (_, target) in &answer.links {
                    let Ok(next) = Name::from_ascii(format!("{target}.")) else {
                        break;
                    };
                    response.add_answer(Record::from_rdata(
                        owner,
                        60,
                        RData::CNAME(CNAME(next.clone())),
                    ));
                    owner = next;
                }
                for address in answer.addresses {
                    response.add_answer(Record::from_rdata(
                        owner.clone(),
                        60,
                        RData::A(A(address)),
                    ));
                }
            }
            Some(_) => {}
        }
    }
    response.set_response_code(code);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_names_resolve_to_the_fabric_internet() {
        let zones = Zones::default();
        assert_eq!(
            zones.resolve(None, "ifconfig.me."),
            Some(vec![addressing::IFCONFIG_ME])
        );
        assert_eq!(
            zones.resolve(None, "dynamodb.us-east-1.amazonaws.com"),
            Some(vec![addressing::DYNAMODB])
        );
        assert_eq!(
            zones.resolve(None, "sqs.us-east-1.amazonaws.com"),
            Some(vec![addressing::AWS_SERVICES])
        );
        assert_eq!(zones.resolve(None, "example.com"), None);
    }

    fn zone(name: &str, vpc: &str, records: &[(&str, RecordData)]) -> HostedZone {
        HostedZone {
            id: "Z1".into(),
            name: name.into(),
            vpc_ids: vec![vpc.into()],
            records: records
                .iter()
                .map(|(n, d)| super::super::hosted_zones::ZoneRecord {
                    name: (*n).into(),
                    data: d.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn hosted_zones_answer_in_their_vpcs_and_follow_cnames() {
        let mut zones = Zones::default();
        let eni = Ipv4Addr::new(10, 1, 1, 9);
        let endpoint = "vpce-1-ab.execute-api.us-east-1.vpce.amazonaws.com";
        zones.add_public(endpoint, vec![eni]);
        zones.add_hosted_zone(&zone(
            "execute-api.us-east-1.amazonaws.com",
            "vpc-b",
            &[
                (
                    "api1.execute-api.us-east-1.amazonaws.com",
                    RecordData::Cname(endpoint.into()),
                ),
                (
                    "api2.execute-api.us-east-1.amazonaws.com",
                    RecordData::Alias(endpoint.into()),
                ),
                (
                    "loop.execute-api.us-east-1.amazonaws.com",
                    RecordData::Cname("loop.execute-api.us-east-1.amazonaws.com".into()),
                ),
            ],
        ));
        let answer = zones
            .answer(Some("vpc-b"), "API1.execute-api.us-east-1.amazonaws.com.")
            .unwrap();
        assert_eq!(
            answer.links,
            vec![(
                "api1.execute-api.us-east-1.amazonaws.com".into(),
                endpoint.into()
            )]
        );
        assert_eq!(answer.addresses, vec![eni]);
        let alias = zones.answer(Some("vpc-b"), "api2.execute-api.us-east-1.amazonaws.com");
        assert_eq!(
            alias.map(|a| (a.links.len(), a.addresses)),
            Some((0, vec![eni]))
        );
        // The zone owns its domain in its VPC: a name it lacks does not exist there.
        assert_eq!(
            zones.resolve(Some("vpc-b"), "other.execute-api.us-east-1.amazonaws.com"),
            None
        );
        assert_eq!(
            zones.resolve(Some("vpc-b"), "loop.execute-api.us-east-1.amazonaws.com"),
            None
        );
        // Invisible from a VPC that is not associated, and from the internet.
        let public = Some(vec![addressing::AWS_SERVICES]);
        assert_eq!(
            zones.resolve(Some("vpc-a"), "api1.execute-api.us-east-1.amazonaws.com"),
            public
        );
        assert_eq!(
            zones.resolve(None, "api1.execute-api.us-east-1.amazonaws.com"),
            public
        );
    }

    #[test]
    fn private_dns_wins_inside_its_vpc_only() {
        let mut zones = Zones::default();
        let eni = Ipv4Addr::new(10, 0, 1, 9);
        zones.add_private("vpc-1", "*.execute-api.us-east-1.amazonaws.com", vec![eni]);
        let name = "abc123.execute-api.us-east-1.amazonaws.com";
        assert_eq!(zones.resolve(Some("vpc-1"), name), Some(vec![eni]));
        assert_eq!(
            zones.resolve(Some("vpc-2"), name),
            Some(vec![addressing::AWS_SERVICES])
        );
        assert_eq!(
            zones.resolve(None, name),
            Some(vec![addressing::AWS_SERVICES])
        );
    }
}
