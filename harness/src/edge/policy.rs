//! execute-api resource and endpoint policies, evaluated as AWS evaluates them.
//!
//! Parsing and IAM semantics (Allow/Deny, Principal, Action/NotAction, Resource/NotResource
//! with wildcards, condition operators with their `IfExists` and `ForAnyValue`/`ForAllValues`
//! forms, absent keys) come from the `iam-rs` crate; this module adds what API Gateway adds:
//! the `execute-api:/...` shorthand for the API's own ARN, the request context an execute-api
//! call carries (`aws:SourceVpce`, `aws:SourceVpc`, `aws:VpcSourceIp`, or `aws:SourceIp` when
//! it does not come through an endpoint), checks that refuse what the evaluator would
//! otherwise ignore, and the answer AWS gives a denied caller.

use std::net::Ipv4Addr;

use iam_rs::{
    Arn, Context, Decision, EvaluationOptions, IAMEffect, IAMOperator, IAMPolicy, IAMRequest,
    IAMStatement, PolicyEvaluator, Principal, PrincipalId,
};
use serde_json::Value;

/// The condition keys an execute-api request carries; any other key in a policy is refused,
/// so that a typo never allows (or denies) silently.
const KNOWN_KEYS: &[&str] = &[
    "aws:SourceVpce",
    "aws:SourceVpc",
    "aws:VpcSourceIp",
    "aws:SourceIp",
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "aws:SecureTransport",
    "aws:UserAgent",
    "aws:Referer",
    "aws:CurrentTime",
    "aws:EpochTime",
];

/// The principal an unsigned call evaluates as: `Principal: "*"` and `{"AWS": "*"}` match it,
/// no policy can name it (account `000000000000` does not exist; the evaluator needs a valid
/// single principal).
const ANONYMOUS: &str = "arn:aws:sts::000000000000:anonymous";

/// A policy that cannot be used, and what to fix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicyError {
    /// Not JSON, or not a policy document.
    #[error("the policy of {subject} is not a valid policy document: {reason}")]
    Malformed {
        /// What the policy belongs to (`REST API abc123`, `endpoint vpce-...`).
        subject: String,
        /// What is wrong.
        reason: String,
    },
    /// A statement cannot be evaluated as written.
    #[error("statement {statement} of the policy of {subject}: {reason}")]
    Statement {
        /// What the policy belongs to.
        subject: String,
        /// The statement's Sid, or its position.
        statement: String,
        /// What is wrong.
        reason: String,
    },
    /// A statement uses a condition key no execute-api request carries.
    #[error(
        "statement {statement} of the policy of {subject} uses condition key {key}, which no \
         execute-api request carries; use one of: {}", KNOWN_KEYS.join(", ")
    )]
    UnknownKey {
        /// What the policy belongs to.
        subject: String,
        /// The statement's Sid, or its position.
        statement: String,
        /// The key.
        key: String,
    },
}

/// The API a policy belongs to, which `execute-api:/...` stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiRef {
    /// The region.
    pub(crate) region: String,
    /// The account id.
    pub(crate) account: String,
    /// The REST API id.
    pub(crate) api_id: String,
}

/// A parsed policy, ready to evaluate.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    document: IAMPolicy,
    /// The statements' names (Sid, else `#<position>`), in order.
    statements: Vec<String>,
    /// The VPC endpoints the conditions name (`aws:SourceVpce`), with their statement.
    named_endpoints: Vec<(String, String)>,
}

impl Policy {
    /// Parses a policy document of `subject` (for messages), expanding the `execute-api:/...`
    /// shorthand to `api`'s ARN. A document without `Version` gets the current one.
    pub(crate) fn parse(text: &str, subject: &str, api: &ApiRef) -> Result<Self, PolicyError> {
        let malformed = |reason: String| PolicyError::Malformed {
            subject: subject.to_owned(),
            reason,
        };
        let mut value: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| malformed("the document is not a JSON object".into()))?;
        object
            .entry("Version")
            .or_insert_with(|| Value::String("2012-10-17".into()));
        expand_shorthand(&mut value, api);
        let statements = statement_names(&value);
        check_statements(&value, subject, &statements)?;
        let named_endpoints = named_endpoints(&value, &statements);
        let document: IAMPolicy =
            serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
        Ok(Self {
            document,
            statements,
            named_endpoints,
        })
    }

    /// The VPC endpoint ids the policy's conditions name (`aws:SourceVpce`), each with the
    /// statement (Sid, or `#<position>`) that names it.
    pub(crate) fn named_endpoints(&self) -> &[(String, String)] {
        &self.named_endpoints
    }

    /// Evaluates the policy for one call.
    pub(crate) fn evaluate(&self, call: &Call) -> Verdict {
        match self.try_evaluate(call) {
            Ok(verdict) => verdict,
            Err(reason) => Verdict::Unevaluable { reason },
        }
    }

    fn try_evaluate(&self, call: &Call) -> Result<Verdict, String> {
        let evaluator = PolicyEvaluator::with_policies(vec![self.document.clone()]).with_options(
            EvaluationOptions {
                collect_match_details: true,
                stop_on_explicit_deny: false,
                ..EvaluationOptions::default()
            },
        );
        let resource = Arn::parse(&call.method_arn())
            .map_err(|e| format!("the method ARN {}: {e}", call.method_arn()))?;
        let request = IAMRequest::new_with_context(
            call.principal(),
            "execute-api:Invoke",
            resource,
            call.context(),
        );
        let result = evaluator.evaluate(&request).map_err(|e| e.to_string())?;
        let matched = |effect: IAMEffect| {
            result
                .statement_details
                .iter()
                .zip(&self.statements)
                .find(|(d, _)| d.conditions_satisfied && d.effect == effect)
                .map(|(_, name)| name.clone())
        };
        Ok(match result.decision {
            Decision::Deny => Verdict::Denied {
                statement: matched(IAMEffect::Deny).unwrap_or_default(),
            },
            Decision::Allow => Verdict::Allowed {
                statement: matched(IAMEffect::Allow).unwrap_or_default(),
            },
            Decision::NotApplicable => Verdict::NotAllowed,
        })
    }
}

