//! Table-driven cases from AWS's documented private-API policies and evaluation logic.

use rstest::rstest;

use super::*;

const ACCOUNT: &str = "123456782087";

fn api() -> ApiRef {
    ApiRef {
        region: "eu-west-2".into(),
        account: ACCOUNT.into(),
        api_id: "uiv82new6b".into(),
    }
}

/// A call of `GET /getmyip` on stage `prod`.
fn call(endpoint: Option<&str>, caller_ip: [u8; 4], source_ip: Option<[u8; 4]>) -> Call {
    Call {
        api: api(),
        stage: "prod".into(),
        method: "GET".into(),
        path: "/getmyip".into(),
        caller: Caller::Anonymous,
        endpoint: endpoint.map(|vpce| ThroughEndpoint {
            vpce_id: vpce.into(),
            vpc_id: "vpc-1111".into(),
            caller_ip: Ipv4Addr::from(caller_ip),
        }),
        source_ip: source_ip.map(Ipv4Addr::from),
        user_agent: Some("curl/7.88.1".into()),
        referer: None,
    }
}

fn via(vpce: &str) -> Call {
    call(Some(vpce), [10, 0, 1, 5], None)
}

fn from_internet(ip: [u8; 4]) -> Call {
    call(None, [0, 0, 0, 0], Some(ip))
}

fn policy(text: &str) -> Policy {
    Policy::parse(text, "REST API uiv82new6b", &api()).expect("a valid policy")
}

