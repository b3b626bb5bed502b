//! What the edge knows of each REST API and execute-api endpoint: the API as its last
//! deployment froze it (endpoint type, listed endpoints, resource policy: a policy change
//! takes effect with the next deployment, as in AWS), and each endpoint's policy as EC2
//! last described it.

use std::collections::HashMap;

use super::policy::{ApiRef, Policy, PolicyError};
use crate::fabric::Topology;

/// A REST API as deployed.
#[derive(Debug, Clone)]
pub(crate) struct DeployedApi {
    /// Its region.
    pub(crate) region: String,
    /// Its endpoint types (`PRIVATE`, `REGIONAL`, `EDGE`).
    pub(crate) types: Vec<String>,
    /// The endpoints of its `EndpointConfiguration.VpcEndpointIds`.
    pub(crate) vpc_endpoint_ids: Vec<String>,
    /// Its resource policy.
    pub(crate) policy: Option<Policy>,
}

impl DeployedApi {
    /// Whether it is a PRIVATE API.
    pub(crate) fn is_private(&self) -> bool {
        self.types.iter().any(|t| t == "PRIVATE")
    }
}

/// An API's settings as a deployment reads them back.
#[derive(Debug, Clone, Default)]
pub(crate) struct ApiSnapshot {
    /// The REST API id.
    pub(crate) api_id: String,
    /// Its region.
    pub(crate) region: String,
    /// Its endpoint types.
    pub(crate) types: Vec<String>,
    /// Its `VpcEndpointIds`.
    pub(crate) vpc_endpoint_ids: Vec<String>,
    /// Its resource policy document, when it has one.
    pub(crate) policy: Option<String>,
}

/// The APIs and endpoint policies of one world.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    apis: HashMap<String, DeployedApi>,
    /// Endpoint policies by endpoint id (`None`: full access, AWS's default).
    endpoint_policies: HashMap<String, Option<Policy>>,
}

impl Registry {
    /// Records a deployment of `snapshot` in `account`.
    pub(crate) fn deployed(
        &mut self,
        snapshot: &ApiSnapshot,
        account: &str,
    ) -> Result<(), PolicyError> {
        let api = ApiRef {
            region: snapshot.region.clone(),
            account: account.to_owned(),
            api_id: snapshot.api_id.clone(),
        };
        let policy = snapshot
            .policy
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|text| Policy::parse(text, &format!("REST API {}", snapshot.api_id), &api))
            .transpose()?;
        self.apis.insert(
            snapshot.api_id.clone(),
            DeployedApi {
                region: snapshot.region.clone(),
                types: snapshot.types.clone(),
                vpc_endpoint_ids: snapshot.vpc_endpoint_ids.clone(),
                policy,
            },
        );
        Ok(())
    }

    /// Forgets a deleted API.
    pub(crate) fn deleted(&mut self, api_id: &str) {
        self.apis.remove(api_id);
    }

    /// The API `api_id`, if deployed.
    pub(crate) fn api(&self, api_id: &str) -> Option<&DeployedApi> {
        self.apis.get(api_id)
    }

    /// Every `(api, endpoint)` pair of the deployed APIs' `VpcEndpointIds`.
    pub(crate) fn aliases(&self) -> Vec<(String, String)> {
        let mut aliases: Vec<_> = self
            .apis
            .iter()
            .flat_map(|(id, api)| api.vpc_endpoint_ids.iter().map(|v| (id.clone(), v.clone())))
            .collect();
        aliases.sort();
        aliases
    }

    /// Reads the execute-api endpoints' policies from a topology EC2 described. A policy the
    /// edge cannot evaluate is kept as an error, and every call through it is denied.
    pub(crate) fn observe(&mut self, topology: &Topology, account: &str) -> Vec<PolicyError> {
        let mut problems = Vec::new();
        self.endpoint_policies.clear();
        for endpoint in topology
            .endpoints
            .iter()
            .filter(|e| e.service() == "execute-api")
        {
            let subject = format!("VPC endpoint {}", endpoint.id);
            let every_api = ApiRef {
                region: endpoint.region().to_owned(),
                account: account.to_owned(),
                api_id: "*".to_owned(),
            };
            let parsed = endpoint
                .policy
                .as_deref()
                .map(|text| Policy::parse(text, &subject, &every_api));
            match parsed.transpose() {
                Ok(policy) => {
                    self.endpoint_policies.insert(endpoint.id.clone(), policy);
                }
                Err(e) => problems.push(e),
            }
        }
        problems
    }

    /// The policy of endpoint `id`: `Ok(None)` for full access, `Err` when it could not be
    /// read (the edge denies).
    pub(crate) fn endpoint_policy(&self, id: &str) -> Result<Option<&Policy>, ()> {
        self.endpoint_policies.get(id).map(Option::as_ref).ok_or(())
    }
}
