//! An HTTP client that shows the test every AWS exchange once its answer is back: a test awaits
//! the exact moment a run reached (a read answered, a conditional write refused) instead of
//! sleeping and hoping the run got there.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use eden::aws::Aws;
use tokio::sync::watch;

/// One request and its answer, as sent and received.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The operation from `X-Amz-Target` (`DescribeTaskDefinition`); empty for other protocols.
    pub operation: String,
    pub request: String,
    pub status: u16,
    pub response: String,
}

impl Exchange {
    /// The JSON protocols' error code (`__type`, without its namespace), if the answer is one.
    pub fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.response).ok()?;
        let t = v["__type"].as_str()?;
        Some(t.rsplit('#').next().unwrap_or(t).to_string())
    }
}

/// Every exchange of the clients it wraps, in the order their answers came back.
#[derive(Debug, Clone)]
pub struct Observer {
    seen: Arc<watch::Sender<Vec<Exchange>>>,
}

impl Default for Observer {
    fn default() -> Self {
        Observer {
            seen: Arc::new(watch::Sender::new(Vec::new())),
        }
    }
}

impl Observer {
    /// The same clients, their exchanges observed.
    pub fn wrap(&self, aws: &Aws) -> Aws {
        let inner = aws.config.http_client().unwrap_or_else(|| {
            use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build_https()
        });
        aws.with_http_client(SharedHttpClient::new(Observing {
            inner,
            seen: self.seen.clone(),
        }))
    }

    pub fn seen(&self) -> Vec<Exchange> {
        self.seen.borrow().clone()
    }

    /// Wait until the exchanges so far satisfy `cond`.
    pub async fn until(&self, cond: impl Fn(&[Exchange]) -> bool) {
        let mut rx = self.seen.subscribe();
        rx.wait_for(|s| cond(s))
            .await
            .expect("the sender lives in self");
    }
}

#[derive(Debug, Clone)]
struct Observing {
    inner: SharedHttpClient,
    seen: Arc<watch::Sender<Vec<Exchange>>>,
}

impl HttpClient for Observing {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ObservingConnector {
            inner: self.inner.http_connector(settings, components),
            seen: self.seen.clone(),
        })
    }
}

#[derive(Debug)]
struct ObservingConnector {
    inner: SharedHttpConnector,
    seen: Arc<watch::Sender<Vec<Exchange>>>,
}

impl HttpConnector for ObservingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, seen) = (self.inner.clone(), self.seen.clone());
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_string();
        let sent = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        HttpConnectorFuture::new(async move {
            let mut response = inner.call(request).await?;
            // The whole answer is read before the test hears of it.
            let body = ByteStream::new(response.take_body())
                .collect()
                .await
                .map_err(|e| ConnectorError::io(e.into()))?
                .into_bytes();
            let exchange = Exchange {
                operation,
                request: sent,
                status: response.status().as_u16(),
                response: String::from_utf8_lossy(&body).into_owned(),
            };
            *response.body_mut() = SdkBody::from(body);
            seen.send_modify(|s| s.push(exchange));
            Ok(response)
        })
    }
}
