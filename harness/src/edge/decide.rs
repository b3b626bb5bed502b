//! Who may pass a front door: API Gateway's decision for one request, before any byte goes to
//! the emulator. Through the internet a PRIVATE API is Forbidden; through an execute-api
//! endpoint a public API is Forbidden (private DNS captures every API name); then the
//! endpoint's policy, then the API's resource policy (a PRIVATE API needs an explicit allow).

use std::net::{IpAddr, Ipv4Addr};

use super::{
    apis::{DeployedApi, Registry},
    domains::PrivateDomain,
    names::Target,
    policy::{ApiRef, Call, Caller, Policy, ThroughEndpoint, Verdict},
};
use crate::fabric::{Arrival, Door};

/// The edge's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Forward to the emulator.
    Pass,
    /// `403 ForbiddenException`, and why (for logs and explanations).
    Forbidden(String),
    /// `403 AccessDeniedException` with this message; `by` names the statement or policy.
    AccessDenied {
        /// AWS's message.
        message: String,
        /// What denied: "statement DenyOthers of the API's policy", ...
        by: String,
    },
}

/// One request as the edge sees it.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    /// Its target API, when its name leads to one.
    pub(crate) target: Option<Target>,
    /// The HTTP method.
    pub(crate) method: &'a str,
    /// The path as sent (`/Prod/getmyip`).
    pub(crate) path: &'a str,
    /// Who signed it.
    pub(crate) caller: Caller,
    /// Its `User-Agent` header.
    pub(crate) user_agent: Option<String>,
    /// Its `Referer` header.
    pub(crate) referer: Option<String>,
}

/// Decides a request that arrived as `arrival`, for the world of `account`.
pub(crate) fn decide(
    registry: &Registry,
    arrival: &Arrival,
    request: &Request<'_>,
    account: &str,
) -> Decision {
    let Some(target) = &request.target else {
        return Decision::Forbidden("the name leads to no API".into());
    };
    let Some(api) = registry
        .api(&target.api_id)
        .filter(|api| api.region == target.region)
    else {
        return Decision::Forbidden(format!(
            "no deployed API {} in {}",
            target.api_id, target.region
        ));
    };
    let Some((stage, path)) = split_stage(request.path) else {
        return Decision::Forbidden("the path names no stage".into());
    };
    let call = |endpoint, source_ip| Call {
        api: ApiRef {
            region: api.region.clone(),
            account: account.to_owned(),
            api_id: target.api_id.clone(),
        },
        stage: stage.to_owned(),
        method: request.method.to_owned(),
        path: path.to_owned(),
        caller: request.caller.clone(),
        endpoint,
        source_ip,
        user_agent: request.user_agent.clone(),
        referer: request.referer.clone(),
    };
    match &arrival.door {
        Door::Internet => {
            if let Some(refused) = refuse_at_internet(api, target) {
                return refused;
            }
            let call = call(None, ipv4(arrival.peer.ip()));
            by_resource_policy(api.policy.as_ref(), &call, false)
        }
        Door::Endpoint { id, vpc_id, region } => {
            if region != &target.region {
                return Decision::Forbidden(format!(
                    "endpoint {id} serves {region}: an interface endpoint reaches only the \
                     APIs of its own region"
                ));
            }
            if let Some(refused) = refuse_at_endpoint(api, target, id) {
                return refused;
            }
            let through = ThroughEndpoint {
                vpce_id: id.clone(),
                vpc_id: vpc_id.clone(),
                caller_ip: ipv4(arrival.peer.ip()).unwrap_or(Ipv4Addr::UNSPECIFIED),
            };
            let call = call(Some(through), None);
            match by_endpoint_policy(registry, id, &call) {
                Decision::Pass => by_resource_policy(api.policy.as_ref(), &call, true),
                denied => denied,
            }
        }
    }
}

/// Where a call to a private custom domain goes once it passed: the API, its region, and the
/// path the emulator serves it under (`/{stage}/{rest}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainRoute {
    /// The mapped REST API.
    pub(crate) api_id: String,
    /// Its region.
    pub(crate) region: String,
    /// `/{stage}{rest}`.
    pub(crate) upstream_path: String,
}

