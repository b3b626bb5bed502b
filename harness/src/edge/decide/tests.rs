//! The front doors' decisions, one row per situation of AWS's table of private-API answers.

use std::net::SocketAddr;

use rstest::rstest;

use super::*;
use crate::edge::apis::ApiSnapshot;
use crate::fabric::{
    Topology,
    model::{Endpoint, EndpointKind},
};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456782087";

/// AWS's example: allow everyone, deny unless the call comes through `vpce-mine`.
const ONLY_MY_ENDPOINT: &str = r#"{"Statement": [
  {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
  {"Sid": "DenyOthers", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
   "Resource": "execute-api:/*", "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-mine"}}}]}"#;

/// An endpoint policy that admits only `GET /Prod/*` of any API.
const ONLY_GETS: &str = r#"{"Statement": [{"Sid": "Gets", "Effect": "Allow", "Principal": "*",
  "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:*/Prod/GET/*"}]}"#;

fn registry() -> Registry {
    let mut registry = Registry::default();
    let mut deploy = |id: &str, kind: &str, endpoints: &[&str], policy: Option<&str>| {
        let snapshot = ApiSnapshot {
            api_id: id.into(),
            region: REGION.into(),
            types: vec![kind.into()],
            vpc_endpoint_ids: endpoints.iter().map(|e| (*e).to_owned()).collect(),
            policy: policy.map(str::to_owned),
        };
        registry.deployed(&snapshot, ACCOUNT).expect("deployed");
    };
    deploy(
        "private1",
        "PRIVATE",
        &["vpce-mine"],
        Some(ONLY_MY_ENDPOINT),
    );
    deploy("public1", "REGIONAL", &[], None);
    let endpoint = |id: &str, policy: Option<&str>| Endpoint {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        service_name: format!("com.amazonaws.{REGION}.execute-api"),
        kind: EndpointKind::Interface,
        route_table_ids: Vec::new(),
        interface_ids: Vec::new(),
        group_ids: Vec::new(),
        private_dns: true,
        dns_names: Vec::new(),
        policy: policy.map(str::to_owned),
    };
    let topology = Topology {
        endpoints: vec![
            endpoint("vpce-mine", None),
            endpoint("vpce-other", None),
            endpoint("vpce-gets", Some(ONLY_GETS)),
        ],
        ..Topology::default()
    };
    assert!(registry.observe(&topology, ACCOUNT).is_empty());
    registry
}

fn arrival(door: &str) -> Arrival {
    let peer: SocketAddr = "10.0.1.9:40000".parse().expect("address");
    Arrival {
        door: match door {
            "internet" => Door::Internet,
            id => Door::Endpoint {
                id: id.into(),
                vpc_id: "vpc-1".into(),
                region: REGION.into(),
            },
        },
        peer,
        server_name: None,
    }
}

fn request(host: &str, method: &'static str, path: &'static str) -> Request<'static> {
    Request {
        target: crate::edge::names::target(host, None),
        method,
        path,
        caller: Caller::Anonymous,
        user_agent: None,
        referer: None,
    }
}

const PRIVATE: &str = "private1.execute-api.us-east-1.amazonaws.com";
const PUBLIC: &str = "public1.execute-api.us-east-1.amazonaws.com";
const MASKED: &str = "arn:aws:execute-api:us-east-1:********2087";

fn denied(resource: &str, explicit: bool) -> String {
    let suffix = if explicit {
        " with an explicit deny"
    } else {
        ""
    };
    format!(
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
         {MASKED}:{resource}{suffix}"
    )
}

#[rstest]
#[case::private_through_its_endpoint("vpce-mine", PRIVATE, "GET", "/Prod/getmyip", None)]
#[case::public_from_the_internet("internet", PUBLIC, "GET", "/Prod/getmyip", None)]
#[case::alias_through_its_endpoint(
    "vpce-mine",
    "private1-vpce-mine.execute-api.us-east-1.amazonaws.com",
    "POST",
    "/Prod/x",
    None
)]
#[case::other_endpoint_explicit_deny(
    "vpce-other",
    PRIVATE,
    "GET",
    "/Prod/getmyip",
    Some(denied("private1/Prod/GET/getmyip", true))
)]
#[case::endpoint_policy_refuses_a_post(
    "vpce-gets",
    PRIVATE,
    "POST",
    "/Prod/getmyip",
    Some(denied("private1/Prod/POST/getmyip", false))
)]
#[case::path_as_sent(
    "vpce-other",
    PRIVATE,
    "GET",
    "/test//",
    Some(denied("private1/test/GET//", true))
)]
fn endpoint_and_resource_policies_decide(
    #[case] door: &str,
    #[case] host: &str,
    #[case] method: &'static str,
    #[case] path: &'static str,
    #[case] access_denied: Option<String>,
) {
    let decision = decide(
        &registry(),
        &arrival(door),
        &request(host, method, path),
        ACCOUNT,
    );
    match access_denied {
        None => assert_eq!(decision, Decision::Pass),
        Some(expected) => match decision {
            Decision::AccessDenied { message, .. } => assert_eq!(message, expected),
            other => panic!("expected AccessDenied, got {other:?}"),
        },
    }
}

