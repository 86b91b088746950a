//! Real AWS answers the emulator does not give (tests): an SDK interceptor picks the calls, and
//! the chosen attempt gets an HTTP response shaped exactly as AWS sends it (status, XML or JSON
//! body, error code). The SDK's own deserializers and retry classifiers then see what they would
//! see on a real account, while every other call goes to the emulator.
//!
//! Two moments, as on AWS:
//! - [`When::Instead`]: AWS answers *instead of* doing the request (access denied, throttled,
//!   a batch call failing on one missing ARN): the request never reaches the emulator.
//! - [`When::Replacing`]: AWS answers differently from the emulator for the same state
//!   (S3 without `s3:ListBucket`: 403 where moto answers 404 for a missing key).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut, Input,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// An HTTP response as AWS sends it.
#[derive(Debug, Clone)]
pub struct Fake {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Fake {
    /// S3 (REST-XML, no wrapper): `<Error><Code>…</Code>…</Error>`.
    pub fn s3(status: u16, code: &str, message: &str) -> Fake {
        Fake {
            status,
            content_type: "application/xml",
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>EDENTEST0000001</RequestId><HostId>eden-test</HostId></Error>"
            ),
        }
    }

    /// Elastic Load Balancing v2 (AWS query protocol).
    pub fn elbv2(status: u16, code: &str, message: &str) -> Fake {
        Fake {
            status,
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n  <RequestId>0e1f2a3b-eden-test</RequestId>\n</ErrorResponse>\n"
            ),
        }
    }

    /// Route 53 (REST-XML with the `ErrorResponse` wrapper).
    pub fn route53(status: u16, code: &str, message: &str) -> Fake {
        Fake {
            status,
            content_type: "text/xml",
            body: format!(
                "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>0e1f2a3b-eden-test</RequestId></ErrorResponse>"
            ),
        }
    }

    /// ECS, DynamoDB, ECR (AWS JSON 1.0/1.1): `{"__type": code, "message": …}`.
    pub fn json(status: u16, code: &str, message: &str) -> Fake {
        Fake {
            status,
            content_type: "application/x-amz-json-1.1",
            body: serde_json::json!({ "__type": code, "message": message }).to_string(),
        }
    }

    /// SQS (AWS JSON 1.0): `{"__type": "com.amazonaws.sqs#<code>", "message": …}`.
    pub fn sqs(status: u16, code: &str, message: &str) -> Fake {
        Fake {
            status,
            content_type: "application/x-amz-json-1.0",
            body: serde_json::json!({ "__type": format!("com.amazonaws.sqs#{code}"), "message": message })
                .to_string(),
        }
    }

    /// A 200 answer of an AWS JSON 1.1 service (ECS): the operation's output, exactly as the
    /// service sends it (field names in camelCase, timestamps as epoch seconds).
    pub fn ecs_ok(body: serde_json::Value) -> Fake {
        Fake {
            status: 200,
            content_type: "application/x-amz-json-1.1",
            body: body.to_string(),
        }
    }

    /// A 200 answer of Elastic Load Balancing v2 (AWS query protocol): `result` is the XML
    /// inside `<{operation}Result>`.
    pub fn elbv2_ok(operation: &str, result: &str) -> Fake {
        Fake {
            status: 200,
            content_type: "text/xml",
            body: format!(
                "<{operation}Response xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\n  <{operation}Result>\n{result}\n  </{operation}Result>\n  <ResponseMetadata>\n    <RequestId>0e1f2a3b-eden-test</RequestId>\n  </ResponseMetadata>\n</{operation}Response>\n"
            ),
        }
    }

    fn response(&self) -> HttpResponse {
        let status = self.status.try_into().expect("a valid HTTP status");
        let mut r = HttpResponse::new(status, SdkBody::from(self.body.clone()));
        r.headers_mut().insert("content-type", self.content_type);
        r.headers_mut()
            .insert("x-amzn-requestid", "0e1f2a3b-eden-test");
        r
    }
}

/// When a rule's answer takes the place of the emulator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// AWS refuses before acting: the emulator never sees the request.
    Instead,
    /// The emulator acted and answered with this status; AWS would have answered the fake.
    Replacing(u16),
}

type InputMatch = Box<dyn Fn(&Input) -> bool + Send + Sync>;

/// The answer of a rule: fixed, or made when the call comes (AWS's state over time: what ECS
/// says mid-rollout depends on when it is asked, not on how often).
enum Answer {
    Fixed(Fake),
    Made(Box<dyn Fn() -> Fake + Send + Sync>),
}

impl Answer {
    fn fake(&self) -> Fake {
        match self {
            Answer::Fixed(f) => f.clone(),
            Answer::Made(f) => f(),
        }
    }
}