/// AWS's example: allow everyone, deny unless the call comes through one endpoint.
const ONLY_MY_ENDPOINT: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/*"},
    {"Sid": "DenyOthers", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/*",
     "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-mine"}}}
  ]
}"#;

fn allowed(statement: &str) -> Verdict {
    Verdict::Allowed {
        statement: statement.into(),
    }
}

fn denied(statement: &str) -> Verdict {
    Verdict::Denied {
        statement: statement.into(),
    }
}

#[rstest]
#[case::through_the_endpoint(via("vpce-mine"), allowed("#1"))]
#[case::through_another_endpoint(via("vpce-other"), denied("DenyOthers"))]
// The key is absent outside an endpoint: the negated operator is true, so the deny matches.
#[case::from_the_internet(from_internet([203, 0, 113, 7]), denied("DenyOthers"))]
fn deny_unless_my_endpoint(#[case] call: Call, #[case] expected: Verdict) {
    assert_eq!(policy(ONLY_MY_ENDPOINT).evaluate(&call), expected);
}

#[rstest]
#[case::allow_names_the_endpoint(
    r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-mine"}}}}"#,
    via("vpce-other"),
    Verdict::NotAllowed
)]
#[case::if_exists_is_true_on_an_absent_key(
    r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
        "Condition": {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-mine"}}}]}"#,
    from_internet([203, 0, 113, 7]),
    allowed("#1")
)]
#[case::for_any_value_matches_one_of_the_list(
    r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
        "Condition": {"ForAnyValue:StringEquals": {"aws:SourceVpce": ["vpce-a", "vpce-mine"]}}}]}"#,
    via("vpce-mine"),
    allowed("#1")
)]
#[case::source_ip_range_admits_its_addresses(
    r#"{"Statement": [{"Sid": "Office", "Effect": "Allow", "Principal": "*",
        "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}"#,
    from_internet([203, 0, 113, 7]),
    allowed("Office")
)]
#[case::source_ip_range_refuses_others(
    r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}"#,
    from_internet([198, 51, 100, 1]),
    Verdict::NotAllowed
)]
// Through an endpoint the source address is rewritten: aws:SourceIp is absent.
#[case::source_ip_is_absent_through_an_endpoint(
    r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}"#,
    via("vpce-mine"),
    Verdict::NotAllowed
)]
#[case::vpc_source_ip_outside_the_range_is_denied(
    r#"{"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Sid": "OnlyTheVpc", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": "execute-api:/*",
         "Condition": {"NotIpAddress": {"aws:VpcSourceIp": "10.9.0.0/16"}}}]}"#,
    via("vpce-mine"),
    denied("OnlyTheVpc")
)]
#[case::not_action_covers_invoke(
    r#"{"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Sid": "NotManage", "Effect": "Deny", "Principal": "*",
         "NotAction": "execute-api:ManageConnections", "Resource": "execute-api:/*"}]}"#,
    via("vpce-mine"),
    denied("NotManage")
)]
#[case::secure_transport_is_true(
    r#"{"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}"#,
    via("vpce-mine"),
    allowed("#1")
)]
fn condition_operators(#[case] text: &str, #[case] call: Call, #[case] expected: Verdict) {
    assert_eq!(policy(text).evaluate(&call), expected);
}

#[rstest]
#[case::the_method_and_path(r#""execute-api:/prod/GET/getmyip""#, "GET", "prod", true)]
#[case::another_method(r#""execute-api:/prod/GET/getmyip""#, "POST", "prod", false)]
#[case::another_stage(r#""execute-api:/prod/GET/*""#, "GET", "dev", false)]
#[case::any_stage_and_method(r#""execute-api:/*/*/getmyip""#, "DELETE", "dev", true)]
#[case::the_full_arn(
    r#""arn:aws:execute-api:eu-west-2:123456782087:uiv82new6b/*""#,
    "GET",
    "prod",
    true
)]
#[case::another_api(
    r#""arn:aws:execute-api:eu-west-2:123456782087:otherapi01/*""#,
    "GET",
    "prod",
    false
)]
#[case::not_resource(r#"{"not": "execute-api:/prod/POST/*"}"#, "GET", "prod", true)]
fn resources(
    #[case] resource: &str,
    #[case] method: &str,
    #[case] stage: &str,
    #[case] allowed: bool,
) {
    let element = match resource.strip_prefix(r#"{"not": "#) {
        Some(rest) => format!(r#""NotResource": {}"#, rest.trim_end_matches('}')),
        None => format!(r#""Resource": {resource}"#),
    };
    let text = format!(
        r#"{{"Statement": [{{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", {element}}}]}}"#
    );
    let mut call = via("vpce-mine");
    call.method = method.into();
    call.stage = stage.into();
    let verdict = policy(&text).evaluate(&call);
    assert_eq!(
        matches!(verdict, Verdict::Allowed { .. }),
        allowed,
        "{verdict:?}"
    );
}

#[test]
fn a_named_principal_admits_it_and_not_anonymous_callers() {
    let text = r#"{"Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456782087:user/alice"},
        "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]}"#;
    let mut call = via("vpce-mine");
    assert_eq!(policy(text).evaluate(&call), Verdict::NotAllowed);
    call.caller = Caller::Signed("arn:aws:iam::123456782087:user/alice".into());
    assert_eq!(policy(text).evaluate(&call), allowed("#1"));
}

#[test]
fn the_denial_message_masks_the_account_and_keeps_the_path_as_sent() {
    let mut call = via("vpce-mine");
    call.stage = "dev".into();
    call.path = "/a".into();
    assert_eq!(
        call.access_denied_message(false),
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
         arn:aws:execute-api:eu-west-2:********2087:uiv82new6b/dev/GET/a"
    );
    call.path = "/test//".into();
    call.caller = Caller::Signed("arn:aws:iam::123456782087:user/alice".into());
    assert_eq!(
        call.access_denied_message(true),
        "User: arn:aws:iam::123456782087:user/alice is not authorized to perform: \
         execute-api:Invoke on resource: \
         arn:aws:execute-api:eu-west-2:********2087:uiv82new6b/dev/GET/test// with an explicit deny"
    );
}

#[rstest]
#[case::not_json("{\"Statement\": [", "not a valid policy document")]
#[case::not_an_object("[1, 2]", "not a JSON object")]
#[case::unknown_operator(
    r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*", "Condition": {"StringEqualz": {"aws:SourceVpce": "v"}}}]}"#,
    "statement #1 of the policy of REST API uiv82new6b: Unknown operator: StringEqualz"
)]
#[case::unknown_key(
    r#"{"Statement": [{"Sid": "Mine", "Effect": "Allow", "Principal": "*",
        "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
        "Condition": {"StringEquals": {"aws:SourceVpcee": "v"}}}]}"#,
    "statement Mine of the policy of REST API uiv82new6b uses condition key aws:SourceVpcee"
)]
#[case::unknown_effect(
    r#"{"Statement": [{"Effect": "Permit", "Principal": "*", "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*"}]}"#,
    "Effect must be \"Allow\" or \"Deny\", not \"Permit\""
)]
#[case::action_not_a_string(
    r#"{"Statement": [{"Sid": "Odd", "Effect": "Allow", "Principal": "*", "Action": 7,
        "Resource": "execute-api:/*"}]}"#,
    "statement Odd of the policy of REST API uiv82new6b"
)]
fn bad_policies_name_what_to_fix(#[case] text: &str, #[case] expected: &str) {
    let message = Policy::parse(text, "REST API uiv82new6b", &api())
        .expect_err("refused")
        .to_string();
    assert!(message.contains(expected), "{message}");
    assert!(message.contains("uiv82new6b"), "{message}");
}

#[test]
fn the_endpoints_a_policy_names_are_listed_with_their_statement() {
    let text = r#"{"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Sid": "Mine", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": "execute-api:/*",
         "Condition": {"StringNotEquals": {"aws:sourcevpce": ["vpce-a", "vpce-b"]}}}]}"#;
    assert_eq!(
        policy(text).named_endpoints(),
        [
            ("Mine".to_owned(), "vpce-a".to_owned()),
            ("Mine".to_owned(), "vpce-b".to_owned())
        ]
    );
}

#[test]
fn current_time_is_iso_8601() {
    assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
    assert_eq!(super::iso8601(1_796_083_200), "2026-12-01T00:00:00Z");
    assert_eq!(super::iso8601(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn user_agent_conditions_see_the_header() {
    let policy = policy(
        r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
            "Resource": "execute-api:/*", "Condition": {"StringLike": {"aws:UserAgent": "curl/*"}}}]}"#,
    );
    assert_eq!(policy.evaluate(&via("vpce-mine")), allowed("#1"));
}
