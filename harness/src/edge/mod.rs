//! The edge: execute-api front doors. Calls to REST APIs are authorised here as AWS authorises
//! them (endpoint policy, then the API's resource policy) before they reach the emulator's
//! data plane, which does not enforce them.
//!
//! The fabric terminates TLS where the packets arrive (the public regional endpoint on the
//! sealed internet, an execute-api endpoint's ENI) and hands the stream to the [`Edge`], which
//! reads each request, decides ([`decide`]), and forwards what passes to the emulator with its
//! method, path, query, headers and body intact, or answers as API Gateway does ([`answers`]).

mod answers;
mod apis;
mod decide;
pub(crate) mod domains;
mod forward;
mod names;
pub(crate) mod policy;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, RwLock},
};

use hyper::{Request, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};

pub(crate) use apis::ApiSnapshot;
pub(crate) use policy::PolicyError;

use self::{
    apis::Registry,
    decide::Decision,
    domains::{Domains, Mapping, PrivateDomain},
    forward::{Forwarded, Upstream, answer},
    policy::Caller,
};
use crate::fabric::{Arrival, Door, DoorStream, FrontDoor, HEADER_READ_LIMIT, Served, Topology};

/// One world's front doors: what it knows of the world's APIs and endpoints, and the way to
/// the emulator's data plane.
#[derive(Debug)]
pub struct Edge {
    account: String,
    registry: RwLock<Registry>,
    domains: RwLock<Domains>,
    upstream: Upstream,
    /// The last refusals, newest last (for explanations): `(api, why)`.
    refusals: Mutex<Vec<(String, String)>>,
}

