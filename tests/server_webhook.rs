//! `POST /webhook` through the real router: real payloads (npm @octokit/webhooks-examples),
//! signed as GitHub signs them, and every way a delivery is refused. The queue is replaced by
//! a recorder, so these tests prove what is accepted, not what runs (see server_e2e.rs).

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use eden::github::ids::{CommitSha, PrNumber, RepoName};
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
    /// The request GitHub sends (an empty event or id: that header left out).
    fn request(&self) -> Request<Body> {
        let mut r = Request::post("/webhook")
            .header("content-type", self.content_type)
            .header("user-agent", "GitHub-Hookshot/abc");
        if !self.event.is_empty() {
            r = r.header("x-github-event", self.event);
        }
        if !self.id.is_empty() {
            r = r.header("x-github-delivery", &self.id);
        }
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
async fn a_command_job_carries_the_repository_number_and_pinned_sha() {
    let (app, rec) = app();
    let mut v: Value =
        serde_json::from_slice(&fixture("webhooks/issue_comment.created.pr_command.json")).unwrap();
    v["comment"]["body"] = "/eden deploy EC26C3E57ca3\nplease".into();
    v["issue"]["number"] = 41.into();
    v["installation"] = serde_json::json!({"id": 77});
    let d = Delivery::new("issue_comment", serde_json::to_vec(&v).unwrap());
    assert_eq!(send(&app, &d).await.0, StatusCode::ACCEPTED);
    let job = rec.jobs().pop().unwrap();
    assert_eq!(job.key.repo, RepoName::from("Codertocat/Hello-World"));
    assert_eq!(job.key.number, PrNumber::from(41));
    assert_eq!(job.installation, Some(77));
    assert_eq!(
        job.work,
        Work::Command {
            command: ChatCommand::Deploy,
            user: "Codertocat".into(),
            sha: Some(CommitSha::from("EC26C3E57ca3"))
        }
    );
    // What travels through SQS reads back as the same job.
    let wire = serde_json::to_string(&job).unwrap();
    assert_eq!(serde_json::from_str::<Job>(&wire).unwrap(), job);
}

#[tokio::test]
async fn comments_that_are_not_new_commands_on_a_pr_are_ignored() {
    let (app, rec) = app();
    let base: Value =
        serde_json::from_slice(&fixture("webhooks/issue_comment.created.pr_command.json")).unwrap();
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 4] = [
        ("edited", |v| v["action"] = "edited".into()),
        ("on an issue", |v| v["issue"]["pull_request"] = Value::Null),
        ("not a command", |v| {
            v["comment"]["body"] = "LGTM /eden deploy".into()
        }),
        ("no body", |v| v["comment"]["body"] = Value::Null),
    ];
    for (what, edit) in edits {
        let mut v = base.clone();
        edit(&mut v);
        let d = Delivery::new("issue_comment", serde_json::to_vec(&v).unwrap());
        let (status, body) = send(&app, &d).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{what}: {body}");
        assert_eq!(body["status"], "ignored", "{what}: {body}");
    }
    assert!(rec.jobs().is_empty());
}