/// What a policy says of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A statement allows it, and none denies it.
    Allowed {
        /// The allowing statement (Sid, or `#<position>`).
        statement: String,
    },
    /// No statement allows it (an implicit deny).
    NotAllowed,
    /// The call could not be evaluated (the edge denies it, and says why).
    Unevaluable {
        /// Why.
        reason: String,
    },
    /// A statement denies it (an explicit deny wins).
    Denied {
        /// The denying statement (Sid, or `#<position>`).
        statement: String,
    },
}

/// Who calls: anonymous, or a SigV4-signed principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// A signed call, by the principal's ARN.
    Signed(String),
}

/// The VPC endpoint a call came through, as the API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ThroughEndpoint {
    /// `aws:SourceVpce`.
    pub(crate) vpce_id: String,
    /// `aws:SourceVpc`: the endpoint's VPC (not the caller's).
    pub(crate) vpc_id: String,
    /// `aws:VpcSourceIp`: the caller's private address.
    pub(crate) caller_ip: Ipv4Addr,
}

/// One execute-api call, as policies see it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// The API called.
    pub(crate) api: ApiRef,
    /// The stage.
    pub(crate) stage: String,
    /// The HTTP method.
    pub(crate) method: String,
    /// The resource path as sent, without the stage (`/getmyip`).
    pub(crate) path: String,
    /// Who calls.
    pub(crate) caller: Caller,
    /// The endpoint it came through, if it did.
    pub(crate) endpoint: Option<ThroughEndpoint>,
    /// The caller's public address (`aws:SourceIp`), when it did not come through an endpoint.
    pub(crate) source_ip: Option<Ipv4Addr>,
    /// The `User-Agent` header (`aws:UserAgent`).
    pub(crate) user_agent: Option<String>,
    /// The `Referer` header (`aws:Referer`).
    pub(crate) referer: Option<String>,
}

impl Call {
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`, the path as sent.
    pub(crate) fn method_arn(&self) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}/{}",
            self.api.region,
            self.api.account,
            self.api.api_id,
            self.stage,
            self.method,
            self.path.strip_prefix('/').unwrap_or(&self.path)
        )
    }

    fn principal(&self) -> Principal {
        let id = match &self.caller {
            Caller::Anonymous => ANONYMOUS.to_owned(),
            Caller::Signed(arn) => arn.clone(),
        };
        Principal::Aws(PrincipalId::String(id))
    }

    fn context(&self) -> Context {
        let mut context = Context::new().with_boolean("aws:SecureTransport", true);
        if let Some(through) = &self.endpoint {
            context = context
                .with_string("aws:SourceVpce", &through.vpce_id)
                .with_string("aws:SourceVpc", &through.vpc_id)
                .with_string("aws:VpcSourceIp", through.caller_ip.to_string());
        } else if let Some(ip) = self.source_ip {
            context = context.with_string("aws:SourceIp", ip.to_string());
        }
        if let Caller::Signed(arn) = &self.caller {
            context = context.with_string("aws:PrincipalArn", arn);
            if let Some(account) = arn.split(':').nth(4) {
                context = context.with_string("aws:PrincipalAccount", account);
            }
        }
        for (key, value) in [
            ("aws:UserAgent", &self.user_agent),
            ("aws:Referer", &self.referer),
        ] {
            if let Some(value) = value {
                context = context.with_string(key, value);
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        context
            .with_string("aws:CurrentTime", iso8601(now.as_secs()))
            .with_number("aws:EpochTime", now.as_secs() as f64)
    }

    /// The message of AWS's `AccessDeniedException` for this call: the caller, the method ARN
    /// with the account masked to its last four digits, and ` with an explicit deny` when a
    /// statement denied.
    pub(crate) fn access_denied_message(&self, explicit: bool) -> String {
        let user = match &self.caller {
            Caller::Anonymous => "anonymous".to_owned(),
            Caller::Signed(arn) => arn.clone(),
        };
        let account = &self.api.account;
        let masked = format!("********{}", &account[account.len().saturating_sub(4)..]);
        let resource =
            self.method_arn()
                .replacen(&format!(":{account}:"), &format!(":{masked}:"), 1);
        let suffix = if explicit {
            " with an explicit deny"
        } else {
            ""
        };
        format!(
            "User: {user} is not authorized to perform: execute-api:Invoke on resource: \
             {resource}{suffix}"
        )
    }
}

/// Replaces `execute-api:/rest` in `Resource`/`NotResource` with the API's ARN.
fn expand_shorthand(value: &mut Value, api: &ApiRef) {
    let prefix = format!(
        "arn:aws:execute-api:{}:{}:{}/",
        api.region, api.account, api.api_id
    );
    for statement in statements_mut(value) {
        for key in ["Resource", "NotResource"] {
            match statement.get_mut(key) {
                Some(Value::String(s)) => expand_one(s, &prefix),
                Some(Value::Array(items)) => items
                    .iter_mut()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .for_each(|s| expand_one(s, &prefix)),
                _ => {}
            }
        }
    }
}

fn expand_one(resource: &mut String, prefix: &str) {
    if let Some(rest) = resource.strip_prefix("execute-api:/") {
        *resource = format!("{prefix}{rest}");
    }
}

fn statements_mut(value: &mut Value) -> Vec<&mut serde_json::Map<String, Value>> {
    match value.get_mut("Statement") {
        Some(Value::Array(items)) => items.iter_mut().filter_map(Value::as_object_mut).collect(),
        Some(Value::Object(one)) => vec![one],
        _ => Vec::new(),
    }
}

fn statements(value: &Value) -> Vec<&serde_json::Map<String, Value>> {
    match value.get("Statement") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        Some(Value::Object(one)) => vec![one],
        _ => Vec::new(),
    }
}

/// Each statement's Sid, or `#<position>` (from 1) when it has none.
fn statement_names(value: &Value) -> Vec<String> {
    statements(value)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.get("Sid")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{}", i + 1), str::to_owned)
        })
        .collect()
}

