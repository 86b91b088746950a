//! The REST calls the action makes (octocrab, at `GITHUB_API_URL`, so GitHub Enterprise works).
//! Comments are edited with PATCH, as GitHub documents. Every call goes through `GitHub::call`,
//! which reads the answer's status and headers into a typed `GitHubError` (`error.rs`).

use std::sync::Arc;

use anyhow::{anyhow, Result};
use http::Method;
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub use super::error::{is_transient, GitHubError, GitHubErrorKind};
use super::event::{PrState, PullRequest};

/// A deployment status state (the REST values GitHub accepts that eden uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    Inactive,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Inactive => "inactive",
        }
    }
}

/// One issue comment, as much of it as eden looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub id: u64,
    pub body: String,
    /// `user.login` (`github-actions[bot]`, `my-app[bot]`, `octocat`).
    pub login: String,
    /// Written by a GitHub App (`user.type == "Bot"` or `performed_via_github_app` set), not
    /// by a person.
    pub by_app: bool,
}

impl IssueComment {
    fn from_json(c: &Value) -> Option<IssueComment> {
        let login = c
            .pointer("/user/login")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Some(IssueComment {
            id: c.get("id").and_then(Value::as_u64)?,
            body: c
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            by_app: c.pointer("/user/type").and_then(Value::as_str) == Some("Bot")
                || c.get("performed_via_github_app")
                    .is_some_and(|a| a.is_object()),
            login,
        })
    }
}
#[derive(Debug, Clone)]
pub struct GitHub {
    /// Shared, not cloned: a clone of an installation client would keep a token cache of its
    /// own and mint a new installation token.
    client: Arc<Octocrab>,
    repo: String,
}

/// `route?k=v&…`, each value percent-encoded.
fn with_query(route: String, pairs: &[(&str, &str)]) -> String {
    let encode = |v: &str| -> String {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("{route}?{}", query.join("&"))
}

/// GitHub's `message` in an error answer (for people: never branched on), else the status's
/// reason phrase.
fn detail(status: http::StatusCode, text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string())
}

pub const PAGE: usize = 100;

