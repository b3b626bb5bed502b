//! `AWS::ApiGateway::RestApi`, `Deployment`, `Stage`, `Resource` and `Method`.

use std::collections::HashMap;

use aws_sdk_apigateway::{
    primitives::Blob,
    types::{EndpointConfiguration, EndpointType, Op, PatchOperation, PutMode},
};
use serde_json::Value;

use super::{
    Created, Props, ProviderContext, ProviderError, api_access, generated_name, unless_gone,
};
use crate::deploy::artifacts::ARTIFACT_BUCKET;

/// The OpenAPI document of a `RestApi`: `Body`, or a `BodyS3Location` vpclab stored.
fn body(ctx: &ProviderContext<'_>, props: Props<'_>) -> Result<Option<Vec<u8>>, ProviderError> {
    if let Some(body) = props.get("Body") {
        return Ok(Some(match body {
            Value::String(text) => text.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }));
    }
    let Some(location) = props.get("BodyS3Location") else {
        return Ok(None);
    };
    let location = Props(location);
    let bucket = location.required_str("Bucket")?;
    let key = location.required_str("Key")?;
    if bucket != ARTIFACT_BUCKET {
        return Err(ProviderError::Invalid(format!(
            "BodyS3Location s3://{bucket}/{key}: vpclab reads API definitions it packaged \
             itself; inline the definition (Body, or DefinitionBody in SAM) instead"
        )));
    }
    ctx.artifacts.get(key).map(Some).ok_or_else(|| {
        ProviderError::Invalid(format!(
            "BodyS3Location s3://{bucket}/{key}: no such packaged artifact"
        ))
    })
}

/// `EndpointConfiguration` as the API wants it.
fn endpoint_configuration(
    props: Props<'_>,
) -> Result<Option<EndpointConfiguration>, ProviderError> {
    let Some(config) = props.get("EndpointConfiguration") else {
        return Ok(None);
    };
    let config = Props(config);
    let types = config.strings("Types")?;
    let endpoints = config.strings("VpcEndpointIds")?;
    Ok(Some(
        EndpointConfiguration::builder()
            .set_types(Some(
                types
                    .iter()
                    .map(|t| EndpointType::from(t.as_str()))
                    .collect(),
            ))
            .set_vpc_endpoint_ids((!endpoints.is_empty()).then_some(endpoints))
            .build(),
    ))
}

/// A patch operation.
fn patch(op: Op, path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(op)
        .path(path)
        .value(value)
        .build()
}

/// Creates a REST API from its OpenAPI body (as SAM emits it) or empty, with its policy and
/// endpoint configuration; `Ref` is the API id.
pub(crate) async fn create_rest_api(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let api = &ctx.clients.apigateway;
    let body = body(ctx, props)?;
    let title = body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|b| {
            b.pointer("/info/title")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let name = props
        .str("Name")?
        .map(str::to_owned)
        .or(title)
        .unwrap_or_else(|| generated_name(ctx.stack_name, logical_id, 128));
    let policy = props.json_string("Policy");
    let endpoints = endpoint_configuration(props)?;
    let subject = format!("REST API {logical_id} ({name})");
    // SAM puts a resource policy in the OpenAPI body (`x-amazon-apigateway-policy`).
    let body_policy = body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|b| b.get("x-amazon-apigateway-policy").map(Value::to_string));
    let checked = policy.as_deref().or(body_policy.as_deref());
    api_access::check_rest_api(ctx, &subject, checked, endpoints.as_ref()).await?;
    let created = api
        .create_rest_api()
        .name(&name)
        .set_description(props.str("Description")?.map(str::to_owned))
        .set_policy(policy.clone())
        .set_endpoint_configuration(endpoints.clone())
        .set_binary_media_types(Some(props.strings("BinaryMediaTypes")?))
        .set_api_key_source(props.str("ApiKeySourceType")?.map(Into::into))
        .set_disable_execute_api_endpoint(props.bool("DisableExecuteApiEndpoint")?)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateRestApi {name}"), e))?;
    let id = created.id().unwrap_or_default().to_owned();
    let finished = async {
        if let Some(body) = body {
            import_body(ctx, &id, body, props).await?;
        }
        settle(ctx, &id, &name, policy.as_deref(), endpoints.as_ref()).await?;
        root_resource(ctx, &id).await
    }
    .await;
    match finished {
        Ok(root) => Ok(Created::new("AWS::ApiGateway::RestApi", id.clone())
            .with("RestApiId", id)
            .with("RootResourceId", root)),
        Err(e) => {
            if let Err(cleanup) = delete_rest_api(ctx, &id).await {
                tracing::warn!("vpclab: deleting half-created REST API {id}: {cleanup}");
            }
            Err(e)
        }
    }
}

