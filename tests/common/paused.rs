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