#[tokio::test]
async fn payloads_that_lack_what_their_event_carries_are_400() {
    let (app, rec) = app();
    let comment: Value =
        serde_json::from_slice(&fixture("webhooks/issue_comment.created.pr_command.json")).unwrap();
    let run: Value =
        serde_json::from_slice(&fixture("webhooks/workflow_run.completed.json")).unwrap();
    let mut cases: Vec<(&str, &'static str, Value)> = Vec::new();
    let mut v = comment.clone();
    v["repository"] = Value::Null;
    cases.push(("a command without repository", "issue_comment", v));
    let mut v = comment.clone();
    v["comment"]["user"] = Value::Null;
    cases.push(("a command without author", "issue_comment", v));
    let mut v = comment;
    v["issue"]["number"] = "one".into();
    cases.push(("a number that is not one", "issue_comment", v));
    let mut v = run.clone();
    v["repository"] = Value::Null;
    cases.push(("a build without repository", "workflow_run", v));
    let mut v = run;
    v["workflow_run"]["pull_requests"] = "#2".into();
    cases.push(("pull requests that are not a list", "workflow_run", v));
    for (what, event, v) in cases {
        let d = Delivery::new(event, serde_json::to_vec(&v).unwrap());
        let (status, body) = send(&app, &d).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    }
    let d = Delivery::new("check_suite", b"[1, 2]".to_vec());
    assert_eq!(send(&app, &d).await.0, StatusCode::BAD_REQUEST);
    assert!(rec.jobs().is_empty());
}

#[tokio::test]
async fn deliveries_without_an_event_or_a_delivery_id_are_400_once_verified() {
    let (app, rec) = app();
    let body = fixture("github/pull_request.synchronize.json");
    let mut no_event = Delivery::new("", body.clone());
    let (status, answer) = send(&app, &no_event).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["message"], "missing X-GitHub-Event header");
    let mut no_id = Delivery::new("pull_request", body.clone());
    no_id.id = String::new();
    let (status, answer) = send(&app, &no_id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["message"], "missing X-GitHub-Delivery header");
    // The signature is still checked first: unsigned, either one is 401.
    for d in [&mut no_event, &mut no_id] {
        d.sig256 = None;
        assert_eq!(send(&app, d).await.0, StatusCode::UNAUTHORIZED);
    }
    assert!(rec.jobs().is_empty());
    // A refused delivery is not remembered: sent whole, the same id is queued.
    no_event.event = "pull_request";
    no_event.sig256 = Some(sign(SECRET, &body));
    assert_eq!(send(&app, &no_event).await.0, StatusCode::ACCEPTED);
    assert_eq!(rec.jobs().len(), 1);
}

#[tokio::test]
async fn builds_that_are_not_completed_or_name_no_pr_are_ignored() {
    let (app, rec) = app();
    let run: Value =
        serde_json::from_slice(&fixture("webhooks/workflow_run.completed.json")).unwrap();
    let mut requested = run.clone();
    requested["action"] = "requested".into();
    let mut no_prs = run;
    no_prs["workflow_run"]["pull_requests"] = serde_json::json!([]);
    for (what, v) in [("requested", requested), ("no PR", no_prs)] {
        let d = Delivery::new("workflow_run", serde_json::to_vec(&v).unwrap());
        let (status, body) = send(&app, &d).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{what}: {body}");
        assert_eq!(body["status"], "ignored", "{what}: {body}");
    }
    assert!(rec.jobs().is_empty());
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
    let head = CommitSha::from("ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    for job in rec.jobs() {
        assert_eq!(job.key.number, PrNumber::from(2));
        assert_eq!(
            job.work,
            Work::Recheck {
                head_sha: Some(head.clone())
            }
        );
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

/// The router served on a loopback socket as `eden serve` serves it (with each connection's
/// address), with `auth_failures_per_minute = 3`.
async fn served(extra: &str) -> (std::net::SocketAddr, Arc<Recorder>) {
    let text = format!(
        r#"
eden_config = "/nonexistent/config"
auth_failures_per_minute = 3
{extra}
[github]
webhook_secrets = ["{SECRET}"]
[[repository]]
name = "Codertocat/*"
[repository.images]
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
[[api_key]]
key = "a-long-enough-api-key"
profiles = ["api"]
"#
    );
    let (app, rec) = app_with(&text);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, svc).await });
    (addr, rec)
}

/// One HTTP/1.1 request from `from` (a loopback address); `body: None` sends the headers only
/// (announcing `announced` bytes) and waits for an answer without ever sending the body.
async fn raw(
    to: std::net::SocketAddr,
    from: [u8; 4],
    head: &str,
    body: Option<&[u8]>,
) -> (u16, String) {
    let exchange = raw_exchange(to, from, head, body);
    tokio::time::timeout(std::time::Duration::from_secs(60), exchange)
        .await
        .expect("no answer (was the server waiting for a body it should not read?)")
}

async fn raw_exchange(
    to: std::net::SocketAddr,
    from: [u8; 4],
    head: &str,
    body: Option<&[u8]>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind((std::net::Ipv4Addr::from(from), 0).into())
        .unwrap();
    let mut s = socket.connect(to).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    if let Some(b) = body {
        s.write_all(b).await.unwrap();
    }
    // The answer ends the exchange: every refusal here closes the connection, and the others
    // are read to their content-length.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((h, b)) = text.split_once("\r\n\r\n") {
            let len: usize = h
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if b.len() >= len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&got).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap();
    (status, text)
}