/// Imports the OpenAPI body into the API, replacing what it has.
async fn import_body(
    ctx: &ProviderContext<'_>,
    id: &str,
    body: Vec<u8>,
    props: Props<'_>,
) -> Result<(), ProviderError> {
    ctx.clients
        .apigateway
        .put_rest_api()
        .rest_api_id(id)
        .mode(PutMode::Overwrite)
        .fail_on_warnings(props.bool("FailOnWarnings")?.unwrap_or(false))
        .set_parameters(Some(string_map(props.get("Parameters"))))
        .body(Blob::new(body))
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("PutRestApi {id}"), e))
}

/// An object of scalars as strings (non-strings as JSON); empty when absent.
fn string_map(value: Option<&Value>) -> HashMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect()
        })
        .unwrap_or_default()
}

/// Makes the stored name, policy and endpoint configuration those of the template: importing
/// a body may replace the name by the body's title, and the emulator keeps what it imported.
async fn settle(
    ctx: &ProviderContext<'_>,
    id: &str,
    name: &str,
    policy: Option<&str>,
    endpoints: Option<&EndpointConfiguration>,
) -> Result<(), ProviderError> {
    let api = &ctx.clients.apigateway;
    let stored = api
        .get_rest_api()
        .rest_api_id(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("GetRestApi {id}"), e))?;
    let mut operations = Vec::new();
    if stored.name() != Some(name) {
        operations.push(patch(Op::Replace, "/name", name));
    }
    if let Some(policy) = policy {
        let same = stored
            .policy()
            .map(|p| p.replace("\\\"", "\""))
            .and_then(|p| serde_json::from_str::<Value>(&p).ok())
            == serde_json::from_str::<Value>(policy).ok();
        if !same {
            operations.push(patch(Op::Replace, "/policy", policy));
        }
    }
    if let Some(wanted) = endpoints {
        operations.extend(endpoint_patches(wanted, stored.endpoint_configuration()));
    }
    if operations.is_empty() {
        return Ok(());
    }
    api.update_rest_api()
        .rest_api_id(id)
        .set_patch_operations(Some(operations))
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("UpdateRestApi {id}"), e))
}

/// The patch operations that make the stored endpoint configuration the wanted one: its type,
/// and the VPC endpoints it lacks.
fn endpoint_patches(
    wanted: &EndpointConfiguration,
    current: Option<&EndpointConfiguration>,
) -> Vec<PatchOperation> {
    let mut operations = Vec::new();
    if let (Some(want), Some(have)) = (
        wanted.types().first(),
        current.and_then(|c| c.types().first()),
    ) && want != have
    {
        operations.push(patch(
            Op::Replace,
            &format!("/endpointConfiguration/types/{}", have.as_str()),
            want.as_str(),
        ));
    }
    let have: Vec<&str> = current
        .map(|c| c.vpc_endpoint_ids().iter().map(String::as_str).collect())
        .unwrap_or_default();
    for endpoint in wanted.vpc_endpoint_ids() {
        if !have.contains(&endpoint.as_str()) {
            operations.push(patch(
                Op::Add,
                "/endpointConfiguration/vpcEndpointIds",
                endpoint,
            ));
        }
    }
    operations
}

/// The id of the API's `/` resource.
async fn root_resource(ctx: &ProviderContext<'_>, id: &str) -> Result<String, ProviderError> {
    let resources = ctx
        .clients
        .apigateway
        .get_resources()
        .rest_api_id(id)
        .limit(500)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("GetResources {id}"), e))?;
    resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/"))
        .and_then(|r| r.id())
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::Invalid(format!("REST API {id} has no / resource")))
}

/// Deletes a REST API.
pub(crate) async fn delete_rest_api(
    ctx: &ProviderContext<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .apigateway
        .delete_rest_api()
        .rest_api_id(id)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DeleteRestApi {id}"), e))?;
    ctx.edge.deleted(id);
    Ok(())
}

/// Creates a deployment (and its stage, if `StageName` is given); `Ref` is the deployment id.
pub(crate) async fn create_deployment(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let api_id = props.required_str("RestApiId")?;
    let stage = props.str("StageName")?;
    let frozen = api_access::check_deployment(ctx, api_id).await?;
    let id = ctx
        .clients
        .apigateway
        .create_deployment()
        .rest_api_id(api_id)
        .set_stage_name(stage.map(str::to_owned))
        .set_description(props.str("Description")?.map(str::to_owned))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateDeployment of {api_id}"), e))?
        .id
        .ok_or(ProviderError::Incomplete {
            operation: "CreateDeployment",
            field: "id",
        })?;
    api_access::record_deployment(ctx, &frozen)?;
    let mut created = Created::new("AWS::ApiGateway::Deployment", id.clone())
        .with("DeploymentId", id)
        .keep("RestApiId", api_id);
    if let Some(stage) = stage {
        created = created.keep("StageName", stage);
    }
    Ok(created)
}

