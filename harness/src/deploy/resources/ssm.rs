//! `AWS::SSM::Parameter`: a `String` or `StringList` parameter in the stack's region. `Ref` is
//! its name; `Fn::GetAtt` gives `Type` and `Value`.

use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};

use super::{Created, PropertyProblem, Props, ProviderContext, ProviderError, generated_name};

/// The types CloudFormation can create (it cannot create a `SecureString`).
const TYPES: &[&str] = &["String", "StringList"];

/// Creates the parameter; a name already taken is refused, as CloudFormation refuses it.
pub(super) async fn create_parameter(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let kind = props.required_str("Type")?;
    if !TYPES.contains(&kind) {
        return Err(ProviderError::property(
            "Type",
            PropertyProblem::WrongType {
                expected: "String or StringList (CloudFormation cannot create a SecureString)",
                found: format!("{kind:?}"),
            },
        ));
    }
    let value = props.required_str("Value")?;
    let name = match props.str("Name")? {
        Some(name) => name.to_owned(),
        None => format!("CFN-{}", generated_name(ctx.stack_name, logical_id, 1000)),
    };
    let mut request = ctx
        .clients
        .ssm
        .put_parameter()
        .name(&name)
        .value(value)
        .r#type(ParameterType::from(kind))
        .overwrite(false)
        .set_description(props.str("Description")?.map(str::to_owned))
        .set_allowed_pattern(props.str("AllowedPattern")?.map(str::to_owned))
        .set_data_type(props.str("DataType")?.map(str::to_owned))
        .set_tier(props.str("Tier")?.map(ParameterTier::from));
    if let Some(tags) = props.0.get("Tags").and_then(serde_json::Value::as_object) {
        for (key, tag_value) in tags {
            let tag = Tag::builder()
                .key(key)
                .value(tag_value.as_str().unwrap_or_default())
                .build()
                .map_err(|e| ProviderError::Invalid(format!("tag {key}: {e}")))?;
            request = request.tags(tag);
        }
    }
    request
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("PutParameter {name}"), e))?;
    Ok(Created::new("AWS::SSM::Parameter", name)
        .with("Type", kind)
        .with("Value", value))
}

/// Deletes the parameter.
pub(super) async fn delete_parameter(
    ctx: &ProviderContext<'_>,
    name: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .ssm
        .delete_parameter()
        .name(name)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteParameter {name}"), e))
}
