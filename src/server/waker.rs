//! The waker (`wake_listen`): a sleeping preview's host rule forwards here. A request whose
//! `Host` is a sleeping preview's hostname gets 503 with `Retry-After` (browsers, `Accept:
//! text/html`, a small page that reloads itself), and the first one asks for a Wake job; any
//! other `Host` gets 404 and wakes nothing.
//!
//! Answering never waits on AWS: it reads the in-memory index (`sleepers.rs`), and the wake is
//! asked for in the background. An unknown host may start one background refresh of the index,
//! at most one per [`Waker::refresh_every`]. Across replicas one wake runs: the jobs of one PR
//! share an SQS group, carry the same deduplication id (`wake-<PR>-<since>`), and the engine's
//! lease serialises what is left.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::future::BoxFuture;
use tokio::time::Instant;

use super::job::{Job, WakeCause, Work};
use super::sleepers::{Lookup, Sleeper, Sleepers};
use super::Submit;

/// Seconds a client is told to wait (`Retry-After`), and a browser page's reload interval.
pub const RETRY_AFTER_SECS: u32 = 30;

/// Starts a wake (the queue in production; tests may count instead).
pub trait WakeTrigger: Send + Sync + 'static {
    fn wake(&self, sleeper: Sleeper) -> BoxFuture<'static, Result<()>>;
}

/// Reads the sleeping previews afresh (the table, through the engine).
pub trait Refresh: Send + Sync + 'static {
    fn sleepers(&self) -> BoxFuture<'static, Result<Vec<(String, Sleeper)>>>;
}

/// Asks the job queue for a Wake job.
pub struct QueueTrigger(pub Arc<dyn Submit>);

/// The wake job a request asks for: the same on every replica for the same sleep.
pub fn wake_job(sleeper: &Sleeper) -> Job {
    Job {
        delivery: format!("wake-{}-{}", sleeper.key, sleeper.since as u64),
        key: sleeper.key.clone(),
        work: Work::Wake {
            cause: WakeCause::Request,
            environment: sleeper.environment.clone(),
        },
        installation: None,
    }
}

impl WakeTrigger for QueueTrigger {
    fn wake(&self, sleeper: Sleeper) -> BoxFuture<'static, Result<()>> {
        let queue = self.0.clone();
        Box::pin(async move { queue.submit(wake_job(&sleeper)).await })
    }
}

/// Reads the table (every preview the server's repositories have) for the sleeping ones.
pub struct ListRefresh {
    pub config: Arc<super::config::ServeConfig>,
    pub engine: crate::engine::Engine,
}

impl Refresh for ListRefresh {
    fn sleepers(&self) -> BoxFuture<'static, Result<Vec<(String, Sleeper)>>> {
        let (config, engine) = (self.config.clone(), self.engine.clone());
        Box::pin(async move {
            let rows = engine.list(None).await?;
            let listed = super::reconcile::sleep::listed(&config, &rows);
            Ok(super::reconcile::sleep::sleepers(&listed))
        })
    }
}

pub struct Waker {
    pub sleepers: Arc<Sleepers>,
    pub trigger: Arc<dyn WakeTrigger>,
    pub refresh: Option<Arc<dyn Refresh>>,
    /// At most one refresh per this long, however many unknown hosts ask.
    pub refresh_every: Duration,
    /// When the last refresh started (`None`: never).
    refreshed: Mutex<Option<Instant>>,
}

impl Waker {
    pub fn new(sleepers: Arc<Sleepers>, trigger: Arc<dyn WakeTrigger>) -> Waker {
        Waker {
            sleepers,
            trigger,
            refresh: None,
            refresh_every: Duration::from_secs(30),
            refreshed: Mutex::new(None),
        }
    }

    /// Start a background refresh unless one started within `refresh_every`.
    fn maybe_refresh(self: &Arc<Self>) {
        let Some(refresh) = self.refresh.clone() else {
            return;
        };
        {
            let mut last = self.refreshed.lock().expect("refresh lock");
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < self.refresh_every) {
                return;
            }
            *last = Some(now);
        }
        let sleepers = self.sleepers.clone();
        tokio::spawn(async move {
            match refresh.sleepers().await {
                Ok(fresh) => sleepers.replace_all(fresh),
                Err(e) => tracing::warn!("waker: refreshing the sleeping previews failed: {e:#}"),
            }
        });
    }

    /// Ask for the wake in the background; if asking fails, the next request asks again.
    fn ask(&self, host: String, sleeper: Sleeper) {
        let wake = self.trigger.wake(sleeper.clone());
        let sleepers = self.sleepers.clone();
        tokio::spawn(async move {
            match wake.await {
                Ok(()) => {
                    tracing::info!(pr = %sleeper.key, environment = %sleeper.environment, "waker: a request asked the preview to wake")
                }
                Err(e) => {
                    tracing::warn!(pr = %sleeper.key, "waker: asking for the wake failed: {e:#}");
                    sleepers.ask_failed(&host);
                }
            }
        });
    }
}

pub fn router(waker: Arc<Waker>) -> Router {
    Router::new().fallback(answer).with_state(waker)
}

async fn answer(State(waker): State<Arc<Waker>>, uri: Uri, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.host())
        .unwrap_or_default()
        .to_string();
    match waker.sleepers.lookup(&host) {
        Lookup::Asleep { sleeper, first } => {
            super::metrics::waker_request("waking");
            if first {
                waker.ask(host, sleeper);
            }
            waking(wants_html(&headers))
        }
        Lookup::Unknown => {
            // The load balancer's health check names no preview.
            if uri.path() == "/healthz" {
                return (StatusCode::OK, "ok\n").into_response();
            }
            super::metrics::waker_request("unknown");
            waker.maybe_refresh();
            (
                StatusCode::NOT_FOUND,
                [(header::CACHE_CONTROL, "no-store")],
                "no sleeping preview has this hostname\n",
            )
                .into_response()
        }
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

const PAGE: &str = concat!(
    "<!doctype html>\n<html><head><meta charset=\"utf-8\">",
    "<meta http-equiv=\"refresh\" content=\"30\">",
    "<meta name=\"viewport\" content=\"width=device-width\">",
    "<title>Waking up the preview…</title></head>\n<body style=\"font-family:sans-serif;margin:3em\">",
    "<h1>This preview is waking up</h1>",
    "<p>It was asleep because nobody used it for a while. It is starting now and is usually ",
    "ready in about a minute; this page reloads itself until then.</p></body></html>\n"
);

/// 503 with `Retry-After`; a page that reloads itself for browsers.
fn waking(html: bool) -> Response {
    let retry = RETRY_AFTER_SECS.to_string();
    let (content_type, body) = if html {
        ("text/html; charset=utf-8", PAGE.to_string())
    } else {
        (
            "text/plain; charset=utf-8",
            format!("the preview is waking up; retry in {RETRY_AFTER_SECS} s\n"),
        )
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, retry.as_str()),
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Serve the waker on `listener` until `stop`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    waker: Arc<Waker>,
    stop: tokio_util::sync::CancellationToken,
) -> Result<()> {
    axum::serve(listener, router(waker))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await?;
    Ok(())
}