fn webhook_head(body_len: usize, sig: &str, xff: Option<&str>) -> String {
    let xff = xff
        .map(|v| format!("x-forwarded-for: {v}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /webhook HTTP/1.1\r\nhost: eden\r\ncontent-type: application/json\r\nx-github-event: pull_request\r\nx-github-delivery: {:032x}\r\nx-hub-signature-256: {sig}\r\n{xff}content-length: {body_len}\r\n\r\n",
        rand::random::<u128>()
    )
}

#[tokio::test]
async fn a_client_that_keeps_failing_signatures_is_refused_before_its_body_is_read() {
    let (addr, rec) = served("").await;
    let body = fixture("github/pull_request.synchronize.json");
    let forged = sign("not-the-secret", &body);
    let flooder = [127, 0, 0, 2];
    for i in 0..3 {
        let (status, _) = raw(
            addr,
            flooder,
            &webhook_head(body.len(), &forged, None),
            Some(&body),
        )
        .await;
        assert_eq!(status, 401, "failure {i} is still read and checked");
    }
    // Out of failures: answered at once, without the body ever being sent.
    let (status, text) = raw(
        addr,
        flooder,
        &webhook_head(body.len(), &forged, None),
        None,
    )
    .await;
    assert_eq!(status, 429, "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 20"), "{text}");
    assert!(lower.contains("connection: close"), "{text}");
    assert!(
        text.contains("too many failed signatures or API keys from 127.0.0.2"),
        "{text}"
    );
    // Even a correctly signed delivery from that address waits for its bucket to refill...
    let good = sign(SECRET, &body);
    let (status, _) = raw(
        addr,
        flooder,
        &webhook_head(body.len(), &good, None),
        Some(&body),
    )
    .await;
    assert_eq!(status, 429);
    assert!(
        rec.jobs().is_empty(),
        "nothing from the throttled address ran"
    );
    // ...while every other address is heard as before.
    let (status, text) = raw(
        addr,
        [127, 0, 0, 1],
        &webhook_head(body.len(), &good, None),
        Some(&body),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    assert_eq!(rec.jobs().len(), 1);
}

#[tokio::test]
async fn wrong_api_keys_count_too_and_behind_a_load_balancer_the_forwarded_address_is_the_client() {
    let (addr, _) = served("").await;
    let get = |key: &str| {
        format!("GET /api/v1/environments HTTP/1.1\r\nhost: eden\r\nx-api-key: {key}\r\n\r\n")
    };
    let guesser = [127, 0, 0, 3];
    for _ in 0..3 {
        assert_eq!(raw(addr, guesser, &get("guess"), None).await.0, 403);
    }
    assert_eq!(raw(addr, guesser, &get("guess"), None).await.0, 429);
    // The right key from a fresh address is not affected (503: no AWS behind this router).
    assert_eq!(
        raw(addr, [127, 0, 0, 4], &get("a-long-enough-api-key"), None)
            .await
            .0,
        503
    );

    // client_ip = "x-forwarded-for": the load balancer's own address (the TCP peer) is shared
    // by everyone; the address it appended is the client's.
    let (addr, _) = served(r#"client_ip = "x-forwarded-for""#).await;
    let body = fixture("github/pull_request.synchronize.json");
    let forged = sign("not-the-secret", &body);
    let alb = [127, 0, 0, 5];
    for _ in 0..3 {
        let head = webhook_head(body.len(), &forged, Some("10.9.9.9, 198.51.100.7"));
        assert_eq!(raw(addr, alb, &head, Some(&body)).await.0, 401);
    }
    // A spoofed first entry does not help the flooder: the last one is what the ALB saw.
    let head = webhook_head(body.len(), &forged, Some("203.0.113.1, 198.51.100.7"));
    assert_eq!(raw(addr, alb, &head, None).await.0, 429);
    let good = sign(SECRET, &body);
    let head = webhook_head(body.len(), &good, Some("192.0.2.10"));
    assert_eq!(
        raw(addr, alb, &head, Some(&body)).await.0,
        202,
        "GitHub through the same ALB"
    );
}
