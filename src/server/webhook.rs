//! `POST /webhook`: signature first (over the raw body, before anything is parsed), then the
//! content type, the delivery id (redeliveries are recognised) and the event name (both
//! required: 400 without), then the body as the event's typed payload (`github::payload`) →
//! jobs. Answers in milliseconds; the work happens on the queue.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::abuse;
use super::job::{ChatCommand, Job, PrKey, Work};
use super::metrics as m;
use super::signature;
use super::AppState;
use crate::github::decide::may_change_preview;
use crate::github::event::PrEvent;
use crate::github::ids::{CommitSha, RepoName};
use crate::github::payload::{Build, Event, IssueCommentPayload};

/// Delivery ids seen lately (bounded: the oldest are forgotten first).
pub struct Deliveries {
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
    capacity: usize,
}

impl Deliveries {
    pub fn new(capacity: usize) -> Deliveries {
        Deliveries {
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
            capacity: capacity.max(1),
        }
    }

    /// `true` the first time `id` is seen.
    pub fn first(&self, id: &str) -> bool {
        let mut g = self.inner.lock().expect("deliveries lock");
        let (set, order) = &mut *g;
        if !set.insert(id.to_string()) {
            return false;
        }
        order.push_back(id.to_string());
        if order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }

    /// Forget `id` (its delivery was not accepted, so a redelivery must be processed).
    pub fn forget(&self, id: &str) {
        let mut g = self.inner.lock().expect("deliveries lock");
        let (set, order) = &mut *g;
        if set.remove(id) {
            order.retain(|d| d != id);
        }
    }
}

fn answer(status: StatusCode, state: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"status": state, "message": message.into()})),
    )
        .into_response()
}

/// Event names used as a metrics label (others are counted as `other`).
fn event_label(event: &str) -> &'static str {
    match event {
        "ping" => "ping",
        "pull_request" => "pull_request",
        "issue_comment" => "issue_comment",
        "workflow_run" => "workflow_run",
        "check_suite" => "check_suite",
        _ => "other",
    }
}

/// The headers GitHub always sends, read once the signature has been verified.
struct Headers<'a> {
    event: &'a str,
    delivery: &'a str,
}

pub async fn handle(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = signature::verify(
        &app.config.github.webhook_secrets,
        headers.get("x-hub-signature-256").map(|v| v.as_bytes()),
        headers.contains_key("x-hub-signature"),
        &body,
    ) {
        m::delivery("unverified", "unauthorized");
        tracing::warn!(reason = e.as_str(), "webhook refused: bad signature");
        return abuse::failed(answer(StatusCode::UNAUTHORIZED, "error", e.as_str()));
    }
    match read_headers(&headers) {
        Ok(h) => accept(&app, &h, &body).await,
        Err(refused) => *refused,
    }
}

/// Content type, then `X-GitHub-Delivery` and `X-GitHub-Event`: GitHub always sends both, so
/// a delivery without one is refused (400), as @octokit/webhooks refuses it.
fn read_headers(headers: &HeaderMap) -> Result<Headers<'_>, Box<Response>> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let label = event_label(h("x-github-event").unwrap_or(""));
    let json_body = h("content-type")
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        m::delivery(label, "unsupported_media_type");
        return Err(Box::new(answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "error",
            "the payload must be application/json: set the webhook's content type to application/json",
        )));
    }
    let missing = |header: &str| {
        m::delivery(label, "bad_request");
        tracing::warn!("webhook refused: no {header} header");
        Box::new(answer(
            StatusCode::BAD_REQUEST,
            "error",
            format!("missing {header} header"),
        ))
    };
    let delivery = h("x-github-delivery")
        .filter(|d| !d.is_empty() && d.len() <= 100)
        .ok_or_else(|| missing("X-GitHub-Delivery"))?;
    let event = h("x-github-event")
        .filter(|e| !e.is_empty())
        .ok_or_else(|| missing("X-GitHub-Event"))?;
    Ok(Headers { event, delivery })
}

