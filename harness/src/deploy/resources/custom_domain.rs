//! Private custom domains: `AWS::CertificateManager::Certificate` (in the emulator's ACM), and
//! `AWS::ApiGateway::DomainNameV2`, `BasePathMappingV2` and `DomainNameAccessAssociation`. The
//! emulator implements none of the three V2 types, so they live in the edge, which serves them;
//! each is checked as AWS checks it before it is recorded.

use serde_json::Value;

use super::{Created, PropertyProblem, Props, ProviderContext, ProviderError, generated_name};
use crate::edge::domains::{DomainSpec, Mapping, PrivateDomain};

/// Requests a certificate for `DomainName` and `SubjectAlternativeNames`; `Ref` is its ARN.
pub(super) async fn create_certificate(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let name = props.required_str("DomainName")?;
    let alternatives = props.strings("SubjectAlternativeNames")?;
    let method = props.str("ValidationMethod")?.unwrap_or("DNS");
    let arn = ctx
        .clients
        .acm
        .request_certificate()
        .domain_name(name)
        .set_subject_alternative_names((!alternatives.is_empty()).then_some(alternatives))
        .validation_method(aws_sdk_acm::types::ValidationMethod::from(method))
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("RequestCertificate {name}"), e))?
        .certificate_arn
        .ok_or(ProviderError::Incomplete {
            operation: "RequestCertificate",
            field: "CertificateArn",
        })?;
    Ok(Created::new("AWS::CertificateManager::Certificate", arn))
}

/// Deletes a certificate.
pub(super) async fn delete_certificate(
    ctx: &ProviderContext<'_>,
    arn: &str,
) -> Result<(), ProviderError> {
    ctx.clients
        .acm
        .delete_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map(drop)
        .map_err(|e| ProviderError::sdk(&format!("DeleteCertificate {arn}"), e))
}

/// Whether certificate name `pattern` (`private.example.com`, `*.example.com`) covers `name`:
/// a wildcard covers exactly one label.
fn covers(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_lowercase(), name.to_lowercase());
    match pattern.strip_prefix("*.") {
        Some(parent) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == name,
    }
}

/// Refuses a certificate that does not cover `domain`, naming the names it does cover.
async fn check_certificate(
    ctx: &ProviderContext<'_>,
    domain: &str,
    arn: &str,
) -> Result<(), ProviderError> {
    let described = ctx
        .clients
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeCertificate {arn}"), e))?;
    let mut names: Vec<String> = Vec::new();
    if let Some(certificate) = described.certificate {
        names.extend(certificate.domain_name);
        names.extend(certificate.subject_alternative_names.unwrap_or_default());
    }
    names.dedup();
    if names.iter().any(|n| covers(n, domain)) {
        return Ok(());
    }
    Err(ProviderError::Invalid(format!(
        "domain name {domain}: certificate {arn} covers {}, not {domain}; give CertificateArn a \
         certificate for {domain} (or a wildcard of its parent domain)",
        names.join(", ")
    )))
}

/// A `DomainNameId`: ten lower-case letters and digits.
fn domain_id(stack: &str, logical_id: &str) -> String {
    generated_name(stack, logical_id, 64)
        .rsplit('-')
        .next()
        .unwrap_or_default()
        .to_lowercase()
        .chars()
        .take(10)
        .collect()
}

fn region(ctx: &ProviderContext<'_>) -> String {
    ctx.clients
        .apigateway
        .config()
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string())
}

/// Creates a private custom domain; `Ref` and `DomainNameArn` are its ARN.
pub(super) async fn create_domain(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let name = props.required_str("DomainName")?;
    let types = props
        .0
        .get("EndpointConfiguration")
        .map(|c| Props(c).strings("Types"))
        .transpose()?
        .unwrap_or_default();
    if types != ["PRIVATE"] {
        return Err(ProviderError::property(
            "EndpointConfiguration.Types",
            PropertyProblem::WrongType {
                expected: "[PRIVATE] (DomainNameV2 is a private custom domain)",
                found: format!("{types:?}"),
            },
        ));
    }
    check_certificate(ctx, name, props.required_str("CertificateArn")?).await?;
    let spec = DomainSpec {
        name: name.to_owned(),
        id: domain_id(ctx.stack_name, logical_id),
        region: region(ctx),
        account: ctx.account_id.to_owned(),
        policy: props.json_string("Policy"),
    };
    let domain = PrivateDomain::new(&spec)?;
    let arn = domain.arn.clone();
    ctx.edge.domain_created(domain);
    Ok(Created::new("AWS::ApiGateway::DomainNameV2", arn.clone())
        .with("DomainNameArn", arn)
        .with("DomainNameId", spec.id))
}

/// Forgets a private custom domain.
pub(super) fn delete_domain(ctx: &ProviderContext<'_>, arn: &str) {
    ctx.edge.domain_deleted(arn);
}

