//! `AWS::SecretsManager::Secret`, with `SecretString` or `GenerateSecretString` (the password
//! drawn by the emulator's `GetRandomPassword`). `Ref` is the secret's ARN.

use serde_json::Value;

use super::{Created, Props, ProviderContext, ProviderError, generated_name};

/// Creates the secret.
pub(super) async fn create_secret(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let name = match props.str("Name")? {
        Some(name) => name.to_owned(),
        None => generated_name(ctx.stack_name, logical_id, 256),
    };
    let secret = match (
        props.str("SecretString")?,
        props.0.get("GenerateSecretString"),
    ) {
        (Some(text), None) => text.to_owned(),
        (None, Some(spec)) => generate(ctx, Props(spec)).await?,
        (None, None) => generate(ctx, Props(&Value::Object(Default::default()))).await?,
        (Some(_), Some(_)) => {
            return Err(ProviderError::Invalid(
                "give SecretString or GenerateSecretString, not both".into(),
            ));
        }
    };
    let arn = ctx
        .clients
        .secretsmanager
        .create_secret()
        .name(&name)
        .secret_string(secret)
        .set_description(props.str("Description")?.map(str::to_owned))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateSecret {name}"), e))?
        .arn
        .ok_or(ProviderError::Incomplete {
            operation: "CreateSecret",
            field: "ARN",
        })?;
    Ok(Created::new("AWS::SecretsManager::Secret", arn.clone()).with("Id", arn))
}

/// A generated secret: a password alone, or `SecretStringTemplate` with the password under
/// `GenerateStringKey`.
async fn generate(ctx: &ProviderContext<'_>, spec: Props<'_>) -> Result<String, ProviderError> {
    let password = ctx
        .clients
        .secretsmanager
        .get_random_password()
        .set_password_length(spec.i32("PasswordLength")?.map(i64::from))
        .set_exclude_characters(spec.str("ExcludeCharacters")?.map(str::to_owned))
        .set_exclude_punctuation(spec.bool("ExcludePunctuation")?)
        .set_exclude_uppercase(spec.bool("ExcludeUppercase")?)
        .set_exclude_lowercase(spec.bool("ExcludeLowercase")?)
        .set_exclude_numbers(spec.bool("ExcludeNumbers")?)
        .set_include_space(spec.bool("IncludeSpace")?)
        .send()
        .await
        .map_err(|e| ProviderError::sdk("GetRandomPassword", e))?
        .random_password
        .unwrap_or_default();
    let Some(template) = spec.str("SecretStringTemplate")? else {
        return Ok(password);
    };
    let key = spec
        .str("GenerateStringKey")?
        .ok_or_else(|| ProviderError::missing("GenerateSecretString.GenerateStringKey"))?;
    let mut document: Value = serde_json::from_str(template).map_err(|e| {
        ProviderError::Invalid(format!("SecretStringTemplate is not a JSON object: {e}"))
    })?;
    let object = document.as_object_mut().ok_or_else(|| {
        ProviderError::Invalid("SecretStringTemplate is not a JSON object".into())
    })?;
    object.insert(key.to_owned(), Value::String(password));
    Ok(document.to_string())
}

/// Deletes the secret at once (no recovery window: the world is gone).
pub(super) async fn delete_secret(
    ctx: &ProviderContext<'_>,
    arn: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .secretsmanager
        .delete_secret()
        .secret_id(arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteSecret {arn}"), e))
}