/// Deletes a deployment, and the stage it created.
pub(crate) async fn delete_deployment(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let api_id = created.kept("RestApiId").unwrap_or_default();
    // A stage already gone no longer blocks the deployment's deletion.
    if let Some(stage) = created.kept("StageName") {
        unless_gone(delete_stage_named(ctx, api_id, stage).await)?;
    }
    ctx.clients
        .apigateway
        .delete_deployment()
        .rest_api_id(api_id)
        .deployment_id(&created.physical_id)
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            ProviderError::sdk(
                &format!("DeleteDeployment {} of {api_id}", created.physical_id),
                e,
            )
        })
}

/// Creates a stage; `Ref` is the stage name.
pub(crate) async fn create_stage(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let api_id = props.required_str("RestApiId")?;
    let stage = props.required_str("StageName")?;
    let variables = string_map(props.get("Variables"));
    ctx.clients
        .apigateway
        .create_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .deployment_id(props.required_str("DeploymentId")?)
        .set_description(props.str("Description")?.map(str::to_owned))
        .set_variables((!variables.is_empty()).then_some(variables))
        .set_tracing_enabled(props.bool("TracingEnabled")?)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateStage {stage} of {api_id}"), e))?;
    Ok(Created::new("AWS::ApiGateway::Stage", stage).keep("RestApiId", api_id))
}

/// Deletes the stage `stage` of an API.
async fn delete_stage_named(
    ctx: &ProviderContext<'_>,
    api_id: &str,
    stage: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .apigateway
        .delete_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteStage {stage} of {api_id}"), e))
}

/// Deletes a stage.
pub(crate) async fn delete_stage(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let api_id = created.kept("RestApiId").unwrap_or_default();
    delete_stage_named(ctx, api_id, &created.physical_id).await
}

/// Creates a resource (a path part); `Ref` is its id.
pub(crate) async fn create_resource(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let api_id = props.required_str("RestApiId")?;
    let id = ctx
        .clients
        .apigateway
        .create_resource()
        .rest_api_id(api_id)
        .parent_id(props.required_str("ParentId")?)
        .path_part(props.required_str("PathPart")?)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("CreateResource in {api_id}"), e))?
        .id
        .ok_or(ProviderError::Incomplete {
            operation: "CreateResource",
            field: "id",
        })?;
    Ok(Created::new("AWS::ApiGateway::Resource", id.clone())
        .with("ResourceId", id)
        .keep("RestApiId", api_id))
}

/// Deletes a resource.
pub(crate) async fn delete_resource(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let api_id = created.kept("RestApiId").unwrap_or_default();
    let id = &created.physical_id;
    ctx.clients
        .apigateway
        .delete_resource()
        .rest_api_id(api_id)
        .resource_id(id)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteResource {id} of {api_id}"), e))
}

/// Puts a method and its integration; `Ref` is a generated id.
pub(crate) async fn create_method(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let api = &ctx.clients.apigateway;
    let api_id = props.required_str("RestApiId")?;
    let resource = props.required_str("ResourceId")?;
    let method = props.required_str("HttpMethod")?.to_ascii_uppercase();
    api.put_method()
        .rest_api_id(api_id)
        .resource_id(resource)
        .http_method(&method)
        .authorization_type(props.str("AuthorizationType")?.unwrap_or("NONE"))
        .set_authorizer_id(props.str("AuthorizerId")?.map(str::to_owned))
        .set_api_key_required(props.bool("ApiKeyRequired")?)
        .send()
        .await
        .map_err(|e| {
            ProviderError::sdk(&format!("PutMethod {method} {resource} of {api_id}"), e)
        })?;
    let kept = Created::new(
        "AWS::ApiGateway::Method",
        generated_name(ctx.stack_name, logical_id, 128),
    )
    .keep("RestApiId", api_id)
    .keep("ResourceId", resource)
    .keep("HttpMethod", method.as_str());
    let configured = async {
        for response in props
            .get("MethodResponses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            put_method_response(ctx, &kept, Props(response)).await?;
        }
        if let Some(integration) = props.get("Integration") {
            put_integration(ctx, &kept, Props(integration)).await?;
            let responses = integration
                .get("IntegrationResponses")
                .and_then(Value::as_array);
            for response in responses.into_iter().flatten() {
                put_integration_response(ctx, &kept, Props(response)).await?;
            }
        }
        Ok::<(), ProviderError>(())
    };
    if let Err(e) = configured.await {
        if let Err(cleanup) = delete_method(ctx, &kept).await {
            tracing::warn!("vpclab: deleting half-created method {method}: {cleanup}");
        }
        return Err(e);
    }
    Ok(kept)
}

