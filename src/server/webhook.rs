//! `POST /webhook`: signature first (over the raw body, before anything is parsed), then the
//! content type, the delivery id (redeliveries are recognised), and the event → jobs. Answers
//! in milliseconds; the work happens on the queue.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::abuse;
use super::job::{ChatCommand, Job, PrKey, Work};
use super::metrics as m;
use super::signature;
use super::AppState;
use crate::github::event::PrEvent;

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

pub async fn handle(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
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
    let event = h("x-github-event").unwrap_or("");
    let label = event_label(event);
    let json_body = h("content-type")
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        m::delivery(label, "unsupported_media_type");
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "error",
            "the payload must be application/json: set the webhook's content type to application/json",
        );
    }
    let Some(delivery) = h("x-github-delivery").filter(|d| !d.is_empty() && d.len() <= 100) else {
        m::delivery(label, "bad_request");
        return answer(
            StatusCode::BAD_REQUEST,
            "error",
            "missing X-GitHub-Delivery header",
        );
    };
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
    let routed = match route(&app, event, delivery, &body) {
        Ok(r) => r,
        Err(msg) => {
            app.deliveries.forget(delivery);
            m::delivery(label, "bad_request");
            tracing::warn!(delivery, event, "webhook refused: {msg}");
            return answer(StatusCode::BAD_REQUEST, "error", msg);
        }
    };
    match routed {
        Routed::Pong => {
            m::delivery(label, "pong");
            answer(StatusCode::OK, "ok", "pong")
        }
        Routed::Ignored(why) => {
            m::delivery(label, "ignored");
            tracing::info!(delivery, event, "ignored: {why}");
            answer(StatusCode::ACCEPTED, "ignored", why)
        }
        Routed::Jobs(jobs) => {
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
    }
}

/// What a verified delivery asks for.
#[derive(Debug, PartialEq)]
pub enum Routed {
    Pong,
    Ignored(String),
    Jobs(Vec<Job>),
}

fn parse(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the payload is not JSON: {e}"))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Turn a verified delivery into jobs (pure apart from reading the configuration).
pub fn route(app: &AppState, event: &str, delivery: &str, body: &[u8]) -> Result<Routed, String> {
    let ignored = |s: String| Ok(Routed::Ignored(s));
    match event {
        "ping" => Ok(Routed::Pong),
        "pull_request" => {
            let (e, installation) = PrEvent::parse_slice(body).map_err(|e| format!("{e:#}"))?;
            let Some(repo) = app.config.repository(&e.base_repo) else {
                return ignored(format!("repository {} is not configured", e.base_repo));
            };
            let gate = repo.label.as_deref();
            let relevant = match e.action.as_str() {
                "opened" | "reopened" | "synchronize" | "closed" => true,
                "labeled" | "unlabeled" => gate.is_some() && e.label.as_deref() == gate,
                _ => false,
            };
            if !relevant {
                return ignored(format!(
                    "pull_request action {:?} changes no preview",
                    e.action
                ));
            }
            Ok(Routed::Jobs(vec![Job {
                key: PrKey {
                    repo: e.base_repo.clone(),
                    number: e.number,
                },
                work: Work::Event(e.clone()),
                delivery: delivery.to_string(),
                installation,
            }]))
        }
        "issue_comment" => {
            let v = parse(body)?;
            let repo = str_at(&v, "/repository/full_name").ok_or("no repository.full_name")?;
            let on_pr = v
                .pointer("/issue/pull_request")
                .is_some_and(Value::is_object);
            let command = str_at(&v, "/comment/body").and_then(parse_command);
            let (Some((command, sha)), true, Some("created")) =
                (command, on_pr, str_at(&v, "/action"))
            else {
                return ignored("not an /eden command on a pull request".into());
            };
            if app.config.repository(repo).is_none() {
                return ignored(format!("repository {repo} is not configured"));
            }
            let number = v
                .pointer("/issue/number")
                .and_then(Value::as_u64)
                .ok_or("no issue.number")?;
            let user = str_at(&v, "/comment/user/login").ok_or("no comment.user.login")?;
            Ok(Routed::Jobs(vec![Job {
                key: PrKey {
                    repo: repo.to_string(),
                    number,
                },
                work: Work::Command {
                    command,
                    user: user.to_string(),
                    sha,
                },
                delivery: delivery.to_string(),
                installation: installation(&v),
            }]))
        }
        "workflow_run" | "check_suite" => {
            let v = parse(body)?;
            if str_at(&v, "/action") != Some("completed") {
                return ignored(format!("{event} that is not completed"));
            }
            let repo = str_at(&v, "/repository/full_name").ok_or("no repository.full_name")?;
            if app.config.repository(repo).is_none() {
                return ignored(format!("repository {repo} is not configured"));
            }
            let prs = v
                .pointer(&format!("/{event}/pull_requests"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let jobs: Vec<Job> = prs
                .iter()
                .filter_map(|pr| {
                    Some(Job {
                        key: PrKey {
                            repo: repo.to_string(),
                            number: pr.get("number")?.as_u64()?,
                        },
                        work: Work::Recheck {
                            head_sha: str_at(pr, "/head/sha").map(str::to_string),
                        },
                        delivery: delivery.to_string(),
                        installation: installation(&v),
                    })
                })
                .collect();
            if jobs.is_empty() {
                return ignored(format!("{event} names no pull request"));
            }
            Ok(Routed::Jobs(jobs))
        }
        other => ignored(format!("event {other:?} is not handled")),
    }
}

fn installation(v: &Value) -> Option<u64> {
    v.pointer("/installation/id").and_then(Value::as_u64)
}

/// `/eden deploy [sha]` or `/eden delete` on the comment's first line.
pub fn parse_command(body: &str) -> Option<(ChatCommand, Option<String>)> {
    let line = body.lines().next()?.trim();
    let mut words = line.split_whitespace();
    if words.next()? != "/eden" {
        return None;
    }
    let command = match words.next()? {
        "deploy" => ChatCommand::Deploy,
        "delete" => ChatCommand::Delete,
        _ => return None,
    };
    let sha = words.next().map(str::to_string);
    let valid_sha = sha
        .as_deref()
        .is_none_or(|s| (7..=40).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit()));
    if words.next().is_some() || !valid_sha || (command == ChatCommand::Delete && sha.is_some()) {
        return None;
    }
    Some((command, sha))
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
            Some((ChatCommand::Deploy, Some("ec26c3e".into())))
        );
        assert_eq!(
            parse_command("/eden delete"),
            Some((ChatCommand::Delete, None))
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