/// The domain a V2 resource names by `DomainNameArn`: (arn, name, region).
fn named_domain(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<(String, String, String), ProviderError> {
    let arn = props.required_str("DomainNameArn")?;
    let (name, region) = ctx.edge.domain(arn).ok_or_else(|| {
        ProviderError::Invalid(format!(
            "DomainNameArn {arn} is no private custom domain of this account; give the \
             DomainNameArn of an AWS::ApiGateway::DomainNameV2 (!GetAtt Domain.DomainNameArn)"
        ))
    })?;
    Ok((arn.to_owned(), name, region))
}

/// Maps a base path of a domain to a stage of an API that exists.
pub(super) async fn create_mapping(
    ctx: &ProviderContext<'_>,
    logical_id: &str,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let (arn, name, _) = named_domain(ctx, props)?;
    let api = props.required_str("RestApiId")?;
    let stage = props.required_str("Stage")?;
    let base_path = props
        .str("BasePath")?
        .unwrap_or_default()
        .trim_matches('/')
        .replace("(none)", "");
    let found = ctx
        .clients
        .apigateway
        .get_stage()
        .rest_api_id(api)
        .stage_name(stage)
        .send()
        .await;
    if let Err(e) = found {
        let e = ProviderError::sdk(&format!("GetStage {stage} of {api}"), e);
        if !e.is_not_found() {
            return Err(e);
        }
        return Err(ProviderError::Invalid(format!(
            "base path mapping {logical_id} of {name}: REST API {api} has no stage {stage}; \
             name a stage it has, or make the mapping depend on the AWS::ApiGateway::Stage \
             (DependsOn)"
        )));
    }
    let mapping = Mapping {
        base_path: base_path.clone(),
        api_id: api.to_owned(),
        stage: stage.to_owned(),
    };
    ctx.edge.domain_mapping(&arn, mapping, true);
    let shown = if base_path.is_empty() {
        "(none)"
    } else {
        &base_path
    };
    let mapping_arn = format!("{arn}/basepathmappings/{shown}");
    Ok(
        Created::new("AWS::ApiGateway::BasePathMappingV2", mapping_arn.clone())
            .with("BasePathMappingArn", mapping_arn)
            .keep("domain", arn)
            .keep("base_path", base_path),
    )
}

/// Removes a base path mapping.
pub(super) fn delete_mapping(ctx: &ProviderContext<'_>, created: &Created) {
    if let (Some(arn), Some(base_path)) = (created.kept("domain"), created.kept("base_path")) {
        let mapping = Mapping {
            base_path: base_path.to_owned(),
            api_id: String::new(),
            stage: String::new(),
        };
        ctx.edge.domain_mapping(arn, mapping, false);
    }
}

/// Associates an execute-api endpoint with a domain.
pub(super) async fn create_association(
    ctx: &ProviderContext<'_>,
    props: Props<'_>,
) -> Result<Created, ProviderError> {
    let (arn, name, region) = named_domain(ctx, props)?;
    let vpce = props.required_str("AccessAssociationSource")?;
    let kind = props.str("AccessAssociationSourceType")?.unwrap_or("VPCE");
    if kind != "VPCE" {
        return Err(ProviderError::property(
            "AccessAssociationSourceType",
            PropertyProblem::WrongType {
                expected: "VPCE",
                found: format!("{kind:?}"),
            },
        ));
    }
    let described = ctx
        .clients
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(vpce)
        .send()
        .await
        .map_err(|e| ProviderError::sdk(&format!("DescribeVpcEndpoints {vpce}"), e))?;
    let service = described
        .vpc_endpoints()
        .first()
        .and_then(|e| e.service_name())
        .unwrap_or_default()
        .to_owned();
    let execute_api = format!("com.amazonaws.{region}.execute-api");
    if service != execute_api {
        return Err(ProviderError::Invalid(format!(
            "access association of {name}: endpoint {vpce} is an endpoint of {}, not \
             {execute_api}; associate an execute-api interface endpoint",
            if service.is_empty() {
                "nothing (it does not exist)"
            } else {
                &service
            }
        )));
    }
    ctx.edge.domain_association(&arn, vpce, true);
    let association = format!(
        "arn:aws:apigateway:{region}:{}:/domainnameaccessassociations/domainname/{}/vpcesource/{vpce}",
        ctx.account_id,
        arn.rsplit('/').next().unwrap_or_default()
    );
    Ok(Created::new(
        "AWS::ApiGateway::DomainNameAccessAssociation",
        association.clone(),
    )
    .with("DomainNameAccessAssociationArn", association)
    .keep("domain", arn)
    .keep("vpce", Value::from(vpce)))
}

/// Removes an access association.
pub(super) fn delete_association(ctx: &ProviderContext<'_>, created: &Created) {
    if let (Some(arn), Some(vpce)) = (created.kept("domain"), created.kept("vpce")) {
        ctx.edge.domain_association(arn, vpce, false);
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn certificate_names_cover_as_tls_does() {
        assert!(covers("private.example.com", "Private.Example.com"));
        assert!(covers("*.example.com", "private.example.com"));
        assert!(!covers("*.example.com", "a.private.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("other.example.com", "private.example.com"));
    }
}