impl Edge {
    /// The front doors of `account`, in every region, forwarding to the emulator at
    /// `emulator`.
    pub(crate) fn new(account: &str, emulator: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            account: account.to_owned(),
            registry: RwLock::default(),
            domains: RwLock::default(),
            upstream: Upstream::new(emulator),
            refusals: Mutex::default(),
        })
    }

    /// Records a deployment: the API's endpoint type, endpoints and policy as they are now.
    pub(crate) fn deployed(&self, snapshot: &ApiSnapshot) -> Result<(), PolicyError> {
        self.write().deployed(snapshot, &self.account)
    }

    /// Checks that a deployment's policy can be evaluated, without recording it.
    pub(crate) fn check(&self, snapshot: &ApiSnapshot) -> Result<(), PolicyError> {
        Registry::default().deployed(snapshot, &self.account)
    }

    /// Records a created private custom domain (it denies all until its policy allows).
    pub(crate) fn domain_created(&self, domain: PrivateDomain) {
        self.domains_mut().created(domain);
    }

    /// Forgets the domain of `arn`, its mappings and associations with it.
    pub(crate) fn domain_deleted(&self, arn: &str) {
        self.domains_mut().deleted(arn);
    }

    /// The name and region of the domain of `arn`, if the engine created it.
    pub(crate) fn domain(&self, arn: &str) -> Option<(String, String)> {
        self.domains
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_arn(arn)
            .map(|d| (d.name.clone(), d.region.clone()))
    }

    /// Adds (`true`) or removes a base path mapping of the domain of `arn`; `false` when the
    /// domain is unknown.
    pub(crate) fn domain_mapping(&self, arn: &str, mapping: Mapping, add: bool) -> bool {
        let mut domains = self.domains_mut();
        let Some(domain) = domains.by_arn_mut(arn) else {
            return false;
        };
        domain.mappings.retain(|m| m.base_path != mapping.base_path);
        if add {
            domain.mappings.push(mapping);
        }
        true
    }

    /// Adds (`true`) or removes the access association of endpoint `vpce` with the domain of
    /// `arn`; `false` when the domain is unknown.
    pub(crate) fn domain_association(&self, arn: &str, vpce: &str, add: bool) -> bool {
        let mut domains = self.domains_mut();
        let Some(domain) = domains.by_arn_mut(arn) else {
            return false;
        };
        domain.associations.retain(|v| v != vpce);
        if add {
            domain.associations.push(vpce.to_owned());
        }
        true
    }

    fn domains_mut(&self) -> std::sync::RwLockWriteGuard<'_, Domains> {
        self.domains.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a deleted API.
    pub(crate) fn deleted(&self, api_id: &str) {
        self.write().deleted(api_id);
    }

    /// Reads the execute-api endpoints' policies from the topology EC2 described; returns the
    /// policies that cannot be evaluated (every call through them is denied).
    pub(crate) fn observe(&self, topology: &Topology) -> Vec<PolicyError> {
        self.write().observe(topology, &self.account)
    }

    /// Why the front doors last refused calls to `api_id`, newest last: the statement that
    /// denied, the missing endpoint, the wrong door.
    pub fn refusals(&self, api_id: &str) -> Vec<String> {
        self.refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(api, _)| api == api_id)
            .map(|(_, why)| why.clone())
            .collect()
    }

    /// What the front door at `arrival` would answer an anonymous `method` of `path` on `host`,
    /// and why: the statement that denies, the missing endpoint, the wrong door.
    pub(crate) fn explain(
        &self,
        arrival: &Arrival,
        host: &str,
        method: &str,
        path: &str,
    ) -> String {
        let target = names::target(host, None);
        let door = match &arrival.door {
            Door::Internet => "the public regional endpoint".to_owned(),
            Door::Endpoint { id, .. } => format!("execute-api endpoint {id}"),
        };
        let request = decide::Request {
            target,
            method,
            path,
            caller: Caller::Anonymous,
            user_agent: None,
            referer: None,
        };
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        let domain = request
            .target
            .is_none()
            .then(|| {
                self.domains
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .named(host)
                    .cloned()
            })
            .flatten();
        let decision = match &domain {
            Some(domain) => match decide::decide_domain(&registry, arrival, domain, &request) {
                Ok(route) => {
                    return format!(
                        "{door} lets {method} {path} on {host} through, to {} {}",
                        route.api_id, route.upstream_path
                    );
                }
                Err(refused) => refused,
            },
            None => decide::decide(&registry, arrival, &request, &self.account),
        };
        match decision {
            Decision::Pass => format!("{door} lets {method} {path} on {host} through"),
            Decision::Forbidden(why) => {
                format!("{door} answers 403 ForbiddenException to {method} {path} on {host}: {why}")
            }
            Decision::AccessDenied { by, .. } => format!(
                "{door} answers 403 AccessDeniedException to {method} {path} on {host}: {by}"
            ),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides and answers one request.
    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        arrival: Arc<Arrival>,
    ) -> Forwarded {
        let host = request
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(arrival.server_name.as_deref())
            .unwrap_or_default()
            .to_owned();
        let api_header = header(&request, "x-apigw-api-id");
        let target = names::target(&host, api_header.as_deref());
        if target.is_none() {
            let domain = self
                .domains
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .named(&host)
                .cloned();
            if let Some(domain) = domain {
                return self.handle_domain(request, &arrival, &domain).await;
            }
        }
        let decision = {
            let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
            let seen = decide::Request {
                target: target.clone(),
                method: request.method().as_str(),
                path: request.uri().path(),
                caller: caller(&request, &self.account),
                user_agent: header(&request, "user-agent"),
                referer: header(&request, "referer"),
            };
            decide::decide(&registry, &arrival, &seen, &self.account)
        };
        let (api, region) = target
            .as_ref()
            .map(|t| (t.api_id.clone(), t.region.clone()))
            .unwrap_or_default();
        match decision {
            Decision::Pass => {
                let through = match &arrival.door {
                    Door::Endpoint { id, .. } => Some(id.as_str()),
                    Door::Internet => None,
                };
                // The emulator routes by `Host`: name the API the edge decided on, whatever name
                // (an endpoint's, a trailing dot, none but the TLS server name) the caller used.
                let canonical = format!("{api}.execute-api.{region}.amazonaws.com");
                self.upstream
                    .forward(request, arrival.peer, through, &canonical)
                    .await
            }
            Decision::Forbidden(why) => {
                self.refused(api, why);
                answer(answers::forbidden())
            }
            Decision::AccessDenied { message, by } => {
                self.refused(api, by);
                answer(answers::access_denied(&message))
            }
        }
    }

    /// Decides and answers one request to a private custom domain.
    async fn handle_domain(
        &self,
        mut request: Request<Incoming>,
        arrival: &Arrival,
        domain: &PrivateDomain,
    ) -> Forwarded {
        let decision = {
            let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
            let seen = decide::Request {
                target: None,
                method: request.method().as_str(),
                path: request.uri().path(),
                caller: caller(&request, &self.account),
                user_agent: header(&request, "user-agent"),
                referer: header(&request, "referer"),
            };
            decide::decide_domain(&registry, arrival, domain, &seen)
        };
        let route = match decision {
            Ok(route) => route,
            Err(Decision::AccessDenied { message, by }) => {
                self.refused(domain.name.clone(), by);
                return answer(answers::access_denied(&message));
            }
            Err(other) => {
                let why = match other {
                    Decision::Forbidden(why) => why,
                    _ => "refused".to_owned(),
                };
                self.refused(domain.name.clone(), why);
                return answer(answers::forbidden());
            }
        };
        let query = request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        match format!("{}{query}", route.upstream_path).parse() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => return answer(answers::forbidden()),
        }
        let through = match &arrival.door {
            Door::Endpoint { id, .. } => Some(id.as_str()),
            Door::Internet => None,
        };
        let canonical = format!(
            "{}.execute-api.{}.amazonaws.com",
            route.api_id, route.region
        );
        self.upstream
            .forward(request, arrival.peer, through, &canonical)
            .await
    }

    fn refused(&self, api: String, why: String) {
        tracing::debug!("vpclab edge: refused a call to {api}: {why}");
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        if refusals.len() >= 256 {
            refusals.remove(0);
        }
        refusals.push((api, why));
    }
}

impl FrontDoor for Edge {
    fn serve(self: Arc<Self>, stream: DoorStream, arrival: Arrival) -> Served {
        Box::pin(async move {
            let arrival = Arc::new(arrival);
            let service = service_fn(move |request| {
                let (edge, arrival) = (self.clone(), arrival.clone());
                async move { Ok::<_, std::convert::Infallible>(edge.handle(request, arrival).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_LIMIT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        })
    }

    fn endpoint_aliases(&self) -> Vec<(String, String)> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .aliases()
    }
}

fn header(request: &Request<Incoming>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The caller: the principal of a SigV4 `Authorization` header (its access key is an account
/// id in vpclab's worlds; the signature is not verified, as the emulator does not verify it
/// either), else anonymous (no header, a bearer token: IAM does not know them).
fn caller(request: &Request<Incoming>, account: &str) -> Caller {
    let Some(authorization) = header(request, "authorization")
        .filter(|a| a.starts_with("AWS4-HMAC-SHA256 ") && a.contains("Credential="))
    else {
        return Caller::Anonymous;
    };
    let key = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .unwrap_or_default();
    let owner = if key.len() == 12 && key.bytes().all(|b| b.is_ascii_digit()) {
        key
    } else {
        account
    };
    Caller::Signed(format!("arn:aws:iam::{owner}:root"))
}
