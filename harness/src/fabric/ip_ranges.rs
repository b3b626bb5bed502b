//! `https://ip-ranges.amazonaws.com/ip-ranges.json` on the sealed internet: the fabric's AWS
//! addresses published in AWS's format, so that a test (or a user) reads which addresses are
//! AWS's as it would in AWS, instead of asking the fabric.
//!
//! As in AWS, Lambda has no service of its own in the file: functions outside a VPC leave
//! through EC2 addresses of their region, and so do Elastic IPs. The regional API Gateway
//! front doors are `API_GATEWAY` addresses; every prefix is also listed as `AMAZON`.

use serde_json::{Value, json};

use super::addressing;

/// The regions whose Lambda pools the file lists.
const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

/// The document, for a fabric in `region` (whose Elastic IPs it lists).
pub(crate) fn document(region: &str) -> Value {
    let mut prefixes = Vec::new();
    let mut push = |prefix: String, region: &str, service: &str| {
        prefixes.push(json!({
            "ip_prefix": prefix,
            "region": region,
            "service": service,
            "network_border_group": region,
        }));
    };
    for r in REGIONS
        .iter()
        .copied()
        .chain((!REGIONS.contains(&region)).then_some(region))
    {
        let pool = format!("{}/32", addressing::aws_lambda_egress(r));
        push(pool.clone(), r, "AMAZON");
        push(pool, r, "EC2");
    }
    push(addressing::ELASTIC_IPS.to_owned(), region, "AMAZON");
    push(addressing::ELASTIC_IPS.to_owned(), region, "EC2");
    let front_door = format!("{}/32", addressing::AWS_SERVICES);
    push(front_door.clone(), region, "AMAZON");
    push(front_door, region, "API_GATEWAY");
    json!({
        "syncToken": "1796083200",
        "createDate": "2026-12-01-00-00-00",
        "prefixes": prefixes,
        "ipv6_prefixes": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regions_lambda_pool_is_published_as_ec2() {
        let document = document("eu-west-2");
        let pool = format!("{}/32", addressing::aws_lambda_egress("eu-west-2"));
        let listed = document["prefixes"].as_array().expect("prefixes");
        assert!(listed.iter().any(|p| p["ip_prefix"] == pool.as_str()
            && p["region"] == "eu-west-2"
            && p["service"] == "EC2"));
        assert!(
            listed
                .iter()
                .all(|p| p["network_border_group"] == p["region"])
        );
        assert_eq!(document["ipv6_prefixes"], json!([]));
    }
}
