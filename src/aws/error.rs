//! The one place AWS errors are told apart: by the service's error code and the HTTP status,
//! never by message text. Callers branch on [`AwsErrorKind`] (or, for an operation-specific
//! code such as `PriorityInUse`, on [`super::error_code`]).

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an AWS call met, across services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist (`*NotFound*`, `NoSuch*`, HTTP 404 without a code).
    NotFound,
    /// IAM (or a bucket/resource policy) refused the call (`AccessDenied*`, HTTP 403).
    /// Note: S3 answers 403 for a *missing* key when the caller lacks `s3:ListBucket`.
    AccessDenied,
    /// Rate limited (the SDK's own list of throttling codes, HTTP 429); retryable.
    Throttled,
    /// A condition on the request did not hold (HTTP 412, `PreconditionFailed`,
    /// DynamoDB `ConditionalCheckFailedException`).
    PreconditionFailed,
    /// Another writer raced this one (S3 `ConditionalRequestConflict`, HTTP 409).
    Conflict,
    /// Anything else (a transport failure, a validation error, …).
    Other,
}

/// Error codes that mean "no such resource", across the services eden calls.
const NOT_FOUND: &[&str] = &[
    "NoSuchKey",
    "NoSuchBucket",
    "NoSuchHostedZone",
    "NotFound",
    "ResourceNotFoundException",
    "ServiceNotFoundException",
    "ClusterNotFoundException",
    "TargetGroupNotFound",
    "LoadBalancerNotFound",
    "ListenerNotFound",
    "RuleNotFound",
    "RepositoryNotFoundException",
    "ImageNotFoundException",
    // SQS (JSON code, and the query-compatible code the SDK prefers when present); a receipt
    // handle SQS no longer knows means the message is no longer ours.
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "ReceiptHandleIsInvalid",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "AuthorizationError",
];

/// Throttling codes (the SDK's standard retry classifier retries the same ones).
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
];

const PRECONDITION: &[&str] = &["PreconditionFailed", "ConditionalCheckFailedException"];

const CONFLICT: &[&str] = &["ConditionalRequestConflict"];

/// Classify a service's answer by code, then by HTTP status (HEAD requests carry no body).
pub fn classify(code: Option<&str>, status: Option<u16>) -> AwsErrorKind {
    use AwsErrorKind::*;
    if let Some(code) = code {
        if NOT_FOUND.contains(&code) {
            return NotFound;
        }
        if ACCESS_DENIED.contains(&code) {
            return AccessDenied;
        }
        if THROTTLED.contains(&code) {
            return Throttled;
        }
        if PRECONDITION.contains(&code) {
            return PreconditionFailed;
        }
        if CONFLICT.contains(&code) {
            return Conflict;
        }
    }
    match status {
        Some(404) => NotFound,
        Some(403) => AccessDenied,
        Some(429) => Throttled,
        Some(412) => PreconditionFailed,
        Some(409) => Conflict,
        _ => Other,
    }
}

/// Worth another attempt: throttled, a server-side failure (5xx), or no answer at all
/// (timeout, connection refused or reset).
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            kind(err) == AwsErrorKind::Throttled || e.raw().status().is_server_error()
        }
        _ => false,
    }
}

/// The kind of a failed SDK call.
pub fn kind<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> AwsErrorKind {
    match err {
        SdkError::ServiceError(e) => classify(
            e.err().code(),
            Some(e.raw().status().as_u16()).filter(|s| *s >= 400),
        ),
        _ => AwsErrorKind::Other,
    }
}

/// A failed AWS call, typed: which operation (`service:Operation`, as IAM names it), its kind,
/// whether another attempt may succeed; `what` is the call in words (its target), `detail` the
/// service's code and message. Shown as "`what` failed: `detail`".
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what} failed: {detail}")]
pub struct AwsError {
    pub operation: &'static str,
    pub kind: AwsErrorKind,
    pub transient: bool,
    pub what: String,
    pub detail: String,
}

impl AwsError {
    pub fn new<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        what: impl Into<String>,
        err: &SdkError<E, HttpResponse>,
    ) -> AwsError {
        AwsError {
            operation,
            kind: kind(err),
            transient: is_transient(err),
            what: what.into(),
            detail: super::describe(err),
        }
    }
}

/// [`AwsError::new`] as an `anyhow::Error`, for `map_err` and `return Err(…)`.
pub fn fail<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    what: impl Into<String>,
    err: &SdkError<E, HttpResponse>,
) -> anyhow::Error {
    AwsError::new(operation, what, err).into()
}

#[cfg(test)]
mod tests {
    use super::AwsErrorKind::*;
    use super::*;

    #[test]
    fn codes_win_over_statuses() {
        assert_eq!(classify(Some("NoSuchKey"), Some(404)), NotFound);
        assert_eq!(classify(Some("AccessDenied"), Some(403)), AccessDenied);
        assert_eq!(classify(Some("TargetGroupNotFound"), Some(400)), NotFound);
        assert_eq!(classify(Some("Throttling"), Some(400)), Throttled);
        assert_eq!(
            classify(Some("PriorRequestNotComplete"), Some(400)),
            Throttled
        );
        assert_eq!(
            classify(Some("PreconditionFailed"), Some(412)),
            PreconditionFailed
        );
        assert_eq!(
            classify(Some("ConditionalRequestConflict"), Some(409)),
            Conflict
        );
        assert_eq!(classify(Some("ValidationError"), Some(400)), Other);
        // HEAD answers have no body, so no code
        assert_eq!(classify(None, Some(403)), AccessDenied);
        assert_eq!(classify(None, Some(404)), NotFound);
        assert_eq!(classify(None, None), Other);
    }
}
