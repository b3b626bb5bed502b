//! The fabric's DNS: the public names (`ifconfig.me`, AWS service endpoints, endpoint names)
//! and, per VPC, the private names its interface endpoints add (private DNS). One resolver
//! listens in each VPC at base + 2 and one on the public side.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::{Arc, RwLock},
};

use hickory_proto::{
    op::{Message, MessageType, ResponseCode},
    rr::{RData, Record, RecordType, rdata::A},
};
use tokio::{net::UdpSocket, task::JoinHandle};

use super::addressing;

/// Name records by view: the public view and one per VPC.
#[derive(Debug, Default)]
pub(crate) struct Zones {
    public: Vec<(String, Vec<Ipv4Addr>)>,
    private: HashMap<String, Vec<(String, Vec<Ipv4Addr>)>>,
}

impl Zones {
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
        let name = name.trim_end_matches('.').to_lowercase();
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
        match zones.resolve(view, &query.name().to_ascii()) {
            None => code = ResponseCode::NXDomain,
            Some(addresses) if query.query_type() == RecordType::A => {
                for address in addresses {
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
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
