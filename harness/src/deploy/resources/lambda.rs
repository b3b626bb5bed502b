//! `AWS::Lambda::Function`, `AWS::Lambda::EventSourceMapping` and `AWS::Lambda::Permission`.

use std::{collections::HashMap, time::Duration};

use aws_sdk_lambda::{
    primitives::Blob,
    types::{
        Architecture, DeadLetterConfig, Environment, FunctionCode, FunctionResponseType, Runtime,
        State, VpcConfig,
    },
};

use super::{Created, Props, ProviderContext, ProviderError, generated_name, wait_until};
use crate::{
    deploy::artifacts::ARTIFACT_BUCKET,
    lambda::{package, runtimes::Runtime as ManagedRuntime},
};

const ACTIVE_WAIT: Duration = Duration::from_secs(60);
const MAPPING_WAIT: Duration = Duration::from_secs(30);

/// Creates a function from code vpclab built, and checks that it became Active through the
/// vpclab executor; `Ref` is the function name.
pub(super) async fn create_function(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let name = match props.str("FunctionName")? {
        Some(name) => name.to_owned(),
        None => generated_name(ctx.stack_name, logical_id, 64),
    };
    let code = function_code(ctx, props)?;
    let arn = ctx
        .clients
        .lambda
        .create_function()
        .function_name(&name)
        .role(props.required_str("Role")?)
        .code(code)
        .set_handler(props.str("Handler")?.map(str::to_owned))
        .set_runtime(props.str("Runtime")?.map(Runtime::from))
        .set_timeout(props.i32("Timeout")?)
        .set_memory_size(props.i32("MemorySize")?)
        .set_description(props.str("Description")?.map(str::to_owned))
        .set_environment(environment(props))
        .set_architectures(architectures(props)?)
        .set_vpc_config(vpc_config(props)?)
        .set_dead_letter_config(dead_letter_config(props))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateFunction {name}"), e))?
        .function_arn()
        .unwrap_or_default()
        .to_owned();
    // Created but unusable: delete it again, so a failed deploy leaves nothing behind.
    if let Err(e) = check_active(ctx, &name, &arn).await {
        if let Err(cleanup) = delete_function(ctx, &name).await {
            tracing::warn!("vpclab: deleting half-created function {name}: {cleanup}");
        }
        return Err(e);
    }
    Ok(Created::new("AWS::Lambda::Function", name).with("Arn", arn))
}

/// `Environment.Variables`, each value as a string.
fn environment(props: Props<'_>) -> Option<Environment> {
    let variables = props
        .0
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(|v| v.as_object())?;
    let variables: HashMap<String, String> = variables
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    Some(
        Environment::builder()
            .set_variables(Some(variables))
            .build(),
    )
}

/// `Architectures`, when given.
fn architectures(props: Props<'_>) -> Result<Option<Vec<Architecture>>, ProviderError> {
    let architectures = props.strings("Architectures")?;
    Ok((!architectures.is_empty()).then(|| {
        architectures
            .iter()
            .map(|a| Architecture::from(a.as_str()))
            .collect()
    }))
}

/// `VpcConfig`: the subnets and security groups of the function's ENIs.
fn vpc_config(props: Props<'_>) -> Result<Option<VpcConfig>, ProviderError> {
    let Some(vpc) = props.0.get("VpcConfig") else {
        return Ok(None);
    };
    let vpc = Props(vpc);
    Ok(Some(
        VpcConfig::builder()
            .set_subnet_ids(Some(vpc.strings("SubnetIds")?))
            .set_security_group_ids(Some(vpc.strings("SecurityGroupIds")?))
            .build(),
    ))
}

/// `DeadLetterConfig.TargetArn`, when given.
fn dead_letter_config(props: Props<'_>) -> Option<DeadLetterConfig> {
    let target = props
        .0
        .get("DeadLetterConfig")
        .and_then(|d| d.get("TargetArn"))
        .and_then(|t| t.as_str())?;
    Some(DeadLetterConfig::builder().target_arn(target).build())
}

/// Waits until the function leaves Pending; an error unless it is Active and ran through the
/// vpclab executor.
async fn check_active(
    ctx: &ProviderContext<'_>,
    name: &str,
    arn: &str,
) -> Result<(), ProviderError> {
    let lambda = &ctx.clients.lambda;
    let state = wait_until(
        &format!("function {name} to leave state Pending"),
        ACTIVE_WAIT,
        || async {
            let config = lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(|e| ProviderError::sdk(&format!("GetFunctionConfiguration {name}"), e))?;
            Ok(match config.state() {
                Some(State::Pending) | None => None,
                Some(state) => Some((state.clone(), config.state_reason().map(str::to_owned))),
            })
        },
    )
    .await?;
    if state.0 != State::Active {
        return Err(ProviderError::Invalid(format!(
            "function {name} is {} ({})\n{}",
            state.0,
            state.1.unwrap_or_default(),
            ctx.emulator.diagnose()
        )));
    }
    if !ctx.executor.was_prepared(arn) {
        return Err(ProviderError::Invalid(format!(
            "function {name} became Active without the vpclab executor: the emulator runs its \
             functions elsewhere and they would never reach the harness\n{}",
            ctx.emulator.diagnose()
        )));
    }
    Ok(())
}

fn invalid(error: crate::lambda::LambdaError) -> ProviderError {
    ProviderError::Invalid(error.to_string())
}