#[rstest]
#[case::private_from_the_internet("internet", PRIVATE, "/Prod/getmyip", "is PRIVATE")]
#[case::public_through_an_endpoint("vpce-mine", PUBLIC, "/Prod/getmyip", "REGIONAL")]
#[case::unknown_api(
    "internet",
    "nosuchapi.execute-api.us-east-1.amazonaws.com",
    "/Prod/x",
    "no deployed API"
)]
#[case::no_stage("internet", PUBLIC, "/", "no stage")]
#[case::alias_of_another_endpoint(
    "vpce-other",
    "private1-vpce-mine.execute-api.us-east-1.amazonaws.com",
    "/Prod/x",
    "came through vpce-other"
)]
#[case::alias_not_listed(
    "vpce-other",
    "private1-vpce-other.execute-api.us-east-1.amazonaws.com",
    "/Prod/x",
    "does not list vpce-other"
)]
#[case::alias_from_the_internet(
    "internet",
    "public1-vpce-mine.execute-api.us-east-1.amazonaws.com",
    "/Prod/x",
    "leads nowhere from the internet"
)]
#[case::not_an_api_name("internet", "example.com", "/Prod/x", "no API")]
fn wrong_doors_are_forbidden(
    #[case] door: &str,
    #[case] host: &str,
    #[case] path: &'static str,
    #[case] why: &str,
) {
    let decision = decide(
        &registry(),
        &arrival(door),
        &request(host, "GET", path),
        ACCOUNT,
    );
    match decision {
        Decision::Forbidden(reason) => assert!(reason.contains(why), "{reason}"),
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

/// An API answers only by its own region's names, and an endpoint serves only its region.
#[rstest]
#[case::name_of_another_region("vpce-mine", "no deployed API private1 in eu-west-1")]
#[case::endpoint_of_another_region("vpce-far", "endpoint vpce-far serves eu-west-1")]
fn regions_are_kept_apart(#[case] door: &str, #[case] why: &str) {
    let host = if door == "vpce-far" {
        PRIVATE.to_owned()
    } else {
        PRIVATE.replace("us-east-1", "eu-west-1")
    };
    let mut arrival = arrival(door);
    if let Door::Endpoint { region, .. } = &mut arrival.door
        && door == "vpce-far"
    {
        *region = "eu-west-1".into();
    }
    let decision = decide(
        &registry(),
        &arrival,
        &request(&host, "GET", "/Prod/x"),
        ACCOUNT,
    );
    let reason = decision_reason(&decision);
    assert!(reason.contains(why), "{reason}");
}

fn decision_reason(decision: &Decision) -> String {
    match decision {
        Decision::Forbidden(reason) => reason.clone(),
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[test]
fn the_deployment_freezes_the_policy() {
    let mut registry = registry();
    let allow_all = r#"{"Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]}"#;
    let before = decide(
        &registry,
        &arrival("vpce-other"),
        &request(PRIVATE, "GET", "/Prod/x"),
        ACCOUNT,
    );
    assert!(
        matches!(before, Decision::AccessDenied { .. }),
        "{before:?}"
    );
    let redeployed = ApiSnapshot {
        api_id: "private1".into(),
        region: REGION.into(),
        types: vec!["PRIVATE".into()],
        vpc_endpoint_ids: vec!["vpce-mine".into()],
        policy: Some(allow_all.into()),
    };
    registry.deployed(&redeployed, ACCOUNT).expect("deployed");
    let after = decide(
        &registry,
        &arrival("vpce-other"),
        &request(PRIVATE, "GET", "/Prod/x"),
        ACCOUNT,
    );
    assert_eq!(after, Decision::Pass);
}

/// A private custom domain: only through an associated endpoint, then the domain's policy
/// (none denies all), then the mapped API's; what passes goes to `/{stage}{path}` of the API.
#[rstest]
#[case::associated_and_allowed("vpce-mine", Some(ALLOW_ALL), Ok("/Prod/send-message"))]
#[case::not_associated(
    "vpce-other",
    Some(ALLOW_ALL),
    Err("no access association for endpoint vpce-other")
)]
#[case::no_domain_policy("vpce-mine", None, Err("has no policy"))]
#[case::from_the_internet(
    "internet",
    Some(ALLOW_ALL),
    Err("answers only through an execute-api endpoint")
)]
fn private_custom_domains_decide(
    #[case] door: &str,
    #[case] policy: Option<&str>,
    #[case] expected: Result<&str, &str>,
) {
    use crate::edge::domains::{DomainSpec, Mapping, PrivateDomain};
    let spec = DomainSpec {
        name: "private.example.com".into(),
        id: "d1".into(),
        region: REGION.into(),
        account: ACCOUNT.into(),
        policy: policy.map(str::to_owned),
    };
    let mut domain = PrivateDomain::new(&spec).expect("domain");
    domain.mappings.push(Mapping {
        base_path: String::new(),
        api_id: "private1".into(),
        stage: "Prod".into(),
    });
    domain.associations.push("vpce-mine".into());
    let request = request("private.example.com", "POST", "/send-message");

    let decided = decide_domain(&registry(), &arrival(door), &domain, &request);

    match (decided, expected) {
        (Ok(route), Ok(path)) => assert_eq!(route.upstream_path, path),
        (Err(Decision::Forbidden(why) | Decision::AccessDenied { by: why, .. }), Err(part)) => {
            assert!(why.contains(part), "{why}");
        }
        (other, expected) => panic!("expected {expected:?}, got {other:?}"),
    }
}

const ALLOW_ALL: &str = r#"{"Statement": [{"Effect": "Allow", "Principal": "*",
  "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]}"#;