/// A string map property (`RequestTemplates`, `ResponseParameters`, ...), `None` when absent.
fn string_map_of(props: Props<'_>, name: &str) -> Option<HashMap<String, String>> {
    props.get(name).map(|v| string_map(Some(v)))
}

/// A boolean map property (`ResponseParameters` of a method response).
fn bool_map(props: Props<'_>, name: &str) -> Option<HashMap<String, bool>> {
    let map = props.get(name)?.as_object()?;
    Some(
        map.iter()
            .map(|(k, v)| (k.clone(), v.as_bool().unwrap_or(false)))
            .collect(),
    )
}

/// Puts one of a method's `MethodResponses`.
async fn put_method_response(
    ctx: &ProviderContext<'_>,
    method: &Created,
    response: Props<'_>,
) -> Result<(), ProviderError> {
    let (api_id, resource, http_method) = method_keys(method);
    let status = response.required_str("StatusCode")?;
    ctx.clients
        .apigateway
        .put_method_response()
        .rest_api_id(api_id)
        .resource_id(resource)
        .http_method(http_method)
        .status_code(status)
        .set_response_parameters(bool_map(response, "ResponseParameters"))
        .set_response_models(string_map_of(response, "ResponseModels"))
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            let what = format!("PutMethodResponse {status} {http_method} {resource} of {api_id}");
            ProviderError::sdk(&what, e)
        })
}

/// Puts one of an integration's `IntegrationResponses`.
async fn put_integration_response(
    ctx: &ProviderContext<'_>,
    method: &Created,
    response: Props<'_>,
) -> Result<(), ProviderError> {
    let (api_id, resource, http_method) = method_keys(method);
    let status = response.required_str("StatusCode")?;
    ctx.clients
        .apigateway
        .put_integration_response()
        .rest_api_id(api_id)
        .resource_id(resource)
        .http_method(http_method)
        .status_code(status)
        .set_selection_pattern(response.str("SelectionPattern")?.map(str::to_owned))
        .set_response_parameters(string_map_of(response, "ResponseParameters"))
        .set_response_templates(string_map_of(response, "ResponseTemplates"))
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            let what =
                format!("PutIntegrationResponse {status} {http_method} {resource} of {api_id}");
            ProviderError::sdk(&what, e)
        })
}

/// The API, resource and HTTP method a method was created with.
fn method_keys(method: &Created) -> (&str, &str, &str) {
    (
        method.kept("RestApiId").unwrap_or_default(),
        method.kept("ResourceId").unwrap_or_default(),
        method.kept("HttpMethod").unwrap_or_default(),
    )
}

/// Puts the integration of the method `method` (as kept by [`create_method`]).
async fn put_integration(
    ctx: &ProviderContext<'_>,
    method: &Created,
    integration: Props<'_>,
) -> Result<(), ProviderError> {
    let api_id = method.kept("RestApiId").unwrap_or_default();
    let resource = method.kept("ResourceId").unwrap_or_default();
    let http_method = method.kept("HttpMethod").unwrap_or_default();
    let templates: HashMap<String, String> = integration
        .get("RequestTemplates")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    ctx.clients
        .apigateway
        .put_integration()
        .rest_api_id(api_id)
        .resource_id(resource)
        .http_method(http_method)
        .r#type(integration.required_str("Type")?.into())
        .set_integration_http_method(integration.str("IntegrationHttpMethod")?.map(str::to_owned))
        .set_uri(integration.str("Uri")?.map(str::to_owned))
        .set_credentials(integration.str("Credentials")?.map(str::to_owned))
        .set_passthrough_behavior(integration.str("PassthroughBehavior")?.map(str::to_owned))
        .set_request_templates((!templates.is_empty()).then_some(templates))
        .set_request_parameters(string_map_of(integration, "RequestParameters"))
        .set_content_handling(integration.str("ContentHandling")?.map(Into::into))
        .set_timeout_in_millis(integration.i32("TimeoutInMillis")?)
        .set_cache_namespace(integration.str("CacheNamespace")?.map(str::to_owned))
        .set_cache_key_parameters(
            Some(integration.strings("CacheKeyParameters")?).filter(|k| !k.is_empty()),
        )
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            ProviderError::sdk(
                &format!("PutIntegration {http_method} {resource} of {api_id}"),
                e,
            )
        })
}

/// Deletes a method.
pub(crate) async fn delete_method(
    ctx: &ProviderContext<'_>,
    created: &Created,
) -> Result<(), ProviderError> {
    let api_id = created.kept("RestApiId").unwrap_or_default();
    let resource = created.kept("ResourceId").unwrap_or_default();
    let method = created.kept("HttpMethod").unwrap_or_default();
    ctx.clients
        .apigateway
        .delete_method()
        .rest_api_id(api_id)
        .resource_id(resource)
        .http_method(method)
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            ProviderError::sdk(&format!("DeleteMethod {method} {resource} of {api_id}"), e)
        })
}
