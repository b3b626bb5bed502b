//! What API Gateway checks about who may call a REST API, which the emulator does not: a
//! resource policy must be a policy the edge can evaluate, and the endpoints it names must
//! exist; `VpcEndpointIds` only go with PRIVATE APIs; a PRIVATE API cannot be deployed without
//! a resource policy (AWS answers these with `BadRequestException`).

use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType};

use super::{ProviderContext, ProviderError};
use crate::edge::{
    ApiSnapshot,
    policy::{ApiRef, Policy},
};

/// AWS's answer to `CreateRestApi` with endpoints on a public API.
const ENDPOINTS_ON_PUBLIC: &str =
    "BadRequestException: VPCEndpoints can only be specified with PRIVATE apis.";
/// AWS's answer to `CreateDeployment` of a PRIVATE API without a policy.
const PRIVATE_WITHOUT_POLICY: &str =
    "BadRequestException: Private REST API doesn't have a resource policy attached to it";

fn is_private(endpoints: Option<&EndpointConfiguration>) -> bool {
    endpoints.is_some_and(|e| e.types().contains(&EndpointType::Private))
}

/// Checks a REST API before it is created: its endpoint configuration, and its policy (which
/// must parse, and name only endpoints that exist).
pub(crate) async fn check_rest_api(
    ctx: &ProviderContext<'_>,
    subject: &str,
    policy: Option<&str>,
    endpoints: Option<&EndpointConfiguration>,
) -> Result<(), ProviderError> {
    let listed = endpoints.map(EndpointConfiguration::vpc_endpoint_ids);
    if listed.is_some_and(|ids| !ids.is_empty()) && !is_private(endpoints) {
        return Err(ProviderError::Invalid(format!(
            "CreateRestApi {subject}: {ENDPOINTS_ON_PUBLIC}"
        )));
    }
    let Some(policy) = policy else {
        return Ok(());
    };
    // The API has no id yet: the shorthand expands to a stand-in, enough to check the policy.
    let api = ApiRef {
        region: region(ctx),
        account: "000000000000".into(),
        api_id: "unassigned".into(),
    };
    let parsed = Policy::parse(policy, subject, &api)?;
    for (statement, vpce) in parsed.named_endpoints() {
        if !endpoint_exists(ctx, vpce).await? {
            return Err(ProviderError::Invalid(format!(
                "statement {statement} of the policy of {subject} names VPC endpoint {vpce}, \
                 which does not exist; name an execute-api endpoint of this account (e.g. \
                 !Ref of an AWS::EC2::VPCEndpoint)"
            )));
        }
    }
    Ok(())
}

/// Refuses to deploy a PRIVATE API that has no resource policy, as AWS does; else returns what
/// the deployment freezes (endpoint type, endpoints, policy), for [`record_deployment`].
pub(crate) async fn check_deployment(
    ctx: &ProviderContext<'_>,
    api_id: &str,
) -> Result<ApiSnapshot, ProviderError> {
    let api = ctx
        .clients
        .apigateway
        .get_rest_api()
        .rest_api_id(api_id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("GetRestApi {api_id}"), e))?;
    let has_policy = api.policy().is_some_and(|p| !p.trim().is_empty());
    if is_private(api.endpoint_configuration()) && !has_policy {
        return Err(ProviderError::Invalid(format!(
            "CreateDeployment of {api_id}: {PRIVATE_WITHOUT_POLICY}"
        )));
    }
    let endpoints = api.endpoint_configuration();
    let snapshot = ApiSnapshot {
        api_id: api_id.to_owned(),
        region: region(ctx),
        types: endpoints
            .map(|e| e.types().iter().map(|t| t.as_str().to_owned()).collect())
            .unwrap_or_else(|| vec!["EDGE".to_owned()]),
        vpc_endpoint_ids: endpoints
            .map(|e| e.vpc_endpoint_ids().to_vec())
            .unwrap_or_default(),
        policy: api.policy().map(unescape_policy),
    };
    // Parse now: a policy the edge cannot evaluate fails before anything is deployed.
    ctx.edge.check(&snapshot)?;
    Ok(snapshot)
}

/// Tells the edge that `snapshot` is deployed (once `CreateDeployment` succeeded).
pub(crate) fn record_deployment(
    ctx: &ProviderContext<'_>,
    snapshot: &ApiSnapshot,
) -> Result<(), ProviderError> {
    Ok(ctx.edge.deployed(snapshot)?)
}

/// API Gateway returns a stored policy with its quotes escaped (`{\"Version\":...}`);
/// LocalStack may return it plain. Either way, the JSON document.
fn unescape_policy(stored: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(stored).is_ok_and(|v| v.is_object()) {
        return stored.to_owned();
    }
    stored.replace("\\\"", "\"").replace("\\/", "/")
}

fn region(ctx: &ProviderContext<'_>) -> String {
    ctx.clients
        .apigateway
        .config()
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string())
}

async fn endpoint_exists(ctx: &ProviderContext<'_>, vpce: &str) -> Result<bool, ProviderError> {
    let described = ctx
        .clients
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(vpce)
        .send()
        .await;
    match described {
        Ok(found) => Ok(!found.vpc_endpoints().is_empty()),
        Err(e) => {
            let error = ProviderError::sdk(&format!("DescribeVpcEndpoints {vpce}"), e);
            if error.is_not_found() {
                Ok(false)
            } else {
                Err(error)
            }
        }
    }
}
