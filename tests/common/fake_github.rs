//! A stateful fake of the GitHub REST API (wiremock): one repository, one pull request (also
//! listed as open while it is), its commits' dates, collaborator permissions, its
//! comments (paged like GitHub), deployments and statuses. Every request is recorded; any
//! route it does not know answers 404 and is reported by `unexpected()`. Failures can be
//! canned with the headers GitHub sends (`Canned`: rate limits, a plain 403).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub login: String,
}

#[derive(Debug, Default)]
pub struct State {
    pub pr: Value,
    pub comments: Vec<Comment>,
    pub deployments: Vec<Value>,
    pub statuses: Vec<(u64, Value)>,
    pub requests: Vec<String>,
    /// Every body our comments were given, in order: (comment id, body).
    pub history: Vec<(u64, String)>,
    pub unexpected: Vec<String>,
    pub next_id: u64,
    /// Answer writes like a read-only token does.
    pub read_only: bool,
    /// The login comments are created as (default `github-actions[bot]`).
    pub bot_login: Option<String>,
    /// What GET /user answers: `None` → 403 as for `GITHUB_TOKEN`.
    pub user: Option<String>,
    /// The API's path prefix (`/api/v3` for GitHub Enterprise Server), empty for github.com.
    pub prefix: String,
    /// Committer date (RFC 3339) of every commit GET /repos/…/commits/{sha} answers for;
    /// `None`: no date in the answer.
    pub commit_date: Option<String>,
    /// login → repository permission (`admin`, `write`, `read`, …); others answer `none`.
    pub permissions: std::collections::BTreeMap<String, String>,
    /// Statuses the next GET of the pull request answers with, in order, before it answers
    /// normally again (an outage: 502/503, a rate limit: 429, a permanent 404).
    pub pull_failures: std::collections::VecDeque<u16>,
    /// Answers the next requests to any known route get instead of their own, in order.
    pub canned: std::collections::VecDeque<Canned>,
}

/// A failure answered as GitHub answers it: status, headers and a `message`.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub message: String,
}

fn epoch_in(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now.as_secs() + secs).to_string()
}

/// The `x-ratelimit-*` headers GitHub sends with every answer (`remaining` left of 5000).
fn quota(remaining: u64, reset_in: u64) -> Vec<(&'static str, String)> {
    vec![
        ("x-ratelimit-limit", "5000".into()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-used", (5000 - remaining).to_string()),
        ("x-ratelimit-reset", epoch_in(reset_in)),
        ("x-ratelimit-resource", "core".into()),
    ]
}

impl Canned {
    /// A primary rate limit (403 or 429): `x-ratelimit-remaining: 0`, the quota back in
    /// `reset_in` seconds; `message` is whatever GitHub wrote (eden must not read it).
    pub fn primary_rate_limit(status: u16, message: &str, reset_in: u64) -> Canned {
        Canned {
            status,
            headers: quota(0, reset_in),
            message: message.into(),
        }
    }

    /// A secondary rate limit (403 or 429) with `retry-after`, quota left.
    pub fn secondary_rate_limit(status: u16, retry_after: u64) -> Canned {
        let mut headers = quota(4000, 3600);
        headers.push(("retry-after", retry_after.to_string()));
        Canned {
            status,
            headers,
            message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.".into(),
        }
    }

    /// Any other failure, with the quota headers every answer carries (quota left).
    pub fn status(status: u16, message: &str) -> Canned {
        Canned {
            status,
            headers: quota(4999, 3600),
            message: message.into(),
        }
    }

    fn template(&self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status).set_body_json(json!({
            "message": self.message,
            "documentation_url": "https://docs.github.com/rest"
        }));
        for (k, v) in &self.headers {
            t = t.insert_header(*k, v.as_str());
        }
        t
    }
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<State>>,
}

struct Route {
    state: Arc<Mutex<State>>,
    kind: &'static str,
}

/// What a token without the permission gets (quota left: not a rate limit).
fn forbidden() -> ResponseTemplate {
    Canned::status(403, "Resource not accessible by integration").template()
}

fn query(req: &Request, key: &str) -> Option<usize> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn comment_json(c: &Comment) -> Value {
    let bot = c.login.ends_with("[bot]");
    json!({
        "id": c.id, "body": c.body,
        "user": {"login": c.login, "type": if bot { "Bot" } else { "User" }},
        "performed_via_github_app": if bot { json!({"slug": c.login.trim_end_matches("[bot]")}) } else { Value::Null },
        "html_url": format!("https://github.com/c/{}", c.id)
    })
}

fn page<T: Clone>(req: &Request, items: &[T]) -> Vec<T> {
    let per = query(req, "per_page").unwrap_or(30).min(100);
    let page = query(req, "page").unwrap_or(1).max(1);
    items
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .cloned()
        .collect()
}

