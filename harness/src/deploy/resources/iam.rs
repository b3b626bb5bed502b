//! `AWS::IAM::Role` and `AWS::IAM::InstanceProfile`.

use super::{Created, Props, ProviderContext, ProviderError, generated_name, unless_gone};

/// Creates a role with its managed and inline policies; `Ref` is the role name.
pub(super) async fn create_role(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let iam = &ctx.clients.iam;
    let name = match props.str("RoleName")? {
        Some(name) => name.to_owned(),
        None => generated_name(ctx.stack_name, logical_id, 64),
    };
    let trust = props.required_json_string("AssumeRolePolicyDocument")?;
    let role = iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(trust)
        .set_path(props.str("Path")?.map(str::to_owned))
        .set_description(props.str("Description")?.map(str::to_owned))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateRole {name}"), e))?;
    let role = role.role().ok_or(ProviderError::Incomplete {
        operation: "CreateRole",
        field: "role",
    })?;
    let created = Created::new("AWS::IAM::Role", name.clone())
        .with("Arn", role.arn())
        .with("RoleId", role.role_id());
    for policy_arn in props.strings("ManagedPolicyArns")? {
        iam.attach_role_policy()
            .role_name(&name)
            .policy_arn(&policy_arn)
            .send()
            .await
            .map_err(|e| {
                ProviderError::sdk(&format!("AttachRolePolicy {policy_arn} to {name}"), e)
            })?;
    }
    for policy in props.array("Policies") {
        let policy = Props(policy);
        let policy_name = policy.required_str("PolicyName")?;
        let document = policy
            .0
            .get("PolicyDocument")
            .map(with_version)
            .ok_or_else(|| {
                ProviderError::Invalid(format!("policy {policy_name}: PolicyDocument is required"))
            })?;
        iam.put_role_policy()
            .role_name(&name)
            .policy_name(policy_name)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| {
                ProviderError::sdk(&format!("PutRolePolicy {policy_name} of {name}"), e)
            })?;
    }
    Ok(created)
}

/// The policy document as JSON, with `Version: 2012-10-17` when it has none. AWS accepts a
/// document without a version (and reads it as 2008-10-17); LocalStack refuses it, and SAM's
/// policy templates produce such documents.
fn with_version(document: &serde_json::Value) -> String {
    match document {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Object(map) if !map.contains_key("Version") => {
            let mut map = map.clone();
            map.insert("Version".into(), "2012-10-17".into());
            serde_json::Value::Object(map).to_string()
        }
        other => other.to_string(),
    }
}

/// Deletes a role, after detaching its managed policies and deleting its inline ones (IAM
/// refuses to delete a role that has any). A policy already gone is skipped.
pub(super) async fn delete_role(
    ctx: &ProviderContext<'_>,
    name: &str,
) -> Result<(), ProviderError> {
    let iam = &ctx.clients.iam;
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("ListAttachedRolePolicies {name}"), e))?;
    for arn in attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
    {
        let detached = iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map(drop)
            .map_err(|e| ProviderError::sdk(&format!("DetachRolePolicy {arn} from {name}"), e));
        unless_gone(detached)?;
    }
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("ListRolePolicies {name}"), e))?;
    for policy_name in inline.policy_names() {
        let deleted = iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                ProviderError::sdk(&format!("DeleteRolePolicy {policy_name} of {name}"), e)
            });
        unless_gone(deleted)?;
    }
    iam.delete_role()
        .role_name(name)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteRole {name}"), e))
}

/// Creates an instance profile holding its roles (IAM takes one); `Ref` is its name.
pub(super) async fn create_instance_profile(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let iam = &ctx.clients.iam;
    let name = match props.str("InstanceProfileName")? {
        Some(name) => name.to_owned(),
        None => generated_name(ctx.stack_name, logical_id, 128),
    };
    let roles = props.strings("Roles")?;
    if roles.len() > 1 {
        return Err(ProviderError::Invalid(format!(
            "Roles lists {} roles; an instance profile holds at most one",
            roles.len()
        )));
    }
    let made = iam
        .create_instance_profile()
        .instance_profile_name(&name)
        .set_path(props.str("Path")?.map(str::to_owned))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateInstanceProfile {name}"), e))?;
    let arn = made.instance_profile().map(|p| p.arn().to_owned());
    let created = Created::new("AWS::IAM::InstanceProfile", name.clone())
        .with("Arn", arn.unwrap_or_default());
    for role in &roles {
        let added = iam
            .add_role_to_instance_profile()
            .instance_profile_name(&name)
            .role_name(role)
            .send()
            .await
            .map_err(|e| ProviderError::sdk(&format!("AddRoleToInstanceProfile {role} {name}"), e));
        if let Err(e) = added {
            if let Err(cleanup) = delete_instance_profile(ctx, &name).await {
                tracing::warn!("vpclab: deleting half-created instance profile {name}: {cleanup}");
            }
            return Err(e);
        }
    }
    Ok(created)
}

/// Deletes an instance profile after removing its roles (IAM refuses otherwise).
pub(super) async fn delete_instance_profile(
    ctx: &ProviderContext<'_>,
    name: &str,
) -> Result<(), ProviderError> {
    let iam = &ctx.clients.iam;
    let described = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("GetInstanceProfile {name}"), e));
    let profile = match described {
        Ok(answer) => answer.instance_profile,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    for role in profile.iter().flat_map(|p| p.roles()) {
        let removed = iam
            .remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(role.role_name())
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                ProviderError::sdk(
                    &format!("RemoveRoleFromInstanceProfile {} {name}", role.role_name()),
                    e,
                )
            });
        unless_gone(removed)?;
    }
    unless_gone(
        iam.delete_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| ProviderError::sdk(&format!("DeleteInstanceProfile {name}"), e)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_versionless_policy_gets_the_current_version() {
        let doc = serde_json::json!({"Statement": []});
        let text = with_version(&doc);
        assert!(text.contains(r#""Version":"2012-10-17""#), "{text}");
        let versioned = serde_json::json!({"Version": "2008-10-17", "Statement": []});
        assert!(with_version(&versioned).contains("2008-10-17"));
    }
}
