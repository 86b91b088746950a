//! `eden serve` end to end: signed real payloads through the router, the in-process queue, the
//! runner and `src/preview`, against the AWS emulator and the stateful fake GitHub. Completion
//! is observed through the queue's `Finished` hook and the runner's image-wait counter: no
//! sleeps, no timing assumptions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::fake_github::FakeGitHub;
use common::*;
use eden::server::config::{self, FileConfig, GlobalProfileFlags, ServeArgs};
use eden::server::github::Clients;
use eden::server::job::Job;
use eden::server::queue::{Finished, QueueSettings, Scheduler};
use eden::server::runner::PreviewRunner;
use eden::server::signature::sign;
use eden::server::{router, AppState, Memory};
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt;

const SECRET: &str = "e2e-webhook-secret";

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join("tests/fixtures").join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn with_head(mut event: Value, sha: &str) -> Value {
    event["pull_request"]["head"]["sha"] = Value::String(sha.into());
    event
}

struct Done(mpsc::UnboundedSender<String>);
impl Finished for Done {
    fn finished(&self, job: &Job) {
        let _ = self.0.send(job.delivery.clone());
    }
}

struct Server {
    app: axum::Router,
    runner: Arc<PreviewRunner>,
    scheduler: Arc<Scheduler>,
    done: mpsc::UnboundedReceiver<String>,
    _dir: tempfile::TempDir,
    next: u32,
}

async fn server(w: &World, gh: &FakeGitHub) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let profiles = w.write_config(dir.path());
    let template = w.image("api", "sha-1").replace(":sha-1", ":{sha}");
    let text = format!(
        r#"
eden_config = "{}"
table = "{}"
image_wait = "1h"
[github]
api_url = "{}"
token = "ghs_e2e_token"
webhook_secrets = ["{SECRET}"]
[[repository]]
name = "Codertocat/Hello-World"
deployment = true
[repository.images]
api = "{template}"
"#,
        profiles.display(),
        w.table,
        gh.url()
    );
    let file: FileConfig = toml::from_str(&text).unwrap();
    let cfg = Arc::new(
        config::resolve(file, &ServeArgs::default(), &GlobalProfileFlags::default())
            .unwrap_or_else(|p| panic!("{p:?}")),
    );
    let clients = Arc::new(Clients::new(&cfg.github).unwrap());
    let mut runner = PreviewRunner::new(cfg.clone(), w.engine(None).await, clients);
    // Only a build-completed cue (or the 1 h limit) makes a waiting job look again.
    runner.image_poll = Duration::from_secs(3600);
    let runner = Arc::new(runner);
    let (tx, rx) = mpsc::unbounded_channel();
    let scheduler = Scheduler::new(
        runner.clone(),
        QueueSettings::default(),
        Some(Arc::new(Done(tx))),
    );
    let state = AppState::new(cfg, Arc::new(Memory(scheduler.clone())));
    Server {
        app: router(Arc::new(state)),
        runner,
        scheduler,
        done: rx,
        _dir: dir,
        next: 0,
    }
}

impl Server {
    async fn deliver(&mut self, event: &str, payload: &Value) -> String {
        self.next += 1;
        let id = format!("delivery-{}", self.next);
        let body = serde_json::to_vec(payload).unwrap();
        let req = Request::post("/webhook")
            .header("x-github-event", event)
            .header("x-github-delivery", &id)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign(SECRET, &body))
            .body(Body::from(body))
            .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{event} {id}");
        id
    }

    /// Wait until `n` more jobs have left the queue.
    async fn finished(&mut self, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(self.done.recv().await.unwrap());
        }
        ids
    }
}

async fn deployed_sha(w: &World) -> Option<String> {
    eden::engine::state::read(&w.aws, &w.table, "api", "pr-2")
        .await
        .unwrap()
        .and_then(|s| s.metadata.get("head_sha").cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_pushes_end_in_one_deployment_of_the_newest_sha_and_close_deletes_it() {
    let w = World::new("se").await;
    w.warm().await;
    let before = w.snapshot().await;
    let sync = fixture("github/pull_request.synchronize.json");
    let gh = FakeGitHub::start(&with_head(sync.clone(), "sha-1")).await;
    let mut s = server(&w, &gh).await;

    // Four pushes in a row; the images of the first three were never built, the PR's head is
    // the fourth. Whatever the interleaving, only the newest may deploy.
    for sha in ["p1", "p2", "p3", "sha-1"] {
        s.deliver("pull_request", &with_head(sync.clone(), sha))
            .await;
    }
    s.finished(4).await;
    assert_eq!(s.scheduler.busy(), 0);
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
    assert_eq!(deployed_sha(&w).await.as_deref(), Some("sha-1"));
    let deployments = gh.state.lock().unwrap().deployments.clone();
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    assert_eq!(deployments[0]["ref"], "sha-1");
    assert_eq!(gh.statuses().last().unwrap(), "🚀 deployed");
    let ours = gh.ours(&eden::github::comment::marker(2, "pr-2"));
    assert_eq!(ours.len(), 1, "one sticky comment");

    // Closed: the preview goes, the comment says so.
    gh.set_pr(|pr| pr["state"] = "closed".into());
    let closed = with_head(fixture("github/pull_request.closed.json"), "sha-1");
    s.deliver("pull_request", &closed).await;
    s.finished(1).await;
    assert_eq!(
        w.snapshot().await,
        before,
        "the preview was not fully deleted"
    );
    assert_eq!(gh.statuses().last().unwrap(), "🗑️ deleted");
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_waits_for_its_image_and_a_finished_build_is_the_cue() {
    let w = World::new("si").await;
    w.warm().await;
    let sync = with_head(fixture("github/pull_request.synchronize.json"), "sha-late");
    let gh = FakeGitHub::start(&sync).await;
    let mut s = server(&w, &gh).await;
    let mut waits = s.runner.image_waits.subscribe();

    s.deliver("pull_request", &sync).await;
    waits.wait_for(|n| *n >= 1).await.unwrap();
    assert_eq!(gh.statuses(), ["⏳ waiting for the image"]);
    let body = &gh.ours(&eden::github::comment::marker(2, "pr-2"))[0].body;
    assert!(body.contains(":sha-late` to appear in ECR"), "{body}");
    assert_eq!(deployed_sha(&w).await, None);

    // CI pushes the image, then its workflow run completes.
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
        "layers": []
    });
    w.aws
        .ecr(REGION)
        .put_image()
        .repository_name(format!("{}/api", w.prefix))
        .image_manifest(manifest.to_string())
        .image_tag("sha-late")
        .send()
        .await
        .unwrap();
    let mut run = fixture("webhooks/workflow_run.completed.json");
    run["repository"]["full_name"] = "Codertocat/Hello-World".into();
    run["workflow_run"]["pull_requests"][0]["number"] = 2.into();
    run["workflow_run"]["pull_requests"][0]["head"]["sha"] = "sha-late".into();
    s.deliver("workflow_run", &run).await;
    s.finished(2).await; // the cue (folded into the running job) and the job
    let image = w.image("api", "sha-1").replace(":sha-1", ":sha-late");
    verify_environment(&w, "api", "pr-2", &image).await;
    assert_eq!(
        gh.statuses(),
        ["⏳ waiting for the image", "⏳ deploying", "🚀 deployed"]
    );
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}
