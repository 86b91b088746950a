//! `eden serve` as an operator runs it, with `queue = "sqs://<FIFO queue URL>"` in serve.toml:
//! the binary against the emulator (a FIFO queue created here) and the stateful fake GitHub.
//! Signed deliveries over loopback HTTP; completion is observed by independent reads (the state
//! table, the account snapshot, the queue's counts), polled with a bounded deadline.

mod common;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use common::fake_github::FakeGitHub;
use common::serve::{deployed_sha, fixture, with_head};
use common::*;
use eden::server::signature::sign;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "sqs-serve-webhook-secret";
const LIMIT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request over loopback: the response's status code and body.
async fn exchange(port: u16, head: String, body: &[u8]) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(head.as_bytes()).await.ok()?;
    s.write_all(body).await.ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.ok()?;
    let text = String::from_utf8_lossy(&out);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some((status, body.to_string()))
}

async fn http(port: u16, head: String, body: &[u8]) -> Option<u16> {
    exchange(port, head, body).await.map(|(s, _)| s)
}

async fn http_body(port: u16, head: String) -> (u16, String) {
    exchange(port, head, b"").await.expect("an answer")
}

async fn deliver(port: u16, event: &str, id: &str, payload: &Value) -> u16 {
    let body = serde_json::to_vec(payload).unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-GitHub-Event: {event}\r\nX-GitHub-Delivery: {id}\r\nX-Hub-Signature-256: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        sign(SECRET, &body),
        body.len()
    );
    http(port, head, &body).await.expect("an answer")
}

async fn until<F: std::future::Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn queue_counts(w: &World, url: &str) -> (String, String) {
    let out = w
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let a = out.attributes().unwrap();
    (
        a[&QueueAttributeName::ApproximateNumberOfMessages].clone(),
        a[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_an_sqs_queue_deploys_and_deletes_a_preview() {
    let w = World::new("sq").await;
    w.warm().await;
    let before = w.snapshot().await;
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-1");
    let gh = FakeGitHub::start(&sync).await;
    let queue = w
        .aws
        .sqs
        .create_queue()
        .queue_name(format!("{}-jobs.fifo", w.prefix))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let profiles = w.write_config(dir.path());
    let template = w.image("api", "sha-1").replace(":sha-1", ":{sha}");
    let port = free_port();
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
listen = "127.0.0.1:{port}"
eden_config = "{}"
table = "{}"
queue = "sqs://{queue}"
shutdown_timeout = "10s"
[github]
api_url = "{}"
token = "ghs_sqs_token"
webhook_secrets = ["{SECRET}"]
[[repository]]
name = "Codertocat/Hello-World"
[repository.images]
api = "{template}"
"#,
            profiles.display(),
            w.table,
            gh.url()
        ),
    )
    .unwrap();
    let cfg_arg = cfg.to_str().unwrap();
    let child = eden_process(
        dir.path(),
        &endpoint(),
        &["serve", "--config", cfg_arg],
        &[],
    )
    .spawn()
    .unwrap();
    let health = || async {
        http(
            port,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".into(),
            b"",
        )
        .await
            == Some(200)
    };
    until("eden serve listening", health).await;

    assert_eq!(deliver(port, "pull_request", "d-sync", &sync).await, 202);
    until("sha-1 deployed and its message deleted", || async {
        deployed_sha(&w).await.as_deref() == Some("sha-1")
            && gh.statuses().last().map(String::as_str) == Some("🚀 deployed")
            && queue_counts(&w, &queue).await == ("0".into(), "0".into())
    })
    .await;
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;

    gh.set_pr(|pr| pr["state"] = "closed".into());
    let closed = with_head(fixture("github/pull_request.closed.json"), "sha-1");
    assert_eq!(deliver(port, "pull_request", "d-close", &closed).await, 202);
    until("the preview deleted and its message too", || async {
        gh.statuses().last().map(String::as_str) == Some("🗑️ deleted")
            && queue_counts(&w, &queue).await == ("0".into(), "0".into())
    })
    .await;
    assert_eq!(
        w.snapshot().await,
        before,
        "the preview was not fully deleted"
    );
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());

    // /readyz reads the queue's attributes (the fake GitHub has no /rate_limit: its check fails).
    let (status, body) = http_body(
        port,
        "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status} {body}"));
    assert_eq!(json["checks"]["sqs"], "ok", "{body}");
    assert_eq!(json["checks"]["aws"], "ok", "{body}");

    // SIGTERM: a graceful stop (nothing held), exit 0.
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("eden serve stopped")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("received from SQS"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_on_a_queue_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("config");
    std::fs::write(&profiles, "").unwrap();
    let missing = format!("{}/123456789012/eden-missing-queue.fifo", endpoint());
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
listen = "127.0.0.1:{}"
eden_config = "{}"
queue = "sqs://{missing}"
[github]
token = "ghs_sqs_token"
webhook_secrets = ["{SECRET}"]
[[repository]]
name = "Codertocat/Hello-World"
[repository.images]
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
"#,
            free_port(),
            profiles.display(),
        ),
    )
    .unwrap();
    let out = tokio::time::timeout(
        LIMIT,
        eden_process(
            dir.path(),
            &endpoint(),
            &["serve", "--config", cfg.to_str().unwrap()],
            &[],
        )
        .output(),
    )
    .await
    .expect("eden serve exits")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("queue {missing}"))
            && stderr.contains("Check that the FIFO queue exists in region ap-northeast-1"),
        "{stderr}"
    );
}
