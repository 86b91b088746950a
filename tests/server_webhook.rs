//! `POST /webhook` through the real router: real payloads (npm @octokit/webhooks-examples),
//! signed as GitHub signs them, and every way a delivery is refused. The queue is replaced by
//! a recorder, so these tests prove what is accepted, not what runs (see server_e2e.rs).

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use eden::server::config::{self, FileConfig, GlobalProfileFlags, ServeArgs};
use eden::server::job::{ChatCommand, Job, Work};
use eden::server::signature::sign;
use eden::server::{router, AppState, Submit};
use futures::future::BoxFuture;
use serde_json::Value;
use tower::ServiceExt;

const SECRET: &str = "webhook-secret-1";

#[derive(Default)]
struct Recorder(Mutex<Vec<Job>>);

impl Submit for Recorder {
    fn submit(&self, job: Job) -> BoxFuture<'_, anyhow::Result<()>> {
        self.0.lock().unwrap().push(job);
        Box::pin(async { Ok(()) })
    }
}

impl Recorder {
    fn jobs(&self) -> Vec<Job> {
        self.0.lock().unwrap().clone()
    }
}

fn app_with(toml_text: &str) -> (axum::Router, Arc<Recorder>) {
    let file: FileConfig = toml::from_str(toml_text).unwrap();
    let cfg = config::resolve(file, &ServeArgs::default(), &GlobalProfileFlags::default())
        .unwrap_or_else(|p| panic!("{p:?}"));
    let rec = Arc::new(Recorder::default());
    let state = AppState::new(Arc::new(cfg), rec.clone());
    (router(Arc::new(state)), rec)
}

fn app() -> (axum::Router, Arc<Recorder>) {
    app_with(&format!(
        r#"
eden_config = "/nonexistent/config"
[github]
webhook_secrets = ["old-secret", "{SECRET}"]
[[repository]]
name = "Codertocat/*"
[repository.images]
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
"#
    ))
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(common::root().join("tests/fixtures").join(path)).unwrap()
}

struct Delivery {
    event: &'static str,
    body: Vec<u8>,
    id: String,
    sig256: Option<String>,
    sig1: Option<String>,
    content_type: &'static str,
}

impl Delivery {
    fn new(event: &'static str, body: Vec<u8>) -> Delivery {
        Delivery {
            event,
            sig256: Some(sign(SECRET, &body)),
            body,
            id: format!("{:032x}", rand::random::<u128>()),
            sig1: None,
            content_type: "application/json",
        }
    }
    fn request(&self) -> Request<Body> {
        let mut r = Request::post("/webhook")
            .header("x-github-event", self.event)
            .header("x-github-delivery", &self.id)
            .header("content-type", self.content_type)
            .header("user-agent", "GitHub-Hookshot/abc");
        if let Some(s) = &self.sig256 {
            r = r.header("x-hub-signature-256", s);
        }
        if let Some(s) = &self.sig1 {
            r = r.header("x-hub-signature", s);
        }
        r.body(Body::from(self.body.clone())).unwrap()
    }
}