impl GitHub {
    /// The one place a request goes out. octocrab's raw methods return the whole answer, so
    /// a failure is classified from its status and headers (octocrab's `Error::GitHub` keeps
    /// only status and body). octocrab itself retries 5xx and 429 a few times first.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        route: String,
        body: Option<&Value>,
        what: &str,
    ) -> Result<T, GitHubError> {
        let sent = match method {
            Method::POST => self.client._post(route, body).await,
            Method::PATCH => self.client._patch(route, body).await,
            _ => self.client._get(route).await,
        };
        let res = sent.map_err(|e| GitHubError::from_octocrab(what, e))?;
        let (status, headers) = (res.status(), res.headers().clone());
        let text = self
            .client
            .body_to_string(res)
            .await
            .map_err(|e| GitHubError::unanswered(what, &e))?;
        if !status.is_success() {
            let detail = detail(status, &text);
            return Err(GitHubError::answered(
                what,
                status.as_u16(),
                &headers,
                &detail,
            ));
        }
        let text = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        serde_json::from_str(text).map_err(|e| {
            GitHubError::other(what, &format!("the answer is not the JSON expected: {e}"))
        })
    }

    async fn get<T: DeserializeOwned>(&self, route: String, what: &str) -> Result<T, GitHubError> {
        self.call(Method::GET, route, None, what).await
    }

    /// A client for `repo` (`owner/name`) built by the caller (e.g. with GitHub App
    /// installation auth); its base URI decides the API host (GitHub Enterprise Server).
    pub fn with_client(client: Arc<Octocrab>, repo: &str) -> GitHub {
        GitHub {
            client,
            repo: repo.to_string(),
        }
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The login the token acts as (GET /user), or `None` when the token may not ask: the
    /// workflow's `GITHUB_TOKEN` and app installation tokens answer 403 (a rate-limited 403
    /// is an error).
    pub async fn login(&self) -> Result<Option<String>> {
        let what = "reading the token's user (GET /user)";
        match self.get::<Value>("/user".into(), what).await {
            Ok(v) => Ok(v.get("login").and_then(Value::as_str).map(str::to_string)),
            Err(e) if e.kind == GitHubErrorKind::Forbidden => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn new(api_url: &str, token: &str, repo: &str) -> Result<GitHub> {
        let client = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| anyhow!("GITHUB_API_URL {api_url:?} is not a URL: {e}"))?
            .personal_token(token.to_string())
            .build()
            .map_err(|e| anyhow!("building the GitHub client failed: {e}"))?;
        Ok(GitHub {
            client: Arc::new(client),
            repo: repo.to_string(),
        })
    }

    pub async fn pull(&self, number: u64) -> Result<PrState> {
        Ok(self.pull_request(number).await?.now())
    }

    /// The pull request as GitHub has it now (the REST object, typed).
    pub async fn pull_request(&self, number: u64) -> Result<PullRequest> {
        let route = format!("/repos/{}/pulls/{number}", self.repo);
        Ok(self
            .get(route, &format!("reading pull request #{number}"))
            .await?)
    }

    /// Whether `user` has write, maintain or admin access to the repository.
    pub async fn may_write(&self, user: &str) -> Result<bool> {
        let route = format!("/repos/{}/collaborators/{user}/permission", self.repo);
        let v: Value = self
            .get(route, &format!("reading {user}'s permission"))
            .await?;
        let perm = v
            .get("permission")
            .and_then(Value::as_str)
            .unwrap_or("none");
        let role = v.get("role_name").and_then(Value::as_str).unwrap_or("");
        Ok(matches!(perm, "admin" | "maintain" | "write")
            || matches!(role, "admin" | "maintain" | "write"))
    }

    /// The numbers of the repository's open pull requests (all pages).
    pub async fn open_pulls(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for page in 1.. {
            let route = with_query(
                format!("/repos/{}/pulls", self.repo),
                &[
                    ("state", "open"),
                    ("per_page", &PAGE.to_string()),
                    ("page", &page.to_string()),
                ],
            );
            let v: Vec<Value> = self.get(route, "listing open pull requests").await?;
            out.extend(
                v.iter()
                    .filter_map(|p| p.get("number").and_then(Value::as_u64)),
            );
            if v.len() < PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// When commit `sha` was committed (its committer date), if GitHub says.
    pub async fn commit_date(&self, sha: &str) -> Result<Option<time::OffsetDateTime>> {
        let route = format!("/repos/{}/commits/{sha}", self.repo);
        let v: Value = self.get(route, &format!("reading commit {sha}")).await?;
        Ok(v.pointer("/commit/committer/date")
            .and_then(Value::as_str)
            .and_then(|d| {
                time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
            }))
    }

    /// One page (1-based, `PAGE` per page, oldest first) of the comments on #`number`.
    pub async fn comments_page(&self, number: u64, page: usize) -> Result<Vec<IssueComment>> {
        let route = with_query(
            format!("/repos/{}/issues/{number}/comments", self.repo),
            &[("per_page", &PAGE.to_string()), ("page", &page.to_string())],
        );
        let comments: Vec<Value> = self
            .get(route, &format!("listing comments of #{number}"))
            .await?;
        Ok(comments
            .iter()
            .filter_map(IssueComment::from_json)
            .collect())
    }

    pub async fn create_comment(&self, number: u64, body: &str) -> Result<u64> {
        let route = format!("/repos/{}/issues/{number}/comments", self.repo);
        let what = format!("commenting on #{number}");
        let v: Value = self
            .call(Method::POST, route, Some(&json!({ "body": body })), &what)
            .await?;
        v.get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("GitHub API: the new comment has no id"))
    }

    /// Edit a comment in place; `false` if it no longer exists (404: it was deleted, so the
    /// caller creates a new one).
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<bool> {
        let route = format!("/repos/{}/issues/comments/{id}", self.repo);
        let what = format!("editing comment {id}");
        let res = self
            .call::<Value>(Method::PATCH, route, Some(&json!({ "body": body })), &what)
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.kind == GitHubErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create_deployment(
        &self,
        sha: &str,
        environment: &str,
        description: &str,
    ) -> Result<u64> {
        let body = json!({
            "ref": sha, "environment": environment, "description": description,
            "auto_merge": false, "required_contexts": [], "transient_environment": true,
        });
        let route = format!("/repos/{}/deployments", self.repo);
        let v: Value = self
            .call(Method::POST, route, Some(&body), "creating a deployment")
            .await?;
        v.get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("GitHub API: the deployment has no id"))
    }

    pub async fn deployment_status(
        &self,
        id: u64,
        state: DeploymentState,
        environment_url: Option<&str>,
        log_url: Option<&str>,
        description: &str,
    ) -> Result<()> {
        let mut body =
            json!({ "state": state.as_str(), "description": description, "auto_inactive": true });
        if let Some(u) = environment_url {
            body["environment_url"] = json!(u);
        }
        if let Some(u) = log_url {
            body["log_url"] = json!(u);
        }
        let route = format!("/repos/{}/deployments/{id}/statuses", self.repo);
        let _: Value = self
            .call(
                Method::POST,
                route,
                Some(&body),
                "setting a deployment status",
            )
            .await?;
        Ok(())
    }

    /// Every deployment of an environment (all pages), newest first.
    pub async fn deployments(&self, environment: &str) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for page in 1.. {
            let route = with_query(
                format!("/repos/{}/deployments", self.repo),
                &[
                    ("environment", environment),
                    ("per_page", &PAGE.to_string()),
                    ("page", &page.to_string()),
                ],
            );
            let v: Vec<Value> = self.get(route, "listing deployments").await?;
            ids.extend(v.iter().filter_map(|d| d.get("id").and_then(Value::as_u64)));
            if v.len() < PAGE {
                break;
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            with_query("/r".into(), &[("environment", "pr 1/é"), ("page", "2")]),
            "/r?environment=pr%201%2F%C3%A9&page=2"
        );
    }
}
