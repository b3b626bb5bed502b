//! Why an API call from a host is refused: the path the call's packets take (the name as the
//! host's resolver answers it, the endpoint ENI or the internet that address leads to), then
//! what the front door there decides.

use std::net::{Ipv4Addr, SocketAddr};

use super::World;
use crate::{
    Error,
    fabric::{Arrival, Door, FabricError, Host, HostKind, Topology, addressing},
};

impl World {
    /// Explains what an anonymous `method` of `url` from `from` (a host of the fabric; `None`
    /// for a client on the internet) gets from API Gateway, and why: "... answers 403
    /// AccessDeniedException ...: statement DenyOthers of the API's resource policy".
    pub async fn explain_api_call(
        &self,
        from: Option<&Host>,
        method: &str,
        url: &str,
    ) -> Result<String, Error> {
        let (name, path) = split_url(url)?;
        let fabric = self.fabric();
        let view = from.map(|h| h.vpc_id.as_str());
        let address = fabric
            .resolve(view, name)
            .and_then(|a| a.first().copied())
            .ok_or_else(|| topology(format!("{name} does not resolve from {}", who(from))))?;
        let topology = fabric.topology().await;
        let Some(door) = door_at(&fabric.hosts().await, &topology, view, address) else {
            return Ok(format!(
                "{name} resolves to {address} from {}, where no API Gateway front door \
                 answers: the call leads nowhere",
                who(from)
            ));
        };
        let peer = from.map_or(addressing::INTERNET_CLIENT, |h| h.address);
        let arrival = Arrival {
            door,
            peer: SocketAddr::from((peer, 443)),
            server_name: Some(name.to_owned()),
        };
        Ok(self.edge().explain(&arrival, name, method, path))
    }
}

/// The door at `address` seen from `view`: an execute-api endpoint's ENI in that VPC (else
/// in another VPC, reached over a peering), or the public regional endpoint.
fn door_at(
    hosts: &[Host],
    topology: &Topology,
    view: Option<&str>,
    address: Ipv4Addr,
) -> Option<Door> {
    if address == addressing::AWS_SERVICES {
        return Some(Door::Internet);
    }
    let at = |h: &&Host| h.address == address;
    let host = hosts
        .iter()
        .filter(at)
        .find(|h| Some(h.vpc_id.as_str()) == view)
        .or_else(|| hosts.iter().find(at))?;
    match &host.kind {
        HostKind::Endpoint { id } => Some(Door::Endpoint {
            id: id.clone(),
            vpc_id: host.vpc_id.clone(),
            region: topology.region_of(&host.vpc_id).to_owned(),
        }),
        _ => None,
    }
}

fn split_url(url: &str) -> Result<(&str, &str), FabricError> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| FabricError::Topology(format!("{url} is not an https:// URL")))?;
    // The method ARN has no query or fragment, as a live call's has none.
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    Ok(match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    })
}

fn who(from: Option<&Host>) -> String {
    from.map_or("the internet".to_owned(), |h| {
        format!("{} ({})", h.netns, h.vpc_id)
    })
}

fn topology(message: String) -> Error {
    Error::from(FabricError::Topology(message))
}
