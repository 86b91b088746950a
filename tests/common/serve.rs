//! A whole `eden serve` in the test process: the real router, the in-process queue and the
//! runner, on the emulator's world and a fake GitHub. Completion is observed through the
//! queue's `Finished` hook: no sleeps.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use eden::server::config::{self, FileConfig, GlobalProfileFlags, ServeArgs, ServeConfig};
use eden::server::github::Clients;
use eden::server::job::Job;
use eden::server::queue::{Finished, QueueSettings, Scheduler};
use eden::server::runner::PreviewRunner;
use eden::server::signature::sign;
use eden::server::{router, AppState, Memory};
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::fake_github::FakeGitHub;
use super::{root, World};

pub fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join("tests/fixtures").join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn with_head(mut event: Value, sha: &str) -> Value {
    event["pull_request"]["head"]["sha"] = Value::String(sha.into());
    event
}

const SECRET: &str = "e2e-webhook-secret";

/// The head SHA the `api` preview of PR #2 (`pr-2`) was last deployed at, read from the table.
pub async fn deployed_sha(w: &World) -> Option<String> {
    eden::engine::state::read(&w.aws, &w.table, "api", "pr-2")
        .await
        .unwrap()
        .and_then(|s| s.metadata.get("head_sha").cloned())
}

/// The refs of the deployments the fake GitHub holds, oldest first.
pub fn deployments(gh: &FakeGitHub) -> Vec<String> {
    let s = gh.state.lock().unwrap();
    s.deployments
        .iter()
        .map(|d| d["ref"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub struct Done(mpsc::UnboundedSender<String>);
impl Finished for Done {
    fn finished(&self, job: &Job) {
        let _ = self.0.send(job.delivery.clone());
    }
}

pub struct Server {
    pub app: axum::Router,
    pub config: Arc<ServeConfig>,
    pub clients: Arc<Clients>,
    pub runner: Arc<PreviewRunner>,
    pub scheduler: Arc<Scheduler>,
    pub done: mpsc::UnboundedReceiver<String>,
    _dir: tempfile::TempDir,
    next: u32,
}

/// The server for repository `Codertocat/Hello-World` with profile `api`; `repo_extra`: more
/// `[[repository]]` keys (e.g. `ttl = "7d"`); `runner`: adjusts the runner (its clock).
pub async fn server(w: &World, gh: &FakeGitHub) -> Server {
    server_with(w, gh, "", |_| {}).await
}

pub async fn server_with(
    w: &World,
    gh: &FakeGitHub,
    repo_extra: &str,
    adjust: impl FnOnce(&mut PreviewRunner),
) -> Server {
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
{repo_extra}
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
    let mut runner = PreviewRunner::new(cfg.clone(), w.engine(None).await, clients.clone());
    // Only a build-completed cue (or the 1 h limit) makes a waiting job look again.
    runner.image_poll = Duration::from_secs(3600);
    adjust(&mut runner);
    let runner = Arc::new(runner);
    let (tx, rx) = mpsc::unbounded_channel();
    // Retries come quickly (a test waits for them, never races them).
    let settings = QueueSettings {
        backoff: Duration::from_millis(10),
        ..QueueSettings::default()
    };
    let scheduler = Scheduler::new(runner.clone(), settings, Some(Arc::new(Done(tx))));
    let state = AppState::new(cfg.clone(), Arc::new(Memory(scheduler.clone())));
    Server {
        app: router(Arc::new(state)),
        config: cfg,
        clients,
        runner,
        scheduler,
        done: rx,
        _dir: dir,
        next: 0,
    }
}

impl Server {
    pub async fn deliver(&mut self, event: &str, payload: &Value) -> String {
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
    pub async fn finished(&mut self, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(self.done.recv().await.unwrap());
        }
        ids
    }
}
