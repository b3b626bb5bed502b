//! SDK clients of one world: its account, its region, the emulator's endpoint.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};

/// The SDK clients the engine uses.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub(crate) acm: aws_sdk_acm::Client,
    pub(crate) apigateway: aws_sdk_apigateway::Client,
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) lambda: aws_sdk_lambda::Client,
    pub(crate) route53: aws_sdk_route53::Client,
    pub(crate) secretsmanager: aws_sdk_secretsmanager::Client,
    pub(crate) sns: aws_sdk_sns::Client,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) ssm: aws_sdk_ssm::Client,
}

impl Clients {
    /// Clients built from one configuration.
    pub(crate) fn new(config: &SdkConfig) -> Self {
        Self {
            acm: aws_sdk_acm::Client::new(config),
            apigateway: aws_sdk_apigateway::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
        }
    }
}

/// The SDK configuration of a world: the emulator takes a 12-digit access key id as the
/// account, so each world's resources live in their own account.
pub(crate) fn sdk_config(endpoint: &str, account_id: &str, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            account_id, "test", None, None, "vpclab",
        )))
        .build()
}
