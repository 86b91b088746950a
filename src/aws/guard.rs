//! The lease guard (product code): a per-run interceptor that refuses every request once the
//! run's lease is lost, and the rebuilding of every client with one more interceptor (or, for
//! the tests, another HTTP client: `instrument.rs`).

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_types::config_bag::ConfigBag;

use super::Aws;

/// A per-run interceptor that refuses every request once `check` fails (the run's lease is
/// lost): the run stops before its next write.
#[derive(Clone)]
struct Guard(Arc<dyn Fn() -> Result<(), BoxError> + Send + Sync>);

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}

impl Intercept for Guard {
    fn name(&self) -> &'static str {
        "EdenLeaseGuard"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        (self.0)()
    }
}

impl Aws {
    /// The same clients with a guard that refuses every request once `check` fails.
    pub fn with_guard(
        &self,
        check: impl Fn() -> Result<(), BoxError> + Send + Sync + 'static,
    ) -> Aws {
        let guard = SharedInterceptor::new(Guard(Arc::new(check)));
        self.rebuilt(|c| c.interceptors.push(guard.clone()))
    }

    pub(super) fn rebuilt(&self, change: impl Fn(&mut Rebuild)) -> Aws {
        let mut r = Rebuild::default();
        change(&mut r);
        macro_rules! again {
            ($client:expr, $krate:ident) => {{
                let mut b = $client.config().to_builder();
                for i in &r.interceptors {
                    b.push_interceptor(i.clone());
                }
                if let Some(h) = &r.http_client {
                    b = b.http_client(h.clone());
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        Aws {
            config: self.config.clone(),
            ecs: again!(self.ecs, aws_sdk_ecs),
            elb: again!(self.elb, aws_sdk_elasticloadbalancingv2),
            route53: again!(self.route53, aws_sdk_route53),
            dynamodb: again!(self.dynamodb, aws_sdk_dynamodb),
            s3: again!(self.s3, aws_sdk_s3),
            sqs: again!(self.sqs, aws_sdk_sqs),
            logs: again!(self.logs, aws_sdk_cloudwatchlogs),
            cloudwatch: again!(self.cloudwatch, aws_sdk_cloudwatch),
            interceptors: self
                .interceptors
                .iter()
                .chain(&r.interceptors)
                .cloned()
                .collect(),
        }
    }
}

/// What [`Aws::rebuilt`] adds to every client.
#[derive(Default)]
pub(super) struct Rebuild {
    pub(super) interceptors: Vec<SharedInterceptor>,
    pub(super) http_client: Option<SharedHttpClient>,
}
