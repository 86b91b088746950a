//! AWS clients and the few predicates the engine branches on.
//!
//! Every client honours `AWS_ENDPOINT_URL` (read by aws-config); S3 switches to path-style
//! addressing when an endpoint is overridden (the emulator has no virtual-host buckets).

pub mod acm;
pub mod alb;
pub mod cloudwatch;
pub mod dns;
pub mod dynamodb;
pub mod ecr;
pub mod ecs;
mod ecs_service;
pub mod elb;
pub mod error;
mod guard;
pub mod iam;
#[cfg(feature = "testing")]
pub mod inject;
#[cfg(feature = "testing")]
pub mod instrument;
pub mod logs;
pub mod permissions;
pub mod probe;
pub mod s3;
pub mod sqs;
pub mod sts;

#[cfg(feature = "testing")]
use std::sync::Arc;
#[cfg(feature = "testing")]
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use error::{fail, kind, AwsError, AwsErrorKind};
#[cfg(feature = "testing")]
pub use inject::Injector;
#[cfg(feature = "testing")]
pub use instrument::Instrument;

/// How to build clients: plain, or (the `testing` feature) instrumented for tests and the
/// benchmark.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// The call log and its faults (tests, benchmark).
    #[cfg(feature = "testing")]
    pub instrument: Option<Arc<Instrument>>,
    /// A fixed delay before every HTTP request (benchmark).
    #[cfg(feature = "testing")]
    pub delay: Option<Duration>,
    pub region: Option<String>,
    /// Endpoint override (otherwise `AWS_ENDPOINT_URL`, read by aws-config).
    pub endpoint_url: Option<String>,
    /// Fixed credentials (tests against the emulator); otherwise the default chain.
    #[cfg(feature = "testing")]
    pub static_credentials: Option<(String, String)>,
    /// Real-AWS answers the emulator lacks (tests): see [`inject`].
    #[cfg(feature = "testing")]
    pub inject: Option<Arc<Injector>>,
}

/// One client per service; ECR clients are made per image region.
#[derive(Debug, Clone)]
pub struct Aws {
    pub config: SdkConfig,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub route53: aws_sdk_route53::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// CloudWatch Logs in the default region (`logs::tail` switches region per log group).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// CloudWatch metrics: the previews' request counts (idleness).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    interceptors: Vec<SharedInterceptor>,
}

impl Aws {
    pub async fn load(opts: ClientOptions) -> Aws {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        #[cfg(feature = "testing")]
        if let Some((id, secret)) = &opts.static_credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                id, secret, None, None, "static",
            ));
        }
        let config = loader.load().await;
        #[cfg(feature = "testing")]
        let (config, interceptors) = instrument::layers(config, &opts);
        #[cfg(not(feature = "testing"))]
        let interceptors: Vec<SharedInterceptor> = Vec::new();
        let endpoint_overridden = config.endpoint_url().is_some();

        // One construction for every client: the shared config, the interceptor, and any
        // service-specific setting (S3: path-style addressing when the endpoint is overridden).
        macro_rules! client {
            ($krate:ident $(, $setting:ident($value:expr))?) => {{
                let mut b = $krate::config::Builder::from(&config)$(.$setting($value))?;
                for i in &interceptors {
                    b.push_interceptor(i.clone());
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        let s3 = client!(aws_sdk_s3, force_path_style(endpoint_overridden));
        Aws {
            ecs: client!(aws_sdk_ecs),
            elb: client!(aws_sdk_elasticloadbalancingv2),
            route53: client!(aws_sdk_route53, retry_config(dns::retry_config())),
            dynamodb: client!(aws_sdk_dynamodb),
            s3,
            sqs: client!(aws_sdk_sqs),
            logs: client!(aws_sdk_cloudwatchlogs),
            cloudwatch: client!(aws_sdk_cloudwatch),
            config,
            interceptors,
        }
    }

    /// An ECR client for the region named in an image URI (not the default region).
    pub fn ecr(&self, region: &str) -> aws_sdk_ecr::Client {
        let mut b = aws_sdk_ecr::config::Builder::from(&self.config)
            .region(Region::new(region.to_string()));
        for i in &self.interceptors {
            b.push_interceptor(i.clone());
        }
        aws_sdk_ecr::Client::from_conf(b.build())
    }
}

/// The service error code of a failed call, if the service answered.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

pub fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// A one-line description of an AWS error: code and message, or the transport failure.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> String {
    match err {
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or("error");
            match e.err().message() {
                Some(m) => format!("{code}: {m}"),
                None => code.to_string(),
            }
        }
        other => {
            let mut msg = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            msg
        }
    }
}
