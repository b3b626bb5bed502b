//! The SAM transform: Rust functions are built and packaged (as `sam build` and `sam package`
//! would), then the official `aws-sam-translator` turns the template into plain CloudFormation.

use std::{collections::BTreeMap, path::Path};

use serde_json::{Value, json};

use super::{
    DeployError,
    artifacts::{ARTIFACT_BUCKET, ArtifactStore},
    intrinsics::Pseudo,
    translator,
};
use crate::{
    emulator,
    lambda::{LambdaError, build, package, runtimes::Runtime},
};

/// Builds every `AWS::Serverless::Function` whose `CodeUri` is a local folder, as `sam build`
/// would (a Rust crate compiled into a `bootstrap`; a Python or Node.js folder zipped, a
/// `requirements.txt` installed into it), and points its `CodeUri` at the artifact.
pub(crate) async fn package_functions(
    document: &mut Value,
    template_dir: &Path,
    artifacts: &ArtifactStore,
    template: &Path,
) -> Result<(), DeployError> {
    let globals = document
        .pointer("/Globals/Function")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(resources) = document.get_mut("Resources").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for (logical_id, resource) in resources.iter_mut() {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(code_uri) = resource
            .pointer("/Properties/CodeUri")
            .and_then(Value::as_str)
            .filter(|uri| !uri.starts_with("s3://"))
            .map(str::to_owned)
        else {
            continue;
        };
        let failed = |reason: String| DeployError::Resource {
            template: template.display().to_string(),
            logical_id: logical_id.clone(),
            resource_type: "AWS::Serverless::Function".into(),
            reason: format!("CodeUri {code_uri}: {reason}"),
        };
        let property = |name: &str| {
            resource
                .pointer(&format!("/Properties/{name}"))
                .or_else(|| globals.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let folder = template_dir.join(&code_uri);
        let (package, zip) = build(
            logical_id,
            &folder,
            property("Runtime"),
            property("Handler"),
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
        let key = artifacts.put(&package, zip);
        resource["Properties"]["CodeUri"] = json!({ "Bucket": ARTIFACT_BUCKET, "Key": key });
    }
    Ok(())
}

/// The artifact of one function folder: `(name, zip)`.
async fn build(
    logical_id: &str,
    folder: &Path,
    runtime: Option<String>,
    handler: Option<String>,
) -> Result<(String, Vec<u8>), LambdaError> {
    if folder.join("Cargo.toml").is_file() {
        let built = build::build_function(folder).await?;
        return Ok((built.package, built.zip));
    }
    let runtime = Runtime::of(logical_id, runtime.as_deref())?;
    if runtime == Runtime::Custom && !folder.join("bootstrap").is_file() {
        return Err(LambdaError::Runtime {
            function: logical_id.to_owned(),
            runtime: "provided".into(),
            reason: format!(
                "{} holds neither a Rust crate (Cargo.toml) nor a `bootstrap`; point CodeUri at \
                 the function's crate",
                folder.display()
            ),
        });
    }
    let handler = handler.unwrap_or_default();
    let packaged = package::package_folder(logical_id, runtime, &handler, folder).await?;
    if let Some(notice) = &packaged.notice {
        eprintln!("{notice}");
    }
    Ok((logical_id.to_owned(), packaged.zip))
}

/// Runs the official translator (kept warm, in the provisioned Python).
pub(crate) async fn transform(
    document: Value,
    parameters: &BTreeMap<String, String>,
    pseudo: &Pseudo,
    template: &Path,
) -> Result<Value, DeployError> {
    let mut values: serde_json::Map<String, Value> = parameters
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    for (name, value) in [
        ("AWS::AccountId", &pseudo.account_id),
        ("AWS::Region", &pseudo.region),
        ("AWS::StackName", &pseudo.stack_name),
        ("AWS::StackId", &pseudo.stack_id),
        ("AWS::Partition", &pseudo.partition),
        ("AWS::URLSuffix", &pseudo.url_suffix),
    ] {
        values.insert(name.to_owned(), Value::String(value.clone()));
    }
    let request = json!({
        "template": document,
        "parameters": values,
        "region": pseudo.region,
    });
    let sam_error = |reason: String| DeployError::Sam {
        template: template.display().to_string(),
        reason,
    };
    let python = emulator::sam_translator_python()
        .await
        .map_err(|e| sam_error(e.to_string()))?;
    let answer = translator::translate(python, &request)
        .await
        .map_err(sam_error)?;
    if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
        let lines: Vec<&str> = errors.iter().filter_map(Value::as_str).collect();
        if lines.is_empty() {
            return Err(sam_error(
                "the translator refused the template, giving no reason".into(),
            ));
        }
        return Err(sam_error(lines.join("\n")));
    }
    match answer.get("template") {
        Some(template @ Value::Object(_)) => Ok(template.clone()),
        _ => Err(sam_error(format!(
            "the translator wrote no template: {answer}"
        ))),
    }
}