impl Respond for Route {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().unwrap();
        s.requests
            .push(format!("{} {}", req.method, req.url.path()));
        if self.kind != "unknown" {
            if let Some(c) = s.canned.pop_front() {
                return c.template();
            }
        }
        if let Some(answer) = self.read(&mut s, req) {
            return answer;
        }
        if let Some(answer) = self.write(&mut s, req) {
            return answer;
        }
        if let Some(answer) = self.deployments(&mut s, req) {
            return answer;
        }
        s.unexpected.push(format!("{} {}", req.method, req.url));
        ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))
    }
}

impl Route {
    /// The pull request, its commits, permissions, the user, comment pages.
    fn read(&self, s: &mut State, req: &Request) -> Option<ResponseTemplate> {
        Some(match self.kind {
            "pull" => match s.pull_failures.pop_front() {
                Some(429) => {
                    Canned::primary_rate_limit(429, "API rate limit exceeded", 1).template()
                }
                Some(status) => {
                    ResponseTemplate::new(status).set_body_json(json!({"message": "failure"}))
                }
                None => ResponseTemplate::new(200).set_body_json(s.pr.clone()),
            },
            "list_comments" => {
                let items: Vec<Value> = s.comments.iter().map(comment_json).collect();
                ResponseTemplate::new(200).set_body_json(page(req, &items))
            }
            "list_pulls" => {
                let open = s.pr["state"] == "open";
                let wanted = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "state")
                    .is_none_or(|(_, v)| v == "open" || v == "all");
                let items: Vec<Value> = if open && wanted {
                    vec![s.pr.clone()]
                } else {
                    Vec::new()
                };
                ResponseTemplate::new(200).set_body_json(page(req, &items))
            }
            "commit" => {
                let sha = req.url.path().rsplit('/').next().unwrap_or("").to_string();
                let mut c = json!({"sha": sha, "commit": {"committer": {"name": "octocat"}}});
                if let Some(d) = &s.commit_date {
                    c["commit"]["committer"]["date"] = json!(d);
                }
                ResponseTemplate::new(200).set_body_json(c)
            }
            "permission" => {
                let user = req.url.path().rsplit('/').nth(1).unwrap_or("").to_string();
                let p = s.permissions.get(&user).cloned().unwrap_or("none".into());
                ResponseTemplate::new(200).set_body_json(
                    json!({"permission": p, "role_name": p, "user": {"login": user}}),
                )
            }
            "user" => match &s.user {
                Some(login) => ResponseTemplate::new(200)
                    .set_body_json(json!({"login": login, "type": "User"})),
                None => forbidden(),
            },
            _ => return None,
        })
    }

    /// Comments written.
    fn write(&self, s: &mut State, req: &Request) -> Option<ResponseTemplate> {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let last = req
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .parse::<u64>()
            .unwrap_or(0);
        Some(match self.kind {
            "create_comment" => {
                if s.read_only {
                    return Some(forbidden());
                }
                s.next_id += 1;
                let c = Comment {
                    id: 9_000_000 + s.next_id,
                    body: body["body"].as_str().unwrap_or("").into(),
                    login: s
                        .bot_login
                        .clone()
                        .unwrap_or_else(|| "github-actions[bot]".into()),
                };
                s.comments.push(c.clone());
                s.history.push((c.id, c.body.clone()));
                ResponseTemplate::new(201).set_body_json(comment_json(&c))
            }
            "update_comment" => {
                if s.read_only {
                    return Some(forbidden());
                }
                match s.comments.iter_mut().find(|c| c.id == last) {
                    Some(c) => {
                        c.body = body["body"].as_str().unwrap_or("").into();
                        let (id, b, json) = (c.id, c.body.clone(), comment_json(c));
                        s.history.push((id, b));
                        ResponseTemplate::new(200).set_body_json(json)
                    }
                    None => {
                        ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}))
                    }
                }
            }
            _ => return None,
        })
    }

    /// Deployments and their statuses.
    fn deployments(&self, s: &mut State, req: &Request) -> Option<ResponseTemplate> {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        Some(match self.kind {
            "create_deployment" => {
                if s.read_only {
                    return Some(forbidden());
                }
                s.next_id += 1;
                let d = json!({"id": s.next_id, "ref": body["ref"], "environment": body["environment"], "transient_environment": body["transient_environment"]});
                s.deployments.push(d.clone());
                ResponseTemplate::new(201).set_body_json(d)
            }
            "list_deployments" => {
                let env = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "environment")
                    .map(|(_, v)| v.to_string());
                let items: Vec<Value> = s
                    .deployments
                    .iter()
                    .rev()
                    .filter(|d| env.as_deref().is_none_or(|e| d["environment"] == e))
                    .cloned()
                    .collect();
                ResponseTemplate::new(200).set_body_json(page(req, &items))
            }
            "create_status" => {
                let id = req
                    .url
                    .path()
                    .rsplit('/')
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                s.statuses.push((id, body.clone()));
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": s.statuses.len(), "state": body["state"]}))
            }
            _ => return None,
        })
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