/// The function's zip: built by vpclab (the artifact bucket) or inline source (`index.py`,
/// `index.js`, as CloudFormation writes it); other S3 locations cannot be fetched here.
fn function_code(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<FunctionCode, ProviderError> {
    let code = Props(
        props
            .0
            .get("Code")
            .ok_or_else(|| ProviderError::missing("Code"))?,
    );
    if let (Some(bucket), Some(key)) = (code.str("S3Bucket")?, code.str("S3Key")?) {
        if bucket != ARTIFACT_BUCKET {
            return Err(ProviderError::Invalid(format!(
                "Code s3://{bucket}/{key}: vpclab deploys code it builds itself; point the \
                 function's CodeUri at a Rust crate folder instead"
            )));
        }
        let zip = ctx.artifacts.get(key).ok_or_else(|| {
            ProviderError::Invalid(format!("Code s3://{bucket}/{key}: no such built artifact"))
        })?;
        return Ok(FunctionCode::builder().zip_file(Blob::new(zip)).build());
    }
    if let Some(source) = code.str("ZipFile")? {
        let name = props.str("FunctionName")?.unwrap_or("(inline code)");
        let runtime = ManagedRuntime::of(name, props.str("Runtime")?).map_err(invalid)?;
        let handler = props.str("Handler")?.unwrap_or_default();
        let zip = package::package_inline(name, runtime, handler, source).map_err(invalid)?;
        return Ok(FunctionCode::builder().zip_file(Blob::new(zip)).build());
    }
    Err(ProviderError::Invalid(
        "Code needs S3Bucket and S3Key".into(),
    ))
}

/// Deletes a function.
pub(super) async fn delete_function(
    ctx: &ProviderContext<'_>,
    name: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .lambda
        .delete_function()
        .function_name(name)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteFunction {name}"), e))
}

/// Creates an event source mapping and waits until it is Enabled (or Disabled, as asked);
/// `Ref` is its UUID.
pub(super) async fn create_event_source_mapping(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let response_types = props.strings("FunctionResponseTypes")?;
    let source = props.required_str("EventSourceArn")?;
    let function = props.required_str("FunctionName")?;
    let lambda = &ctx.clients.lambda;
    let created = lambda
        .create_event_source_mapping()
        .event_source_arn(source)
        .function_name(function)
        .set_batch_size(props.i32("BatchSize")?)
        .set_maximum_batching_window_in_seconds(props.i32("MaximumBatchingWindowInSeconds")?)
        .set_enabled(props.bool("Enabled")?)
        .set_function_response_types(if response_types.is_empty() {
            None
        } else {
            Some(
                response_types
                    .iter()
                    .map(|t| FunctionResponseType::from(t.as_str()))
                    .collect(),
            )
        })
        .send()
        .await
        .map_err(|e| {
            ProviderError::sdk(
                &format!("CreateEventSourceMapping {source} to {function}"),
                e,
            )
        })?;
    let uuid = created.uuid().unwrap_or_default().to_owned();
    let wanted = if props.bool("Enabled")? == Some(false) {
        "Disabled"
    } else {
        "Enabled"
    };
    let ready = wait_for_mapping_state(ctx, &uuid, wanted).await;
    if let Err(e) = ready {
        // A mapping left behind would go on polling its queue.
        if let Err(cleanup) = delete_event_source_mapping(ctx, &uuid).await {
            tracing::warn!("vpclab: deleting half-created mapping {uuid}: {cleanup}");
        }
        return Err(e);
    }
    Ok(Created::new("AWS::Lambda::EventSourceMapping", uuid.clone()).with("Id", uuid))
}

/// Waits until the mapping's state is `wanted`.
async fn wait_for_mapping_state(
    ctx: &ProviderContext<'_>,
    uuid: &str,
    wanted: &str,
) -> Result<(), ProviderError> {
    let lambda = &ctx.clients.lambda;
    wait_until(
        &format!("event source mapping {uuid} to become {wanted}"),
        MAPPING_WAIT,
        || async {
            let mapping = lambda
                .get_event_source_mapping()
                .uuid(uuid)
                .send()
                .await
                .map_err(|e| ProviderError::sdk(&format!("GetEventSourceMapping {uuid}"), e))?;
            Ok((mapping.state() == Some(wanted)).then_some(()))
        },
    )
    .await
}

/// Deletes an event source mapping.
pub(super) async fn delete_event_source_mapping(
    ctx: &ProviderContext<'_>,
    uuid: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .lambda
        .delete_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteEventSourceMapping {uuid}"), e))
}

/// Adds a statement to a function's resource policy; `Ref` is the statement id.
pub(super) async fn create_permission(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let function = props.required_str("FunctionName")?;
    let statement = generated_name(ctx.stack_name, logical_id, 100);
    ctx.clients
        .lambda
        .add_permission()
        .function_name(function)
        .statement_id(&statement)
        .action(props.required_str("Action")?)
        .principal(props.required_str("Principal")?)
        .set_source_arn(props.str("SourceArn")?.map(str::to_owned))
        .set_source_account(props.str("SourceAccount")?.map(str::to_owned))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("AddPermission {statement} on {function}"), e))?;
    Ok(Created::new("AWS::Lambda::Permission", statement).with("FunctionName", function))
}

/// Removes the statement from the function's resource policy.
pub(super) async fn delete_permission(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let function = created
        .attributes
        .get("FunctionName")
        .and_then(|f| f.as_str())
        .unwrap_or_default();
    ctx.clients
        .lambda
        .remove_permission()
        .function_name(function)
        .statement_id(&created.physical_id)
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            ProviderError::sdk(
                &format!("RemovePermission {} on {function}", created.physical_id),
                e,
            )
        })
}