/// A verified delivery: recognised if redelivered, else routed and its jobs queued.
async fn accept(app: &AppState, h: &Headers<'_>, body: &[u8]) -> Response {
    let (event, delivery) = (h.event, h.delivery);
    let label = event_label(event);
    if !app.deliveries.first(delivery) {
        m::delivery(label, "duplicate");
        tracing::info!(
            delivery,
            event,
            "redelivery of a delivery already accepted: ignored"
        );
        return answer(
            StatusCode::OK,
            "duplicate",
            format!("delivery {delivery} was already received"),
        );
    }
    let routed = Event::parse(event, body).and_then(|e| route(app, e, delivery));
    match routed {
        Err(msg) => {
            app.deliveries.forget(delivery);
            m::delivery(label, "bad_request");
            tracing::warn!(delivery, event, "webhook refused: {msg}");
            answer(StatusCode::BAD_REQUEST, "error", msg)
        }
        Ok(Routed::Pong) => {
            m::delivery(label, "pong");
            answer(StatusCode::OK, "ok", "pong")
        }
        Ok(Routed::Ignored(why)) => {
            m::delivery(label, "ignored");
            tracing::info!(delivery, event, "ignored: {why}");
            answer(StatusCode::ACCEPTED, "ignored", why)
        }
        Ok(Routed::Jobs(jobs)) => submit(app, label, delivery, jobs).await,
    }
}

/// Queue a delivery's jobs; if the queue refuses one, the delivery is forgotten (so GitHub's
/// redelivery is processed) and GitHub gets a 503.
async fn submit(app: &AppState, label: &'static str, delivery: &str, jobs: Vec<Job>) -> Response {
    let n = jobs.len();
    for job in jobs {
        tracing::info!(delivery, pr = %job.key, kind = job.work.kind(), "queued");
        if let Err(e) = app.queue.submit(job).await {
            app.deliveries.forget(delivery);
            m::delivery(label, "unavailable");
            m::error("queue");
            tracing::error!(delivery, "could not queue the delivery: {e:#}");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                format!("could not queue the delivery: {e:#}"),
            );
        }
    }
    m::delivery(label, "queued");
    answer(StatusCode::ACCEPTED, "queued", format!("{n} job(s) queued"))
}

/// What a verified delivery asks for.
#[derive(Debug, PartialEq)]
pub enum Routed {
    Pong,
    Ignored(String),
    Jobs(Vec<Job>),
}

fn not_configured(repo: &RepoName) -> Result<Routed, String> {
    Ok(Routed::Ignored(format!(
        "repository {repo} is not configured"
    )))
}

/// Jobs of one delivery.
struct Jobs<'a> {
    delivery: &'a str,
    installation: Option<u64>,
}

impl Jobs<'_> {
    fn job(&self, key: PrKey, work: Work) -> Job {
        Job {
            key,
            work,
            delivery: self.delivery.to_string(),
            installation: self.installation,
        }
    }
}

/// Turn a verified delivery's typed payload into jobs (pure apart from reading the
/// configuration); `Err` for a payload that lacks what its event must carry (a 400).
pub fn route(app: &AppState, event: Event, delivery: &str) -> Result<Routed, String> {
    let jobs = |installation| Jobs {
        delivery,
        installation,
    };
    match event {
        Event::Ping(p) => {
            tracing::info!(hook_id = p.hook_id, zen = p.zen.as_deref(), "ping");
            Ok(Routed::Pong)
        }
        Event::PullRequest {
            event,
            installation,
        } => pull_request(app, event, &jobs(installation)),
        Event::IssueComment(c) => command(app, &c, &jobs(c.installation())),
        Event::BuildCompleted { name, build } => {
            built(app, name, &build, &jobs(build.installation))
        }
        Event::Unhandled(other) => Ok(Routed::Ignored(format!("event {other:?} is not handled"))),
    }
}

/// A `pull_request` event of a configured repository that may change its preview (the
/// decision's own table, `decide::may_change_preview`).
fn pull_request(app: &AppState, e: PrEvent, jobs: &Jobs) -> Result<Routed, String> {
    let repo = RepoName::new(e.base_repo.clone());
    let Some(config) = app.config.repository(repo.as_str()) else {
        return not_configured(&repo);
    };
    if !may_change_preview(&e, config.label.as_deref()) {
        return Ok(Routed::Ignored(format!(
            "pull_request action {:?} changes no preview",
            e.action
        )));
    }
    let key = PrKey::new(repo, e.number);
    Ok(Routed::Jobs(vec![jobs.job(key, Work::Event(e))]))
}