impl FakeGitHub {
    /// Serve the PR of `event` (a pull_request payload) as it is now.
    pub async fn start(event: &Value) -> FakeGitHub {
        FakeGitHub::start_at(event, "").await
    }

    /// Serve the API under `prefix` (e.g. `/api/v3`, as GitHub Enterprise Server does): any
    /// request outside it is unexpected.
    pub async fn start_at(event: &Value, prefix: &str) -> FakeGitHub {
        let server = MockServer::start().await;
        let mut pr = event["pull_request"].clone();
        pr["merged"] = json!(false);
        let state = Arc::new(Mutex::new(State {
            pr,
            prefix: prefix.to_string(),
            ..State::default()
        }));
        let routes: [(&str, &str, &'static str); 12] = [
            ("GET", r"^/user$", "user"),
            ("GET", r"^/repos/[^/]+/[^/]+/pulls$", "list_pulls"),
            (
                "GET",
                r"^/repos/[^/]+/[^/]+/commits/[0-9A-Za-z_.-]+$",
                "commit",
            ),
            (
                "GET",
                r"^/repos/[^/]+/[^/]+/collaborators/[^/]+/permission$",
                "permission",
            ),
            ("GET", r"^/repos/[^/]+/[^/]+/pulls/\d+$", "pull"),
            (
                "GET",
                r"^/repos/[^/]+/[^/]+/issues/\d+/comments$",
                "list_comments",
            ),
            (
                "POST",
                r"^/repos/[^/]+/[^/]+/issues/\d+/comments$",
                "create_comment",
            ),
            (
                "PATCH",
                r"^/repos/[^/]+/[^/]+/issues/comments/\d+$",
                "update_comment",
            ),
            (
                "POST",
                r"^/repos/[^/]+/[^/]+/deployments$",
                "create_deployment",
            ),
            (
                "GET",
                r"^/repos/[^/]+/[^/]+/deployments$",
                "list_deployments",
            ),
            (
                "POST",
                r"^/repos/[^/]+/[^/]+/deployments/\d+/statuses$",
                "create_status",
            ),
            ("ANY", r".*", "unknown"),
        ];
        for (i, (m, p, kind)) in routes.into_iter().enumerate() {
            let p = if kind == "unknown" {
                p.to_string()
            } else {
                format!("^{}{}", regex_escape(prefix), &p[1..])
            };
            let mock = if m == "ANY" {
                Mock::given(path_regex(p))
            } else {
                Mock::given(method(m)).and(path_regex(p))
            };
            mock.respond_with(Route {
                state: state.clone(),
                kind,
            })
            .with_priority(if kind == "unknown" {
                u8::MAX
            } else {
                (i + 1) as u8
            })
            .mount(&server)
            .await;
        }
        FakeGitHub {
            server: Arc::new(server),
            state,
        }
    }

    /// The API's base URL (what `GITHUB_API_URL` holds).
    pub fn url(&self) -> String {
        format!("{}{}", self.server.uri(), self.state.lock().unwrap().prefix)
    }

    /// A comment written by someone else (a person, or another bot).
    pub fn add_comment(&self, login: &str, body: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = 1_000 + s.next_id;
        s.comments.push(Comment {
            id,
            body: body.to_string(),
            login: login.to_string(),
        });
        id
    }

    /// A body of a comment by id.
    pub fn body(&self, id: u64) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.comments
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.body.clone())
    }

    /// Other people's comments, to make finding ours need paging.
    pub fn add_comments(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        for i in 0..n {
            s.next_id += 1;
            let id = 1_000 + s.next_id;
            s.comments.push(Comment {
                id,
                body: format!("LGTM {i}! <!-- eden:preview pr=1 environment=pr-1 --> is not ours"),
                login: "reviewer".into(),
            });
        }
    }

    pub fn set_pr(&self, f: impl FnOnce(&mut Value)) {
        f(&mut self.state.lock().unwrap().pr);
    }

    /// Comments carrying our marker for `pr`/`env`.
    pub fn ours(&self, marker: &str) -> Vec<Comment> {
        self.state
            .lock()
            .unwrap()
            .comments
            .iter()
            .filter(|c| c.body.contains(marker))
            .cloned()
            .collect()
    }

    /// The statuses our comment went through (the `### …` line of each body).
    pub fn statuses(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .history
            .iter()
            .filter_map(|(_, b)| {
                b.lines()
                    .find(|l| l.starts_with("### "))
                    .and_then(|l| l.rsplit("— ").next())
                    .map(str::to_string)
            })
            .collect()
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    pub fn unexpected(&self) -> Vec<String> {
        self.state.lock().unwrap().unexpected.clone()
    }
}
