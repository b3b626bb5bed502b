//! Private custom domains (`AWS::ApiGateway::DomainNameV2` with `PRIVATE`), as the engine
//! created them: the domain's policy, its base path mappings and its access associations. The
//! emulator has none of these, so the edge is where they live and act.

use std::collections::HashMap;

use super::policy::{ApiRef, Policy, PolicyError};

/// One base path mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// The base path (`""` for the root), without slashes.
    pub(crate) base_path: String,
    /// The REST API it leads to.
    pub(crate) api_id: String,
    /// The stage.
    pub(crate) stage: String,
}

/// A private custom domain.
#[derive(Debug, Clone)]
pub(crate) struct PrivateDomain {
    /// The name (`private.example.com`), lower case.
    pub(crate) name: String,
    /// Its `DomainNameArn`.
    pub(crate) arn: String,
    /// Its region.
    pub(crate) region: String,
    /// What its policy is evaluated as: `execute-api:/...` stands for the domain.
    pub(crate) subject: ApiRef,
    /// Its policy (`None`: nothing is allowed, as for a new domain).
    pub(crate) policy: Option<Policy>,
    /// Its base path mappings.
    pub(crate) mappings: Vec<Mapping>,
    /// The VPC endpoints associated with it.
    pub(crate) associations: Vec<String>,
}

/// What a domain was created with.
#[derive(Debug, Clone)]
pub(crate) struct DomainSpec {
    /// The name.
    pub(crate) name: String,
    /// Its `DomainNameId`.
    pub(crate) id: String,
    /// Its region.
    pub(crate) region: String,
    /// Its account.
    pub(crate) account: String,
    /// Its policy document, if any.
    pub(crate) policy: Option<String>,
}

impl DomainSpec {
    /// `arn:aws:apigateway:{region}:{account}:/domainnames/{name}+{id}`.
    pub(crate) fn arn(&self) -> String {
        format!(
            "arn:aws:apigateway:{}:{}:/domainnames/{}+{}",
            self.region, self.account, self.name, self.id
        )
    }
}

/// The private custom domains of one world, by name.
#[derive(Debug, Default)]
pub(crate) struct Domains {
    by_name: HashMap<String, PrivateDomain>,
}

impl PrivateDomain {
    /// Parses the domain's spec (its policy included) into a domain with no mapping yet.
    pub(crate) fn new(spec: &DomainSpec) -> Result<Self, PolicyError> {
        let subject = ApiRef {
            region: spec.region.clone(),
            account: spec.account.clone(),
            api_id: format!("/domainnames/{}+{}", spec.name, spec.id),
        };
        let policy = spec
            .policy
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(|text| Policy::parse(text, &format!("domain name {}", spec.name), &subject))
            .transpose()?;
        Ok(Self {
            name: spec.name.to_lowercase(),
            arn: spec.arn(),
            region: spec.region.clone(),
            subject,
            policy,
            mappings: Vec::new(),
            associations: Vec::new(),
        })
    }

    /// The mapping a request path leads to, and the path left for the API (`/send-message`):
    /// the longest base path that is a whole first segment, else the root mapping.
    pub(crate) fn route<'a>(&self, path: &'a str) -> Option<(&Mapping, &'a str)> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let (first, rest) = match trimmed.find('/') {
            Some(at) => (&trimmed[..at], &path[at + 1..]),
            None => (trimmed, "/"),
        };
        self.mappings
            .iter()
            .find(|m| !m.base_path.is_empty() && m.base_path == first)
            .map(|m| (m, rest))
            .or_else(|| {
                self.mappings
                    .iter()
                    .find(|m| m.base_path.is_empty())
                    .map(|m| (m, path))
            })
    }
}

impl Domains {
    /// Records a created domain.
    pub(crate) fn created(&mut self, domain: PrivateDomain) {
        self.by_name.insert(domain.name.clone(), domain);
    }

    /// The domain of `arn`, to change.
    pub(crate) fn by_arn_mut(&mut self, arn: &str) -> Option<&mut PrivateDomain> {
        self.by_name.values_mut().find(|d| d.arn == arn)
    }

    /// The domain of `arn`.
    pub(crate) fn by_arn(&self, arn: &str) -> Option<&PrivateDomain> {
        self.by_name.values().find(|d| d.arn == arn)
    }

    /// Forgets the domain of `arn`.
    pub(crate) fn deleted(&mut self, arn: &str) {
        self.by_name.retain(|_, d| d.arn != arn);
    }

    /// The domain a request's `Host` names (port and trailing dot ignored).
    pub(crate) fn named(&self, host: &str) -> Option<&PrivateDomain> {
        let host = host.split(':').next().unwrap_or(host);
        self.by_name.get(&host.trim_end_matches('.').to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(mappings: &[(&str, &str)]) -> PrivateDomain {
        let spec = DomainSpec {
            name: "Private.Example.com".into(),
            id: "abc123".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            policy: None,
        };
        let mut domain = PrivateDomain::new(&spec).expect("domain");
        domain.mappings = mappings
            .iter()
            .map(|(base, api)| Mapping {
                base_path: (*base).into(),
                api_id: (*api).into(),
                stage: "prod".into(),
            })
            .collect();
        domain
    }

    #[test]
    fn base_paths_route_to_their_api() {
        let d = domain(&[("", "root"), ("v2", "second")]);
        assert_eq!(
            d.arn,
            "arn:aws:apigateway:us-east-1:123456789012:/domainnames/Private.Example.com+abc123"
        );
        let route = |p| {
            d.route(p)
                .map(|(m, rest)| (m.api_id.clone(), rest.to_owned()))
        };
        assert_eq!(
            route("/send-message"),
            Some(("root".into(), "/send-message".into()))
        );
        assert_eq!(
            route("/v2/send-message"),
            Some(("second".into(), "/send-message".into()))
        );
        assert_eq!(route("/v2"), Some(("second".into(), "/".into())));
        assert_eq!(route("/v22/x"), Some(("root".into(), "/v22/x".into())));
        assert!(domain(&[("v2", "second")]).route("/other").is_none());
    }

    #[test]
    fn hosts_find_their_domain() {
        let mut domains = Domains::default();
        domains.created(domain(&[]));
        assert!(domains.named("private.example.com:443").is_some());
        assert!(domains.named("PRIVATE.example.com.").is_some());
        assert!(domains.named("other.example.com").is_none());
    }
}