/// Decides a call to private custom domain `domain`: only through an endpoint associated with
/// it (else Forbidden), then the endpoint's policy, the domain's policy (none: a new domain
/// denies all) and the mapped API's resource policy.
pub(crate) fn decide_domain(
    registry: &Registry,
    arrival: &Arrival,
    domain: &PrivateDomain,
    request: &Request<'_>,
) -> Result<DomainRoute, Decision> {
    let Door::Endpoint { id, vpc_id, region } = &arrival.door else {
        return Err(Decision::Forbidden(format!(
            "{} is a private custom domain: it answers only through an execute-api endpoint",
            domain.name
        )));
    };
    if region != &domain.region || !domain.associations.contains(id) {
        return Err(Decision::Forbidden(format!(
            "domain name {} has no access association for endpoint {id}",
            domain.name
        )));
    }
    let (mapping, rest) = domain.route(request.path).ok_or_else(|| {
        Decision::Forbidden(format!(
            "no base path mapping of {} matches {}",
            domain.name, request.path
        ))
    })?;
    let api = registry
        .api(&mapping.api_id)
        .filter(|api| api.region == domain.region)
        .ok_or_else(|| Decision::Forbidden(format!("no deployed API {}", mapping.api_id)))?;
    let through = ThroughEndpoint {
        vpce_id: id.clone(),
        vpc_id: vpc_id.clone(),
        caller_ip: ipv4(arrival.peer.ip()).unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    let call = Call {
        api: ApiRef {
            region: api.region.clone(),
            account: domain.subject.account.clone(),
            api_id: mapping.api_id.clone(),
        },
        stage: mapping.stage.clone(),
        method: request.method.to_owned(),
        path: rest.to_owned(),
        caller: request.caller.clone(),
        endpoint: Some(through),
        source_ip: None,
        user_agent: request.user_agent.clone(),
        referer: request.referer.clone(),
    };
    if let Some(denied) = by_domain_policies(registry, id, domain, api, &call) {
        return Err(denied);
    }
    Ok(DomainRoute {
        api_id: mapping.api_id.clone(),
        region: api.region.clone(),
        upstream_path: format!("/{}{}", mapping.stage, rest),
    })
}

/// The endpoint's policy, then the domain's, then the mapped API's: the first that does not
/// let `call` through, if any.
fn by_domain_policies(
    registry: &Registry,
    endpoint: &str,
    domain: &PrivateDomain,
    api: &DeployedApi,
    call: &Call,
) -> Option<Decision> {
    let as_domain = Call {
        api: domain.subject.clone(),
        ..call.clone()
    };
    let by_domain = || match &domain.policy {
        None => Decision::AccessDenied {
            message: as_domain.access_denied_message(false),
            by: format!(
                "domain name {} has no policy (a new domain denies all)",
                domain.name
            ),
        },
        Some(policy) => judged(
            &as_domain,
            policy.evaluate(&as_domain),
            "the domain's policy",
        ),
    };
    [
        by_endpoint_policy(registry, endpoint, call),
        by_domain(),
        by_resource_policy(api.policy.as_ref(), call, api.is_private()),
    ]
    .into_iter()
    .find(|d| d != &Decision::Pass)
}

/// `/Prod/getmyip` -> (`Prod`, `/getmyip`); `/Prod` -> (`Prod`, `/`).
fn split_stage(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (stage, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    (!stage.is_empty()).then_some((stage, path))
}

fn ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

fn refuse_at_internet(api: &DeployedApi, target: &Target) -> Option<Decision> {
    if target.by_endpoint_name {
        return Some(Decision::Forbidden(
            "a VPC endpoint's own name leads nowhere from the internet".into(),
        ));
    }
    if api.is_private() {
        return Some(Decision::Forbidden(format!(
            "API {} is PRIVATE: it answers only through an execute-api VPC endpoint",
            target.api_id
        )));
    }
    target.vpce_in_name.as_ref().map(|vpce| {
        Decision::Forbidden(format!(
            "{}-{vpce} is a VPC endpoint's name: it leads nowhere from the internet",
            target.api_id
        ))
    })
}

fn refuse_at_endpoint(api: &DeployedApi, target: &Target, endpoint: &str) -> Option<Decision> {
    if !api.is_private() {
        return Some(Decision::Forbidden(format!(
            "API {} is {}: through an execute-api endpoint only PRIVATE APIs answer (private \
             DNS sends every execute-api name of the VPC to the endpoint)",
            target.api_id,
            api.types.join(", ")
        )));
    }
    match &target.vpce_in_name {
        Some(vpce) if vpce != endpoint => Some(Decision::Forbidden(format!(
            "the name names endpoint {vpce}, but the call came through {endpoint}"
        ))),
        Some(_) if !api.vpc_endpoint_ids.iter().any(|v| v == endpoint) => {
            Some(Decision::Forbidden(format!(
                "API {} does not list {endpoint} in its VpcEndpointIds",
                target.api_id
            )))
        }
        _ => None,
    }
}

fn by_endpoint_policy(registry: &Registry, endpoint: &str, call: &Call) -> Decision {
    let policy = match registry.endpoint_policy(endpoint) {
        Ok(None) => return Decision::Pass,
        Ok(Some(policy)) => policy,
        Err(()) => {
            return Decision::AccessDenied {
                message: call.access_denied_message(false),
                by: format!("the policy of {endpoint}, which the edge could not read"),
            };
        }
    };
    judged(
        call,
        policy.evaluate(call),
        &format!("the policy of endpoint {endpoint}"),
    )
}

fn by_resource_policy(policy: Option<&Policy>, call: &Call, required: bool) -> Decision {
    let Some(policy) = policy else {
        return if required {
            Decision::AccessDenied {
                message: call.access_denied_message(false),
                by: "the API has no resource policy".into(),
            }
        } else {
            Decision::Pass
        };
    };
    judged(call, policy.evaluate(call), "the API's resource policy")
}

/// The decision a policy's verdict gives (`whose` names the policy).
fn judged(call: &Call, verdict: Verdict, whose: &str) -> Decision {
    let (explicit, by) = match verdict {
        Verdict::Allowed { .. } => return Decision::Pass,
        Verdict::Denied { statement } => (true, format!("statement {statement} of {whose}")),
        Verdict::NotAllowed => (false, format!("no statement of {whose} allows the call")),
        Verdict::Unevaluable { reason } => {
            (false, format!("{whose} cannot be evaluated: {reason}"))
        }
    };
    Decision::AccessDenied {
        message: call.access_denied_message(explicit),
        by,
    }
}

#[cfg(test)]
mod tests;