/// `(statement, vpce id)` for every `aws:SourceVpce` value in the conditions.
fn named_endpoints(value: &Value, names: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (statement, name) in statements(value).into_iter().zip(names) {
        let operators = statement.get("Condition").and_then(Value::as_object);
        for keys in operators.into_iter().flat_map(|o| o.values()) {
            let values = keys
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(key, _)| key.eq_ignore_ascii_case("aws:SourceVpce"))
                .map(|(_, v)| v);
            for value in values {
                let ids: Vec<&str> = match value {
                    Value::String(id) => vec![id.as_str()],
                    Value::Array(ids) => ids.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                found.extend(ids.into_iter().map(|id| (name.clone(), id.to_owned())));
            }
        }
    }
    found
}

/// Checks each statement on its own, so that an error names it: its effect, its condition
/// operators (known to the evaluator) and keys (carried by execute-api requests), and its shape.
fn check_statements(value: &Value, subject: &str, names: &[String]) -> Result<(), PolicyError> {
    let invalid = |statement: &String, reason: String| PolicyError::Statement {
        subject: subject.to_owned(),
        statement: statement.clone(),
        reason,
    };
    for (statement, name) in statements(value).into_iter().zip(names) {
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            other => {
                return Err(invalid(
                    name,
                    match other {
                        Some(effect) => {
                            format!("Effect must be \"Allow\" or \"Deny\", not {effect:?}")
                        }
                        None => "Effect must be \"Allow\" or \"Deny\" (it has none)".to_owned(),
                    },
                ));
            }
        }
        check_conditions(statement, subject, name)?;
        serde_json::from_value::<IAMStatement>(Value::Object(statement.clone()))
            .map_err(|e| invalid(name, e.to_string()))?;
    }
    Ok(())
}

/// Refuses unknown condition operators and keys no execute-api request carries.
fn check_conditions(
    statement: &serde_json::Map<String, Value>,
    subject: &str,
    name: &str,
) -> Result<(), PolicyError> {
    let Some(condition) = statement.get("Condition") else {
        return Ok(());
    };
    let Value::Object(operators) = condition else {
        return Err(PolicyError::Statement {
            subject: subject.to_owned(),
            statement: name.to_owned(),
            reason: format!("Condition must be an object, found {condition}"),
        });
    };
    for (operator, keys) in operators {
        if let Err(reason) = operator.parse::<IAMOperator>() {
            return Err(PolicyError::Statement {
                subject: subject.to_owned(),
                statement: name.to_owned(),
                reason: format!("{reason} (see the IAM condition operators)"),
            });
        }
        let unknown = keys.as_object().into_iter().flatten().find(|(key, _)| {
            !KNOWN_KEYS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(key))
        });
        if let Some((key, _)) = unknown {
            return Err(PolicyError::UnknownKey {
                subject: subject.to_owned(),
                statement: name.to_owned(),
                key: key.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// `seconds` since the epoch as ISO 8601 UTC (`2026-12-01T12:00:00Z`), for `aws:CurrentTime`.
fn iso8601(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}
