//! Test machinery (the `testing` feature; never in the shipped binary): a call log shared by
//! every AWS client (operation, start, end), an optional fixed delay per HTTP request (the
//! benchmark), fault injection (fail the k-th call, or die at the k-th call: it and every later
//! one fail), and clients sending through another HTTP client (tests/common/paused.rs).
//! The lease guard, product code, is in `guard.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use aws_config::SdkConfig;

use super::{inject, Aws, ClientOptions};

/// One AWS operation as seen by the interceptor.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: String,
    pub start: Instant,
    pub end: Instant,
    /// When it ended on tokio's clock (virtual under a paused test clock).
    pub ended: tokio::time::Instant,
    pub failed: bool,
}

/// What the interceptor observed and what it should break.
#[derive(Debug, Default)]
pub struct Instrument {
    calls: Mutex<Vec<Call>>,
    started: AtomicUsize,
    /// Every operation started, in order (a call cut short never reaches `calls`).
    started_ops: Mutex<Vec<String>>,
    /// Fail the k-th operation (1-based) when set; 0 = never.
    fail_at: AtomicUsize,
    /// The process "dies" at this operation: it and every later one fail; 0 = never.
    die_at: AtomicUsize,
    injected: Mutex<Option<String>>,
    died: Mutex<Option<tokio::time::Instant>>,
}

impl Instrument {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Fail the k-th AWS operation from now (1-based).
    pub fn fail_call(&self, k: usize) {
        self.started.store(0, Ordering::SeqCst);
        self.fail_at.store(k, Ordering::SeqCst);
        *self.injected.lock().unwrap() = None;
    }

    /// The process dies at its k-th AWS request from now (1-based): that request and every
    /// later one fail (the heartbeat's included), as if the process had been killed.
    pub fn die_at(&self, k: usize) {
        self.started.store(0, Ordering::SeqCst);
        self.started_ops.lock().unwrap().clear();
        self.fail_at.store(0, Ordering::SeqCst);
        self.die_at.store(k, Ordering::SeqCst);
        *self.injected.lock().unwrap() = None;
        *self.died.lock().unwrap() = None;
    }

    /// When (tokio's clock) the process died, if it reached its fatal request.
    pub fn died_at(&self) -> Option<tokio::time::Instant> {
        *self.died.lock().unwrap()
    }

    /// Requests started since the last reset or fault (including refused ones).
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    pub fn clear_fault(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
        self.die_at.store(0, Ordering::SeqCst);
    }

    /// The operation the fault hit, if it was reached.
    pub fn injected(&self) -> Option<String> {
        self.injected.lock().unwrap().clone()
    }

    /// Every operation started since the last reset or fault, in order.
    pub fn started_operations(&self) -> Vec<String> {
        self.started_ops.lock().unwrap().clone()
    }

    pub fn reset(&self) {
        self.calls.lock().unwrap().clear();
        self.started_ops.lock().unwrap().clear();
        self.started.store(0, Ordering::SeqCst);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Length of the longest chain of calls where each starts after the previous one ended:
    /// the number of sequential round trips on the critical path.
    pub fn sequential_round_trips(&self) -> usize {
        round_trips(&self.calls())
    }
}

pub fn round_trips(calls: &[Call]) -> usize {
    let mut calls = calls.to_vec();
    calls.sort_by_key(|c| c.start);
    let mut depth = vec![1usize; calls.len()];
    for i in 0..calls.len() {
        for j in 0..i {
            if calls[j].end <= calls[i].start {
                depth[i] = depth[i].max(depth[j] + 1);
            }
        }
    }
    depth.into_iter().max().unwrap_or(0)
}

#[derive(Debug, Clone)]
struct CallStart(Instant, String);
impl Storable for CallStart {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
pub struct Interceptor(pub Arc<Instrument>);

impl Intercept for Interceptor {
    fn name(&self) -> &'static str {
        "EdenInstrument"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".into());
        let n = self.0.started.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.started_ops.lock().unwrap().push(op.clone());
        cfg.interceptor_state()
            .store_put(CallStart(Instant::now(), op.clone()));
        if self.0.fail_at.load(Ordering::SeqCst) == n {
            *self.0.injected.lock().unwrap() = Some(op.clone());
            return Err(format!("fault injected: AWS call #{n} ({op}) failed").into());
        }
        let die = self.0.die_at.load(Ordering::SeqCst);
        if die != 0 && n >= die {
            if n == die {
                *self.0.injected.lock().unwrap() = Some(op.clone());
                *self.0.died.lock().unwrap() = Some(tokio::time::Instant::now());
            }
            return Err(format!(
                "fault injected: the process died at AWS call #{die}; #{n} ({op}) failed"
            )
            .into());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(CallStart(start, op)) = cfg.load::<CallStart>().cloned() {
            let failed = context.output_or_error().is_some_and(|r| r.is_err());
            self.0.calls.lock().unwrap().push(Call {
                operation: op,
                start,
                end: Instant::now(),
                ended: tokio::time::Instant::now(),
                failed,
            });
        }
        Ok(())
    }
}

impl Aws {
    /// The same clients sending their requests through `client` (tests: see tests/common).
    pub fn with_http_client(&self, client: SharedHttpClient) -> Aws {
        let config = self.config.to_builder().http_client(client.clone()).build();
        let mut aws = self.rebuilt(|c| c.http_client = Some(client.clone()));
        aws.config = config;
        aws
    }
}

/// The testing layers `ClientOptions` asks for, on top of the loaded config: the delay before
/// every request, the call log and its faults, the injected AWS answers. Returns the config the
/// clients are built from and the interceptors every client gets.
pub(super) fn layers(
    mut config: SdkConfig,
    opts: &ClientOptions,
) -> (SdkConfig, Vec<SharedInterceptor>) {
    let base_http = |config: &SdkConfig| {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        config.http_client().unwrap_or_else(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build_https()
        })
    };
    if let Some(delay) = opts.delay {
        let inner = base_http(&config);
        config = config
            .into_builder()
            .http_client(DelayedHttpClient { inner, delay })
            .build();
    }
    let mut interceptors = Vec::new();
    if let Some(i) = &opts.instrument {
        interceptors.push(SharedInterceptor::new(Interceptor(i.clone())));
    }
    if let Some(inj) = &opts.inject {
        let inner = base_http(&config);
        config = config
            .into_builder()
            .http_client(inject::InjectingHttpClient { inner })
            .build();
        interceptors.push(SharedInterceptor::new(inject::InjectInterceptor(
            inj.clone(),
        )));
    }
    (config, interceptors)
}

/// An HTTP client that waits a fixed time before every request (a slow network, for the bench).
#[derive(Debug, Clone)]
pub struct DelayedHttpClient {
    pub inner: SharedHttpClient,
    pub delay: Duration,
}

impl HttpClient for DelayedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(DelayedConnector {
            inner: self.inner.http_connector(settings, components),
            delay: self.delay,
        })
    }
}

#[derive(Debug)]
struct DelayedConnector {
    inner: SharedHttpConnector,
    delay: Duration,
}

impl HttpConnector for DelayedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let delay = self.delay;
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(delay).await;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_follow_the_critical_path() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let c = |a, b| Call {
            operation: String::new(),
            start: ms(a),
            end: ms(b),
            ended: tokio::time::Instant::now(),
            failed: false,
        };
        // two parallel calls, then one after both, then two parallel again
        let calls = vec![c(0, 10), c(0, 12), c(13, 20), c(21, 30), c(21, 25)];
        assert_eq!(round_trips(&calls), 3);
        assert_eq!(round_trips(&[]), 0);
    }
}
