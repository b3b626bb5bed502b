//! A failed AWS API call, typed: the operation, the resource it concerned, and the service's
//! error code, so callers decide on codes (`InvalidVpcID.NotFound`) rather than on message text.

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};

/// A failed SDK call.
#[derive(Debug, thiserror::Error)]
#[error("{operation}{}: {message}", resource_suffix(.resource))]
pub(crate) struct CallError {
    /// The API operation, e.g. `DescribeSubnets`.
    pub(crate) operation: String,
    /// The resource the call concerned, when there is one.
    pub(crate) resource: Option<String>,
    /// The service's error code (`ResourceNotFoundException`, `InvalidSubnetID.NotFound`), when
    /// the service answered one.
    pub(crate) code: Option<String>,
    /// The whole error chain, for people.
    pub(crate) message: String,
}

fn resource_suffix(resource: &Option<String>) -> String {
    resource
        .as_ref()
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

impl CallError {
    /// A failed call of `operation` (the first word of `call`; the rest names the resource).
    pub(crate) fn new<E>(call: &str, error: E) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata,
    {
        let (operation, resource) = match call.split_once(' ') {
            Some((op, rest)) => (op.to_owned(), Some(rest.to_owned())),
            None => (call.to_owned(), None),
        };
        Self {
            operation,
            resource,
            code: error.code().map(str::to_owned),
            message: DisplayErrorContext(&error).to_string(),
        }
    }

    /// An error that did not come from the service (no code).
    pub(crate) fn local(operation: &str, resource: Option<&str>, message: String) -> Self {
        Self {
            operation: operation.to_owned(),
            resource: resource.map(str::to_owned),
            code: None,
            message,
        }
    }

    /// Whether the service said the resource does not exist: EC2's `*.NotFound`,
    /// `NatGatewayNotFound` and `*.Malformed` codes (a malformed id names nothing), and the
    /// `ResourceNotFoundException` / `NoSuchEntity` / `NonExistentQueue` codes of the others.
    pub(crate) fn is_not_found(&self) -> bool {
        self.code.as_deref().is_some_and(is_not_found_code)
    }
}

/// Whether an AWS error code means "no such resource".
pub(crate) fn is_not_found_code(code: &str) -> bool {
    code.ends_with("NotFound")
        || code.ends_with("NotFoundException")
        || code.ends_with(".Malformed")
        || matches!(
            code,
            "NoSuchEntity"
                | "NoSuchHostedZone"
                | "AWS.SimpleQueueService.NonExistentQueue"
                | "QueueDoesNotExist"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_decided_by_the_code() {
        for code in [
            "InvalidVpcID.NotFound",
            "InvalidNetworkInterfaceID.Malformed",
            "ResourceNotFoundException",
            "NotFoundException",
            "NoSuchEntity",
            "NatGatewayNotFound",
            // LocalStack 2026.3.0: SQS (JSON and query protocols), SNS, API Gateway, Lambda,
            // DynamoDB.
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "NotFound",
        ] {
            assert!(is_not_found_code(code), "{code}");
        }
        for code in ["DependencyViolation", "InvalidParameterValue", "Throttling"] {
            assert!(!is_not_found_code(code), "{code}");
        }
    }

    #[test]
    fn the_call_names_operation_and_resource() {
        let e = CallError::local("DescribeSubnets", Some("subnet-1"), "boom".into());
        assert_eq!(e.to_string(), "DescribeSubnets subnet-1: boom");
        assert!(!e.is_not_found());
    }
}