/// One injected behaviour: which calls, when, how many times, and the answer.
pub struct Rule {
    service: String,
    operation: String,
    input: Option<InputMatch>,
    when: When,
    times: Option<usize>,
    answer: Answer,
    hits: AtomicUsize,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("service", &self.service)
            .field("operation", &self.operation)
            .field("when", &self.when)
            .field("times", &self.times)
            .field("hits", &self.hits())
            .finish()
    }
}

impl Rule {
    /// `service` as the SDK names it (`S3`, `Route 53`, `Elastic Load Balancing v2`, `ECS`…),
    /// `operation` as in the API (`GetObject`).
    pub fn new(service: &str, operation: &str, when: When, fake: Fake) -> Rule {
        Rule {
            service: service.to_string(),
            operation: operation.to_string(),
            input: None,
            when,
            times: None,
            answer: Answer::Fixed(fake),
            hits: AtomicUsize::new(0),
        }
    }

    /// A rule whose answer is made when the call comes (e.g. from the test clock: the state
    /// of a rollout at that moment).
    pub fn answering(
        service: &str,
        operation: &str,
        when: When,
        answer: impl Fn() -> Fake + Send + Sync + 'static,
    ) -> Rule {
        Rule {
            answer: Answer::Made(Box::new(answer)),
            ..Rule::new(service, operation, when, Fake::json(500, "Unused", ""))
        }
    }

    /// Only calls whose typed input (e.g. `DescribeTagsInput`) satisfies `f`.
    pub fn input<T: std::fmt::Debug + Send + Sync + 'static>(
        mut self,
        f: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Rule {
        self.input = Some(Box::new(move |i: &Input| {
            i.downcast_ref::<T>().is_some_and(&f)
        }));
        self
    }

    /// Answer only the first `n` matching attempts (retries count as attempts).
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    /// How many attempts got the fake answer.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn take(&self) -> bool {
        let n = self.hits.fetch_add(1, Ordering::SeqCst);
        if self.times.is_some_and(|t| n >= t) {
            self.hits.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }
}

/// The set of rules shared by every client built with it (see `ClientOptions::inject`).
#[derive(Debug, Default)]
pub struct Injector {
    rules: Mutex<Vec<Arc<Rule>>>,
}

impl Injector {
    pub fn new() -> Arc<Injector> {
        Arc::new(Injector::default())
    }

    /// Add a rule; the handle tells how often it fired.
    pub fn add(&self, rule: Rule) -> Arc<Rule> {
        let rule = Arc::new(rule);
        self.rules.lock().unwrap().push(rule.clone());
        rule
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }
}

/// The rules matching this operation (decided once, before serialization, on the typed input).
#[derive(Debug, Clone)]
struct Matched(Vec<Arc<Rule>>);
impl Storable for Matched {
    type Storer = StoreReplace<Self>;
}

/// Carried on a request whose answer is decided: the connector answers it itself.
#[derive(Debug, Clone)]
struct Canned(Fake);

#[derive(Debug, Clone)]
pub(crate) struct InjectInterceptor(pub Arc<Injector>);

impl Intercept for InjectInterceptor {
    fn name(&self) -> &'static str {
        "EdenInject"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>().cloned() else {
            return Ok(());
        };
        let matched: Vec<Arc<Rule>> = self
            .0
            .rules
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.service == meta.service() && r.operation == meta.name())
            .filter(|r| r.input.as_ref().is_none_or(|f| f(context.input())))
            .cloned()
            .collect();
        if !matched.is_empty() {
            cfg.interceptor_state().store_put(Matched(matched));
        }
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Matched(rules)) = cfg.load::<Matched>() {
            if let Some(r) = rules.iter().find(|r| r.when == When::Instead && r.take()) {
                context.request_mut().add_extension(Canned(r.answer.fake()));
            }
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Matched(rules)) = cfg.load::<Matched>() {
            let status = context.response().status().as_u16();
            if let Some(r) = rules
                .iter()
                .find(|r| r.when == When::Replacing(status) && r.take())
            {
                *context.response_mut() = r.answer.fake().response();
            }
        }
        Ok(())
    }
}

/// `inner` with the injector's answers in front of it: for clients whose HTTP client is
/// replaced ([`crate::aws::Aws::with_http_client`], e.g. the paused-clock tests' offloading
/// client), so injected answers still win.
pub fn injecting(inner: SharedHttpClient) -> SharedHttpClient {
    SharedHttpClient::new(InjectingHttpClient { inner })
}

/// Answers requests carrying a decided fake; passes every other one on.
#[derive(Debug, Clone)]
pub(crate) struct InjectingHttpClient {
    pub inner: SharedHttpClient,
}

impl HttpClient for InjectingHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(InjectingConnector {
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct InjectingConnector {
    inner: SharedHttpConnector,
}

impl HttpConnector for InjectingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        match request.extension::<Canned>() {
            Some(Canned(fake)) => HttpConnectorFuture::ready(Ok(fake.response())),
            None => self.inner.call(request),
        }
    }
}
