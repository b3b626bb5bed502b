//! Dynamic references in evaluated properties, resolved as CloudFormation resolves them just
//! before a resource is created: `{{resolve:ssm:name[:version]}}`,
//! `{{resolve:ssm-secure:name[:version]}}` and
//! `{{resolve:secretsmanager:secret-id[:SecretString[:json-key[:version-stage[:version-id]]]]}}`
//! (`secret-id` a name or an ARN). The value never appears in templates, outputs or logs.

use serde_json::Value;

use super::resources::ProviderContext;

/// A reference that cannot be resolved, and what to fix.
#[derive(Debug, thiserror::Error)]
#[error("dynamic reference {{{{resolve:{reference}}}}}: {problem}")]
pub(crate) struct DynamicRefError {
    /// The reference, without its braces and `resolve:`.
    reference: String,
    /// What is wrong.
    problem: String,
}

/// `properties` with every dynamic reference in its strings replaced by the value it names.
pub(crate) async fn resolve(
    ctx: &ProviderContext<'_>,
    properties: &Value,
) -> Result<Value, DynamicRefError> {
    let mut resolved = properties.clone();
    let mut strings = Vec::new();
    collect(&mut resolved, &mut strings);
    for text in strings {
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("{{resolve:") {
            let after = &rest[start + "{{resolve:".len()..];
            let Some(end) = after.find("}}") else { break };
            out.push_str(&rest[..start]);
            out.push_str(&lookup(ctx, &after[..end]).await?);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        replace(&mut resolved, &text, &out);
    }
    Ok(resolved)
}

/// The strings of `value` that hold a dynamic reference.
fn collect(value: &mut Value, found: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains("{{resolve:") => found.push(s.clone()),
        Value::Array(items) => items.iter_mut().for_each(|v| collect(v, found)),
        Value::Object(map) => map.values_mut().for_each(|v| collect(v, found)),
        _ => {}
    }
}

fn replace(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s == from => *s = to.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(|v| replace(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| replace(v, from, to)),
        _ => {}
    }
}

async fn lookup(ctx: &ProviderContext<'_>, reference: &str) -> Result<String, DynamicRefError> {
    let error = |problem: String| DynamicRefError {
        reference: reference.to_owned(),
        problem,
    };
    let (service, rest) = reference
        .split_once(':')
        .ok_or_else(|| error("it names no service (ssm, ssm-secure, secretsmanager)".into()))?;
    match service {
        "ssm" | "ssm-secure" => ssm(ctx, rest, service == "ssm-secure").await.map_err(error),
        "secretsmanager" => secret(ctx, rest).await.map_err(error),
        other => Err(error(format!(
            "service {other} is not one CloudFormation resolves (ssm, ssm-secure, secretsmanager)"
        ))),
    }
}

async fn ssm(ctx: &ProviderContext<'_>, rest: &str, secure: bool) -> Result<String, String> {
    let (name, version) = match rest.rsplit_once(':') {
        Some((name, version)) if version.bytes().all(|b| b.is_ascii_digit()) => {
            (name, Some(version))
        }
        _ => (rest, None),
    };
    let asked = version.map_or_else(|| name.to_owned(), |v| format!("{name}:{v}"));
    let answer = ctx
        .clients
        .ssm
        .get_parameter()
        .name(&asked)
        .with_decryption(secure)
        .send()
        .await
        .map_err(|e| {
            let e = crate::aws::error::CallError::new(&format!("GetParameter {asked}"), e);
            if e.is_not_found() {
                format!("SSM parameter {asked} does not exist; create it or fix the name")
            } else {
                e.to_string()
            }
        })?;
    answer
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .ok_or_else(|| format!("SSM parameter {asked} has no value"))
}

/// `secret-id[:SecretString[:json-key[:version-stage[:version-id]]]]`, the id a name or an
/// ARN (whose own colons belong to it).
fn secret_parts(rest: &str) -> (String, Vec<&str>) {
    let parts: Vec<&str> = rest.split(':').collect();
    let id_len = if rest.starts_with("arn:") {
        7.min(parts.len())
    } else {
        1
    };
    (parts[..id_len].join(":"), parts[id_len..].to_vec())
}

async fn secret(ctx: &ProviderContext<'_>, rest: &str) -> Result<String, String> {
    let (id, fields) = secret_parts(rest);
    let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());
    if field(0).is_some_and(|f| f != "SecretString") {
        return Err(format!(
            "only SecretString can be resolved, not {}",
            fields[0]
        ));
    }
    let answer = ctx
        .clients
        .secretsmanager
        .get_secret_value()
        .secret_id(&id)
        .set_version_stage(field(2).map(str::to_owned))
        .set_version_id(field(3).map(str::to_owned))
        .send()
        .await
        .map_err(|e| {
            let e = crate::aws::error::CallError::new(&format!("GetSecretValue {id}"), e);
            if e.is_not_found() {
                format!("secret {id} does not exist; create it first or fix the id")
            } else {
                e.to_string()
            }
        })?;
    let text = answer.secret_string().unwrap_or_default();
    let Some(key) = field(1) else {
        return Ok(text.to_owned());
    };
    let parsed: Value = serde_json::from_str(text)
        .map_err(|_| format!("secret {id} is not JSON, so it has no key {key}"))?;
    match parsed.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => {
            let keys: Vec<&str> = parsed
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            Err(format!(
                "secret {id} has no key {key} (it has: {}); fix the key",
                keys.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::secret_parts;

    #[test]
    fn secret_ids_may_be_arns() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";
        let reference = format!("{arn}:SecretString:password");
        let (id, fields) = secret_parts(&reference);
        assert_eq!(id, arn);
        assert_eq!(fields, ["SecretString", "password"]);
        let (id, fields) = secret_parts("db-secret:SecretString:username::");
        assert_eq!(id, "db-secret");
        assert_eq!(fields, ["SecretString", "username", "", ""]);
    }
}