/// An `/eden` command newly commented on a pull request of a configured repository.
fn command(app: &AppState, c: &IssueCommentPayload, jobs: &Jobs) -> Result<Routed, String> {
    let repo = c.repo().ok_or("no repository.full_name")?;
    let Some((command, sha)) = c.new_on_pr().and_then(parse_command) else {
        return Ok(Routed::Ignored(
            "not an /eden command on a pull request".into(),
        ));
    };
    if app.config.repository(repo.as_str()).is_none() {
        return not_configured(repo);
    }
    let number = c.number().ok_or("no issue.number")?;
    let user = c.author().ok_or("no comment.user.login")?;
    let work = Work::Command {
        command,
        user: user.to_string(),
        sha,
    };
    Ok(Routed::Jobs(vec![
        jobs.job(PrKey::new(repo.clone(), number), work)
    ]))
}

/// A completed `workflow_run` / `check_suite`: a recheck of each pull request it names.
fn built(app: &AppState, name: &str, build: &Build, jobs: &Jobs) -> Result<Routed, String> {
    if !build.completed() {
        return Ok(Routed::Ignored(format!("{name} that is not completed")));
    }
    let repo = build.repo.as_ref().ok_or("no repository.full_name")?;
    if app.config.repository(repo.as_str()).is_none() {
        return not_configured(repo);
    }
    let rechecks: Vec<Job> = build
        .prs()
        .map(|(number, head_sha)| {
            jobs.job(PrKey::new(repo.clone(), number), Work::Recheck { head_sha })
        })
        .collect();
    if rechecks.is_empty() {
        return Ok(Routed::Ignored(format!("{name} names no pull request")));
    }
    Ok(Routed::Jobs(rechecks))
}

/// `/eden deploy [sha]`, `/eden delete`, `/eden sleep` or `/eden wake` on the comment's first
/// line.
pub fn parse_command(body: &str) -> Option<(ChatCommand, Option<CommitSha>)> {
    let line = body.lines().next()?.trim();
    let mut words = line.split_whitespace();
    if words.next()? != "/eden" {
        return None;
    }
    let command = match words.next()? {
        "deploy" => ChatCommand::Deploy,
        "delete" => ChatCommand::Delete,
        "sleep" => ChatCommand::Sleep,
        "wake" => ChatCommand::Wake,
        _ => return None,
    };
    let sha = words.next();
    let valid_sha =
        sha.is_none_or(|s| (7..=40).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit()));
    if words.next().is_some() || !valid_sha || (command != ChatCommand::Deploy && sha.is_some()) {
        return None;
    }
    Some((command, sha.map(CommitSha::from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            parse_command("/eden deploy"),
            Some((ChatCommand::Deploy, None))
        );
        assert_eq!(
            parse_command("  /eden deploy ec26c3e\nthanks"),
            Some((ChatCommand::Deploy, Some(CommitSha::from("ec26c3e"))))
        );
        assert_eq!(
            parse_command("/eden delete"),
            Some((ChatCommand::Delete, None))
        );
        assert_eq!(
            parse_command("/eden sleep"),
            Some((ChatCommand::Sleep, None))
        );
        assert_eq!(
            parse_command(" /eden wake \n"),
            Some((ChatCommand::Wake, None))
        );
        for no in [
            "",
            "/eden",
            "/eden destroy",
            "please /eden deploy",
            "/eden deploy main",
            "/eden delete ec26c3e",
            "/eden deploy ec26c3e now",
            "> /eden deploy",
            "/eden sleep ec26c3e",
            "/eden wake now",
            "/eden sleeping",
        ] {
            assert_eq!(parse_command(no), None, "{no:?}");
        }
    }

    #[test]
    fn deliveries_are_remembered_boundedly() {
        let d = Deliveries::new(2);
        assert!(d.first("a"));
        assert!(!d.first("a"));
        assert!(d.first("b"));
        assert!(d.first("c")); // forgets a
        assert!(d.first("a"));
        assert!(!d.first("c"));
        d.forget("c");
        assert!(d.first("c"));
    }
}
