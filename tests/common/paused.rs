//! Tests on tokio's paused clock against the real emulator.
//!
//! A paused clock jumps to the next timer whenever the runtime is idle, and a runtime waiting
//! for an HTTP answer is idle: heartbeats would fire and SDK timeouts expire in the middle of a
//! request. So requests run on a separate, real-time runtime, inside `spawn_blocking`, which
//! keeps tokio from advancing the paused clock until the answer is back. Time then moves only
//! when the code under test sleeps (lease waits, heartbeats, backoff), deterministically.

use std::sync::OnceLock;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use eden::aws::instrument::DelayedHttpClient;
use eden::aws::Aws;

fn real_time() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn base() -> SharedHttpClient {
    static BASE: OnceLock<SharedHttpClient> = OnceLock::new();
    BASE.get_or_init(|| {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .build_https()
    })
    .clone()
}

#[derive(Debug, Clone)]
struct Offloaded;

impl HttpClient for Offloaded {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(OffloadedConnector {
            settings: settings.clone(),
            components: components.clone(),
        })
    }
}

#[derive(Debug)]
struct OffloadedConnector {
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
}

impl HttpConnector for OffloadedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (settings, components) = (self.settings.clone(), self.components.clone());
        HttpConnectorFuture::new(async move {
            tokio::task::spawn_blocking(move || {
                // the connector is made (and its connect timeout sleeps) on the real-time
                // runtime; the base client caches it per settings
                real_time().block_on(async move {
                    let mut response = base()
                        .http_connector(&settings, &components)
                        .call(request)
                        .await?;
                    // Read the body here too: waiting for it on the paused runtime would let
                    // the clock jump.
                    let body = ByteStream::new(response.take_body())
                        .collect()
                        .await
                        .map_err(|e| ConnectorError::io(e.into()))?;
                    *response.body_mut() = SdkBody::from(body.into_bytes());
                    Ok(response)
                })
            })
            .await
            .map_err(|e| ConnectorError::other(e.into(), None))?
        })
    }
}

/// The same clients, sending their requests from the real-time runtime.
pub fn offloaded(aws: &Aws) -> Aws {
    aws.with_http_client(SharedHttpClient::new(Offloaded))
}

/// Offloaded, and every request first waits `latency` on the (paused) test clock: a slow
/// network in virtual time, so heartbeats fire in the middle of a run.
pub fn offloaded_with_latency(aws: &Aws, latency: Duration) -> Aws {
    aws.with_http_client(SharedHttpClient::new(DelayedHttpClient {
        inner: SharedHttpClient::new(Offloaded),
        delay: latency,
    }))
}

/// A GitHub request as the code under test made it: when (on the paused clock), method, path
/// and body.
#[derive(Debug, Clone)]
pub struct GitHubCall {
    pub at: tokio::time::Instant,
    pub method: String,
    pub path: String,
    pub body: String,
}

/// A GitHub client for `base_url` (the fake GitHub) whose requests, like the AWS clients'
/// above, are made on the real-time runtime inside `spawn_blocking`, so the paused clock does
/// not jump while an answer is on its way; each request is logged with its virtual time.
pub fn github(
    base_url: &str,
    repo: &str,
) -> (
    eden::github::api::GitHub,
    std::sync::Arc<std::sync::Mutex<Vec<GitHubCall>>>,
) {
    use http_body_util::{BodyExt, Full};
    use octocrab::service::middleware::base_uri::BaseUriLayer;
    use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = log.clone();
    let service = tower::service_fn(move |req: http::Request<octocrab::OctoBody>| {
        let calls = calls.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await?.to_bytes();
            calls.lock().unwrap().push(GitHubCall {
                at: tokio::time::Instant::now(),
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
            let request = http::Request::from_parts(parts, Full::new(bytes));
            let (parts, body) = tokio::task::spawn_blocking(move || {
                real_time().block_on(async move {
                    let client = hyper_util::client::legacy::Client::builder(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .build_http::<Full<bytes::Bytes>>();
                    let response = client.request(request).await?;
                    let (parts, body) = response.into_parts();
                    Ok::<_, BoxError>((parts, body.collect().await?.to_bytes()))
                })
            })
            .await??;
            Ok::<_, BoxError>(http::Response::from_parts(parts, Full::new(body)))
        }
    });
    let crab = octocrab::OctocrabBuilder::new_empty()
        .with_service(service)
        .with_layer(&BaseUriLayer::new(base_url.parse().expect("a URL")))
        .with_layer(&ExtraHeadersLayer::new(std::sync::Arc::new(vec![(
            http::header::USER_AGENT,
            "eden-tests".parse().unwrap(),
        )])))
        .with_auth(octocrab::AuthState::None)
        .build()
        .expect("an octocrab client");
    (
        eden::github::api::GitHub::with_client(std::sync::Arc::new(crab), repo),
        log,
    )
}
