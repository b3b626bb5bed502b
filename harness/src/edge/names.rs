//! Which API a request names, from its `Host` (and `x-apigw-api-id`) as API Gateway reads them:
//! `{api}.execute-api.{region}.amazonaws.com`, `{api}-{vpce}.execute-api.{region}.amazonaws.com`,
//! or an endpoint's own `vpce-….execute-api.{region}.vpce.amazonaws.com` with the API in the
//! `x-apigw-api-id` header.

/// The API a request is for, and the endpoint its name carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The REST API id.
    pub(crate) api_id: String,
    /// The region the name names.
    pub(crate) region: String,
    /// The endpoint of an `{api}-{vpce}` name.
    pub(crate) vpce_in_name: Option<String>,
    /// Whether the request named the endpoint itself (`vpce-….vpce.amazonaws.com`).
    pub(crate) by_endpoint_name: bool,
}

/// The target of a request with `host` (port stripped) and `api_id_header`; `None` when it
/// names no API.
pub(crate) fn target(host: &str, api_id_header: Option<&str>) -> Option<Target> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if let Some(rest) = host.strip_suffix(".vpce.amazonaws.com") {
        let (label, region) = rest.split_once(".execute-api.")?;
        if !label.starts_with("vpce-") || label.contains('.') || !is_region(region) {
            return None;
        }
        return Some(Target {
            api_id: api_id_header.filter(|id| !id.is_empty())?.to_owned(),
            region: region.to_owned(),
            vpce_in_name: None,
            by_endpoint_name: true,
        });
    }
    let (label, region) = host
        .strip_suffix(".amazonaws.com")?
        .split_once(".execute-api.")?;
    if label.is_empty() || label.contains('.') || !is_region(region) {
        return None;
    }
    let (api_id, vpce_in_name) = match label.split_once("-vpce-") {
        Some((api, vpce)) => (api, Some(format!("vpce-{vpce}"))),
        None => (label, None),
    };
    Some(Target {
        api_id: api_id.to_owned(),
        region: region.to_owned(),
        vpce_in_name,
        by_endpoint_name: false,
    })
}

/// A region name: one label of letters, digits and dashes (`eu-west-1`).
fn is_region(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::{Target, target};

    fn api(id: &str, vpce: Option<&str>, by_endpoint_name: bool) -> Option<Target> {
        in_region(id, "us-east-1", vpce, by_endpoint_name)
    }

    fn in_region(
        id: &str,
        region: &str,
        vpce: Option<&str>,
        by_endpoint_name: bool,
    ) -> Option<Target> {
        Some(Target {
            api_id: id.into(),
            region: region.into(),
            vpce_in_name: vpce.map(str::to_owned),
            by_endpoint_name,
        })
    }

    #[rstest]
    #[case::default_name(
        "a1b2c3.execute-api.us-east-1.amazonaws.com",
        None,
        api("a1b2c3", None, false)
    )]
    #[case::with_port(
        "a1b2c3.execute-api.us-east-1.amazonaws.com:443",
        None,
        api("a1b2c3", None, false)
    )]
    #[case::api_and_endpoint(
        "a1b2c3-vpce-0abc123.execute-api.us-east-1.amazonaws.com",
        None,
        api("a1b2c3", Some("vpce-0abc123"), false)
    )]
    #[case::endpoint_name_with_header(
        "vpce-0abc123-1a2b3c4d.execute-api.us-east-1.vpce.amazonaws.com",
        Some("a1b2c3"),
        api("a1b2c3", None, true)
    )]
    #[case::endpoint_name_without_header(
        "vpce-0abc123-1a2b3c4d.execute-api.us-east-1.vpce.amazonaws.com",
        None,
        None
    )]
    #[case::other_region(
        "a1b2c3.execute-api.eu-west-1.amazonaws.com",
        None,
        in_region("a1b2c3", "eu-west-1", None, false)
    )]
    #[case::endpoint_name_in_other_region(
        "vpce-0abc123-1a2b3c4d.execute-api.eu-west-1.vpce.amazonaws.com",
        Some("a1b2c3"),
        in_region("a1b2c3", "eu-west-1", None, true)
    )]
    #[case::trailing_dot(
        "a1b2c3.execute-api.us-east-1.amazonaws.com.",
        None,
        api("a1b2c3", None, false)
    )]
    #[case::no_region("a1b2c3.execute-api.amazonaws.com", None, None)]
    #[case::other_service("sqs.us-east-1.amazonaws.com", None, None)]
    #[case::nested_label("x.a1b2c3.execute-api.us-east-1.amazonaws.com", None, None)]
    fn hosts_name_their_api(
        #[case] host: &str,
        #[case] header: Option<&str>,
        #[case] expected: Option<Target>,
    ) {
        assert_eq!(target(host, header), expected);
    }
}