async fn send(app: &axum::Router, d: &Delivery) -> (StatusCode, Value) {
    let res = app.clone().oneshot(d.request()).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn ping_is_answered() {
    let (app, rec) = app();
    let (status, body) = send(&app, &Delivery::new("ping", fixture("webhooks/ping.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"], "pong");
    assert!(rec.jobs().is_empty());
}

#[tokio::test]
async fn pull_request_events_become_jobs_for_their_pr() {
    let (app, rec) = app();
    for (name, kind) in [
        ("opened", "event"),
        ("synchronize", "event"),
        ("reopened", "event"),
        ("closed", "close"),
    ] {
        let d = Delivery::new(
            "pull_request",
            fixture(&format!("github/pull_request.{name}.json")),
        );
        let (status, body) = send(&app, &d).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}: {body}");
        assert_eq!(body["status"], "queued");
        let job = rec.jobs().pop().unwrap();
        assert_eq!(job.key.to_string(), "Codertocat/Hello-World#2");
        assert_eq!(job.work.kind(), kind);
        assert_eq!(job.delivery, d.id);
        let Work::Event(e) = &job.work else {
            panic!("{job:?}")
        };
        assert_eq!(e.action, name);
        assert_eq!(e.head_ref, "changes");
    }
    assert_eq!(rec.jobs().len(), 4);
}

#[tokio::test]
async fn bad_signatures_are_refused_before_anything_else() {
    let (app, rec) = app();
    let body = fixture("github/pull_request.opened.json");
    let mut cases = Vec::new();

    let mut d = Delivery::new("pull_request", body.clone());
    d.sig256 = None;
    cases.push(("missing", d));

    let mut d = Delivery::new("pull_request", body.clone());
    d.sig256 = None;
    d.sig1 = Some("sha1=0123456789012345678901234567890123456789".into());
    cases.push(("sha1 only", d));

    let mut d = Delivery::new("pull_request", body.clone());
    d.sig256 = Some(sign("someone-elses-secret", &body));
    cases.push(("wrong secret", d));

    let mut d = Delivery::new("pull_request", body.clone());
    d.body = String::from_utf8(body.clone())
        .unwrap()
        .replace("\"number\": 2", "\"number\": 3")
        .into_bytes();
    assert_ne!(d.body, body);
    cases.push(("tampered body", d));

    let mut d = Delivery::new("pull_request", b"not even json".to_vec());
    d.sig256 = Some("sha256=garbage".into());
    d.content_type = "text/plain";
    cases.push(("malformed, and a bad content type", d));

    for (what, d) in &cases {
        let (status, body) = send(&app, d).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }
    assert!(rec.jobs().is_empty(), "nothing was queued");
    // Refused deliveries are not remembered: the genuine one still goes through.
    let mut genuine = Delivery::new("pull_request", body);
    genuine.id = cases[0].1.id.clone();
    assert_eq!(send(&app, &genuine).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_rotated_secret_still_verifies() {
    let (app, rec) = app();
    let body = fixture("github/pull_request.opened.json");
    let mut d = Delivery::new("pull_request", body.clone());
    d.sig256 = Some(sign("old-secret", &body));
    assert_eq!(send(&app, &d).await.0, StatusCode::ACCEPTED);
    assert_eq!(rec.jobs().len(), 1);
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let (app, rec) = app();
    // GitHub's other content type: the JSON form-encoded as `payload=…`, correctly signed.
    let json = String::from_utf8(fixture("github/pull_request.opened.json")).unwrap();
    let form = format!("payload={}", json.replace('%', "%25").replace('&', "%26"));
    let mut d = Delivery::new("pull_request", form.into_bytes());
    d.content_type = "application/x-www-form-urlencoded";
    let (status, body) = send(&app, &d).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("content type to application/json"));
    assert!(rec.jobs().is_empty());
}

#[tokio::test]
async fn bodies_over_githubs_25_mb_are_413() {
    let (app, rec) = app();
    let big = vec![b' '; 25 * 1024 * 1024 + 1];
    let d = Delivery::new("pull_request", big);
    let res = app.clone().oneshot(d.request()).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(rec.jobs().is_empty());
}

#[tokio::test]
async fn redeliveries_are_recognised_and_not_run_twice() {
    let (app, rec) = app();
    let d = Delivery::new(
        "pull_request",
        fixture("github/pull_request.synchronize.json"),
    );
    assert_eq!(send(&app, &d).await.0, StatusCode::ACCEPTED);
    let (status, body) = send(&app, &d).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "duplicate");
    assert_eq!(rec.jobs().len(), 1);
}

#[tokio::test]
async fn events_we_do_not_handle_are_accepted_and_ignored() {
    let (app, rec) = app();
    for (event, path) in [
        ("push", "webhooks/push.json"),
        ("issue_comment", "webhooks/issue_comment.created.json"),
        ("pull_request", "github/pull_request.labeled.json"),
        ("pull_request", "github/pull_request.unlabeled.json"),
    ] {
        let (status, body) = send(&app, &Delivery::new(event, fixture(path))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}");
        assert_eq!(body["status"], "ignored", "{path}: {body}");
    }
    assert!(rec.jobs().is_empty());
}

#[tokio::test]
async fn repositories_not_configured_are_ignored() {
    let (app, rec) = app_with(&format!(
        r#"
eden_config = "/nonexistent/config"
[github]
webhook_secrets = ["{SECRET}"]
[[repository]]
name = "octo-org/shop"
[repository.images]
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
"#
    ));
    let d = Delivery::new("pull_request", fixture("github/pull_request.opened.json"));
    let (status, body) = send(&app, &d).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Codertocat/Hello-World is not configured"));
    assert!(rec.jobs().is_empty());
}

#[tokio::test]
async fn a_label_gate_turns_labeled_and_unlabeled_into_jobs() {
    let (app, rec) = app_with(&format!(
        r#"
eden_config = "/nonexistent/config"
[github]
webhook_secrets = ["{SECRET}"]
[[repository]]
name = "Codertocat/Hello-World"
label = "bug"
[repository.images]
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
"#
    ));
    for name in ["labeled", "unlabeled"] {
        let d = Delivery::new(
            "pull_request",
            fixture(&format!("github/pull_request.{name}.json")),
        );
        assert_eq!(send(&app, &d).await.0, StatusCode::ACCEPTED);
    }
    let kinds: Vec<String> = rec
        .jobs()
        .iter()
        .map(|j| match &j.work {
            Work::Event(e) => format!("{}:{}", e.action, e.label.clone().unwrap_or_default()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["labeled:bug", "unlabeled:bug"]);
}

#[tokio::test]
async fn eden_commands_on_a_pull_request_become_command_jobs() {
    let (app, rec) = app();
    let d = Delivery::new(
        "issue_comment",
        fixture("webhooks/issue_comment.created.pr_command.json"),
    );
    assert_eq!(send(&app, &d).await.0, StatusCode::ACCEPTED);
    let job = rec.jobs().pop().unwrap();
    assert_eq!(job.key.to_string(), "Codertocat/Hello-World#1");
    assert_eq!(
        job.work,
        Work::Command {
            command: ChatCommand::Deploy,
            user: "Codertocat".into(),
            sha: None
        }
    );
}

#[tokio::test]
async fn completed_builds_are_cues_to_look_again() {
    let (app, rec) = app_with(&format!(
        r#"
eden_config = "/nonexistent/config"
[github]
webhook_secrets = ["{SECRET}"]
[[repository]]
name = "octo-org/*"
[repository.images]
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
[[repository]]
name = "Codertocat/Hello-World"
[repository.images]
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
"#
    ));
    for (event, path) in [
        ("workflow_run", "webhooks/workflow_run.completed.json"),
        ("check_suite", "webhooks/check_suite.completed.json"),
    ] {
        let d = Delivery::new(event, fixture(path));
        assert_eq!(send(&app, &d).await.0, StatusCode::ACCEPTED, "{event}");
    }
    let jobs: Vec<String> = rec
        .jobs()
        .iter()
        .map(|j| format!("{} {:?}", j.key, j.work))
        .collect();
    assert_eq!(
        jobs,
        [
            "octo-org/octo-repo#2 Recheck { head_sha: Some(\"ec26c3e57ca3a959ca5aad62de7213c562f8c821\") }",
            "Codertocat/Hello-World#2 Recheck { head_sha: Some(\"ec26c3e57ca3a959ca5aad62de7213c562f8c821\") }"
        ]
    );
}

#[tokio::test]
async fn metrics_count_deliveries_by_event_and_outcome() {
    let (app, _) = app();
    let mut d = Delivery::new("ping", fixture("webhooks/ping.json"));
    d.sig256 = None;
    send(&app, &d).await;
    send(&app, &Delivery::new("ping", fixture("webhooks/ping.json"))).await;
    let res = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for line in [
        "eden_webhook_deliveries_total{event=\"unverified\",outcome=\"unauthorized\"}",
        "eden_webhook_deliveries_total{event=\"ping\",outcome=\"pong\"}",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let (app, _) = app();
    for path in ["/healthz", "/readyz"] {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
}
