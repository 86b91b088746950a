//! `eden serve`: a webhook receiver and the original eden HTTP API, for many repositories.
//!
//! ```text
//! POST /webhook ─▶ signature ─▶ event → Job ─▶ queue (per PR) ─▶ runner ─▶ src/preview ─▶ engine
//! GET|POST /api/v1/{create,delete,environments} ─▶ api key ─▶ engine
//! reconcile loop ─▶ Recheck / delete jobs ─▶ queue
//! ```
//!
//! Nothing here decides what a PR needs or writes a comment: that is `src/preview`, shared with
//! the Action. This module receives, queues, retries, and reports.

pub mod abuse;
pub mod api;
pub mod config;
pub mod github;
pub mod images;
pub mod job;
pub mod metrics;
pub mod queue;
pub mod reconcile;
pub mod runner;
pub mod signature;
pub mod sleepers;
pub mod sqs;
pub mod start;
pub mod waker;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::future::BoxFuture;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use config::ServeConfig;
use job::Job;
use queue::Scheduler;

/// GitHub's largest webhook payload.
pub const MAX_WEBHOOK_BODY: usize = 25 * 1024 * 1024;
/// API bodies are small JSON objects.
pub const MAX_API_BODY: usize = 64 * 1024;
/// Delivery ids remembered for redelivery detection.
pub const REMEMBERED_DELIVERIES: usize = 50_000;

/// Where accepted jobs go: the in-process scheduler, or an SQS FIFO queue.
pub trait Submit: Send + Sync + 'static {
    fn submit(&self, job: Job) -> BoxFuture<'_, Result<()>>;
}

/// The in-process queue.
pub struct Memory(pub Arc<Scheduler>);

impl Submit for Memory {
    fn submit(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        let r = self
            .0
            .push(job)
            .map_err(|_| anyhow::anyhow!("the server is shutting down"));
        Box::pin(async move { r })
    }
}

/// `/readyz`: each dependency and whether it answered.
pub trait Readiness: Send + Sync + 'static {
    fn check(&self) -> BoxFuture<'_, Vec<(&'static str, Result<(), String>)>>;
}

pub struct AppState {
    pub config: Arc<ServeConfig>,
    pub queue: Arc<dyn Submit>,
    pub deliveries: webhook::Deliveries,
    /// Failed signatures and API keys per client (src/server/abuse.rs).
    pub failures: abuse::Failures,
    /// `None`: the API answers 503 (no AWS access configured, e.g. the benchmark).
    pub api: Option<api::Backend>,
    pub metrics: PrometheusHandle,
    pub ready: Option<Arc<dyn Readiness>>,
}

impl AppState {
    pub fn new(config: Arc<ServeConfig>, queue: Arc<dyn Submit>) -> AppState {
        AppState {
            failures: abuse::Failures::new(config.auth_failures_per_minute),
            config,
            queue,
            deliveries: webhook::Deliveries::new(REMEMBERED_DELIVERIES),
            api: None,
            metrics: metrics::handle(),
            ready: None,
        }
    }
}

pub fn router(app: Arc<AppState>) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/create",
            get(api::create_get).post(api::create_post),
        )
        .route(
            "/api/v1/delete",
            get(api::delete_get).post(api::delete_post),
        )
        .route("/api/v1/environments", get(api::environments))
        .layer(DefaultBodyLimit::max(MAX_API_BODY));
    // Clients that keep failing signatures or keys are refused before their body is read.
    let guarded = Router::new()
        .route(
            "/webhook",
            post(webhook::handle).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY)),
        )
        .merge(api)
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            abuse::refuse_failing,
        ));
    Router::new()
        .merge(guarded)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(app)
}

async fn render_metrics(State(app): State<Arc<AppState>>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let Some(ready) = &app.ready else {
        return (StatusCode::OK, Json(json!({"status": "ok", "checks": {}}))).into_response();
    };
    let checks = ready.check().await;
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    let detail: serde_json::Map<String, serde_json::Value> = checks
        .into_iter()
        .map(|(name, r)| {
            (
                name.to_string(),
                match r {
                    Ok(()) => json!("ok"),
                    Err(e) => json!(e),
                },
            )
        })
        .collect();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if ok { "ok" } else { "unavailable" }, "checks": detail})),
    )
        .into_response()
}

/// Serve until `shutdown` resolves: stop accepting, let requests in progress finish, then give
/// the queue `grace` to finish its work.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Arc<AppState>,
    scheduler: Option<Arc<Scheduler>>,
    grace: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    tracing::info!("no longer accepting requests; finishing queued work");
    if let Some(s) = scheduler {
        if s.shutdown(grace).await {
            tracing::info!("all work finished");
        }
    }
    Ok(())
}

/// SIGINT or SIGTERM.
pub async fn signal() {
    let term = async {
        #[cfg(unix)]
        {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                s.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
